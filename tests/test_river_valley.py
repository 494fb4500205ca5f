"""The river-valley simulator (lrlab.dynamics.river_valley) against closed forms: gradient
descent on a quadratic (lrlab.dynamics.gd_quadratic, and (1 − ηa)^t), the stationary variance
of noisy GD on a quadratic valley, ησ²/(a(2 − ηa)), and the exact moments under a schedule,
each within the sampling error of the simulation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from lrlab import dynamics, schedules


def test_gradient_descent_is_gd_on_the_two_dimensional_quadratic():
    """Without noise the river valley is the quadratic with eigenvalues (c, a): the path is
    lrlab.dynamics.gd_quadratic's (an independent loop), and y is (1 − ηa)^t y₀."""
    rates = np.array([0.03, 0.12, 0.19])
    path = dynamics.river_valley_sgd(rates, 40, sharpness=10.0, river=0.3, start=(-1.0, 0.7))
    reference = dynamics.gd_quadratic([0.3, 10.0], rates, [-1.0, 0.7], 40)
    assert_allclose(path, reference, rtol=1e-12)
    steps = np.arange(41)
    assert_allclose(path[..., 1], 0.7 * (1 - 10.0 * rates[:, None]) ** steps, rtol=1e-9)


def test_a_rate_above_two_over_the_sharpness_diverges_across_the_valley():
    path = dynamics.river_valley_sgd([0.15, 0.21, 0.3], 2000, sharpness=10.0, start=(0.0, 1.0))
    assert abs(path[0, -1, 1]) < 1e-12  # |1 − 1.5| < 1: settles
    assert abs(path[1, -1, 1]) > 1e80  # |1 − 2.1| > 1: grows by 1.1 a step
    assert np.isnan(path[2, -1]).all()  # |1 − 3| = 2: overflows, the point NaN from there on


def test_the_stationary_spread_across_the_valley_is_the_closed_form():
    """Noisy GD y ← (1 − ηa) y − η σ ξ has the stationary variance ησ²/(a(2 − ηa)). 20,000
    replicas, after enough steps to forget the start: the sample variance's standard error
    is √(2/(n−1)) of the variance (normal data); allow 5 of them."""
    rates = np.array([0.01, 0.05, 0.1, 0.15, 0.19])
    a, sigma, n = 10.0, 0.7, 20_000
    z = dynamics.river_valley_sgd(
        rates, 400, sharpness=a, noise=sigma, start=(0.0, 0.0), replicas=n, every=400, seed=3
    )
    sampled = z[:, :, -1, 1].var(axis=1, ddof=1)
    expected = rates * sigma**2 / (a * (2 - rates * a))
    assert_allclose(dynamics.stationary_spread(rates, a, sigma), expected, rtol=1e-12)
    assert_allclose(sampled, expected, rtol=5 * np.sqrt(2 / (n - 1)))


def test_the_stationary_spread_is_the_fixed_point_of_the_variance_recursion():
    m = dynamics.river_valley_moments(0.13, 3000, sharpness=4.0, noise=2.0, start=(0.0, 0.0))
    assert_allclose(m["var"][-1], dynamics.stationary_spread(0.13, 4.0, 2.0), rtol=1e-12)
    assert dynamics.stationary_spread(0.5, 4.0, 1.0) == np.inf  # ηa = 2: no stationary spread


def test_the_moments_from_a_start_are_the_closed_form_of_a_constant_rate():
    """m = (1 − ηa)^t y₀ and v = v∞ (1 − (1 − ηa)^{2t}) from v₀ = 0; x = (1 − ηc)^t x₀."""
    eta, a, c, sigma, t = 0.08, 5.0, 0.01, 1.5, np.arange(101)
    m = dynamics.river_valley_moments(
        eta, 100, sharpness=a, river=c, noise=sigma, start=(-4.0, -1.0)
    )
    factor = (1 - eta * a) ** t
    v_inf = eta * sigma**2 / (a * (2 - eta * a))
    assert_allclose(m["mean"], -factor, rtol=1e-12, atol=1e-300)
    assert_allclose(m["var"], v_inf * (1 - factor**2), rtol=1e-10, atol=1e-15)
    assert_allclose(m["x"], -4.0 * (1 - eta * c) ** t, rtol=1e-12)
    expected = 0.5 * a * (factor**2 + v_inf * (1 - factor**2)) + 0.5 * c * m["x"] ** 2
    assert_allclose(m["loss"], expected, rtol=1e-10, atol=1e-14)


def test_the_simulated_loss_under_a_wsd_schedule_is_the_expected_one():
    """Through a warm-up, a stable phase and a cooldown, the mean of the valley's loss over
    10,000 replicas at each recorded step is the closed form within 5 standard errors
    (½ a y² with y ~ N(m, v) has variance ½ a² (v² + 2 m² v)); x carries no noise."""
    steps, n, a = 300, 10_000, 10.0
    wsd = schedules.wsd(1.0, steps, decay_steps=90, warmup_steps=30, cooldown="1-sqrt")
    kwargs = dict(schedule=wsd, sharpness=a, river=0.01, noise=1.0, start=(-5.0, 0.5))
    z = dynamics.river_valley_sgd(0.18, steps, replicas=n, every=10, seed=1, **kwargs)
    m = dynamics.river_valley_moments(0.18, steps, **kwargs)
    mean_y, var_y = m["mean"][::10], m["var"][::10]
    sampled = dynamics.valley_loss(z, a).mean(axis=0)
    error = np.sqrt(0.5 * a**2 * (var_y**2 + 2 * mean_y**2 * var_y) / n)
    assert np.all(np.abs(sampled - m["valley"][::10]) <= 5 * error + 1e-12)
    assert_allclose(z[:, :, 0], np.broadcast_to(m["x"][::10], (n, 31)), rtol=1e-12)


def test_the_cooldown_removes_the_valleys_loss_and_keeps_most_of_the_rivers_progress():
    """The WSD picture in numbers: at the end of the cooldown the valley's expected loss is a
    small part of the constant rate's, and the distance down the river is set by the area
    under the schedule: x_T = x₀ Π (1 − η_t c)."""
    steps, eta = 600, 0.15
    wsd = schedules.wsd(1.0, steps, decay_steps=120)
    constant = dynamics.river_valley_moments(eta, steps, noise=1.0)
    cooled = dynamics.river_valley_moments(eta, steps, schedule=wsd, noise=1.0)
    assert cooled["valley"][-1] < 0.1 * constant["valley"][-1]
    rates = eta * wsd(np.arange(steps))
    assert_allclose(cooled["x"][-1], -10.0 * np.prod(1 - 0.002 * rates), rtol=1e-12)
    assert cooled["loss"][-1] < constant["loss"][-1]


def test_a_rates_runs_do_not_depend_on_the_other_rates():
    """Common random numbers: every rate sees the same noise, so a rate alone or among others
    gives the same runs to the last bit."""
    together = dynamics.river_valley_sgd([0.05, 0.1], 50, noise=1.0, replicas=3, seed=7)
    alone = dynamics.river_valley_sgd(0.1, 50, noise=1.0, replicas=3, seed=7)
    assert_array_equal(together[1], alone)


def test_a_schedule_scales_the_rate_step_by_step():
    wsd = schedules.wsd(1.0, 10, decay_steps=5)
    factors = wsd(np.arange(10))
    by_array = dynamics.river_valley_sgd(0.1, 10, schedule=factors, noise=0.5, seed=2)
    expected, z = [np.array([-10.0, 1.0])], np.array([-10.0, 1.0])
    rng = np.random.default_rng(2)
    for t in range(10):  # the update written out, one step at a time
        xi = rng.standard_normal(1)[0]
        grad = np.array([0.002 * z[0], 10.0 * z[1] + 0.5 * xi])
        z = z - 0.1 * factors[t] * grad
        expected.append(z)
    assert_allclose(by_array, np.array(expected), rtol=1e-12)
    by_schedule = dynamics.river_valley_sgd(0.1, 10, schedule=wsd, noise=0.5, seed=2)
    assert_array_equal(by_schedule, by_array)


@settings(max_examples=30, deadline=None)
@given(
    eta=st.floats(0.001, 0.199),
    steps=st.integers(1, 60),
    every=st.integers(1, 7),
)
def test_recording_every_k_steps_keeps_those_steps(eta, steps, every):
    full = dynamics.river_valley_sgd(eta, steps, noise=1.0, replicas=2, seed=0)
    thinned = dynamics.river_valley_sgd(eta, steps, noise=1.0, replicas=2, seed=0, every=every)
    assert_array_equal(thinned, full[:, ::every])


def test_the_loss_is_its_two_parts():
    z = np.array([[1.0, 2.0], [-3.0, 0.5]])
    assert_allclose(dynamics.valley_loss(z, 4.0), [8.0, 0.5])
    assert_allclose(dynamics.river_loss(z, 0.5), [0.25, 2.25])
    assert_allclose(dynamics.river_valley_loss(z, 4.0, 0.5), [8.25, 2.75])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": -0.1}, "lr"),
        ({"steps": -1}, "steps"),
        ({"sharpness": 0.0}, "sharpness"),
        ({"river": -1.0}, "river"),
        ({"noise": -1.0}, "noise"),
        ({"start": (1.0, 2.0, 3.0)}, "start"),
        ({"replicas": 0}, "replicas"),
        ({"every": 0}, "every"),
        ({"schedule": np.ones(3)}, "schedule"),
        ({"schedule": -np.ones(10)}, "schedule"),
    ],
)
def test_bad_input_is_refused_naming_the_parameter(kwargs, name):
    arguments = {"lr": 0.1, "steps": 10, **kwargs}
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        dynamics.river_valley_sgd(arguments.pop("lr"), arguments.pop("steps"), **arguments)
    with pytest.raises(ValueError, match="^points"):
        dynamics.valley_loss(np.ones(3))


def test_one_schedule_per_rate_runs_them_side_by_side():
    """A (rates, steps) array of factors gives each rate its own schedule: the same as one
    call per schedule."""
    rows = np.array([schedules.wsd(1.0, 80, decay_steps=d)(np.arange(80)) for d in (8, 40)])
    both = dynamics.river_valley_moments([0.1, 0.1], 80, schedule=rows, noise=1.0)
    for i in range(2):
        alone = dynamics.river_valley_moments(0.1, 80, schedule=rows[i], noise=1.0)
        assert_array_equal(both["loss"][i], alone["loss"])
