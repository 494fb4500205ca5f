"""lrlab.landscape's engine, many grid points at once, against a loop that writes each
point's weights into the model: equal numbers on MLPs, BatchNorm CNNs and the MNIST-1D CNN,
any chunk, stored first layers only where they are exact, the model left as it was."""

from __future__ import annotations

from copy import deepcopy as copy_module

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from torch import nn
from torch.nn.utils import vector_to_parameters

from lrlab import landscape, models


def relu_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3)
    )


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(64, 6, generator=g), torch.randint(0, 3, (64,), generator=g)


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
