"""The race experiment (lrlab.experiments.race): its tuning design, its schedules against
their closed forms, its picks and times to target, and a tiny run end to end, stored with
provenance, whose training batches are the ones its work counts."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from lrlab import data, experiments, lrfind
from lrlab.experiments import TRAIN_EXAMPLES, race


def test_every_family_is_tuned_over_the_same_rates_log_evenly_around_the_suggestion():
    """AlgoPerf's rule: the same number of trials from the same search space; a family with
    a shape parameter spends its trials on it, cycling through its values."""
    search = {"trials": 6, "factor": 4.0}
    plain = race.trial_points({}, 0.1, search)
    shaped = race.trial_points({"shape": {"gamma": [0.1, 0.3]}}, 0.1, search)
    rates = np.array([lr for lr, _ in plain])
    assert [lr for lr, _ in shaped] == rates.tolist() and all(s == {} for _, s in plain)
    assert [s["gamma"] for _, s in shaped] == [0.1, 0.3] * 3
    steps = np.diff(np.log(rates))
    np.testing.assert_allclose(steps, np.log(4.0) / 3)  # evenly spread in log rate
    assert 0.1 / 4 < rates[0] and rates[-1] < 0.1 * 4  # inside [s / 4, 4 s], centred on s
    np.testing.assert_allclose(np.sqrt(rates[0] * rates[-1]), 0.1)
    with pytest.raises(ValueError, match="at most one shape parameter"):
        race.trial_points({"shape": {"a": [1], "b": [2]}}, 0.1, search)


@pytest.mark.parametrize("family", sorted(race.FAMILIES))
def test_each_family_is_the_schedule_its_closed_form_gives(family):
    """Each entrant at peak 0.2 over 100 steps against its formula written out here (the
    shapes at their first value)."""
    spec = race.FAMILIES[family]
    shape = {k: v[0] for k, v in (spec.get("shape") or {}).items()}
    s = race.race_schedule(spec, 0.2, 100, shape)
    t = np.arange(100)
    expected = {
        "constant": np.full(100, 0.2),
        "step": 0.2 * np.where(t < 50, 1, np.where(t < 75, 0.1, 0.01)),
        "cosine": 0.1 * (1 + np.cos(np.pi * t / 100)),
        "linear": 0.2 * (1 - t / 100),
        "wsd": np.where(t < 80, 0.2, 0.2 * (1 - (t - 80) / 20)),
        "gaussian-peak": 0.2 * np.exp(-((t / 99 - 0.5) ** 2) * 4 * np.log(100)),
    }
    if family == "one-cycle":  # up from 0.2 / 25 to the peak at 15% of the run, then down
        values = s(t)
        assert values[0] == pytest.approx(0.2 / 25) and values.max() == pytest.approx(0.2)
        assert np.argmax(values) == round(0.15 * 100) - 1
        assert values[-1] == pytest.approx(0.2 / 25 / 1e4)
    else:
        np.testing.assert_allclose(s(t), expected[family], rtol=1e-9, atol=1e-12)


def _trial(accuracies, loss, diverged=None, objective=1.0):
    return {
        "runs": [
            {"val_acc": [0.1, a], "val_loss": loss, "objective": objective,
             "diverged_at_step": diverged}
            for a in accuracies
        ]
    }  # fmt: skip


def test_pick_is_the_best_mean_validation_accuracy_then_the_lowest_loss():
    trials = [_trial([0.9, 0.8], 0.3), _trial([0.9, 0.9], 0.5), _trial([0.9, 0.9], 0.4)]
    assert race.pick(trials) == 2
    # a trial with a diverged run is never the pick, whatever its other runs did
    trials.append(_trial([1.0, 1.0], 0.1, diverged=12))
    assert race.pick(trials) == 2
    objectives = [_trial([0.5], 0.1, objective=v) for v in (0.3, 0.2, math.nan, 0.25)]
    assert race.pick(objectives, by="objective") == 1
    with pytest.raises(ValueError, match="by must be"):
        race.pick(trials, by="loss")


def test_time_to_target_is_the_first_epoch_at_the_target_and_the_median_over_seeds():
    assert race.steps_to_target([0.5, 0.79, 0.8, 0.7], 0.8, 25) == 75
    assert race.steps_to_target([0.5, 0.79], 0.8, 25) == math.inf
    runs = [{"val_acc": acc} for acc in ([0.9], [0.5, 0.9], [0.5, 0.5, 0.9])]
    slow = [{"val_acc": [0.5, 0.5, 0.5]}] * 2 + [{"val_acc": [0.9]}]
    result = {
        "workloads": {"w": {"target": 0.8, "steps_per_epoch": 10, "seeds": {"a": runs, "b": slow}}}
    }
    assert race.race_times(result) == {"a": {"w": 20.0}, "b": {"w": math.inf}}
    assert race.race_times(result, {"w": 0.95}) == {"a": {"w": math.inf}, "b": {"w": math.inf}}


def test_validation_split_is_the_last_fifth_of_the_training_set():
    assert race.val_size(TRAIN_EXAMPLES["digits"], 0.2) == 269
    assert race.val_size(TRAIN_EXAMPLES["mnist1d"], 0.2) == 800
    assert race.val_size(2, 0.01) == 1 and race.val_size(2, 0.99) == 1


@pytest.fixture
def counted(monkeypatch):
    """Every training example fit and the range test train on, and the range tests' unplanned
    (early-stop) shortfall."""
    batches, range_test, drawn, unplanned = data.Dataset.batches, lrfind.range_test, [], []

    def counting(self, split, batch_size, shuffle=True, augment=True, seed=0):
        for x, y in batches(self, split, batch_size, shuffle, augment, seed):
            if split == "train" and shuffle and augment:
                drawn.append(len(y))
            yield x, y

    def stopping(model, dataset, *args, **options):
        start = len(drawn)
        result = range_test(model, dataset, *args, **options)
        batch = result.config["batch_size"]
        unplanned.append((result.num_iter - len(result.lrs)) * batch)
        # the range test skips (does not train on) a short last batch the loader drew
        if dataset.size("train") >= batch:
            drawn[start:] = [n for n in drawn[start:] if n == batch]
        return result

    monkeypatch.setattr(data.Dataset, "batches", counting)
    monkeypatch.setattr(lrfind, "range_test", stopping)
    return drawn, unplanned


@pytest.mark.slow
def test_a_tiny_race_runs_stores_with_provenance_and_counts_its_work(
    tmp_path, monkeypatch, counted
):
    """Catches a result that does not survive JSON, a seed run not at its family's pick, a
    target that is not the median of the tuned accuracies, splits that overlap, and a work
    count that is not the batches drawn."""
    tiny = race.RACE.config("smoke")
    tiny["workloads"] = {k: v for k, v in tiny["workloads"].items() if "digits" in k}
    tiny["families"] = {k: race.FAMILIES[k] for k in ("constant", "linear", "wsd")}
    monkeypatch.setitem(experiments.EXPERIMENTS, "race", dataclasses.replace(race.RACE, base=tiny))
    record = experiments.store("race", root=tmp_path, progress=False, jobs=1)
    drawn, unplanned = counted
    assert race.race_work(tiny) - sum(unplanned) == sum(drawn) > 0
    assert record["provenance"]["command"] == "lrlab reproduce race --scale cpu"
    result = record["result"]
    assert result["families"] == ["constant", "linear", "wsd"] and result["cpu_s"] > 0
    for name, workload in result["workloads"].items():
        sizes = workload["sizes"]
        assert sizes["train"] + sizes["val"] == TRAIN_EXAMPLES["digits"]
        assert sizes["test"] == 450
        for family, trials in workload["trials"].items():
            assert len(trials) == 2 and all(len(t["runs"]) == 1 for t in trials)
            seeds, picked = workload["seeds"][family], trials[workload["picks"][family]]
            assert [r["seed"] for r in seeds] == [0, 1]
            assert all((r["lr"], r["shape"]) == (picked["lr"], picked["shape"]) for r in seeds)
            epochs = tiny["workloads"][name]["epochs"]  # a validation accuracy each
            assert all(len(r["val_acc"]) == epochs and 0 <= r["test_acc"] <= 1 for r in seeds)
        tuned = [
            np.mean([r["val_acc"][-1] for r in trials[workload["picks"][f]]["runs"]])
            for f, trials in workload["trials"].items()
        ]
        assert workload["target"] == pytest.approx(np.median(tuned))
        assert ("objective_seeds" in workload) == (name == "digits-logreg")
    loaded = experiments.load_or_run("race", root=tmp_path)
    assert loaded["source"] == "stored"
