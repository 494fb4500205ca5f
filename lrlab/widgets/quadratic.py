"""The quadratic step-size explorer: gradient descent on f(w) = ½(h₁w₁² + h₂w₂²).

In the spirit of Goh's "Why Momentum Really Works" (Distill, 2017): a step-size slider,
with the trajectory, the distance to the minimum per direction, and the per-direction
factor |1 − γh| side by side. Re-exported by :mod:`lrlab.widgets`, where the book and the
tests use it."""

from __future__ import annotations

from typing import Any

import numpy as np

from lrlab import _check, plots
from lrlab.scrubber import explorer, show_in

__all__ = ["draw_quadratic", "quadratic_explorer", "quadratic_figure", "quadratic_panels"]


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
    lr = _check.number("lr (for this h)", lr, 0, 4 * bound, low_open=True)
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
