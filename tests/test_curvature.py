"""Tests of lrlab.curvature against the full float64 Hessian from torch.autograd."""

from __future__ import annotations

import doctest

import pytest
import torch
from torch import nn
from torch.func import functional_call

from lrlab import curvature
from lrlab.curvature import hessian


def _mlp_problem(dtype=torch.float64, seed: int = 0):
    """A tanh MLP with 267 parameters, a fixed batch, and its loss as a closure."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(5, 12), nn.Tanh(), nn.Linear(12, 12), nn.Tanh(), nn.Linear(12, 3)
    )
    model = model.to(dtype)
    x = torch.randn(40, 5, generator=generator, dtype=torch.float64).to(dtype)
    y = torch.randint(0, 3, (40,), generator=generator)
    params = list(model.parameters())

    def loss_fn():
        return nn.functional.cross_entropy(model(x), y)

    return model, params, loss_fn, x, y


def _full_hessian(model, x, y) -> torch.Tensor:
    """The exact Hessian in float64 by torch.autograd.functional.hessian (the reference)."""
    model64 = model.to(torch.float64)
    names = [name for name, _ in model64.named_parameters()]
    shapes = [p.shape for _, p in model64.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model64.parameters()])

    def loss_of(flat_params):
        pieces = torch.split(flat_params, [s.numel() for s in shapes])
        state = {n: piece.view(s) for n, piece, s in zip(names, pieces, shapes, strict=True)}
        logits = functional_call(model64, state, (x.to(torch.float64),))
        return nn.functional.cross_entropy(logits, y)

    return torch.autograd.functional.hessian(loss_of, flat)


@pytest.fixture(scope="module")
def problem():
    model, params, loss_fn, x, y = _mlp_problem()
    hessian = _full_hessian(model, x, y)
    return params, loss_fn, hessian


def test_docstring_examples_run():
    result = doctest.testmod(hessian, extraglobs={"torch": torch})
    assert result.attempted > 0 and result.failed == 0


def test_mlp_has_a_few_hundred_parameters(problem):
    params, _, hessian = problem
    assert sum(p.numel() for p in params) == hessian.shape[0] == 267


def test_hvp_matches_full_hessian_flat_and_per_parameter(problem):
    params, loss_fn, hessian = problem
    v = torch.randn(
        hessian.shape[0], generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    flat = curvature.hvp(loss_fn, params, v)
    torch.testing.assert_close(flat, hessian @ v, rtol=1e-10, atol=1e-12)
    pieces = list(torch.split(v, [p.numel() for p in params]))
    per_param = curvature.hvp(
        loss_fn, params, [a.view_as(p) for a, p in zip(pieces, params, strict=True)]
    )
    assert [t.shape for t in per_param] == [p.shape for p in params]
    torch.testing.assert_close(torch.cat([t.reshape(-1) for t in per_param]), hessian @ v)


@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_top_eigenvalue_matches_full_hessian(problem, method):
    params, loss_fn, hessian = problem
    eigenvalues = torch.linalg.eigvalsh(hessian)
    # Power iteration finds the eigenvalue of largest magnitude; here that is λ_max.
    assert eigenvalues[-1] > abs(eigenvalues[0])
    value, vector = curvature.top_eigenvalue(loss_fn, params, iters=1000, tol=1e-8, method=method)
    assert abs(value - eigenvalues[-1].item()) <= 1e-6 * eigenvalues[-1].item()
    flat = torch.cat([t.reshape(-1) for t in vector])
    assert flat.norm().item() == pytest.approx(1.0)
    residual = (hessian @ flat - eigenvalues[-1] * flat).norm().item()
    assert residual <= 1e-4 * eigenvalues[-1].item()


def test_lanczos_needs_fewer_products_than_power_iteration(problem):
    params, loss_fn, _ = problem
    _, _, lanczos = curvature.top_eigenvalue(loss_fn, params, iters=1000, return_info=True)
    _, _, power = curvature.top_eigenvalue(
        loss_fn, params, iters=1000, method="power", return_info=True
    )
    assert lanczos["converged"] and power["converged"]
    assert lanczos["hvps"] < power["hvps"]
    assert len(lanczos["estimates"]) == lanczos["hvps"]


def test_top_eigenvalue_in_float32_is_close_to_float64_reference(problem):
    _, _, hessian = problem
    _, params32, loss_fn32, _, _ = _mlp_problem(dtype=torch.float32)
    value, vector = curvature.top_eigenvalue(loss_fn32, params32)
    assert vector[0].dtype == torch.float32
    reference = torch.linalg.eigvalsh(hessian)[-1].item()
    assert value == pytest.approx(reference, rel=1e-4)


def test_lanczos_finds_largest_and_power_finds_largest_magnitude_eigenvalue():
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    scales = torch.tensor([-5.0, 1.0, 3.0], dtype=torch.float64)
    loss_fn = lambda: 0.5 * (scales * w**2).sum()  # noqa: E731
    lanczos, _ = curvature.top_eigenvalue(loss_fn, [w], tol=1e-10)
    power, _ = curvature.top_eigenvalue(loss_fn, [w], iters=500, tol=1e-10, method="power")
    assert lanczos == pytest.approx(3.0)
    assert power == pytest.approx(-5.0)


def test_hessian_trace_within_hutchinson_standard_error(problem):
    """Hutchinson (1989): Var(vᵀHv) = 2(‖H‖²_F − Σ H_ii²) for Rademacher v."""
    params, loss_fn, hessian = problem
    samples = 200
    estimate = curvature.hessian_trace(loss_fn, params, samples=samples, seed=3)
    variance = 2 * ((hessian**2).sum() - (torch.diagonal(hessian) ** 2).sum()).item()
    assert abs(estimate - torch.trace(hessian).item()) <= 4 * (variance / samples) ** 0.5


def test_hessian_trace_exact_for_a_diagonal_hessian():
    w = torch.ones(50, dtype=torch.float64, requires_grad=True)
    scales = torch.linspace(-1.0, 4.0, 50, dtype=torch.float64)
    trace = curvature.hessian_trace(lambda: 0.5 * (scales * w**2).sum(), [w], samples=5)
    assert trace == pytest.approx(scales.sum().item(), rel=1e-12)


def test_unused_and_linear_parameters_have_zero_hessian_rows():
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    linear = torch.tensor([3.0], dtype=torch.float64, requires_grad=True)
    unused = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    loss_fn = lambda: (w**2).sum() + 4 * linear.sum()  # noqa: E731
    product = curvature.hvp(loss_fn, [w, linear, unused], torch.ones(5, dtype=torch.float64))
    assert product.tolist() == [2.0, 2.0, 0.0, 0.0, 0.0]


def test_loss_fn_is_called_once_per_eigenvalue_and_trace():
    w = torch.ones(4, dtype=torch.float64, requires_grad=True)
    calls = []

    def loss_fn():
        calls.append(1)
        return (w**4).sum()

    curvature.top_eigenvalue(loss_fn, [w])
    curvature.hessian_trace(loss_fn, [w], samples=10)
    assert len(calls) == 2


def test_top_eigenvalue_warns_when_not_converged(problem):
    params, loss_fn, _ = problem
    with pytest.warns(RuntimeWarning, match="did not reach tol"):
        _, _, info = curvature.top_eigenvalue(
            loss_fn, params, iters=3, method="power", return_info=True
        )
    assert info == {"hvps": 3, "converged": False, "estimates": info["estimates"]}


def _gradient_descent(params, loss_fn, lr: float, steps: int) -> None:
    """Move ``params`` by a few plain gradient steps (a slowly changing Hessian)."""
    for _ in range(steps):
        grads = torch.autograd.grad(loss_fn(), params)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p -= lr * g


@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_warm_start_agrees_with_cold_within_tol_and_needs_fewer_products(method):
    """Issue 26: start from the previous top eigenvector after the weights moved a little.

    Reference: the top eigenvalue of the exact float64 Hessian at the new weights. Both
    starts stop on the residual test ‖Hv − θv‖ ≤ tol·θ, which bounds |θ − λ| by tol·θ."""
    model, params, loss_fn, x, y = _mlp_problem(seed=2)
    tol = 1e-4
    _, before = curvature.top_eigenvalue(loss_fn, params, iters=1000, tol=tol, method=method)
    _gradient_descent(params, loss_fn, lr=0.05, steps=5)
    reference = torch.linalg.eigvalsh(_full_hessian(model, x, y))[-1].item()
    options = {"iters": 2000, "tol": tol, "method": method, "return_info": True}
    cold, _, cold_info = curvature.top_eigenvalue(loss_fn, params, **options)
    warm, _, warm_info = curvature.top_eigenvalue(loss_fn, params, init=before, **options)
    assert cold_info["converged"] and warm_info["converged"]
    assert abs(cold - reference) <= tol * reference
    assert abs(warm - reference) <= tol * reference
    assert abs(warm - cold) <= tol * reference
    assert warm_info["hvps"] < cold_info["hvps"]


def test_warm_start_at_an_eigenvector_stops_after_one_product(problem):
    """Flat or per parameter, of any norm: the Rayleigh quotient, residual 0 at once."""
    params, loss_fn, hessian = problem
    eigenvalues, eigenvectors = torch.linalg.eigh(hessian)
    top = eigenvectors[:, -1]
    per_parameter = [
        3.0 * t.view_as(p)
        for t, p in zip(torch.split(top, [p.numel() for p in params]), params, strict=True)
    ]
    for init in (top, per_parameter):
        value, _, info = curvature.top_eigenvalue(loss_fn, params, init=init, return_info=True)
        assert info["hvps"] == 1
        assert value == pytest.approx(eigenvalues[-1].item(), rel=1e-10)


@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_preconditioned_top_eigenvalue_is_that_of_the_scaled_dense_hessian(problem, method):
    """λ₁ of P^(−1/2) H P^(−1/2) for a positive diagonal P, from the float64 Hessian."""
    params, loss_fn, hessian = problem
    generator = torch.Generator().manual_seed(4)
    diagonal = 0.1 + torch.rand(hessian.shape[0], generator=generator, dtype=torch.float64)
    scaled = hessian / torch.outer(diagonal.sqrt(), diagonal.sqrt())
    eigenvalues = torch.linalg.eigvalsh(scaled)
    assert eigenvalues[-1] > abs(eigenvalues[0])  # so that power iteration finds it too
    pieces = [
        t.view_as(p)
        for t, p in zip(torch.split(diagonal, [p.numel() for p in params]), params, strict=True)
    ]
    value, vector = curvature.top_eigenvalue(
        loss_fn, params, iters=2000, tol=1e-9, method=method, preconditioner=pieces
    )
    assert value == pytest.approx(eigenvalues[-1].item(), rel=1e-7)
    flat = torch.cat([t.reshape(-1) for t in vector])
    assert (scaled @ flat - value * flat).norm().item() <= 1e-6 * value


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda p, f: curvature.top_eigenvalue(f, p, method="arnoldi"), "method"),
        (lambda p, f: curvature.top_eigenvalue(f, p, iters=0), "iters"),
        (lambda p, f: curvature.top_eigenvalue(f, p, tol=-1.0), "tol"),
        (lambda p, f: curvature.top_eigenvalue(f, p, init=torch.zeros(267)), "init"),
        (lambda p, f: curvature.top_eigenvalue(f, p, init=torch.ones(3)), "init"),
        (
            lambda p, f: curvature.top_eigenvalue(f, p, preconditioner=-torch.ones(267)),
            "preconditioner",
        ),
        (
            lambda p, f: curvature.top_eigenvalue(f, p, preconditioner=[torch.ones(2)]),
            "preconditioner",
        ),
        (lambda p, f: curvature.hessian_trace(f, p, samples=0), "samples"),
        (lambda p, f: curvature.hvp(f, p, torch.ones(3)), "v"),
        (lambda p, f: curvature.hvp(f, [], torch.ones(3)), "params"),
        (lambda p, f: curvature.hvp(f, [torch.ones(2)], torch.ones(2)), "params"),
    ],
)
def test_bad_input_names_the_parameter(call, name):
    _, params, loss_fn, _, _ = _mlp_problem()
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call(params, loss_fn)
