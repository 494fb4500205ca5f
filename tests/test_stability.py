"""Tests of lrlab.stability: the metrics against closed forms, a hand computation and PyTorch."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from torch import nn

from lrlab import data, models, stability, train
from lrlab.history import History


def _two_layer(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2)).double()


def _hooks(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_one_step_matches_a_hand_computation_on_a_two_layer_network():
    """Every metric of one SGD step, recomputed by hand in NumPy (forward, backprop, step).

    Catches a wrong layer output, a backward signal of the wrong loss or sign, a KL in the
    wrong direction, an unsorted Wasserstein matching, or update sizes of the wrong tensors.
    """
    net = _two_layer()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -0.5], [0.3, 0.8], [-0.7, 0.2]]))
        net[0].bias.copy_(torch.tensor([0.1, -0.2, 0.05]))
        net[2].weight.copy_(torch.tensor([[0.6, -0.4, 0.9], [-0.3, 0.7, 0.2]]))
        net[2].bias.copy_(torch.tensor([0.0, 0.1]))
    x = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, -0.8], [2.0, -1.0]])
    y = np.array([0, 1, 1, 0])
    lr, n = 0.3, len(y)
    onehot = np.eye(2)[y]
    w1, b1 = net[0].weight.detach().numpy().copy(), net[0].bias.detach().numpy().copy()
    w2, b2 = net[2].weight.detach().numpy().copy(), net[2].bias.detach().numpy().copy()

    def forward(w1, b1, w2, b2):
        z1 = x @ w1.T + b1
        h = np.maximum(z1, 0)
        z2 = h @ w2.T + b2
        p = _softmax(z2)
        losses = -np.log(p[np.arange(n), y])
        dz2 = (p - onehot) / n  # d(mean loss)/d z2
        dz1 = (dz2 @ w2) * (z1 > 0)
        grads = (dz1.T @ x, dz1.sum(0), dz2.T @ h, dz2.sum(0))
        return z1, z2, dz1, dz2, p, losses, grads

    z1, z2, dz1, dz2, p, losses, (gw1, gb1, gw2, gb2) = forward(w1, b1, w2, b2)
    new = (w1 - lr * gw1, b1 - lr * gb1, w2 - lr * gw2, b2 - lr * gb2)
    z1n, z2n, dz1n, dz2n, pn, lossesn, _ = forward(*new)

    def rel(a, b):
        return np.linalg.norm(b - a) / np.linalg.norm(a)

    xt, yt = torch.tensor(x), torch.tensor(y)
    got = stability.one_step(net, xt, yt, xt, yt, lr)

    theta1, theta2 = np.concatenate([w1.ravel(), b1]), np.concatenate([w2.ravel(), b2])
    step1 = np.concatenate([(new[0] - w1).ravel(), new[1] - b1])
    step2 = np.concatenate([(new[2] - w2).ravel(), new[3] - b2])
    grad1, grad2 = np.concatenate([gw1.ravel(), gb1]), np.concatenate([gw2.ravel(), gb2])
    expected = {
        "activation_drift": {"0": rel(z1, z1n), "2": rel(z2, z2n)},
        "backward_drift": {"0": rel(dz1, dz1n), "2": rel(dz2, dz2n)},
        "update_size": {
            "0": np.linalg.norm(step1) / np.linalg.norm(theta1),
            "2": np.linalg.norm(step2) / np.linalg.norm(theta2),
        },
        "layer_progress": {"0": -grad1 @ step1, "2": -grad2 @ step2},
        "prediction_kl": np.mean(np.sum(p * (np.log(p) - np.log(pn)), axis=1)),
        "loss_w1": np.mean(np.abs(np.sort(losses) - np.sort(lossesn))),
        "loss_change": lossesn.mean() - losses.mean(),
    }
    assert set(got) == set(expected)
    for key, value in expected.items():
        if isinstance(value, dict):
            assert set(got[key]) == set(value), key
            for layer in value:
                np.testing.assert_allclose(got[key][layer], value[layer], rtol=1e-10, err_msg=key)
        else:
            np.testing.assert_allclose(got[key], value, rtol=1e-10, err_msg=key)
    # and one_step undid its step
    np.testing.assert_array_equal(net[0].weight.detach().numpy(), w1)


def test_twice_the_step_doubles_first_layer_drift_exactly_and_quadruples_kl():
    """One SGD step at η and 2η from the same weights (issue's closed forms).

    The first layer's pre-activation is linear in its parameters, z = Wx + b, so its drift
    is ∝ η exactly; the other drifts are ∝ η to first order, and the KL divergence of the
    predictions is a quadratic form in the step, ½ΔθᵀFΔθ, to leading order: ∝ η².
    """
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 4))
    net = net.double()
    x, y = torch.randn(64, 6, dtype=torch.float64), torch.randint(0, 4, (64,))
    xb, yb = torch.randn(32, 6, dtype=torch.float64), torch.randint(0, 4, (32,))
    small, large = (stability.one_step(net, x, y, xb, yb, lr) for lr in (1e-3, 2e-3))
    first = "0"
    np.testing.assert_allclose(
        large["activation_drift"][first] / small["activation_drift"][first], 2.0, rtol=1e-9
    )
    for key in ("activation_drift", "backward_drift", "update_size"):
        for layer, value in small[key].items():
            np.testing.assert_allclose(large[key][layer] / value, 2.0, rtol=0.02, err_msg=key)
    np.testing.assert_allclose(large["update_size"]["2"] / small["update_size"]["2"], 2, rtol=1e-9)
    np.testing.assert_allclose(large["prediction_kl"] / small["prediction_kl"], 4.0, rtol=0.02)
    np.testing.assert_allclose(large["loss_w1"] / small["loss_w1"], 2.0, rtol=0.05)


@pytest.mark.parametrize("lr_times_h", [0.2, 1.0, 1.6])
def test_noisy_quadratic_matches_the_stationary_closed_forms(lr_times_h):
    """SGD on ½hx² with unit Gaussian gradient noise: corr(g_t, g_{t+1}) = −ηh/2 and
    E g² = 2/(2 − ηh).

    Derivation: x_{t+1} = (1 − ηh)x_t − ηξ_t has stationary variance η/(h(2 − ηh)); with
    g = hx + ξ, E g² = h²Var x + 1 and E g_t g_{t+1} = h[h(1 − ηh)Var x − η]. Catches a
    simulation that is not stationary or a correlation pooled the wrong way.
    """
    h = 2.0
    g = stability.noisy_quadratic_gradients(h, lr_times_h / h, steps=4000, dim=100, seed=3)
    assert abs(stability.successive_correlation(g) - (-lr_times_h / 2)) < 0.02
    np.testing.assert_allclose(np.mean(g**2), 2 / (2 - lr_times_h), rtol=0.03)
    # In many dimensions the cosine of two successive gradient vectors concentrates at the
    # correlation: the per-step cosine the tracker records has the same mean.
    cosines = [
        stability.gradient_cosine(torch.tensor(a), torch.tensor(b))
        for a, b in zip(g, g[1:], strict=False)
    ]
    assert abs(np.mean(cosines) - (-lr_times_h / 2)) < 0.02


def test_prediction_kl_matches_torch_distributions():
    """Catches KL(q‖p) instead of KL(p‖q), or a sum where the mean over examples is meant."""
    torch.manual_seed(2)
    a, b = torch.randn(20, 5), torch.randn(20, 5)
    reference = torch.distributions.kl_divergence(
        torch.distributions.Categorical(logits=a.double()),
        torch.distributions.Categorical(logits=b.double()),
    ).mean()
    np.testing.assert_allclose(stability.prediction_kl(a, b), float(reference), rtol=1e-12)


def test_loss_wasserstein_matches_scipy():
    """scipy.stats.wasserstein_distance is the reference for the 1-D 1-Wasserstein distance."""
    rng = np.random.default_rng(0)
    a, b = rng.exponential(size=50), rng.exponential(2.0, size=50)
    np.testing.assert_allclose(
        stability.loss_wasserstein(torch.tensor(a), torch.tensor(b)),
        scipy.stats.wasserstein_distance(a, b),
        rtol=1e-12,
    )


def test_gradient_cosine_matches_torch_over_several_tensors():
    """Catches a cosine taken per tensor instead of over the whole flattened gradient."""
    torch.manual_seed(3)
    a = [torch.randn(3, 4), torch.randn(5)]
    b = [torch.randn(3, 4), torch.randn(5)]
    flat_a, flat_b = torch.cat([t.reshape(-1) for t in a]), torch.cat([t.reshape(-1) for t in b])
    expected = F.cosine_similarity(flat_a.double(), flat_b.double(), dim=0)
    np.testing.assert_allclose(stability.gradient_cosine(a, b), float(expected), rtol=1e-12)


def test_activations_are_the_layer_outputs_and_leave_mode_and_hooks_alone():
    torch.manual_seed(4)
    net = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.ReLU(), nn.Linear(4, 2))
    net.train()
    net[1].eval()  # a mixed state must come back as it was, module by module
    x = torch.randn(7, 3)
    acts = stability.activations(net, x)
    assert list(acts) == ["0", "3"]
    torch.testing.assert_close(acts["0"], net[0](x))
    torch.testing.assert_close(acts["3"], net[3](torch.relu(net[0](x))))  # eval: no dropout
    assert net.training and net[0].training and not net[1].training
    assert _hooks(net) == 0
    assert list(stability.activations(net, x, layer_names=["3"])) == ["3"]
    with pytest.raises(ValueError, match="layer_names"):
        stability.activations(net, x, layer_names=["1"])


def _manual_training(net, tracker, steps, lr=0.1, wd=1e-3):
    """A plain SGD loop calling the tracker after each step as fit does; returns the
    History and each step's minibatch gradient computed independently of .grad."""
    torch.manual_seed(5)
    batches = [(torch.randn(16, 5), torch.randint(0, 3, (16,))) for _ in range(steps)]
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=wd)
    history, grads = History(), []
    for step, (x, y) in enumerate(batches):
        loss = F.cross_entropy(net(x), y)
        grads.append(torch.autograd.grad(loss, list(net.parameters()), retain_graph=True))
        opt.zero_grad()
        loss.backward()
        opt.step()
        tracker(net, step, history)
    return history, grads


def test_tracker_records_every_k_steps_the_cosine_of_the_minibatch_gradients():
    """The tracker reads the minibatch gradient fit leaves in .grad (weight decay is added
    out of place by torch.optim.SGD): its cosine must equal that of the gradients computed
    independently, and it must record at steps k, 2k, ... only."""
    torch.manual_seed(6)
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    probe_x, probe_y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    tracker = stability.StabilityTracker(probe_x, probe_y, every=np.int64(4))
    history, grads = _manual_training(net, tracker, steps=13)
    steps, cosines = stability.series(history, "gradient_cosine")
    assert steps.tolist() == [4, 8, 12]
    for step, cosine in zip(steps, cosines, strict=True):
        np.testing.assert_allclose(
            cosine, stability.gradient_cosine(grads[step - 1], grads[step]), rtol=1e-5
        )
    assert set(history.extras) == {
        *stability.LAYER_METRICS,
        "prediction_kl",
        "loss_w1",
        "loss_change",
        "gradient_cosine",
    }
    assert _hooks(net) == 0


def test_tracker_gives_the_same_records_whether_or_not_calls_are_filtered():
    """fit may call it at every step or only where wants() says: same History either way;
    and the recorded drift is the one of the step in between (compare of the two probes)."""
    torch.manual_seed(7)
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    probe_x, probe_y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    every_call = stability.StabilityTracker(probe_x, probe_y, every=3)
    filtered = stability.StabilityTracker(probe_x, probe_y, every=3)

    class OnlyWanted:
        def __call__(self, model, step, history):
            if filtered.wants(step):
                filtered(model, step, history)

    net_b = copy.deepcopy(net)
    h_all, _ = _manual_training(net, every_call, steps=10)
    h_filtered, _ = _manual_training(net_b, OnlyWanted(), steps=10)
    assert h_all.extras == h_filtered.extras
    assert [s for s in range(10) if every_call.wants(s)] == [2, 3, 5, 6, 8, 9]


def test_tracker_in_fit_restores_mode_and_history_survives_json():
    """Inside fit the model is in train mode while the tracker probes in eval mode: every
    module's mode after each call must equal the one before it, no hook may remain, and
    the per-layer series must survive a JSON round trip of the History."""
    digits = data.load("digits", device="cpu")
    x, y = digits.tensors("train")
    torch.manual_seed(8)
    net = models.build("mlp", 10, digits.input_shape, hidden=(32,))
    tracker = stability.StabilityTracker(x[:50], y[:50], every=7)
    modes = []

    def check_mode(model, step, history):
        before = [m.training for m in model.modules()]
        tracker(model, step, history)
        modes.append(before == [m.training for m in model.modules()])

    history = train.fit(net, digits, 0.05, epochs=1, progress=False, callbacks=[check_mode])
    assert all(modes) and net.training
    assert _hooks(net) == 0
    steps, drift = stability.series(history, "activation_drift")
    assert steps.tolist() == list(range(7, history.steps, 7))
    assert set(drift) == {"1", "3"} and np.all(drift["1"] > 0)
    again = History.from_json(history.to_json())
    assert json.dumps(again.extras) == json.dumps(history.extras)


def test_bad_input_is_rejected_with_the_parameter_named():
    x, y = torch.randn(4, 3), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="at least one example"):
        stability.StabilityTracker(x[:0], y[:0])
    for every in (0, -2):
        with pytest.raises(ValueError, match="every must be an integer >= 1"):
            stability.StabilityTracker(x, y, every=every)
    for every in (1.5, True):  # not an integer at all: a TypeError, as everywhere in lrlab
        with pytest.raises(TypeError, match="every must be an integer, got"):
            stability.StabilityTracker(x, y, every=every)
    with pytest.raises(ValueError, match="one label per input"):
        stability.StabilityTracker(x, y[:3])
    with pytest.raises(TypeError, match="tensor"):
        stability.probe(nn.Linear(3, 2), x.numpy(), y)
    with pytest.raises(ValueError, match="lr must be"):
        stability.one_step(nn.Linear(3, 2), x, y, x, y, lr=0.0)
    with pytest.raises(ValueError, match="at least one module with parameters"):
        stability.activations(nn.ReLU(), x)
    with pytest.raises(ValueError, match="curvature must be"):
        stability.noisy_quadratic_gradients(-1.0, 0.1, 10)
    with pytest.raises(ValueError, match="steps must be"):
        stability.noisy_quadratic_gradients(1.0, 0.1, 0)
    with pytest.raises(ValueError, match="metric must be one of"):
        stability.series(History(), "activation_drift")


def test_gradient_cosine_matches_the_definition_and_skips_non_consecutive_steps():
    model = nn.Linear(3, 1, bias=False)
    history = History()
    callback = stability.GradientCosine()
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
    history = History()
    callback = stability.GradientCosine()
    optimizer = torch.optim.SGD([w], lr=0.25)
    for step in range(5):
        optimizer.zero_grad()
        (0.5 * 10.0 * (w**2).sum()).backward()  # ηλ = 2.5
        optimizer.step()
        callback(model, step, history)
    assert [v for _, v in history.extras["gradient_cosine"]] == pytest.approx([-1.0] * 4)
