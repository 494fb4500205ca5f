"""schedules.wsd against the two libraries that ship a warmup-stable-decay schedule.

References, both ``LambdaLR`` multipliers of the base rate, read from their source:

- HF transformers 5.25.0, ``src/transformers/optimization.py``, ``get_wsd_schedule`` and
  ``_get_wsd_scheduler_lambda``: :func:`hf_wsd_factor` below writes that formula out;
- pytorch-optimizer 4.1.0, ``pytorch_optimizer/lr_scheduler/wsd.py``,
  ``get_wsd_scheduler_lambda`` (and its ``get_*_cooldown_lr_ratio`` helpers):
  :func:`pytorch_optimizer_wsd_factor` below.

Each test compares ``schedules.wsd`` with the written-out formula and with the library
itself, stepped as PyTorch steps it (``get_last_lr()`` after ``t`` calls of ``step()``).
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from pytorch_optimizer.lr_scheduler.wsd import get_wsd_schedule as po_get_wsd_schedule
from transformers import get_wsd_schedule as hf_get_wsd_schedule

from lrlab import cli, schedules, sweep
from lrlab.schedules import trace_torch

SHAPES = ["linear", "cosine", "1-sqrt"]
# (lr, total_steps, warmup_steps, decay_steps, end_lr): warm-up or none, a stable phase or
# none (warmup + decay = total), a floor or none, one-step phases.
RUNS = [
    (0.1, 300, 30, 60, 0.0),
    (0.7, 300, 30, 60, 0.007),
    (0.05, 200, 0, 50, 0.001),
    (1.0, 100, 40, 60, 0.1),
    (0.3, 50, 1, 1, 0.0),
]


def hf_wsd_factor(
    step, *, warmup, stable, decay, warmup_type, decay_type, min_lr_ratio, num_cycles=0.5
):
    """HF transformers 5.25.0, optimization.py, ``_get_wsd_scheduler_lambda``, written out:
    the warm-up rises from ``min_lr_ratio``, the decay falls to it, which holds after."""
    if step < warmup:
        p = step / max(1, warmup)
        factor = {
            "linear": p,
            "cosine": 0.5 * (1.0 - math.cos(math.pi * p)),
            "1-sqrt": 1.0 - math.sqrt(1.0 - p),
        }[warmup_type]
        return max(0.0, factor * (1.0 - min_lr_ratio) + min_lr_ratio)
    if step < warmup + stable:
        return 1.0
    if step < warmup + stable + decay:
        p = (step - warmup - stable) / max(1, decay)
        factor = {
            "linear": 1.0 - p,
            "cosine": 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * p)),
            "1-sqrt": 1.0 - math.sqrt(p),
        }[decay_type]
        return max(0.0, factor * (1.0 - min_lr_ratio) + min_lr_ratio)
    return min_lr_ratio


def pytorch_optimizer_wsd_factor(
    step, *, warmup, stable, decay, cooldown_type, min_lr_ratio, num_cycles=0.5
):
    """pytorch-optimizer 4.1.0, lr_scheduler/wsd.py, ``get_wsd_scheduler_lambda``, written
    out: the warm-up rises from 0; only the cosine cooldown falls to ``min_lr_ratio``, the
    linear and 1-sqrt ones fall towards 0; ``min_lr_ratio`` holds after the decay."""
    if step < warmup:
        return step / max(1, warmup)
    if step < warmup + stable:
        return 1.0
    if step < warmup + stable + decay:
        p = (step - warmup - stable) / max(1, decay)
        if cooldown_type == "cosine":
            wave = max(0.0, 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * p)))
            return (1.0 - min_lr_ratio) * wave + min_lr_ratio
        return 1.0 - math.sqrt(p) if cooldown_type == "1-sqrt" else 1.0 - p
    return min_lr_ratio


def _ours(lr, total, warm, decay, end, warmup="linear", cooldown="linear"):
    s = schedules.wsd(
        lr, total, decay_steps=decay, warmup_steps=warm, warmup=warmup, cooldown=cooldown,
        end_lr=end,
    )  # fmt: skip
    return s(np.arange(total + 20))


def assert_close(got, expected, lr):
    """Equal to 1e-12 of the rate (relative, and absolute near zero)."""
    assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * lr)


@pytest.mark.parametrize("warmup", SHAPES)
@pytest.mark.parametrize("cooldown", SHAPES)
@pytest.mark.parametrize("lr, total, warm, decay, end", RUNS)
def test_wsd_equals_hf_transformers_get_wsd_schedule(lr, total, warm, decay, end, warmup, cooldown):
    """With min_lr_ratio = end_lr / lr, every warm-up and decay type, at every step."""
    got = _ours(lr, total, warm, decay, end, warmup, cooldown)
    shape = dict(warmup=warm, stable=total - warm - decay, decay=decay)
    written_out = [
        lr * hf_wsd_factor(t, **shape, warmup_type=warmup, decay_type=cooldown,
                           min_lr_ratio=end / lr)
        for t in range(total + 20)
    ]  # fmt: skip
    assert_close(got, written_out, lr)
    stepped = trace_torch(
        lambda o: hf_get_wsd_schedule(
            o, warm, decay, num_training_steps=total, warmup_type=warmup, decay_type=cooldown,
            min_lr_ratio=end / lr,
        ),
        total + 20,
        lr=lr,
    )  # fmt: skip
    assert_close(got, stepped, lr)


@pytest.mark.parametrize("cooldown", SHAPES)
@pytest.mark.parametrize("lr, total, warm, decay, end", RUNS)
def test_wsd_equals_pytorch_optimizer_where_their_options_overlap(
    lr, total, warm, decay, end, cooldown
):
    """pytorch-optimizer warms up linearly from 0 and decays its linear and 1-sqrt
    cooldowns towards 0: the same schedule where end_lr = 0, or for a cosine cooldown
    without a warm-up. Elsewhere it differs exactly as wsd's docstring says."""
    stable = total - warm - decay
    got = _ours(lr, total, warm, decay, end, "linear", cooldown)
    factors = [
        pytorch_optimizer_wsd_factor(
            t, warmup=warm, stable=stable, decay=decay, cooldown_type=cooldown,
            min_lr_ratio=end / lr,
        )
        for t in range(total + 20)
    ]  # fmt: skip
    written_out = lr * np.asarray(factors)
    stepped = trace_torch(
        lambda o: po_get_wsd_schedule(
            o, warm, stable, decay, min_lr_ratio=end / lr, cooldown_type=cooldown
        ),
        total + 20,
        lr=lr,
    )
    assert_close(stepped, written_out, lr)
    if end == 0.0 or (warm == 0 and cooldown == "cosine"):
        assert_close(got, stepped, lr)
    else:
        # Theirs warms up from 0, ours from end_lr; their linear or 1-sqrt cooldown aims
        # at 0, ours at end_lr, so theirs is lower all through it; the same floor from
        # step total on.
        if warm > 0:
            assert stepped[0] == 0.0 and got[0] == pytest.approx(end, rel=1e-12)
        if cooldown != "cosine":
            cooling = slice(total - decay + 1, total)
            assert np.all(stepped[cooling] < got[cooling])
        assert_close(got[total:], stepped[total:], lr)


@settings(max_examples=40, deadline=None)
@given(
    lr=st.floats(1e-4, 10.0),
    total=st.integers(1, 400),
    warm_fraction=st.floats(0.0, 1.0),
    decay_fraction=st.floats(0.0, 1.0),
    end_fraction=st.floats(0.0, 1.0),
    warmup=st.sampled_from(SHAPES),
    cooldown=st.sampled_from(SHAPES),
)
def test_wsd_rises_holds_lr_falls_and_stays_at_end_lr(
    lr, total, warm_fraction, decay_fraction, end_fraction, warmup, cooldown
):
    """Bounds [end_lr, lr]; non-decreasing through the warm-up, exactly lr while stable,
    non-increasing through the cooldown, exactly end_lr from total_steps on."""
    decay = max(1, round(decay_fraction * total))
    warm = round(warm_fraction * (total - decay))
    end = lr * end_fraction
    s = schedules.wsd(
        lr, total, decay_steps=decay, warmup_steps=warm, warmup=warmup, cooldown=cooldown,
        end_lr=end,
    )  # fmt: skip
    rate = s(np.arange(total + 10))
    slack = 1e-12 * lr
    assert np.all(rate >= end - slack) and np.all(rate <= lr + slack)
    assert np.all(np.diff(rate[: warm + 1]) >= -slack)
    assert np.all(rate[warm : total - decay] == lr)
    assert np.all(np.diff(rate[total - decay :]) <= slack)
    assert np.all(rate[total:] == end)
    assert rate[total - decay] == pytest.approx(lr, rel=1e-12)  # the first cooldown step
    if warm:
        assert rate[0] == pytest.approx(end, rel=1e-12, abs=slack)


def test_wsd_drives_a_pytorch_optimizer_through_to_torch():
    s = schedules.wsd(0.2, 120, decay_steps=30, warmup_steps=10, cooldown="1-sqrt")
    stepped = trace_torch(lambda o: schedules.to_torch(s, o), 130)
    assert stepped.tolist() == [s(t) for t in range(130)]


def test_the_command_line_and_the_sweep_build_wsd():
    parser = argparse.ArgumentParser()
    cli.add_schedule_options(parser)
    argv = ["--schedule", "wsd", "--lr", "0.1", "--decay-steps", "40", "--warmup-steps", "10"]
    args = parser.parse_args([*argv, "--warmup", "cosine", "--cooldown", "1-sqrt"])
    from_cli = cli.schedule_from_args(args, total_steps=200)
    spec = {"name": "wsd", "decay_steps": 2, "warmup_steps": 0.5, "unit": "epoch"}
    from_sweep = sweep.make_schedule(
        {**spec, "warmup": "cosine", "cooldown": "1-sqrt"}, 0.1, 20, 10
    )
    direct = schedules.wsd(
        0.1, 200, decay_steps=40, warmup_steps=10, warmup="cosine", cooldown="1-sqrt"
    )
    assert repr(from_cli) == repr(from_sweep) == repr(direct)
    helps = {action.dest: action.help for action in parser._actions}
    assert "one of {linear, cosine, 1-sqrt}" in helps["schedule_warmup"]
    assert "one of {linear, cosine, 1-sqrt}" in helps["schedule_cooldown"]
