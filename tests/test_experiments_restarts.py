"""The restarts chapter's experiments (lrlab.experiments.restarts): each run end to end at a
tiny size, stored with provenance and read back; snapshot ensembles scored the way Huang et
al. (2017, section 3) score them, the ensemble of the *last* m snapshots; what a collapsed
run is; and runs that diverge kept and flagged, not lost."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from lrlab import experiments
from lrlab.experiments import merge
from lrlab.experiments.restarts import common, snapshots

TINY = {
    "clr": {"epochs": 1, "step_size_epochs": 1, "exp_range_halving_epochs": 1},
    "sgdr": {"epochs": 3, "first_cycle_epochs": 1},
    "snapshot-ensembles": {"epochs": 2, "cycles": 2, "sharpness": {"examples": 64}},
}


def _tiny(name: str, monkeypatch, **changes):
    """The experiment ``name`` at a tiny size, registered under its name for this test."""
    exp = experiments.get(name)
    tiny = {**TINY[name], "seeds": [0, 1], "range_test": {"num_iter": 60}, **changes}
    exp = dataclasses.replace(exp, base=merge(exp.base, tiny))
    monkeypatch.setitem(experiments.EXPERIMENTS, name, exp)
    return exp


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY))
def test_each_experiment_runs_stores_with_provenance_and_loads_back(name, tmp_path, monkeypatch):
    """Catches an experiment whose result does not survive JSON, lacks provenance, loses a
    seed of an arm, or whose ensembles have the wrong number of members."""
    exp = _tiny(name, monkeypatch)
    record = experiments.store(name, root=tmp_path, progress=False, jobs=1)
    assert record["config"] == exp.config() and record["config"]["seeds"] == [0, 1]
    assert record["provenance"]["command"] == f"lrlab reproduce {name} --scale cpu"
    result = record["result"]
    assert 0 < result["bounds"]["base_lr"] < result["bounds"]["max_lr"]
    assert result["cpu_time_s"] > 0 and result["num_classes"] == 10
    if name == "clr":
        runs = result["runs"]
        assert list(runs) == ["constant", "step", "triangular", "triangular2", "exp_range"]
        assert all([r["seed"] for r in seeds] == [0, 1] for seeds in runs.values())
        assert all(len(r["test_acc"]) == 1 for seeds in runs.values() for r in seeds)
    elif name == "sgdr":
        assert result["cycle_epochs"] == [1, 3]
        assert result["peak"] == pytest.approx(0.5 * result["bounds"]["max_lr"])
        assert list(result["runs"]) == ["sgdr", "step"]
        assert all(len(r["test_acc"]) == 3 for seeds in result["runs"].values() for r in seeds)
    else:
        assert list(result["arms"]) == ["peak=1", "peak=0.5"]
        for arm in result["arms"].values():
            assert [r["seed"] for r in arm["snapshot"]] == [r["seed"] for r in arm["single"]]
            for run in arm["snapshot"]:
                assert run["snapshot_epochs"] == result["cycle_epochs"] == [1, 2]
                assert len(run["lambda_max"]) == len(run["last_m_acc"]) == 2
        for group in ("m_times_cost", "equal_cost"):
            assert [g["ensemble"]["k"] for g in result["independent"][group]] == [[1, 2]] * 2
        first = result["independent"]["m_times_cost"][0]
        assert first["runs"][0] == result["arms"]["peak=0.5"]["single"][0]  # trained once


@pytest.mark.slow
def test_snapshots_are_scored_as_the_ensembles_of_the_last_m(tmp_path, monkeypatch):
    """Huang et al. average the last m snapshots: the ensemble of one is the final snapshot
    (the first-k scoring of the old experiment made it the weakest, the first), and the
    ensemble of all M is every snapshot's; snapshots get better as training goes on, so the
    last-m ensembles of few members must not start from the first one."""
    _tiny("snapshot-ensembles", monkeypatch, epochs=3, cycles=3, seeds=[0])
    result = experiments.run("snapshot-ensembles", "cpu", jobs=1, data_root=tmp_path)["result"]
    for arm in result["arms"].values():
        run = arm["snapshot"][0]
        assert run["last_m_acc"][0] == run["snapshot_acc"][-1]
        assert run["last_m_loss"][0] == run["snapshot_loss"][-1]
        assert run["snapshot_acc"][-1] == pytest.approx(run["test_acc"][-1], abs=1e-3)  # the model
        assert run["snapshot_epochs"] == [1, 2, 3] and len(run["last_m_acc"]) == 3
        assert all(math.isfinite(v) and v > 0 for v in [run["lambda_init"], *run["lambda_max"]])


@pytest.mark.slow
def test_a_diverging_run_is_flagged_collapsed_and_the_experiment_finishes(tmp_path, monkeypatch):
    """A peak far beyond stability makes runs diverge; they are stored, flagged, and do not
    stop the experiment (no snapshot, no sharpness measurement crashes on NaN weights)."""
    monkeypatch.setattr(common, "bounds", lambda config, data: {"base_lr": 0.01, "max_lr": 1e4})
    _tiny("snapshot-ensembles", monkeypatch, seeds=[0])
    result = experiments.run("snapshot-ensembles", "cpu", jobs=1, data_root=tmp_path)["result"]
    runs = [r for arm in result["arms"].values() for kind in arm.values() for r in kind]
    assert runs and all(r["collapsed"] and r["diverged"] for r in runs)
    assert all(common.final_accuracy(r, 10) == 0.1 for r in runs)
    assert all(g["collapsed"] == 2 for g in result["independent"]["equal_cost"])


def test_a_collapse_is_falling_back_below_twice_chance_or_diverging():
    """The definition, case by case: a slow first epoch is no collapse; falling to chance
    is one even if the run recovers part of the way (two full-peak snapshot runs of the
    stored experiment did, to about 35%); never learning and diverging are."""
    assert common.COLLAPSE_FACTOR == 2
    epoch = common.collapse_epoch
    assert epoch([0.3, 0.21], False, 10) is None and epoch([0.15, 0.4, 0.9], False, 10) is None
    assert epoch([0.9, 0.19], False, 10) == 2 and epoch([0.9, 0.09, 0.35, 0.4], False, 10) == 2
    assert epoch([0.9, math.nan], False, 10) == 2
    assert epoch([0.11, 0.12], False, 10) == 1 and epoch([], True, 10) == 1
    assert epoch([0.5, 0.9], True, 10) == 3  # diverged in its third epoch
    assert epoch([0.03], False, 100) is None  # chance is 0.01 on 100 classes
    assert common.collapsed([0.9, 0.09, 0.35], False, 10) and not common.collapsed([0.9], False, 10)
    assert common.final_accuracy({"test_acc": [0.7], "diverged": False}, 10) == 0.7
    assert common.final_accuracy({"test_acc": [], "diverged": True}, 100) == 0.01


def test_the_independent_ensembles_use_every_seed_once():
    """No model serves in two ensembles but the seed's own single model, which opens its
    M-times-cost ensemble (trained once, scored twice)."""
    seeds = list(range(10))
    used = [s for seed in seeds for group in snapshots.independent_seeds(seed, 4).values()
            for s in group]  # fmt: skip
    assert len(used) == len(set(used)) == 10 * 8
    assert {snapshots.independent_seeds(s, 4)["m_times_cost"][0] for s in seeds} == set(seeds)


def test_every_comparison_of_the_chapter_has_ten_seeds_an_arm_and_equal_budgets():
    """The evidence rule of issue 21: at least ten seeds an arm, the same seeds in every arm,
    the same epochs for the arms compared; and both peaks of the snapshot experiment."""
    for name in TINY:
        config = experiments.get(name).config()
        assert len(config["seeds"]) >= 10 and len(set(config["seeds"])) == len(config["seeds"])
    config = experiments.get("snapshot-ensembles").config()
    assert sorted(config["peak_fractions"]) == [0.5, 1.0]
    assert config["epochs"] % config["cycles"] == 0


def test_cycles_must_divide_the_epochs(monkeypatch):
    with pytest.raises(ValueError, match="cycles must divide epochs"):
        snapshots.snapshot_experiment({**snapshots.SNAPSHOTS.config(), "epochs": 10, "cycles": 3})


@pytest.mark.slow
def test_the_result_does_not_depend_on_the_number_of_processes(tmp_path):
    """Every task is a function of its seed on one thread: jobs=1 and jobs=2 agree."""
    one = experiments.run("sgdr", "smoke", jobs=1, data_root=tmp_path)["result"]
    two = experiments.run("sgdr", "smoke", jobs=2, data_root=tmp_path)["result"]
    one.pop("cpu_time_s"), two.pop("cpu_time_s")
    assert one == two
    assert np.isfinite(one["runs"]["sgdr"][0]["test_acc"]).all()
