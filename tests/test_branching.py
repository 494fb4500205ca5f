"""Branching cooldowns (lrlab.branching): each branch of one stable run is, bit for bit on the
CPU, the uninterrupted WSD run of its length (lrlab.train.fit with lrlab.schedules.wsd), and
the stable run is the constant-rate run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lrlab import branching, schedules, train
from lrlab.branching import Cooldown

SERIES = ("lr", "loss", "grad_norm", "train_loss", "train_acc", "test_loss", "test_acc")


def net():
    """A small net with the state a resume must restore: BatchNorm statistics and dropout,
    and SGD's momentum buffers."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 32),
        nn.BatchNorm1d(32),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(32, 10),
    )


KWARGS = dict(batch_size=256, seed=3, progress=False)


def test_each_branch_is_the_uninterrupted_wsd_run_of_its_length(digits, tmp_path):
    """Catches a branch that resumes from the wrong checkpoint, a schedule that disagrees with
    the stable phase, or optimizer state lost in the copy: every per-step and per-epoch series
    and the final weights must equal a single uninterrupted fit of the same WSD schedule."""
    cooldowns = [Cooldown(1, 1, "linear"), Cooldown(2, 2, "1-sqrt"), Cooldown(2, 1, "cosine")]
    model = net()
    stable, branches = branching.branch_cooldowns(
        model, digits, 0.05, cooldowns, warmup_steps=3, workdir=tmp_path, **KWARGS
    )
    spe = digits.num_batches("train", 256)
    for cooldown, branch in zip(cooldowns, branches, strict=True):
        schedule = schedules.wsd(
            0.05,
            cooldown.total * spe,
            decay_steps=cooldown.epochs * spe,
            warmup_steps=3,
            cooldown=cooldown.shape,
        )
        alone = net()
        reference = train.fit(alone, digits, schedule, cooldown.total, **KWARGS)
        for name in SERIES:
            assert getattr(branch, name) == getattr(reference, name), (cooldown, name)
        resumed = net()
        torch.manual_seed(99)  # the branch's own checkpoint holds its final weights
        train.fit(
            resumed,
            digits,
            schedule,
            cooldown.total,
            checkpoint=tmp_path / f"branch-{cooldowns.index(cooldown)}.pt",
            resume=True,
            **KWARGS,
        )
        for p, q in zip(alone.state_dict().values(), resumed.state_dict().values(), strict=True):
            assert torch.equal(p, q), cooldown
    assert stable.epochs == 2 and stable.lr[3:] == [0.05] * (len(stable.lr) - 3)


def test_the_stable_run_can_go_on_past_the_last_branch(digits):
    """stable_epochs trains the constant-rate run further: a baseline beside the branches
    equal to the plain constant-rate run (after the same warm-up)."""
    model = net()
    stable, (branch,) = branching.branch_cooldowns(
        model, digits, 0.05, [Cooldown(1, 1)], stable_epochs=3, **KWARGS
    )
    plain = train.fit(net(), digits, 0.05, 3, **KWARGS)
    assert stable.epochs == 3
    for name in SERIES:
        assert getattr(stable, name) == getattr(plain, name), name
    assert branch.lr[-1] > 0 and branch.lr[-1] < 0.05 * 0.5  # 1-sqrt: one step above 0


def test_cooldown_schedule_starts_its_cooldown_at_the_branch_epoch():
    s = branching.cooldown_schedule(0.2, Cooldown(4, 2, "linear"), steps_per_epoch=10)
    rates = s(np.arange(60))
    assert np.all(rates[:41] == 0.2) and rates[41] < 0.2  # the first cooldown step keeps lr
    assert rates[59] == pytest.approx(0.2 / 20)
    assert s.params["total_steps"] == 60 and s.params["decay_steps"] == 20


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((0, 1), ValueError, "^start"),
        ((1, 0), ValueError, "^epochs"),
        ((1, 1, "step"), ValueError, "^shape"),
    ],
)
def test_a_cooldown_refuses_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        Cooldown(*args)


def test_branch_cooldowns_refuses_bad_input(digits):
    with pytest.raises(TypeError, match="^cooldowns"):
        branching.branch_cooldowns(net(), digits, 0.05, [], **KWARGS)
    with pytest.raises(ValueError, match="^stable_epochs"):
        branching.branch_cooldowns(net(), digits, 0.05, [Cooldown(3, 1)], stable_epochs=2)
    with pytest.raises(ValueError, match="^lr"):
        branching.branch_cooldowns(net(), digits, -0.1, [Cooldown(1, 1)])
