"""The adaptive chapter's experiments: Adam's edge-of-stability runs and the schedule-free
comparison (its schedules, its validation split, its tuning, its bill of work)."""

from __future__ import annotations

import numpy as np
import pytest

from lrlab import curvature, data
from lrlab.experiments import Replace, adaptive, merge, no_schedule

WARM = {"warmup_epochs": 2, "wsd_decay_fraction": 0.25}


def test_cosine_family_is_a_linear_warmup_then_the_closed_form_cosine():
    """η_t = η t/W during the warm-up, then η(1 + cos(π (t − W)/(T − W)))/2 (Loshchilov &
    Hutter 2017), written out here."""
    per_epoch, epochs, lr = 5, 8, 0.3
    schedule, warmup = no_schedule.family_schedule(
        {"schedule": "cosine"}, lr, per_epoch, epochs, WARM
    )
    t = np.arange(per_epoch * epochs)
    w, total = 2 * per_epoch, per_epoch * epochs
    expected = np.where(t < w, lr * t / w, lr * (1 + np.cos(np.pi * (t - w) / (total - w))) / 2)
    np.testing.assert_allclose(schedule(t), expected, rtol=1e-12, atol=1e-15)
    assert warmup == 0


def test_wsd_family_warms_up_holds_and_cools_down_linearly_to_zero():
    per_epoch, epochs, lr = 4, 10, 0.2
    schedule, warmup = no_schedule.family_schedule({"schedule": "wsd"}, lr, per_epoch, epochs, WARM)
    t = np.arange(per_epoch * epochs)
    w, d, total = 8, 10, 40
    expected = np.select([t < w, t < total - d], [lr * t / w, lr], lr * (1 - (t - (total - d)) / d))
    np.testing.assert_allclose(schedule(t), expected, rtol=1e-12, atol=1e-15)
    assert warmup == 0


def test_schedule_free_family_is_a_constant_rate_and_the_optimizers_own_warmup():
    schedule, warmup = no_schedule.family_schedule({"schedule": "constant"}, 1.5, 4, 10, WARM)
    assert schedule(np.arange(40)).tolist() == [1.5] * 40 and warmup == 8
    with pytest.raises(ValueError, match="schedule must be one of"):
        no_schedule.family_schedule({"schedule": "linear"}, 1.5, 4, 10, WARM)


def test_validation_split_sizes_are_those_of_the_holdout(digits):
    held = data.holdout(digits, 0.25)
    sizes = no_schedule.split_sizes({"data": "digits", "validation_fraction": 0.25})
    assert sizes == (held.size("train"), held.size("test"))


def test_adam_edge_runs_record_both_sharpnesses_against_adams_threshold():
    config = merge(adaptive.ADAM_EDGE.config("smoke"), {"beta1s": [0.9, 0.5], "steps": 6})
    out = adaptive.adam_edge_run(config)
    assert [(r["lr"], r["beta1"]) for r in out["runs"]] == [(0.01, 0.9), (0.01, 0.5)]
    for run in out["runs"]:
        one = run["seeds"][0]
        assert one["steps"] == [0, 2, 4] and len(one["loss"]) == 6
        assert len(one["preconditioned_sharpness"]) == len(one["sharpness"]) == 3
        beta = run["beta1"]
        assert one["threshold"] == pytest.approx((2 + 2 * beta) / ((1 - beta) * 0.01))
        assert one["threshold"] == curvature.stability_threshold(0.01, optimizer="adam", beta1=beta)
        assert one["hvps"] > 0 and one["cpu_s"] > 0


def test_tuning_never_picks_a_rate_that_diverges():
    """A diverged run scores chance; the coarse stage picks the best mean accuracy."""
    family = {"sgd/cosine": no_schedule.SCHEDULE_FREE.base["families"]["sgd/cosine"]}
    config = merge(
        no_schedule.SCHEDULE_FREE.config("smoke"),
        {"families": Replace(family), "tuning": {"coarse": [0.03, 1e4]}, "seeds": [0, 1]},
    )
    out = no_schedule.schedule_free_run(config)
    tuned = out["tuning"]["sgd/cosine"]
    assert tuned["coarse"]["lrs"] == [0.03, 1e4] and tuned["lr"] == 0.03
    assert tuned["coarse"]["accuracy"][1] == [0.1]  # chance, for the diverged run
    assert [run["seed"] for run in out["final"]["sgd/cosine"]] == [0, 1]
    assert out["split"] == {"train": 3000, "validation": 1000}


def test_work_counts_every_training_example_the_experiments_draw(monkeypatch):
    """Counted independently: every example of every shuffled training batch drawn
    (BatchNorm recalibration and evaluation passes are not training)."""
    batches, drawn = data.Dataset.batches, []

    def counting(self, split, batch_size, shuffle=True, augment=True, seed=0):
        for x, y in batches(self, split, batch_size, shuffle, augment, seed):
            if split == "train" and shuffle:
                drawn.append(len(y))
            yield x, y

    monkeypatch.setattr(data.Dataset, "batches", counting)
    for exp in (*adaptive.EXPERIMENTS, *no_schedule.EXPERIMENTS):
        drawn.clear()
        config = exp.config("smoke")
        exp.run(config, device="cpu", data_root="data/cache", progress=False, jobs=1)
        assert sum(drawn) == exp.work(config), exp.name


def test_schedule_free_configs_keep_the_same_tuning_budget_for_every_family():
    for scale in ("classroom", "cpu", "paper"):
        config = no_schedule.SCHEDULE_FREE.config(scale)
        assert len(config["families"]) == 6 and len(config["seeds"]) >= 3
        assert max(config["horizons"], default=0) < config["epochs"]
    assert len(no_schedule.SCHEDULE_FREE.config("cpu")["seeds"]) >= 10
