"""Tests of Adam's preconditioner and the preconditioned sharpness (issue 23).

References: the step torch.optim.Adam/AdamW actually take (the update must be η P⁻¹ m_t);
the dense float64 Hessian from torch.autograd.functional.hessian, scaled by P (and the
eigenvalues of the non-symmetric P⁻¹H from torch.linalg.eigvals); Cohen et al. (2022,
*Adaptive Gradient Methods at the Edge of Stability*, §2) for P and the 38/η threshold.
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from lrlab import curvature, data, train
from lrlab.curvature import preconditioned
from lrlab.step import square_loss


def _net(seed: int = 0, dtype=torch.float64) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 3)).to(dtype)


def _batch(seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(50, 6, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 3, (50,), generator=generator)
    return x, y


def _train(model, x, y, optimizer, steps: int, loss=nn.functional.cross_entropy) -> None:
    for _ in range(steps):
        optimizer.zero_grad()
        loss(model(x), y).backward()
        optimizer.step()


def _dense_hessian(model: nn.Module, x, y, loss) -> torch.Tensor:
    named = list(model.named_parameters())
    shapes = [p.shape for _, p in named]
    flat = torch.cat([p.detach().reshape(-1) for _, p in named]).to(torch.float64)
    model64 = model.to(torch.float64)

    def loss_of(theta):
        pieces = torch.split(theta, [s.numel() for s in shapes])
        state = {n: t.view(s) for (n, _), t, s in zip(named, pieces, shapes, strict=True)}
        return loss(functional_call(model64, state, (x.to(torch.float64),)), y)

    return torch.autograd.functional.hessian(loss_of, flat)


def _paper_preconditioner(optimizer) -> torch.Tensor:
    """Cohen et al. (2022), §2: P = (1 − β₁^t)(diag √(v_t/(1 − β₂^t)) + ε), flat."""
    pieces = []
    for group in optimizer.param_groups:
        beta1, beta2 = group["betas"]
        for p in group["params"]:
            state = optimizer.state[p]
            t = state["step"].item()
            v = state["max_exp_avg_sq" if group["amsgrad"] else "exp_avg_sq"]
            pieces.append((1 - beta1**t) * (torch.sqrt(v / (1 - beta2**t)) + group["eps"]))
    return torch.cat([q.reshape(-1) for q in pieces])


def test_docstring_examples_run():
    result = doctest.testmod(preconditioned, extraglobs={"torch": torch, "nn": nn})
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: torch.optim.Adam(ps, lr=0.01),
        lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-3, foreach=False),
        lambda ps: torch.optim.Adam(ps, lr=0.01, amsgrad=True),
        lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1),
        lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
    ],
    ids=["adam", "adam-betas-eps-loop", "amsgrad", "adam-l2", "adamw"],
)
def test_adams_update_is_lr_times_inverse_preconditioner_times_exp_avg(make):
    """θ_t = θ_{t−1} − η P⁻¹ m_t for the step torch really takes, at every step t; AdamW's
    decoupled decay θ ← (1 − ηλ)θ comes first and is not part of P."""
    model = _net()
    x, y = _batch()
    optimizer = make(list(model.parameters()))
    group = optimizer.param_groups[0]
    decoupled = isinstance(optimizer, torch.optim.AdamW)
    for _ in range(4):
        before = [p.detach().clone() for p in model.parameters()]
        _train(model, x, y, optimizer, 1)
        diagonal = curvature.adam_preconditioner(optimizer)
        for p, old, d in zip(model.parameters(), before, diagonal, strict=True):
            if decoupled:
                old = old * (1 - group["lr"] * group["weight_decay"])
            expected = old - group["lr"] * optimizer.state[p]["exp_avg"] / d
            torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=1e-15)
    flat = torch.cat([d.reshape(-1) for d in diagonal])
    torch.testing.assert_close(flat, _paper_preconditioner(optimizer), rtol=1e-14, atol=0)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_preconditioned_sharpness_matches_dense_float64_after_adam_steps(loss, method):
    """λ₁ of the dense P^(−1/2) H P^(−1/2), and the largest eigenvalue of P⁻¹H itself."""
    model = _net()
    x, y = _batch()
    criterion = nn.functional.cross_entropy if loss == "cross_entropy" else square_loss
    adam = torch.optim.Adam(model.parameters(), lr=0.02)
    _train(model, x, y, adam, 6, criterion)
    hessian = _dense_hessian(model, x, y, criterion)
    diagonal = _paper_preconditioner(adam)
    scale = diagonal.rsqrt()
    symmetric = scale[:, None] * hessian * scale[None, :]
    eigenvalues = torch.linalg.eigvalsh(symmetric)
    if method == "power":  # power iteration finds the eigenvalue of largest magnitude
        assert eigenvalues[-1] > abs(eigenvalues[0])
    reference = eigenvalues[-1].item()
    unsymmetric = torch.linalg.eigvals(hessian / diagonal[:, None])
    assert unsymmetric.real.max().item() == pytest.approx(reference, rel=1e-8)
    value = curvature.preconditioned_sharpness(
        model, x, y, adam, loss=loss, method=method, tol=1e-10, iters=5000
    )
    assert value == pytest.approx(reference, rel=1e-7)
    # The plain sharpness is a different number: P matters.
    assert curvature.sharpness(model, x, y, loss=loss, tol=1e-10) != pytest.approx(value, rel=0.1)


def test_preconditioned_sharpness_of_a_float32_model_in_float64_leaves_it_alone():
    model = _net(dtype=torch.float32)
    x, y = _batch()
    adam = torch.optim.AdamW(model.parameters(), lr=0.02, weight_decay=0.01)
    _train(model, x.float(), y, adam, 3)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    value = curvature.preconditioned_sharpness(
        model, x.float(), y, adam, dtype=torch.float64, tol=1e-10
    )
    model64 = _net()
    model64.load_state_dict({k: v.double() for k, v in state.items()})
    hessian = _dense_hessian(model64, x, y, nn.functional.cross_entropy)
    scale = _paper_preconditioner(adam).double().rsqrt()
    reference = torch.linalg.eigvalsh(scale[:, None] * hessian * scale[None, :])[-1].item()
    assert value == pytest.approx(reference, rel=1e-6)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_errors_name_the_missing_adam_state():
    model = _net()
    x, y = _batch()
    with pytest.raises(TypeError, match="exp_avg_sq"):
        curvature.preconditioned_sharpness(model, x, y, torch.optim.SGD(model.parameters(), 0.1))
    with pytest.raises(ValueError, match="at least one step"):
        curvature.preconditioned_sharpness(model, x, y, torch.optim.Adam(model.parameters()))
    adam = torch.optim.Adam(list(model.parameters())[:2])
    _train(model, x, y, adam, 1)
    with pytest.raises(ValueError, match="^params must be parameters of the optimizer"):
        curvature.preconditioned_sharpness(model, x, y, adam)


def test_adam_threshold_is_38_over_lr_and_separates_converging_from_diverging():
    """Cohen et al. (2022): frozen P, Adam is m ← β₁m + (1 − β₁)g, θ ← θ − ηP⁻¹m; on ½λθ²
    with preconditioned curvature λ/P it converges below (2 + 2β₁)/((1 − β₁)η), else not."""
    lr = 1e-3
    assert curvature.stability_threshold(lr, optimizer="adam") == pytest.approx(38 / lr)
    assert curvature.stability_threshold(lr, optimizer="adamw", beta1=0.5) == pytest.approx(6 / lr)
    assert curvature.stability_threshold(lr, optimizer="adam", beta1=0.0) == 2 / lr
    for beta1 in (0.0, 0.5, 0.9, 0.99):
        threshold = curvature.stability_threshold(lr, optimizer="adam", beta1=beta1)
        ends = []
        for curvature_over_p in (0.98 * threshold, 1.02 * threshold):
            theta, m = 1.0, 0.0
            for _ in range(20000):
                m = beta1 * m + (1 - beta1) * curvature_over_p * theta
                theta -= lr * m
            ends.append(abs(theta))
        assert ends[0] < 1e-6
        assert not np.isfinite(ends[1]) or ends[1] > 1e6


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


@pytest.mark.parametrize(("optimizer", "beta1"), [("adam", 0.9), ("adamw", 0.5)])
def test_tracker_in_fit_records_preconditioned_sharpness_beside_adams_threshold(optimizer, beta1):
    """fit hands the tracker its optimizer (on_fit_start); the threshold uses each step's
    rate; the values are those of an independent cold measurement at the same steps."""
    subset = _digits_subset()
    x, y = subset.tensors("train")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10))
    tracker = curvature.SharpnessTracker(x, y, every=3, tol=1e-4)
    schedule = lambda step: 0.01 / (1 + step)  # noqa: E731 - a rate that changes every step
    measured = []

    class Independent:
        def on_fit_start(self, model, optimizer, history):
            self.optimizer = optimizer

        def __call__(self, model, step, history):
            if step % 3 == 0:
                value = curvature.preconditioned_sharpness(
                    model, x, y, self.optimizer, loss="mse", tol=1e-8, iters=500
                )
                measured.append(value)

    history = train.fit(
        model,
        subset,
        schedule,
        epochs=7,
        batch_size=len(y),
        optimizer=optimizer,
        momentum=beta1,
        weight_decay=0.01,
        progress=False,
        loss="mse",
        callbacks=[tracker, Independent()],
    )
    assert set(history.extras) == {"preconditioned_sharpness", "stability_threshold"}
    steps = [s for s, _ in history.extras["preconditioned_sharpness"]]
    assert steps == [0, 3, 6]
    thresholds = [t for _, t in history.extras["stability_threshold"]]
    expected = [(2 + 2 * beta1) / ((1 - beta1) * schedule(s)) for s in steps]
    assert thresholds == pytest.approx(expected, rel=1e-12)
    values = [v for _, v in history.extras["preconditioned_sharpness"]]
    assert values == pytest.approx(measured, rel=3e-4)
    assert len(tracker.counts) == 3 and tracker.hvps == sum(tracker.counts)


def test_tracker_in_a_loop_of_ones_own_takes_the_optimizer_and_can_record_both():
    model = _net()
    x, y = _batch()
    adam = torch.optim.Adam(model.parameters(), lr=0.01)
    both = [
        curvature.SharpnessTracker(x, y, optimizer=adam, tol=1e-8, iters=500),
        curvature.SharpnessTracker(x, y, optimizer=adam, preconditioned=False, tol=1e-8),
    ]
    history = train.History(config={})
    for step in range(3):
        _train(model, x, y, adam, 1)
        history.lr.append(0.01)
        for tracker in both:
            tracker(model, step, history)
    assert set(history.extras) == {"preconditioned_sharpness", "sharpness", "stability_threshold"}
    assert [t for _, t in history.extras["stability_threshold"]] == pytest.approx([3800.0] * 3)
    hessian = _dense_hessian(model, x, y, nn.functional.cross_entropy)
    scale = _paper_preconditioner(adam).rsqrt()
    reference = torch.linalg.eigvalsh(scale[:, None] * hessian * scale[None, :])[-1].item()
    assert history.extras["preconditioned_sharpness"][-1][1] == pytest.approx(reference, rel=1e-6)
    plain = torch.linalg.eigvalsh(hessian)[-1].item()
    assert history.extras["sharpness"][-1][1] == pytest.approx(plain, rel=1e-6)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda x, y: curvature.stability_threshold(0.1, optimizer="rmsprop"), "optimizer"),
        (lambda x, y: curvature.stability_threshold(0.1, optimizer="adam", beta1=1.0), "beta1"),
        (lambda x, y: curvature.stability_threshold(0.1, 0.9, optimizer="adam"), "momentum"),
        (
            lambda x, y: curvature.SharpnessTracker(
                x, y, optimizer=torch.optim.SGD(_net().parameters(), 0.1), preconditioned=True
            ),
            "preconditioned",
        ),
        (
            lambda x, y: curvature.SharpnessTracker(x, y, preconditioned=True)(
                _net(), 0, train.History(lr=[0.1])
            ),
            "preconditioned",
        ),
    ],
)
def test_bad_input_names_the_parameter(call, name):
    x, y = _batch()
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call(x, y)
