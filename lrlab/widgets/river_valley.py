"""The river-valley explorer: move the rate and the cooldown's length, watch WSD on the toy.

Noisy SGD on Wen et al.'s (2024) river valley (:mod:`lrlab.dynamics.river_valley`), at a
constant rate and under warmup-stable-decay (:func:`lrlab.schedules.wsd`), on the same noise.
Three panels: the path across the valley against the distance travelled down the river; the
loss against the step, expected (exact) and of one run; and the expected final loss against
the cooldown's length for the three cooldown shapes, with cosine's for reference.
Re-exported by :mod:`lrlab.widgets`, where the book and the tests use it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lrlab import _check, plots
from lrlab.scrubber import explorer, show_in

__all__ = ["draw_river_valley", "final_losses", "river_valley_explorer", "river_valley_figure"]

#: The cooldown shapes compared in the third panel.
SHAPES = ("linear", "1-sqrt", "cosine")

#: The cooldown lengths (fractions of the run) of the third panel's curves.
_FRACTIONS = np.array([0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0])


def _wsd(steps: int, cooldown: float, shape: str):
    from lrlab import schedules

    decay = min(steps, max(1, round(cooldown * steps)))
    return schedules.wsd(1.0, steps, decay_steps=decay, cooldown=shape)


def final_losses(
    lr: float,
    steps: int,
    fractions=_FRACTIONS,
    *,
    sharpness: float = 10.0,
    river: float = 0.002,
    noise: float = 1.0,
) -> dict[str, np.ndarray]:
    """The expected loss at the end of a WSD run of ``steps`` for each cooldown fraction and
    shape, and of a cosine run (:func:`lrlab.dynamics.river_valley_moments`).

    Returns
    -------
    dict
        ``{shape: array over fractions}`` for every cooldown shape of :data:`SHAPES`, and
        ``"cosine run"``: one number, the end of a cosine schedule over the whole run.

    Examples
    --------
    >>> out = final_losses(0.15, 600, [0.1, 1.0])
    >>> bool(out["linear"][1] - out["cosine run"] > -1e-3)  # a whole-run linear decay ≈ cosine
    True
    """
    from lrlab import dynamics, schedules

    fractions = _check.array("fractions", fractions, positive=True, ndim=1)
    t = np.arange(steps)
    rows = [_wsd(steps, f, shape)(t) for shape in SHAPES for f in fractions]
    rows.append(schedules.cosine(1.0, steps)(t))
    # One call for every schedule: a row of factors per run.
    ends = dynamics.river_valley_moments(
        np.full(len(rows), lr),
        steps,
        schedule=np.array(rows),
        sharpness=sharpness,
        river=river,
        noise=noise,
    )["loss"][:, -1]
    out = {
        shape: ends[i * fractions.size : (i + 1) * fractions.size] for i, shape in enumerate(SHAPES)
    }
    out["cosine run"] = float(ends[-1])
    return out


def draw_river_valley(
    axes,
    lr: float,
    cooldown: float,
    *,
    shape: str = "1-sqrt",
    steps: int = 600,
    sharpness: float = 10.0,
    river: float = 0.002,
    noise: float = 1.0,
    seed: int = 0,
    view: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """Draw noisy SGD on the river valley at a rate, with and without a WSD cooldown.

    Parameters
    ----------
    axes : sequence of three matplotlib Axes
        Where to draw (cleared first): the path, the loss curves, the final losses.
    lr : float
        The stable rate η > 0, below 2 / ``sharpness``.
    cooldown : float
        The cooldown's length as a fraction of the run, in (0, 1].
    shape : {"linear", "1-sqrt", "cosine"}
        The cooldown's shape.
    steps : int
        The run's length.
    sharpness, river, noise
        As in :func:`lrlab.dynamics.river_valley_sgd`; the start is its default (-10, 1).
    seed : int
        The noise of the runs drawn (the same for both).
    view : (float, float), optional
        Half-height of the path panel and the right end of its x axis (so that the frames of a
        scrubber share them); fitted to this run by default.

    Returns
    -------
    dict
        ``"constant"`` and ``"wsd"`` (the paths, ``(steps + 1, 2)``), ``"expected"`` (the
        expected losses of both, by name), ``"final"`` (:func:`final_losses`).

    Examples
    --------
    >>> from lrlab import plots
    >>> fig, axes = plots.subplots(1, 3)
    >>> shown = draw_river_valley(axes, 0.15, 0.2)
    >>> bool(shown["expected"]["wsd"][-1] < shown["expected"]["constant"][-1])
    True
    """
    from matplotlib.ticker import NullLocator

    from lrlab import dynamics

    if len(axes) != 3:
        raise ValueError(f"axes must hold three Axes, got {len(axes)}")
    a = _check.number("sharpness", sharpness, low=0, low_open=True)
    lr = _check.number("lr (for this sharpness)", lr, 0, 2 / a, low_open=True, high_open=True)
    cooldown = _check.number("cooldown", cooldown, 0, 1, low_open=True)
    shape = _check.choice("shape", shape, SHAPES)
    steps = _check.integer("steps", steps, minimum=10)
    schedule = _wsd(steps, cooldown, shape)
    kwargs = {"sharpness": a, "river": river, "noise": noise}
    constant = dynamics.river_valley_sgd(lr, steps, seed=seed, **kwargs)
    cooled = dynamics.river_valley_sgd(lr, steps, schedule=schedule, seed=seed, **kwargs)
    expected = {
        "constant": dynamics.river_valley_moments(lr, steps, **kwargs)["loss"],
        "wsd": dynamics.river_valley_moments(lr, steps, schedule=schedule, **kwargs)["loss"],
    }
    final = final_losses(lr, steps, **kwargs)
    start = steps - max(1, round(cooldown * steps))
    path_ax, loss_ax, final_ax = axes
    for ax in axes:
        ax.clear()
    grey, color = "0.65", plots.COLORS[0]

    # The path: across the valley (y) against the way down the river (x).
    half, right = view if view is not None else (1.2, float(constant[-1, 0]) + 0.2)
    left = float(constant[0, 0]) - 0.2
    xs, ys = np.meshgrid(np.linspace(left, right, 60), np.linspace(-half, half, 60))
    surface = dynamics.river_valley_loss(np.stack([xs, ys], axis=-1), a, river)
    path_ax.contour(xs, ys, surface, levels=12, colors="0.85", linewidths=0.6)
    path_ax.plot(*constant.T, color=grey, lw=0.5, label="constant rate")
    path_ax.plot(*cooled[: start + 1].T, color=color, lw=0.5, label="WSD, stable phase")
    path_ax.plot(*cooled[start:].T, color=plots.COLORS[1], lw=0.8, label="WSD, cooldown")
    path_ax.set(xlim=(left, right), ylim=(-half, half), xlabel="x: down the river")
    path_ax.set(ylabel="y: across the valley", title=f"η = {lr:.3g}, ηa = {lr * a:.2f}")
    path_ax.legend(loc="upper left", fontsize=7)

    # The loss: expected (exact) and of the run drawn.
    t = np.arange(steps + 1)
    # The run's loss as a training log shows it: averaged over the last 20 steps.
    for path, shade in ((constant, grey), (cooled, color)):
        logged = _running_mean(dynamics.river_valley_loss(path, a, river), 20)
        loss_ax.plot(t[19:], logged, color=shade, lw=0.6)
    loss_ax.plot(t, expected["constant"], color="0.3", lw=1.5, label="constant, expected")
    loss_ax.plot(t, expected["wsd"], color=plots.COLORS[1], lw=1.5, label="WSD, expected")
    loss_ax.axvline(start, color="0.5", lw=0.8, ls=":")
    loss_ax.set(yscale="log", ylim=(0.03, 10.0), xlabel="step", ylabel="loss")
    loss_ax.yaxis.set_minor_locator(NullLocator())
    loss_ax.set_title(f"cooldown: last {cooldown:.0%} ({shape})")
    loss_ax.legend(loc="upper right", fontsize=7)

    # The expected final loss against the cooldown's length, per shape.
    for i, name in enumerate(SHAPES):
        final_ax.plot(100 * _FRACTIONS, final[name], "o-", ms=3, color=plots.COLORS[i], label=name)
    final_ax.axhline(final["cosine run"], color="0.4", lw=1, ls="--", label="cosine run")
    final_ax.plot(100 * cooldown, expected["wsd"][-1], "k*", ms=10)
    final_ax.set(xscale="log", xlabel="cooldown (% of the run)", ylabel="expected final loss")
    final_ax.xaxis.set_minor_locator(NullLocator())
    final_ax.set_title("where the run ends")
    final_ax.legend(fontsize=7)
    return {"constant": constant, "wsd": cooled, "expected": expected, "final": final}


def _running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Means of ``window`` consecutive values (one per full window)."""
    sums = np.cumsum(np.r_[0.0, values])
    return (sums[window:] - sums[:-window]) / window


def river_valley_figure(lr: float, cooldown: float, **options):
    """The explorer's drawing function: :func:`draw_river_valley` in a figure of its own.

    Returns
    -------
    matplotlib.figure.Figure
        Three panels side by side, 11 by 3.4 inches.

    Examples
    --------
    >>> len(river_valley_figure(0.15, 0.2).axes)
    3
    """
    fig, axes = plots.subplots(1, 3, width=11.0, height=3.4)
    draw_river_valley(axes, lr, cooldown, **options)
    return fig


def river_valley_explorer(
    lr: float = 0.15,
    cooldown: float = 0.2,
    *,
    scrub: str = "lr",
    frames: int = 10,
    shape: str = "1-sqrt",
    steps: int = 600,
    sharpness: float = 10.0,
    river: float = 0.002,
    noise: float = 1.0,
):
    """Move the rate or the cooldown: live in a kernel, a scrubber in the book.

    In a kernel (see :func:`lrlab.widgets.explorer`) there are sliders for the rate and the
    cooldown's length and a menu of cooldown shapes. On the static page a scrubber moves one
    of them, ``scrub``, the other held at its value here.

    Parameters
    ----------
    lr, cooldown : float
        The rate (below 2 / ``sharpness``) and the cooldown's fraction of the run (in (0, 1]).
    scrub : {"lr", "cooldown"}
        What the page's scrubber moves: ``frames`` rates from 0.1 to 0.95 times 2 /
        ``sharpness``, or ``frames`` cooldown lengths from 2% to 100% of the run (evenly on a
        log scale).
    frames : int
        Frames of the scrubber, 2 to :data:`lrlab.scrubber.MAX_FRAMES`.
    shape, steps, sharpness, river, noise
        As in :func:`draw_river_valley`.

    Returns
    -------
    Scrubber or ipywidgets.VBox
    """
    from lrlab import dynamics

    a = _check.number("sharpness", sharpness, low=0, low_open=True)
    _check.number("lr (for this sharpness)", lr, 0, 2 / a, low_open=True, high_open=True)
    _check.number("cooldown", cooldown, 0, 1, low_open=True)
    scrub = _check.choice("scrub", scrub, ("lr", "cooldown"))
    frames = _check.integer("frames", frames, minimum=2)
    options = {"shape": shape, "steps": steps, "sharpness": a, "river": river, "noise": noise}
    if scrub == "lr":
        values = [float(v) for v in np.linspace(0.1, 0.95, frames) * 2 / a]
        top = max(values)
    else:
        values = [float(v) for v in np.geomspace(0.02, 1.0, frames)]
        top = lr
    # A view that holds every frame: the widest spread and the furthest way down the river.
    far = dynamics.river_valley_moments(top, steps, river=river, sharpness=a)["x"][-1]
    half = 4.0 * np.sqrt(dynamics.stationary_spread(top, a, noise)) + 0.1
    view = (float(max(1.2, half)), float(far) + 0.2)

    def draw(value):
        chosen = {"lr": lr, "cooldown": cooldown, scrub: value}
        return river_valley_figure(chosen["lr"], chosen["cooldown"], view=view, **options)

    return explorer(
        draw,
        values,
        label="stable rate η" if scrub == "lr" else "cooldown (fraction of the run)",
        fmt="{:.3g}" if scrub == "lr" else "{:.0%}",
        start=lr if scrub == "lr" else cooldown,
        alt=(
            "Noisy SGD on a river valley at a constant rate and with a WSD cooldown: the path "
            "across the valley, the loss against the step, and the final loss against the "
            "cooldown's length"
        ),
        live=lambda: _live_river_valley_explorer(lr, cooldown, options),
    )


def _live_river_valley_explorer(lr, cooldown, options):
    import ipywidgets as w

    out = w.Output()
    style = {"description_width": "80px"}
    bound = 2 / options["sharpness"]
    lr_slider = w.FloatSlider(
        value=lr, min=0.02 * bound, max=0.98 * bound, step=0.01 * bound, description="rate",
        readout_format=".3g", style=style,
    )  # fmt: skip
    cooldown_slider = w.FloatSlider(
        value=cooldown, min=0.01, max=1.0, step=0.01, description="cooldown",
        readout_format=".0%", style=style,
    )  # fmt: skip
    shape_menu = w.Dropdown(options=list(SHAPES), value=options["shape"], description="shape")

    def redraw(*_):
        chosen = {**options, "shape": shape_menu.value}
        show_in(out, river_valley_figure(lr_slider.value, cooldown_slider.value, **chosen))

    for control in (lr_slider, cooldown_slider, shape_menu):
        control.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([lr_slider, cooldown_slider, shape_menu]), out])
