"""The critical batch size: where doubling the batch stops halving the steps.

McCandlish et al. (2018, *An Empirical Model of Large-Batch Training*, eq. 2.11) find that
the steps :math:`S` and examples :math:`E = BS` needed to reach a given loss, each batch
size :math:`B` at its own best learning rate, trade off as

.. math::

    \\left(\\frac{S}{S_\\text{min}} - 1\\right)\\left(\\frac{E}{E_\\text{min}} - 1\\right) = 1,

which, with :math:`E = BS`, is :math:`S = S_\\text{min} + E_\\text{min} / B`: small batches
are example-efficient (:math:`E \\to E_\\text{min}`), large ones step-efficient
(:math:`S \\to S_\\text{min}`), and the critical batch size
:math:`B_\\text{crit} = E_\\text{min} / S_\\text{min}` (eq. 2.12) is where both are twice
their minimum. They predict :math:`B_\\text{crit} \\approx B_\\text{simple}`, the noise
scale of :mod:`lrlab.scaling.noise`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lrlab import _check

__all__ = ["CriticalBatch", "critical_batch", "steps_to_target"]


@dataclass(frozen=True)
class CriticalBatch:
    """The fitted trade-off :math:`S = S_\\text{min} + E_\\text{min} / B`.

    Attributes
    ----------
    s_min : float
        Fewest steps, reached as the batch grows without bound.
    e_min : float
        Fewest examples, reached as the batch shrinks to one.
    """

    s_min: float
    e_min: float

    @property
    def b_crit(self) -> float:
        """The critical batch size :math:`E_\\text{min} / S_\\text{min}` (``inf`` if
        ``s_min`` is 0)."""
        return self.e_min / self.s_min if self.s_min > 0 else math.inf

    def steps(self, batch_size) -> np.ndarray:
        """Steps to the target at ``batch_size``: :math:`S_\\text{min} + E_\\text{min}/B`."""
        return self.s_min + self.e_min / np.asarray(batch_size, dtype=float)

    def examples(self, batch_size) -> np.ndarray:
        """Examples to the target at ``batch_size``: :math:`E_\\text{min} + S_\\text{min} B`."""
        return self.e_min + self.s_min * np.asarray(batch_size, dtype=float)


def critical_batch(batch_sizes, steps) -> CriticalBatch:
    """Fit :math:`(S/S_\\text{min} - 1)(E/E_\\text{min} - 1) = 1` to measured steps-to-target.

    With :math:`E = BS` the relation is :math:`S = S_\\text{min} + E_\\text{min}/B`, linear
    in :math:`(S_\\text{min}, E_\\text{min})`; they are fitted by least squares on the
    *relative* residuals :math:`(S_i - S_\\text{min} - E_\\text{min}/B_i) / S_i` (so that
    the small batches' large step counts do not dominate), both constrained to be >= 0
    (:func:`scipy.optimize.nnls`). McCandlish et al. (2018), eqs. 2.11 and 2.12.

    Parameters
    ----------
    batch_sizes : array of float
        Batch sizes, > 0, at least two distinct.
    steps : array of float
        Steps each needed to reach the target (at its own tuned rate), > 0 and finite.

    Returns
    -------
    CriticalBatch
        With ``b_crit``, and the fitted curves ``steps(B)`` and ``examples(B)``.

    Examples
    --------
    >>> b = np.array([16, 64, 256, 1024])
    >>> fit = critical_batch(b, 100 + 25_600 / b)  # S_min = 100, E_min = 25,600
    >>> round(fit.s_min, 9), round(fit.e_min, 6), round(fit.b_crit, 9)
    (100.0, 25600.0, 256.0)
    """
    from scipy.optimize import nnls

    b = np.asarray(batch_sizes, dtype=float)
    s = np.asarray(steps, dtype=float)
    if b.ndim != 1 or b.shape != s.shape:
        raise ValueError(
            f"batch_sizes and steps must be 1-D and of one length, got {b.shape} and {s.shape}"
        )
    _check.array("batch_sizes", batch_sizes, positive=True)
    _check.array("steps", steps, positive=True)
    if len(np.unique(b)) < 2:
        raise ValueError(f"batch_sizes must hold at least two distinct sizes, got {b.tolist()}")
    design = np.column_stack([1.0 / s, 1.0 / (b * s)])  # row i: (1, 1/B_i) / S_i
    (s_min, e_min), _ = nnls(design, np.ones_like(s))
    return CriticalBatch(s_min=float(s_min), e_min=float(e_min))


def steps_to_target(values, target: float, *, steps=None, goal: str = "below") -> float:
    """The first step at which a training curve reaches ``target``.

    Parameters
    ----------
    values : array of float
        The curve: a loss (``goal="below"``) or an accuracy (``goal="above"``), e.g. a
        History's per-epoch ``test_loss``. Non-finite values never reach the target.
    target : float
    steps : array of float, optional
        The step at which each value was measured (e.g. ``(epoch + 1) * steps_per_epoch``);
        by default ``1, 2, ...``.
    goal : {"below", "above"}
        Reached when ``value <= target``, or ``value >= target``.

    Returns
    -------
    float
        ``steps[i]`` of the first value that reaches the target; ``inf`` if none does (so
        the best of several rates is a plain ``min``).

    Examples
    --------
    >>> steps_to_target([2.3, 1.1, 0.6, 0.4], 0.5)
    4.0
    >>> steps_to_target([0.5, 0.8, 0.9], 0.85, steps=[10, 20, 30], goal="above")
    30.0
    >>> steps_to_target([2.3, 1.1], 0.5)
    inf
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {v.shape}")
    target = _check.number("target", target)
    _check.choice("goal", goal, ("below", "above"))
    t = np.arange(1, len(v) + 1, dtype=float) if steps is None else np.asarray(steps, float)
    if t.shape != v.shape:
        raise ValueError(f"steps must hold one step per value ({len(v)}), got shape {t.shape}")
    with np.errstate(invalid="ignore"):
        reached = (v <= target) if goal == "below" else (v >= target)
    reached &= np.isfinite(v)
    return float(t[np.argmax(reached)]) if reached.any() else math.inf
