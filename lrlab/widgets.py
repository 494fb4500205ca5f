"""Explorers: a figure with a slider, live (ipywidgets) in a kernel, a scrubber on the page.

Every explorer is a drawing function of its parameters that returns a matplotlib
Figure, shown two ways by :func:`explorer`: in a running kernel (Jupyter, Colab) a live
ipywidgets explorer that calls the drawing function whenever a control moves; in the
book build a self-contained :func:`scrubber`, a slider over precomputed frames of the
same drawing function, inline in the page, that works in any browser without a kernel
or network. The environment variable ``LRLAB_EXPLORERS`` decides which (see
:func:`explorer_mode`); the book's build sets it, so a chapter cell needs no condition.

A new explorer needs only its drawing function::

    widgets.explorer(lambda radius: draw_landscape(radius), radii, label="radius")

Each explorer is thin glue over plain functions that build and draw what it shows;
those functions are what the tests check.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from lrlab import plots, schedules
from lrlab.scrubber import (
    EXPLORERS_ENV,
    MAX_FRAMES,
    Scrubber,
    explorer,
    explorer_mode,
    live_explorer,
    scrubber,
    show_in,
)

__all__ = [
    "EXPLORERS_ENV",
    "MAX_FRAMES",
    "SCHEDULE_CONTROLS",
    "Scrubber",
    "default_values",
    "draw_quadratic",
    "draw_schedule",
    "explorer",
    "explorer_mode",
    "live_explorer",
    "make_schedule",
    "quadratic_explorer",
    "quadratic_figure",
    "quadratic_panels",
    "schedule_explorer",
    "schedule_figure",
    "schedule_gallery",
    "scrubber",
]

# --- the schedule explorer -------------------------------------------------------------------

#: Controls of the schedule explorer: family -> parameter -> spec. A spec is
#: ("float", default, low, high), ("log", default, low, high) for a log-scale slider,
#: ("int", default, low, high), or ("choice", default, options). Step counts given as
#: fractions ("fraction") are multiplied by the explorer's number of steps.
SCHEDULE_CONTROLS: dict[str, dict[str, tuple]] = {
    "constant": {"lr": ("log", 0.1, 1e-4, 1.0)},
    "step_decay": {
        "lr": ("log", 0.1, 1e-4, 1.0),
        "step_size": ("fraction", 0.3, 0.05, 1.0),
        "gamma": ("float", 0.1, 0.05, 1.0),
    },
    "multistep": {"lr": ("log", 0.1, 1e-4, 1.0), "gamma": ("float", 0.1, 0.05, 1.0)},
    "exponential": {"lr": ("log", 0.1, 1e-4, 1.0), "gamma": ("float", 0.995, 0.98, 1.0)},
    "inverse_time": {"lr": ("log", 0.1, 1e-4, 1.0), "decay_rate": ("log", 0.01, 1e-4, 1.0)},
    "polynomial": {
        "lr": ("log", 0.1, 1e-4, 1.0),
        "power": ("float", 1.0, 0.25, 4.0),
        "end_lr": ("log", 1e-4, 1e-6, 1e-1),
    },
    "cosine": {"lr": ("log", 0.1, 1e-4, 1.0), "min_lr": ("log", 1e-4, 1e-6, 1e-1)},
    "sgdr": {
        "lr": ("log", 0.1, 1e-4, 1.0),
        "first_cycle": ("fraction", 0.1, 0.02, 0.5),
        "cycle_mult": ("int", 2, 1, 3),
        "min_lr": ("log", 1e-4, 1e-6, 1e-1),
        "peak_decay": ("float", 1.0, 0.3, 1.0),
    },
    "cyclic": {
        "base_lr": ("log", 1e-3, 1e-5, 1e-1),
        "max_lr": ("log", 0.1, 1e-3, 1.0),
        "step_size_up": ("fraction", 0.1, 0.02, 0.5),
        "mode": ("choice", "triangular", ["triangular", "triangular2", "exp_range"]),
        "gamma": ("float", 0.999, 0.99, 1.0),
    },
    "one_cycle": {
        "max_lr": ("log", 0.1, 1e-4, 1.0),
        "pct_start": ("float", 0.3, 0.05, 0.45),
        "div_factor": ("log", 25.0, 1.0, 1000.0),
        "final_div_factor": ("log", 1e4, 1.0, 1e5),
        "anneal": ("choice", "cos", ["cos", "linear"]),
        "three_phase": ("choice", False, [False, True]),
    },
    "gaussian_peak": {
        "max_lr": ("log", 0.1, 1e-3, 1.0),
        "min_lr": ("log", 1e-5, 1e-7, 1e-3),
        "start_lr": ("log", 1e-3, 1e-6, 1.0),
    },
    "laplacian_peak": {
        "max_lr": ("log", 0.1, 1e-3, 1.0),
        "min_lr": ("log", 1e-5, 1e-7, 1e-3),
        "start_lr": ("log", 1e-3, 1e-6, 1.0),
    },
}

_TAKES_TOTAL = {"polynomial", "cosine", "one_cycle", "gaussian_peak", "laplacian_peak"}


def default_values(family: str) -> dict[str, Any]:
    """The explorer's starting values for a schedule family.

    Examples
    --------
    >>> default_values("cosine")
    {'lr': 0.1, 'min_lr': 0.0001}
    """
    return {name: spec[1] for name, spec in _controls(family).items()}


def make_schedule(family: str, steps: int, **values) -> schedules.Schedule:
    """Build the schedule the explorer shows from its control values.

    Step counts given as fractions of the run are turned into steps; families with a
    length get ``total_steps=steps``; ``multistep`` decays at 50% and 75% of the run.

    Parameters
    ----------
    family : str
        A key of :data:`SCHEDULE_CONTROLS`.
    steps : int
        Length of the run shown, >= 10.
    **values
        Control values (missing ones take their defaults).

    Examples
    --------
    >>> make_schedule("step_decay", 100, step_size=0.5)
    step_decay(lr=0.1, step_size=50, gamma=0.1)
    """
    controls = _controls(family)
    if int(steps) != steps or steps < 10:
        raise ValueError(f"steps must be an integer >= 10, got {steps!r}")
    unknown = set(values) - set(controls)
    if unknown:
        raise ValueError(f"values has unknown parameters {sorted(unknown)} for {family!r}")
    kwargs = {**default_values(family), **values}
    for name, spec in controls.items():
        if spec[0] == "fraction":
            kwargs[name] = max(1, round(kwargs[name] * steps))
    if family in _TAKES_TOTAL:
        kwargs["total_steps"] = int(steps)
    if family == "multistep":
        kwargs["milestones"] = [steps // 2, (3 * steps) // 4]
    return schedules.FACTORIES[family](**kwargs)


def draw_schedule(ax, family: str, steps: int, logy: bool = True, **values):
    """Draw one schedule of the explorer on ``ax``; the widget's callback.

    Bad combinations (say ``min_lr`` above ``lr``) do not raise: the axes show the
    schedule's own error message instead, so a student sees what went wrong.

    Returns
    -------
    Schedule or None
        The schedule drawn, or ``None`` if its parameters were invalid.

    Examples
    --------
    >>> from lrlab import plots
    >>> fig, ax = plots.subplots()
    >>> draw_schedule(ax, "cosine", 100, lr=0.1, min_lr=0.5) is None
    True
    """
    ax.clear()
    try:
        schedule = make_schedule(family, steps, **values)
    except ValueError as error:
        ax.text(0.5, 0.5, str(error), ha="center", va="center", wrap=True, transform=ax.transAxes)
        ax.set_title(f"{family}: invalid parameters")
        return None
    plots.plot_schedules({family: schedule}, steps, ax=ax, logy=logy)
    # The full call, wrapped so that it fits a figure's width (a scrubber's frame is not
    # cropped to its contents).
    ax.set_title(textwrap.fill(repr(schedule), 90), fontsize=8)
    return schedule


def schedule_figure(family: str, steps: int, logy: bool = True, ylim=None, **values):
    """The schedule explorer's drawing function: one schedule in a figure of its own.

    Parameters
    ----------
    family, steps, logy, **values
        As in :func:`draw_schedule`.
    ylim : (float, float), optional
        Fixed limits of the learning-rate axis, so that frames of a scrubber compare.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = schedule_figure("cosine", 100, lr=0.1)
    >>> fig.axes[0].get_yscale()
    'log'
    """
    fig, ax = plots.subplots()
    draw_schedule(ax, family, steps, logy=logy, **values)
    if ylim is not None:
        ax.set_ylim(*ylim)
    return fig


def schedule_explorer(
    steps: int = 1000,
    family: str = "one_cycle",
    scrub: str | None = None,
    frames: int = 17,
    logy: bool = True,
):
    """Explore a schedule family: live sliders in a kernel, one parameter scrubbed in the book.

    In a kernel (see :func:`explorer`) you pick any family and move all its sliders. On
    the static page a scrubber moves one parameter, ``scrub``, of ``family`` through its
    slider range with the others at their starting values, on a fixed learning-rate axis.

    Parameters
    ----------
    steps : int
        Length of the run shown, >= 10.
    family : str
        The family shown first (a key of :data:`SCHEDULE_CONTROLS`).
    scrub : str, optional
        The parameter the static scrubber moves; by default the family's first one.
    frames : int
        Number of values of ``scrub`` in the scrubber (a choice or an integer parameter
        has as many as it has values), 2 to :data:`MAX_FRAMES`.
    logy : bool
        Learning rate on a log axis.

    Returns
    -------
    Scrubber or ipywidgets.VBox
    """
    controls = _controls(family)
    scrub = next(iter(controls)) if scrub is None else scrub
    if scrub not in controls:
        raise ValueError(f"scrub must be one of {sorted(controls)} for {family!r}, got {scrub!r}")
    if int(frames) != frames or not 2 <= frames <= MAX_FRAMES:
        raise ValueError(f"frames must be an integer in [2, {MAX_FRAMES}], got {frames!r}")
    make_schedule(family, steps)  # checks steps before any drawing
    values = _scrub_values(controls[scrub], int(frames))
    ylim = _shared_ylim(family, steps, scrub, values, logy)

    def draw(value):
        return schedule_figure(family, steps, logy=logy, ylim=ylim, **{scrub: value})

    return explorer(
        draw,
        values,
        label=f"{family}: {scrub}",
        fmt="{}" if controls[scrub][0] in ("int", "choice") else "{:.3g}",
        start=controls[scrub][1],
        alt=f"The {family} schedule over {steps} steps as {scrub} changes",
        live=lambda: _live_schedule_explorer(steps, family, logy),
    )


def _live_schedule_explorer(steps: int, family: str, logy: bool):
    import ipywidgets as w

    out = w.Output()
    picker = w.Dropdown(options=list(SCHEDULE_CONTROLS), value=family, description="family")
    logy_box = w.Checkbox(value=logy, description="log y")
    sliders = w.VBox()

    def redraw(*_):
        values = {child.description: child.value for child in sliders.children}
        show_in(out, schedule_figure(picker.value, steps, logy=logy_box.value, **values))

    def rebuild(*_):
        sliders.children = [_control_widget(w, n, s) for n, s in _controls(picker.value).items()]
        for child in sliders.children:
            child.observe(redraw, names="value")
        redraw()

    picker.observe(rebuild, names="value")
    logy_box.observe(redraw, names="value")
    rebuild()
    return w.VBox([w.HBox([picker, logy_box]), sliders, out])


def _scrub_values(spec: tuple, frames: int) -> list:
    """The values a scrubber visits for one control spec (see :data:`SCHEDULE_CONTROLS`)."""
    kind = spec[0]
    if kind == "choice":
        return list(spec[2])
    if kind == "int":
        return list(range(spec[2], spec[3] + 1))
    grid = np.geomspace if kind == "log" else np.linspace
    return [float(v) for v in grid(spec[2], spec[3], frames)]


def _shared_ylim(family, steps, scrub, values, logy) -> tuple[float, float] | None:
    """Limits that hold every valid schedule of the scrubber, so its frames compare."""
    t = np.arange(steps)
    rates = []
    for value in values:
        try:
            rates.append(make_schedule(family, steps, **{scrub: value})(t))
        except ValueError:
            continue  # drawn as its error message instead
    if not rates:
        return None
    rates = np.concatenate(rates)
    if logy:
        positive = rates[rates > 0]
        return (positive.min() / 1.5, positive.max() * 1.5) if positive.size else None
    return (0.0, 1.05 * rates.max())


def schedule_gallery(steps: int = 1000, families=None, logy: bool = True):
    """The static counterpart of :func:`schedule_explorer`: small multiples.

    One panel per family at its default values, on a shared step axis.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = schedule_gallery(200, families=["cosine", "sgdr"])
    >>> len(fig.axes)
    2
    """
    families = list(SCHEDULE_CONTROLS) if families is None else list(families)
    for family in families:
        _controls(family)
    ncols = min(3, len(families))
    nrows = -(-len(families) // ncols)
    fig, axes = plots.subplots(nrows, ncols, width=3.3 * ncols, height=2.4 * nrows, squeeze=False)
    for ax, family in zip(axes.flat, families, strict=False):
        schedule = make_schedule(family, steps)
        t = np.arange(steps)
        ax.plot(t, schedule(t))
        if logy:
            ax.set_yscale("log")
        ax.set_title(family)
        ax.set_xlabel("step")
    for ax in axes.flat[len(families) :]:
        ax.remove()
    fig.supylabel("learning rate")
    return fig


def _controls(family: str) -> dict[str, tuple]:
    if family not in SCHEDULE_CONTROLS:
        raise ValueError(f"family must be one of {sorted(SCHEDULE_CONTROLS)}, got {family!r}")
    return SCHEDULE_CONTROLS[family]


def _control_widget(w, name: str, spec: tuple):
    kind, default = spec[0], spec[1]
    style = {"description_width": "120px"}
    if kind == "choice":
        return w.Dropdown(options=spec[2], value=default, description=name, style=style)
    if kind == "int":
        return w.IntSlider(value=default, min=spec[2], max=spec[3], description=name, style=style)
    if kind == "log":
        low, high = np.log10(spec[2]), np.log10(spec[3])
        return w.FloatLogSlider(
            value=default, min=low, max=high, step=0.05, description=name, style=style
        )
    low, high = spec[2], spec[3]
    return w.FloatSlider(
        value=default, min=low, max=high, step=(high - low) / 100, description=name, style=style
    )


# --- the quadratic step-size explorer --------------------------------------------------------
#
# Gradient descent on f(w) = ½(h₁w₁² + h₂w₂²), in the spirit of Goh's "Why Momentum Really
# Works" (Distill, 2017): a step-size slider, with the trajectory, the distance to the
# minimum per direction, and the per-direction factor |1 − γh| side by side.


def _check_plane_quadratic(h, w0) -> tuple[np.ndarray, np.ndarray]:
    curvature = np.asarray(h, dtype=float)
    start = np.asarray(w0, dtype=float)
    if curvature.shape != (2,) or not np.all(curvature > 0) or not np.all(np.isfinite(curvature)):
        raise ValueError(f"h must be two positive finite eigenvalues, got {h!r}")
    if start.shape != (2,) or not np.all(np.isfinite(start)) or not np.any(start != 0):
        raise ValueError(f"w0 must be a non-zero finite point in the plane, got {w0!r}")
    return curvature, start


def draw_quadratic(
    axes,
    lr: float,
    h=(1.0, 10.0),
    w0=(1.0, 1.0),
    steps: int = 20,
    momentum: float = 0.0,
    nesterov: bool = False,
) -> dict[str, Any]:
    """Draw gradient descent on f(w) = ½(h₁w₁² + h₂w₂²) at one step size; the widget's callback.

    Three panels: the path over the loss's contours (the view stays fixed, so a diverging
    path leaves it); the distance to the minimum per direction against the step, on a log
    axis; and the per-direction factor of :func:`lrlab.dynamics.contraction_factor` against
    the step size, with the current step size and the stability bound marked.

    Parameters
    ----------
    axes : sequence of three matplotlib Axes
        Where to draw (cleared first).
    lr : float
        Step size γ > 0.
    h : pair of float
        The two curvatures (eigenvalues), > 0.
    w0 : pair of float
        Starting point.
    steps : int
        Number of gradient steps shown.
    momentum, nesterov
        As in :func:`lrlab.dynamics.gd_quadratic`.

    Returns
    -------
    dict
        ``trajectory`` (steps + 1, 2), ``factors`` (one per direction), ``max_stable_lr``
        and ``converges`` (every factor < 1).

    Examples
    --------
    >>> from lrlab import plots
    >>> fig, axes = plots.subplots(1, 3)
    >>> shown = draw_quadratic(axes, lr=0.15)
    >>> shown["factors"].round(2).tolist(), shown["converges"]
    ([0.85, 0.5], True)
    """
    from matplotlib.ticker import NullLocator

    from lrlab import dynamics

    curvature, start = _check_plane_quadratic(h, w0)
    if len(axes) != 3:
        raise ValueError(f"axes must hold three Axes, got {len(axes)}")
    trajectory = dynamics.gd_quadratic(curvature, lr, start, steps, momentum, nesterov)
    factors = dynamics.contraction_factor(lr, curvature, momentum, nesterov)
    bound = dynamics.max_stable_lr(curvature, momentum, nesterov)
    converges = bool(np.all(factors < 1))
    path_ax, distance_ax, factor_ax = axes
    for ax in axes:
        ax.clear()

    # The path over the contours, in a fixed window around the start.
    extent = 1.3 * np.abs(start).max()
    grid = np.linspace(-extent, extent, 101)
    w1, w2 = np.meshgrid(grid, grid)
    loss = 0.5 * (curvature[0] * w1**2 + curvature[1] * w2**2)
    # Levels at which the ellipses' long axes are evenly spaced, so all of them show.
    levels = 0.5 * curvature.min() * (extent * np.arange(1, 9) / 8) ** 2
    path_ax.contour(w1, w2, loss, levels=levels, colors="0.75", linewidths=0.8)
    path_ax.plot(trajectory[:, 0], trajectory[:, 1], "o-", ms=3, color=plots.COLORS[0])
    path_ax.plot(*start, "s", color=plots.COLORS[1], ms=6)
    path_ax.set(xlim=(-extent, extent), ylim=(-extent, extent), aspect="equal")
    path_ax.set(xlabel=f"$w_1$ (h = {curvature[0]:g})", ylabel=f"$w_2$ (h = {curvature[1]:g})")
    if converges:
        verdict = "converges"
    elif np.isclose(np.max(factors), 1.0):
        verdict = "on the edge (factor 1)"  # neither shrinks nor grows
    else:
        verdict = "diverges"
    path_ax.set_title(f"γ = {lr:.3g}: {verdict}")

    # Distance to the minimum along each direction; a straight line on the log axis has
    # slope log(factor) per step.
    steps_axis = np.arange(steps + 1)
    for i in range(2):
        distance = np.abs(trajectory[:, i])
        distance_ax.plot(steps_axis, np.where(distance > 0, distance, np.nan), label=f"$w_{i + 1}$")
    # Fixed limits, so that the frames of a scrubber compare and a diverging path leaves
    # through the top (a converged one through the bottom).
    scale = np.abs(start).max()
    distance_ax.set(yscale="log", ylim=(1e-10 * scale, 1e4 * scale), xlabel="step")
    distance_ax.set_ylabel("$|w_i|$")
    # No minor ticks on the log axes: they cost most of the drawing time of a small multiple.
    distance_ax.yaxis.set_minor_locator(NullLocator())
    distance_ax.legend()

    # The factor per direction against the step size; < 1 means that direction converges.
    lrs = np.geomspace(min(bound / 100, lr / 2), max(2 * bound, 1.5 * lr), 400)
    for i in range(2):
        factor_curve = dynamics.contraction_factor(lrs, curvature[i], momentum, nesterov)
        factor_ax.plot(lrs, factor_curve, label=f"h = {curvature[i]:g}")
        factor_ax.plot(lr, factors[i], "o", color=plots.COLORS[i])
    factor_ax.axhline(1.0, color="0.4", lw=1, ls="--")
    factor_ax.axvline(lr, color="0.2", lw=1)
    factor_ax.axvspan(bound, lrs[-1], color=plots.COLORS[1], alpha=0.08)
    factor_ax.set_ylim(0, 2)
    plots.lr_axis(factor_ax, "x")
    factor_ax.xaxis.set_minor_locator(NullLocator())
    factor_ax.set_ylabel("factor per step")
    factor_ax.legend(loc="upper left")
    return {
        "trajectory": trajectory,
        "factors": np.asarray(factors),
        "max_stable_lr": bound,
        "converges": converges,
    }


def quadratic_figure(
    lr: float,
    h=(1.0, 10.0),
    w0=(1.0, 1.0),
    steps: int = 20,
    momentum: float = 0.0,
    nesterov: bool = False,
):
    """The quadratic explorer's drawing function: :func:`draw_quadratic` in a figure of its own.

    Returns
    -------
    matplotlib.figure.Figure
        Three panels side by side, 10.5 by 3.4 inches.

    Examples
    --------
    >>> len(quadratic_figure(0.15).axes)
    3
    """
    fig, axes = plots.subplots(1, 3, width=10.5, height=3.4)
    draw_quadratic(axes, lr, h, w0, steps, momentum, nesterov)
    return fig


def quadratic_explorer(
    h=(1.0, 10.0),
    w0=(1.0, 1.0),
    steps: int = 20,
    lr: float = 0.1,
    lrs=None,
    momentum: float = 0.0,
    nesterov: bool = False,
):
    """Move the step size, watch GD on a 2-D quadratic: live in a kernel, a scrubber in the book.

    In a kernel (see :func:`explorer`) there are sliders for the step size and the
    momentum and a Nesterov checkbox. On the static page a scrubber moves the step size
    through ``lrs`` at the given momentum.

    Parameters
    ----------
    h, w0, steps, momentum, nesterov
        As in :func:`draw_quadratic` (momentum and Nesterov: the live controls' start).
    lr : float
        Starting step size.
    lrs : sequence of float, optional
        The scrubber's step sizes; by default 25 evenly spaced ones from 5% to 125% of
        the largest stable step :func:`lrlab.dynamics.max_stable_lr`, so that the
        monotone, the zig-zagging and the diverging regimes all show.

    Returns
    -------
    Scrubber or ipywidgets.VBox
    """
    from lrlab import dynamics

    curvature, start = _check_plane_quadratic(h, w0)
    bound = dynamics.max_stable_lr(curvature, momentum, nesterov)
    if not 0 < lr <= 4 * bound:
        raise ValueError(f"lr must be in (0, {4 * bound:g}] for this h, got {lr}")
    if lrs is None:
        lrs = bound * np.linspace(0.05, 1.25, 25)
    lrs = np.asarray(lrs, dtype=float)
    if lrs.ndim != 1 or not np.all(lrs > 0):
        raise ValueError(f"lrs must be a 1-D array of step sizes > 0, got {lrs!r}")

    def draw(value):
        return quadratic_figure(value, curvature, start, steps, momentum, nesterov)

    directions = " and ".join(f"{c:g}" for c in curvature)
    return explorer(
        draw,
        [float(v) for v in lrs],
        label="step size γ",
        start=lr,
        alt=(
            f"Gradient descent on a quadratic with curvatures {directions}: its path over "
            "the contours, the distance to the minimum per direction, and the factor per "
            "step against the step size"
        ),
        live=lambda: _live_quadratic_explorer(curvature, start, steps, lr, momentum, nesterov),
    )


def _live_quadratic_explorer(curvature, start, steps, lr, momentum, nesterov):
    import ipywidgets as w

    from lrlab import dynamics

    bound = dynamics.max_stable_lr(curvature)
    out = w.Output()
    style = {"description_width": "80px"}
    lr_slider = w.FloatLogSlider(
        value=lr,
        min=np.log10(bound / 100),
        max=np.log10(4 * bound),
        step=0.01,
        description="lr",
        readout_format=".3g",
        style=style,
    )
    momentum_slider = w.FloatSlider(
        value=momentum, min=0.0, max=0.95, step=0.05, description="momentum", style=style
    )
    nesterov_box = w.Checkbox(value=nesterov, description="nesterov")

    def redraw(*_):
        use_nesterov = nesterov_box.value and momentum_slider.value > 0
        figure = quadratic_figure(
            lr_slider.value, curvature, start, steps, momentum_slider.value, use_nesterov
        )
        show_in(out, figure)

    for control in (lr_slider, momentum_slider, nesterov_box):
        control.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([lr_slider, momentum_slider, nesterov_box]), out])


def quadratic_panels(
    lrs,
    h=(1.0, 10.0),
    w0=(1.0, 1.0),
    steps: int = 20,
    momentum: float = 0.0,
    nesterov: bool = False,
):
    """The static counterpart of :func:`quadratic_explorer`: one row per step size.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = quadratic_panels([0.05, 0.19, 0.21])
    >>> len(fig.axes)
    9
    """
    lrs = np.atleast_1d(np.asarray(lrs, dtype=float))
    if lrs.ndim != 1 or lrs.size == 0 or not np.all(lrs > 0):
        raise ValueError(f"lrs must be a non-empty 1-D array of step sizes > 0, got {lrs!r}")
    fig, axes = plots.subplots(lrs.size, 3, width=10.5, height=3.0 * lrs.size, squeeze=False)
    for row, lr in zip(axes, lrs, strict=True):
        draw_quadratic(row, float(lr), h, w0, steps, momentum, nesterov)
    return fig
