"""The rates of a range test and the smoothing of its loss curve.

>>> lr_sweep(1e-3, 1.0, 4).round(9).tolist()
[0.001, 0.01, 0.1, 1.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lrlab import _check

__all__ = ["MODES", "lr_sweep", "smooth_losses"]

#: The sweeps :func:`lr_sweep` draws.
MODES = ("exp", "linear")


def lr_sweep(start_lr: float, end_lr: float, num_iter: int, mode: str = "exp") -> np.ndarray:
    """The learning rates of a range test, one per optimizer step.

    .. math::

        \\text{exp:}\\ \\eta_i = \\eta_0 (\\eta_1/\\eta_0)^{i/(n-1)}, \\qquad
        \\text{linear:}\\ \\eta_i = \\eta_0 + (\\eta_1 - \\eta_0)\\, i/(n-1),

    for ``i = 0 .. n-1`` (torch-lr-finder's two sweeps). The first rate is ``start_lr``
    and the last is ``end_lr``, both exactly (they are set, not computed). fastai's sweep
    is the exponential one with ``i/n`` in place of ``i/(n-1)``, so it stops one step short
    of ``end_lr``.

    Parameters
    ----------
    start_lr, end_lr : float
        First and last rate, ``0 < start_lr < end_lr``.
    num_iter : int
        Number of rates (optimizer steps), >= 2.
    mode : {"exp", "linear"}
        Geometric (equal ratios, even on a log axis) or arithmetic spacing.

    Returns
    -------
    numpy.ndarray
        ``num_iter`` increasing float64 rates.

    Examples
    --------
    >>> lrs = lr_sweep(1e-3, 1.0, 4)
    >>> float(lrs[0]), float(lrs[-1]), np.round(lrs, 9).tolist()
    (0.001, 1.0, [0.001, 0.01, 0.1, 1.0])
    >>> lr_sweep(0.1, 0.4, 4, mode="linear").tolist()
    [0.1, 0.2, 0.30000000000000004, 0.4]
    """
    start_lr, end_lr, num_iter = _check_sweep(start_lr, end_lr, num_iter, mode)
    fraction = np.arange(num_iter) / (num_iter - 1)
    if mode == "exp":
        lrs = start_lr * (end_lr / start_lr) ** fraction
    else:
        lrs = start_lr + (end_lr - start_lr) * fraction
    lrs[0], lrs[-1] = start_lr, end_lr
    return lrs


def _check_sweep(start_lr, end_lr, num_iter, mode) -> tuple[float, float, int]:
    start_lr = _check.number("start_lr", start_lr, low=0, low_open=True)
    end_lr = _check.number("end_lr", end_lr, low=start_lr, low_open=True)
    num_iter = _check.integer("num_iter", num_iter, minimum=2)
    _check.choice("mode", mode, MODES)
    return start_lr, end_lr, num_iter


def smooth_losses(losses: Sequence[float], smooth: float = 0.98) -> np.ndarray:
    """Bias-corrected exponential moving average of a loss curve (fastai's smoothing).

    .. math::

        a_t = \\beta a_{t-1} + (1 - \\beta) \\ell_t,\\quad a_{-1} = 0, \\qquad
        s_t = a_t / (1 - \\beta^{t+1}),

    the bias correction of Adam (Kingma & Ba, 2015) that removes the pull towards the
    zero start: ``s_0`` is the first loss, and each ``s_t`` is a weighted mean of the
    losses so far with weights proportional to β^(t-k). A moving average lags a trend by
    about β/(1 − β) steps (49 for β = 0.98) once t is past that many steps.

    Parameters
    ----------
    losses : sequence of float
        Raw per-step losses.
    smooth : float
        β in [0, 1); 0 returns the losses unchanged.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> np.round(smooth_losses([3.0, 3.0, 3.0]), 12).tolist()  # a constant stays put
    [3.0, 3.0, 3.0]
    >>> smooth_losses([2.0, 0.0], smooth=0.5).tolist()  # (0.5·2 + 0)/(1 − 0.25)
    [2.0, 0.6666666666666666]
    """
    smooth = _check.number("smooth", smooth, 0, 1, high_open=True)
    losses = np.asarray(losses, dtype=np.float64)
    if losses.ndim != 1:
        raise ValueError(f"losses must be a 1-D sequence, got shape {losses.shape}")
    out = np.empty_like(losses)
    average = 0.0
    for t, loss in enumerate(losses.tolist()):  # Python floats: inf and nan pass quietly
        average = smooth * average + (1 - smooth) * loss
        out[t] = average / (1 - smooth ** (t + 1))
    return out
