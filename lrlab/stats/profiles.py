"""Performance profiles (Dolan & Moré 2002): several methods compared over several problems
at once by the cost each needs to solve each, as AlgoPerf (Dahl et al. 2023) scores training
algorithms. :func:`performance_profile` is also :func:`lrlab.stats.performance_profile`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["performance_profile"]


def performance_profile(
    times: Mapping[str, Mapping[str, float]], taus: Sequence[float] | np.ndarray
) -> dict[str, np.ndarray]:
    """Dolan and Moré's performance profiles: for each method, the fraction of the problems
    it solves within a factor τ of the best method on each problem.

    With :math:`t_{p,s}` the cost (time, steps) method :math:`s` needs to solve problem
    :math:`p`, and :math:`t_{p,s} = \\infty` when it fails,

    .. math:: r_{p,s} = \\frac{t_{p,s}}{\\min_{s'} t_{p,s'}}, \\qquad
              \\rho_s(\\tau) = \\frac{\\lvert\\{p : r_{p,s} \\le \\tau\\}\\rvert}{n_p}

    (Dolan & Moré 2002, *Benchmarking optimization software with performance profiles*,
    Math. Program. 91, 201-213). :math:`\\rho_s(1)` is the share of problems where ``s`` is
    the fastest (ties count for each tied method), :math:`\\rho_s(\\tau)` for large τ the
    share it solves at all. A failure never counts, and a problem that every method fails
    counts for none. AlgoPerf (Dahl et al. 2023) scores training algorithms by these
    curves, with the time to a validation target as the cost.

    Parameters
    ----------
    times : mapping of str to mapping of str to float
        Method -> problem -> cost, > 0, or ``math.inf`` for a failure; every method must
        name the same problems (at least one).
    taus : sequence of float
        The factors τ at which to evaluate the profiles, each >= 1 (``inf`` allowed).

    Returns
    -------
    dict of str to numpy.ndarray
        Method -> :math:`\\rho_s(\\tau)` at each τ, in the order of ``times``.

    Examples
    --------
    >>> from lrlab import stats
    >>> inf = float("inf")
    >>> times = {"A": {"p1": 10, "p2": 20, "p3": inf}, "B": {"p1": 20, "p2": 10, "p3": 30}}
    >>> {s: rho.round(3).tolist() for s, rho in stats.performance_profile(times, [1, 2]).items()}
    {'A': [0.333, 0.667], 'B': [0.667, 1.0]}
    """
    if not isinstance(times, Mapping) or not times:
        raise ValueError(f"times must map at least one method to its costs, got {times!r}")
    methods = list(times)
    problems = None
    for method in methods:
        costs = times[method]
        if not isinstance(costs, Mapping) or not costs:
            raise ValueError(
                f"times[{method!r}] must map at least one problem to a cost, got {costs!r}"
            )
        if problems is None:
            problems = list(costs)
        elif set(costs) != set(problems):
            raise ValueError(
                f"every method must name the same problems: times[{method!r}] names "
                f"{sorted(costs)}, times[{methods[0]!r}] names {sorted(problems)}"
            )
    table = np.array([[times[m][p] for p in problems] for m in methods], dtype=float)
    if np.any(np.isnan(table)) or np.any(table <= 0):
        raise ValueError(
            f"every time must be positive, or math.inf for a failure, got {table.tolist()} "
            f"(methods {methods}, problems {problems})"
        )
    tau = np.asarray(taus, dtype=float)
    if tau.ndim != 1 or tau.size == 0 or np.any(np.isnan(tau)) or np.any(tau < 1):
        raise ValueError(f"taus must be a non-empty 1-D sequence of numbers >= 1, got {taus!r}")
    best = table.min(axis=0)
    with np.errstate(invalid="ignore"):  # inf / inf where every method fails a problem
        ratios = np.where(np.isfinite(best), table / best, np.inf)
    # a failure never counts, not even at tau = inf
    solved = np.isfinite(ratios)[:, :, None] & (ratios[:, :, None] <= tau[None, None, :])
    return {m: solved[i].mean(axis=0) for i, m in enumerate(methods)}
