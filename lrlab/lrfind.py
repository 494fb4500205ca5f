"""The learning-rate range test (Smith, 2017) and the rules that read a rate off its curve.

Train for ``num_iter`` steps while the learning rate grows from ``start_lr`` to
``end_lr``, one optimizer step per rate, and record each step's loss. Too small a rate
and the loss barely moves; too large and it blows up; the useful rates lie on the steep
descent in between. :func:`range_test` runs the sweep and puts the model and optimizer
back exactly as they were; :class:`RangeTestResult` holds the curve, suggests a rate by
the rules of fastai and torch-lr-finder, and plots it. :func:`range_test_seeds` repeats
the test over seeds to show how much each suggestion moves; :func:`blowup_lr`,
:func:`initial_sharpness` and :func:`sharpness_along_test` compare where the loss blows
up with the stability limit 2/λ_max of gradient descent. ``lrlab lr-find``
(:func:`lrlab.cli.run_lr_find`) runs the test from the command line.

>>> import torch
>>> from lrlab import data, lrfind, models
>>> digits = data.load("digits", device="cpu")
>>> _ = torch.manual_seed(0)
>>> net = models.build("mlp", 10, digits.input_shape)
>>> result = lrfind.range_test(net, digits, num_iter=50)
>>> len(result.lrs) == len(result.losses) == len(result.smoothed) <= 50
True
>>> 1e-7 < result.suggest("valley") < 10
True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

__all__ = [
    "CONFIG_KEYS",
    "METHODS",
    "MODES",
    "RangeTestResult",
    "SeedSweep",
    "blowup_lr",
    "initial_sharpness",
    "lr_sweep",
    "minimum",
    "plot_blowup",
    "range_test",
    "range_test_seeds",
    "run_config",
    "sharpness_along_test",
    "slide",
    "smooth_losses",
    "steep",
    "steepest",
    "valley",
]

#: The sweeps :func:`lr_sweep` draws.
MODES = ("exp", "linear")
#: The suggestion rules of :meth:`RangeTestResult.suggest`: fastai's four, then torch-lr-finder's.
METHODS = ("valley", "slide", "minimum", "steep", "steepest")
# Points each tool drops from the start and the end of the curve before suggesting.
_TORCH_LR_FINDER_SKIP = (10, 5)
_FASTAI_SKIP_END = 5


# --- the sweep and the smoothing ------------------------------------------------------------


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
    _check_sweep(start_lr, end_lr, num_iter, mode)
    fraction = np.arange(num_iter) / (num_iter - 1)
    if mode == "exp":
        lrs = start_lr * (end_lr / start_lr) ** fraction
    else:
        lrs = start_lr + (end_lr - start_lr) * fraction
    lrs[0], lrs[-1] = start_lr, end_lr
    return lrs


def _check_sweep(start_lr, end_lr, num_iter, mode) -> None:
    if not (isinstance(start_lr, (int, float)) and math.isfinite(start_lr) and start_lr > 0):
        raise ValueError(f"start_lr must be a finite number > 0, got {start_lr!r}")
    if not (isinstance(end_lr, (int, float)) and math.isfinite(end_lr) and end_lr > start_lr):
        raise ValueError(f"end_lr must be finite and > start_lr={start_lr}, got {end_lr!r}")
    if isinstance(num_iter, bool) or not isinstance(num_iter, int) or num_iter < 2:
        raise ValueError(f"num_iter must be an integer >= 2, got {num_iter!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


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
    _check_smooth(smooth)
    losses = np.asarray(losses, dtype=np.float64)
    if losses.ndim != 1:
        raise ValueError(f"losses must be a 1-D sequence, got shape {losses.shape}")
    out = np.empty_like(losses)
    average = 0.0
    for t, loss in enumerate(losses.tolist()):  # Python floats: inf and nan pass quietly
        average = smooth * average + (1 - smooth) * loss
        out[t] = average / (1 - smooth ** (t + 1))
    return out


def _check_smooth(smooth) -> None:
    if not (isinstance(smooth, (int, float)) and 0 <= smooth < 1):
        raise ValueError(f"smooth must be in [0, 1), got {smooth!r}")


# --- suggestion rules: pure functions of (lrs, losses) --------------------------------------


def _curve(lrs, losses, min_points: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    lrs = np.asarray(lrs, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    if lrs.ndim != 1 or lrs.shape != losses.shape:
        raise ValueError(
            f"lrs and losses must be 1-D and of equal length, got {lrs.shape} and {losses.shape}"
        )
    if len(lrs) < min_points:
        raise ValueError(f"{rule} needs at least {min_points} points, got {len(lrs)}")
    if not (np.all(np.isfinite(losses)) and np.all(lrs > 0)):
        raise ValueError("losses must be finite and lrs > 0")
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
    if isinstance(lr_diff, bool) or not isinstance(lr_diff, int) or lr_diff < 1:
        raise ValueError(f"lr_diff must be an integer >= 1, got {lr_diff!r}")
    if not thresh > 0:
        raise ValueError(f"thresh must be > 0, got {thresh!r}")
    if not adjust_value > 0:
        raise ValueError(f"adjust_value must be > 0, got {adjust_value!r}")
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


_RULES: dict[str, Callable[..., float]] = {
    "valley": valley,
    "slide": slide,
    "minimum": minimum,
    "steep": steep,
    "steepest": steepest,
}


def _check_methods(methods) -> tuple[str, ...]:
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods must be names from {METHODS}, got {methods!r}")
    return methods


# --- the result ------------------------------------------------------------------------------


@dataclass
class RangeTestResult:
    """The curve of one range test and what the test was run with.

    Attributes
    ----------
    lrs, losses, smoothed : numpy.ndarray
        Per step taken: the rate, the batch's raw training loss, and the loss smoothed by
        :func:`smooth_losses`. As long as ``num_iter`` unless the test stopped early; the
        step that stopped it is the last entry.
    stopped_early : bool
        Whether the test stopped before ``num_iter`` steps.
    stop_reason : str or None
        ``"diverged"`` (smoothed loss above ``diverge`` times the best so far),
        ``"non-finite loss"``, or ``None``.
    num_iter, mode, start_lr, end_lr, smooth, diverge
        The sweep as requested.
    config : dict
        The remaining options (batch size, optimizer, momentum, weight decay, seed, ...).
    wall_time_s : float
        Seconds the test took, restoring the state included.

    Examples
    --------
    >>> lrs = lr_sweep(1e-4, 1.0, 50)
    >>> losses = np.where(lrs < 0.1, 2.0 - np.log10(lrs / 1e-4) / 3, 3.0)  # falls, then up
    >>> result = RangeTestResult(lrs, losses, losses, False, None, 50, "exp", 1e-4, 1.0, 0, 4)
    >>> round(result.suggest("minimum"), 5)  # the lowest kept loss is at lrs[44] ~ 0.0869
    0.00869
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    stopped_early: bool
    stop_reason: str | None
    num_iter: int
    mode: str
    start_lr: float
    end_lr: float
    smooth: float
    diverge: float
    config: dict = field(default_factory=dict)
    wall_time_s: float = 0.0

    def trimmed(self, method: str) -> tuple[np.ndarray, np.ndarray]:
        """The part of the smoothed curve a rule looks at, trimmed as its tool trims it.

        fastai's rules drop the first ``num_iter // 10`` and the last 5 points;
        ``"steepest"`` (torch-lr-finder) drops the first 10 and the last 5. Both then keep
        only the points before the first non-finite loss.
        """
        (method,) = _check_methods(method)
        if method == "steepest":
            first, last = _TORCH_LR_FINDER_SKIP
        else:
            first, last = self.num_iter // 10, _FASTAI_SKIP_END
        lrs = self.lrs[first : len(self.lrs) - last]
        losses = self.smoothed[first : len(self.smoothed) - last]
        bad = np.flatnonzero(~np.isfinite(losses))
        stop = bad[0] if len(bad) else len(losses)
        return lrs[:stop], losses[:stop]

    def suggest(self, method: str = "valley") -> float:
        """A learning rate by one of the rules :data:`METHODS`, on the trimmed smoothed curve.

        ``"valley"``, ``"slide"``, ``"minimum"``, ``"steep"``: fastai's rules
        (:func:`valley`, :func:`slide`, :func:`minimum`, :func:`steep`);
        ``"steepest"``: torch-lr-finder's (:func:`steepest`). See :meth:`trimmed` for the
        points each one sees; our smoothing is fastai's bias-corrected average for all.

        Raises
        ------
        ValueError
            If too few points are left (the test stopped very early).
        """
        (method,) = _check_methods(method)
        lrs, losses = self.trimmed(method)
        if len(lrs) == 0:
            raise ValueError(
                f"{method}: no points left after trimming a test that took {len(self.lrs)} "
                "steps; run more steps or lower start_lr"
            )
        return _RULES[method](lrs, losses)

    def suggestions(self, methods: Sequence[str] = METHODS) -> dict[str, float]:
        """``{method: suggest(method)}``, with NaN for a rule that has too few points."""
        out = {}
        for method in _check_methods(methods):
            try:
                out[method] = self.suggest(method)
            except ValueError:
                out[method] = math.nan
        return out

    def plot(self, methods: Sequence[str] = ("valley", "steepest"), ax=None, raw: bool = True):
        """The smoothed loss against the learning rate, with each suggestion marked.

        Parameters
        ----------
        methods : sequence of str
            Rules to mark (empty for none), each as a dot on the smoothed curve at the
            suggested rate, named with its value in the legend.
        ax : matplotlib Axes, optional
            Where to draw; a new house-style figure if omitted.
        raw : bool
            Also draw the raw per-step losses, faintly.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from lrlab import plots

        methods = _check_methods(methods) if methods else ()
        if ax is None:
            _, ax = plots.subplots()
        if raw:
            ax.plot(self.lrs, self.losses, color=plots.COLORS[6], alpha=0.2, lw=1, label="raw")
        ax.plot(self.lrs, self.smoothed, color=plots.COLORS[0], label="smoothed")
        for k, (method, lr) in enumerate(self.suggestions(methods).items()):
            if math.isfinite(lr):  # shapes and sizes differ so that equal suggestions show
                ax.plot(
                    lr,
                    _loss_at(self, lr),
                    "osD^v"[k % 5],
                    ms=9 - k,
                    color=plots.COLORS[(k + 1) % 6],
                    label=f"{method}: {lr:.2g}",
                    zorder=3,
                )
        plots.lr_axis(ax, "x")
        ax.set_ylabel("training loss")
        ax.set_ylim(*_loss_limits(self.losses, self.smoothed))
        ax.legend()
        return ax

    def to_dict(self) -> dict:
        """A JSON-ready dict (non-finite losses as the strings "nan", "inf")."""
        return {
            "lrs": self.lrs.tolist(),
            "losses": _json_floats(self.losses),
            "smoothed": _json_floats(self.smoothed),
            "stopped_early": self.stopped_early,
            "stop_reason": self.stop_reason,
            "num_iter": self.num_iter,
            "mode": self.mode,
            "start_lr": self.start_lr,
            "end_lr": self.end_lr,
            "smooth": self.smooth,
            "diverge": self.diverge,
            "config": dict(self.config),
            "wall_time_s": self.wall_time_s,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> RangeTestResult:
        """Inverse of :meth:`to_dict`."""
        arrays = {k: np.array([float(v) for v in d[k]]) for k in ("lrs", "losses", "smoothed")}
        rest = {k: v for k, v in d.items() if k not in arrays}
        return cls(**arrays, **rest)


def _json_floats(values: np.ndarray) -> list:
    return [float(v) if math.isfinite(v) else str(float(v)) for v in values]


def _loss_at(result: RangeTestResult, lr: float) -> float:
    """The smoothed loss at ``lr``, interpolated on a log-lr axis over its finite part."""
    ok = np.isfinite(result.smoothed)
    return float(np.interp(np.log(lr), np.log(result.lrs[ok]), result.smoothed[ok]))


def _loss_limits(*curves: np.ndarray) -> tuple[float, float]:
    """y limits that show the descent: from below the lowest loss to above the start."""
    finite = np.concatenate([c[np.isfinite(c)] for c in curves])
    if len(finite) == 0:
        return 0.0, 1.0
    starts = [float(c[0]) for c in curves if len(c) and np.isfinite(c[0])]
    first, low = max(starts or [finite.max()]), float(finite.min())
    return low - 0.05 * (first - low) - 1e-12, first + 0.25 * (first - low) + 1e-12


# --- running the test ------------------------------------------------------------------------


def _check_int(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _save_state(model: nn.Module, optimizer: torch.optim.Optimizer | None) -> dict:
    """Copies of everything a training step changes: weights, buffers, gradients, modes,
    and the optimizer's state (momentum buffers, step counts, hyperparameters)."""
    import copy

    return {
        "params": {n: p.detach().clone() for n, p in model.named_parameters()},
        "grads": {
            n: None if p.grad is None else p.grad.detach().clone()
            for n, p in model.named_parameters()
        },
        "buffers": {n: b.detach().clone() for n, b in model.named_buffers()},
        "modes": {n: m.training for n, m in model.named_modules()},
        "optimizer": None if optimizer is None else copy.deepcopy(optimizer.state_dict()),
    }


def _restore_state(model: nn.Module, optimizer, saved: dict) -> None:
    """Put back what :func:`_save_state` copied: values, dtypes, devices and memory layout.

    Parameters keep their identity (an optimizer and the caller still hold them); only
    their data are replaced by the saved copies, which ``clone`` made with the same strides.
    """
    for name, param in model.named_parameters():
        param.data = saved["params"][name]
        param.grad = saved["grads"][name]
    modules = dict(model.named_modules())
    for name, buffer in saved["buffers"].items():
        owner, _, attr = name.rpartition(".")
        setattr(modules[owner], attr, buffer)
    for name, training in saved["modes"].items():
        modules[name].training = training
    if optimizer is not None:
        optimizer.load_state_dict(saved["optimizer"])


def _train_batches(data, batch_size: int, seed: int):
    """Endless training batches, epoch after epoch, each epoch shuffled by ``(seed, epoch)``.

    A short last batch is skipped (unless the set is smaller than one batch), so every
    step's loss is an average over the same number of examples.
    """
    from lrlab.train import _epoch_seed

    skip_short = data.size("train") >= batch_size
    epoch = 0
    while True:
        for x, y in data.batches("train", batch_size, seed=_epoch_seed(seed, epoch)):
            if not (skip_short and len(y) < batch_size):
                yield x, y
        epoch += 1


def range_test(
    model: nn.Module,
    data,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    mode: str = "exp",
    smooth: float = 0.98,
    diverge: float = 4.0,
    batch_size: int = 128,
    optimizer: str | torch.optim.Optimizer = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    seed: int = 0,
    precision: str = "auto",
    channels_last="auto",
    progress: bool = False,
    callback: Callable[[nn.Module, int], None] | None = None,
) -> RangeTestResult:
    """Smith's learning-rate range test: one optimizer step per rate of a growing sweep.

    Step ``i`` trains on a fresh batch with rate ``lr_sweep(start_lr, end_lr, num_iter,
    mode)[i]`` (Smith, 2017, *Cyclical Learning Rates for Training Neural Networks*; the
    exponential sweep and the smoothing as in fastai, Howard & Gugger 2020). After each step
    the loss is smoothed (:func:`smooth_losses`) and the test stops early once the smoothed
    loss exceeds ``diverge`` times the lowest smoothed loss so far, or once a loss is not
    finite. The step uses :func:`lrlab.train.make_train_step`, the step :func:`lrlab.train.fit`
    takes, with the same precision and memory-layout choices.

    Afterwards the model and the optimizer are exactly as before: every parameter (value,
    dtype, device, memory layout), gradient, buffer (BatchNorm statistics) and module's
    train/eval mode, the optimizer's state and hyperparameters, and PyTorch's global
    random generators. This holds even when the test is interrupted.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier for ``data``; moved to ``data.device`` for the test.
    data : lrlab.data.Dataset
        Batches come from its training split, shuffled (and augmented) per epoch by ``seed``.
    start_lr, end_lr : float
        First and last rate of the sweep, ``0 < start_lr < end_lr``.
    num_iter : int
        Steps (rates) in the sweep, >= 2.
    mode : {"exp", "linear"}
        Sweep spacing (see :func:`lr_sweep`).
    smooth : float
        β of the bias-corrected moving average, in [0, 1).
    diverge : float
        Stop once the smoothed loss exceeds ``diverge`` × its best so far; > 1
        (``math.inf``: stop only on a non-finite loss).
    batch_size : int
        Examples per step.
    optimizer : {"sgd", "adam", "adamw"} or torch.optim.Optimizer
        A name builds a fresh optimizer with :func:`lrlab.train.make_optimizer` from
        ``momentum`` (Adam's β1) and ``weight_decay``. An optimizer instance over the
        model's parameters is used as it is (its momentum buffers included) and restored
        afterwards; the model must then already be on ``data.device``.
    momentum, weight_decay : float
        For a named optimizer; momentum in [0, 1), weight decay >= 0.
    seed : int
        Seed of the batch order, augmentation and in-model randomness (dropout).
    precision : {"auto", "fp32", "bf16", "fp16"}
        See :func:`lrlab.train.choose_precision`.
    channels_last : {"auto", True, False}
        See :func:`lrlab.train.choose_channels_last`.
    progress : bool
        Show a tqdm progress bar.
    callback : callable, optional
        Called as ``callback(model, step)`` after each optimizer step but the one that
        stops the test (before the state is restored), e.g. to measure the model along the
        sweep; with a callback the losses are read back after every step.

    Returns
    -------
    RangeTestResult

    Notes
    -----
    On a GPU the losses are read back every 8 steps, so that the GPU never waits for
    Python; a stop is then detected up to 7 steps late and those extra steps are dropped
    from the result (the model is restored anyway).

    Examples
    --------
    >>> from lrlab import data, models
    >>> digits = data.load("digits", device="cpu")
    >>> net = models.build("mlp", 10, digits.input_shape)
    >>> before = [p.detach().clone() for p in net.parameters()]
    >>> result = range_test(net, digits, start_lr=1e-4, num_iter=30)
    >>> float(result.lrs[0]), len(result.lrs) <= 30
    (0.0001, True)
    >>> all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    True
    """
    from lrlab import train

    lrs = lr_sweep(start_lr, end_lr, num_iter, mode)
    _check_smooth(smooth)
    if not (isinstance(diverge, (int, float)) and diverge > 1):
        raise ValueError(f"diverge must be > 1, got {diverge!r}")
    _check_int("batch_size", batch_size, 1)
    _check_int("seed", seed, 0)
    named = isinstance(optimizer, str)
    if named and optimizer not in train.OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {train.OPTIMIZERS}, got {optimizer!r}")
    if not (named or isinstance(optimizer, torch.optim.Optimizer)):
        raise TypeError(f"optimizer must be a name or a torch.optim.Optimizer, got {optimizer!r}")
    if not (isinstance(momentum, (int, float)) and 0 <= momentum < 1):
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    device = data.device
    prec = train.choose_precision(precision, device.type, train._bf16_supported(device))
    has_conv = any(isinstance(m, nn.Conv2d) for m in model.modules())
    use_channels_last = train.choose_channels_last(channels_last, device.type, has_conv)
    if not named and any(p.device != device for p in model.parameters()):
        raise ValueError(f"with an optimizer instance the model must already be on {device}")

    started = time.perf_counter()
    saved = _save_state(model, None if named else optimizer)
    rng_devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=rng_devices):
            torch.manual_seed(seed)
            model.to(device).train()
            if use_channels_last:
                model.to(memory_format=torch.channels_last)
            opt = (
                train.make_optimizer(model, optimizer, lrs[0], momentum, False, weight_decay)
                if named
                else optimizer
            )
            scaler = torch.amp.GradScaler(device.type) if prec == "fp16" else None
            step = train.make_train_step(model, opt, prec, use_channels_last, scaler, metrics=False)
            batches = _train_batches(data, batch_size, seed)
            check_every = 8 if device.type == "cuda" and callback is None else 1
            after_step = None if callback is None else (lambda i: callback(model, i))
            losses, smoothed, reason = _sweep(
                step, batches, lrs, smooth, diverge, check_every, progress, after_step
            )
    finally:
        _restore_state(model, None if named else optimizer, saved)
    taken = len(losses)
    return RangeTestResult(
        lrs=lrs[:taken],
        losses=np.array(losses),
        smoothed=np.array(smoothed),
        stopped_early=taken < num_iter,
        stop_reason=reason,
        num_iter=num_iter,
        mode=mode,
        start_lr=float(start_lr),
        end_lr=float(end_lr),
        smooth=float(smooth),
        diverge=float(diverge),
        config={
            "batch_size": batch_size,
            "optimizer": optimizer if named else type(optimizer).__name__,
            "momentum": float(momentum) if named else _group_momentum(optimizer),
            "weight_decay": float(weight_decay) if named else None,
            "seed": seed,
            "precision": prec,
            "data": data.name,
            "model": type(model).__name__,
        },
        wall_time_s=time.perf_counter() - started,
    )


def _group_momentum(optimizer: torch.optim.Optimizer) -> float | None:
    group = optimizer.param_groups[0]
    if "momentum" in group:
        return float(group["momentum"])
    return float(group["betas"][0]) if "betas" in group else None


def _sweep(step, batches, lrs, smooth, diverge, check_every, progress, after_step):
    """Run the steps; return raw losses, smoothed losses and why the test stopped (or None)."""
    from tqdm.auto import tqdm

    losses: list[float] = []
    smoothed: list[float] = []
    average, best = 0.0, math.inf
    pending: list[torch.Tensor] = []
    with tqdm(total=len(lrs), disable=not progress, unit="step") as bar:
        for i, (x, y) in zip(range(len(lrs)), batches, strict=False):
            pending.append(step(x, y, float(lrs[i]))[0])
            if len(pending) < check_every and i < len(lrs) - 1:
                continue
            read = [pending[0].item()] if len(pending) == 1 else torch.stack(pending).tolist()
            for loss in read:  # one transfer from the device per chunk
                t = len(losses)
                average = smooth * average + (1 - smooth) * loss
                losses.append(loss)
                smoothed.append(average / (1 - smooth ** (t + 1)))
                if not math.isfinite(loss):
                    return losses, smoothed, "non-finite loss"
                best = min(best, smoothed[-1])
                if smoothed[-1] > diverge * best:
                    return losses, smoothed, "diverged"
                if after_step is not None:
                    after_step(t)
            bar.update(len(pending))
            pending = []
    return losses, smoothed, None


# --- several seeds ---------------------------------------------------------------------------


@dataclass
class SeedSweep:
    """Range tests of one model and data set under several seeds.

    Attributes
    ----------
    seeds : list of int
    results : list of RangeTestResult
        One per seed, in the same order.
    """

    seeds: list[int]
    results: list[RangeTestResult]

    def suggestions(self, method: str) -> np.ndarray:
        """One suggestion per seed by ``method`` (NaN where the rule had too few points)."""
        (method,) = _check_methods(method)
        return np.array([r.suggestions((method,))[method] for r in self.results])

    def spread(self, methods: Sequence[str] = METHODS) -> dict[str, dict[str, float]]:
        """Per method: ``median``, ``min``, ``max`` of the suggestions and ``ratio`` max/min.

        Examples
        --------
        >>> r = RangeTestResult(np.geomspace(1e-3, 1, 40), np.zeros(40), np.linspace(2, 1, 40),
        ...                     False, None, 40, "exp", 1e-3, 1.0, 0.98, 4.0)
        >>> SeedSweep([0, 1], [r, r]).spread(["minimum"])["minimum"]["ratio"]
        1.0
        """
        out = {}
        for method in _check_methods(methods):
            values = self.suggestions(method)
            values = values[np.isfinite(values)]
            if len(values) == 0:
                out[method] = dict.fromkeys(("median", "min", "max", "ratio"), math.nan)
                continue
            low, high = float(values.min()), float(values.max())
            out[method] = {
                "median": float(np.median(values)),
                "min": low,
                "max": high,
                "ratio": high / low,
            }
        return out

    def table(self, methods: Sequence[str] = METHODS) -> str:
        """The spread as a text table: one row per method."""
        spread = self.spread(methods)
        lines = [f"{'method':<9} {'median':>9} {'min':>9} {'max':>9} {'max/min':>8}"]
        for method, s in spread.items():
            lines.append(
                f"{method:<9} {s['median']:>9.3g} {s['min']:>9.3g} {s['max']:>9.3g} "
                f"{s['ratio']:>8.2f}"
            )
        return "\n".join(lines)

    def plot(self, methods: Sequence[str] = ("valley", "steepest"), ax=None):
        """The band of smoothed curves over the seeds, and each suggestion's range.

        The shaded band spans, at every step, the lowest to the highest smoothed loss of the
        seeds that got that far; the line is their median. For each method a vertical strip
        covers its suggestions from the smallest to the largest, with a dashed line at the
        median.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from lrlab import plots

        methods = _check_methods(methods) if methods else ()
        if ax is None:
            _, ax = plots.subplots()
        longest = max(self.results, key=lambda r: len(r.lrs))
        curves = np.full((len(self.results), len(longest.lrs)), np.nan)
        for k, result in enumerate(self.results):
            ok = np.isfinite(result.smoothed)
            curves[k, : len(result.smoothed)] = np.where(ok, result.smoothed, np.nan)
        seen = np.isfinite(curves).any(axis=0)  # steps at least one seed got to
        curves, lrs = curves[:, seen], longest.lrs[seen]
        low, high = np.nanmin(curves, axis=0), np.nanmax(curves, axis=0)
        ax.fill_between(
            lrs,
            low,
            high,
            color=plots.COLORS[0],
            alpha=0.25,
            lw=0,
            label=f"smoothed loss, {len(self.seeds)} seeds",
        )
        ax.plot(lrs, np.nanmedian(curves, axis=0), color=plots.COLORS[0], lw=1.2)
        for k, (method, s) in enumerate(self.spread(methods).items()):
            color = plots.COLORS[(k + 1) % 6]
            if math.isfinite(s["median"]):
                ax.axvspan(s["min"], s["max"], color=color, alpha=0.2, lw=0)
                ax.axvline(
                    s["median"],
                    color=color,
                    ls="--",
                    lw=1.2,
                    label=f"{method}: {s['min']:.2g}–{s['max']:.2g}",
                )
        plots.lr_axis(ax, "x")
        ax.set_ylabel("training loss")
        ax.set_ylim(*_loss_limits(*(r.smoothed for r in self.results)))
        ax.legend()
        return ax


def range_test_seeds(model, data, seeds: int | Sequence[int] = 5, **options) -> SeedSweep:
    """Run :func:`range_test` once per seed, to see how much each suggestion moves.

    Parameters
    ----------
    model : torch.nn.Module or callable
        A module (the same initial weights for every seed: only the batch order,
        augmentation and dropout change) or ``build(seed) -> module`` (fresh weights per
        seed as well).
    data : lrlab.data.Dataset
    seeds : int or sequence of int
        ``n`` for seeds ``0 .. n-1``, or the seeds themselves (distinct, >= 0).
    **options
        Passed to :func:`range_test` (everything but ``seed``).

    Returns
    -------
    SeedSweep

    Examples
    --------
    >>> import torch
    >>> from lrlab import data, models
    >>> digits = data.load("digits", device="cpu")
    >>> build = lambda s: (torch.manual_seed(s), models.build("mlp", 10, (1, 8, 8)))[1]
    >>> sweep = range_test_seeds(build, digits, seeds=2, num_iter=30, start_lr=1e-4)
    >>> sweep.seeds, len(sweep.results)
    ([0, 1], 2)
    """
    if "seed" in options:
        raise TypeError("range_test_seeds takes seeds=..., not seed=")
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        _check_int("seeds", seeds, 1)
        seeds = list(range(seeds))
    seeds = list(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a count >= 1 or distinct integers, got {seeds!r}")
    for s in seeds:
        _check_int("each seed", s, 0)
    if not (isinstance(model, nn.Module) or callable(model)):
        raise TypeError(f"model must be a torch.nn.Module or build(seed), got {model!r}")
    results = []
    for s in seeds:
        net = model if isinstance(model, nn.Module) else model(s)
        results.append(range_test(net, data, seed=s, **options))
    return SeedSweep(seeds=seeds, results=results)


# --- the curvature view ----------------------------------------------------------------------


def blowup_lr(result: RangeTestResult, smooth: float | None = None) -> float:
    """The rate from which the smoothed loss climbs for good: the rate at its minimum.

    After its lowest point a curve never comes back down to it, so the minimum is where
    the climb that ends the test begins. The losses are re-smoothed with β = ``smooth``
    (:func:`smooth_losses`); the moving average lags by about β/(1 − β) steps, so a smaller
    β (or 0, the raw losses) puts the point closer to where the loss really turned.

    Parameters
    ----------
    result : RangeTestResult
    smooth : float, optional
        β in [0, 1); ``result.smooth`` by default.

    Returns
    -------
    float

    Examples
    --------
    >>> r = RangeTestResult(np.array([0.1, 0.2, 0.4, 0.8]), np.array([2.0, 1.0, 1.5, 9.0]),
    ...                     np.zeros(4), True, "diverged", 4, "exp", 0.1, 0.8, 0.98, 4.0)
    >>> blowup_lr(r, smooth=0.0)
    0.2
    """
    smooth = result.smooth if smooth is None else smooth
    curve = smooth_losses(result.losses, smooth)
    ok = np.flatnonzero(np.isfinite(curve))
    if len(ok) == 0:
        raise ValueError("result has no finite loss")
    return float(result.lrs[ok[np.argmin(curve[ok])]])


def initial_sharpness(
    model: nn.Module,
    data,
    batch_size: int = 1024,
    seed: int = 0,
    iters: int = 100,
    tol: float = 1e-3,
) -> float:
    """λ_max of the training loss's Hessian at the model's current weights, on a large batch.

    The loss is the mean cross-entropy over ``batch_size`` training examples drawn with
    ``seed`` (all of them if there are fewer), the model in train mode as the range test
    runs it; :func:`lrlab.curvature.top_eigenvalue` (Lanczos) finds the eigenvalue. Gradient
    descent on a quadratic with this curvature is stable for rates below 2/λ_max, and heavy
    ball momentum β for rates below 2(1 + β)/λ_max (Polyak, 1964). The model is left exactly
    as it was (BatchNorm statistics included).

    Parameters
    ----------
    model : torch.nn.Module
    data : lrlab.data.Dataset
    batch_size : int
        Examples in the batch, >= 1.
    seed : int
        Which examples.
    iters, tol : int, float
        Passed to :func:`lrlab.curvature.top_eigenvalue`.

    Returns
    -------
    float

    Examples
    --------
    >>> from lrlab import data
    >>> digits = data.load("digits", device="cpu")
    >>> softmax_regression = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    >>> initial_sharpness(softmax_regression, digits, batch_size=100) > 0
    True
    """
    import torch.nn.functional as F

    from lrlab.curvature import top_eigenvalue

    _check_int("batch_size", batch_size, 1)
    _check_int("seed", seed, 0)
    saved = _save_state(model, None)
    try:
        model.to(data.device).train()
        n = min(batch_size, data.size("train"))
        x, y = next(data.batches("train", n, augment=False, seed=seed))
        params = [p for p in model.parameters() if p.requires_grad]
        value, _ = top_eigenvalue(lambda: F.cross_entropy(model(x), y), params, iters, tol)
    finally:
        _restore_state(model, None, saved)
    return float(value)


def sharpness_along_test(
    model: nn.Module,
    data,
    every: int = 10,
    batch_size: int = 512,
    iters: int = 100,
    tol: float = 1e-3,
    **options,
) -> tuple[RangeTestResult, np.ndarray, np.ndarray]:
    """Run :func:`range_test` and measure λ_max of the training loss every few steps of it.

    After step ``t`` (for ``t = 0, every, 2 every, ...``) the weights have been trained with
    the rates ``lrs[0..t]``; :func:`lrlab.curvature.top_eigenvalue` measures λ_max there on
    one fixed batch of ``batch_size`` training examples (train mode, as the steps see the
    net). Gradient descent at that point is stable for the next rate only if
    ``lrs[t+1] < 2/λ_max`` (2(1 + β)/λ_max with heavy-ball momentum β), so the stability
    limit moves during the test as the network's curvature changes.

    Parameters
    ----------
    model : torch.nn.Module
    data : lrlab.data.Dataset
    every : int
        Steps between measurements, >= 1.
    batch_size : int
        Examples in the measuring batch.
    iters, tol
        Passed to :func:`lrlab.curvature.top_eigenvalue`.
    **options
        Passed to :func:`range_test`.

    Returns
    -------
    result : RangeTestResult
    steps : numpy.ndarray
        The steps after which λ_max was measured.
    sharpness : numpy.ndarray
        λ_max after each of those steps.

    Examples
    --------
    >>> from lrlab import data, models
    >>> digits = data.load("digits", device="cpu")
    >>> net = models.build("mlp", 10, digits.input_shape, hidden=(16,))
    >>> result, steps, sharpness = sharpness_along_test(net, digits, every=5, num_iter=10)
    >>> steps.tolist(), bool(np.all(sharpness > 0))
    ([0, 5], True)
    """
    import torch.nn.functional as F

    from lrlab.curvature import top_eigenvalue

    _check_int("every", every, 1)
    _check_int("batch_size", batch_size, 1)
    n = min(batch_size, data.size("train"))
    x, y = next(data.batches("train", n, augment=False, seed=options.get("seed", 0)))
    steps: list[int] = []
    values: list[float] = []

    def measure(net: nn.Module, step: int) -> None:
        if step % every == 0:
            params = [p for p in net.parameters() if p.requires_grad]
            value, _ = top_eigenvalue(lambda: F.cross_entropy(net(x), y), params, iters, tol)
            steps.append(step)
            values.append(value)

    result = range_test(model, data, callback=measure, **options)
    return result, np.array(steps), np.array(values)


def plot_blowup(result: RangeTestResult, sharpness: float, smooth: float | None = None, ax=None):
    """The range test's curve with :func:`blowup_lr` and the stability limits 2/λ_max.

    Draws the re-smoothed loss (β = ``smooth``), a solid line at :func:`blowup_lr`, a
    dashed one at 2/λ_max and, for SGD with momentum β > 0, a dotted one at 2(1 + β)/λ_max.

    Parameters
    ----------
    result : RangeTestResult
    sharpness : float
        λ_max, e.g. from :func:`initial_sharpness`; > 0.
    smooth : float, optional
        β for the curve and :func:`blowup_lr`; ``result.smooth`` by default.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> lrs = lr_sweep(1e-3, 1.0, 30)
    >>> r = RangeTestResult(lrs, 1 + (lrs - 0.3) ** 2, lrs, True, "diverged", 30, "exp",
    ...                     1e-3, 1.0, 0.0, 4.0, config={"optimizer": "sgd", "momentum": 0.9})
    >>> [line.get_label() for line in plot_blowup(r, sharpness=10.0).get_lines()][1:]
    ['loss turns up: 0.304', '2/λ_max: 0.2', '2(1+β)/λ_max: 0.38']
    """
    from lrlab import plots

    if not (math.isfinite(sharpness) and sharpness > 0):
        raise ValueError(f"sharpness must be a finite number > 0, got {sharpness!r}")
    smooth = result.smooth if smooth is None else smooth
    curve = smooth_losses(result.losses, smooth)
    if ax is None:
        _, ax = plots.subplots()
    ax.plot(result.lrs, curve, color=plots.COLORS[0], label=f"loss smoothed (β = {smooth:g})")
    blowup = blowup_lr(result, smooth)
    ax.axvline(blowup, color=plots.COLORS[1], label=f"loss turns up: {blowup:.3g}")
    ax.axvline(2 / sharpness, color=plots.COLORS[6], ls="--", label=f"2/λ_max: {2 / sharpness:.3g}")
    momentum = result.config.get("momentum") or 0.0
    if result.config.get("optimizer") in ("sgd", "SGD") and momentum > 0:
        limit = 2 * (1 + momentum) / sharpness
        ax.axvline(limit, color=plots.COLORS[6], ls=":", label=f"2(1+β)/λ_max: {limit:.3g}")
    plots.lr_axis(ax, "x")
    ax.set_ylabel("training loss")
    ax.set_ylim(*_loss_limits(curve))
    ax.legend()
    return ax


# --- configs (for lrlab.results and lrlab lr-find --out) ---------------------------------------

#: The keys of a range-test config (:func:`run_config`, ``lrlab lr-find --out``).
CONFIG_KEYS = (
    "dataset",
    "model",
    "model_options",
    "start_lr",
    "end_lr",
    "num_iter",
    "mode",
    "smooth",
    "diverge",
    "batch_size",
    "optimizer",
    "momentum",
    "weight_decay",
    "seed",
)


def run_config(config: Mapping, device=None, root="data/cache") -> dict:
    """Run the range test a plain config describes; return the result as a dict.

    The config names the data set (:func:`lrlab.data.load`) and model
    (:func:`lrlab.models.build` with the dict ``model_options``, weights seeded with
    ``seed``) and gives any of the other :data:`CONFIG_KEYS` (the rest keep
    :func:`range_test`'s defaults). This is the ``run``
    of :func:`lrlab.results.load_or_run`, and ``lrlab lr-find --out`` stores its output
    with the same keys, so a stored GPU run is found by the same config.

    Parameters
    ----------
    config : mapping
        ``dataset`` and ``model`` are required.
    device : torch.device or str, optional
        ``lrlab.device()`` by default.
    root : str or path
        Data folder for CIFAR.

    Returns
    -------
    dict
        :meth:`RangeTestResult.to_dict`; :meth:`RangeTestResult.from_dict` reads it back.

    Examples
    --------
    >>> out = run_config({"dataset": "digits", "model": "mlp", "num_iter": 20}, device="cpu")
    >>> len(out["lrs"]) <= 20
    True
    """
    from lrlab import data as data_mod
    from lrlab import models

    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping, got {type(config).__name__}")
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    missing = [k for k in ("dataset", "model") if k not in config]
    if unknown or missing:
        raise ValueError(
            f"config keys must be among {CONFIG_KEYS} and include dataset and model; "
            f"unknown {unknown}, missing {missing}"
        )
    options = {k: v for k, v in config.items() if k not in ("dataset", "model", "model_options")}
    dataset = data_mod.load(config["dataset"], root=root, device=device)
    torch.manual_seed(options.get("seed", 0))
    model = models.build(
        config["model"],
        dataset.num_classes,
        dataset.input_shape,
        **config.get("model_options", {}),
    )
    return range_test(model, dataset, **options).to_dict()
