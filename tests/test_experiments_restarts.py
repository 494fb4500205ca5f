"""The restarts chapter's experiments, each run end to end at a tiny size, stored with
provenance by :func:`lrlab.experiments.store` and read back."""

from __future__ import annotations

import pytest

from lrlab import experiments
from lrlab.experiments import merge

TINY = {
    "clr": {"epochs": 1, "step_size_epochs": 1, "exp_range_halving_epochs": 1},
    "sgdr": {"epochs": 3, "first_cycle_epochs": 1},
    "snapshot-ensembles": {"epochs": 2, "cycles": 2, "independent_models": 2},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY))
def test_each_experiment_runs_stores_with_provenance_and_loads_back(name, tmp_path, monkeypatch):
    """Catches an experiment whose result does not survive JSON, lacks provenance, or
    whose ensembles have the wrong number of members."""
    exp = experiments.get(name)
    tiny = {**TINY[name], "seeds": [0], "range_test": {"num_iter": 60}}
    monkeypatch.setattr(exp, "base", merge(exp.base, tiny))  # frozen: a test-only swap
    record = experiments.store(name, root=tmp_path, progress=False)
    assert record["config"] == exp.config() and record["config"]["epochs"] == tiny["epochs"]
    assert record["provenance"]["command"] == f"lrlab reproduce {name} --scale cpu"
    result = record["result"]
    assert 0 < result["bounds"]["base_lr"] < result["bounds"]["max_lr"]
    if name == "clr":
        runs = result["runs"]
        assert sorted(runs) == ["constant", "exp_range", "step", "triangular", "triangular2"]
        assert all(len(r[0]["test_acc"]) == 1 for r in runs.values())
    elif name == "sgdr":
        assert [e + 1 for e in result["cycle_ends"]] == [
            result["steps_per_epoch"] * e for e in (1, 3)
        ]
        for runs in result["runs"].values():
            assert runs[0]["ensemble"]["k"] == [1, 2]
    else:
        assert result["snapshot"][0]["ensemble"]["k"] == [1, 2]
        assert result["independent"][0]["seeds"] == [0, 1]
        assert result["independent"][0]["ensemble"]["k"] == [1, 2]
