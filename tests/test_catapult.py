"""The catapult: the closed-form model of :mod:`lrlab.dynamics` against gradient descent on
(u, v), the three regimes at 2/λ₀ and 4/λ₀ (Lewkowycz et al., 2020, §2), the NTK-scaled
ReLU network of :mod:`lrlab.models`, and the experiment on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lrlab import curvature, dynamics, models
from lrlab.experiments import edge_of_stability as eos


def _gd_on_weights(u, v, lr, target, steps):
    """Reference: plain gradient descent on L = ½(vᵀu/√n − y)², returning (f, λ) per step."""
    n = len(u)
    fs, lams = [], []
    for _ in range(steps + 1):
        f = u @ v / np.sqrt(n)
        fs.append(f)
        lams.append((u @ u + v @ v) / n)
        g = f - target
        u, v = u - lr * g * v / np.sqrt(n), v - lr * g * u / np.sqrt(n)
    return np.array(fs), np.array(lams)


@pytest.mark.parametrize("target", [0.0, 0.7])
@pytest.mark.parametrize("ratio", [1.0, 3.0])
def test_closed_form_matches_gradient_descent_on_the_weights(ratio, target):
    """Eq. 3 of Lewkowycz et al. is exact: no approximation in the width."""
    rng = np.random.default_rng(3)
    u, v = rng.standard_normal(50), rng.standard_normal(50)
    lam0 = (u @ u + v @ v) / 50
    lr = ratio / lam0
    f_ref, lam_ref = _gd_on_weights(u, v, lr, target, 40)
    run = dynamics.catapult_gd(lr, 50, u @ v / np.sqrt(50), lam0, 40, target=target)
    np.testing.assert_allclose(run["f"], f_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(run["lam"], lam_ref, rtol=1e-9)
    np.testing.assert_allclose(run["loss"], 0.5 * (f_ref - target) ** 2, rtol=1e-8, atol=1e-20)


def test_init_matches_its_definition():
    rng = np.random.default_rng(5)
    u, v = rng.standard_normal(300), rng.standard_normal(300)
    assert dynamics.catapult_init(300, seed=5) == pytest.approx(
        (u @ v / np.sqrt(300), (u @ u + v @ v) / 300)
    )


WIDTH = 10_000


@pytest.fixture(scope="module")
def phases():
    """η·λ₀ just inside each edge of the three regimes, several initialisations."""
    ratios = np.array([0.5, 1.5, 1.95, 2.05, 2.5, 3.0, 3.5, 3.95, 4.05, 4.5, 6.0])
    out = []
    for seed in range(3):
        f0, lam0 = dynamics.catapult_init(WIDTH, seed=seed)
        run = dynamics.catapult_gd(ratios / lam0, WIDTH, f0, lam0, 3000)
        out.append(
            (
                ratios,
                lam0,
                run,
                dynamics.catapult_summary(run["loss"], run["lam"][:, -1], ratios / lam0),
            )
        )
    return out


def test_lazy_below_two_over_lambda0(phases):
    """η < 2/λ₀: the loss never rises and λ stays at λ₀ (up to O(1/n))."""
    for ratios, lam0, run, numbers in phases:
        lazy = ratios < 2
        assert np.all(numbers["peak_ratio"][lazy] == 1.0)
        assert np.all(np.diff(run["loss"][lazy], axis=1) <= 0)
        assert np.all(np.abs(run["lam"][lazy, -1] / lam0 - 1) < 0.01)


def test_catapult_between_two_and_four_over_lambda0(phases):
    """2/λ₀ < η < 4/λ₀: the loss rises, λ falls below 2/η, then training converges."""
    for ratios, _, run, numbers in phases:
        middle = (ratios > 2) & (ratios < 4)
        assert np.all(numbers["peak_ratio"][middle] > 2)
        assert not np.any(numbers["diverged"][middle])
        assert np.all(numbers["final_lr_lam"][middle] < 2)
        assert np.all(run["loss"][middle, -1] < 1e-12)


def test_divergence_above_four_over_lambda0(phases):
    for ratios, _, _, numbers in phases:
        assert np.all(numbers["diverged"][ratios > 4])
        assert np.all(numbers["diverged"][ratios < 4] == False)  # noqa: E712


def test_summary_of_a_diverged_run_has_no_final_sharpness():
    numbers = dynamics.catapult_summary([[1.0, 10.0, np.nan]], [np.nan], [1.0])
    assert numbers["diverged"].tolist() == [True]
    assert np.isinf(numbers["peak_ratio"][0]) and np.isnan(numbers["final_lr_lam"][0])


def test_two_layer_relu_has_an_order_one_kernel_at_any_width():
    """NTK parametrisation: λ₀ does not grow with the width (it would, ∝ n, without 1/√n)."""
    x, y = torch.randn(32, 10, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 2
    values = []
    for width in (64, 1024):
        net = models.build("two_layer_relu", 2, (10,), seed=0, width=width).double()
        values.append(curvature.sharpness(net, x.double(), y, loss="mse"))
    assert 0.5 < values[1] / values[0] < 2


@pytest.mark.slow
def test_relu_network_is_lazy_below_and_catapults_above_two_over_lambda0():
    config = {**eos.CATAPULT.config("classroom"), "ratios": [1.0, 3.0], "steps": 40}
    out = eos.run_catapult(config)
    ((lazy_peak, cat_peak),) = out["peak_ratio"]
    ((lazy_final, cat_final),) = out["final_lr_lam"]
    assert lazy_peak == 1.0 and lazy_final == pytest.approx(1.0, abs=0.1)
    assert cat_peak > 2 and cat_final < 2
    assert len(out["loss"][0][1]) == 40 and out["diverged"] == [[False, False]]
    # dead units: a fraction per run, and at initialisation (few: U x has random signs)
    assert all(0 <= d <= 1 for d in out["dead_units"][0]) and out["dead_units_init"][0] < 0.2


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: dynamics.catapult_step(1.0, 2.0, -0.1, 10), "lr"),
        (lambda: dynamics.catapult_step(1.0, 2.0, 0.1, 0), "width"),
        (lambda: dynamics.catapult_gd(0.1, 10, 1.0, 0.0, 5), "lam0"),
        (lambda: dynamics.catapult_gd(0.1, 10, 1.0, 2.0, 0), "steps"),
        (lambda: dynamics.catapult_gd([[0.1]], 10, 1.0, 2.0, 5), "lr"),
        (lambda: dynamics.catapult_init(10, seed=-1), "seed"),
        (lambda: models.ntk.TwoLayerReLU(0, 8), "input_dim"),
        (lambda: eos.run_catapult({**eos.CATAPULT.config(), "classes": [0, 1, 2]}), "classes"),
        (lambda: eos.run_catapult({**eos.CATAPULT.config(), "ratios": [0.0]}), "ratios"),
    ],
)
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()


def test_numpy_integers_are_accepted():
    f, lam = dynamics.catapult_step(np.float64(1.0), 2.0, np.float32(0.5), np.int64(100))
    assert np.isfinite(f) and np.isfinite(lam)
