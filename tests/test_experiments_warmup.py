"""The warm-up chapter's experiments (lrlab.experiments.warmup, warmup_choice): one run's
schedule, rates in units of 2/λ₀ and thresholds, the analysis of a grid, the layout of
each result and the training examples each draws."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrlab import curvature, data, experiments, models
from lrlab.experiments import warmup, warmup_choice

TINY = {"examples": 64, "hidden": [16], "batch_size": None}


def test_boundary_matches_a_loop_over_every_seed():
    """The largest and smallest trained grid value per seed, against a plain loop."""
    rng = np.random.default_rng(0)
    values = [0.1, 0.2, 0.4, 0.8, 1.6]
    ok = rng.random((3, 5, 7)) < 0.5  # warm-ups x rates x seeds
    ok[0, :, 0] = False  # a seed where nothing trained
    largest = warmup.boundary(values, ok)
    smallest = warmup.boundary(values, ok, which="smallest")
    for w in range(3):
        for s in range(7):
            good = [v for v, k in zip(values, ok[w, :, s], strict=True) if k]
            assert largest[w, s] == (max(good) if good else pytest.approx(np.nan, nan_ok=True))
            assert smallest[w, s] == (min(good) if good else pytest.approx(np.nan, nan_ok=True))
    assert np.isnan(largest[0, 0]) and np.isnan(smallest[0, 0])


def test_trained_needs_a_finite_loss_below_the_threshold():
    got = warmup.trained([[0.05, 0.1], [np.nan, np.inf]], 0.1)
    assert got.tolist() == [[True, False], [False, False]]
    with pytest.raises(ValueError, match="^threshold"):
        warmup.trained([0.1], 0.0)
    with pytest.raises(ValueError, match="^ok must have shape"):
        warmup.boundary([0.1, 0.2], [[True, False, True]])


def test_rates_in_units_of_the_edge_use_the_initial_sharpness():
    """λ₀ is the sharpness of the seed's initial network (measured here independently), the
    target lr_edges × 2/λ₀, and the warm-up a straight line from start_edges × 2/λ₀ to it
    (Goyal et al. 2017's linear warm-up, written out by hand)."""
    config = {**TINY, "seed": 3, "init_scale": 2.0, "epochs": 8, "every": 4}
    out = warmup.run_one({**config, "lr_edges": 3.0, "warmup_steps": 5, "start_edges": 0.5})
    digits = data.subset(data.load("digits", device="cpu"), 64, 450, augment=False)
    net = models.build("mlp", 10, (1, 8, 8), seed=3, hidden=[16], init_scale=2.0)
    x, y = digits.tensors("train")
    lam0 = curvature.sharpness(net, x, y, loss="mse")
    assert out["lam0"] == pytest.approx(lam0, rel=1e-3)
    target, start = 3.0 * 2 / lam0, 0.5 * 2 / lam0
    expected = [start + (target - start) * t / 5 for t in range(5)] + [target] * 3
    assert out["lr"] == pytest.approx(target, rel=1e-3)
    assert out["lrs"] == pytest.approx(expected, rel=1e-3)
    assert out["sharpness_steps"] == [0, 4]
    assert out["threshold"] == pytest.approx([2 / expected[0], 2 / expected[4]], rel=1e-3)


def test_with_adam_the_tracker_records_the_preconditioned_sharpness_and_38_over_eta():
    """Cohen et al. (2022): full-batch Adam's threshold is (2 + 2β₁)/((1 − β₁)η), 38/η at
    β₁ = 0.9, on the preconditioned sharpness."""
    out = warmup.run_one(
        {**TINY, "optimizer": "adam", "momentum": 0.9, "lr": 0.01, "epochs": 3, "every": 1}
    )
    assert out["threshold"] == pytest.approx([38 / 0.01] * 3)
    assert len(out["sharpness"]) == 3 and all(v > 0 for v in out["sharpness"])


def test_a_diverging_run_reports_the_step_and_no_final_numbers():
    out = warmup.run_one({**TINY, "init_scale": 2.0, "lr": 50.0, "epochs": 20})
    assert out["diverged_at_step"] is not None and out["diverged_at_step"] < 20
    assert all(math.isnan(out[k]) for k in ("final_loss", "train_acc", "test_acc"))
    assert math.isnan(out["lam0"])  # no rate in units of 2/λ₀: λ₀ is not measured


@pytest.mark.parametrize(
    ("config", "name"),
    [
        ({"lr": 0.0}, "lr"),
        ({"lr_edges": -1.0}, "lr_edges"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"start_edges": -0.5}, "start_edges"),
        ({"learning_rate": 0.1}, "config"),
    ],
)
def test_bad_input_names_the_parameter(config, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        warmup.run_one({**TINY, **config})


def test_the_map_is_indexed_by_warmup_rate_and_seed():
    """Every entry is the run_one of its own warm-up, rate and seed (here the last one)."""
    config = experiments.get("warmup-map").config("smoke")
    config = {**config, "rates": {"sgd": [0.01, 0.02], "adam": [1e-3]}, "seeds": [0, 1]}
    config["inits"] = {"sharp": 2.0}
    out = warmup.run_map(config)
    assert np.shape(out["sharp"]["sgd"]["final_loss"]) == (1, 2, 2)
    direct = warmup.run_one(
        {"init_scale": 2.0, "lr": 0.02, "warmup_steps": 4, "seed": 1, "epochs": 1}
    )
    assert out["sharp"]["sgd"]["final_loss"][0][1][1] == direct["final_loss"]
    assert out["sharp"]["sgd"]["lr"][0][1][1] == 0.02


def test_the_start_and_gain_results_have_one_number_per_warmup_and_seed():
    start = warmup_choice.run_start(experiments.get("warmup-start").config("smoke"))
    assert set(start) == {"zero", "edge"}
    assert math.isnan(start["zero"]["lam0"][0][0]) and start["edge"]["lam0"][0][0] > 0
    gain = warmup_choice.run_gain(experiments.get("warmup-gain").config("smoke"))
    stable = gain["sgd-stable"]["none"]
    assert stable["lr"][0] == pytest.approx(0.5 * 2 / stable["lam0"][0])
    assert gain["sgd"]["warmup"]["lr"] == [0.01]


@pytest.mark.parametrize("name", ["warmup-map", "warmup-curvature", "warmup-start", "warmup-gain"])
def test_the_count_of_training_examples_is_what_the_runs_draw(name, monkeypatch):
    """Counted independently: every example of every training batch drawn (smoke sizes,
    where no run diverges)."""
    batches, drawn = data.Dataset.batches, []

    def counting(self, split, batch_size, shuffle=True, augment=True, seed=0):
        for x, y in batches(self, split, batch_size, shuffle, augment, seed):
            if split == "train" and shuffle and augment:
                drawn.append(len(y))
            yield x, y

    monkeypatch.setattr(data.Dataset, "batches", counting)
    out = experiments.run(name, "smoke", jobs=1)
    assert experiments.get(name).work(out["config"]) == sum(drawn) > 0


def test_the_chapters_self_checks_agree_with_the_closed_forms():
    """The answers the checks compute: λ₀ grows by c⁴ = 16 per doubling of the weights once
    the outputs dominate (a bias-free ReLU MLP of three layers is homogeneous of degree 3,
    its Gauss–Newton curvature of degree 4); a ramp from 0 to 1 is below 2/λ₀ for the
    fraction 2/λ₀ of it; after the warm-up Adam's preconditioned sharpness hovers near
    38/η (Cohen et al. 2022)."""
    from lrlab.classroom.selfcheck import registered

    checks = registered()
    edges = np.asarray(checks["warmup-ex-edge"].expected())
    factors = edges[1:] / edges[:-1]
    assert np.all(np.diff(factors) > 0) and 14 < factors[-1] < 17
    assert checks["warmup-ex-ramp"].expected() == pytest.approx(2 / edges[2])
    assert 0.5 < checks["warmup-ex-adam"].expected() < 1.5
