"""The edge-of-stability experiment's runs: their bookkeeping (steps, thresholds for each
optimizer, warm-up, minibatches) and refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrlab import curvature, data, results, schedules
from lrlab.experiments import edge_of_stability as eos


@pytest.fixture(scope="module")
def small(digits):
    return data.subset(digits, 120, 40)


def test_run_records_sharpness_threshold_and_cosine(small):
    out = eos.run_one({"hidden": [16], "lr": 0.2, "steps": 12, "every": 4}, data=small)
    assert out["sharpness_steps"] == [0, 4, 8]
    assert out["threshold"] == pytest.approx([2 / 0.2] * 3)
    assert len(out["loss"]) == 12 and len(out["cosine"]) == 11
    assert all(-1 <= c <= 1 for c in out["cosine"])
    assert out["hvps"] > 0 and out["diverged_at_step"] is None
    assert 0 <= out["test_acc"] <= 1 and set(out["dead_units"]) == {"2"}  # the one ReLU


def test_a_diverged_run_has_no_accuracy_or_dead_units(small):
    """A run that diverged has NaN weights: counting its 'dead' units (NaN > 0 is false)
    would call every unit dead; it must record NaN instead, and a run that trained records
    the measured fraction of each ReLU layer."""
    out = eos.run_one({"hidden": [16], "lr": 500.0, "steps": 12, "every": 3}, data=small)
    assert out["diverged_at_step"] is not None and math.isnan(out["test_acc"])
    assert out["dead_units"] and all(math.isnan(v) for v in out["dead_units"].values())
    fine = eos.run_one({"hidden": [16], "lr": 0.1, "steps": 3, "every": 3}, data=small)
    assert set(fine["dead_units"]) == {"2"} and 0 <= fine["dead_units"]["2"] <= 1


def test_run_with_momentum_warmup_and_minibatches(small):
    """Threshold (2 + 2β)/η_t at the warm-up's rate; 3 minibatches of 40 per epoch."""
    config = {"hidden": [16], "lr": 0.3, "momentum": 0.9, "warmup_steps": 6, "steps": 9}
    out = eos.run_one({**config, "batch_size": 40, "every": 3}, data=small)
    rates = schedules.warmup(schedules.constant(0.3), 6)(np.arange(9))
    assert out["lr"] == pytest.approx(rates.tolist())
    expected = [curvature.stability_threshold(rates[s], 0.9) for s in (3, 6)]
    assert out["threshold"][1:] == pytest.approx(expected)
    assert out["threshold"][0] == math.inf  # the rate is 0 at step 0 of a warm-up from 0


@pytest.mark.parametrize(
    ("config", "name"),
    [
        ({"lr": 0.0}, "lr"),
        ({"steps": 10, "batch_size": 40}, "steps"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"learning_rate": 0.1}, "config"),
    ],
)
def test_bad_input_names_the_parameter(small, config, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        eos.run_one(config, data=small)


def test_stack_pads_and_turns_none_into_nan():
    rows = results.stack([{"a": [1, 2, 3]}, {"a": [None, 5]}], "a")
    np.testing.assert_array_equal(rows, [[1, 2, 3], [np.nan, 5, np.nan]])
    with pytest.raises(ValueError, match="^key"):
        results.stack([{"a": [1]}], "b")
