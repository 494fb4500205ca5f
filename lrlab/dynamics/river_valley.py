r"""The river valley: a steep valley across, a slow river along (Wen et al. 2024).

Wen et al. ("Understanding Warmup-Stable-Decay Learning Rates: A River Valley Loss Landscape
Perspective", 2024) picture the loss of a language model as a deep valley with a river at its
bottom: steep "hill" directions across, a slowly falling "river" along. A large learning rate
bounces the iterate between the valley's walls while it moves fast along the river; decaying
the rate stops the bouncing and shows the progress made along the river, hence the sudden
drop of the loss in a warmup-stable-decay (WSD) cooldown.

The smallest such loss, on points :math:`z = (x, y)`, is

.. math::

    L(x, y) = \underbrace{\tfrac12 a\, y^2}_{\text{valley}}
              \;\underbrace{-\, b\, x}_{\text{river}},

a valley of curvature :math:`a` across (in y) and a river of slope :math:`b` along (in x),
falling for ever towards :math:`+x` (over the length of a run, a river with a floor far away
looks the same). Noisy gradient descent (SGD with Gaussian gradient noise of standard
deviation σ per coordinate) at rate :math:`\eta_t` is

.. math::

    x_{t+1} = x_t + \eta_t (b - \sigma \xi_t), \qquad
    y_{t+1} = (1 - \eta_t a)\, y_t - \eta_t \sigma \zeta_t, \qquad \xi_t, \zeta_t \sim N(0, 1),

two independent linear recursions, so every moment has a closed form
(:func:`river_valley_moments`): the river's expected loss falls by :math:`b^2 \eta_t` per
step, by the area under the schedule in all, whatever the noise; across the valley, a
constant rate with :math:`\eta a < 2` settles at the stationary variance

.. math:: \operatorname{Var} y_\infty = \frac{\eta \sigma^2}{a (2 - \eta a)}

(:func:`stationary_spread`), a valley loss of :math:`\eta\sigma^2 / (2(2 - \eta a))` that
only a smaller rate removes. :func:`river_valley_sgd` simulates the runs, vectorised over
rates, replicas and any per-step schedule, for the explorer and the chapter on WSD.

>>> path = river_valley_sgd([0.05, 0.15], 100, slope=0.1, start=(0.0, 1.0))  # plain GD
>>> path[:, -1].round(3).tolist()  # both reach y = 0; the larger rate went 3x further
[[0.5, 0.0], [1.5, 0.0]]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lrlab import _check

__all__ = [
    "river_loss",
    "river_valley_loss",
    "river_valley_moments",
    "river_valley_sgd",
    "stationary_spread",
    "valley_loss",
]

#: The loss's defaults: a valley of curvature 10 across, a river of slope 0.02 along (with
#: gradient noise σ = 1, the river falls by 0.0004 η per step while the valley's stationary
#: loss is η / (2 (2 − 10 η)): the noise hides the river's progress until the rate decays).
SHARPNESS, SLOPE = 10.0, 0.02


def _points(points) -> np.ndarray:
    z = _check.array("points", points, finite=False)
    if z.ndim == 0 or z.shape[-1] != 2:
        raise ValueError(f"points must have shape (..., 2), got shape {z.shape}")
    return z


def _shape(sharpness, slope) -> tuple[float, float]:
    a = _check.number("sharpness", sharpness, low=0, low_open=True)
    b = _check.number("slope", slope, low=0)
    return a, b


def valley_loss(points, sharpness: float = SHARPNESS) -> np.ndarray:
    r"""The valley's part of the loss, :math:`\tfrac12 a y^2`, on points ``(..., 2)``.

    Examples
    --------
    >>> valley_loss([[0.0, 1.0], [5.0, -0.5]], sharpness=4.0).tolist()
    [2.0, 0.5]
    """
    a = _check.number("sharpness", sharpness, low=0, low_open=True)
    return 0.5 * a * _points(points)[..., 1] ** 2


def river_loss(points, slope: float = SLOPE) -> np.ndarray:
    r"""The river's part of the loss, :math:`-b x`, on points ``(..., 2)``.

    Examples
    --------
    >>> river_loss([[0.0, 1.0], [5.0, -0.5]], slope=0.1).tolist()
    [-0.0, -0.5]
    """
    b = _check.number("slope", slope, low=0)
    return -b * _points(points)[..., 0]


def river_valley_loss(points, sharpness: float = SHARPNESS, slope: float = SLOPE) -> np.ndarray:
    r"""The loss :math:`L(x, y) = \tfrac12 a y^2 - b x` on points ``(..., 2)``.

    Parameters
    ----------
    points : array_like
        Points ``(x, y)`` along the last axis (the output of :func:`river_valley_sgd`).
    sharpness : float
        The valley's curvature :math:`a` across, > 0.
    slope : float
        The river's slope :math:`b` along, >= 0.

    Returns
    -------
    numpy.ndarray
        The loss, with the shape of ``points`` without its last axis.

    Examples
    --------
    >>> river_valley_loss([[2.0, 1.0]], sharpness=10.0, slope=0.5).tolist()
    [4.0]
    """
    return valley_loss(points, sharpness) + river_loss(points, slope)


def _rates_per_step(lr, steps: int, schedule) -> tuple[np.ndarray, bool]:
    """The rate of every run at every step, ``(runs, steps)``, and whether ``lr`` was a scalar:
    ``lr[i] * schedule(t)``, or ``lr[i]`` without a schedule."""
    rates, scalar = _check.rates("lr", lr)
    if schedule is None:
        factors = np.ones(steps)
    else:
        if callable(schedule):
            factors = np.asarray(schedule(np.arange(steps)), dtype=float)
        else:
            factors = _check.array("schedule", schedule, finite=False, min_size=0)
        if factors.shape != (steps,):
            raise ValueError(
                f"schedule must give one factor per step, {steps}, got shape {factors.shape}"
            )
        if not (np.all(np.isfinite(factors)) and np.all(factors >= 0)):
            raise ValueError("schedule must give finite factors >= 0 at every step")
    return rates[:, None] * factors[None, :], scalar


def _start(start) -> np.ndarray:
    z0 = _check.array("start", start)
    if z0.shape != (2,):
        raise ValueError(f"start must be one point (x, y), got shape {z0.shape}")
    return z0


def river_valley_sgd(
    lr,
    steps: int,
    *,
    schedule: Callable | np.ndarray | None = None,
    sharpness: float = SHARPNESS,
    slope: float = SLOPE,
    noise: float = 0.0,
    start=(0.0, 1.0),
    replicas: int | None = None,
    seed: int = 0,
    every: int = 1,
) -> np.ndarray:
    r"""Gradient descent or noisy SGD on the river valley, vectorised over rates and replicas.

    Each step adds Gaussian noise of standard deviation ``noise`` to both coordinates of the
    gradient :math:`(-b,\ a y)` (module docstring):

    .. math:: z_{t+1} = z_t - \eta_t \bigl(\nabla L(z_t) + \sigma \xi_t\bigr), \qquad
              \xi_t \sim N(0, I_2).

    Every rate sees the same noise draws (common random numbers), so a rate's runs do not
    depend on the other rates asked for, and two schedules are compared on the same noise.

    Parameters
    ----------
    lr : float or 1-D array_like
        Rate(s) > 0; an array adds a leading axis, one run (or set of replicas) per rate.
    steps : int
        Number of updates, >= 0.
    schedule : callable or array_like, optional
        A factor per step: step t uses ``lr * schedule(t)``. A schedule with peak 1 such as
        ``lrlab.schedules.wsd(1.0, steps, decay_steps=D)`` (callable on an array of steps),
        or an array of ``steps`` factors >= 0. Constant (factor 1) by default.
    sharpness, slope : float
        The valley's curvature :math:`a` > 0 and the river's slope :math:`b` >= 0.
    noise : float
        Standard deviation σ >= 0 of the gradient noise per coordinate; 0 is gradient descent.
    start : pair of float
        The starting point (x, y).
    replicas : int, optional
        Independent noisy runs per rate; adds an axis after the rates' one. None: one run,
        no axis.
    seed : int
        Seeds the noise.
    every : int
        Record the points at steps 0, every, 2 every, ... (up to ``steps``), >= 1.

    Returns
    -------
    numpy.ndarray
        Shape ``([rates,] [replicas,] records, 2)``: the points ``(x, y)`` at the recorded
        steps. A run whose point overflows is NaN from there on (no warnings).

    Examples
    --------
    >>> path = river_valley_sgd(0.15, 4, start=(0.0, 1.0))  # y ← (1 − 0.15·10) y
    >>> path[:, 1].tolist()
    [1.0, -0.5, 0.25, -0.125, 0.0625]
    >>> river_valley_sgd([0.1, 0.2], 1000, noise=1.0, replicas=50, every=500).shape
    (2, 50, 3, 2)
    """
    steps = _check.integer("steps", steps, minimum=0)
    rates, scalar = _rates_per_step(lr, steps, schedule)
    a, b = _shape(sharpness, slope)
    sigma = _check.number("noise", noise, low=0)
    z0 = _start(start)
    count = 1 if replicas is None else _check.integer("replicas", replicas, minimum=1)
    seed = _check.integer("seed", seed, minimum=0)
    every = _check.integer("every", every, minimum=1)

    rng = np.random.default_rng(seed)
    z = np.broadcast_to(z0, (rates.shape[0], count, 2)).copy()
    out = np.empty((rates.shape[0], count, steps // every + 1, 2))
    out[:, :, 0] = z
    with np.errstate(all="ignore"):
        for t in range(steps):
            eta = rates[:, t, None]  # (runs, 1), against the replicas
            grad_x, grad_y = -b, a * z[..., 1]
            if sigma:
                xi = rng.standard_normal((count, 2))  # one draw for every rate
                grad_x = grad_x + sigma * xi[:, 0]
                grad_y = grad_y + sigma * xi[:, 1]
            z[..., 0] -= eta * grad_x
            z[..., 1] -= eta * grad_y
            z[~np.isfinite(z).all(axis=-1)] = np.nan  # the whole point, for ever after
            if (t + 1) % every == 0:
                out[:, :, (t + 1) // every] = z
    if replicas is None:
        out = out[:, 0]
    return out[0] if scalar else out


def river_valley_moments(
    lr,
    steps: int,
    *,
    schedule: Callable | np.ndarray | None = None,
    sharpness: float = SHARPNESS,
    slope: float = SLOPE,
    noise: float = 0.0,
    start=(0.0, 1.0),
) -> dict[str, np.ndarray]:
    r"""The exact mean and variance of noisy SGD's point on the river valley, and its
    expected loss, at every step.

    Both coordinates follow linear recursions (module docstring), so with
    :math:`m, v` the mean and variance,

    .. math::

        m^y_{t+1} = (1 - \eta_t a)\, m^y_t, \quad
        v^y_{t+1} = (1 - \eta_t a)^2 v^y_t + \eta_t^2 \sigma^2, \quad
        m^x_{t+1} = m^x_t + \eta_t b, \quad
        v^x_{t+1} = v^x_t + \eta_t^2 \sigma^2,

    from :math:`m_0` = ``start``, :math:`v_0 = 0`; and the expected loss is
    :math:`\tfrac12 a (m_y^2 + v_y) - b\, m_x`: the valley's part and the river's.

    Parameters
    ----------
    lr, steps, schedule, sharpness, slope, noise, start
        As in :func:`river_valley_sgd`.

    Returns
    -------
    dict
        ``"mean"`` and ``"var"`` of ``(x, y)``, shape ``([rates,] steps + 1, 2)``;
        ``"valley"``, ``"river"`` and ``"loss"`` (their sum), the expected loss and its two
        parts, shape ``([rates,] steps + 1)``. Overflow gives inf or NaN (no warnings).

    Examples
    --------
    >>> m = river_valley_moments(0.1, 200, slope=0.1, noise=1.0, start=(0.0, 0.0))
    >>> round(float(m["var"][-1, 1]), 6)  # settled: 0.1 / (10 (2 - 1))
    0.01
    >>> round(float(m["river"][-1]), 6)  # -b · b · (area under the schedule) = -0.01 · 20
    -0.2
    """
    steps = _check.integer("steps", steps, minimum=0)
    rates, scalar = _rates_per_step(lr, steps, schedule)
    a, b = _shape(sharpness, slope)
    sigma = _check.number("noise", noise, low=0)
    z0 = _start(start)
    mean = np.empty((rates.shape[0], steps + 1, 2))
    var = np.zeros_like(mean)
    mean[:, 0] = z0
    with np.errstate(all="ignore"):
        for t in range(steps):
            eta = rates[:, t]
            factor = 1.0 - eta * a
            mean[:, t + 1, 0] = mean[:, t, 0] + eta * b
            mean[:, t + 1, 1] = factor * mean[:, t, 1]
            var[:, t + 1, 0] = var[:, t, 0] + (eta * sigma) ** 2
            var[:, t + 1, 1] = factor**2 * var[:, t, 1] + (eta * sigma) ** 2
        valley = 0.5 * a * (mean[..., 1] ** 2 + var[..., 1])
        river = -b * mean[..., 0]
        moments = {"mean": mean, "var": var, "valley": valley, "river": river}
        moments["loss"] = valley + river
    return {k: v[0] for k, v in moments.items()} if scalar else moments


def stationary_spread(lr, sharpness: float = SHARPNESS, noise: float = 1.0) -> float | np.ndarray:
    r"""The stationary variance across the valley of noisy SGD at a constant rate.

    The fixed point of :math:`v \leftarrow (1 - \eta a)^2 v + \eta^2 \sigma^2`:

    .. math:: v_\infty = \frac{\eta^2 \sigma^2}{1 - (1 - \eta a)^2}
              = \frac{\eta \sigma^2}{a (2 - \eta a)}, \qquad 0 < \eta a < 2,

    and infinite for :math:`\eta a \ge 2`, where the spread grows without bound. The valley's
    expected loss there is :math:`\tfrac12 a v_\infty = \eta\sigma^2 / (2 (2 - \eta a))`.

    Parameters
    ----------
    lr : float or 1-D array_like
        Rate(s) η > 0.
    sharpness : float
        The valley's curvature a > 0.
    noise : float
        The gradient noise's standard deviation σ >= 0.

    Returns
    -------
    float or numpy.ndarray
        One variance per rate (a float for a scalar ``lr``).

    Examples
    --------
    >>> stationary_spread([0.1, 0.15, 0.2], sharpness=10.0, noise=1.0).round(4).tolist()
    [0.01, 0.03, inf]
    """
    rates, scalar = _check.rates("lr", lr)
    a = _check.number("sharpness", sharpness, low=0, low_open=True)
    sigma = _check.number("noise", noise, low=0)
    product = rates * a
    with np.errstate(divide="ignore"):
        spread = np.where(product < 2, rates * sigma**2 / (a * (2.0 - product)), np.inf)
    return float(spread[0]) if scalar else spread
