"""Tests of curvature.sharpness, stability_threshold and SharpnessTracker.

References: the full float64 Hessian from torch.autograd.functional.hessian; the stability
bounds of lrlab.dynamics.max_stable_lr; gradient descent on a quadratic (dynamics.gd_quadratic).
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from lrlab import curvature, data, dynamics, train
from lrlab.curvature import measure, tracking
from lrlab.step import square_loss


def _net(seed: int = 0, dtype=torch.float64) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 3)).to(dtype)


def _batch(seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(50, 6, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 3, (50,), generator=generator)
    return x, y


def _full_hessian_top(model: nn.Module, x, y, loss) -> float:
    """λ_max of the exact float64 Hessian (the reference)."""
    model = model.to(torch.float64)
    named = list(model.named_parameters())
    shapes = [p.shape for _, p in named]
    flat = torch.cat([p.detach().reshape(-1) for _, p in named])
    criterion = nn.functional.cross_entropy if loss == "cross_entropy" else square_loss

    def loss_of(theta):
        pieces = torch.split(theta, [s.numel() for s in shapes])
        state = {n: t.view(s) for (n, _), t, s in zip(named, pieces, shapes, strict=True)}
        return criterion(functional_call(model, state, (x.to(torch.float64),)), y)

    return torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of, flat))[-1].item()


@pytest.mark.parametrize("module", [measure, tracking])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, extraglobs={"torch": torch, "nn": nn})
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_sharpness_matches_full_float64_hessian(loss, method):
    model = _net()
    x, y = _batch()
    reference = _full_hessian_top(model, x, y, loss)
    value = curvature.sharpness(model, x, y, loss=loss, method=method, tol=1e-10, iters=2000)
    assert abs(value - reference) <= 1e-6 * abs(reference)


def test_float64_on_request_measures_a_float32_model_to_full_precision():
    """dtype=float64 copies the model: a float32 model's sharpness to 1e-6, model unchanged."""
    model32 = _net(dtype=torch.float32)
    x, y = _batch()
    before = [p.detach().clone() for p in model32.parameters()]
    reference = _full_hessian_top(_net(dtype=torch.float32), x, y, "mse")
    value = curvature.sharpness(model32, x.float(), y, loss="mse", tol=1e-10, dtype=torch.float64)
    assert abs(value - reference) <= 1e-6 * reference
    assert next(model32.parameters()).dtype == torch.float32
    assert all(torch.equal(a, b) for a, b in zip(before, model32.parameters(), strict=True))


def test_sharpness_leaves_batchnorm_running_statistics_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 3))
    x, y = _batch()
    model.float()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    curvature.sharpness(model, x.float(), y)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert model.training


def _batchnorm_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 3)).double()


def test_eval_mode_measures_the_running_average_loss_and_restores_train_mode():
    """The BatchNorm net in eval mode is another function: its own dense Hessian."""
    model = _batchnorm_net()
    x, y = _batch()
    with torch.no_grad():  # running statistics away from the batch's, so the modes differ
        model[1].running_mean.fill_(0.3)
        model[1].running_var.fill_(2.0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    reference = _full_hessian_top(model.eval(), x, y, "cross_entropy")
    train_reference = _full_hessian_top(model.train(), x, y, "cross_entropy")
    model.load_state_dict(state)  # the reference's forward pass in train mode moved them
    value = curvature.sharpness(model, x, y, mode="eval", tol=1e-10, iters=500)
    assert value == pytest.approx(reference, rel=1e-7)
    assert value != pytest.approx(train_reference, rel=1e-3)
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    model.eval()
    assert curvature.sharpness(model, x, y, mode="train", tol=1e-10) == pytest.approx(
        train_reference, rel=1e-7
    )
    assert not model.training
    dropout = nn.Sequential(_net(), nn.Dropout(0.5))
    assert curvature.sharpness(dropout, x, y, mode="eval") > 0  # dropout is off in eval


def test_examples_measures_the_first_examples_of_the_batch():
    model = _net()
    x, y = _batch()
    reference = _full_hessian_top(model, x[:20], y[:20], "mse")
    value = curvature.sharpness(model, x, y, loss="mse", examples=20, tol=1e-10, iters=500)
    assert value == pytest.approx(reference, rel=1e-7)
    assert curvature.sharpness(model, x, y, examples=500) == curvature.sharpness(model, x, y)


@pytest.mark.parametrize("flat", [True, False])
def test_weights_measures_there_and_puts_the_models_weights_back(flat):
    model, other = _net(0), _net(5)
    x, y = _batch()
    before = [p.detach().clone() for p in model.parameters()]
    reference = _full_hessian_top(other, x, y, "cross_entropy")
    weights = (
        torch.nn.utils.parameters_to_vector(other.parameters())
        if flat
        else [p.detach() for p in other.parameters()]
    )
    value = curvature.sharpness(model, x, y, weights=weights, tol=1e-10, iters=500)
    assert value == pytest.approx(reference, rel=1e-7)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_warm_started_tracker_agrees_with_cold_within_tol_with_fewer_products():
    """Issue 26: same sharpness to the solver's tolerance, fewer Hessian-vector products
    (counted, not timed) on a slowly changing problem (a small rate)."""
    subset = _digits_subset()
    x, y = subset.tensors("train")
    tol = 1e-4
    runs = {}
    for warm in (False, True):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10))
        tracker = curvature.SharpnessTracker(x, y, every=2, tol=tol, iters=500, warm_start=warm)
        history = train.fit(
            model,
            subset,
            0.02,
            epochs=12,
            batch_size=len(y),
            momentum=0.0,
            weight_decay=0.0,
            progress=False,
            loss="mse",
            callbacks=[tracker],
        )
        runs[warm] = (np.array([v for _, v in history.extras["sharpness"]]), tracker)
    (cold, cold_tracker), (warm, warm_tracker) = runs[False], runs[True]
    assert len(cold) == len(warm) == 6
    np.testing.assert_allclose(warm, cold, rtol=tol)
    assert cold_tracker.counts[0] == warm_tracker.counts[0]  # the first one starts cold
    assert sum(warm_tracker.counts[1:]) < sum(cold_tracker.counts[1:])
    assert warm_tracker.hvps == sum(warm_tracker.counts)


@pytest.mark.parametrize(
    ("momentum", "nesterov"), [(0.0, False), (0.5, False), (0.9, False), (0.5, True), (0.9, True)]
)
def test_threshold_is_the_inverse_of_max_stable_lr(momentum, nesterov):
    """λ = stability_threshold(η) exactly when dynamics.max_stable_lr(λ) = η."""
    for lr in (1e-3, 0.05, 2.0):
        threshold = curvature.stability_threshold(lr, momentum, nesterov)
        assert dynamics.max_stable_lr(threshold, momentum, nesterov) == pytest.approx(lr, rel=1e-12)


@pytest.mark.parametrize(("momentum", "nesterov"), [(0.0, False), (0.9, False), (0.9, True)])
def test_threshold_separates_converging_from_diverging_gd_on_a_quadratic(momentum, nesterov):
    """Gradient descent (PyTorch's SGD update) on ½λw²: converges just below, diverges above."""
    lr = 0.1
    threshold = curvature.stability_threshold(lr, momentum, nesterov)
    ends = dynamics.gd_quadratic(
        [0.98 * threshold, 1.02 * threshold], lr, 1.0, 3000, momentum, nesterov
    )[-1]
    assert abs(ends[0]) < 1e-6
    assert not np.isfinite(ends[1]) or abs(ends[1]) > 1e6


def _digits_subset(n: int = 200):
    digits = data.load("digits", device="cpu")
    x, y = digits.raw("train")
    xt, yt = digits.raw("test")
    return data.Dataset(
        "digits-200",
        (x[:n], y[:n]),
        (xt[:50], yt[:50]),
        digits.classes,
        scale=16.0,
        augment_crop_flip=False,
        device="cpu",
    )


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"momentum": 0.0}, lambda lr: 2 / lr),
        ({"momentum": 0.9}, lambda lr: (2 + 2 * 0.9) / lr),
        ({"momentum": 0.9, "nesterov": True}, lambda lr: 2 * 1.9 / (2.8 * lr)),
    ],
)
def test_tracker_in_fit_records_sharpness_and_the_optimizers_threshold(options, expected):
    """The threshold uses the run's optimizer and each step's rate; λ is the sharpness then."""
    subset = _digits_subset()
    x, y = subset.tensors("train")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10))
    tracker = curvature.SharpnessTracker(x, y, every=3)
    schedule = lambda step: 0.05 / (1 + step)  # noqa: E731 - a rate that changes every step
    measured = []

    def after(model, step, history):  # an independent measurement at the same steps
        if step % 3 == 0:
            measured.append(curvature.sharpness(model, x, y, loss="mse"))

    history = train.fit(
        model,
        subset,
        schedule,
        epochs=7,
        batch_size=len(y),
        weight_decay=0.0,
        progress=False,
        loss="mse",
        callbacks=[tracker, after],
        **options,
    )
    steps = [s for s, _ in history.extras["sharpness"]]
    assert steps == [0, 3, 6]
    thresholds = [t for _, t in history.extras["stability_threshold"]]
    assert thresholds == pytest.approx([expected(schedule(s)) for s in steps], rel=1e-12)
    assert [v for _, v in history.extras["sharpness"]] == pytest.approx(measured, rel=1e-3)
    assert tracker.hvps > 0


def test_tracker_returns_early_at_steps_it_does_not_want():
    x, y = _batch()
    history = train.History(lr=[0.1, 0.1], config={"optimizer": "sgd", "momentum": 0.0})
    tracker = curvature.SharpnessTracker(x, y, every=2)
    tracker(_net(), 1, history)
    assert history.extras == {}
    tracker(_net(), 0, history)
    assert history.extras["stability_threshold"] == [[0, 20.0]]


def test_tracker_without_threshold_records_the_sharpness_alone():
    x, y = _batch()
    history = train.History(lr=[0.1], config={"optimizer": "sgd", "momentum": 0.0})
    curvature.SharpnessTracker(x, y, threshold=False)(_net(), 0, history)
    assert set(history.extras) == {"sharpness"}


def test_tracker_records_no_threshold_for_adam():
    x, y = _batch()
    history = train.History(lr=[0.1], config={"optimizer": "adam", "momentum": 0.9})
    curvature.SharpnessTracker(x, y)(_net(), 0, history)
    assert set(history.extras) == {"sharpness"}


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda m, x, y: curvature.sharpness(m, x, y, loss="hinge"), "loss"),
        (lambda m, x, y: curvature.sharpness(m, x, y, method="arnoldi"), "method"),
        (lambda m, x, y: curvature.sharpness(m, x, y, tol=0.0), "tol"),
        (lambda m, x, y: curvature.sharpness(m, x, y, iters=0), "iters"),
        (lambda m, x, y: curvature.sharpness(m, x, y[:3]), "inputs"),
        (lambda m, x, y: curvature.sharpness(m, x, y, dtype=torch.int64), "dtype"),
        (lambda m, x, y: curvature.sharpness(nn.Sequential(nn.Dropout(0.5), m), x, y), "model"),
        (lambda m, x, y: curvature.sharpness(m, x, y, mode="test"), "mode"),
        (lambda m, x, y: curvature.sharpness(m, x, y, examples=0), "examples"),
        (lambda m, x, y: curvature.sharpness(m, x, y, weights=torch.ones(3)), "weights"),
        (lambda m, x, y: curvature.sharpness(m, x, y, weights=[torch.ones(3)]), "weights"),
        (lambda m, x, y: curvature.SharpnessTracker(x, y, mode="eval mode"), "mode"),
        (lambda m, x, y: curvature.SharpnessTracker(x, y, examples=-1), "examples"),
        (lambda m, x, y: curvature.SharpnessTracker(x, y, every=0), "every"),
        (lambda m, x, y: curvature.SharpnessTracker(x, y, loss="l1"), "loss"),
        (lambda m, x, y: curvature.SharpnessTracker(x, y, momentum=1.0), "momentum"),
        (lambda m, x, y: curvature.stability_threshold(-0.1), "lr"),
        (lambda m, x, y: curvature.stability_threshold(0.1, 0.0, nesterov=True), "nesterov"),
    ],
)
def test_bad_input_names_the_parameter(call, name):
    x, y = _batch()
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call(_net(), x, y)


def test_numpy_numbers_are_accepted():
    x, y = _batch()
    tracker = curvature.SharpnessTracker(x, y, every=np.int64(4), momentum=np.float64(0.5))
    assert tracker.every == 4
    assert curvature.stability_threshold(np.float32(0.5)) == 4.0


@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_overflowing_curvature_gives_nan_and_a_warning_not_an_error(method):
    """A diverging run can reach weights whose Hessian overflows float32 (found in a GD run
    at a rate far above 2/λ₀): the measurement must not crash the training loop."""
    w = torch.tensor([1e30, 1.0], requires_grad=True)
    with pytest.warns(RuntimeWarning, match="not finite"):
        value, _ = curvature.top_eigenvalue(lambda: (w**4).sum() * 1e-100, [w], method=method)
    assert np.isnan(value)
