"""Tests of lrlab.scaling's sweep helpers: TargetTracker (steps to a target, measured while
training) against the curve it records and lrlab.step.evaluate, and best_rate against
hand-computed tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lrlab import data, models, scaling, train
from lrlab.step import evaluate


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", device="cpu")


def net(digits, seed: int = 0):
    return models.build("mlp", 10, digits.input_shape, hidden=(16,), seed=seed)


def fit(model, digits, callbacks=(), epochs: int = 3, lr: float = 0.1):
    return train.fit(
        model, digits, lr, epochs, batch_size=64, progress=False, callbacks=list(callbacks)
    )


# --- TargetTracker ---------------------------------------------------------------------------


def test_tracker_stops_at_the_first_evaluation_that_reaches_the_target(digits):
    """reached_at is the steps_to_target of the curve the tracker recorded (steps taken =
    step + 1), and the run ends right there."""
    curve = scaling.TargetTracker(digits, every=3)
    full = fit(net(digits), digits, [curve])
    accs = [acc for _, acc in full.extras["eval_acc"]]
    steps = [step + 1 for step, _ in full.extras["eval_acc"]]
    assert steps == list(range(1, full.steps + 1, 3))
    target = float(np.quantile(accs, 0.5))  # reached half way through
    expected = scaling.steps_to_target(accs, target, steps=steps, goal="above")
    tracker = scaling.TargetTracker(digits, every=3, target=target)
    stopped = fit(net(digits), digits, [tracker])
    assert tracker.reached_at == expected == stopped.steps == stopped.stopped_at_step + 1
    assert stopped.loss == full.loss[: stopped.steps]  # the same steps until the stop


def test_tracker_records_what_evaluate_measures_and_leaves_the_run_alone(digits):
    """The last record equals lrlab.step.evaluate of the final model; a tracked run takes
    the steps an untracked one takes (no change to weights, grads or generators)."""
    plain = fit(net(digits), digits)
    model = net(digits)
    tracker = scaling.TargetTracker(digits, every=7, split="train", metric="loss")
    tracked = fit(model, digits, [tracker])
    assert tracked.loss == plain.loss and tracked.test_acc == plain.test_acc
    last_step = (tracked.steps - 1) // 7 * 7
    model = net(digits)
    fit(model, digits, [scaling.TargetTracker(digits, every=1, max_steps=last_step + 1)])
    loss, acc = evaluate(model, digits, "train")
    assert tracked.extras["eval_loss"][-1] == [last_step, pytest.approx(loss, rel=1e-6)]
    assert tracked.extras["eval_acc"][-1][1] == pytest.approx(acc, abs=1e-12)
    assert tracker.reached_at is None


def test_tracker_budget_ends_the_run_and_never_reports_a_step_off_its_grid(digits):
    """With max_steps = 10 and every = 4: steps 1, 5 and 9 are evaluated, the run ends after
    10 steps, and a target first met at the (unevaluated) tenth step is not reported."""
    tracker = scaling.TargetTracker(digits, every=4, max_steps=10)
    history = fit(net(digits), digits, [tracker])
    assert history.steps == 10
    assert [step + 1 for step, _ in history.extras["eval_acc"]] == [1, 5, 9]
    unreachable = scaling.TargetTracker(digits, every=4, target=1.01, max_steps=10)
    fit(net(digits), digits, [unreachable])
    assert unreachable.reached_at is None


def test_tracker_loss_target_goes_below(digits):
    tracker = scaling.TargetTracker(digits, every=2, target=1.5, metric="loss", split="train")
    history = fit(net(digits), digits, [tracker], lr=0.2)
    losses = [v for _, v in history.extras["eval_loss"]]
    assert losses[-1] <= 1.5 < min(losses[:-1])
    assert tracker.reached(1.4) and not tracker.reached(1.6)


def test_tracker_checks_its_arguments(digits):
    with pytest.raises(ValueError, match="every must be an integer >= 1"):
        scaling.TargetTracker(digits, every=0)
    with pytest.raises(ValueError, match="split must be one of"):
        scaling.TargetTracker(digits, split="validation")
    with pytest.raises(ValueError, match="metric must be one of"):
        scaling.TargetTracker(digits, metric="error")
    with pytest.raises(ValueError, match="max_steps must be an integer >= 1"):
        scaling.TargetTracker(digits, max_steps=0)
    with pytest.raises(ValueError, match="goal must be one of"):
        scaling.TargetTracker(digits, goal="up")


# --- best_rate -------------------------------------------------------------------------------


def test_best_rate_takes_the_statistic_over_seeds_and_counts_failures_as_worst():
    rates = [0.01, 0.1, 1.0]
    losses = np.array([[0.9, 0.30, 0.20], [0.8, 0.32, math.nan]])  # seed 1 diverged at 1.0
    best = scaling.best_rate(rates, losses)
    assert best.rate == 0.1 and best.index == 1 and not best.at_edge
    assert best.scores == pytest.approx((0.85, 0.31, math.inf))
    assert best.score == pytest.approx(0.31)
    steps = np.array([[500, 120, 90], [520, 130, math.inf], [480, 125, 95]])
    median = scaling.best_rate(rates, steps, statistic="median")  # 2 of 3 seeds reach at 1.0
    assert median.rate == 1.0 and median.at_edge and median.score == 95
    accs = scaling.best_rate(rates, [[0.5, 0.7, 0.6]], goal="max")
    assert accs.rate == 0.1 and accs.scores == (0.5, 0.7, 0.6)


def test_best_rate_ties_go_to_the_first_rate_and_no_success_gives_no_rate():
    tied = scaling.best_rate([1, 2, 4, 8], [[3.0, 2.0, 2.0, 5.0]])
    assert tied.index == 1
    none = scaling.best_rate([1, 2], [[math.inf, math.nan]])
    assert none.index is None and math.isnan(none.rate) and none.at_edge
    assert none.score == math.inf


def test_best_rate_checks_its_arguments():
    with pytest.raises(ValueError, match="values must have shape \\(seeds, 3\\)"):
        scaling.best_rate([1, 2, 3], [[1.0, 2.0]])
    with pytest.raises(ValueError, match="rates must be a non-empty 1-D array"):
        scaling.best_rate([], [[]])
    with pytest.raises(ValueError, match="statistic must be one of"):
        scaling.best_rate([1], [[1.0]], statistic="mode")


def test_tracker_draws_no_random_numbers(digits):
    """PyTorch's global generator is where fit left it (evaluation draws nothing)."""
    model = net(digits)
    tracker = scaling.TargetTracker(digits, every=1, max_steps=3)
    fit(model, digits, [tracker])
    state = torch.get_rng_state()
    tracker(model, 0, train.History(config={"loss": "cross_entropy"}))
    assert torch.equal(state, torch.get_rng_state())
