"""The network-stability experiment: the stored runs' layout and the helpers reading it."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from lrlab import results
from lrlab.experiments import network_stability as stability_experiments


def _tiny_config():
    config = copy.deepcopy(stability_experiments.STABILITY.config("classroom"))
    config["probe_size"] = 32
    config["schedules"] = {
        "digits": {"model": "mlp", "lr": 0.05, "epochs": 2, "batch_size": 256, "every": 2}
    }
    config["base_rates"] = {"data": "digits", "lrs": [0.2]}
    config["batch_vs_rate"] = {
        "data": "digits",
        "model": "mlp",
        "lr": 0.05,
        "batch_size": 128,
        "factor": 2,
        "epochs_before": 1,
        "epochs_after": 1,
        "every": 2,
    }
    config["edge"] = {"hidden": [8], "lrs": [0.1], "steps": 6, "sharpness_every": 3}
    return config


@pytest.mark.slow
def test_run_stores_every_experiment_and_round_trips_through_a_results_file(tmp_path):
    """Catches a run whose layout the chapter cannot read back: every schedule, variant and
    rate present, per-layer metrics as dicts of columns, the base-rate arms at their own
    peak rate and untracked, a continuation with the larger batch taking fewer steps, the
    same result from several processes, and the whole result saved and loaded unchanged."""
    config = _tiny_config()
    config["seeds"] = [0, 1]
    out = stability_experiments.run(config)
    assert set(out["schedules"]["digits"]) == set(stability_experiments.KINDS)
    assert all(len(v) == 2 for v in out["schedules"]["digits"].values())
    faster = out["base_rates"]["0.2"]
    assert set(faster) == set(stability_experiments.KINDS)
    assert faster["constant"][1]["lr"][0] == pytest.approx(0.2) and not faster["step"][0]["metrics"]
    assert len(faster["cosine"][0]["test_acc"]) == 2  # one per epoch
    # the same seed in two arms: the same initial weights and data order, so the base-rate
    # arm differs from the tracked one only through its rate
    assert out["schedules"]["digits"]["constant"][0]["lr"][0] == pytest.approx(0.05)
    first = out["schedules"]["digits"]["step"][0]
    assert first["metrics"]["activation_drift"]["steps"] == [2, 4, 6, 8, 10]
    assert set(first["metrics"]["activation_drift"]["values"]) == {"1", "3", "5"}
    steps = {k: len(v[0]["lr"]) for k, v in out["batch_vs_rate"].items()}
    assert steps["larger batch"] < steps["smaller rate"] == steps["unchanged"]
    assert out["batch_vs_rate"]["smaller rate"][0]["lr"][0] == pytest.approx(0.025)
    edge = out["edge"]["0.1"][0]
    assert edge["metrics"]["sharpness"]["steps"] == [0, 3]
    assert len(edge["metrics"]["gradient_cosine"]["steps"]) == 5  # steps 1..5
    # spread over processes, the runs are the same (one thread each, same seeds)
    assert stability_experiments.run(config, jobs=2) == out
    results.save("network-stability", out, config, device="cpu", root=tmp_path)
    assert results.load("network-stability", root=tmp_path)["result"] == out


def _runs():
    return [
        {"metrics": {"kl": {"steps": [4, 8, 12], "values": [v, 2 * v, 4 * v]}}}
        for v in (1.0, 2.0, 6.0)
    ]


def test_seed_band_is_the_mean_and_range_over_seeds():
    steps, mean, low, high = stability_experiments.seed_band(_runs(), "kl")
    np.testing.assert_array_equal(steps, [4, 8, 12])
    np.testing.assert_allclose(mean, [3.0, 6.0, 12.0])
    np.testing.assert_allclose(low, [1.0, 2.0, 4.0])
    np.testing.assert_allclose(high, [6.0, 12.0, 24.0])


def test_seed_band_ends_with_a_diverged_run_and_skips_missing_values():
    """A diverged run stops early and may hold null (NaN) values: the band must cover only
    the steps every run reached and ignore the NaNs instead of turning NaN itself."""
    runs = _runs()
    runs[2]["metrics"]["kl"] = {"steps": [4, 8], "values": [None, 12.0]}
    steps, mean, low, high = stability_experiments.seed_band(runs, "kl")
    np.testing.assert_array_equal(steps, [4, 8])
    np.testing.assert_allclose(mean, [1.5, 6.0])
    np.testing.assert_allclose(high, [2.0, 12.0])
    assert stability_experiments.mean_between(runs[2], "kl", 0, 10) == 12.0


def test_seed_band_refuses_runs_recorded_at_different_steps():
    """Catches averaging values that belong to different steps."""
    runs = _runs()
    runs[1]["metrics"]["kl"]["steps"] = [4, 8, 16]
    with pytest.raises(ValueError, match="same steps"):
        stability_experiments.seed_band(runs, "kl")


def test_mean_between_takes_the_half_open_window_and_layers():
    run = {"metrics": {"drift": {"steps": [4, 8, 12], "values": {"0": [1.0, 3.0, 5.0]}}}}
    assert stability_experiments.mean_between(run, "drift", 8, 13, layer="0") == 4.0
    assert stability_experiments.mean_between(run, "drift", 4, 8, layer="0") == 1.0
    with pytest.raises(ValueError, match="layer must be one of"):
        stability_experiments.mean_between(run, "drift", 4, 8)
    with pytest.raises(ValueError, match="no finite record"):
        stability_experiments.mean_between(run, "drift", 13, 20, layer="0")
