"""The schedule explorer: every family of :mod:`lrlab.schedules` with its sliders.

Re-exported by :mod:`lrlab.widgets`, where the book and the tests use it."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from lrlab import _check, plots, schedules
from lrlab.scrubber import MAX_FRAMES, explorer, show_in

__all__ = [
    "SCHEDULE_CONTROLS",
    "default_values",
    "draw_schedule",
    "make_schedule",
    "schedule_explorer",
    "schedule_figure",
    "schedule_gallery",
]


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
    "wsd": {
        "lr": ("log", 0.1, 1e-4, 1.0),
        "decay_steps": ("fraction", 0.2, 0.02, 0.9),
        "warmup_steps": ("fraction", 0.05, 0.01, 0.2),
        "warmup": ("choice", "linear", ["linear", "cosine", "1-sqrt"]),
        "cooldown": ("choice", "1-sqrt", ["linear", "cosine", "1-sqrt"]),
        "end_lr": ("log", 1e-4, 1e-6, 1e-1),
    },
}


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
    length get ``total_steps=steps``; ``multistep`` decays at 50% and 75% of the run. The
    schedule comes from :func:`lrlab.schedules.from_spec`, as on the command line and in
    a sweep.

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
    steps = _check.integer("steps", steps, minimum=10)
    unknown = set(values) - set(controls)
    if unknown:
        raise ValueError(f"values has unknown parameters {sorted(unknown)} for {family!r}")
    kwargs = {**default_values(family), **values}
    for name, spec in controls.items():
        if spec[0] == "fraction":
            kwargs[name] = max(1, round(kwargs[name] * steps))
    if family == "multistep":
        kwargs["milestones"] = [steps // 2, (3 * steps) // 4]
    return schedules.from_spec(family, total_steps=int(steps), **kwargs)


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
    _check.choice(f"scrub (for {family!r})", scrub, sorted(controls))
    frames = _check.integer("frames", frames, minimum=2, maximum=MAX_FRAMES)
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
    return SCHEDULE_CONTROLS[_check.choice("family", family, sorted(SCHEDULE_CONTROLS))]


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
