"""Gradient descent as a map x ← x − γ·grad(x) for any NumPy gradient: trajectories
vectorised over step sizes, the period of an orbit, bifurcation diagrams (Nar & Sastry,
NeurIPS 2018).

>>> iterate(lambda x: 2.0 * x, 1.0, lr=0.25, steps=2).tolist()
[1.0, 0.5, 0.25]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lrlab import _check

__all__ = ["bifurcation", "iterate", "orbit_period"]


def _run_map(
    grad: Callable,
    x: np.ndarray,
    gamma: np.ndarray,
    max_abs: float,
    steps: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Run ``steps`` vectorised updates and return the last state; ``out[t]`` gets state t+1.

    Entries that overflow or exceed ``max_abs`` become NaN. Floating-point warnings are
    silenced once around the whole loop (entering ``np.errstate`` per step costs more than
    a small step itself).
    """
    with np.errstate(all="ignore"):
        for t in range(steps):
            x = x - gamma * np.asarray(grad(x), dtype=float)
            magnitude = np.abs(x)
            if not magnitude.max() <= max_abs:  # some entry is too large, inf or NaN
                x[~(magnitude <= max_abs)] = np.nan
            if out is not None:
                out[t] = x
    return x


def _check_grad_map(grad, max_abs: float) -> None:
    if not callable(grad):
        raise TypeError(f"grad must be callable, got {type(grad).__name__}")
    _check.number("max_abs", max_abs, low=0, low_open=True, finite=False)


def iterate(
    grad: Callable[[np.ndarray], np.ndarray],
    x0,
    lr,
    steps: int,
    max_abs: float = 1e12,
) -> np.ndarray:
    """Iterate the gradient-descent map x ← x − γ·grad(x), vectorised over step sizes.

    Parameters
    ----------
    grad : callable
        NumPy gradient. It receives an array of shape ``(n, *x0.shape)`` (``n`` step sizes)
        and must return an array of that shape, treating leading axes as a batch (write
        ``x @ H`` rather than ``H @ x``).
    x0 : float or array_like
        Starting state: a scalar for a 1-D map, a vector for an N-D map, or any array
        (for example a batch of independent 1-D starts).
    lr : float or 1-D array_like
        Step size(s) γ > 0; an array adds a leading axis to the result.
    steps : int
        Number of updates.
    max_abs : float
        Divergence threshold. An entry that overflows, becomes NaN or exceeds ``max_abs``
        in magnitude is set to NaN, and stays NaN (NaN propagates through ``grad`` to the
        coordinates coupled to it). No floating-point warnings are printed.

    Returns
    -------
    numpy.ndarray
        ``(steps + 1, *x0.shape)``, with a leading ``len(lr)`` axis when ``lr`` is an array.

    Examples
    --------
    >>> x = iterate(lambda x: 2.0 * x, 1.0, lr=[0.25, 1.5], steps=2)
    >>> x.tolist()
    [[1.0, 0.5, 0.25], [1.0, -2.0, 4.0]]
    """
    _check_grad_map(grad, max_abs)
    lrs, scalar_lr = _check.rates("lr", lr)
    steps = _check.integer("steps", steps, minimum=0)
    start = _check.array("x0", x0)
    x = np.broadcast_to(start, (lrs.size, *start.shape)).copy()
    gamma = lrs.reshape((lrs.size,) + (1,) * (x.ndim - 1))
    out = np.empty((steps + 1, *x.shape))
    out[0] = x
    _run_map(grad, x, gamma, max_abs, steps, out[1:])
    out = np.moveaxis(out, 0, 1)
    return out[0] if scalar_lr else out


def orbit_period(trajectory, tol: float = 1e-9, max_period: int = 64) -> int | None:
    r"""The smallest period of the tail of a trajectory.

    The tail is the last ``2 * max_period`` states; the period is the smallest p with
    :math:`|x_t - x_{t-p}| \le \mathrm{tol} \cdot \max(1, \max |x|)` for every t in the
    tail. A fixed point has period 1.

    Parameters
    ----------
    trajectory : array_like
        One trajectory, time on the first axis: shape ``(T,)`` or ``(T, ...)``.
    tol : float
        Tolerance, relative to the tail's magnitude when that exceeds 1.
    max_period : int
        Largest period tried; needs ``T >= 2 * max_period``.

    Returns
    -------
    int or None
        The period, or None when the tail diverged (non-finite) or has no period up to
        ``max_period`` (for example a chaotic trajectory).

    Examples
    --------
    >>> orbit_period([0.3, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0], max_period=3)
    2
    """
    traj = np.asarray(trajectory, dtype=float)
    tol = _check.number("tol", tol, low=0, low_open=True)
    max_period = _check.integer("max_period", max_period, minimum=1)
    if traj.ndim == 0 or traj.shape[0] < 2 * max_period:
        raise ValueError(
            f"trajectory must have at least 2 * max_period = {2 * max_period} states, "
            f"got shape {traj.shape}"
        )
    tail = traj[-2 * max_period :].reshape(2 * max_period, -1)
    if not np.all(np.isfinite(tail)):
        return None
    scale = tol * max(1.0, float(np.abs(tail).max()))
    for period in range(1, max_period + 1):
        if np.abs(tail[period:] - tail[:-period]).max() <= scale:
            return period
    return None


def bifurcation(
    grad: Callable[[np.ndarray], np.ndarray],
    lrs,
    x0: float,
    burn_in: int = 1000,
    keep: int = 200,
    max_abs: float = 1e12,
) -> tuple[np.ndarray, np.ndarray]:
    """Points of a bifurcation diagram of a 1-D gradient map x ← x − γ·grad(x).

    All step sizes are iterated together (one NumPy array), the first ``burn_in`` states
    are dropped and the next ``keep`` are returned; diverged points are left out.

    Parameters
    ----------
    grad : callable
        Elementwise NumPy derivative of a 1-D loss.
    lrs : 1-D array_like
        Step sizes γ > 0.
    x0 : float
        Starting point, the same for every step size.
    burn_in, keep : int
        Transient steps to drop, then states to keep (``keep >= 1``).
    max_abs : float
        Divergence threshold, as in :func:`iterate`.

    Returns
    -------
    lr, x : numpy.ndarray
        Matching 1-D arrays of points (γ, x_t), ready for ``ax.plot(lr, x, ",")``.

    Examples
    --------
    >>> lr, x = bifurcation(lambda x: x**3 - x, [0.5, 1.2], x0=0.5, burn_in=500, keep=4)
    >>> lr.tolist()
    [0.5, 0.5, 0.5, 0.5, 1.2, 1.2, 1.2, 1.2]
    >>> np.round(x[:4], 6).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    _check_grad_map(grad, max_abs)
    gammas, _ = _check.rates("lrs", lrs)
    burn_in = _check.integer("burn_in", burn_in, minimum=0)
    keep = _check.integer("keep", keep, minimum=1)
    if np.ndim(x0) != 0:
        raise ValueError(f"x0 must be a scalar (a 1-D map), got shape {np.shape(x0)}")
    x = _run_map(grad, np.full(gammas.size, float(x0)), gammas, max_abs, burn_in)
    kept = np.empty((keep, gammas.size))
    _run_map(grad, x, gammas, max_abs, keep, kept)
    lr_points = np.repeat(gammas, keep)
    x_points = kept.T.ravel()
    finite = np.isfinite(x_points)
    return lr_points[finite], x_points[finite]
