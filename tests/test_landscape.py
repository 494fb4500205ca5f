"""lrlab.landscape against closed forms: parabolas, rescaled twins, Lemma 1 (the engine that
evaluates many points at once: test_landscape_evaluation.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.testing import assert_allclose
from torch import nn

from lrlab import landscape, models


class Quadratic(nn.Module):
    """L(w) = ½ (w − w*)ᵀ H (w − w*) + c: a loss with a known Hessian H."""

    def __init__(self, hessian: torch.Tensor, center: torch.Tensor, offset: float = 0.5):
        super().__init__()
        self.w = nn.Parameter(torch.zeros_like(center))
        self.hessian, self.center, self.offset = hessian, center, offset

    def loss(self, w=None) -> torch.Tensor:
        r = (self.w if w is None else w) - self.center
        return 0.5 * r @ self.hessian @ r + self.offset


def quadratic(n: int = 5, seed: int = 0) -> Quadratic:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=g, dtype=torch.float64)
    model = Quadratic(
        a @ a.T + torch.eye(n, dtype=torch.float64),
        torch.randn(n, generator=g, dtype=torch.float64),
    )
    with torch.no_grad():
        model.w.copy_(torch.randn(n, generator=g, dtype=torch.float64))
    return model


def relu_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3)
    )


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(64, 6, generator=g), torch.randint(0, 3, (64,), generator=g)


# --- linear paths -------------------------------------------------------------------------


@pytest.mark.parametrize("normalize", [False, True])
def test_linear_path_of_a_quadratic_is_the_parabola_with_curvature_uHu(normalize):
    """Catches a wrong path (a missing or double normalisation changes the curvature)."""
    model = quadratic()
    start = landscape.parameters_vector(model)
    end = start + torch.randn(5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    u = end - start
    if normalize:
        u = u / u.norm()
    alphas = np.linspace(-2, 2, 9)
    curve = landscape.linear_path(model, start, end, Quadratic.loss, alphas, normalize=normalize)
    g = model.hessian @ (start - model.center)
    expected = (
        float(model.loss(start))
        + alphas * float(g @ u)
        + 0.5 * alphas**2 * float(u @ model.hessian @ u)
    )
    assert_allclose(curve, expected, rtol=1e-12)
    assert_allclose(np.polyfit(alphas, curve, 2)[0] * 2, float(u @ model.hessian @ u), rtol=1e-10)


def test_linear_path_ends_at_the_end_point(batch):
    """Goodfellow's parametrisation: α = 1 is the end weights (not start + unit step)."""
    model, other = relu_net(0), relu_net(1)
    loss_fn = landscape.batch_loss(*batch)
    start, end = landscape.parameters_vector(model), landscape.parameters_vector(other)
    curve = landscape.linear_path(model, start, end, loss_fn, [0.0, 1.0])
    with torch.no_grad():
        expected = [float(loss_fn(model)), float(loss_fn(other))]
    assert_allclose(curve, expected, rtol=1e-6)


# --- random directions --------------------------------------------------------------------


def test_filter_normalisation_matches_each_filter_norm_and_zeroes_biases():
    """Li et al. eq. 1: each output filter of a conv/linear weight gets its weights' norm."""
    model = models.build("cnn1d", 10, (1, 40))
    d = landscape.random_direction(model, "filter", seed=4)
    pieces = torch.split(d, [p.numel() for p in model.parameters()])
    for p, piece in zip(model.parameters(), pieces, strict=True):
        piece = piece.view_as(p)
        if p.dim() == 1:
            assert torch.count_nonzero(piece) == 0
        else:
            assert_allclose(
                piece.flatten(1).norm(dim=1).numpy(),
                p.detach().flatten(1).norm(dim=1).numpy(),
                rtol=1e-5,
            )


def test_layer_normalisation_matches_each_layer_norm():
    model = relu_net()
    d = landscape.random_direction(model, "layer", seed=0)
    pieces = torch.split(d, [p.numel() for p in model.parameters()])
    for p, piece in zip(model.parameters(), pieces, strict=True):
        expected = 0.0 if p.dim() == 1 else float(p.detach().norm())
        assert float(piece.norm()) == pytest.approx(expected, rel=1e-5)


def test_random_direction_depends_only_on_the_seed():
    model = relu_net()
    assert torch.equal(
        landscape.random_direction(model, seed=7), landscape.random_direction(model, seed=7)
    )
    assert not torch.equal(
        landscape.random_direction(model, seed=7), landscape.random_direction(model, seed=8)
    )
    raw = landscape.random_direction(model, "none", seed=7)
    assert torch.count_nonzero(raw) == raw.numel()  # raw Gaussian: biases move too


def rescaled_twin(model: nn.Sequential, c: float) -> nn.Sequential:
    """The same function: the first ReLU layer (weights and bias) times c, the next weights / c."""
    twin = relu_net()
    twin.load_state_dict(model.state_dict())
    with torch.no_grad():
        twin[0].weight.mul_(c)
        twin[0].bias.mul_(c)
        twin[2].weight.div_(c)
    return twin


def test_filter_normalised_curve_is_identical_for_a_rescaled_relu_twin(batch):
    """Li et al. §4: filter normalisation removes the scale invariance of ReLU networks;
    a raw direction does not (so the test can tell the two apart)."""
    x, y = batch
    model = relu_net()
    twin = rescaled_twin(model, 7.0)
    loss_fn = landscape.batch_loss(x, y)
    assert_allclose(twin(x).detach().numpy(), model(x).detach().numpy(), rtol=1e-4, atol=1e-5)
    radii = np.linspace(-1, 1, 11)
    curves = {}
    for normalization in ("filter", "layer", "none"):
        curves[normalization] = [
            landscape.loss_along(
                m, landscape.random_direction(m, normalization, seed=2), loss_fn, radii
            )
            for m in (model, twin)
        ]
    assert_allclose(*curves["filter"], rtol=1e-4)
    assert_allclose(*curves["layer"], rtol=1e-4)
    assert np.max(np.abs(curves["none"][0] - curves["none"][1])) > 0.05


# --- fooling direction --------------------------------------------------------------------


def test_fooling_direction_of_a_linear_loss_is_its_normalised_gradient():
    model = nn.Linear(5, 1, bias=False)
    a = torch.arange(1.0, 6.0)
    d = landscape.fooling_direction(model, lambda m: (m.weight @ a).sum(), radius=2.0, steps=4)
    assert_allclose(d.numpy(), (a / a.norm()).numpy(), rtol=1e-6)


def test_fooling_direction_on_a_quadratic_rises_faster_than_random_directions():
    """Off the minimum the ascent direction beats random ones at the searched radius, and at a
    minimum (zero gradient) it is refused rather than returning a meaningless vector."""
    model = quadratic(n=6, seed=2)
    d = landscape.fooling_direction(model, Quadratic.loss, radius=0.5, steps=20)
    assert float(d.norm()) == pytest.approx(1.0)
    fooled = landscape.loss_along(model, d, Quadratic.loss, [0.5])[0]
    for seed in range(20):
        r = landscape.random_direction(model, "none", seed=seed)
        assert fooled >= landscape.loss_along(model, r / r.norm(), Quadratic.loss, [0.5])[0]
    with torch.no_grad():
        model.w.copy_(model.center)
    with pytest.raises(ValueError, match="gradient"):
        landscape.fooling_direction(model, Quadratic.loss, radius=0.5)


# --- input perturbations ------------------------------------------------------------------


def test_input_noise_uses_unit_norm_directions():
    """With the identity as model the logits are x + α n, so the loss is known exactly:
    catches noise that is not per-example unit-norm, or not drawn from the seed."""
    model = nn.Identity()
    x = torch.zeros(200, 3)
    y = torch.zeros(200, dtype=torch.long)
    curve = landscape.input_noise_loss(model, x, y, [0.0, 2.0], seed=0)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(200, 3, generator=g, dtype=torch.float64)
    n = (z / z.norm(dim=1, keepdim=True)).float()
    assert curve[0] == pytest.approx(np.log(3))
    assert curve[1] == pytest.approx(float(F.cross_entropy(2.0 * n, y)), rel=1e-6)


def test_input_path_reaches_one_of_the_k_nearest_points():
    pool = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 1.0], [1.1, 0.0], [5.0, 5.0]])
    x = torch.tensor([[0.0, 0.0]])
    assert landscape.nearest_indices(x, pool, k=2).tolist() == [[2, 3]]  # itself skipped
    model = nn.Linear(2, 2)
    y = torch.tensor([1])
    end = landscape.input_path_loss(model, x, y, pool, [1.0], k=2, seed=0)[0]
    candidates = [float(F.cross_entropy(model(pool[i : i + 1]), y).detach()) for i in (2, 3)]
    assert min(abs(end - c) for c in candidates) < 1e-6


# --- Lemma 1 and Proposition 1 ------------------------------------------------------------


def test_lemma1_weight_perturbation_carries_the_input_perturbation_exactly():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(7, 5, generator=g, dtype=torch.float64)
    x, dx = (
        torch.randn(5, generator=g, dtype=torch.float64),
        torch.randn(5, generator=g, dtype=torch.float64),
    )
    dW = landscape.input_to_weight_perturbation(W, x, dx)
    assert_allclose(((W + dW) @ x).numpy(), (W @ (x + dx)).numpy(), rtol=0, atol=1e-13)
    assert float(torch.linalg.matrix_norm(dW)) <= landscape.perturbation_bound(W, x, dx) * (
        1 + 1e-12
    )


def test_proposition1_bound_is_attained_along_the_top_singular_vector():
    """Catches a bound off by a factor (‖x‖ in place of ‖x‖², σ_max in place of ‖W‖_F)."""
    g = torch.Generator().manual_seed(1)
    W = torch.randn(6, 4, generator=g, dtype=torch.float64)
    x = torch.randn(4, generator=g, dtype=torch.float64)
    top_right = torch.linalg.svd(W).Vh[0]
    dx = 0.3 * top_right
    dW = landscape.input_to_weight_perturbation(W, x, dx)
    assert float(torch.linalg.matrix_norm(dW)) == pytest.approx(
        landscape.perturbation_bound(W, x, dx), rel=1e-12
    )


# --- bad input ----------------------------------------------------------------------------


def test_bad_input_gives_a_clear_error(batch):
    model = relu_net()
    loss_fn = landscape.batch_loss(*batch)
    d = landscape.random_direction(model)
    theta = landscape.parameters_vector(model)
    with pytest.raises(ValueError, match="direction must be a flat vector of length"):
        landscape.loss_along(model, d[:-1], loss_fn, [0.0])
    with pytest.raises(ValueError, match="direction must have a norm > 0"):
        landscape.loss_along(model, torch.zeros_like(d), loss_fn, [0.0])
    with pytest.raises(ValueError, match="radii must be finite"):
        landscape.loss_along(model, d, loss_fn, [0.0, np.nan])
    with pytest.raises(ValueError, match="radii must be finite"):
        landscape.loss_along(model, d, loss_fn, [np.inf])
    with pytest.raises(ValueError, match="d2 must be a flat vector"):
        landscape.surface(model, d, d[:3], loss_fn, [0.0], [0.0])
    with pytest.raises(ValueError, match="start and end must differ"):
        landscape.linear_path(model, theta, theta, loss_fn, [0.0], normalize=True)
    with pytest.raises(ValueError, match="normalization must be one of"):
        landscape.random_direction(model, "batch")
    with pytest.raises(ValueError, match="chunk must be None or an integer >= 1"):
        landscape.loss_along(model, d, loss_fn, [0.0], chunk=0)
    with pytest.raises(ValueError, match="radius must be > 0, got 0"):
        landscape.fooling_direction(model, loss_fn, radius=0.0)
    with pytest.raises(ValueError, match="x must be non-zero"):
        landscape.input_to_weight_perturbation(torch.eye(2), torch.zeros(2), torch.ones(2))
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        landscape.loss_along(model, d, "loss", [0.0])


def test_numpy_numbers_are_accepted(batch):
    model = relu_net()
    loss_fn = landscape.batch_loss(*batch)
    d = landscape.random_direction(model, seed=np.int64(3))
    curve = landscape.loss_along(model, d, loss_fn, np.float32([0.0, 0.5]), chunk=np.int64(2))
    assert curve.shape == (2,)
    landscape.fooling_direction(model, loss_fn, radius=np.float64(0.5), steps=np.int64(2))
