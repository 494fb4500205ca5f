"""Tests of lrlab.step: the runtime floor under every training loop (precision, memory
layout, the step, evaluation)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from lrlab import models
from lrlab.step import choose_channels_last, choose_precision, evaluate, make_train_step


def mlp(digits, seed=0):
    return models.build("mlp", 10, digits.input_shape, seed=seed)


@pytest.mark.parametrize(
    ("precision", "device", "bf16", "expected"),
    [
        ("auto", "cuda", True, "bf16"),  # A100, H100, L4
        ("auto", "cuda", False, "fp16"),  # T4, V100: fp16 with a gradient scaler
        ("auto", "cpu", False, "fp32"),
        ("auto", "mps", False, "fp32"),
        ("fp32", "cuda", True, "fp32"),
        ("bf16", "cpu", False, "bf16"),
        ("fp16", "cuda", True, "fp16"),
    ],
)
def test_precision_auto_chooses_by_device_capability(precision, device, bf16, expected):
    assert choose_precision(precision, device, bf16) == expected


def test_precision_refuses_what_the_device_cannot_do():
    with pytest.raises(ValueError, match="'fp16' needs a CUDA device"):
        choose_precision("fp16", "cpu", False)
    with pytest.raises(ValueError, match="'bf16' needs a GPU with bf16"):
        choose_precision("bf16", "cuda", False)
    with pytest.raises(ValueError, match="precision must be one of"):
        choose_precision("fp8", "cuda", True)


def test_channels_last_auto_only_for_conv_nets_on_cuda():
    assert choose_channels_last("auto", "cuda", has_conv=True) is True
    assert choose_channels_last("auto", "cuda", has_conv=False) is False
    assert choose_channels_last("auto", "cpu", has_conv=True) is False
    assert choose_channels_last(True, "cpu", has_conv=False) is True
    with pytest.raises(ValueError, match="channels_last must be"):
        choose_channels_last("yes", "cpu", True)


def test_fp16_step_with_gradient_scaler_matches_fp32():
    """The GPU's fp16 path (autocast + GradScaler), run on the CPU: the recorded gradient
    norm is the unscaled one and the update matches fp32 to fp16 accuracy."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    ref = copy.deepcopy(net)
    x, y = torch.randn(32, 8), torch.randint(0, 3, (32,))
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    half = make_train_step(net, torch.optim.SGD(net.parameters(), lr=0.1), "fp16", False, scaler)
    full = make_train_step(ref, torch.optim.SGD(ref.parameters(), lr=0.1))
    (loss16, norm16, _), (loss32, norm32, _) = half(x, y, 0.1), full(x, y, 0.1)
    assert float(norm16) == pytest.approx(float(norm32), rel=1e-2)
    assert float(loss16) == pytest.approx(float(loss32), rel=1e-2)
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-4, rtol=1e-3)


def test_evaluate_restores_the_mode_and_counts_correctly(digits):
    net = mlp(digits).train()
    loss, acc = evaluate(net, digits, "test")
    x, y = digits.tensors("test")
    with torch.no_grad():
        logits = net.eval()(x)
    assert acc == pytest.approx(float((logits.argmax(1) == y).float().mean()))
    assert loss == pytest.approx(float(nn.functional.cross_entropy(logits, y)), rel=1e-5)
    assert evaluate(net.train(), digits)[1] == acc and net.training


def test_train_step_without_metrics_takes_the_same_step():
    """metrics=False (what the range test uses) skips grad norm and accuracy, nothing else."""
    weights = []
    for metrics in (True, False):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        step = make_train_step(net, opt, metrics=metrics)
        gen = torch.Generator().manual_seed(1)
        for _ in range(3):
            x, y = torch.randn(8, 6, generator=gen), torch.randint(0, 3, (8,), generator=gen)
            loss, grad_norm, correct = step(x, y, 0.05)
        assert (grad_norm is None and correct is None) == (not metrics)
        weights.append([p.detach().clone() for p in net.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))


def test_mse_loss_is_half_the_squared_distance_to_one_hot_targets(digits):
    """Cohen et al. (2021), 'Gradient Descent on Neural Networks Typically Occurs at the Edge
    of Stability': the square loss 0.5 * sum_k (z_k - [k = y])^2, averaged over
    examples; checked against a NumPy float64 computation from the logits."""
    net = mlp(digits)
    loss, acc = evaluate(net, digits, "test", loss="mse")
    x, y = digits.tensors("test")
    with torch.no_grad():
        logits = net.eval()(x).double().numpy()
    onehot = np.eye(10)[y.numpy()]
    expected = float(np.mean(0.5 * np.sum((logits - onehot) ** 2, axis=1)))
    assert loss == pytest.approx(expected, rel=1e-5)
    assert acc == pytest.approx(float(np.mean(logits.argmax(1) == y.numpy())))
    with pytest.raises(ValueError, match="loss must be one of"):
        evaluate(net, digits, loss="hinge")
