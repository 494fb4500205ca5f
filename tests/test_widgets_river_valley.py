"""The river-valley explorer's callbacks are plain functions; test them without a kernel."""

import os

import matplotlib.pyplot as plt
import numpy as np
import pytest
from numpy.testing import assert_allclose

from lrlab import dynamics, plots, schedules, widgets
from lrlab.scrubber import EXPLORERS_ENV


@pytest.fixture
def axes():
    fig, axes = plots.subplots(1, 3)
    yield axes
    plt.close(fig)


def test_draw_river_valley_draws_the_runs_it_returns(axes):
    shown = widgets.draw_river_valley(axes, 0.12, 0.25, steps=200, seed=4)
    wsd = schedules.wsd(1.0, 200, decay_steps=50, cooldown="1-sqrt")
    run = dynamics.river_valley_sgd(0.12, 200, schedule=wsd, noise=1.0, seed=4)
    assert_allclose(shown["wsd"], run)
    expected = dynamics.river_valley_moments(0.12, 200, schedule=wsd, noise=1.0)["loss"]
    assert_allclose(shown["expected"]["wsd"], expected)
    constant, stable, cooling = axes[0].get_lines()[:3]
    assert_allclose(constant.get_xdata(), shown["constant"][:, 0])
    assert_allclose(cooling.get_xdata(), run[150:, 0])  # the cooldown's part, in its colour
    assert "20%" not in axes[1].get_title() and "25%" in axes[1].get_title()


def test_the_final_losses_are_the_moments_of_each_schedule():
    """The one vectorised call equals one call per schedule."""
    out = widgets.final_losses(0.1, 300, [0.1, 0.5], sharpness=8.0, river=0.005, noise=0.5)
    for shape in ("linear", "1-sqrt", "cosine"):
        for i, fraction in enumerate((0.1, 0.5)):
            wsd = schedules.wsd(1.0, 300, decay_steps=round(300 * fraction), cooldown=shape)
            alone = dynamics.river_valley_moments(
                0.1, 300, schedule=wsd, sharpness=8.0, river=0.005, noise=0.5
            )["loss"][-1]
            assert out[shape][i] == pytest.approx(alone, rel=1e-12)
    cosine = dynamics.river_valley_moments(
        0.1, 300, schedule=schedules.cosine(1.0, 300), sharpness=8.0, river=0.005, noise=0.5
    )["loss"][-1]
    assert out["cosine run"] == pytest.approx(cosine, rel=1e-12)


def test_a_cooldown_ends_below_the_constant_rate_and_marks_itself(axes):
    shown = widgets.draw_river_valley(axes, 0.15, 0.2, steps=300)
    assert shown["expected"]["wsd"][-1] < 0.5 * shown["expected"]["constant"][-1]
    (star,) = [line for line in axes[2].get_lines() if line.get_marker() == "*"]
    assert star.get_xdata()[0] == pytest.approx(20.0)
    assert star.get_ydata()[0] == pytest.approx(shown["expected"]["wsd"][-1])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"lr": 0.2}, "lr"), ({"cooldown": 0.0}, "cooldown"), ({"shape": "step"}, "shape")],
)
def test_draw_river_valley_rejects_bad_input(axes, kwargs, name):
    arguments = {"lr": 0.1, "cooldown": 0.2, **kwargs}
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        widgets.draw_river_valley(axes, **arguments)


def test_the_static_explorer_is_a_scrubber_over_one_control(monkeypatch):
    monkeypatch.setitem(os.environ, EXPLORERS_ENV, "static")
    scrub = widgets.river_valley_explorer(scrub="cooldown", frames=2, steps=50)
    assert len(scrub.frames) == 2 and scrub.texts == ("2%", "100%")
    with pytest.raises(ValueError, match="^scrub"):
        widgets.river_valley_explorer(scrub="noise")
    plt.close("all")


def test_the_live_explorer_has_the_controls_and_redraws():
    explorer = widgets.river_valley_explorer(steps=50)
    rate, cooldown, shape = explorer.children[0].children
    assert rate.description == "rate" and rate.value == pytest.approx(0.15)
    assert cooldown.description == "cooldown" and shape.description == "shape"
    cooldown.value = 0.5  # triggers the callback; it must not raise
    shape.value = "cosine"
    assert np.isclose(rate.max, 0.98 * 0.2)
    plt.close("all")
