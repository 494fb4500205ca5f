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

The formulas work in place, on blocks of the float array of steps that each call makes:
a preview of a million steps allocates that one array of 8 MB, and every temporary stays
in the CPU's cache (page-faulting fresh memory and streaming it from RAM cost as much as
the arithmetic). Every family is two orders of magnitude faster than stepping PyTorch's
scheduler (``benchmarks/schedules.py``).

:func:`to_torch` turns any schedule into a ``torch.optim.lr_scheduler.LRScheduler``.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
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
    "wsd",
    "warmup",
    "join",
    "FACTORIES",
    "SpecError",
    "from_spec",
    "normalize_spec",
    "rate_at",
    "spec_parameters",
    "to_torch",
    "trace_torch",
]


#: Steps per block of a call: the formulas' temporaries (256 KB each) stay in the CPU's
#: cache, and a preview of a million steps allocates one array (its result).
_BLOCK = 2**15


class Schedule:
    """A learning-rate schedule: ``lr = s(step)`` for 0-based optimizer steps.

    Built by the factories of this module; you rarely make one directly. Calling it
    with an ``int`` returns a ``float``; with an integer array, a float64 array of the
    same shape. Both go through one arithmetic path: ``fn`` always receives a 1-D
    array, a single step being a one-element array. (NumPy's arithmetic on scalars is
    separate code from its vectorised loops, and the two can round ``**``, ``exp`` or
    ``cos`` differently in the last bit, depending on the NumPy build and the CPU.) A long
    array of steps goes to ``fn`` in blocks of 32,768, each overwritten with its rates:
    every formula here is elementwise, so a rate does not depend on its block.

    Parameters
    ----------
    name : str
        The factory that made it (used in ``repr`` and results files).
    params : dict
        The factory's arguments, for ``repr`` and provenance.
    fn : callable
        Maps a 1-D float64 array of non-negative steps to their learning rates: the same
        array overwritten (it is made for the call), a new one of the same length, or
        anything that broadcasts to it. Elementwise: a step's rate may not depend on the
        other steps of the array.
    """

    def __init__(self, name: str, params: dict[str, Any], fn: Callable[[np.ndarray], np.ndarray]):
        self.name = name
        self.params = dict(params)
        self._fn = fn

    def __call__(self, step):
        t = np.asarray(step)
        if t.dtype == bool or not np.issubdtype(t.dtype, np.integer):
            raise TypeError(f"step must be an int or an integer array, got {t.dtype} ({step!r})")
        if t.size:
            _check.integer("step", int(t.min()), minimum=0)
        rates = t.astype(np.float64, order="C").reshape(-1)  # the steps, then their rates
        for start in range(0, rates.size, _BLOCK):
            block = rates[start : start + _BLOCK]
            lr = self._fn(block)
            if lr is not block:
                block[...] = lr
        return float(rates[0]) if t.ndim == 0 else rates.reshape(t.shape)

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
    _check.number(name, value, high=other, high_name=other_name)


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

    def fn(t):
        t.fill(lr)
        return t

    return Schedule("constant", {"lr": lr}, fn)


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

    def fn(t):
        t /= step_size
        return _geometric(lr, gamma, np.floor(t, out=t))  # lr * gamma ** floor(t / s)

    return Schedule("step_decay", params, fn)


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
    levels = lr * gamma ** np.arange(marks.size + 1.0)  # the rate after k milestones

    def fn(t):
        return _lookup(levels, _segment(marks, t, side="right"), out=t)

    return Schedule("multistep", params, fn)


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

    def fn(t):
        out = np.power(gamma, t)  # not in place: see _geometric
        out *= lr
        return out

    return Schedule("exponential", {"lr": lr, "gamma": gamma}, fn)


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

    def fn(t):
        t *= decay_rate
        t += 1.0
        return np.divide(lr, t, out=t)

    return Schedule("inverse_time", params, fn)


def polynomial(lr: float, total_steps: int, power: float = 1.0, end_lr: float = 0.0) -> Schedule:
    r"""Polynomial decay from ``lr`` to ``end_lr`` over ``total_steps``, then constant.

    .. math:: \eta_t = \eta_{end} + (\eta_0 - \eta_{end})
              \left(1 - \frac{\min(t, T)}{T}\right)^{p}

    Equals PyTorch's ``PolynomialLR(total_iters=T, power=p)`` when ``end_lr = 0``.
    ``power=1, end_lr=0`` is linear decay to zero.

    Parameters
    ----------
    lr : float
        Initial learning rate, > 0.
    total_steps : int
        Length ``T`` of the schedule in steps, >= 1 (the decay; the rate holds after it).
    power : float
        Exponent ``p`` of the decay, > 0 (1 is linear).
    end_lr : float
        The rate from step ``total_steps`` on, in [0, lr].

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
        # In place on one array: end_lr + (lr - end_lr) * (1 - min(t, T) / T) ** power.
        np.minimum(t, total_steps, out=t)
        t /= total_steps
        np.subtract(1.0, t, out=t)
        t **= power
        t *= lr - end_lr
        t += end_lr
        return t

    return Schedule("polynomial", params, fn)


# The helpers below overwrite their array argument (made for the call) with the result.


def _cosine_fall(fraction: np.ndarray) -> np.ndarray:
    """``(1 + cos(pi * fraction)) / 2``, in place: 1 at fraction 0, 0 at fraction 1."""
    np.multiply(np.pi, fraction, out=fraction)
    np.cos(fraction, out=fraction)
    fraction += 1.0
    fraction /= 2.0
    return fraction


def _half_cosine(high, low, fraction: np.ndarray) -> np.ndarray:
    """``high`` at fraction 0, ``low`` at fraction 1, along half a cosine period, in place:
    ``low + (high - low) * (1 + cos(pi * fraction)) / 2``."""
    out = _cosine_fall(fraction)
    out *= high - low
    out += low
    return out


def _geometric(scale: float, base: float, exponent: np.ndarray) -> np.ndarray:
    """``scale * base ** exponent`` for whole numbers ``exponent >= 0`` (overwritten).

    A step decay raises ``base`` to few distinct powers: where there are fewer than
    elements, the powers come from a table (one ``**`` per power, not per element). The
    ``**`` is NumPy's array power either way, so each power has one value. (Never in
    place: ``np.power(0.8, x, out=x)`` on a one-element ``x = [2.0]`` gives ``0.8 * 0.8``,
    an ulp away from the ``0.8 ** 2`` of the same call on a longer array, in NumPy 2.4.)
    """
    top = int(exponent.max()) if exponent.size else 0
    if top >= exponent.size:
        return scale * base**exponent
    table = scale * base ** np.arange(top + 1.0)
    return _lookup(table, exponent.astype(np.intp), out=exponent)


def _segment(edges: np.ndarray, t: np.ndarray, side: str):
    """``np.searchsorted(edges, t, side)``: the segment between sorted edges of each step.

    An ``int`` where all of ``t`` falls in one segment, as in most blocks of a preview:
    the arithmetic that follows is then the same with a number for an array.
    """
    first, last = np.searchsorted(edges, [t.min(), t.max()], side=side)
    return int(first) if first == last else np.searchsorted(edges, t, side=side)


def _lookup(table: np.ndarray, index, out: np.ndarray | None = None):
    """``table[index]`` for an array or an ``int`` index (see :func:`_segment`), into
    ``out`` if given. (The indices are in range by construction; ``mode="clip"`` spares
    the copy that ``take`` makes of ``out`` in its checking mode.)"""
    if isinstance(index, int):
        if out is None:
            return table[index]
        out.fill(table[index])
        return out
    return table.take(index, out=out, mode="clip")


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

    def fn(t):
        np.minimum(t, total_steps, out=t)
        t /= total_steps
        return _half_cosine(lr, min_lr, t)

    return Schedule("cosine", params, fn)


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
        # Each step's cycle k and the fraction of it done, then half a cosine from the
        # cycle's peak, max(lr d^k, min_lr), down to min_lr. Cycle k starts at step
        # T0 (m^k - 1) / (m - 1) and lasts T0 m^k steps: whole numbers, exact in float64.
        if cycle_mult == 1:
            cycle = np.floor(t / first_cycle)  # exact below 2**53, and far cheaper than //
            t -= cycle * first_cycle
            t /= first_cycle
            peak = lr if peak_decay == 1.0 else _geometric(lr, peak_decay, cycle)
        else:
            starts = [0]
            while starts[-1] <= t.max():
                starts.append(starts[-1] + first_cycle * cycle_mult ** (len(starts) - 1))
            starts = np.asarray(starts, dtype=np.float64)
            cycle = _segment(starts, t, side="right") - 1
            start = _lookup(starts, cycle)
            t -= start
            t /= start * (cycle_mult - 1) + first_cycle  # the length T0 m^k
            peak = _lookup(lr * peak_decay ** np.arange(starts.size - 1.0), cycle)
        out = _cosine_fall(t)
        out *= np.maximum(peak, min_lr) - min_lr
        out += min_lr
        return out

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
    mode = _check.choice("mode", mode, ("triangular", "triangular2", "exp_range"))
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
    pct_start = _check.number("pct_start", pct_start, 0.0, high, low_open=True, high_open=True)
    anneal = _check.choice("anneal", anneal, ("cos", "linear"))
    div_factor = _factor("div_factor", div_factor, 1.0, math.inf, include_low=True)
    final_div_factor = _factor(
        "final_div_factor", final_div_factor, 1.0, math.inf, include_low=True
    )
    # a warm-up of more than one step
    _check.number("pct_start * total_steps", pct_start * total_steps, low=1, low_open=True)
    warm_end = pct_start * total_steps - 1.0
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

    # Phases as in torch.optim.lr_scheduler.OneCycleLR (a step belongs to the first whose
    # end_step >= t), then one more that holds the minimum after the last step: where
    # each starts, its length, the rate at its start and the change over it.
    ends = np.array([end for end, _, _ in phases])
    begins = np.array([0.0, *ends])
    lengths = np.array([*np.diff(begins), 1.0])
    firsts = np.array([start for _, start, _ in phases] + [minimum])
    finals = np.array([end for _, _, end in phases] + [minimum])
    falls, rises = firsts - finals, finals - firsts

    def fn(t):
        phase = _segment(ends, t, side="left")
        t -= _lookup(begins, phase)
        t /= _lookup(lengths, phase)  # the fraction of its phase done
        if anneal == "cos":  # finals + (firsts - finals) * (1 + cos(pi * fraction)) / 2
            t = _cosine_fall(t)
            t *= _lookup(falls, phase)
            t += _lookup(finals, phase)
        else:  # firsts + (finals - firsts) * fraction
            t *= _lookup(rises, phase)
            t += _lookup(firsts, phase)
        return t

    return Schedule("one_cycle", params, fn)


def _peak(kind: str, max_lr: float, total_steps: int, min_lr, start_lr) -> Schedule:
    max_lr = _rate("max_lr", max_lr)
    total_steps = _count("total_steps", total_steps, minimum=2)
    min_lr = max_lr / 1e4 if min_lr is None else _rate("min_lr", min_lr)
    _check.number("min_lr", min_lr, high=max_lr, high_open=True, high_name="max_lr")
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
        _check.number(
            "start_lr", start_lr, min_lr, max_lr, low_open=True, low_name="min_lr",
            high_name="max_lr",
        )  # fmt: skip
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


_WSD_SHAPES = ("linear", "cosine", "1-sqrt")


def wsd(
    lr: float,
    total_steps: int,
    *,
    decay_steps: int,
    warmup_steps: int = 0,
    warmup: str = "linear",
    cooldown: str = "linear",
    end_lr: float = 0.0,
) -> Schedule:
    r"""Warmup-stable-decay (WSD): warm up to ``lr``, hold it, then cool down to ``end_lr``.

    The schedule of MiniCPM (Hu et al. 2024) and of Hägele et al. (2024, "Scaling Laws and
    Compute-Optimal Training Beyond Fixed Training Durations"), where a cooldown of a
    fifth of the run or less matches a cosine schedule of the same length, and any
    checkpoint of the stable phase can be cooled down later. With :math:`W` warm-up
    steps, :math:`D` decay steps, :math:`T` steps in all and :math:`\Delta = \eta -
    \eta_{end}`,

    .. math:: \eta_t = \begin{cases}
              \eta_{end} + \Delta\, w(t / W) & t < W \\
              \eta & W \le t < T - D \\
              \eta_{end} + \Delta\, c\bigl((t - T + D) / D\bigr) & T - D \le t < T \\
              \eta_{end} & t \ge T \end{cases}

    with the warm-ups :math:`w(p) = p`, :math:`\tfrac12(1 - \cos \pi p)`,
    :math:`1 - \sqrt{1 - p}` and the cooldowns :math:`c(p) = 1 - p`,
    :math:`\tfrac12(1 + \cos \pi p)`, :math:`1 - \sqrt{p}` ("linear", "cosine",
    "1-sqrt"; the 1-sqrt cooldown is Hägele et al.'s).

    It equals HF transformers' ``get_wsd_schedule(optimizer, W, D, num_training_steps=T,
    warmup_type=warmup, decay_type=cooldown, min_lr_ratio=end_lr / lr)`` at every step.
    The conventions, where libraries differ:

    - **Where the warm-up starts**: at ``end_lr`` (step 0), as in HF (``min_lr_ratio``
      times the rate); pytorch-optimizer's ``get_wsd_schedule`` warms up from 0 whatever
      its ``min_lr_ratio``. The warm-up reaches ``lr`` at step ``W``, the first stable step.
    - **The first cooldown step**, ``T - D``, still has ``lr`` (progress 0), in all three;
      the last, ``T - 1``, is one decay step above ``end_lr``.
    - **The floor**: every cooldown ends at ``end_lr`` at step ``T``, which holds from
      then on, as in HF. pytorch-optimizer's linear and 1-sqrt cooldowns fall towards 0
      instead and jump to its ``min_lr_ratio`` at step ``T``; only its cosine cooldown
      ends at the floor.
    - HF's ``num_cycles`` (cosine waves in the decay) is half a wave here, its default;
      its "1-sqrt" warm-up is the cooldown's mirror image, :math:`1 - \sqrt{1 - p}`.

    Linear decay to zero over the whole run, with no stable phase, is
    ``polynomial(lr, T, power=1, end_lr=0)``.

    Parameters
    ----------
    lr : float
        The rate of the stable phase, > 0.
    total_steps : int
        Length ``T`` of the run in steps, warm-up and cooldown included, >= 1.
    decay_steps : int
        Length ``D`` of the cooldown, >= 1, with warmup_steps + decay_steps <= total_steps.
    warmup_steps : int
        Length ``W`` of the warm-up, >= 0.
    warmup : {"linear", "cosine", "1-sqrt"}
        Shape of the warm-up.
    cooldown : {"linear", "cosine", "1-sqrt"}
        Shape of the cooldown.
    end_lr : float
        The rate at the start of the warm-up and from the end of the cooldown on, in [0, lr].

    Returns
    -------
    Schedule

    Examples
    --------
    >>> s = wsd(1.0, total_steps=8, decay_steps=4, warmup_steps=2)
    >>> s(np.arange(10)).tolist()
    [0.0, 0.5, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """
    lr = _rate("lr", lr)
    total_steps = _count("total_steps", total_steps)
    decay_steps = _count("decay_steps", decay_steps)
    warmup_steps = _count("warmup_steps", warmup_steps, minimum=0)
    _check.number(
        "warmup_steps + decay_steps", warmup_steps + decay_steps, high=total_steps,
        high_name="total_steps",
    )  # fmt: skip
    warmup = _check.choice("warmup", warmup, _WSD_SHAPES)
    cooldown = _check.choice("cooldown", cooldown, _WSD_SHAPES)
    end_lr = _rate("end_lr", end_lr, allow_zero=True)
    _at_most("end_lr", end_lr, "lr", lr)
    params = {
        "lr": lr,
        "total_steps": total_steps,
        "decay_steps": decay_steps,
        "warmup_steps": warmup_steps,
        "warmup": warmup,
        "cooldown": cooldown,
        "end_lr": end_lr,
    }
    decay_start = total_steps - decay_steps

    def fn(t):
        warming, cooling = t < warmup_steps, t >= decay_start
        rising = _wsd_warmup(warmup, t[warming] / max(warmup_steps, 1))
        progress = np.minimum(t[cooling] - decay_start, decay_steps) / decay_steps
        falling = _wsd_cooldown(cooldown, progress)
        t.fill(lr)  # the stable phase
        t[warming] = end_lr + (lr - end_lr) * rising
        t[cooling] = end_lr + (lr - end_lr) * falling
        return t

    return Schedule("wsd", params, fn)


def _wsd_warmup(shape: str, p: np.ndarray) -> np.ndarray:
    """How far a warm-up of this shape is from end_lr to lr at progress p (HF's formulas)."""
    if shape == "cosine":
        return 0.5 * (1.0 - np.cos(np.pi * p))
    if shape == "1-sqrt":
        return 1.0 - np.sqrt(1.0 - p)
    return p


def _wsd_cooldown(shape: str, p: np.ndarray) -> np.ndarray:
    """How far a cooldown of this shape is from end_lr to lr at progress p (HF's formulas)."""
    if shape == "cosine":
        return 0.5 * (1.0 + np.cos(np.pi * p))
    if shape == "1-sqrt":
        return 1.0 - np.sqrt(p)
    return 1.0 - p


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

    return Schedule("join", params, fn)


#: Factories by name, for :func:`from_spec` (the command line, the sweep, the widgets).
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
    "wsd": wsd,
}


# --- one builder for every front end: a name or a spec, plus options -----------------------

#: Parameters that count optimizer steps: a spec with ``"unit": "epoch"`` gives them in epochs.
_STEP_PARAMETERS = frozenset(
    {
        "total_steps",
        "step_size",
        "milestones",
        "first_cycle",
        "step_size_up",
        "step_size_down",
        "warmup_steps",
        "decay_steps",
    }
)
#: Keys of a spec that are not parameters of its factory.
_SPEC_KEYS = ("name", "label", "unit")
#: The parameter of a spec that prepends a warm-up (with :func:`warmup`) to a factory
#: without a warmup_steps of its own.
_WARMUP_OPTION = inspect.Parameter(
    "warmup_steps", inspect.Parameter.KEYWORD_ONLY, default=0, annotation="int"
)


class SpecError(ValueError):
    """A schedule spec that does not fit its factory: a parameter unknown, missing or set
    twice.

    ``str(error)`` names the parameter as the spec does; :meth:`naming` words the same
    message with the name a front end gives it (the command line's ``--step-size``).

    Attributes
    ----------
    schedule : str
        The factory's name.
    parameter : str
        The parameter, as the spec names it.
    """

    def __init__(self, schedule: str, parameter: str, template: str):
        self.schedule, self.parameter, self.template = schedule, parameter, template
        super().__init__(self.naming(parameter))

    def naming(self, parameter: str) -> str:
        """The message, with ``parameter`` for the parameter's name."""
        return self.template.format(schedule=self.schedule, parameter=parameter)


def spec_parameters(name: str, factories=None) -> dict[str, inspect.Parameter]:
    """The parameters a spec for the schedule ``name`` can set, by name.

    Its factory's parameters, and ``warmup_steps`` for a factory without one of its own:
    a linear warm-up from 0 over that many steps, prepended with :func:`warmup`.

    Parameters
    ----------
    name : str
        A key of ``factories``.
    factories : mapping, optional
        Factories by name; :data:`FACTORIES` by default.

    Examples
    --------
    >>> list(spec_parameters("cosine"))
    ['lr', 'total_steps', 'min_lr', 'warmup_steps']
    """
    factories = FACTORIES if factories is None else factories
    _check.choice("schedule name", name, sorted(factories))
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    signature = inspect.signature(factories[name]).parameters.values()
    params = {p.name: p for p in signature if p.kind in kinds}
    params.setdefault("warmup_steps", _WARMUP_OPTION)
    return params


def normalize_spec(spec, factories=None) -> dict[str, Any]:
    """A schedule spec as a mapping, checked: a name becomes ``{"name": name}``.

    Checks the name, the unit, and that every key is ``name``, ``label``, ``unit``, a
    parameter of :func:`spec_parameters` or a rate parameter's ``<rate>_ratio``; the
    values are checked when :func:`from_spec` builds the schedule.

    Parameters
    ----------
    spec : str or mapping
        A factory's name, or ``{"name": name, **parameters}``.
    factories : mapping, optional
        Factories by name; :data:`FACTORIES` by default.

    Returns
    -------
    dict
        A new dict.

    Examples
    --------
    >>> normalize_spec("cosine")
    {'name': 'cosine'}
    >>> normalize_spec({"name": "cosine", "gamma": 0.5})
    Traceback (most recent call last):
    ...
    lrlab.schedules.SpecError: schedule cosine has no parameter 'gamma'; it takes lr, \
total_steps, min_lr, warmup_steps, or a rate as <rate>_ratio (a multiple of lr)
    """
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise ValueError(f"schedule must be a factory name or a mapping with 'name', got {spec!r}")
    name = spec["name"]
    params = spec_parameters(name, factories)
    unit = spec.get("unit", "step")
    if unit not in ("step", "epoch"):
        raise ValueError(f"schedule {name}: unit must be 'step' or 'epoch', got {unit!r}")
    for key in spec:
        if key not in _SPEC_KEYS and key not in params and _ratio_of(key, params) is None:
            raise SpecError(
                name,
                key,
                "schedule {schedule} has no parameter '{parameter}'; it takes "
                + ", ".join(params)
                + ", or a rate as <rate>_ratio (a multiple of lr)",
            )
    return dict(spec)


def _ratio_of(key: str, params) -> str | None:
    """The rate parameter (a name ending in "lr") that ``<rate>_ratio`` gives, or None."""
    rate = key.removesuffix("_ratio")
    return rate if rate != key and rate.endswith("lr") and rate in params else None


def from_spec(
    name_or_spec,
    *,
    lr: float | None = None,
    total_steps: int | None = None,
    steps_per_epoch: int = 1,
    factories=None,
    **options,
):
    """Build a schedule from a factory's name or a spec: the one builder of every front end.

    The command line, the sweep's configs and the widgets all call this (as timm's
    scheduler factory serves every front end of timm). A spec is a mapping
    ``{"name": factory, **parameters}`` that may also hold

    - ``label``: a name for tables and legends, ignored here;
    - ``unit``: ``"step"`` (the default) or ``"epoch"``, the unit of the parameters that
      count steps (``total_steps``, ``step_size``, ``milestones``, ``first_cycle``,
      ``step_size_up``/``_down``, ``warmup_steps``, ``decay_steps``): in epochs, they are
      multiplied by ``steps_per_epoch`` and rounded to whole steps;
    - ``<rate>_ratio``: a rate parameter (``min_lr``, ``end_lr``, ...) as a multiple of ``lr``;
    - ``warmup_steps`` for a factory without its own: the schedule runs after a linear
      warm-up from 0 over that many steps (see :func:`warmup`), and ``total_steps`` is the
      whole length, the schedule getting ``total_steps - warmup_steps`` of it.

    Parameters
    ----------
    name_or_spec : str or mapping
        A key of :data:`FACTORIES`, or a spec.
    lr : float, optional
        Sets the factory's ``lr`` parameter, or ``max_lr`` where it has none.
    total_steps : int, optional
        The run's length in steps: the factory's ``total_steps`` unless the spec sets it.
    steps_per_epoch : int
        Steps in an epoch, for ``"unit": "epoch"``; >= 1.
    factories : mapping, optional
        Factories by name; :data:`FACTORIES` by default.
    **options
        More parameters, as a spec's (the command line passes its options here).

    Returns
    -------
    Schedule

    Raises
    ------
    SpecError
        For a parameter the factory does not take, one it needs and was not given, or
        one given twice (in the spec and in ``options``, or both as itself and by ``lr``).
    ValueError, TypeError
        For values the factory refuses; every message names the schedule.

    Examples
    --------
    >>> spec = {"name": "multistep", "milestones": [2, 4], "unit": "epoch"}
    >>> from_spec(spec, lr=0.1, steps_per_epoch=50)
    multistep(lr=0.1, milestones=[100, 200], gamma=0.1)
    >>> from_spec("cosine", lr=0.1, total_steps=1000, min_lr_ratio=0.01)
    cosine(lr=0.1, total_steps=1000, min_lr=0.001)
    """
    spec = normalize_spec(name_or_spec, factories)
    name = spec["name"]
    for key in options:
        if key in spec:
            raise SpecError(name, key, "schedule {schedule}: {parameter} is set twice")
    spec = normalize_spec({**spec, **options}, factories)
    try:
        kwargs, warm = _arguments(spec, lr, total_steps, steps_per_epoch, factories)
        factory = (FACTORIES if factories is None else factories)[name]
        schedule = factory(**kwargs)
        return warmup(schedule, warm) if warm else schedule
    except SpecError:
        raise
    except (TypeError, ValueError) as err:
        if type(err) not in (TypeError, ValueError):
            raise
        raise type(err)(f"schedule {name}: {err}") from err


def _arguments(spec, lr, total_steps, steps_per_epoch, factories) -> tuple[dict, int]:
    """The factory's keyword arguments for a checked spec, and the warm-up it asks for."""
    name = spec["name"]
    params = spec_parameters(name, factories)
    steps_per_epoch = _count("steps_per_epoch", steps_per_epoch)
    scale = steps_per_epoch if spec.get("unit") == "epoch" else 1
    rate = next((p for p in ("lr", "max_lr") if p in params), None)
    kwargs: dict[str, Any] = {}
    for key, value in spec.items():
        if key in _SPEC_KEYS:
            continue
        if key not in params:  # <rate>_ratio, as normalize_spec checked
            target = _ratio_of(key, params)
            if lr is None:
                raise SpecError(name, key, "schedule {schedule}: {parameter} needs lr")
            if target in spec:
                raise SpecError(
                    name, target, f"schedule {{schedule}}: {{parameter}} and {key} both set it"
                )
            key, value = target, _check.number(key, value) * lr
        elif key in _STEP_PARAMETERS:
            value = _in_steps(key, value, scale)
        if key == rate and lr is not None:
            raise SpecError(
                name, key, f"schedule {{schedule}}: {{parameter}} is set by the run's lr ({lr})"
            )
        kwargs[key] = value
    if lr is not None:
        if rate is None:
            raise SpecError(
                name, "lr", "schedule {schedule} has no {parameter} or max_lr parameter"
            )
        kwargs[rate] = lr
    if total_steps is not None and "total_steps" in params:
        kwargs.setdefault("total_steps", total_steps)
    warm = 0
    if params["warmup_steps"] is _WARMUP_OPTION:
        warm = _count("warmup_steps", kwargs.pop("warmup_steps", 0), minimum=0)
        if warm and "total_steps" in kwargs:
            total = _check.integer("total_steps", kwargs["total_steps"])
            _check.number("warmup_steps", warm, high=total, high_open=True, high_name="total_steps")
            kwargs["total_steps"] -= warm
    for param in params.values():
        if param.default is inspect.Parameter.empty and param.name not in kwargs:
            raise SpecError(name, param.name, "schedule {schedule} needs {parameter}")
    return kwargs, warm


def _in_steps(name: str, value, scale: int):
    """A parameter that counts steps, given in units of ``scale`` steps, in whole steps."""
    if scale == 1 or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [round(_check.number(name, v) * scale) for v in value]
    return round(_check.number(name, value) * scale)


def rate_at(schedule: Callable, step: int) -> float:
    """The learning rate ``schedule(step)`` as a float, checked to be a finite rate >= 0.

    What :func:`lrlab.train.fit` and the sweep's engines call at every step, so that a
    schedule that returns NaN or a negative rate stops the run, naming the step.

    Parameters
    ----------
    schedule : callable
        ``step -> rate``, such as a :class:`Schedule`.
    step : int
        The 0-based optimizer step.

    Returns
    -------
    float

    Examples
    --------
    >>> rate_at(cosine(0.1, total_steps=100), 50)
    0.05
    >>> rate_at(lambda step: -0.1, 3)
    Traceback (most recent call last):
    ...
    ValueError: schedule(3) must be a finite rate >= 0, got -0.1
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
