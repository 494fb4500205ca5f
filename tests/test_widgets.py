"""The schedule explorer's callbacks are plain functions; test them without a kernel."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from lrlab import plots, schedules, widgets


@pytest.mark.parametrize("family", sorted(widgets.SCHEDULE_CONTROLS))
@pytest.mark.parametrize("steps", [10, 1000])
def test_every_family_builds_at_its_defaults(family, steps):
    schedule = widgets.make_schedule(family, steps)
    lr = schedule(np.arange(steps))
    assert schedule.name == family
    assert np.all(np.isfinite(lr)) and np.all(lr >= 0)


def test_every_factory_has_controls():
    assert set(widgets.SCHEDULE_CONTROLS) == set(schedules.FACTORIES)


def test_fractions_become_steps_and_lengths_are_the_run():
    s = widgets.make_schedule("sgdr", 200, first_cycle=0.25, cycle_mult=1)
    assert s.params["first_cycle"] == 50
    assert widgets.make_schedule("cosine", 300).params["total_steps"] == 300
    assert widgets.make_schedule("multistep", 100).params["milestones"] == [50, 75]


def test_make_schedule_rejects_unknown_parameters_and_families():
    with pytest.raises(ValueError, match="unknown parameters"):
        widgets.make_schedule("cosine", 100, warmup=3)
    with pytest.raises(ValueError, match="family must be one of"):
        widgets.make_schedule("linear", 100)
    with pytest.raises(ValueError, match="steps must be"):
        widgets.make_schedule("cosine", 5)


def test_draw_schedule_plots_the_curve():
    fig, ax = plots.subplots()
    schedule = widgets.draw_schedule(ax, "step_decay", 100, logy=True, step_size=0.5)
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), schedule(np.arange(100)))
    assert ax.get_yscale() == "log"
    plt.close(fig)


def test_draw_schedule_shows_the_error_instead_of_raising():
    fig, ax = plots.subplots()
    assert widgets.draw_schedule(ax, "cosine", 100, lr=0.01, min_lr=0.05) is None
    assert "min_lr must be <= lr" in ax.texts[0].get_text()
    plt.close(fig)


def test_explorer_rebuilds_its_sliders_for_the_chosen_family():
    explorer = widgets.schedule_explorer(steps=50, family="cosine")
    picker = explorer.children[0].children[0]
    sliders = explorer.children[1]
    assert [c.description for c in sliders.children] == ["lr", "min_lr"]
    picker.value = "cyclic"
    names = [c.description for c in sliders.children]
    assert names == list(widgets.SCHEDULE_CONTROLS["cyclic"])
    plt.close("all")


def test_gallery_has_one_panel_per_family():
    fig = widgets.schedule_gallery(100)
    assert len(fig.axes) == len(widgets.SCHEDULE_CONTROLS)
    plt.close(fig)
