"""schedules.from_spec, the one builder behind the command line, the sweep and the widgets.

The reference is the factory called directly with the arguments the spec means; the
front ends are checked to build exactly what from_spec builds.
"""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from lrlab import cli, schedules, sweep, widgets
from lrlab.schedules import SpecError, from_spec

T = np.arange(400)

#: Every factory's parameters in a typical spec (its rate comes from lr = 0.1), and the
#: direct call they mean with total_steps = 300.
TYPICAL = {
    "constant": ({}, lambda: schedules.constant(0.1)),
    "step_decay": ({"step_size": 70, "gamma": 0.5}, lambda: schedules.step_decay(0.1, 70, 0.5)),
    "multistep": ({"milestones": [100, 250]}, lambda: schedules.multistep(0.1, [100, 250])),
    "exponential": ({"gamma": 0.99}, lambda: schedules.exponential(0.1, 0.99)),
    "inverse_time": ({"decay_rate": 0.02}, lambda: schedules.inverse_time(0.1, 0.02)),
    "polynomial": ({"power": 2.0}, lambda: schedules.polynomial(0.1, 300, 2.0)),
    "cosine": ({"min_lr": 0.001}, lambda: schedules.cosine(0.1, 300, 0.001)),
    "sgdr": ({"first_cycle": 30, "cycle_mult": 2}, lambda: schedules.sgdr(0.1, 30, 2)),
    "cyclic": (
        {"base_lr": 0.001, "step_size_up": 40, "step_size_down": 20, "mode": "triangular2"},
        lambda: schedules.cyclic(0.001, 0.1, 40, 20, "triangular2"),
    ),
    "one_cycle": (
        {"pct_start": 0.25, "three_phase": True},
        lambda: schedules.one_cycle(0.1, 300, 0.25, three_phase=True),
    ),
    "gaussian_peak": ({"min_lr": 1e-4}, lambda: schedules.gaussian_peak(0.1, 300, 1e-4)),
    "laplacian_peak": (
        {"start_lr": 0.01},
        lambda: schedules.laplacian_peak(0.1, 300, start_lr=0.01),
    ),
    "wsd": (
        {"decay_steps": 60, "warmup_steps": 20, "cooldown": "cosine"},
        lambda: schedules.wsd(0.1, 300, decay_steps=60, warmup_steps=20, cooldown="cosine"),
    ),
}


def same_schedule(got, expected):
    """The same factory, arguments and rates, bit for bit (both are one computation)."""
    assert repr(got) == repr(expected)
    assert np.array_equal(got(T), expected(T))


def test_every_factory_has_a_typical_spec_here():
    assert set(TYPICAL) == set(schedules.FACTORIES)


@pytest.mark.parametrize("name", sorted(TYPICAL))
def test_from_spec_is_the_direct_factory_call(name):
    params, direct = TYPICAL[name]
    same_schedule(from_spec({"name": name, **params}, lr=0.1, total_steps=300), direct())
    # The same parameters as options, and the spec given as a name.
    same_schedule(from_spec(name, lr=0.1, total_steps=300, **params), direct())


def _argv(name: str, params: dict) -> list[str]:
    argv = ["--schedule", name, "--lr", "0.1"]
    for key, value in params.items():
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value).lower()
        argv += [f"--{key.replace('_', '-')}", text]
    return argv


@pytest.mark.parametrize("name", sorted(TYPICAL))
def test_the_command_line_the_sweep_and_from_spec_build_the_same_schedule(name):
    """Catches a front end that builds its own schedules and drifts from the others."""
    params, direct = TYPICAL[name]
    parser = argparse.ArgumentParser()
    cli.add_schedule_options(parser)
    from_cli = cli.schedule_from_args(parser.parse_args(_argv(name, params)), total_steps=300)
    from_sweep = sweep.make_schedule({"name": name, **params}, 0.1, steps_per_epoch=30, epochs=10)
    same_schedule(from_cli, direct())
    same_schedule(from_sweep, direct())


def test_the_widgets_build_what_from_spec_builds():
    values = {"lr": 0.1, "decay_steps": 0.2, "warmup_steps": 0.05, "end_lr": 1e-3}
    got = widgets.make_schedule("wsd", 300, warmup="1-sqrt", cooldown="linear", **values)
    expected = from_spec(
        "wsd", lr=0.1, total_steps=300, decay_steps=60, warmup_steps=15, warmup="1-sqrt",
        cooldown="linear", end_lr=1e-3,
    )  # fmt: skip
    same_schedule(got, expected)
    same_schedule(widgets.make_schedule("sgdr", 300, first_cycle=0.1), from_spec(
        "sgdr", lr=0.1, first_cycle=30, cycle_mult=2, min_lr=1e-4, peak_decay=1.0
    ))  # fmt: skip


def test_epochs_multiply_every_step_parameter_and_round_to_whole_steps():
    cases = [
        ({"name": "step_decay", "step_size": 3}, schedules.step_decay(0.1, 30)),
        ({"name": "multistep", "milestones": [2, 5]}, schedules.multistep(0.1, [20, 50])),
        ({"name": "sgdr", "first_cycle": 2}, schedules.sgdr(0.1, 20)),
        (
            {"name": "cyclic", "base_lr": 0.0, "step_size_up": 1, "step_size_down": 2},
            schedules.cyclic(0.0, 0.1, 10, 20),
        ),
        ({"name": "cosine", "total_steps": 8}, schedules.cosine(0.1, 80)),
        (
            {"name": "wsd", "decay_steps": 2, "warmup_steps": 1},
            schedules.wsd(0.1, 100, decay_steps=20, warmup_steps=10),
        ),
    ]
    for spec, expected in cases:
        got = from_spec({**spec, "unit": "epoch"}, lr=0.1, total_steps=100, steps_per_epoch=10)
        same_schedule(got, expected)
    # 0.29 epochs of 100 steps is 28.999999999999996 steps: rounded, not truncated.
    spec = {"name": "step_decay", "step_size": 0.29, "unit": "epoch"}
    assert from_spec(spec, lr=0.1, steps_per_epoch=100).params["step_size"] == 29
    # Counted in steps, a step parameter is passed on as it is (and checked by the factory).
    with pytest.raises(TypeError, match="schedule step_decay: step_size must be an integer"):
        from_spec({"name": "step_decay", "step_size": 2.5}, lr=0.1)


def test_rates_as_ratios_of_lr_and_lr_filling_max_lr():
    same_schedule(
        from_spec({"name": "cosine", "min_lr_ratio": 0.01}, lr=0.5, total_steps=300),
        schedules.cosine(0.5, 300, min_lr=0.005),
    )
    same_schedule(
        from_spec({"name": "cyclic", "base_lr_ratio": 0.1, "step_size_up": 5}, lr=0.5),
        schedules.cyclic(0.05, 0.5, 5),
    )
    same_schedule(from_spec("one_cycle", lr=0.5, total_steps=300), schedules.one_cycle(0.5, 300))
    # A spec's own total_steps wins over the run's.
    same_schedule(
        from_spec({"name": "cosine", "total_steps": 50}, lr=0.5, total_steps=300),
        schedules.cosine(0.5, 50),
    )


def test_warmup_steps_prepends_a_warmup_and_total_steps_includes_it():
    got = from_spec({"name": "cosine", "warmup_steps": 30}, lr=0.1, total_steps=300)
    same_schedule(got, schedules.warmup(schedules.cosine(0.1, 270), 30))
    assert got(300) == 0.0  # the cosine ends with the run
    got = from_spec({"name": "multistep", "milestones": [10], "warmup_steps": 2, "unit": "epoch"},
                    lr=0.1, steps_per_epoch=10)  # fmt: skip
    same_schedule(got, schedules.warmup(schedules.multistep(0.1, [100]), 20))
    # No warm-up asked for: the schedule itself. wsd has a warm-up of its own.
    same_schedule(from_spec("cosine", lr=0.1, total_steps=300, warmup_steps=0),
                  schedules.cosine(0.1, 300))  # fmt: skip
    assert from_spec("wsd", lr=0.1, total_steps=300, decay_steps=9, warmup_steps=3).name == "wsd"
    with pytest.raises(ValueError, match=r"schedule cosine: warmup_steps must be < total_steps"):
        from_spec("cosine", lr=0.1, total_steps=30, warmup_steps=30)


@pytest.mark.parametrize(
    "spec, kwargs, error, message",
    [
        ("cosine_annealing", {}, ValueError, "schedule name must be one of"),
        ({"lr": 0.1}, {}, ValueError, "a mapping with 'name'"),
        ({"name": "cosine", "gamma": 0.3}, {}, SpecError, "cosine has no parameter 'gamma'"),
        ({"name": "cosine", "unit": "day"}, {}, ValueError, "cosine: unit must be 'step' or"),
        ("step_decay", {}, SpecError, "schedule step_decay needs step_size"),
        ("cosine", {"total_steps": None}, SpecError, "schedule cosine needs total_steps"),
        ({"name": "cosine", "lr": 0.3}, {}, SpecError, "cosine: lr is set by the run's lr"),
        ({"name": "cosine", "min_lr": 0.1}, {"min_lr": 0.2}, SpecError, "min_lr is set twice"),
        (
            {"name": "cosine", "min_lr": 0.1, "min_lr_ratio": 0.5},
            {},
            SpecError,
            "min_lr and min_lr_ratio both set it",
        ),
        ({"name": "cosine", "min_lr_ratio": 0.5}, {"lr": None}, SpecError, "ratio needs lr"),
        ({"name": "cosine", "min_lr": 0.5}, {}, ValueError, "schedule cosine: min_lr must be <="),
        ("cosine", {"steps_per_epoch": 0}, ValueError, "steps_per_epoch must be an integer >= 1"),
        ("cosine", {"total_steps": 2.5}, TypeError, "schedule cosine: total_steps must be an int"),
    ],
)
def test_bad_specs_name_the_schedule_and_the_parameter(spec, kwargs, error, message):
    kwargs = {"lr": 0.1, "total_steps": 100, **kwargs}
    with pytest.raises(error, match=message):
        from_spec(spec, **kwargs)


def test_a_spec_error_can_be_worded_with_a_front_ends_name_for_the_parameter():
    with pytest.raises(SpecError) as caught:
        from_spec("step_decay", lr=0.1)
    assert caught.value.schedule == "step_decay" and caught.value.parameter == "step_size"
    assert caught.value.naming("--step-size") == "schedule step_decay needs --step-size"


def test_the_command_line_names_its_options_in_errors(capsys):
    argv = ["train", "--schedule", "one_cycle", "--lr", "0.1", "--max-lr", "0.2"]
    assert cli.main(argv) == 2
    assert "one_cycle: --max-lr is set by the run's lr" in capsys.readouterr().err


def test_rate_at_is_a_float_and_refuses_what_is_not_a_rate():
    s = schedules.cosine(0.1, 100)
    assert schedules.rate_at(s, np.int64(50)) == s(50) and type(schedules.rate_at(s, 50)) is float
    for bad in (float("nan"), float("inf"), -1e-3):
        with pytest.raises(ValueError, match=r"schedule\(7\) must be a finite rate >= 0"):
            schedules.rate_at(lambda step, bad=bad: bad, 7)
