"""What a range test produced: :class:`RangeTestResult` (one curve, its suggestions and its
plot) and :class:`SeedSweep` (the same test under several seeds, and how far each
suggestion moves).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from lrlab.lrfind.rules import METHODS, RULES, check_methods

__all__ = ["RangeTestResult", "SeedSweep", "loss_limits"]

# Points each tool drops from the start and the end of the curve before suggesting.
_TORCH_LR_FINDER_SKIP = (10, 5)
_FASTAI_SKIP_END = 5


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
    >>> from lrlab.lrfind import lr_sweep
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
        (method,) = check_methods(method)
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
        (method,) = check_methods(method)
        lrs, losses = self.trimmed(method)
        if len(lrs) == 0:
            raise ValueError(
                f"{method}: no points left after trimming a test that took {len(self.lrs)} "
                "steps; run more steps or lower start_lr"
            )
        return RULES[method](lrs, losses)

    def suggestions(self, methods: Sequence[str] = METHODS) -> dict[str, float]:
        """``{method: suggest(method)}``, with NaN for a rule that has too few points."""
        out = {}
        for method in check_methods(methods):
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

        methods = check_methods(methods) if methods else ()
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
        ax.set_ylim(*loss_limits(self.losses, self.smoothed))
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


def loss_limits(*curves: np.ndarray) -> tuple[float, float]:
    """y limits that show a range test's descent: from below the lowest loss to above the start.

    Examples
    --------
    >>> low, high = loss_limits(np.array([2.0, 1.0, np.inf]))
    >>> low < 1.0 < 2.0 < high
    True
    """
    finite = np.concatenate([c[np.isfinite(c)] for c in curves])
    if len(finite) == 0:
        return 0.0, 1.0
    starts = [float(c[0]) for c in curves if len(c) and np.isfinite(c[0])]
    first, low = max(starts or [finite.max()]), float(finite.min())
    return low - 0.05 * (first - low) - 1e-12, first + 0.25 * (first - low) + 1e-12


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
        (method,) = check_methods(method)
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
        for method in check_methods(methods):
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

        methods = check_methods(methods) if methods else ()
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
        ax.set_ylim(*loss_limits(*(r.smoothed for r in self.results)))
        ax.legend()
        return ax
