"""The quadratic step-size explorer's callbacks are plain functions; test them without a kernel."""

import matplotlib.pyplot as plt
import pytest
from numpy.testing import assert_allclose

from lrlab import dynamics, plots, widgets


@pytest.fixture
def axes():
    fig, axes = plots.subplots(1, 3)
    yield axes
    plt.close(fig)


def test_draw_quadratic_returns_what_it_draws(axes):
    shown = widgets.draw_quadratic(axes, lr=0.15, h=(1.0, 10.0), w0=(1.0, -2.0), steps=12)
    assert_allclose(shown["factors"], [0.85, 0.5])  # |1 − γh| per direction
    assert_allclose(shown["trajectory"], dynamics.gd_quadratic([1.0, 10.0], 0.15, [1.0, -2.0], 12))
    assert shown["max_stable_lr"] == pytest.approx(0.2)
    path = axes[0].get_lines()[0]
    assert_allclose(path.get_xdata(), shown["trajectory"][:, 0])
    assert "converges" in axes[0].get_title()


def test_draw_quadratic_marks_divergence_above_two_over_h_max(axes):
    shown = widgets.draw_quadratic(axes, lr=0.21, steps=30)
    assert not shown["converges"]
    assert shown["factors"][1] == pytest.approx(abs(1 - 0.21 * 10))
    assert "diverges" in axes[0].get_title()
    # The view stays at the start's scale so the diverging path visibly leaves it.
    assert axes[0].get_xlim() == pytest.approx((-1.3, 1.3))


def test_draw_quadratic_factor_panel_shows_the_stability_bound(axes):
    widgets.draw_quadratic(axes, lr=0.05, momentum=0.5)
    factor_ax = axes[2]
    assert factor_ax.get_xscale() == "log"
    assert factor_ax.get_xlabel() == "learning rate"
    (shade,) = factor_ax.patches
    bound = dynamics.max_stable_lr([1.0, 10.0], momentum=0.5)
    assert shade.get_x() == pytest.approx(bound)


def test_draw_quadratic_with_nesterov_uses_its_bound(axes):
    shown = widgets.draw_quadratic(axes, lr=0.1, momentum=0.9, nesterov=True)
    assert shown["max_stable_lr"] == pytest.approx(2 * 1.9 / (2.8 * 10))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"h": (1.0, -1.0)}, "h"), ({"w0": (0.0, 0.0)}, "w0"), ({"lr": -0.1}, "lr")],
)
def test_draw_quadratic_rejects_bad_input(axes, kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        widgets.draw_quadratic(axes, **{"lr": 0.1, **kwargs})


def test_quadratic_panels_has_one_row_per_step_size():
    fig = widgets.quadratic_panels([0.05, 0.19, 0.21], steps=10)
    assert len(fig.axes) == 9
    titles = [fig.axes[i].get_title() for i in (0, 3, 6)]
    assert ["diverges" in t for t in titles] == [False, False, True]
    plt.close(fig)


def test_quadratic_explorer_has_the_controls_and_redraws():
    explorer = widgets.quadratic_explorer(steps=10, lr=0.05)
    lr_slider, momentum_slider, nesterov_box = explorer.children[0].children
    assert lr_slider.description == "lr" and lr_slider.value == pytest.approx(0.05)
    assert momentum_slider.description == "momentum" and nesterov_box.description == "nesterov"
    lr_slider.value = 0.21  # triggers the callback; it must not raise
    nesterov_box.value = True  # momentum 0: Nesterov is ignored rather than an error
    with pytest.raises(ValueError, match="^lr"):
        widgets.quadratic_explorer(lr=10.0)
    plt.close("all")


def test_quadratic_panels_rejects_no_step_sizes():
    with pytest.raises(ValueError, match="^lrs"):
        widgets.quadratic_panels([])
