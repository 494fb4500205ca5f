"""Tests of lrlab.dynamics against closed forms, PyTorch's SGD and float64 autograd Hessians."""

from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from lrlab import dynamics

MOMENTA = [(0.0, False), (0.5, False), (0.9, False), (0.5, True), (0.9, True), (0.99, True)]


def _random_spd(dim: int, seed: int, low: float = 0.2, high: float = 4.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    return q @ np.diag(np.linspace(low, high, dim)) @ q.T


@pytest.mark.parametrize(
    "module",
    [
        dynamics,
        dynamics.quadratic,
        dynamics.maps,
        dynamics.deep_linear,
        dynamics.toy_losses,
    ],
)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, extraglobs={"np": np})
    assert result.attempted > 0 and result.failed == 0


# --- quadratics ---------------------------------------------------------------------------


def test_gd_quadratic_equals_closed_form_per_direction():
    """Seong et al. (2018), eq. 11: w_t = (1 − γh)^t w_0 in every eigendirection."""
    h = np.array([0.5, 3.0, 9.0])
    lrs = np.array([0.05, 0.2, 0.23])
    w0 = np.array([1.0, -2.0, 0.5])
    w = dynamics.gd_quadratic(h, lrs, w0, steps=40)
    t = np.arange(41)[None, :, None]
    expected = (1.0 - lrs[:, None, None] * h) ** t * w0
    assert w.shape == (3, 41, 3)
    assert_allclose(w, expected, rtol=1e-12, atol=1e-14)


def test_gd_quadratic_matrix_matches_eigenbasis():
    hess = _random_spd(4, seed=1)
    eigenvalues, q = np.linalg.eigh(hess)
    w0 = np.array([1.0, 2.0, -1.0, 0.5])
    w = dynamics.gd_quadratic(hess, 0.3, w0, steps=25)
    coefficients = (1.0 - 0.3 * eigenvalues) ** np.arange(26)[:, None] * (q.T @ w0)
    assert_allclose(w, coefficients @ q.T, rtol=1e-10, atol=1e-12)


def test_gd_quadratic_scalar_h_gives_1d_trajectory():
    w = dynamics.gd_quadratic(2.0, [0.25, 0.75], 1.0, steps=2)
    assert_allclose(w, [[1.0, 0.5, 0.25], [1.0, -0.5, 0.25]])


@pytest.mark.parametrize(("momentum", "nesterov"), MOMENTA[1:])
def test_gd_quadratic_matches_torch_sgd(momentum, nesterov):
    hess = _random_spd(3, seed=2)
    w0 = np.array([1.0, -0.5, 2.0])
    ours = dynamics.gd_quadratic(hess, 0.2, w0, steps=30, momentum=momentum, nesterov=nesterov)
    w = torch.tensor(w0, requires_grad=True)
    h_t = torch.tensor(hess)
    optimizer = torch.optim.SGD([w], lr=0.2, momentum=momentum, nesterov=nesterov)
    reference = [w0]
    for _ in range(30):
        optimizer.zero_grad()
        (0.5 * w @ h_t @ w).backward()
        optimizer.step()
        reference.append(w.detach().numpy().copy())
    assert_allclose(ours, np.array(reference), rtol=1e-10, atol=1e-12)


def test_gd_quadratic_overflow_is_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = dynamics.gd_quadratic(1.0, 3.0, 1.0, steps=2000)
    assert np.isnan(w[-1]) and np.isfinite(w[10])


@pytest.mark.parametrize(("momentum", "nesterov"), MOMENTA)
def test_stability_boundary_is_exact(momentum, nesterov):
    """Converges at 0.999 × max_stable_lr and diverges at 1.001 × it, by simulation."""
    h = np.array([0.3, 2.0, 5.0])
    bound = dynamics.max_stable_lr(h, momentum, nesterov)
    w = dynamics.gd_quadratic(
        h, [0.999 * bound, 1.001 * bound], 1.0, 20_000, momentum=momentum, nesterov=nesterov
    )
    final = np.abs(w[:, -1]).max(axis=-1)
    assert final[0] < 1e-6
    assert not final[1] < 1e6  # grew by more than 10^6, or overflowed to NaN


def test_max_stable_lr_closed_forms():
    assert dynamics.max_stable_lr([1.0, 10.0]) == pytest.approx(0.2)
    assert dynamics.max_stable_lr(4.0, momentum=0.5) == pytest.approx(2 * 1.5 / 4)
    assert dynamics.max_stable_lr(4.0, 0.5, nesterov=True) == pytest.approx(2 * 1.5 / (2 * 4))
    hess = _random_spd(3, seed=3)
    assert dynamics.max_stable_lr(hess) == pytest.approx(2 / np.linalg.eigvalsh(hess).max())


def _torch_one_step_map(a: float, momentum: float, nesterov: bool) -> np.ndarray:
    """The linear map (w_t, b_{t−1}) -> (w_{t+1}, b_t) of torch.optim.SGD on f = ½ a w², lr 1.

    Built by running PyTorch's optimizer on the two basis states, independently of the
    formulas in lrlab.dynamics.
    """
    columns = []
    for w_start, buf_start in [(1.0, 0.0), (0.0, 1.0)]:
        w = torch.tensor([w_start], dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.SGD([w], lr=1.0, momentum=momentum, nesterov=nesterov)
        optimizer.state[w]["momentum_buffer"] = torch.tensor([buf_start], dtype=torch.float64)
        (0.5 * a * w**2).sum().backward()
        optimizer.step()
        columns.append([w.item(), optimizer.state[w]["momentum_buffer"].item()])
    return np.array(columns).T


@pytest.mark.parametrize(("momentum", "nesterov"), MOMENTA[1:])
@pytest.mark.parametrize("a", [0.1, 0.9, 1.4, 2.5, 3.9, 4.5])
def test_contraction_factor_is_spectral_radius_of_torch_update(a, momentum, nesterov):
    radius = np.abs(np.linalg.eigvals(_torch_one_step_map(a, momentum, nesterov))).max()
    assert dynamics.contraction_factor(1.0, a, momentum, nesterov) == pytest.approx(radius)


@pytest.mark.parametrize(("momentum", "nesterov"), MOMENTA[1:])
def test_max_stable_lr_matches_bisection_on_torch_update(momentum, nesterov):
    low, high = 1e-6, 10.0  # radius < 1 at low, > 1 at high; stable set is (0, bound)
    for _ in range(60):
        mid = 0.5 * (low + high)
        radius = np.abs(np.linalg.eigvals(_torch_one_step_map(mid, momentum, nesterov))).max()
        low, high = (mid, high) if radius < 1 else (low, mid)
    assert dynamics.max_stable_lr(1.0, momentum, nesterov) == pytest.approx(low, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    h=st.floats(1e-3, 1e3),
    fraction=st.floats(1e-3, 0.999),
    momentum=st.floats(0.0, 0.99),
    nesterov=st.booleans(),
)
def test_contraction_below_one_exactly_inside_bound(h, fraction, momentum, nesterov):
    nesterov = nesterov and momentum > 0
    bound = dynamics.max_stable_lr(h, momentum, nesterov)
    inside = dynamics.contraction_factor(fraction * bound, h, momentum, nesterov)
    outside = dynamics.contraction_factor(bound / fraction, h, momentum, nesterov)
    assert inside < 1.0 < outside


@pytest.mark.parametrize(("momentum", "nesterov"), MOMENTA)
def test_contraction_factor_of_scalars_is_the_array_computation(momentum, nesterov):
    """A scalar call runs the array code on one element and returns a Python float.

    On today's main it returned a NumPy scalar computed by NumPy's scalar arithmetic, a
    second code path whose last bit can differ from the vectorised one (complex ``abs``,
    ``sqrt``) on another NumPy build or CPU.
    """
    lrs = np.geomspace(0.01, 3.0, 25)
    for lr in lrs:
        value = dynamics.contraction_factor(lr, 2.0, momentum, nesterov)
        assert type(value) is float
        assert value == dynamics.contraction_factor([lr], 2.0, momentum, nesterov)[0]
    assert dynamics.contraction_factor(lrs[:, None], [1.0, 2.0], momentum, nesterov).shape == (
        25,
        2,
    )


@settings(max_examples=40, deadline=None)
@given(lr=st.floats(1e-3, 10.0), h=st.floats(-5.0, 5.0))
def test_contraction_without_momentum_is_abs_one_minus_lr_h(lr, h):
    assert dynamics.contraction_factor(lr, h) == pytest.approx(abs(1 - lr * h))


# --- maps, orbits, bifurcations ------------------------------------------------------------


def test_iterate_linear_map_matches_closed_form_and_loop():
    lrs = np.array([0.1, 0.6, 1.1])
    x = dynamics.iterate(lambda x: 2.0 * x, np.array([1.0, -3.0]), lrs, steps=12)
    assert x.shape == (3, 13, 2)
    expected = (1 - 2 * lrs)[:, None, None] ** np.arange(13)[None, :, None] * [1.0, -3.0]
    assert_allclose(x, expected, rtol=1e-12)
    for i, lr in enumerate(lrs):
        assert_allclose(dynamics.iterate(lambda x: 2.0 * x, [1.0, -3.0], lr, 12), x[i])


def test_iterate_marks_divergence_with_nan_and_no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = dynamics.iterate(lambda x: x**3 - x, 0.5, [0.5, 3.0], steps=200)
    assert np.all(np.isfinite(x[0]))
    first_nan = np.argmax(np.isnan(x[1]))
    assert first_nan > 0 and np.all(np.isnan(x[1, first_nan:]))


@pytest.mark.parametrize("lr", [0.1, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("x0", [3.0, -0.01, 0.7])
def test_two_thirds_power_loss_orbit_at_lr_squared_over_four(lr, x0):
    """Nar & Sastry (2018), Example 1: GD on f(x) = ⅔|x|^{3/2} never reaches the minimum
    0 but converges to the period-2 orbit ±γ²/4 (x − γ√x = −x  ⇔  x = γ²/4)."""
    grad = lambda x: np.sign(x) * np.sqrt(np.abs(x))  # noqa: E731
    trajectory = dynamics.iterate(grad, x0, lr, steps=300)
    assert dynamics.orbit_period(trajectory) == 2
    assert_allclose(np.abs(trajectory[-2:]), lr**2 / 4, rtol=1e-12)
    assert trajectory[-1] == pytest.approx(-trajectory[-2])


def test_orbit_period_at_the_first_period_doubling_of_the_double_well():
    """f(x) = ¼(x² − 1)² has f''(±1) = 2: the minimum is stable for γ < 2/2 = 1 and GD
    falls onto a 2-cycle just above."""
    grad = lambda x: x**3 - x  # noqa: E731
    below, above = dynamics.iterate(grad, 0.5, [0.99, 1.01], steps=20_000)
    assert dynamics.orbit_period(below) == 1
    assert dynamics.orbit_period(above) == 2


def test_orbit_period_none_for_divergence_and_aperiodic_tails():
    assert dynamics.orbit_period([1.0, np.nan, np.nan, np.nan], max_period=2) is None
    rng = np.random.default_rng(0)
    assert dynamics.orbit_period(rng.normal(size=200), max_period=64) is None
    assert dynamics.orbit_period(np.tile([1.0, 2.0, 3.0], 50)) == 3


def test_bifurcation_points_are_the_tail_of_iterate():
    grad = lambda x: x**3 - x  # noqa: E731
    lrs = np.array([0.5, 1.1, 1.2, 2.5])
    lr_points, x_points = dynamics.bifurcation(grad, lrs, 0.5, burn_in=100, keep=7)
    tails = dynamics.iterate(grad, 0.5, lrs, steps=107)[:, 101:]
    finite = np.isfinite(tails).ravel()
    assert not finite[-1]  # γ = 2.5 diverges and its points are left out
    assert_allclose(x_points, tails.ravel()[finite])
    assert_allclose(lr_points, np.repeat(lrs, 7)[finite])


# --- deep linear networks -----------------------------------------------------------------


def _product_loss(flat: torch.Tensor, target: torch.Tensor, depth: int) -> torch.Tensor:
    dim = target.shape[0]
    layers = flat.reshape(depth, dim, dim)
    product = torch.eye(dim, dtype=flat.dtype)
    for layer in layers:
        product = layer @ product
    return 0.5 * ((target - product) ** 2).sum()


def _balanced_root(target: np.ndarray, depth: int) -> np.ndarray:
    eigenvalues, q = np.linalg.eigh(target)
    return q @ np.diag(np.clip(eigenvalues, 0, None) ** (1 / depth)) @ q.T


@pytest.mark.parametrize(
    ("target", "depth"),
    [
        (np.array([[3.0]]), 1),
        (np.array([[3.0]]), 2),
        (np.array([[0.4]]), 3),
        (np.array([[2.5]]), 5),
        (_random_spd(3, seed=4), 2),
        (_random_spd(3, seed=5, low=0.1, high=2.0), 4),
    ],
)
def test_deep_linear_sharpness_equals_autograd_hessian(target, depth):
    """Nar & Sastry (2018): λ_max = L ρ^{2(L−1)/L} at the balanced minimum W_i = R^{1/L}."""
    root = _balanced_root(target, depth)
    flat = torch.tensor(np.stack([root] * depth).ravel())
    t = torch.tensor(target)
    hessian = torch.autograd.functional.hessian(lambda w: _product_loss(w, t, depth), flat)
    reference = torch.linalg.eigvalsh(hessian).max().item()
    scalar_or_matrix = target[0, 0] if target.shape == (1, 1) else target
    assert dynamics.deep_linear_sharpness(scalar_or_matrix, depth) == pytest.approx(
        reference, rel=1e-10
    )


@pytest.mark.parametrize("init", ["identity", 0.7, "explicit"])
def test_deep_linear_gd_matches_torch_gradient_descent(init):
    target = _random_spd(3, seed=6, low=0.3, high=1.5)
    depth = 3
    rng = np.random.default_rng(7)
    explicit = np.eye(3) + 0.1 * rng.normal(size=(depth, 3, 3))
    start = {"identity": np.stack([np.eye(3)] * depth), 0.7: np.stack([0.7 * np.eye(3)] * depth)}
    weights0 = explicit if init == "explicit" else start[init]
    ours = dynamics.deep_linear_gd(
        target, depth, [0.05, 0.1], 20, init=explicit if init == "explicit" else init
    )
    t = torch.tensor(target)
    for i, lr in enumerate([0.05, 0.1]):
        flat = torch.tensor(weights0.ravel(), requires_grad=True)
        for step in range(20):
            assert_allclose(ours[i, step].ravel(), flat.detach().numpy(), rtol=1e-10)
            (grad,) = torch.autograd.grad(_product_loss(flat, t, depth), flat)
            flat = (flat - lr * grad).detach().requires_grad_(True)


def test_deep_linear_gd_scalar_shapes_and_balanced_limit():
    w = dynamics.deep_linear_gd(8.0, 3, [0.01, 0.02], 3000)
    assert w.shape == (2, 3001, 3)
    assert_allclose(w[:, -1], 2.0, rtol=1e-9)  # identity init stays balanced: 8^{1/3}


@pytest.mark.parametrize("R", [2.0, np.diag([0.5, 1.0, 2.0, 3.0])])
def test_identity_init_converges_exactly_below_the_depth_bound(R):
    """Nar & Sastry (2018): no global minimum is stable above 2 / (L ρ^{2(L−1)/L})."""
    depth = 5
    bound = 2.0 / dynamics.deep_linear_sharpness(R, depth)
    w = dynamics.deep_linear_gd(R, depth, [0.97 * bound, 1.03 * bound], 4000)
    step_sizes = np.abs(w[:, -1] - w[:, -2]).reshape(2, -1).max(axis=1)
    assert step_sizes[0] < 1e-10
    assert step_sizes[1] > 1e-3


# --- input checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: dynamics.gd_quadratic([1.0], -0.1, 1.0, 5), "lr"),
        (lambda: dynamics.gd_quadratic([1.0], 0.1, 1.0, -5), "steps"),
        (lambda: dynamics.gd_quadratic([1.0], 0.1, [1.0, 2.0], 5), "w0"),
        (lambda: dynamics.gd_quadratic([[1.0, 2.0], [0.0, 1.0]], 0.1, 1.0, 5), "h"),
        (lambda: dynamics.gd_quadratic([1.0], 0.1, 1.0, 5, momentum=1.0), "momentum"),
        (lambda: dynamics.gd_quadratic([1.0], 0.1, 1.0, 5, nesterov=True), "nesterov"),
        (lambda: dynamics.contraction_factor(0.0, 1.0), "lr"),
        (lambda: dynamics.max_stable_lr([-1.0, 0.0]), "h"),
        (lambda: dynamics.iterate(lambda x: x, 1.0, [[0.1]], 5), "lr"),
        (lambda: dynamics.iterate(lambda x: x, 1.0, 0.1, 5, max_abs=0.0), "max_abs"),
        (lambda: dynamics.orbit_period([1.0, 2.0], max_period=4), "trajectory"),
        (lambda: dynamics.orbit_period(np.ones(10), tol=0.0), "tol"),
        (lambda: dynamics.bifurcation(lambda x: x, [0.1], 1.0, keep=0), "keep"),
        (lambda: dynamics.bifurcation(lambda x: x, [0.1], [1.0, 2.0]), "x0"),
        (lambda: dynamics.deep_linear_sharpness(1.0, 0), "depth"),
        (lambda: dynamics.deep_linear_sharpness(-np.eye(2), 2), "R"),
        (lambda: dynamics.deep_linear_gd(1.0, 2, 0.1, 5, init="random"), "init"),
        (lambda: dynamics.deep_linear_gd(1.0, 2, 0.1, 5, init=[1.0]), "init"),
    ],
)
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()


def test_iterate_rejects_a_non_callable_grad():
    with pytest.raises(TypeError, match="grad must be callable"):
        dynamics.iterate(np.ones(3), 1.0, 0.1, 5)


# --- the chapters' toy losses and the deep linear loss and gradient ------------------------------


def _central_difference(loss, x, h=1e-6):
    """The derivative of an elementwise loss by central differences in float64."""
    x = np.asarray(x, dtype=float)
    return (loss(x + h) - loss(x - h)) / (2 * h)


@pytest.mark.parametrize(
    ("make", "points"),
    [
        (lambda: dynamics.double_well(), np.linspace(-2.0, 2.0, 9)),
        (lambda: dynamics.power_well(), np.array([-3.0, -0.2, 0.1, 2.5])),
        (lambda: dynamics.two_wells(), np.array([-2.0, -1.2, -0.3, 1.0, 2.5, 3.7])),
        (lambda: dynamics.two_wells(50.0, 1.0, 0.5, -1.5), np.array([-3.0, -0.4, 0.2, 1.1])),
    ],
)
def test_toy_loss_gradients_are_the_derivatives_of_their_losses(make, points):
    """Each grad is the derivative of its loss (away from the two wells' ridge)."""
    loss, grad = make()
    assert_allclose(grad(points), _central_difference(loss, points), rtol=1e-7, atol=1e-8)


def test_product_loss_gradient_and_sharpness_at_a_minimum():
    """Nar & Sastry (2018): at a minimum xy = r the Hessian of ½(r − xy)² has eigenvalues 0
    and x² + y²; checked against the float64 autograd Hessian."""
    loss, grad = dynamics.product_loss(2.0)
    z = torch.tensor(np.random.default_rng(0).normal(size=(5, 2)), requires_grad=True)
    (expected,) = torch.autograd.grad(loss(z).sum(), z)
    assert_allclose(grad(z.detach().numpy()), expected.numpy(), rtol=1e-12)
    minimum = torch.tensor([4.0, 0.5], dtype=torch.float64)
    hessian = torch.autograd.functional.hessian(lambda t: loss(t), minimum)
    assert_allclose(torch.linalg.eigvalsh(hessian).numpy(), [0.0, 4.0**2 + 0.5**2], atol=1e-12)


def test_two_wells_gd_settles_in_the_sharp_well_only_below_its_cliff():
    """Seong et al. (2018), eq. 13: the sharp minimum is reachable only for γ < 2/h_sharp."""
    _, grad = dynamics.two_wells(h_sharp=50.0)
    starts = np.linspace(-1.5, -0.6, 7)  # all in the sharp well's basin
    ends = dynamics.iterate(grad, starts, [0.9 * 2 / 50, 1.1 * 2 / 50], steps=2000)[:, -1]
    assert_allclose(ends[0], -1.0, atol=1e-9)
    assert_allclose(ends[1], 2.0, atol=1e-9)  # flung out, settled in the flat well


def test_power_well_orbit_is_plus_minus_gamma_squared_over_four():
    """Nar & Sastry (2018): on ⅔|x|^{3/2} gradient descent ends on the 2-cycle ±γ²/4."""
    _, grad = dynamics.power_well()
    path = dynamics.iterate(grad, 3.0, 0.5, steps=200)
    assert dynamics.orbit_period(path) == 2
    assert_allclose(np.abs(path[-2:]), 0.5**2 / 4, rtol=1e-12)


@pytest.mark.parametrize("R", [2.0, _random_spd(3, seed=8, low=0.3, high=1.5)])
def test_deep_linear_loss_and_grad_equal_autograd(R):
    depth = 3
    rng = np.random.default_rng(9)
    if np.ndim(R) == 0:
        weights = 1.0 + 0.3 * rng.normal(size=(4, depth))  # four scalar nets
    else:
        weights = np.eye(3) + 0.2 * rng.normal(size=(4, depth, 3, 3))
    t = torch.tensor(np.atleast_2d(R))
    dim = t.shape[0]
    expected_loss, expected_grad = [], []
    for net in weights:
        flat = torch.tensor(net.ravel(), requires_grad=True)
        value = _product_loss(flat, t, depth)
        (grad,) = torch.autograd.grad(value, flat)
        expected_loss.append(value.item())
        expected_grad.append(grad.numpy().reshape(net.shape))
    assert dim == (1 if np.ndim(R) == 0 else 3)
    assert_allclose(dynamics.deep_linear_loss(weights, R), expected_loss, rtol=1e-12)
    assert_allclose(dynamics.deep_linear_grad(weights, R), expected_grad, rtol=1e-10, atol=1e-14)
    assert isinstance(dynamics.deep_linear_loss(weights[0], R), float)


def test_deep_linear_gd_steps_along_deep_linear_grad():
    """One step of deep_linear_gd is w − γ · deep_linear_grad(w): the two share one gradient."""
    w = dynamics.deep_linear_gd(2.0, 4, 0.05, 3, init=[2.0, 1.0, 1.0, 0.5])
    for t in range(3):
        assert_allclose(w[t + 1], w[t] - 0.05 * dynamics.deep_linear_grad(w[t], 2.0), rtol=1e-15)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: dynamics.two_wells(h_sharp=0.0), "h_sharp"),
        (lambda: dynamics.two_wells(h_flat=-1.0), "h_flat"),
        (lambda: dynamics.two_wells(sharp_min=1.0, flat_min=1.0), "flat_min"),
        (lambda: dynamics.product_loss(float("inf")), "r"),
        (lambda: dynamics.deep_linear_loss(np.ones((2, 2)), np.eye(3)), "weights"),
        (lambda: dynamics.iterate(lambda x: x, 1.0, 0.1, np.int64(-1)), "steps"),
    ],
)
def test_bad_input_of_the_new_helpers_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()


def test_numpy_integers_are_steps():
    assert dynamics.iterate(lambda x: x, 1.0, 0.5, np.int64(3)).shape == (4,)
    assert dynamics.gd_quadratic(1.0, 0.5, 1.0, np.int32(2)).tolist() == [1.0, 0.5, 0.25]
