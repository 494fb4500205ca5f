"""Tests of lrlab.lrfind: the sweep, the smoothing, the stop rule, the restored state, the
suggestion rules of fastai and torch-lr-finder on curves with known answers, the seed
sweep, the curvature view and the ``lr-find`` command."""

from __future__ import annotations

import argparse
import doctest
import json
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lrlab import cli, lrfind, models, results
from lrlab.lrfind import RangeTestResult


def mlp(seed: int = 0, hidden=(32,)) -> nn.Module:
    torch.manual_seed(seed)
    return models.build("mlp", 10, (1, 8, 8), hidden=hidden)


def result_of(losses, lrs=None, num_iter=None, smooth=0.0) -> RangeTestResult:
    """A RangeTestResult holding a hand-built curve (smoothed = losses when smooth=0)."""
    losses = np.asarray(losses, dtype=float)
    n = len(losses)
    lrs = np.geomspace(1e-4, 1.0, n) if lrs is None else np.asarray(lrs, dtype=float)
    return RangeTestResult(
        lrs=lrs,
        losses=losses,
        smoothed=lrfind.smooth_losses(losses, smooth),
        stopped_early=False,
        stop_reason=None,
        num_iter=num_iter or n,
        mode="exp",
        start_lr=float(lrs[0]),
        end_lr=float(lrs[-1]),
        smooth=smooth,
        diverge=4.0,
        config={"optimizer": "sgd", "momentum": 0.9},
    )


def test_docstring_examples_run():
    modules = (lrfind, lrfind.sweep, lrfind.rules, lrfind.result, lrfind.run, lrfind.sharpness)
    outcomes = [doctest.testmod(m, optionflags=doctest.ELLIPSIS) for m in modules]
    assert sum(o.attempted for o in outcomes) >= 10
    assert sum(o.failed for o in outcomes) == 0


# --- the sweep --------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    start=st.floats(1e-9, 1.0),
    factor=st.floats(1.001, 1e9),
    num_iter=st.integers(2, 400),
)
def test_exp_sweep_hits_start_and_end_exactly_with_equal_ratios(start, factor, num_iter):
    end = start * factor
    lrs = lrfind.lr_sweep(start, end, num_iter, "exp")
    assert len(lrs) == num_iter and lrs[0] == start and lrs[-1] == end
    assert np.all(np.diff(lrs) > 0)
    # Independent reference: NumPy's geometric spacing.
    np.testing.assert_allclose(lrs, np.geomspace(start, end, num_iter), rtol=1e-9)


@settings(max_examples=60, deadline=None)
@given(start=st.floats(1e-9, 1.0), span=st.floats(1e-6, 100.0), num_iter=st.integers(2, 400))
def test_linear_sweep_hits_start_and_end_exactly_with_equal_steps(start, span, num_iter):
    end = start + span
    lrs = lrfind.lr_sweep(start, end, num_iter, "linear")
    assert len(lrs) == num_iter and lrs[0] == start and lrs[-1] == end
    np.testing.assert_allclose(lrs, np.linspace(start, end, num_iter), rtol=1e-9, atol=1e-15)


def test_range_test_steps_the_optimizer_at_each_rate_of_the_sweep(digits):
    net = mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    seen = []
    opt.register_step_pre_hook(lambda o, args, kwargs: seen.append(o.param_groups[0]["lr"]))
    result = lrfind.range_test(
        net, digits, 1e-3, 1e-1, num_iter=12, optimizer=opt, diverge=math.inf
    )
    expected = lrfind.lr_sweep(1e-3, 1e-1, 12)
    assert seen == expected.tolist() and result.lrs.tolist() == expected.tolist()
    linear = lrfind.range_test(net, digits, 1e-3, 1e-1, num_iter=5, mode="linear")
    assert linear.lrs.tolist() == lrfind.lr_sweep(1e-3, 1e-1, 5, "linear").tolist()


# --- smoothing and stopping ---------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    losses=st.lists(st.floats(0.0, 100.0), min_size=1, max_size=60),
    beta=st.floats(0.0, 0.999),
)
def test_smoothing_is_the_bias_corrected_weighted_mean(losses, beta):
    """s_t = Σ_k β^(t−k) ℓ_k / Σ_k β^(t−k): Adam's bias correction, as fastai's AvgSmoothLoss."""
    got = lrfind.smooth_losses(losses, beta)
    x = np.asarray(losses)
    for t in range(len(x)):
        weights = beta ** (t - np.arange(t + 1))
        assert got[t] == pytest.approx(np.dot(weights, x[: t + 1]) / weights.sum(), rel=1e-9)


def test_result_smoothing_matches_smooth_losses(digits):
    result = lrfind.range_test(mlp(), digits, 1e-4, 1.0, num_iter=30, smooth=0.9)
    np.testing.assert_allclose(result.smoothed, lrfind.smooth_losses(result.losses, 0.9))


def test_stops_once_smoothed_loss_exceeds_diverge_times_best(digits):
    result = lrfind.range_test(mlp(), digits, 1e-3, 1e3, num_iter=60, smooth=0.5, diverge=2.0)
    assert result.stopped_early and result.stop_reason == "diverged"
    s = result.smoothed
    running_best = np.minimum.accumulate(s)
    assert s[-1] > 2.0 * running_best[-1]
    assert np.all(s[:-1] <= 2.0 * running_best[:-1])  # no earlier step met the rule
    assert len(result.lrs) == len(result.losses) == len(s) < 60


class NanAfter(nn.Module):
    """A linear classifier whose logits turn NaN from its ``k``-th forward pass on."""

    def __init__(self, k: int):
        super().__init__()
        self.linear = nn.Linear(64, 10)
        self.k, self.calls = k, 0

    def forward(self, x):
        self.calls += 1
        logits = self.linear(x.flatten(1))
        return logits * math.nan if self.calls >= self.k else logits


def test_stops_on_a_non_finite_loss_even_without_a_divergence_threshold(digits):
    result = lrfind.range_test(NanAfter(7), digits, 1e-5, 1e-4, num_iter=20, diverge=math.inf)
    assert result.stopped_early and result.stop_reason == "non-finite loss"
    assert len(result.losses) == 7 and math.isnan(result.losses[-1])
    assert np.all(np.isfinite(result.losses[:-1]))


@pytest.mark.parametrize("tail", [[9.0, 30.0, 90.0], [float("nan"), 1.0, 1.0]])
def test_reading_losses_in_chunks_as_on_a_gpu_stops_at_the_same_step(tail):
    """On CUDA the losses are read every 8 steps; the result must not depend on it."""
    losses = [2.3, 2.2, 2.0, 1.5, 1.0, 0.8, 0.9, *tail, 1.0, 1.0, 1.0, 1.0, 1.0]
    lrs = lrfind.lr_sweep(1e-3, 1.0, len(losses))

    def fake_step(x, y, lr):
        i = int(np.flatnonzero(lrs == lr)[0])
        return torch.tensor(losses[i]), torch.tensor(0.0), torch.tensor(0)

    runs = []
    for check_every in (1, 8):
        batches = iter([(None, None)] * len(losses))
        runs.append(lrfind.run._sweep(fake_step, batches, lrs, 0.5, 3.0, check_every, False, None))
    assert runs[0][2] is not None and runs[0][2] == runs[1][2]
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert len(runs[0][0]) < len(losses)


def test_runs_to_the_end_when_nothing_diverges(digits):
    result = lrfind.range_test(mlp(), digits, 1e-6, 1e-5, num_iter=15)
    assert not result.stopped_early and result.stop_reason is None and len(result.lrs) == 15


# --- the state is restored ----------------------------------------------------------------------


def snapshot(model: nn.Module, optimizer=None) -> dict:
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "grads": {
            n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()
        },
        "strides": {n: p.stride() for n, p in model.named_parameters()},
        "modes": {n: m.training for n, m in model.named_modules()},
        "optimizer": None if optimizer is None else _tensors(optimizer.state_dict()),
        "rng": torch.get_rng_state().clone(),
    }


def _tensors(state_dict) -> list:
    """Every leaf of an optimizer state dict, tensors cloned, in a fixed order."""
    out = []
    for pid, entry in sorted(state_dict["state"].items()):
        for key, value in sorted(entry.items()):
            out.append((pid, key, value.clone() if torch.is_tensor(value) else value))
    for group in state_dict["param_groups"]:
        out.append(tuple(sorted((k, str(v)) for k, v in group.items())))
    return out


def assert_same(before: dict, after: dict) -> None:
    assert before["state"].keys() == after["state"].keys()
    for key, value in before["state"].items():
        assert torch.equal(value, after["state"][key]), key
    for name, grad in before["grads"].items():
        other = after["grads"][name]
        assert (grad is None and other is None) or torch.equal(grad, other), name
    assert before["strides"] == after["strides"]
    assert before["modes"] == after["modes"]
    assert torch.equal(before["rng"], after["rng"])
    if before["optimizer"] is not None:
        assert len(before["optimizer"]) == len(after["optimizer"])
        for a, b in zip(before["optimizer"], after["optimizer"], strict=True):
            if isinstance(a, tuple) and len(a) == 3 and torch.is_tensor(a[2]):
                assert a[:2] == b[:2] and torch.equal(a[2], b[2]), a[:2]
            else:
                assert a == b


def test_model_and_optimizer_with_momentum_buffers_restored_bit_for_bit(digits):
    torch.manual_seed(0)
    net = models.build("small_cnn", 10, digits.input_shape, width=4)  # has BatchNorm
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    for x, y in list(digits.batches("train", 32))[:2]:  # momentum buffers and BN statistics
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    net[-1].eval()  # a mixed train/eval model must come back mixed
    before = snapshot(net, opt)
    params = list(net.parameters())
    assert any("momentum_buffer" in s for s in opt.state_dict()["state"].values())
    trained = []
    opt.register_step_post_hook(lambda o, a, k: trained.append(params[0].detach().clone()))
    lrfind.range_test(net, digits, 1e-3, 10.0, num_iter=25, optimizer=opt)
    assert not torch.equal(trained[-1], before["state"]["0.weight"])  # it trained, and yet:
    assert_same(before, snapshot(net, opt))
    assert [p is q for p, q in zip(params, net.parameters(), strict=True)] == [True] * len(params)
    assert opt.param_groups[0]["lr"] == 0.05


def test_fresh_optimizer_state_and_channels_last_layout_restored(digits):
    torch.manual_seed(1)
    net = models.build("small_cnn", 10, digits.input_shape, width=4)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)  # no state yet: none afterwards
    before = snapshot(net, opt)
    lrfind.range_test(net, digits, 1e-4, 1.0, num_iter=10, optimizer=opt, channels_last=True)
    assert_same(before, snapshot(net, opt))
    assert opt.state_dict()["state"] == {}


def test_named_optimizer_leaves_the_model_exactly_as_it_was(digits):
    net = mlp()
    net.eval()
    before = snapshot(net)
    lrfind.range_test(net, digits, 1e-4, 10.0, num_iter=20, optimizer="adam")
    assert_same(before, snapshot(net))


class FailsAt(NanAfter):
    def forward(self, x):
        if self.calls + 1 >= self.k:
            raise RuntimeError("boom")
        return super().forward(x)


def test_state_restored_when_the_test_is_interrupted(digits):
    torch.manual_seed(0)
    net = FailsAt(5)
    before = snapshot(net)
    with pytest.raises(RuntimeError, match="boom"):
        lrfind.range_test(net, digits, 1e-2, 1.0, num_iter=20)
    assert_same(before, snapshot(net))


# --- suggestion rules on hand-built curves ------------------------------------------------------


def fastai_valley_index(losses) -> int:
    """Reference: fastai's ``valley`` as published (fastai/callback/schedule.py), a double
    loop that records (start, end) whenever a run beats the record; index before wrapping."""
    n = len(losses)
    lds = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return max_start + int(sections) + int(sections / 2)


def test_valley_on_a_hand_built_curve():
    # flat at 5 (indices 0-9), down by one per step to index 19, then up.
    losses = [5.0] * 10 + [4.5 - 0.2 * k for k in range(10)] + [3.0, 4.0, 6.0]
    lrs = np.arange(1.0, len(losses) + 1)
    # Longest strictly decreasing run: index 9 (the last 5) to 19, 11 points: start 8, end 19,
    # sections 11/3 -> index 8 + 3 + 1 = 12.
    assert lrfind.valley(lrs, losses) == lrs[12]
    # The longer of two valleys wins.
    two = [3, 2, 1, 4] + [9, 8, 7, 6, 5, 4.5, 4.2, 4.1] + [7.0]
    # Run 9 .. 4.1 of 8 points ends at index 11: start 3, sections 8/3 -> index 3 + 2 + 1.
    assert lrfind.valley(np.arange(1.0, 14), two) == 7.0


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=3, max_size=40))
def test_valley_agrees_with_fastais_double_loop(values):
    losses = np.asarray(values, dtype=float)
    lrs = np.arange(1.0, len(losses) + 1)
    index = fastai_valley_index(losses.tolist())
    assert lrfind.valley(lrs, losses) == lrs[max(index, 0)]


def test_slide_on_hand_built_curves():
    lrs = np.geomspace(1e-3, 1.0, 30)
    # A straight line: equal slopes everywhere, so the first window already stops.
    assert lrfind.slide(lrs, np.linspace(3, 1, 30)) == lrs[30 - 1 - 15]
    # Quadratic: slopes differ by 2·a·15 = 0.06 > thresh across every window -> slides off.
    quad = 0.001 * (np.arange(30) - 10.0) ** 2
    assert lrfind.slide(lrs, quad) == lrs[0]
    # Hand-worked: slopes 0 -.5 -1 -.75 0 1.75 3; windows (6,4), (5,3), (4,2) exceed 0.5,
    # (3,1) does not: the suggestion is lrs[left + 1] = lrs[2]; adjust_value scales it.
    small = np.array([1, 10, 100, 1e3, 1e4, 1e5, 1e6])
    curve = [3, 3, 2, 1, 0.5, 1, 4]
    assert lrfind.slide(small, curve, lr_diff=2, thresh=0.5) == 100
    assert lrfind.slide(small, curve, lr_diff=2, thresh=0.5, adjust_value=0.5) == 50


def test_minimum_is_a_tenth_of_the_rate_at_the_lowest_loss():
    lrs = np.geomspace(1e-4, 1, 9)
    assert lrfind.minimum(lrs, [5, 4, 3, 2, 1, 1, 2, 8, 9]) == pytest.approx(lrs[4] / 10)


def test_steep_uses_forward_slopes_against_log_lr_and_steepest_central_slopes_per_step():
    # Uneven rates: per step the biggest drop is 2 -> 1.5 (indices 1-2) but it spans a factor
    # of 100 in rate; per unit of log rate the drop 3 -> 2 (indices 0-1, factor 2) is steeper.
    lrs = np.array([1.0, 2.0, 200.0, 400.0, 800.0])
    losses = np.array([3.0, 2.0, 0.5, 0.45, 0.44])
    assert lrfind.steep(lrs, losses) == 1.0
    # np.gradient per step: [-1, -1.25, -0.775, -0.03, -0.01] -> index 1.
    assert lrfind.steepest(lrs, losses) == 2.0


def test_suggest_trims_the_ends_as_each_tool_does():
    n = 100
    losses = np.linspace(3.0, 1.0, n)
    losses[3] = 0.1  # a minimum inside fastai's trimmed start (first n // 10 = 10 points)
    losses[n - 2] = 0.0  # and one inside the last 5
    result = result_of(losses, num_iter=n)
    lrs, kept = result.trimmed("minimum")
    np.testing.assert_array_equal(lrs, result.lrs[10 : n - 5])
    assert result.suggest("minimum") == pytest.approx(result.lrs[n - 6] / 10)
    steep_drop = np.full(n, 2.0)
    steep_drop[12:] = 1.0  # the steepest drop is at 11 -> 12, kept by both tools
    result = result_of(steep_drop, num_iter=n)
    assert result.suggest("steep") == result.lrs[11]
    assert result.suggest("steepest") == result.lrs[11]  # first of the two equal gradients


def test_suggest_ignores_points_from_the_first_non_finite_loss():
    losses = np.concatenate([np.linspace(3, 1, 40), [np.inf, 0.0], np.linspace(2, 3, 20)])
    result = result_of(losses)
    lrs, kept = result.trimmed("minimum")
    assert len(kept) == 40 - 6 and np.all(np.isfinite(kept))
    assert result.suggest("minimum") == pytest.approx(result.lrs[39] / 10)


def test_suggest_needs_enough_points():
    short = result_of(np.linspace(3, 1, 8), num_iter=100)
    with pytest.raises(ValueError, match="no points left"):
        short.suggest("valley")
    assert math.isnan(short.suggestions(["valley"])["valley"])
    with pytest.raises(ValueError, match="slide needs at least 16 points"):
        lrfind.slide(np.geomspace(1e-3, 1, 10), np.linspace(3, 1, 10))
    with pytest.raises(ValueError, match="methods must be names"):
        short.suggest("fastest")


# --- bad input ----------------------------------------------------------------------------------


class Untouchable(nn.Module):
    """Fails the test if a range test does any work with it."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(64, 10)

    def forward(self, x):
        raise AssertionError("work was done before the input was checked")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"start_lr": 0.0}, "start_lr must be > 0, got 0.0"),
        ({"start_lr": 1.0, "end_lr": 0.5}, "end_lr must be > 1, got 0.5"),
        ({"num_iter": 1}, "num_iter must be an integer >= 2"),
        ({"mode": "cos"}, "mode must be one of"),
        ({"smooth": 1.0}, r"smooth must be in \[0, 1\)"),
        ({"diverge": 1.0}, "diverge must be > 1"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of"),
        ({"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
        ({"weight_decay": -1.0}, "weight_decay must be >= 0"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"precision": "fp8"}, "precision must be one of"),
    ],
)
def test_bad_input_fails_before_any_work(digits, options, message):
    with pytest.raises(ValueError, match=message):
        lrfind.range_test(Untouchable(), digits, **options)


def test_numpy_numbers_are_accepted_and_named_in_plain_messages(digits):
    """np.int64(100) is an integer: the message 'num_iter must be an integer >= 2, got 100'
    that lr_sweep once gave for it is gone, and out-of-range NumPy values read as numbers."""
    assert len(lrfind.lr_sweep(1e-5, 1.0, np.int64(100))) == 100
    with pytest.raises(ValueError, match=r"^num_iter must be an integer >= 2, got 1$"):
        lrfind.lr_sweep(1e-5, 1.0, np.int64(1))
    with pytest.raises(TypeError, match=r"^num_iter must be an integer, got 2.5$"):
        lrfind.lr_sweep(1e-5, 1.0, 2.5)
    result = lrfind.range_test(
        mlp(), digits, np.float32(1e-4), np.float64(1.0), num_iter=np.int32(10), seed=np.int64(1)
    )
    assert len(result.lrs) <= 10 and result.config["seed"] == 1
    assert lrfind.range_test_seeds(mlp(), digits, np.int64(2), num_iter=10).seeds == [0, 1]


def test_bad_types_and_seed_options(digits):
    with pytest.raises(TypeError, match="optimizer must be a name"):
        lrfind.range_test(Untouchable(), digits, optimizer=object())
    with pytest.raises(TypeError, match="seeds="):
        lrfind.range_test_seeds(Untouchable(), digits, seed=3)
    with pytest.raises(ValueError, match="distinct"):
        lrfind.range_test_seeds(Untouchable(), digits, seeds=[1, 1])
    with pytest.raises(ValueError, match="smooth must be"):
        lrfind.smooth_losses([1.0], smooth=-0.1)


# --- several seeds, the curvature view, plots, storage ------------------------------------------


def test_seed_sweep_reports_the_spread_of_each_suggestion(digits):
    sweep = lrfind.range_test_seeds(mlp, digits, seeds=3, start_lr=1e-4, num_iter=40)
    assert sweep.seeds == [0, 1, 2] and len(sweep.results) == 3
    # Different seeds, different weights and batch orders: different curves.
    assert not np.array_equal(sweep.results[0].losses[:5], sweep.results[1].losses[:5])
    spread = sweep.spread(["valley", "steepest"])
    for method, s in spread.items():
        values = sweep.suggestions(method)
        assert s["min"] == values.min() and s["max"] == values.max()
        assert s["median"] == np.median(values) and s["ratio"] == pytest.approx(s["max"] / s["min"])
    assert "valley" in sweep.table(["valley"]) and "max/min" in sweep.table()
    ax = sweep.plot(["valley", "steepest"])
    assert len(ax.collections) == 1 and len(ax.patches) == 2  # the loss band; one strip per rule
    plt.close(ax.figure)


def test_same_module_for_every_seed_changes_only_the_batch_order(digits):
    net = mlp()
    sweep = lrfind.range_test_seeds(net, digits, seeds=[3, 4], start_lr=1e-6, num_iter=5)
    assert [r.config["seed"] for r in sweep.results] == [3, 4]
    # At a tiny rate the first loss depends only on the (shared) weights and the first batch.
    assert sweep.results[0].losses[0] != sweep.results[1].losses[0]


def test_blowup_lr_is_the_rate_at_the_smoothed_minimum():
    losses = [2.0, 1.5, 1.0, 1.2, 0.9, 3.0, 9.0, np.inf]
    result = result_of(losses, lrs=np.geomspace(0.01, 1.28, 8))
    assert lrfind.blowup_lr(result, smooth=0.0) == result.lrs[4]
    smoothed = lrfind.smooth_losses(losses[:-1], 0.5)
    assert lrfind.blowup_lr(result, smooth=0.5) == result.lrs[int(np.argmin(smoothed))]


def test_initial_sharpness_matches_the_float64_hessian(digits):
    """λ_max of softmax regression's Hessian, against torch.autograd.functional.hessian."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    lam = lrfind.initial_sharpness(net, digits, batch_size=200, iters=200, tol=1e-6)
    x, y = next(digits.batches("train", 200, augment=False, seed=0))
    w0, b0 = (p.detach().double() for p in net[1].parameters())

    def loss(w, b):
        return nn.functional.cross_entropy(x.flatten(1).double() @ w.T + b, y)

    blocks = torch.autograd.functional.hessian(loss, (w0, b0))
    n_w = w0.numel()
    full = torch.zeros(n_w + 10, n_w + 10, dtype=torch.float64)
    full[:n_w, :n_w] = blocks[0][0].reshape(n_w, n_w)
    full[:n_w, n_w:] = blocks[0][1].reshape(n_w, 10)
    full[n_w:, :n_w] = blocks[1][0].reshape(10, n_w)
    full[n_w:, n_w:] = blocks[1][1]
    assert lam == pytest.approx(torch.linalg.eigvalsh(full).max().item(), rel=1e-4)


def test_initial_sharpness_leaves_batchnorm_statistics_alone(digits):
    torch.manual_seed(0)
    net = models.build("small_cnn", 10, digits.input_shape, width=4).eval()
    before = snapshot(net)
    assert lrfind.initial_sharpness(net, digits, batch_size=64, iters=20, tol=1e-2) > 0
    assert_same(before, snapshot(net))


def test_callback_sees_each_step_but_the_stopping_one_with_the_trained_weights(digits):
    seen = []
    net = mlp()
    start = net[1].weight.detach().clone()
    result = lrfind.range_test(
        net,
        digits,
        1e-3,
        1e3,
        num_iter=60,
        diverge=2.0,
        callback=lambda model, step: seen.append((step, model[1].weight.detach().clone())),
    )
    assert result.stopped_early
    assert [step for step, _ in seen] == list(range(len(result.lrs) - 1))
    assert not torch.equal(seen[-1][1], start) and torch.equal(net[1].weight, start)


def test_sharpness_along_test_measures_every_few_steps(digits):
    net = mlp()
    initial = lrfind.initial_sharpness(net, digits, batch_size=300, iters=200, tol=1e-6)
    result, steps, sharpness = lrfind.sharpness_along_test(
        net,
        digits,
        every=4,
        batch_size=300,
        tol=1e-6,
        iters=200,
        start_lr=1e-9,
        end_lr=1e-8,
        num_iter=10,
    )
    assert steps.tolist() == [0, 4, 8] and len(result.lrs) == 10
    # At rates of 1e-9 the weights do not move: every measurement is the initial sharpness.
    np.testing.assert_allclose(sharpness, initial, rtol=1e-4)
    with pytest.raises(ValueError, match="every must be"):
        lrfind.sharpness_along_test(net, digits, every=0)


def test_plots_mark_every_requested_suggestion_and_the_stability_limits():
    losses = np.concatenate(
        [np.full(30, 2.3), np.linspace(2.3, 0.5, 50), np.geomspace(0.6, 30, 20)]
    )
    result = result_of(losses, smooth=0.9)
    ax = result.plot(lrfind.METHODS)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:2] == ["raw", "smoothed"]
    assert [label.split(":")[0] for label in labels[2:]] == list(lrfind.METHODS)
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "learning rate"
    plt.close(ax.figure)
    ax = lrfind.plot_blowup(result, sharpness=4.0)
    vertical = [line.get_label() for line in ax.get_lines()][1:]
    assert vertical[0].startswith("loss turns up")
    assert vertical[1] == "2/λ_max: 0.5" and vertical[2] == "2(1+β)/λ_max: 0.95"
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="sharpness must be"):
        lrfind.plot_blowup(result, sharpness=0.0)


def test_result_round_trips_through_json_with_non_finite_losses():
    result = result_of([2.0, 1.0, np.inf, np.nan])
    text = json.dumps(result.to_dict(), allow_nan=False)
    back = RangeTestResult.from_dict(json.loads(text))
    np.testing.assert_array_equal(back.losses, result.losses)
    np.testing.assert_array_equal(back.smoothed, result.smoothed)
    assert back.to_dict() == result.to_dict()


def test_run_config_runs_the_described_test_and_load_or_run_uses_it(tmp_path, capsys):
    config = {"dataset": "digits", "model": "mlp", "model_options": {"hidden": [16]}}
    config |= {"num_iter": 12, "start_lr": 1e-3, "seed": 2}
    record = results.load_or_run(
        "lrfind_test", {"gpu": True}, lrfind.run_config, config, root=tmp_path
    )
    assert record["source"] == "cpu run" and "CPU-scale" in capsys.readouterr().out
    result = RangeTestResult.from_dict(record["result"])
    assert result.num_iter == 12 and result.config["seed"] == 2
    with pytest.raises(ValueError, match="unknown"):
        lrfind.run_config({"dataset": "digits", "model": "mlp", "lr": 0.1})


# --- the lr-find command ------------------------------------------------------------------------


def lr_find_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lrlab")
    cli.add_lr_find_command(parser.add_subparsers(dest="command", required=True))
    return parser


def test_every_lr_find_option_has_help():
    sub = lr_find_parser()._actions[-1].choices["lr-find"]
    options = [a for a in sub._actions if a.option_strings and a.dest != "help"]
    assert {"--mode", "--start-lr", "--end-lr", "--num-iter", "--seeds", "--plot"} <= {
        s for a in options for s in a.option_strings
    }
    assert all(a.help for a in options)


def test_lr_find_prints_the_suggestions_and_saves_plot_and_results(tmp_path, capsys):
    plot, out = tmp_path / "lr.png", tmp_path / "found.json"
    argv = ["lr-find", "--dataset", "digits", "--model", "mlp", "--start-lr", "1e-4"]
    argv += ["--num-iter", "40", "--plot", str(plot), "--out", str(out), "--no-progress"]
    args = lr_find_parser().parse_args(argv)
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    for method in lrfind.METHODS:
        assert f"\n{method} " in printed
    assert plot.stat().st_size > 1000
    record = results.load("found", root=tmp_path)
    assert record["config"] == cli.config_from_args(args)
    assert record["result"]["lrs"][0] == 1e-4
    # load_or_run finds the stored test by the same config (and does not run anything).
    found = results.load_or_run(
        "found", cli.config_from_args(args), lambda c: pytest.fail("ran"), {}, root=tmp_path
    )
    assert found["source"] == "stored"


def test_lr_find_with_seeds_prints_the_spread(tmp_path, capsys):
    argv = ["lr-find", "--num-iter", "25", "--start-lr", "1e-3", "--seeds", "2"]
    argv += ["--methods", "valley,steep", "--no-progress", "--plot", str(tmp_path / "s.png")]
    args = lr_find_parser().parse_args(argv)
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "seeds 0..1" in printed and "max/min" in printed and "steepest" not in printed


def test_lr_find_rejects_bad_options(capsys):
    with pytest.raises(SystemExit):
        lr_find_parser().parse_args(["lr-find", "--methods", "valley,fastest"])
    args = lr_find_parser().parse_args(["lr-find", "--seeds", "2", "--out", "x.json"])
    with pytest.raises(ValueError, match="--out needs"):
        cli.run_lr_find(args)


def test_cyclical_bounds_are_where_the_loss_starts_to_fall_and_where_it_turns_up():
    """Hand-made curve: flat at 2.3 until 0.03, falling to its minimum at 0.3, then up.
    Catches a lower bound taken before the loss has fallen, or an upper bound after."""
    lrs = np.geomspace(1e-3, 1.0, 31)  # 10 ** (-3 + k / 10)
    losses = np.where(lrs < 0.03, 2.3, 2.3 - 2 * np.log10(lrs / 0.029))
    losses[lrs > 0.3] = 5.0
    base_lr, max_lr = lrfind.cyclical_bounds(lrs, losses, drop=0.01)
    assert base_lr == float(f"{lrs[lrs >= 0.03][0]:.2g}")
    assert max_lr == float(f"{lrs[lrs <= 0.3][-1]:.2g}")
    assert base_lr < max_lr


def test_cyclical_bounds_ignore_a_dip_after_the_minimum_and_non_finite_losses():
    lrs = np.array([0.01, 0.02, 0.04, 0.08, 0.16, 0.32])
    losses = np.array([2.3, 2.3, 2.0, 1.0, np.nan, 1.5])
    assert lrfind.cyclical_bounds(lrs, losses) == (0.04, 0.08)


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
        lrfind.cyclical_bounds(lrs, losses, drop)
