"""Learning-rate schedules as pure functions of the optimizer step.

Every factory here validates its arguments and returns a :class:`Schedule`: a callable
``s(step) -> lr`` for the 0-based optimizer step, vectorised over integer NumPy arrays.
By construction ``s(t)`` equals what PyTorch's matching scheduler reports through
``get_last_lr()`` after ``t`` calls of ``scheduler.step()`` (one call per optimizer step);
the tests check this against PyTorch itself.

>>> from lrlab import schedules
>>> s = schedules.step_decay(0.1, step_size=30)
>>> s(0), round(s(30), 12)
(0.1, 0.01)
>>> s(np.arange(3)).tolist()
[0.1, 0.1, 0.1]

A call with one step runs exactly the array code (on a one-element array), so ``s(t)``
and ``s(np.array([t]))[0]`` are the same number on every NumPy build and CPU.

:func:`to_torch` turns any schedule into a ``torch.optim.lr_scheduler.LRScheduler``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lrlab import _check

__all__ = [
    "Schedule",
    "constant",
    "step_decay",
    "multistep",
    "exponential",
    "inverse_time",
    "polynomial",
    "cosine",
    "sgdr",
    "cyclic",
    "one_cycle",
    "gaussian_peak",
    "laplacian_peak",
    "warmup",
    "join",
    "rate_at",
    "to_torch",
    "trace_torch",
    "FACTORIES",
]


class Schedule:
    """A learning-rate schedule: ``lr = s(step)`` for 0-based optimizer steps.

    Built by the factories of this module; you rarely make one directly. Calling it
    with an ``int`` returns a ``float``; with an integer array, a float64 array of the
    same shape. Both go through one arithmetic path: ``fn`` always receives an array
    with at least one dimension, a single step being a one-element array. (NumPy's
    arithmetic on scalars is separate code from its vectorised loops, and the two can
    round ``**``, ``exp`` or ``cos`` differently in the last bit, depending on the NumPy
    build and the CPU.)

    Parameters
    ----------
    name : str
        The factory that made it (used in ``repr`` and results files).
    params : dict
        The factory's arguments, for ``repr`` and provenance.
    fn : callable
        Maps a float64 array (1-D or more) of non-negative steps to learning rates.
    """

    def __init__(self, name: str, params: dict[str, Any], fn: Callable[[np.ndarray], np.ndarray]):
        self.name = name
        self.params = dict(params)
        self._fn = fn

    def __call__(self, step):
        t = np.asarray(step)
        if t.dtype == bool or not np.issubdtype(t.dtype, np.integer):
            raise TypeError(f"step must be an int or an integer array, got {t.dtype} ({step!r})")
        if t.size and t.min() < 0:
            raise ValueError(f"step must be >= 0, got {int(t.min())}")
        steps = np.atleast_1d(t).astype(np.float64)
        lr = np.broadcast_to(np.asarray(self._fn(steps), dtype=np.float64), steps.shape)
        return float(lr[0]) if t.ndim == 0 else lr.reshape(t.shape).copy()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}({args})"


# --- argument checks: each names the parameter and the allowed range ---------------------


def _rate(name: str, value, *, allow_zero: bool = False) -> float:
    return _check.number(name, value, low=0, low_open=not allow_zero)


def _count(name: str, value, *, minimum: int = 1) -> int:
    return _check.integer(name, value, minimum=minimum)


def _factor(name: str, value, low: float, high: float, *, include_low: bool = False) -> float:
    return _check.number(name, value, low, high, low_open=not include_low)


def _at_most(name: str, value: float, other_name: str, other: float) -> None:
    if value > other:
        raise ValueError(f"{name} must be <= {other_name} ({other}), got {value}")


# --- the factories -------------------------------------------------------------------------


def constant(lr: float) -> Schedule:
    """A constant learning rate.

    Parameters
    ----------
    lr : float
        The learning rate, > 0.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> constant(0.1)(5)
    0.1
    """
    lr = _rate("lr", lr)
    return Schedule("constant", {"lr": lr}, lambda t: np.full_like(t, lr))


def step_decay(lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    r"""Multiply the learning rate by ``gamma`` every ``step_size`` steps (``StepLR``).

    .. math:: \eta_t = \eta_0 \, \gamma^{\lfloor t / s \rfloor}

    The classic "divide by 10 every 30 epochs" of ImageNet training, here per step.

    Parameters
    ----------
    lr : float
        Initial learning rate, > 0.
    step_size : int
        Steps between decays, >= 1.
    gamma : float
        Decay factor, in (0, 1].

    Examples
    --------
    >>> step_decay(1.0, step_size=2, gamma=0.5)(np.arange(5)).tolist()
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """
    lr = _rate("lr", lr)
    step_size = _count("step_size", step_size)
    gamma = _factor("gamma", gamma, 0.0, 1.0)
    params = {"lr": lr, "step_size": step_size, "gamma": gamma}
    return Schedule("step_decay", params, lambda t: lr * gamma ** np.floor(t / step_size))


def multistep(lr: float, milestones: Sequence[int], gamma: float = 0.1) -> Schedule:
    r"""Multiply the learning rate by ``gamma`` at each milestone (``MultiStepLR``).

    .. math:: \eta_t = \eta_0 \, \gamma^{\#\{m_i \le t\}}

    Parameters
    ----------
    lr : float
        Initial learning rate, > 0.
    milestones : sequence of int
        Strictly increasing steps >= 1 at which the rate is multiplied by ``gamma``.
    gamma : float
        Decay factor, in (0, 1].

    Examples
    --------
    >>> multistep(1.0, [2, 3], gamma=0.1)(np.arange(4)).round(6).tolist()
    [1.0, 1.0, 0.1, 0.01]
    """
    lr = _rate("lr", lr)
    gamma = _factor("gamma", gamma, 0.0, 1.0)
    marks = np.asarray([_count("milestones", m) for m in milestones], dtype=np.float64)
    if marks.size == 0 or np.any(np.diff(marks) <= 0):
        raise ValueError(
            f"milestones must be a non-empty, strictly increasing list, got {list(milestones)}"
        )
    params = {"lr": lr, "milestones": [int(m) for m in marks], "gamma": gamma}
    return Schedule(
        "multistep", params, lambda t: lr * gamma ** np.searchsorted(marks, t, side="right")
    )


def exponential(lr: float, gamma: float) -> Schedule:
    r"""Multiply the learning rate by ``gamma`` every step (``ExponentialLR``).

    .. math:: \eta_t = \eta_0 \, \gamma^{t}

    ``gamma > 1`` gives an exponentially growing rate, as in the equivalence of
    Li & Arora (2020) (see :mod:`lrlab.scale`).

    Examples
    --------
    >>> exponential(1.0, 0.5)(np.arange(3)).tolist()
    [1.0, 0.5, 0.25]
    """
    lr = _rate("lr", lr)
    gamma = _rate("gamma", gamma)
    return Schedule("exponential", {"lr": lr, "gamma": gamma}, lambda t: lr * gamma**t)


def inverse_time(lr: float, decay_rate: float) -> Schedule:
    r"""Inverse-time ("rational") decay, as in Seong et al. (2018).

    .. math:: \eta_t = \frac{\eta_0}{1 + k t}

    Parameters
    ----------
    lr : float
        Initial learning rate, > 0.
    decay_rate : float
        ``k`` >= 0; the rate halves at step ``1/k``.

    Examples
    --------
    >>> inverse_time(1.0, 0.5)(np.arange(3)).tolist()
    [1.0, 0.6666666666666666, 0.5]
    """
    lr = _rate("lr", lr)
    decay_rate = _rate("decay_rate", decay_rate, allow_zero=True)
    params = {"lr": lr, "decay_rate": decay_rate}
    return Schedule("inverse_time", params, lambda t: lr / (1.0 + decay_rate * t))


def polynomial(lr: float, total_steps: int, power: float = 1.0, end_lr: float = 0.0) -> Schedule:
    r"""Polynomial decay from ``lr`` to ``end_lr`` over ``total_steps``, then constant.

    .. math:: \eta_t = \eta_{end} + (\eta_0 - \eta_{end})
              \left(1 - \frac{\min(t, T)}{T}\right)^{p}

    Equals PyTorch's ``PolynomialLR(total_iters=T, power=p)`` when ``end_lr = 0``.

    Examples
    --------
    >>> polynomial(1.0, total_steps=4)(np.arange(6)).tolist()
    [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """
    lr = _rate("lr", lr)
    total_steps = _count("total_steps", total_steps)
    power = _rate("power", power)
    end_lr = _rate("end_lr", end_lr, allow_zero=True)
    _at_most("end_lr", end_lr, "lr", lr)
    params = {"lr": lr, "total_steps": total_steps, "power": power, "end_lr": end_lr}

    def fn(t):
        return end_lr + (lr - end_lr) * (1.0 - np.minimum(t, total_steps) / total_steps) ** power

    return Schedule("polynomial", params, fn)


def _half_cosine(high, low, fraction):
    """``high`` at fraction 0, ``low`` at fraction 1, along half a cosine period."""
    return low + (high - low) * (1.0 + np.cos(np.pi * fraction)) / 2.0


def cosine(lr: float, total_steps: int, min_lr: float = 0.0) -> Schedule:
    r"""Cosine annealing from ``lr`` to ``min_lr`` over ``total_steps``, then held.

    .. math:: \eta_t = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})
              \left(1 + \cos\frac{\pi \min(t, T)}{T}\right)

    Equals ``CosineAnnealingLR(T_max=T, eta_min=min_lr)`` for ``t <= T``; PyTorch's
    scheduler then climbs back up (it is periodic), this one stays at ``min_lr``.
    Loshchilov & Hutter (2017).

    Examples
    --------
    >>> cosine(1.0, total_steps=2)(np.arange(4)).round(6).tolist()
    [1.0, 0.5, 0.0, 0.0]
    """
    lr = _rate("lr", lr)
    total_steps = _count("total_steps", total_steps)
    min_lr = _rate("min_lr", min_lr, allow_zero=True)
    _at_most("min_lr", min_lr, "lr", lr)
    params = {"lr": lr, "total_steps": total_steps, "min_lr": min_lr}
    return Schedule(
        "cosine",
        params,
        lambda t: _half_cosine(lr, min_lr, np.minimum(t, total_steps) / total_steps),
    )


def sgdr(
    lr: float,
    first_cycle: int,
    cycle_mult: int = 1,
    min_lr: float = 0.0,
    peak_decay: float = 1.0,
) -> Schedule:
    r"""Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter 2017).

    Cycle ``k`` lasts :math:`T_k = T_0 m^k` steps; inside it, at position
    :math:`\tau`,

    .. math:: \eta = \eta_{min} + \tfrac12(\eta_k - \eta_{min})(1 + \cos(\pi\tau/T_k)),
              \qquad \eta_k = \max(\eta_0 d^k, \eta_{min}).

    With ``peak_decay`` :math:`d = 1` this equals PyTorch's
    ``CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)`` stepped once per step.

    Parameters
    ----------
    lr : float
        Peak learning rate of the first cycle, > 0.
    first_cycle : int
        Length :math:`T_0` of the first cycle in steps, >= 1.
    cycle_mult : int
        Each cycle is this many times longer than the one before, >= 1.
    min_lr : float
        The rate at the end of every cycle, in [0, lr].
    peak_decay : float
        Each restart's peak is this times the previous one, in (0, 1].

    Examples
    --------
    >>> sgdr(1.0, first_cycle=2)(np.arange(5)).round(6).tolist()
    [1.0, 0.5, 1.0, 0.5, 1.0]
    """
    lr = _rate("lr", lr)
    first_cycle = _count("first_cycle", first_cycle)
    cycle_mult = _count("cycle_mult", cycle_mult)
    min_lr = _rate("min_lr", min_lr, allow_zero=True)
    _at_most("min_lr", min_lr, "lr", lr)
    peak_decay = _factor("peak_decay", peak_decay, 0.0, 1.0)
    params = {
        "lr": lr,
        "first_cycle": first_cycle,
        "cycle_mult": cycle_mult,
        "min_lr": min_lr,
        "peak_decay": peak_decay,
    }

    def fn(t):
        if cycle_mult == 1:
            cycle, position, length = t // first_cycle, t % first_cycle, first_cycle
        else:
            # Cycle starts are exact integers: T0 * (m^k - 1) / (m - 1).
            last = float(t.max()) if t.size else 0.0
            starts = [0]
            while starts[-1] <= last:
                starts.append(starts[-1] + first_cycle * cycle_mult ** (len(starts) - 1))
            starts = np.asarray(starts, dtype=np.float64)
            cycle = np.searchsorted(starts, t, side="right") - 1
            position = t - starts[cycle]
            length = first_cycle * float(cycle_mult) ** cycle
        peak = np.maximum(lr * peak_decay**cycle, min_lr)
        return _half_cosine(peak, min_lr, position / length)

    return Schedule("sgdr", params, fn)


def cyclic(
    base_lr: float,
    max_lr: float,
    step_size_up: int,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
) -> Schedule:
    r"""Cyclical learning rates (Smith 2017), as PyTorch's ``CyclicLR`` computes them.

    A cycle climbs linearly from ``base_lr`` to ``max_lr`` in ``step_size_up`` steps and
    falls back in ``step_size_down`` steps. The height of cycle :math:`c = 1, 2, \dots`
    is scaled by 1 (``"triangular"``), :math:`2^{1-c}` (``"triangular2"``), or
    :math:`\gamma^t` at step :math:`t` (``"exp_range"``).

    Parameters
    ----------
    base_lr, max_lr : float
        Lower and upper bound of the cycle, 0 <= base_lr <= max_lr, max_lr > 0.
    step_size_up : int
        Steps of the rising half, >= 1.
    step_size_down : int, optional
        Steps of the falling half, >= 1; defaults to ``step_size_up``.
    mode : {"triangular", "triangular2", "exp_range"}
    gamma : float
        Per-step factor of ``"exp_range"``, in (0, 1].

    Examples
    --------
    >>> cyclic(0.0, 1.0, step_size_up=2)(np.arange(5)).tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    base_lr = _rate("base_lr", base_lr, allow_zero=True)
    max_lr = _rate("max_lr", max_lr)
    _at_most("base_lr", base_lr, "max_lr", max_lr)
    step_size_up = _count("step_size_up", step_size_up)
    if step_size_down is not None:
        step_size_down = _count("step_size_down", step_size_down)
    modes = ("triangular", "triangular2", "exp_range")
    if mode not in modes:
        raise ValueError(f"mode must be one of {modes}, got {mode!r}")
    gamma = _factor("gamma", gamma, 0.0, 1.0)
    params = {
        "base_lr": base_lr,
        "max_lr": max_lr,
        "step_size_up": step_size_up,
        "step_size_down": step_size_down,
        "mode": mode,
        "gamma": gamma,
    }
    total = float(step_size_up + (step_size_down or step_size_up))
    up_ratio = step_size_up / total

    def fn(t):
        # The same arithmetic as torch.optim.lr_scheduler.CyclicLR.get_lr.
        cycle = np.floor(1.0 + t / total)
        x = 1.0 + t / total - cycle
        height = np.where(x <= up_ratio, x / up_ratio, (x - 1.0) / (up_ratio - 1.0))
        if mode == "triangular":
            scale = 1.0
        elif mode == "triangular2":
            scale = 1.0 / 2.0 ** (cycle - 1.0)
        else:
            scale = gamma**t
        return base_lr + (max_lr - base_lr) * height * scale

    return Schedule("cyclic", params, fn)


def one_cycle(
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    anneal: str = "cos",
    three_phase: bool = False,
) -> Schedule:
    r"""The one-cycle policy (Smith & Topin 2019), as PyTorch's ``OneCycleLR`` computes it.

    The rate warms up from ``max_lr / div_factor`` to ``max_lr`` over the first
    ``pct_start`` of the steps, then anneals to ``max_lr / div_factor / final_div_factor``
    at step ``total_steps - 1`` (with ``three_phase``, it first comes back down to the
    initial rate, symmetrically, and only then anneals to the minimum). After the
    last step the rate stays at the minimum.

    Parameters
    ----------
    max_lr : float
        Peak learning rate, > 0.
    total_steps : int
        Length of the cycle in steps.
    pct_start : float
        Fraction of the steps spent warming up, in (0, 1) (in (0, 0.5) with three_phase);
        the warm-up must last more than one step.
    div_factor, final_div_factor : float
        Initial rate = max_lr / div_factor; final = initial / final_div_factor; both >= 1.
    anneal : {"cos", "linear"}
        Shape of each phase.
    three_phase : bool
        Use the three-phase variant described above.

    Examples
    --------
    >>> s = one_cycle(1.0, total_steps=10, pct_start=0.5, div_factor=10.0)
    >>> round(s(0), 6), round(s(4), 6), round(s(9), 8)
    (0.1, 1.0, 1e-05)
    """
    max_lr = _rate("max_lr", max_lr)
    total_steps = _count("total_steps", total_steps, minimum=2)
    high = 0.5 if three_phase else 1.0
    pct_start = _factor("pct_start", pct_start, 0.0, high)
    if pct_start == high:
        raise ValueError(f"pct_start must be < {high}, got {pct_start}")
    if anneal not in ("cos", "linear"):
        raise ValueError(f"anneal must be 'cos' or 'linear', got {anneal!r}")
    div_factor = _factor("div_factor", div_factor, 1.0, math.inf, include_low=True)
    final_div_factor = _factor(
        "final_div_factor", final_div_factor, 1.0, math.inf, include_low=True
    )
    warm_end = pct_start * total_steps - 1.0
    if warm_end <= 0:
        raise ValueError(
            f"pct_start * total_steps must be > 1 (a warm-up of more than one step), "
            f"got pct_start={pct_start}, total_steps={total_steps}"
        )
    params = {
        "max_lr": max_lr,
        "total_steps": total_steps,
        "pct_start": pct_start,
        "div_factor": div_factor,
        "final_div_factor": final_div_factor,
        "anneal": anneal,
        "three_phase": bool(three_phase),
    }
    initial = max_lr / div_factor
    minimum = initial / final_div_factor
    last = float(total_steps - 1)
    if three_phase:
        phases = [
            (warm_end, initial, max_lr),
            (2 * warm_end, max_lr, initial),
            (last, initial, minimum),
        ]
    else:
        phases = [(warm_end, initial, max_lr), (last, max_lr, minimum)]

    def shape(start, end, fraction):
        if anneal == "cos":
            return _half_cosine(start, end, fraction)
        return start + (end - start) * fraction

    def fn(t):
        # Phases as in torch.optim.lr_scheduler.OneCycleLR: the first whose end_step >= t.
        out = np.full_like(t, minimum)
        start_step, todo = 0.0, t <= last
        for end_step, start_lr, end_lr in phases:
            here = todo & (t <= end_step) if end_step != last else todo
            out[here] = shape(start_lr, end_lr, (t[here] - start_step) / (end_step - start_step))
            todo = todo & ~here
            start_step = end_step
        return out

    return Schedule("one_cycle", params, lambda t: fn(np.atleast_1d(t)).reshape(np.shape(t)))


def _peak(kind: str, max_lr: float, total_steps: int, min_lr, start_lr) -> Schedule:
    max_lr = _rate("max_lr", max_lr)
    total_steps = _count("total_steps", total_steps, minimum=2)
    min_lr = max_lr / 1e4 if min_lr is None else _rate("min_lr", min_lr)
    if not min_lr < max_lr:
        raise ValueError(f"min_lr must be < max_lr ({max_lr}), got {min_lr}")
    log_ratio = math.log(min_lr / max_lr)  # < 0
    if kind == "gaussian":
        width = -0.25 / log_ratio  # sigma^2: the curve falls to min_lr at u = 0 and u = 1

        def offset(s):
            return 0.5 - math.sqrt(-width * math.log(s / max_lr))

        def curve(u):
            return max_lr * np.exp(-((u - 0.5) ** 2) / width)
    else:
        width = -0.5 / log_ratio  # lambda

        def offset(s):
            return 0.5 + width * math.log(s / max_lr)

        def curve(u):
            return max_lr * np.exp(-np.abs(u - 0.5) / width)

    if start_lr is None:
        t_offset = 0.0
    else:
        start_lr = _rate("start_lr", start_lr)
        if not min_lr < start_lr <= max_lr:
            raise ValueError(
                f"start_lr must be in (min_lr, max_lr] = ({min_lr}, {max_lr}], got {start_lr}"
            )
        t_offset = offset(start_lr)
    params = {"max_lr": max_lr, "total_steps": total_steps, "min_lr": min_lr, "start_lr": start_lr}

    def fn(t):
        u = t_offset + (1.0 - t_offset) * np.minimum(t, total_steps - 1) / (total_steps - 1)
        return curve(u)

    return Schedule(f"{kind}_peak", params, fn)


def gaussian_peak(
    max_lr: float, total_steps: int, min_lr: float | None = None, start_lr: float | None = None
) -> Schedule:
    r"""Seong et al.'s (2018) Gaussian "peak" schedule: low, then a peak, then low again.

    Over normalised time :math:`u = t_0 + (1 - t_0)\, t / (T - 1) \in [t_0, 1]`,

    .. math:: \eta(u) = \eta_{max} \exp\!\left(-\frac{(u - 0.5)^2}{\sigma^2}\right),
              \qquad \sigma^2 = \frac{-0.25}{\ln(\eta_{min} / \eta_{max})},

    so the rate is ``min_lr`` at ``u = 1`` (the last step) and peaks at ``max_lr`` at
    ``u = 0.5``. With ``start_lr`` the schedule starts part-way up the curve, at
    :math:`t_0 = 0.5 - \sqrt{-\sigma^2 \ln(\eta_{start}/\eta_{max})}`, so that
    ``s(0) = start_lr``; otherwise :math:`t_0 = 0` and ``s(0) = min_lr``. After the last
    step the rate stays at ``min_lr``.

    Parameters
    ----------
    max_lr : float
        The peak, > 0.
    total_steps : int
        Steps from the start to the end of the schedule, >= 2.
    min_lr : float, optional
        The rate at the end, in (0, max_lr); default ``max_lr / 1e4``.
    start_lr : float, optional
        The rate at step 0, in (min_lr, max_lr].

    Examples
    --------
    >>> s = gaussian_peak(1.0, total_steps=101, min_lr=1e-3)
    >>> round(s(0), 6), round(s(50), 6), round(s(100), 6)
    (0.001, 1.0, 0.001)
    """
    return _peak("gaussian", max_lr, total_steps, min_lr, start_lr)


def laplacian_peak(
    max_lr: float, total_steps: int, min_lr: float | None = None, start_lr: float | None = None
) -> Schedule:
    r"""Seong et al.'s (2018) Laplacian "peak" schedule: a sharper peak than the Gaussian.

    Over normalised time :math:`u = t_0 + (1 - t_0)\, t / (T - 1) \in [t_0, 1]`,

    .. math:: \eta(u) = \eta_{max} \exp\!\left(-\frac{|u - 0.5|}{\lambda}\right),
              \qquad \lambda = \frac{-0.5}{\ln(\eta_{min} / \eta_{max})},

    with :math:`t_0 = 0.5 + \lambda \ln(\eta_{start}/\eta_{max})` when ``start_lr`` is
    given, else 0. Parameters as in :func:`gaussian_peak`.

    Examples
    --------
    >>> s = laplacian_peak(1.0, total_steps=101, min_lr=1e-3)
    >>> round(s(0), 6), round(s(50), 6), round(s(100), 6)
    (0.001, 1.0, 0.001)
    """
    return _peak("laplacian", max_lr, total_steps, min_lr, start_lr)


def warmup(schedule: Schedule, warmup_steps: int, start_lr: float = 0.0) -> Schedule:
    r"""Prepend a linear warm-up from ``start_lr`` to ``schedule(0)`` (Goyal et al. 2017).

    .. math:: \eta_t = \begin{cases}
              \eta_{start} + (s(0) - \eta_{start})\, t / W & t < W \\
              s(t - W) & t \ge W \end{cases}

    Parameters
    ----------
    schedule : callable
        The schedule that runs after the warm-up (its own step counter starts at 0).
    warmup_steps : int
        ``W`` >= 1.
    start_lr : float
        The rate at step 0, >= 0.

    Examples
    --------
    >>> warmup(constant(1.0), warmup_steps=4)(np.arange(6)).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """
    if not callable(schedule):
        raise TypeError(f"schedule must be callable, got {schedule!r}")
    warmup_steps = _count("warmup_steps", warmup_steps)
    start_lr = _rate("start_lr", start_lr, allow_zero=True)
    target = float(schedule(0))
    params = {"schedule": repr(schedule), "warmup_steps": warmup_steps, "start_lr": start_lr}

    def fn(t):
        ramp = start_lr + (target - start_lr) * t / warmup_steps
        after = np.asarray(schedule(np.maximum(t - warmup_steps, 0).astype(np.int64)))
        return np.where(t < warmup_steps, ramp, after)

    return Schedule("warmup", params, fn)


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """Run schedules one after another; each restarts its own step counter at 0.

    Schedule ``i`` runs for steps ``boundaries[i-1] <= t < boundaries[i]`` and sees step
    ``t - boundaries[i-1]``.

    Parameters
    ----------
    schedules : sequence of callables
        At least one.
    boundaries : sequence of int
        ``len(schedules) - 1`` strictly increasing steps >= 1.

    Examples
    --------
    >>> s = join([constant(1.0), constant(0.1)], boundaries=[2])
    >>> s(np.arange(4)).tolist()
    [1.0, 1.0, 0.1, 0.1]
    """
    schedules = list(schedules)
    if not schedules or not all(callable(s) for s in schedules):
        raise ValueError(f"schedules must be a non-empty list of schedules, got {schedules!r}")
    bounds = [_count("boundaries", b) for b in boundaries]
    if len(bounds) != len(schedules) - 1:
        raise ValueError(
            f"boundaries must have len(schedules) - 1 = {len(schedules) - 1} entries, "
            f"got {len(bounds)}"
        )
    if any(b2 <= b1 for b1, b2 in zip(bounds, bounds[1:], strict=False)):
        raise ValueError(f"boundaries must be strictly increasing, got {bounds}")
    starts = np.asarray([0, *bounds], dtype=np.float64)
    params = {"schedules": [repr(s) for s in schedules], "boundaries": bounds}

    def fn(t):
        piece = np.searchsorted(starts, t, side="right") - 1
        out = np.empty_like(t)
        for i, schedule in enumerate(schedules):
            here = piece == i
            if np.any(here):
                out[here] = schedule((t[here] - starts[i]).astype(np.int64))
        return out

    return Schedule("join", params, lambda t: fn(np.atleast_1d(t)).reshape(np.shape(t)))


#: Factories by name, for the command line and the widgets.
FACTORIES: dict[str, Callable[..., Schedule]] = {
    "constant": constant,
    "step_decay": step_decay,
    "multistep": multistep,
    "exponential": exponential,
    "inverse_time": inverse_time,
    "polynomial": polynomial,
    "cosine": cosine,
    "sgdr": sgdr,
    "cyclic": cyclic,
    "one_cycle": one_cycle,
    "gaussian_peak": gaussian_peak,
    "laplacian_peak": laplacian_peak,
}


def rate_at(schedule: Callable[[int], float], step: int) -> float:
    """The rate ``schedule`` gives optimizer step ``step``, checked: a finite number >= 0.

    Examples
    --------
    >>> rate_at(constant(0.1), 5)
    0.1
    """
    lr = float(schedule(step))
    if not (math.isfinite(lr) and lr >= 0):
        raise ValueError(f"schedule({step}) must be a finite rate >= 0, got {lr}")
    return lr


def to_torch(schedule, optimizer):
    """Drive a PyTorch optimizer's learning rate with a schedule.

    Returns a ``torch.optim.lr_scheduler.LRScheduler``: construct it after the
    optimizer, call ``scheduler.step()`` once after every ``optimizer.step()``. It sets
    the absolute rate ``schedule(t)`` on every parameter group at step ``t`` (it does not
    scale the groups' own rates), and ``state_dict()``/``load_state_dict()`` resume at
    exactly the same step.

    Parameters
    ----------
    schedule : callable or sequence of callables
        One schedule for all parameter groups, or one per group.
    optimizer : torch.optim.Optimizer

    Returns
    -------
    torch.optim.lr_scheduler.LRScheduler

    Examples
    --------
    >>> import torch
    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = to_torch(step_decay(0.1, step_size=1, gamma=0.5), opt)
    >>> opt.step(); sched.step()
    >>> sched.get_last_lr()
    [0.05]
    """
    import torch

    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    groups = len(optimizer.param_groups)
    per_group = list(schedule) if isinstance(schedule, (list, tuple)) else [schedule] * groups
    if len(per_group) != groups or not all(callable(s) for s in per_group):
        raise ValueError(
            f"schedule must be a schedule or a list of {groups} schedules (one per parameter "
            f"group), got {schedule!r}"
        )
    return _scheduler_class()(optimizer, per_group)


def trace_torch(make_scheduler, steps: int, lr: float = 1.0, every: int = 1, order: str = "after"):
    """The learning rate each optimizer step uses under a PyTorch scheduler.

    Runs ``steps`` optimizer steps on a dummy parameter and records the optimizer's
    learning rate at each, calling ``scheduler.step()`` once every ``every`` optimizer
    steps (``every`` = steps per epoch for a per-epoch scheduler). ``order="after"`` is
    PyTorch's documented order (``optimizer.step()`` then ``scheduler.step()``);
    ``order="before"`` is the pre-1.1 order, which skips the schedule's first value.

    Parameters
    ----------
    make_scheduler : callable
        ``optimizer -> LRScheduler``.
    steps : int
        Optimizer steps to record, >= 1.
    lr : float
        The optimizer's initial learning rate.
    every : int
        Optimizer steps per scheduler step, >= 1.
    order : {"after", "before"}
        Whether the scheduler steps after or before the optimizer.

    Returns
    -------
    numpy.ndarray
        The learning rate of optimizer steps ``0 .. steps-1``.

    Examples
    --------
    >>> from torch.optim.lr_scheduler import StepLR
    >>> trace_torch(lambda o: StepLR(o, step_size=2, gamma=0.5), 4).tolist()
    [1.0, 1.0, 0.5, 0.5]
    """
    import warnings

    import torch

    steps = _count("steps", steps)
    every = _count("every", every)
    if order not in ("after", "before"):
        raise ValueError(f"order must be 'after' or 'before', got {order!r}")
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=_rate("lr", lr))
    scheduler = make_scheduler(optimizer)
    used = np.empty(steps)
    with warnings.catch_warnings():
        # The "before" order is the point of the demonstration; PyTorch warns about it.
        warnings.simplefilter("ignore", UserWarning)
        for t in range(steps):
            if order == "before" and t % every == 0:
                scheduler.step()
            used[t] = optimizer.param_groups[0]["lr"]
            optimizer.step()
            if order == "after" and (t + 1) % every == 0:
                scheduler.step()
    return used


@functools.cache
def _scheduler_class():
    # Built on first use so that importing lrlab.schedules does not import PyTorch.
    from torch.optim.lr_scheduler import LRScheduler

    class ScheduleLR(LRScheduler):
        """A PyTorch scheduler that sets ``lr = schedule(step)`` (see :func:`to_torch`)."""

        def __init__(self, optimizer, schedules):
            self._schedules = schedules
            super().__init__(optimizer)

        def get_lr(self):
            return [float(s(self.last_epoch)) for s in self._schedules]

        def _get_closed_form_lr(self):
            return self.get_lr()

        def state_dict(self):
            # The schedules are functions (not picklable, and not state): leave them out.
            return {k: v for k, v in super().state_dict().items() if k != "_schedules"}

        def load_state_dict(self, state_dict):
            state = {k: v for k, v in state_dict.items() if k != "_schedules"}
            super().load_state_dict(state)
            for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
                group["lr"] = lr

    return ScheduleLR
