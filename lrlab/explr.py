"""The exponential learning rate that replaces weight decay (Li & Arora, ICLR 2020).

On a scale-invariant loss, SGD with momentum ``gamma``, weight decay ``lambda`` and learning
rate ``eta`` walks through the same network functions as SGD with momentum ``gamma``, no
weight decay and the growing rate ``eta alpha^(-2t-1)`` (:func:`explr_alpha`,
:func:`explr_schedule`); any base schedule has such a twin (:func:`explr_from_schedule`),
and :func:`texp` is the paper's simpler approximation. Each factory returns a
:class:`lrlab.schedules.Schedule`, so a run's config names what it ran. The PyTorch side
(momentum buffers, the trained pair) is in :mod:`lrlab.scale`, which re-exports these.

>>> explr_schedule(0.1, 0.01)
explr_schedule(lr=0.1, weight_decay=0.01, momentum=0.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from lrlab import _check
from lrlab.schedules import Schedule

__all__ = ["explr_alpha", "explr_from_schedule", "explr_schedule", "rates_of", "texp"]


def _check_decay_and_momentum(weight_decay, momentum) -> tuple[float, float]:
    weight_decay = _check.number("weight_decay", weight_decay, low=0)
    momentum = _check.number("momentum", momentum, 0, 1, high_open=True)
    return weight_decay, momentum


def explr_alpha(lr: float, weight_decay: float, momentum: float = 0.0) -> float:
    """The growth constant alpha of the exponential-learning-rate equivalence.

    alpha is the larger root of

    .. math:: x^2 - (1 + \\gamma - \\lambda\\eta)\\,x + \\gamma = 0,

    which is ``1 - lr * weight_decay`` without momentum (Li & Arora, ICLR 2020, main
    theorem). Real positive roots exist when ``lr * weight_decay <= (1 - sqrt(momentum))**2``
    (strictly below 1 when ``momentum = 0``).

    Parameters
    ----------
    lr : float
        Learning rate eta > 0 of the run with weight decay.
    weight_decay : float
        Weight decay lambda >= 0 (PyTorch's: added to the gradient as ``lambda * theta``).
    momentum : float
        Momentum gamma in [0, 1).

    Returns
    -------
    float
        alpha in (0, 1]; 1 when ``weight_decay = 0``.

    Examples
    --------
    >>> from lrlab.explr import explr_alpha
    >>> explr_alpha(0.1, 5e-4)
    0.99995
    >>> round(explr_alpha(0.1, 5e-4, momentum=0.9), 8)
    0.99949773
    """
    lr = _check.number("lr", lr, low=0, low_open=True)
    weight_decay, momentum = _check_decay_and_momentum(weight_decay, momentum)
    decay = lr * weight_decay
    b = 1.0 + momentum - decay
    # b^2 - 4 gamma, written so that it is exactly (1 - gamma)^2 when decay = 0.
    discriminant = (1.0 - momentum) ** 2 - decay * (2.0 * (1.0 + momentum) - decay)
    if discriminant < 0 or b <= 0:
        raise ValueError(
            "x^2 - (1 + momentum - lr*weight_decay) x + momentum = 0 has no positive real root: "
            "the equivalence needs lr*weight_decay <= (1 - sqrt(momentum))**2, got "
            f"lr*weight_decay = {decay:.6g} > {(1 - math.sqrt(momentum)) ** 2:.6g}"
        )
    # b > 0, so adding the square root has no cancellation; alpha <= 1 since decay >= 0,
    # the min only removes a rounding error in the last bit.
    return min(0.5 * (b + math.sqrt(discriminant)), 1.0)


def explr_schedule(lr: float, weight_decay: float, momentum: float = 0.0) -> Schedule:
    """The exponentially growing learning rate that replaces weight decay.

    .. math:: \\tilde\\eta_t = \\eta\\,\\alpha^{-2t-1},

    with alpha from :func:`explr_alpha` (Li & Arora, ICLR 2020, main theorem). SGD with
    this schedule and no weight decay is equivalent, on a scale-invariant loss, to SGD
    with constant ``lr`` and ``weight_decay`` (same momentum), provided the momentum
    buffer starts as :func:`set_explr_momentum_buffers` says.

    Parameters
    ----------
    lr, weight_decay, momentum : float
        The hyper-parameters of the run with weight decay.

    Returns
    -------
    lrlab.schedules.Schedule
        ``s(step) -> lr`` for a 0-based int or integer array ``step``, named
        ``explr_schedule`` with its three parameters (so a run's config records it).

    Examples
    --------
    >>> from lrlab.explr import explr_schedule
    >>> s = explr_schedule(0.1, 0.01)
    >>> round(s(0), 6), round(s(1) / s(0), 6)  # lr / alpha and alpha^-2, alpha = 0.999
    (0.1001, 1.002003)
    """
    alpha = explr_alpha(lr, weight_decay, momentum)
    lr, log_alpha = float(lr), math.log(alpha)
    params = {"lr": lr, "weight_decay": float(weight_decay), "momentum": float(momentum)}
    return Schedule("explr_schedule", params, lambda t: lr * np.exp(-(2 * t + 1) * log_alpha))


def rates_of(schedule: Callable, steps: int) -> np.ndarray:
    """A schedule's learning rates at steps ``0 .. steps-1``, each checked finite and > 0.

    Examples
    --------
    >>> from lrlab.schedules import step_decay
    >>> rates_of(step_decay(0.1, 2), 4).tolist()
    [0.1, 0.1, 0.010000000000000002, 0.010000000000000002]
    """
    steps = _check.integer("steps", steps, minimum=1)
    rates = np.asarray(schedule(np.arange(steps)), dtype=float)
    if rates.shape != (steps,) or not np.all(np.isfinite(rates)) or np.any(rates <= 0):
        raise ValueError("schedule must give a finite learning rate > 0 at every step")
    return rates


def _tabulated(name: str, params: dict, rates: np.ndarray) -> Schedule:
    """A :class:`~lrlab.schedules.Schedule` that looks its rates up in ``rates``."""
    steps = len(rates)

    def lookup(t: np.ndarray) -> np.ndarray:
        if t.size:  # the schedule was built for that many steps
            _check.integer("step", int(t.max()), maximum=steps - 1)
        return rates[t.astype(np.int64)]

    return Schedule(name, params, lookup)


def _rates_from_alphas(rates: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """eta~_t = eta_t s_t s_{t+1} with s_0 = 1 and s_{t+1} = s_t / alpha_t (in logs)."""
    log_s_next = -np.cumsum(np.log(alphas))  # log s_{t+1}
    log_s = np.concatenate(([0.0], log_s_next[:-1]))  # log s_t
    return rates * np.exp(log_s + log_s_next)


def explr_from_schedule(
    schedule: Callable, weight_decay: float, momentum: float, steps: int
) -> Schedule:
    """The exactly equivalent no-weight-decay schedule for any base schedule eta_t.

    Write the run with weight decay as PyTorch's SGD
    (``v_{t+1} = gamma v_t + grad L(theta_t) + lambda theta_t``,
    ``theta_{t+1} = theta_t - eta_t v_{t+1}``, with ``v_0 = 0``). A run without weight
    decay, learning rate ``eta~_t`` and iterates ``theta~_t = s_t theta_t`` sees the
    gradient ``grad L(theta_t) / s_t``; matching both second-order recurrences term by
    term (derived in the book's chapter; Li & Arora, ICLR 2020, prove the general case) gives,
    with ``a_t = s_t / s_{t+1}`` and ``r_t = eta_t / eta_{t-1}``,

    .. math::

        a_t = 1 - \\eta_t\\lambda + \\gamma r_t\\,(1 - 1/a_{t-1}),\\qquad
        \\tilde\\eta_t = \\eta_t\\, s_t\\, s_{t+1}.

    ``a_0`` is the root alpha of :func:`explr_alpha` for ``eta_0``, so a constant base
    schedule gives exactly :func:`explr_schedule`, and the ExpLR run needs the initial
    momentum buffer of :func:`set_explr_momentum_buffers`. After a change of learning rate
    ``a_t`` relaxes towards the new root over a few ``1/(1 - gamma)`` steps; :func:`texp`
    skips that relaxation.

    Parameters
    ----------
    schedule : callable
        Base schedule ``s(step) -> lr`` (vectorised), e.g. ``lrlab.schedules.step_decay``.
    weight_decay : float
        lambda >= 0.
    momentum : float
        gamma in [0, 1).
    steps : int
        Number of optimizer steps to tabulate; the result accepts ``0 <= step < steps``.

    Returns
    -------
    lrlab.schedules.Schedule
        ``s(step) -> lr`` of the run without weight decay, for ``0 <= step < steps``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrlab.explr import explr_from_schedule, explr_schedule
    >>> exact = explr_from_schedule(lambda t: np.full(np.shape(t), 0.1), 1e-3, 0.9, 100)
    >>> bool(np.allclose(exact(np.arange(100)), explr_schedule(0.1, 1e-3, 0.9)(np.arange(100))))
    True
    """
    weight_decay, momentum = _check_decay_and_momentum(weight_decay, momentum)
    steps = _check.integer("steps", steps, minimum=1)
    rates = rates_of(schedule, steps)
    alphas = np.empty(steps)
    alphas[0] = explr_alpha(rates[0], weight_decay, momentum)
    for t in range(1, steps):
        ratio = rates[t] / rates[t - 1]
        alphas[t] = 1.0 - rates[t] * weight_decay + momentum * ratio * (1.0 - 1.0 / alphas[t - 1])
        if not alphas[t] > 0:
            raise ValueError(
                f"no equivalent schedule: the scale factor alpha_t = {alphas[t]:.4g} <= 0 at "
                f"step {t}; lr*weight_decay is too large for this momentum"
            )
    params = {"schedule": schedule, "weight_decay": weight_decay, "momentum": momentum}
    return _tabulated(
        "explr_from_schedule", {**params, "steps": steps}, _rates_from_alphas(rates, alphas)
    )


def texp(schedule: Callable, weight_decay: float, momentum: float, steps: int) -> Schedule:
    """Li & Arora's Tapered-EXPonential schedule (TEXP), an approximation of the exact one.

    TEXP uses, at every step, the stationary root ``alpha*(eta_t)`` of :func:`explr_alpha`
    for the current base learning rate instead of the recurrence of
    :func:`explr_from_schedule`:
    ``eta~_t = eta_t s_t s_{t+1}``, ``s_{t+1} = s_t / alpha*(eta_t)``. Within a phase of
    constant ``eta_I`` the learning rate grows by ``alpha*_I^(-2)`` per step; entering a new
    phase it is multiplied by ``(eta_I / eta_{I-1}) / (alpha*_{I-1} alpha*_I)`` -- the
    instant decay and the switch of growth rate of Li & Arora's TEXP (ICLR 2020).
    It is exact without momentum; with momentum it ignores the few steps the exact
    ``alpha_t`` needs to settle after each change.

    Parameters
    ----------
    schedule, weight_decay, momentum, steps
        As in :func:`explr_from_schedule`.

    Returns
    -------
    lrlab.schedules.Schedule
        ``s(step) -> lr`` for ``0 <= step < steps``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrlab.explr import texp
    >>> s = texp(lambda t: np.where(np.asarray(t) < 50, 0.1, 0.01), 0.01, 0.0, 100)
    >>> round(float(s(50) / s(49)), 6)  # 0.1 * (1/0.999) * (1/0.9999)
    0.10011
    """
    weight_decay, momentum = _check_decay_and_momentum(weight_decay, momentum)
    steps = _check.integer("steps", steps, minimum=1)
    rates = rates_of(schedule, steps)
    roots = {lr: explr_alpha(lr, weight_decay, momentum) for lr in np.unique(rates)}
    alphas = np.array([roots[lr] for lr in rates])
    params = {"schedule": schedule, "weight_decay": weight_decay, "momentum": momentum}
    return _tabulated("texp", {**params, "steps": steps}, _rates_from_alphas(rates, alphas))
