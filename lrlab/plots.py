"""One figure style for the whole book, and the plots that several chapters share.

Chapters call :func:`use_style` once, then draw with :func:`subplots` so that every
figure has the same size, fonts, colours and grid. Learning rates go on a log axis
(:func:`lr_axis`); time goes on the x axis in optimizer steps or epochs, labelled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

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
    if nrows < 1 or ncols < 1:
        raise ValueError(f"nrows and ncols must be >= 1, got nrows={nrows}, ncols={ncols}")
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
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        t = np.arange(int(steps))
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
