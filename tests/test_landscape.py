"""lrlab.landscape against closed forms: parabolas, rescaled twins, Lemma 1, per-point loops."""

from __future__ import annotations

from copy import deepcopy as copy_module

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.testing import assert_allclose
from torch import nn
from torch.nn.utils import vector_to_parameters

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


def params_of(model):
    return [p.detach().clone() for p in model.parameters()]


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


# --- many points at once against a per-point loop, restoration -------------------------


def per_point_surface(model, d1, d2, loss_fn, xs, ys) -> np.ndarray:
    """The reference: write each grid point's weights into a copy of the model, in eval
    mode, and call the loss (the loop of Li et al.'s loss-landscape tool)."""
    copy = copy_module(model).eval()
    theta = landscape.parameters_vector(model)
    out = np.empty((len(ys), len(xs)))
    with torch.no_grad():
        for i, b in enumerate(ys):
            for j, a in enumerate(xs):
                vector_to_parameters(theta + float(a) * d1 + float(b) * d2, copy.parameters())
                out[i, j] = float(loss_fn(copy))
    return out


def with_moved_statistics(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Train-mode passes on shifted data, so BatchNorm's running statistics are not 0 and 1."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(2 * x + 1)
    return model


@pytest.fixture(params=["default", "every"], ids=["stored-by-fan-in", "every-layer-stored"])
def stored(request, monkeypatch):
    """Stored first-layer outputs where the fan-in pays (default), or for every layer that
    sees only the data, whatever its fan-in (so narrow convolutions are checked too)."""
    if request.param == "every":
        monkeypatch.setattr(landscape._evaluate, "FAN_IN_PER_DIRECTION", 0)
    return request.param


CASES = {
    "digits mlp": ("mlp", (1, 8, 8)),
    "small cnn with batchnorm": ("small_cnn", (3, 8, 8)),
    "resnet20 with batchnorm": ("resnet20", (3, 8, 8)),
    "mnist-1d cnn": ("cnn1d", (1, 40)),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("chunk", [1, 8, None])
def test_surface_equals_a_per_point_loop(case, chunk, stored):
    """7 × 5 = 35 points: chunk 8 leaves a last pass of 3 points; chunk 1 is not batched.
    BatchNorm networks are checked with running statistics away from 0 and 1, in eval mode."""
    name, shape = CASES[case]
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(24, *shape, generator=g), torch.randint(0, 10, (24,), generator=g)
    model = with_moved_statistics(models.build(name, 10, shape), x)
    loss_fn = landscape.batch_loss(x, y)
    d1, d2 = (landscape.random_direction(model, seed=s) for s in (1, 2))
    xs, ys = np.linspace(-1, 1, 7), np.linspace(-0.5, 0.5, 5)
    ours = landscape.surface(model, d1, d2, loss_fn, xs, ys, chunk=chunk)
    assert ours.shape == (5, 7)  # row i, column j is (xs[j], ys[i])
    assert_allclose(ours, per_point_surface(model, d1, d2, loss_fn, xs, ys), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("chunk", [1, 3, 4, 5, 100])
def test_lines_equal_a_per_point_loop_for_any_chunk(batch, chunk, stored):
    """11 points in passes of 3 or 4 (a short last pass), 5, or all at once; a raw direction
    moves the biases too, so the cached first layer's bias term is checked."""
    model = relu_net()
    loss_fn = landscape.batch_loss(*batch)
    d = landscape.random_direction(model, "none", seed=3) / 4
    radii = np.linspace(-1, 1, 11)
    zero = torch.zeros_like(d)
    expected = per_point_surface(model, d, zero, loss_fn, radii, [0.0])[0]
    curve = landscape.loss_along(model, d, loss_fn, radii, chunk=chunk)
    assert_allclose(curve, expected, rtol=1e-6)
    theta = landscape.parameters_vector(model)
    assert_allclose(
        landscape.linear_path(model, theta, theta + d, loss_fn, radii, chunk=chunk),
        expected,
        rtol=1e-6,
    )


def layer_calls(model, x, y, sizes, monkeypatch) -> list[list[int]]:
    """How often each Linear of ``model`` runs for an n × n surface, for each n of ``sizes``."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    calls = [0] * len(linears)
    forward = nn.Linear.forward

    def counting(self, inputs):
        for i, layer in enumerate(linears):
            calls[i] += self is layer
        return forward(self, inputs)

    monkeypatch.setattr(nn.Linear, "forward", counting)
    loss_fn = landscape.batch_loss(x, y)
    d1, d2 = (landscape.random_direction(model, seed=s) for s in (1, 2))
    seen = []
    for n in sizes:
        calls[:] = [0] * len(linears)
        grid = np.linspace(-1, 1, n)
        landscape.surface(model, d1, d2, loss_fn, grid, grid, chunk=1)
        seen.append(list(calls))
    return seen


def test_the_first_layer_runs_once_per_direction_not_once_per_point(batch, monkeypatch):
    """The first layer sees only the data, so its products are made once (probe + base + two
    directions) however many grid points there are; the second layer, whose input depends on
    the weights, runs in the probe and at every point, and nothing is stored for it."""
    monkeypatch.setattr(landscape._evaluate, "FAN_IN_PER_DIRECTION", 0)
    (two_first, two_second, _), (six_first, six_second, _) = layer_calls(
        relu_net(), *batch, (2, 6), monkeypatch
    )
    assert two_first == six_first == 4
    assert (two_second, six_second) == (1 + 4, 1 + 36)


def test_by_default_only_a_wide_first_layer_is_stored(monkeypatch):
    """With two directions a first layer is stored from 64 inputs per output (the digits
    MLP); a narrower one (6 inputs) is cheaper to run at every point than to combine."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (32,), generator=g)
    torch.manual_seed(0)
    wide = nn.Sequential(nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 3))
    [[wide_first, _]] = layer_calls(wide, torch.randn(32, 64, generator=g), y, (3,), monkeypatch)
    [[narrow_first, *_]] = layer_calls(
        relu_net(), torch.randn(32, 6, generator=g), y, (3,), monkeypatch
    )
    assert (wide_first, narrow_first) == (4, 1 + 9)


class ScaledInput(nn.Module):
    """A weight multiplies the input before the first layer: that layer's input depends on
    the weights and must not be taken from the probe."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([1.5]))
        self.net = relu_net()

    def forward(self, x):
        return self.net(self.scale * x)


class SharedLayer(nn.Module):
    """One layer called twice: on the data (cacheable), then on its own output (not)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.layer, self.head = nn.Linear(6, 6), nn.Linear(6, 3)

    def forward(self, x):
        return self.head(self.layer(torch.relu(self.layer(x))))


@pytest.mark.parametrize(
    "model, chunk",
    [
        (ScaledInput(), 1),
        (ScaledInput(), 4),
        (SharedLayer(), 1),
        (SharedLayer(), 4),
    ],
    ids=["scaled-1", "scaled-4", "shared-1", "shared-4"],
)
def test_layers_whose_input_depends_on_the_weights_are_recomputed(batch, model, chunk, stored):
    loss_fn = landscape.batch_loss(*batch)
    d1, d2 = (landscape.random_direction(model, "none", seed=s) / 3 for s in (1, 2))
    grid = np.linspace(-1, 1, 5)
    assert_allclose(
        landscape.surface(model, d1, d2, loss_fn, grid, grid, chunk=chunk),
        per_point_surface(model, d1, d2, loss_fn, grid, grid),
        rtol=1e-6,
    )


@pytest.mark.parametrize("chunk", [1, 4])
def test_a_loss_that_calls_the_model_on_two_halves_of_the_data(batch, chunk, stored):
    x, y = batch
    halves = landscape.batch_loss(x[:32], y[:32]), landscape.batch_loss(x[32:], y[32:])

    def loss_fn(m):
        return (halves[0](m) + halves[1](m)) / 2

    model = relu_net()
    d1, d2 = (landscape.random_direction(model, seed=s) for s in (1, 2))
    grid = np.linspace(-1, 1, 4)
    assert_allclose(
        landscape.surface(model, d1, d2, loss_fn, grid, grid, chunk=chunk),
        per_point_surface(model, d1, d2, loss_fn, grid, grid),
        rtol=1e-6,
    )


def test_a_loss_vmap_cannot_run_says_to_pass_chunk_1(batch):
    model = relu_net()
    plain = landscape.batch_loss(*batch)

    def with_item(m):  # .item() is data-dependent Python: vmap refuses it
        loss = plain(m)
        return loss if loss.item() >= 0 else -loss

    d = landscape.random_direction(model, seed=0)
    radii = [-0.5, 0.0, 0.5]
    with pytest.raises(RuntimeError, match="pass chunk=1"):
        landscape.loss_along(model, d, with_item, radii, chunk=2)
    assert_allclose(
        landscape.loss_along(model, d, with_item, radii, chunk=1),
        landscape.loss_along(model, d, plain, radii),
        rtol=1e-6,
    )


def test_losses_are_taken_in_eval_mode_without_touching_batchnorm_buffers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2)).train()
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    buffers = [b.clone() for b in model.buffers()]
    loss_fn = landscape.batch_loss(x, y)
    curve = landscape.loss_along(model, landscape.random_direction(model), loss_fn, [0.0])
    model.eval()
    assert curve[0] == pytest.approx(float(loss_fn(model).detach()), rel=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(buffers, model.buffers(), strict=True))


def state_of(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, [
        m.training for m in model.modules()
    ]


def same_state(a, b) -> bool:
    return (
        a[0].keys() == b[0].keys()
        and all(torch.equal(a[0][k], b[0][k]) for k in a[0])
        and (a[1] == b[1])
    )


@pytest.mark.parametrize("chunk", [1, 2])
def test_model_is_left_unchanged_also_after_an_exception(chunk):
    """Weights, BatchNorm buffers, each submodule's mode (one in eval inside a training
    model) and the layers' own forward (the cached layer's is swapped during the grid)."""
    torch.manual_seed(0)
    x, y = torch.randn(16, 3, 6, 6), torch.randint(0, 10, (16,))
    model = with_moved_statistics(models.build("small_cnn", 10, (3, 6, 6), width=4), x)
    model[1].eval()
    before = state_of(model)
    calls = []

    def failing(m):
        calls.append(1)
        if len(calls) > 2:
            raise ValueError("boom")
        return landscape.batch_loss(x, y)(m)

    d = landscape.random_direction(model, "none")
    with pytest.raises(ValueError, match="boom"):
        landscape.loss_along(model, d, failing, [0.5, 1.0, 1.5], chunk=chunk)
    assert same_state(before, state_of(model))
    assert "forward" not in model[0].__dict__
    landscape.surface(model, d, -d, landscape.batch_loss(x, y), [0.0, 1.0], [1.0], chunk=chunk)
    assert same_state(before, state_of(model))
    assert "forward" not in model[0].__dict__
    landscape.fooling_direction(model, landscape.batch_loss(x, y), radius=1.0, steps=3)
    assert same_state(before, state_of(model))


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
    with pytest.raises(ValueError, match="radius must be a number > 0"):
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
