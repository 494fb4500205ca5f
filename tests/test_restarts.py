"""The chapter's stored experiments: Smith's bounds read off a curve, and each experiment
run end to end at a tiny size, stored with provenance and read back."""

from __future__ import annotations

import numpy as np
import pytest

from lrlab import restarts, results


def test_cyclical_bounds_are_where_the_loss_starts_to_fall_and_where_it_turns_up():
    """Hand-made curve: flat at 2.3 until 0.03, falling to its minimum at 0.3, then up.
    Catches a lower bound taken before the loss has fallen, or an upper bound after."""
    lrs = np.geomspace(1e-3, 1.0, 31)  # 10 ** (-3 + k / 10)
    losses = np.where(lrs < 0.03, 2.3, 2.3 - 2 * np.log10(lrs / 0.029))
    losses[lrs > 0.3] = 5.0
    base_lr, max_lr = restarts.cyclical_bounds(lrs, losses, drop=0.01)
    assert base_lr == float(f"{lrs[lrs >= 0.03][0]:.2g}")
    assert max_lr == float(f"{lrs[lrs <= 0.3][-1]:.2g}")
    assert base_lr < max_lr


def test_cyclical_bounds_ignore_a_dip_after_the_minimum_and_non_finite_losses():
    lrs = np.array([0.01, 0.02, 0.04, 0.08, 0.16, 0.32])
    losses = np.array([2.3, 2.3, 2.0, 1.0, np.nan, 1.5])
    assert restarts.cyclical_bounds(lrs, losses) == (0.04, 0.08)


@pytest.mark.parametrize(
    ("lrs", "losses", "drop", "match"),
    [
        ([0.1, 0.2], [2.3, 2.3], 0.01, "never falls by 1%"),
        ([0.1, 0.2], [2.3], 0.01, "one length"),
        ([0.1, 0.2], [2.3, 1.0], 1.5, r"drop must be in \(0, 1\)"),
    ],
)
def test_cyclical_bounds_reject_bad_input(lrs, losses, drop, match):
    with pytest.raises(ValueError, match=match):
        restarts.cyclical_bounds(lrs, losses, drop)


TINY = {
    "restarts_clr_mnist1d": {"epochs": 1, "step_size_epochs": 1, "exp_range_halving_epochs": 1},
    "restarts_sgdr_mnist1d": {"epochs": 3, "first_cycle_epochs": 1},
    "restarts_snapshots_mnist1d": {"epochs": 2, "cycles": 2, "independent_models": 2},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY))
def test_each_experiment_runs_stores_with_provenance_and_loads_back(name, tmp_path, monkeypatch):
    """Catches an experiment whose result does not survive JSON, lacks provenance, or
    whose ensembles have the wrong number of members."""
    config = {**restarts.CONFIGS[name], **TINY[name], "seeds": [0]}
    config["range_test"] = {**config["range_test"], "num_iter": 60}
    monkeypatch.setitem(restarts.CONFIGS, name, config)
    path = restarts.store(name, root=tmp_path)
    record = results.load(name, root=tmp_path)
    assert path.name == f"{name}.json" and record["config"] == config
    assert record["provenance"]["command"] == f"python -m lrlab.restarts {name}"
    result = record["result"]
    assert 0 < result["bounds"]["base_lr"] < result["bounds"]["max_lr"]
    if name == "restarts_clr_mnist1d":
        runs = result["runs"]
        assert sorted(runs) == ["constant", "exp_range", "step", "triangular", "triangular2"]
        assert all(len(r[0]["test_acc"]) == 1 for r in runs.values())
    elif name == "restarts_sgdr_mnist1d":
        assert [e + 1 for e in result["cycle_ends"]] == [
            result["steps_per_epoch"] * e for e in (1, 3)
        ]
        for runs in result["runs"].values():
            assert runs[0]["ensemble"]["k"] == [1, 2]
    else:
        assert result["snapshot"][0]["ensemble"]["k"] == [1, 2]
        assert result["independent"][0]["seeds"] == [0, 1]
        assert result["independent"][0]["ensemble"]["k"] == [1, 2]
