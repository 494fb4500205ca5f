r"""The river valley: a steep valley across, a slow river along (Wen et al. 2024).

Wen et al. ("Understanding Warmup-Stable-Decay Learning Rates: A River Valley Loss Landscape
Perspective", 2024) picture the loss of a language model as a deep valley with a river at its
bottom: steep "hill" directions across, a slowly falling "river" along. A large learning rate
bounces the iterate between the valley's walls while it moves fast along the river; decaying
the rate stops the bouncing and shows the progress made along the river, hence the sudden
drop of the loss in a warmup-stable-decay (WSD) cooldown.

The smallest such loss, on points :math:`z = (x, y)`, is a long, narrow quadratic,

.. math::

    L(x, y) = \underbrace{\tfrac12 a\, y^2}_{\text{valley}}
              + \underbrace{\tfrac12 c\, x^2}_{\text{river}}, \qquad c \ll a,

a valley of curvature :math:`a` across (in y) and a river of curvature :math:`c` along (in
x), whose mouth (the minimum) lies at the origin, far downstream of the start
(:math:`x_0 = -10` by default: the river's slope there is :math:`c |x_0|`). SGD's gradient
noise acts across the valley, with standard deviation σ; the river's direction, almost flat,
carries none (a modelling choice: it makes the progress along the river exact). At rate
:math:`\eta_t`,

.. math::

    x_{t+1} = (1 - \eta_t c)\, x_t, \qquad
    y_{t+1} = (1 - \eta_t a)\, y_t - \eta_t \sigma \xi_t, \qquad \xi_t \sim N(0, 1),

two linear recursions, so every moment has a closed form (:func:`river_valley_moments`):
the distance to the mouth shrinks by the factor :math:`\prod_t (1 - \eta_t c) \approx
e^{-c \sum_t \eta_t}`, set by the area under the schedule, whatever the noise; across the
valley, a constant rate with :math:`\eta a < 2` settles at the stationary variance

.. math:: \operatorname{Var} y_\infty = \frac{\eta \sigma^2}{a (2 - \eta a)}

(:func:`stationary_spread`), a valley loss of :math:`\eta\sigma^2 / (2(2 - \eta a))` that
only a smaller rate removes. :func:`river_valley_sgd` simulates the runs, vectorised over
rates, replicas and any per-step schedule, for the explorer and the chapter on WSD.

>>> path = river_valley_sgd([0.05, 0.15], 100, river=0.01)  # plain GD from (-10, 1)
>>> path[:, -1].round(3).tolist()  # y is 0 for both; x = -10 (1 - 0.01 η)^100
[[-9.512, 0.0], [-8.606, 0.0]]
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

#: The defaults: a valley of curvature 10 across, a river of curvature 0.002 along, and a
#: start 10 upstream of the mouth, where the river's slope is 0.02. With noise σ = 1 the
#: valley's stationary loss at rate η is η / (2 (2 − 10 η)), while the river's loss falls
#: by about 0.0004 η per step: the noise hides the river's progress until the rate decays.
SHARPNESS, RIVER, START = 10.0, 0.002, (-10.0, 1.0)


def _points(points) -> np.ndarray:
    z = _check.array("points", points, finite=False)
    if z.ndim == 0 or z.shape[-1] != 2:
        raise ValueError(f"points must have shape (..., 2), got shape {z.shape}")
    return z


def _shape(sharpness, river) -> tuple[float, float]:
    a = _check.number("sharpness", sharpness, low=0, low_open=True)
    c = _check.number("river", river, low=0)
    return a, c


def valley_loss(points, sharpness: float = SHARPNESS) -> np.ndarray:
    r"""The valley's part of the loss, :math:`\tfrac12 a y^2`, on points ``(..., 2)``.

    Examples
    --------
    >>> valley_loss([[0.0, 1.0], [5.0, -0.5]], sharpness=4.0).tolist()
    [2.0, 0.5]
    """
    a = _check.number("sharpness", sharpness, low=0, low_open=True)
    return 0.5 * a * _points(points)[..., 1] ** 2


def river_loss(points, river: float = RIVER) -> np.ndarray:
    r"""The river's part of the loss, :math:`\tfrac12 c x^2`, on points ``(..., 2)``.

    Examples
    --------
    >>> river_loss([[-10.0, 1.0], [5.0, -0.5]], river=0.002).tolist()
    [0.1, 0.025]
    """
    c = _check.number("river", river, low=0)
    return 0.5 * c * _points(points)[..., 0] ** 2


def river_valley_loss(points, sharpness: float = SHARPNESS, river: float = RIVER) -> np.ndarray:
    r"""The loss :math:`L(x, y) = \tfrac12 a y^2 + \tfrac12 c x^2` on points ``(..., 2)``.

    Parameters
    ----------
    points : array_like
        Points ``(x, y)`` along the last axis (the output of :func:`river_valley_sgd`).
    sharpness : float
        The valley's curvature :math:`a` across, > 0.
    river : float
        The river's curvature :math:`c` along, >= 0 (much smaller than ``sharpness``).

    Returns
    -------
    numpy.ndarray
        The loss, with the shape of ``points`` without its last axis.

    Examples
    --------
    >>> river_valley_loss([[-10.0, 1.0]], sharpness=10.0, river=0.002).round(6).tolist()
    [5.1]
    """
    return valley_loss(points, sharpness) + river_loss(points, river)


def _rates_per_step(lr, steps: int, schedule) -> tuple[np.ndarray, bool]:
    """The rate of every run at every step, ``(runs, steps)``, and whether ``lr`` was a scalar:
    ``lr[i] * schedule(t)`` (or ``lr[i] * schedule[i, t]`` for one schedule per rate), or
    ``lr[i]`` without a schedule."""
    rates, scalar = _check.rates("lr", lr)
    if schedule is None:
        return np.repeat(rates[:, None], steps, axis=1), scalar
    if callable(schedule):
        factors = np.asarray(schedule(np.arange(steps)), dtype=float)
    else:
        factors = _check.array("schedule", schedule, finite=False, min_size=0)
    if factors.shape not in ((steps,), (rates.size, steps)):
        raise ValueError(
            f"schedule must give one factor per step ({steps}), or a row of them per rate "
            f"({rates.size}, {steps}), got shape {factors.shape}"
        )
    if not (np.all(np.isfinite(factors)) and np.all(factors >= 0)):
        raise ValueError("schedule must give finite factors >= 0 at every step")
    return rates[:, None] * factors, scalar and factors.ndim == 1


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
    river: float = RIVER,
    noise: float = 0.0,
    start=START,
    replicas: int | None = None,
    seed: int = 0,
    every: int = 1,
) -> np.ndarray:
    r"""Gradient descent or noisy SGD on the river valley, vectorised over rates and replicas.

    The gradient :math:`(c x,\ a y)` gets Gaussian noise of standard deviation σ =
    ``noise`` across the valley (module docstring):

    .. math:: x_{t+1} = x_t - \eta_t c\, x_t, \qquad
              y_{t+1} = y_t - \eta_t (a y_t + \sigma \xi_t), \qquad \xi_t \sim N(0, 1).

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
        an array of ``steps`` factors >= 0, or an array ``(len(lr), steps)`` of them, one
        schedule per rate (so that many schedules run at once). Constant (factor 1) by
        default.
    sharpness, river : float
        The valley's curvature :math:`a` > 0 and the river's :math:`c` >= 0.
    noise : float
        Standard deviation σ >= 0 of the gradient noise across the valley; 0 is gradient
        descent.
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
    a, c = _shape(sharpness, river)
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
            grad_y = a * z[..., 1]
            if sigma:
                grad_y = grad_y + sigma * rng.standard_normal(count)  # one draw for every rate
            z[..., 0] -= eta * (c * z[..., 0])
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
    river: float = RIVER,
    noise: float = 0.0,
    start=START,
) -> dict[str, np.ndarray]:
    r"""The exact mean and variance of noisy SGD's point on the river valley, and its
    expected loss, at every step.

    Both coordinates follow linear recursions (module docstring), so with :math:`m, v` the
    mean and variance across the valley, from :math:`m_0 = y_0`, :math:`v_0 = 0`,

    .. math::

        x_{t+1} = (1 - \eta_t c)\, x_t, \qquad
        m_{t+1} = (1 - \eta_t a)\, m_t,

        v_{t+1} = (1 - \eta_t a)^2 v_t + \eta_t^2 \sigma^2,

    (x has no noise), and the expected loss is :math:`\tfrac12 a (m_t^2 + v_t)` across the
    valley plus :math:`\tfrac12 c x_t^2` along the river.

    Parameters
    ----------
    lr, steps, schedule, sharpness, river, noise, start
        As in :func:`river_valley_sgd`.

    Returns
    -------
    dict
        ``"x"`` (the position along the river), ``"mean"`` and ``"var"`` (of y), ``"valley"``,
        ``"river"`` (the expected loss's two parts) and ``"loss"`` (their sum), each of shape
        ``([rates,] steps + 1)``. Overflow gives inf or NaN (no warnings).

    Examples
    --------
    >>> m = river_valley_moments(0.1, 200, noise=1.0, start=(-10.0, 0.0))
    >>> round(float(m["var"][-1]), 6)  # settled: 0.1 / (10 (2 - 0.1 · 10))
    0.01
    >>> round(float(m["x"][-1]), 3)  # -10 (1 - 0.1 · 0.002)^200
    -9.608
    """
    steps = _check.integer("steps", steps, minimum=0)
    rates, scalar = _rates_per_step(lr, steps, schedule)
    a, c = _shape(sharpness, river)
    sigma = _check.number("noise", noise, low=0)
    z0 = _start(start)
    x, mean, var = (np.empty((rates.shape[0], steps + 1)) for _ in range(3))
    x[:, 0], mean[:, 0], var[:, 0] = z0[0], z0[1], 0.0
    with np.errstate(all="ignore"):
        for t in range(steps):
            eta = rates[:, t]
            factor = 1.0 - eta * a
            x[:, t + 1] = (1.0 - eta * c) * x[:, t]
            mean[:, t + 1] = factor * mean[:, t]
            var[:, t + 1] = factor**2 * var[:, t] + (eta * sigma) ** 2
        moments = {
            "x": x,
            "mean": mean,
            "var": var,
            "valley": 0.5 * a * (mean**2 + var),
            "river": 0.5 * c * x**2,
        }
        moments["loss"] = moments["valley"] + moments["river"]
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
