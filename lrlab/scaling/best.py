"""The best rate of a sweep: one rule, stated once, for every chart that draws it.

A rate sweep gives one number per seed and rate (a final loss, the steps to a target).
:func:`best_rate` picks the rate whose statistic over the seeds (the mean or the median) is
the lowest, or the highest, counting a seed that failed (NaN or inf, a run that diverged or
never reached its target) as the worst possible value, and says whether the pick sits at an
end of the grid, where the true optimum may lie outside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lrlab import _check

__all__ = ["BestRate", "best_rate"]


@dataclass(frozen=True)
class BestRate:
    """The pick of :func:`best_rate`.

    Attributes
    ----------
    rate : float
        The best rate (NaN when no rate has a finite score).
    index : int or None
        Its position in the grid.
    score : float
        Its statistic over the seeds.
    scores : tuple of float
        The statistic of every rate of the grid, in grid order (failures as ``inf`` when
        minimising, ``-inf`` when maximising).
    """

    rate: float
    index: int | None
    score: float
    scores: tuple[float, ...]

    @property
    def at_edge(self) -> bool:
        """Whether the best rate is the first or the last of the grid (or there is none)."""
        return self.index is None or self.index in (0, len(self.scores) - 1)


def best_rate(rates, values, *, statistic: str = "mean", goal: str = "min") -> BestRate:
    """The rate of a sweep whose statistic over the seeds is best.

    Parameters
    ----------
    rates : array of float
        The grid, one rate per column of ``values``.
    values : array of float, shape (seeds, rates)
        One number per seed and rate; NaN or inf where a run failed, which counts as the
        worst value (``inf`` when minimising, ``-inf`` when maximising): a mean with one
        failed seed fails, a median fails when half the seeds do.
    statistic : {"mean", "median"}
        Over the seeds.
    goal : {"min", "max"}
        Lowest (a loss, steps to a target) or highest (an accuracy) is best.

    Returns
    -------
    BestRate
        On ties, the first of the tied rates in grid order.

    Examples
    --------
    >>> best = best_rate([0.1, 0.2, 0.4], [[1.0, 0.5, 0.7], [1.2, 0.6, float("nan")]])
    >>> best.rate, best.index, best.scores, best.at_edge
    (0.2, 1, (1.1, 0.55, inf), False)
    >>> best_rate([0.1, 0.2], [[300, 120], [280, float("inf")]], statistic="median").rate
    0.1
    """
    rates = np.asarray(rates, dtype=float)
    table = np.asarray(values, dtype=float)
    if rates.ndim != 1 or len(rates) == 0:
        raise ValueError(f"rates must be a non-empty 1-D array, got shape {rates.shape}")
    if table.ndim != 2 or table.shape[1] != len(rates) or table.shape[0] == 0:
        raise ValueError(
            f"values must have shape (seeds, {len(rates)}), one column per rate, "
            f"got shape {table.shape}"
        )
    _check.choice("statistic", statistic, ("mean", "median"))
    _check.choice("goal", goal, ("min", "max"))
    worst = math.inf if goal == "min" else -math.inf
    table = np.where(np.isfinite(table), table, worst)
    scores = table.mean(axis=0) if statistic == "mean" else np.median(table, axis=0)
    signed = scores if goal == "min" else -scores
    if not np.isfinite(signed).any() or np.min(signed) == math.inf:
        return BestRate(math.nan, None, worst, tuple(float(s) for s in scores))
    index = int(np.argmin(signed))  # the first of ties
    return BestRate(float(rates[index]), index, float(scores[index]), tuple(map(float, scores)))
