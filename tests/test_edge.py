"""Tests of lrlab.edge: the gradient-cosine callback against a hand computation, and the
run helper's bookkeeping (steps, thresholds for each optimizer, warm-up, minibatches)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch
from torch import nn

from lrlab import curvature, edge, schedules, train


def test_docstring_examples_run():
    result = doctest.testmod(edge, extraglobs={"torch": torch, "nn": nn})
    assert result.attempted > 0 and result.failed == 0


def test_gradient_cosine_matches_the_definition_and_skips_non_consecutive_steps():
    model = nn.Linear(3, 1, bias=False)
    history = train.History()
    callback = edge.GradientCosine()
    grads = [[[1.0, 2.0, 2.0]], [[2.0, -1.0, 0.0]], [[1.0, 1.0, 0.0]]]
    for step, g in zip((0, 1, 3), map(torch.tensor, grads), strict=True):
        model.weight.grad = g
        callback(model, step, history)
    # cos(g0, g1) = (2 - 2 + 0) / (3 * sqrt(5)) = 0; step 3 has no step 2 before it.
    assert history.extras["gradient_cosine"] == [[1, pytest.approx(0.0, abs=1e-12)]]


def test_gradient_cosine_is_minus_one_on_a_quadratic_past_the_edge():
    """GD on ½λw² with ηλ > 2 flips the gradient's sign every step: cosine −1."""
    w = nn.Parameter(torch.tensor([1.0, 0.5]))
    model = nn.Module()
    model.w = w
    history = train.History()
    callback = edge.GradientCosine()
    optimizer = torch.optim.SGD([w], lr=0.25)
    for step in range(5):
        optimizer.zero_grad()
        (0.5 * 10.0 * (w**2).sum()).backward()  # ηλ = 2.5
        optimizer.step()
        callback(model, step, history)
    assert [v for _, v in history.extras["gradient_cosine"]] == pytest.approx([-1.0] * 4)


@pytest.fixture(scope="module")
def small():
    return edge.subset("digits", 120, 40)


def test_run_records_sharpness_threshold_and_cosine(small):
    out = edge.run({"hidden": [16], "lr": 0.2, "steps": 12, "every": 4}, data=small)
    assert out["sharpness_steps"] == [0, 4, 8]
    assert out["threshold"] == pytest.approx([2 / 0.2] * 3)
    assert len(out["loss"]) == 12 and len(out["cosine"]) == 11
    assert all(-1 <= c <= 1 for c in out["cosine"])
    assert out["hvps"] > 0 and out["diverged_at_step"] is None


def test_run_with_momentum_warmup_and_minibatches(small):
    """Threshold (2 + 2β)/η_t at the warm-up's rate; 3 minibatches of 40 per epoch."""
    config = {"hidden": [16], "lr": 0.3, "momentum": 0.9, "warmup_steps": 6, "steps": 9}
    out = edge.run({**config, "batch_size": 40, "every": 3}, data=small)
    rates = schedules.warmup(schedules.constant(0.3), 6)(np.arange(9))
    assert out["lr"] == pytest.approx(rates.tolist())
    expected = [curvature.stability_threshold(rates[s], 0.9) for s in (3, 6)]
    assert out["threshold"][1:] == pytest.approx(expected)
    assert out["threshold"][0] is None  # the rate is 0 at step 0 of a warm-up from 0: none


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
        edge.run(config, data=small)


def test_stack_pads_and_turns_none_into_nan():
    rows = edge.stack([{"a": [1, 2, 3]}, {"a": [None, 5]}], "a")
    np.testing.assert_array_equal(rows, [[1, 2, 3], [np.nan, 5, np.nan]])
    with pytest.raises(ValueError, match="^key"):
        edge.stack([{"a": [1]}], "b")
