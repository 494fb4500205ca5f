"""Interactive explorers (ipywidgets) and their static counterparts for the rendered book.

Each explorer is thin glue over plain functions that build and draw what the widget
shows; those functions are what the tests check, and each explorer has a static
version (small multiples) that teaches the same thing on a page without a kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lrlab import plots, schedules

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
    ax.set_title(repr(schedule), fontsize=8)
    return schedule


def schedule_explorer(steps: int = 1000, family: str = "one_cycle"):
    """A live explorer: pick a schedule family, move its sliders, see the curve.

    Needs a running Jupyter kernel (Colab, JupyterLab); on the rendered page use
    :func:`schedule_gallery` instead.

    Returns
    -------
    ipywidgets.VBox
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    _controls(family)
    out = w.Output()
    picker = w.Dropdown(options=list(SCHEDULE_CONTROLS), value=family, description="family")
    logy = w.Checkbox(value=True, description="log y")
    sliders = w.VBox()

    def redraw(*_):
        values = {child.description: child.value for child in sliders.children}
        with out:
            out.clear_output(wait=True)
            fig, ax = plots.subplots()
            draw_schedule(ax, picker.value, steps, logy=logy.value, **values)
            display(fig)
            plt.close(fig)

    def rebuild(*_):
        sliders.children = [_control_widget(w, n, s) for n, s in _controls(picker.value).items()]
        for child in sliders.children:
            child.observe(redraw, names="value")
        redraw()

    picker.observe(rebuild, names="value")
    logy.observe(redraw, names="value")
    rebuild()
    return w.VBox([w.HBox([picker, logy]), sliders, out])


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
