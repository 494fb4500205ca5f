"""Tests of lrlab.data.from_tensors: a Dataset of the user's own tensors, classification or
regression, and fit, the range test and the trackers on it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from lrlab import curvature, data, lrfind, step, train


def regression(n: int = 80, d: int = 3, k: int | None = None, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen) * 3 + 1  # far from standardised, on purpose
    w = torch.randn(d, k or 1, generator=gen)
    y = x @ w + 0.1 * torch.randn(n, k or 1, generator=gen)
    return x, (y[:, 0] if k is None else y)


def test_batches_are_the_tensors_as_given_in_float32():
    x, y = regression()
    ds = data.from_tensors(x[:60], y[:60].double(), x[60:], y[60:].double(), device="cpu")
    assert (ds.task, ds.num_classes, ds.input_shape, ds.classes) == ("regression", 1, (3,), ["y"])
    assert not ds.normalized and data.load("digits", device="cpu").normalized
    xb, yb = next(ds.batches("train", 60, shuffle=False))
    assert torch.equal(xb, x[:60]) and yb.dtype == torch.float32 and torch.equal(yb, y[:60])
    assert torch.equal(ds.tensors("test")[0], x[60:])
    ordered = torch.cat([b for b, _ in ds.batches("train", 16, seed=3)])
    assert sorted(ordered[:, 0].tolist()) == sorted(x[:60, 0].tolist())


def test_labels_make_a_classification_set_with_numpy_inputs():
    x = np.random.default_rng(0).normal(size=(30, 2, 5))
    y = np.arange(30) % 4
    ds = data.from_tensors(x[:20], y[:20], x[20:], y[20:], name="mine", device="cpu")
    assert (ds.name, ds.task, ds.num_classes, ds.input_shape) == (
        "mine",
        "classification",
        4,
        (2, 5),
    )
    assert ds.raw("train")[1].dtype == torch.int64
    named = data.from_tensors(x[:20], y[:20], x[20:], y[20:], classes=["a", "b", "c", "d", "e"])
    assert named.num_classes == 5 and named.classes[-1] == "e"
    assert data.from_tensors(x, y, x, y, classes=6).num_classes == 6


def test_multi_output_targets_name_their_outputs():
    x, y = regression(k=2)
    ds = data.from_tensors(x[:60], y[:60], x[60:], y[60:], device="cpu")
    assert (ds.num_classes, ds.classes, ds.raw("train")[1].shape) == (2, ["y0", "y1"], (60, 2))


def test_from_tensors_checks_its_arguments():
    x, y = regression()
    with pytest.raises(ValueError, match="y_train must hold one target per example"):
        data.from_tensors(x, y[:5], x, y)
    with pytest.raises(ValueError, match="both be integers or both be floats"):
        data.from_tensors(x, y, x, y.long())
    with pytest.raises(ValueError, match=r"x_test must have shape \(n, ...\)"):
        data.from_tensors(x, y, x[:, 0], y)
    with pytest.raises(TypeError, match="y_train must hold real numbers"):
        data.from_tensors(x, y > 0, x, y > 0)
    with pytest.raises(ValueError, match=r"labels must be an integer <= 1, got 2"):
        data.from_tensors(x, (y > 0).long() * 2, x, (y > 0).long(), classes=2)
    with pytest.raises(ValueError, match="targets must have shape"):
        data.from_tensors(x, y, x, y, classes=["a", "b"])


def test_square_loss_on_real_targets_is_half_the_squared_error():
    """½‖f(x) − y‖² per example, for (n,) and (n, k) targets (the loss fit uses for
    regression); the mean is half of PyTorch's mse_loss summed over outputs."""
    z = torch.randn(6, 2, dtype=torch.float64)
    y = torch.randn(6, 2, dtype=torch.float64)
    expected = 0.5 * nn.functional.mse_loss(z, y, reduction="sum") / 6
    torch.testing.assert_close(step.square_loss(z, y), expected)
    z1, y1 = z[:, :1], y[:, 0]
    torch.testing.assert_close(
        step.square_loss(z1, y1, reduction="sum"), 0.5 * ((z1[:, 0] - y1) ** 2).sum()
    )


def test_fit_on_regression_is_gradient_descent_on_the_square_loss():
    """Full-batch GD on ½ mean (w·x + b − y)² against the same steps by hand; the default
    loss is the square loss, accuracy NaN, and the History survives JSON."""
    x, y = regression()
    ds = data.from_tensors(x[:60], y[:60], x[60:], y[60:], device="cpu")
    torch.manual_seed(0)
    net = nn.Linear(3, 1)
    w, b = net.weight.detach().double().clone(), net.bias.detach().double().clone()
    history = train.fit(
        net, ds, 0.02, epochs=5, batch_size=60, momentum=0.0, weight_decay=0.0, progress=False
    )
    xs, ys = x[:60].double(), y[:60].double()
    losses = []
    for _ in range(5):
        r = xs @ w[0] + b - ys
        losses.append(float(0.5 * (r**2).mean()))
        w, b = w - 0.02 * (r @ xs / 60)[None], b - 0.02 * r.mean()
    np.testing.assert_allclose(history.loss, losses, rtol=1e-5)
    torch.testing.assert_close(net.weight.detach().double(), w, rtol=1e-5, atol=1e-6)
    assert history.config["loss"] == "mse"
    assert all(math.isnan(a) for a in history.train_acc + history.test_acc)
    again = train.History.from_json(history.to_json())
    assert again.loss == history.loss and math.isnan(again.test_acc[0])
    json.loads(history.to_json())  # strict JSON


def test_fit_refuses_cross_entropy_on_regression_targets():
    x, y = regression()
    ds = data.from_tensors(x, y, x, y, device="cpu")
    with pytest.raises(ValueError, match="for regression use 'mse'"):
        train.fit(nn.Linear(3, 1), ds, 0.1, epochs=1, loss="cross_entropy", progress=False)


def test_fit_on_own_class_labels_matches_fit_on_the_same_data_set():
    """from_tensors of a built-in set's model-ready tensors gives the same training run."""
    digits = data.load("digits", device="cpu")
    (xt, yt), (xs, ys) = digits.tensors("train"), digits.tensors("test")
    mine = data.from_tensors(xt, yt, xs, ys, device="cpu")

    def run(ds):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        return train.fit(net, ds, 0.1, epochs=2, progress=False)

    a, b = run(digits), run(mine)
    assert a.loss == b.loss and a.test_acc == b.test_acc and b.config["loss"] == "cross_entropy"


def test_range_test_and_sharpness_tracker_run_on_regression():
    x, y = regression(k=2)
    ds = data.from_tensors(x[:60], y[:60], x[60:], y[60:], device="cpu")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 2))
    result = lrfind.range_test(net, ds, start_lr=1e-4, end_lr=1.0, num_iter=20, batch_size=16)
    assert result.config["loss"] == "mse" and np.all(np.isfinite(result.losses[:5]))
    tracker = curvature.SharpnessTracker(x[:32], y[:32], every=2)
    history = train.fit(net, ds, 0.01, epochs=1, batch_size=16, progress=False, callbacks=[tracker])
    # The Hessian of ½‖Wx + c − y‖² in the readout alone is positive semi-definite: λ_max > 0.
    assert [s for s, _ in history.extras["sharpness"]] == [0, 2]
    assert all(v > 0 for _, v in history.extras["sharpness"])


def test_holdout_is_the_end_of_the_training_set_and_never_the_test_set(digits):
    held = data.holdout(digits, 0.25)
    images, labels = digits.raw("train")
    assert held.size("train") + held.size("test") == digits.size("train")
    assert torch.equal(held.raw("test")[0], images[held.size("train") :])
    assert torch.equal(held.raw("train")[1], labels[: held.size("train")])
    assert data.holdout(data.subset(digits, 3, 3), 0.01).size("test") == 1
    assert data.holdout(data.subset(digits, 3, 3), 0.99).size("train") == 1
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\)"):
        data.holdout(digits, 1.0)
    with pytest.raises(TypeError, match="dataset must be an lrlab.data.Dataset"):
        data.holdout(images, 0.5)
