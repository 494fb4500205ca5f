"""The rules that read a learning rate off a range test's curve: fastai's four and
torch-lr-finder's one, each a pure function of ``(lrs, losses)``.

>>> steepest([1.0, 10.0, 100.0, 1000.0], [3.0, 2.5, 1.0, 0.8])
10.0
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lrlab import _check

__all__ = [
    "METHODS",
    "RULES",
    "check_methods",
    "cyclical_bounds",
    "minimum",
    "slide",
    "steep",
    "steepest",
    "valley",
]

#: The suggestion rules of :meth:`RangeTestResult.suggest`: fastai's four, then torch-lr-finder's.
METHODS = ("valley", "slide", "minimum", "steep", "steepest")


def _curve(lrs, losses, min_points: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    lrs = np.asarray(lrs, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    if lrs.ndim != 1 or lrs.shape != losses.shape:
        raise ValueError(
            f"lrs and losses must be 1-D and of equal length, got {lrs.shape} and {losses.shape}"
        )
    if len(lrs) < min_points:
        raise ValueError(f"{rule} needs at least {min_points} points, got {len(lrs)}")
    _check.array("losses", losses)
    _check.array("lrs", lrs, positive=True)
    return lrs, losses


def valley(lrs, losses) -> float:
    """fastai's ``valley`` rule: a rate part-way down the longest valley of the curve.

    The algorithm of ``fastai.callback.schedule.valley``:

    1. ``run[i]`` is the length of the longest strictly decreasing subsequence of
       ``losses`` that ends at point ``i``: ``run[i] = 1 + max(run[j])`` over ``j < i``
       with ``losses[j] > losses[i]`` (1 if there is none).
    2. The valley ends at the first point ``end`` with the longest run and starts at
       ``start = end - run[end]``, one point before the run's first point when the run
       is contiguous (``start = end = 0`` if no point is below an earlier one). fastai
       writes this as a double loop that updates ``(start, end)`` whenever a run beats
       the record; a run can only beat it by one, so that is the same thing.
    3. With ``sections = (end - start) / 3`` the suggestion is the rate at
       ``start + int(sections) + int(sections / 2)``: half-way through the middle third.
       Where that index is -1 (only when the longest run is the first two points) fastai's
       Python indexing wraps round to the last point; here it is clamped to 0.

    Parameters
    ----------
    lrs, losses : array-like
        The curve (fastai passes its smoothed losses with the ends trimmed).

    Returns
    -------
    float

    Examples
    --------
    >>> lrs = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    >>> valley(lrs, [5, 5, 5, 4, 3, 2, 1, 1.5, 3])  # start 1, end 6: index 1 + 1 + 0
    3.0
    """
    lrs, losses = _curve(lrs, losses, 1, "valley")
    run = np.ones(len(losses), dtype=np.int64)
    for i in range(1, len(losses)):
        above = losses[:i] > losses[i]
        if above.any():
            run[i] = 1 + run[:i][above].max()
    end = int(np.argmax(run))  # the first point where a longest run ends
    start = end - int(run[end]) if run[end] > 1 else 0
    sections = (end - start) / 3
    index = start + int(sections) + int(sections / 2)
    return float(lrs[max(index, 0)])


def slide(
    lrs, losses, lr_diff: int = 15, thresh: float = 0.005, adjust_value: float = 1.0
) -> float:
    """fastai's ``slide`` rule: slide a window left from the end until the slope settles.

    The algorithm of ``fastai.callback.schedule.slide``: ``g = numpy.gradient(losses)``
    (the slope per step: central differences inside, one-sided at the ends). A window
    ``(left, right) = (n-1-lr_diff, n-1)`` slides one point left at a time while
    ``|g[right] - g[left]| > thresh``; the suggestion is ``lrs[left + 1]`` of the window
    where it stops (``lrs[n-1-lr_diff]`` if the first window already passes), or
    ``lrs[0]`` if the window runs off the start, times ``adjust_value``. ``thresh`` is
    in loss units per step, so the rule depends on the loss's scale and the sweep's
    resolution.

    Parameters
    ----------
    lrs, losses : array-like
        The curve, at least ``lr_diff + 1`` points.
    lr_diff : int
        Width of the window in points, >= 1.
    thresh : float
        Largest slope difference at which the window stops, > 0.
    adjust_value : float
        Factor on the suggestion, > 0.

    Returns
    -------
    float

    Examples
    --------
    >>> lrs = [10.0**k for k in range(7)]
    >>> slide(lrs, [3, 3, 2, 1, 0.5, 1, 4], lr_diff=2, thresh=0.5)  # slopes 0 -.5 -1 -.75 0 1.75 3
    100.0
    """
    lr_diff = _check.integer("lr_diff", lr_diff, minimum=1)
    thresh = _check.number("thresh", thresh, low=0, low_open=True)
    adjust_value = _check.number("adjust_value", adjust_value, low=0, low_open=True)
    lrs, losses = _curve(lrs, losses, lr_diff + 1, "slide")
    slope = np.gradient(losses)
    right = len(losses) - 1
    left = right - lr_diff
    suggestion = lrs[left]
    while left >= 0 and abs(slope[right] - slope[left]) > thresh:
        suggestion = lrs[left]
        left, right = left - 1, right - 1
    return float(suggestion * adjust_value)


def minimum(lrs, losses) -> float:
    """fastai's ``minimum`` rule: a tenth of the rate at the lowest loss.

    ``lrs[argmin(losses)] / 10`` (the first minimum if there are ties): back off by a
    factor of ten from where the loss was lowest, because by then it is about to blow up.

    Examples
    --------
    >>> minimum([0.01, 0.1, 1.0], [2.0, 1.0, 3.0])
    0.01
    """
    lrs, losses = _curve(lrs, losses, 1, "minimum")
    return float(lrs[np.argmin(losses)] / 10)


def steep(lrs, losses) -> float:
    """fastai's ``steep`` rule: where the loss falls fastest per unit of log rate.

    Forward differences against the natural log of the rate,
    ``slope[i] = (losses[i+1] - losses[i]) / (log lrs[i+1] - log lrs[i])``; the suggestion
    is ``lrs[i]`` at the most negative slope (the left end of the steepest segment; the
    first one on ties).

    Examples
    --------
    >>> steep([1.0, 10.0, 100.0, 1000.0], [3.0, 2.5, 1.0, 0.8])
    10.0
    """
    lrs, losses = _curve(lrs, losses, 2, "steep")
    slope = np.diff(losses) / np.diff(np.log(lrs))
    return float(lrs[np.argmin(slope)])


def steepest(lrs, losses) -> float:
    """torch-lr-finder's suggestion: the point of steepest descent of the curve.

    The algorithm of ``torch_lr_finder.LRFinder.plot(suggest_lr=True)``:
    ``lrs[argmin(numpy.gradient(losses))]``, the slope per step (central differences
    inside, one-sided at the two ends). For an exponential sweep a step is a fixed
    increment of log lr, so this is the steepest slope against log lr; for a linear sweep,
    against lr. Unlike :func:`steep` it names the point in the middle of the steep stretch.

    Examples
    --------
    >>> steepest([1.0, 10.0, 100.0, 1000.0], [3.0, 2.5, 1.0, 0.8])  # slopes -.5 -1 -.85 -.2
    10.0
    """
    lrs, losses = _curve(lrs, losses, 2, "steepest")
    return float(lrs[np.argmin(np.gradient(losses))])


#: Each rule of :data:`METHODS` by name.
RULES: dict[str, Callable[..., float]] = {
    "valley": valley,
    "slide": slide,
    "minimum": minimum,
    "steep": steep,
    "steepest": steepest,
}


def check_methods(methods) -> tuple[str, ...]:
    """``methods`` (one name or several) as a tuple of names from :data:`METHODS`.

    Examples
    --------
    >>> check_methods("valley")
    ('valley',)
    >>> check_methods(["valley", "fast"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: methods must be names from (...), got ('valley', 'fast')
    """
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods must be names from {METHODS}, got {methods!r}")
    return methods


def cyclical_bounds(lrs, smoothed_losses, drop: float = 0.01) -> tuple[float, float]:
    """Smith's bounds of a cyclical schedule, read off a range test's smoothed loss.

    The lower bound is the first rate at which the loss has fallen by the fraction
    ``drop`` below its starting value ("where the loss starts to fall"); the upper bound
    is the rate at the lowest loss, after which it turns ragged and climbs (Smith 2017,
    section 3.3, reads the same two points off the accuracy, on a *linear* sweep; here the
    sweep may be exponential). The upper bound is read off a smoothed curve, which lags
    the raw loss by a few steps and so lands late, at a higher rate than where the loss
    truly turns: it is biased high (fastai's rule divides its pick by 10 for that reason).
    Both are rounded to two significant digits, the precision anyone reads a rate off a plot
    with.

    Parameters
    ----------
    lrs, smoothed_losses : array_like
        A range test's rates and smoothed losses (``RangeTestResult.lrs``, ``.smoothed``).
    drop : float
        In (0, 1).

    Returns
    -------
    (float, float)
        ``(base_lr, max_lr)``.

    Examples
    --------
    >>> cyclical_bounds([0.01, 0.02, 0.04, 0.08, 0.16], [2.3, 2.3, 2.2, 1.5, 2.9])
    (0.04, 0.08)
    """
    lrs, losses = np.asarray(lrs, dtype=float), np.asarray(smoothed_losses, dtype=float)
    if lrs.shape != losses.shape or lrs.ndim != 1 or len(lrs) < 2:
        raise ValueError(
            f"lrs and smoothed_losses must be 1-D of one length >= 2, got {lrs.shape} "
            f"and {losses.shape}"
        )
    drop = _check.number("drop", drop, 0, 1, low_open=True, high_open=True)
    finite = np.isfinite(losses)
    lowest = int(np.argmin(np.where(finite, losses, np.inf)))
    fallen = np.flatnonzero(finite[: lowest + 1] & (losses[: lowest + 1] < (1 - drop) * losses[0]))
    if len(fallen) == 0:
        raise ValueError(f"the loss never falls by {drop:.0%} below its start: no lower bound")
    return float(f"{lrs[fallen[0]]:.2g}"), float(f"{lrs[lowest]:.2g}")
