"""One figure style for the whole book, and the plots that several chapters share.

Chapters call :func:`use_style` once, then draw with :func:`subplots` so that every
figure has the same size, fonts, colours and grid. Learning rates go on a log axis
(:func:`lr_axis`); time goes on the x axis in optimizer steps or epochs, labelled. A curve
over seeds is one call to :func:`seed_band`: the mean and the spread.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from lrlab import _check

#: The colour cycle used everywhere (colour-blind safe, after Okabe & Ito).
COLORS: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # green
    "#CC79A7",  # purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)

#: Matplotlib settings of the house style.
STYLE: dict[str, object] = {
    "figure.figsize": (6.4, 3.6),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=list(COLORS)),
    "legend.frameon": False,
    "legend.fontsize": 9,
    "lines.linewidth": 1.8,
    "figure.constrained_layout.use": True,
}


def use_style() -> None:
    """Apply the book's figure style to matplotlib's global settings.

    Examples
    --------
    >>> from lrlab import plots
    >>> plots.use_style()
    >>> import matplotlib as mpl
    >>> mpl.rcParams["axes.grid"]
    True
    """
    mpl.rcParams.update(STYLE)


def subplots(
    nrows: int = 1,
    ncols: int = 1,
    *,
    width: float | None = None,
    height: float | None = None,
    **kwargs,
):
    """Create a figure in the house style; like :func:`matplotlib.pyplot.subplots`.

    Parameters
    ----------
    nrows, ncols : int
        Grid of axes.
    width, height : float, optional
        Figure size in inches. By default 3.2 in per column (at least 6.4) and
        3.0 in per row (at least 3.6).
    **kwargs
        Passed to :func:`matplotlib.pyplot.subplots` (``sharex``, ``squeeze``, ...).

    Returns
    -------
    fig, axes
        As :func:`matplotlib.pyplot.subplots` returns them.

    Examples
    --------
    >>> from lrlab import plots
    >>> fig, (ax1, ax2) = plots.subplots(1, 2)
    >>> fig.get_size_inches().tolist()
    [6.4, 3.6]
    """
    nrows = _check.integer("nrows", nrows, minimum=1)
    ncols = _check.integer("ncols", ncols, minimum=1)
    use_style()
    width = width if width is not None else max(6.4, 3.2 * ncols)
    height = height if height is not None else max(3.6, 3.0 * nrows)
    return plt.subplots(nrows, ncols, figsize=(width, height), **kwargs)


def lr_axis(ax, axis: str = "x", *, log: bool = True, label: str = "learning rate") -> None:
    """Label an axis as a learning rate, on a log scale by default.

    Examples
    --------
    >>> from lrlab import plots
    >>> fig, ax = plots.subplots()
    >>> plots.lr_axis(ax, "y")
    >>> ax.get_yscale(), ax.get_ylabel()
    ('log', 'learning rate')
    """
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    set_scale = ax.set_xscale if axis == "x" else ax.set_yscale
    set_label = ax.set_xlabel if axis == "x" else ax.set_ylabel
    if log:
        set_scale("log")
    set_label(label)


def plot_schedules(
    schedules: Mapping[str, Callable[[np.ndarray], np.ndarray]],
    steps: int | Sequence[int] | np.ndarray,
    ax=None,
    logy: bool = False,
    xlabel: str = "optimizer step",
):
    """Plot learning-rate schedules against the optimizer step.

    Parameters
    ----------
    schedules : mapping of str to schedule
        Legend label -> schedule (a callable ``s(step) -> lr`` vectorised over
        integer arrays, such as those in :mod:`lrlab.schedules`).
    steps : int or array of int
        Plot steps ``0 .. steps-1`` (an int) or exactly the given steps.
    ax : matplotlib Axes, optional
        Where to draw; a new house-style figure if omitted.
    logy : bool
        Put the learning rate on a log axis.
    xlabel : str
        Label of the x axis.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from lrlab import plots, schedules
    >>> ax = plots.plot_schedules({"cosine": schedules.cosine(0.1, 100)}, 100)
    >>> len(ax.get_lines())
    1
    """
    if not schedules:
        raise ValueError("schedules must name at least one schedule, got an empty mapping")
    if isinstance(steps, (int, np.integer)):
        t = np.arange(_check.integer("steps", steps, minimum=1))
    else:
        t = np.asarray(steps)
        if t.ndim != 1 or t.size == 0 or not np.issubdtype(t.dtype, np.integer):
            raise ValueError("steps must be a positive int or a non-empty 1-D array of integers")
    if ax is None:
        _, ax = subplots()
    for label, schedule in schedules.items():
        ax.plot(t, schedule(t), label=label)
    ax.set_xlabel(xlabel)
    if logy:
        lr_axis(ax, "y")
    else:
        ax.set_ylabel("learning rate")
    if len(schedules) > 1:
        ax.legend()
    return ax


def seed_band(
    ax,
    x: Sequence[float] | np.ndarray,
    runs,
    *,
    label: str | None = None,
    color: str | None = None,
    band: str = "range",
    alpha: float = 0.2,
    confidence: float = 0.95,
    **line_kwargs,
):
    """Draw the mean over seeds as a line and their spread as a shaded band, in one call.

    Non-finite values (a seed that diverged) are left out point by point: the line is the mean
    of the seeds still finite there, and it stops where none is.

    Parameters
    ----------
    ax : matplotlib Axes
        Where to draw.
    x : array-like, shape (T,)
        The x values (steps, epochs, learning rates).
    runs : array-like, shape (S, T)
        One row per seed.
    label, color : str, optional
        Of the line (and the band's colour); the axes' next colour by default.
    band : {"range", "ci", "std"}
        The band: from the lowest to the highest seed; the t interval of the mean
        (:func:`lrlab.stats.summary`, where at least 2 seeds are finite); or the mean plus
        and minus one standard deviation (``ddof=1``).
    alpha : float
        Opacity of the band, in [0, 1].
    confidence : float
        Level of the ``"ci"`` band.
    **line_kwargs
        Passed to :meth:`~matplotlib.axes.Axes.plot` (``linestyle``, ``marker``, ...).

    Returns
    -------
    matplotlib.lines.Line2D
        The mean line.

    Examples
    --------
    >>> from lrlab import plots
    >>> fig, ax = plots.subplots()
    >>> line = plots.seed_band(ax, [0, 1, 2], [[1.0, 2.0, 3.0], [3.0, 4.0, float("nan")]])
    >>> line.get_ydata().tolist()
    [2.0, 3.0, 3.0]
    """
    band = _check.choice("band", band, ("range", "ci", "std"))
    alpha = _check.number("alpha", alpha, 0, 1)
    x = np.asarray(x, dtype=float)
    values = np.asarray(runs, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x must be a non-empty 1-D array, got shape {x.shape}")
    if values.ndim != 2 or values.shape[1] != x.size:
        raise ValueError(
            f"runs must have shape (seeds, {x.size}) to match x, got shape {values.shape}"
        )
    values = np.where(np.isfinite(values), values, np.nan)
    seeds = np.sum(np.isfinite(values), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a point where no seed is finite
        mean = np.nanmean(values, axis=0)
        if band == "range":
            low, high = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
        elif band == "std":
            spread = np.where(seeds >= 2, np.nanstd(values, axis=0, ddof=1), np.nan)
            low, high = mean - spread, mean + spread
    if band == "ci":
        from lrlab import stats

        low, high = np.full(x.size, np.nan), np.full(x.size, np.nan)
        for t in np.flatnonzero(seeds >= 2):
            column = values[:, t]
            low[t], high[t] = stats.summary(column[np.isfinite(column)], confidence).ci
    (line,) = ax.plot(x, mean, label=label, color=color, **line_kwargs)
    ax.fill_between(x, low, high, color=line.get_color(), alpha=alpha, lw=0)
    return line


def performance_profiles(
    ax,
    taus: Sequence[float] | np.ndarray,
    profiles: Mapping[str, Sequence[float] | np.ndarray],
    *,
    problems: str = "problems",
):
    """Draw performance profiles (:func:`lrlab.stats.performance_profile`) as step curves.

    The factor τ goes on a log axis, the fraction of problems solved within τ of the best
    on the other, one curve per method, as Dolan & Moré (2002) draw them.

    Parameters
    ----------
    ax : matplotlib Axes
        Where to draw.
    taus : array-like, shape (T,)
        The factors the profiles were evaluated at, >= 1, finite.
    profiles : mapping of str to array-like of shape (T,)
        Method -> fraction of problems within each τ.
    problems : str
        What the problems are, for the y label ("workloads").

    Returns
    -------
    list of matplotlib.lines.Line2D
        One per method, labelled with its name.

    Examples
    --------
    >>> from lrlab import plots, stats
    >>> taus = [1, 2, 4]
    >>> profiles = stats.performance_profile({"a": {"p": 1}, "b": {"p": 3}}, taus)
    >>> fig, ax = plots.subplots()
    >>> [line.get_ydata().tolist() for line in plots.performance_profiles(ax, taus, profiles)]
    [[1.0, 1.0, 1.0], [0.0, 0.0, 1.0]]
    """
    tau = np.asarray(taus, dtype=float)
    if tau.ndim != 1 or tau.size == 0 or not np.all(np.isfinite(tau)) or np.any(tau < 1):
        raise ValueError(f"taus must be a non-empty 1-D array of finite numbers >= 1, got {taus!r}")
    if not profiles:
        raise ValueError("profiles must name at least one method, got an empty mapping")
    lines = []
    for method, rho in profiles.items():
        rho = np.asarray(rho, dtype=float)
        if rho.shape != tau.shape:
            raise ValueError(
                f"profiles[{method!r}] must have one value per tau ({tau.size}), "
                f"got shape {rho.shape}"
            )
        (line,) = ax.plot(tau, rho, drawstyle="steps-post", label=method)
        lines.append(line)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("τ: within a factor τ of the best")
    ax.set_ylabel(f"fraction of {problems}")
    ax.set_ylim(-0.02, 1.05)
    ax.legend()
    return lines
