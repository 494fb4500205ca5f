"""Tests of lrlab.scale and lrlab.models.scale_invariant.

The reference for the equivalence is Li & Arora, "An Exponential Learning Rate Schedule
for Deep Learning" (ICLR 2020): on a scale-invariant loss, SGD with momentum gamma,
weight decay lambda and learning rate eta computes the same network functions as SGD
with momentum gamma, no weight decay and learning rate eta * alpha^(-2t-1), alpha the
larger root of x^2 - (1 + gamma - lambda eta) x + gamma = 0.
"""

from __future__ import annotations

import doctest
import inspect
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import lrlab
from lrlab import data, models, scale, schedules, train
from lrlab.models import scale_invariant

# float64 on a 2-core CPU: the tensors are tiny, so a second thread only adds overhead.

#: Relative agreement the issue asks for over >= 1,000 float64 steps.
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def digits():
    """128 fixed training digits in float64 (the batch every equivalence test uses)."""
    x, y = lrlab.data.load("digits", device="cpu").tensors("train")
    return x[:128].double(), y[:128]


def si_mlp(seed: int = 0, **options) -> torch.nn.Module:
    torch.manual_seed(seed)
    options.setdefault("widths", (32, 32))
    return models.build("scale_invariant_mlp", 10, (1, 8, 8), **options).double()


# --------------------------------------------------------------------------- alpha


@settings(max_examples=50, deadline=None)
@given(
    lr=st.floats(1e-4, 2.0),
    momentum=st.floats(0.0, 0.99),
    fraction=st.floats(0.0, 0.999),
)
def test_alpha_is_the_larger_root_of_the_quadratic(lr, momentum, fraction):
    """alpha solves x^2 - (1 + gamma - lambda eta) x + gamma = 0 and is its larger root."""
    weight_decay = fraction * (1 - math.sqrt(momentum)) ** 2 / lr  # a real root exists
    alpha = scale.explr_alpha(lr, weight_decay, momentum)
    b = 1 + momentum - lr * weight_decay
    roots = np.roots([1.0, -b, momentum]).real
    assert alpha == pytest.approx(roots.max(), rel=1e-7, abs=1e-7)
    assert alpha**2 - b * alpha + momentum == pytest.approx(0.0, abs=1e-12)
    assert 0 < alpha <= 1


@settings(max_examples=30, deadline=None)
@given(lr=st.floats(1e-4, 1.0), weight_decay=st.floats(0.0, 0.9))
def test_alpha_without_momentum_is_one_minus_lr_times_weight_decay(lr, weight_decay):
    assert scale.explr_alpha(lr, weight_decay) == pytest.approx(1 - lr * weight_decay, rel=1e-14)


def test_alpha_is_one_without_weight_decay():
    assert scale.explr_alpha(0.1, 0.0, 0.9) == 1.0


def test_alpha_without_real_root_explains_the_condition():
    with pytest.raises(ValueError, match=r"lr\*weight_decay <= \(1 - sqrt\(momentum\)\)\*\*2"):
        scale.explr_alpha(1.0, 0.1, momentum=0.9)  # 0.1 > (1 - sqrt(0.9))^2 = 0.0026
    with pytest.raises(ValueError, match="no positive real root"):
        scale.explr_alpha(1.0, 1.0)  # alpha = 1 - 1 = 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": 0.0, "weight_decay": 1e-3}, "lr"),
        ({"lr": float("nan"), "weight_decay": 1e-3}, "lr"),
        ({"lr": 0.1, "weight_decay": -1e-3}, "weight_decay"),
        ({"lr": 0.1, "weight_decay": 1e-3, "momentum": 1.0}, "momentum"),
        ({"lr": 0.1, "weight_decay": 1e-3, "momentum": -0.1}, "momentum"),
    ],
)
def test_alpha_rejects_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        scale.explr_alpha(**kwargs)


# --------------------------------------------------------------------------- schedules


def test_explr_schedule_is_lr_times_alpha_to_the_minus_2t_minus_1():
    alpha = scale.explr_alpha(0.1, 5e-3, 0.9)
    s = scale.explr_schedule(0.1, 5e-3, 0.9)
    t = np.arange(3000)
    np.testing.assert_allclose(s(t), 0.1 * alpha ** (-2.0 * t - 1), rtol=1e-12)
    assert isinstance(s(7), float) and s(7) == pytest.approx(0.1 * alpha**-15, rel=1e-14)


def test_explr_schedules_are_schedules_with_one_arithmetic_path():
    """ExpLR, exact and TEXP schedules are ``lrlab.schedules.Schedule`` objects, so a scalar
    step is computed by the array code (on main they were closures that computed a scalar
    step with NumPy's scalar arithmetic, a second path whose last bit can differ)."""
    base = schedules.step_decay(0.1, step_size=50)
    made = [
        scale.explr_schedule(0.1, 5e-3, 0.9),
        scale.explr_from_schedule(base, 5e-3, 0.9, 200),
        scale.texp(base, 5e-3, 0.9, 200),
    ]
    for s in made:
        assert isinstance(s, schedules.Schedule)
        for t in (0, 1, 49, 50, 199):
            assert type(s(t)) is float and s(t) == s(np.array([t]))[0]
    assert repr(made[0]) == "explr_schedule(lr=0.1, weight_decay=0.005, momentum=0.9)"


@pytest.mark.parametrize("bad", [-1, np.array([0, -2])])
def test_schedules_reject_negative_steps(bad):
    with pytest.raises(ValueError, match="step must be an integer >= 0"):
        scale.explr_schedule(0.1, 1e-3)(bad)


def test_schedules_reject_non_integer_steps():
    with pytest.raises(TypeError, match="step must be an int"):
        scale.explr_schedule(0.1, 1e-3)(1.5)


def test_tabulated_schedules_reject_steps_past_their_end():
    s = scale.explr_from_schedule(schedules.constant(0.1), 1e-3, 0.9, steps=10)
    assert s(9) > 0
    with pytest.raises(ValueError, match="step must be an integer <= 9, got 10"):
        s(10)


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_exact_schedule_of_a_constant_rate_is_explr_schedule(momentum):
    t = np.arange(2000)
    exact = scale.explr_from_schedule(schedules.constant(0.05), 1e-3, momentum, 2000)
    np.testing.assert_allclose(exact(t), scale.explr_schedule(0.05, 1e-3, momentum)(t), rtol=1e-9)


def test_exact_schedule_without_momentum_is_the_product_formula():
    """Without momentum theta~_t = theta_t / prod_{k<t}(1 - eta_k lambda) (Li & Arora)."""
    base = schedules.multistep(0.3, [100, 250], gamma=0.2)
    t = np.arange(400)
    eta, wd = base(t), 0.01
    a = 1 - eta * wd
    s_t = np.concatenate(([1.0], np.cumprod(1 / a)[:-1]))
    expected = eta * s_t * s_t / a
    np.testing.assert_allclose(
        scale.explr_from_schedule(base, wd, 0.0, 400)(t), expected, rtol=1e-12
    )
    np.testing.assert_allclose(scale.texp(base, wd, 0.0, 400)(t), expected, rtol=1e-12)


def test_texp_switches_growth_rate_and_decays_at_a_phase_change():
    """TEXP: growth alpha*_I^-2 inside a phase; (eta_I/eta_{I-1}) / (alpha*_{I-1} alpha*_I)
    across a change (Li & Arora's two ingredients)."""
    wd, gamma = 5e-3, 0.9
    s = scale.texp(schedules.step_decay(0.1, 300, 0.1), wd, gamma, 600)(np.arange(600))
    a0, a1 = scale.explr_alpha(0.1, wd, gamma), scale.explr_alpha(0.01, wd, gamma)
    ratio = s[1:] / s[:-1]
    np.testing.assert_allclose(ratio[:299], a0**-2, rtol=1e-10)
    assert ratio[299] == pytest.approx(0.1 / (a0 * a1), rel=1e-10)
    np.testing.assert_allclose(ratio[300:], a1**-2, rtol=1e-10)


def test_texp_and_exact_agree_until_the_first_change_then_differ_with_momentum():
    base, t = schedules.step_decay(0.1, 300, 0.1), np.arange(600)
    exact = scale.explr_from_schedule(base, 5e-3, 0.9, 600)(t)
    approx = scale.texp(base, 5e-3, 0.9, 600)(t)
    np.testing.assert_allclose(approx[:300], exact[:300], rtol=1e-12)
    assert np.max(np.abs(approx[300:] / exact[300:] - 1)) > 1e-4


def test_exact_schedule_rejects_a_jump_with_no_equivalent():
    """A 50,000-fold jump of the rate with momentum makes alpha_t negative."""
    jump = lambda t: np.where(np.asarray(t) < 5, 1e-3, 50.0)  # noqa: E731
    with pytest.raises(ValueError, match="no equivalent schedule"):
        scale.explr_from_schedule(jump, 0.1, 0.9, 10)
    assert scale.explr_from_schedule(jump, 0.1, 0.0, 5)(4) > 0


@pytest.mark.parametrize("factory", [scale.explr_from_schedule, scale.texp])
def test_tabulated_schedules_reject_bad_input(factory):
    with pytest.raises(ValueError, match="steps"):
        factory(schedules.constant(0.1), 1e-3, 0.9, 0)
    with pytest.raises(ValueError, match="weight_decay"):
        factory(schedules.constant(0.1), -1.0, 0.9, 10)
    with pytest.raises(ValueError, match="schedule must give"):
        factory(lambda t: np.zeros(np.shape(t)), 1e-3, 0.9, 10)


# --------------------------------------------------------------------------- buffers


def test_initial_buffer_is_minus_one_minus_alpha_over_lr_alpha_times_theta():
    w = torch.nn.Parameter(torch.randn(5, dtype=torch.float64))
    opt = torch.optim.SGD([w], lr=1.0, momentum=0.9)
    scale.set_explr_momentum_buffers(opt, lr=0.1, weight_decay=5e-3)
    alpha = scale.explr_alpha(0.1, 5e-3, 0.9)
    expected = -(1 - alpha) / (0.1 * alpha) * w.detach()
    torch.testing.assert_close(opt.state[w]["momentum_buffer"], expected, rtol=1e-15, atol=0)


def test_initial_buffer_is_not_set_without_momentum():
    w = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([w], lr=1.0)
    scale.set_explr_momentum_buffers(opt, lr=0.1, weight_decay=5e-3)
    assert "momentum_buffer" not in opt.state[w]


@pytest.mark.parametrize(
    "options", [{"weight_decay": 1e-3}, {"nesterov": True}, {"dampening": 0.1}]
)
def test_initial_buffer_rejects_an_optimizer_that_cannot_be_the_explr_run(options):
    w = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([w], lr=1.0, momentum=0.9, **options)
    with pytest.raises(ValueError, match="weight_decay=0, dampening=0 and nesterov=False"):
        scale.set_explr_momentum_buffers(opt, lr=0.1, weight_decay=5e-3)
    with pytest.raises(TypeError, match="torch.optim.SGD"):
        scale.set_explr_momentum_buffers(torch.optim.Adam([w]), lr=0.1, weight_decay=5e-3)


def test_initial_buffer_refuses_an_optimizer_that_already_stepped():
    w = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    w.sum().backward()
    opt.step()
    with pytest.raises(ValueError, match="taken a step"):
        scale.set_explr_momentum_buffers(opt, lr=0.1, weight_decay=5e-3)


# --------------------------------------------------------------------------- models


def test_scale_invariant_builders_are_registered():
    assert {"scale_invariant_mlp", "scale_invariant_cnn"} <= set(models.names())


def _closed_form_counts(name: str, widths, num_classes: int, input_shape) -> tuple[int, int]:
    """The builders' documented parameter counts: bias-free layers, a fixed read-out.

    MLP: ``d*w_1 + w_1*w_2 + ... + w_{k-1}*w_k`` trained (``d = prod(input_shape)``);
    CNN: ``9*(c*w_1 + w_1*w_2 + ...)`` trained (3x3 kernels, ``c`` input channels); both
    ``w_k * num_classes`` fixed.
    """
    first = math.prod(input_shape) if name == "scale_invariant_mlp" else input_shape[0]
    sizes = [first, *widths]
    per_weight = 1 if name == "scale_invariant_mlp" else 9
    trained = per_weight * sum(a * b for a, b in zip(sizes, sizes[1:], strict=False))
    return trained, widths[-1] * num_classes


@pytest.mark.parametrize("name", ["scale_invariant_mlp", "scale_invariant_cnn"])
@pytest.mark.parametrize("widths", [None, (5, 7), (3, 4, 6)])
def test_parameter_counts_follow_the_closed_form(name, widths):
    builder = scale_invariant.BUILDERS[name]
    options = {} if widths is None else {"widths": widths}
    widths = widths or inspect.signature(builder).parameters["widths"].default
    model = models.build(name, 10, (1, 8, 8), **options)
    n_trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_fixed = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert (n_trained, n_fixed) == _closed_form_counts(name, widths, 10, (1, 8, 8))


@pytest.mark.parametrize("name", ["scale_invariant_mlp", "scale_invariant_cnn"])
def test_parameter_counts_in_the_docstrings_are_the_closed_form(name):
    builder = scale_invariant.BUILDERS[name]
    widths = inspect.signature(builder).parameters["widths"].default
    trained, fixed = _closed_form_counts(name, widths, 10, (1, 8, 8))
    assert f"{trained:,} trained and {fixed:,} fixed" in builder.__doc__


@pytest.mark.parametrize("name", ["scale_invariant_mlp", "scale_invariant_cnn"])
def test_outputs_do_not_change_when_any_weight_is_rescaled(name):
    torch.manual_seed(0)
    model = models.build(name, 10, (1, 8, 8), widths=(4, 6)).double()
    x = torch.randn(16, 1, 8, 8, dtype=torch.float64)
    before = model(x)
    with torch.no_grad():
        for c, p in zip((0.1, 7.0, 3.0), model.parameters(), strict=False):
            if p.requires_grad:
                p.mul_(c)
    torch.testing.assert_close(model(x), before, rtol=1e-12, atol=1e-12)
    assert model(x).shape == (16, 10)


def test_options_that_break_invariance_add_or_train_parameters():
    assert not any(p.requires_grad for p in si_mlp()[-1].parameters())
    assert all(p.requires_grad for p in si_mlp(fixed_output=False)[-1].parameters())
    affine = si_mlp(affine=True)
    assert sum(isinstance(m, torch.nn.BatchNorm1d) and m.affine for m in affine.modules()) == 2


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"widths": ()}, "widths"),
        ({"widths": (0,)}, "widths"),
        ({"eps": 0.0}, "eps"),
        ({"output_scale": -1.0}, "output_scale"),
    ],
)
def test_builders_reject_bad_options(options, name):
    with pytest.raises(ValueError, match=name):
        models.build("scale_invariant_mlp", 10, (1, 8, 8), **options)
    with pytest.raises(ValueError, match=name):
        models.build("scale_invariant_cnn", 10, (1, 8, 8), **options)


# --------------------------------------------------------------------------- residuals


def test_residuals_vanish_for_a_scale_invariant_network(digits):
    x, y = digits
    for model in (si_mlp(), models.build("scale_invariant_cnn", 10, (1, 8, 8), widths=(4, 8))):
        model = model.double()
        res = scale.scale_invariance_residuals(model, lambda m: F.cross_entropy(m(x), y))
        assert len(res) == 2
        for entry in res.values():
            assert abs(entry["cosine"]) < 1e-12
            assert max(entry["relative_residual"].values()) < 1e-10


def test_residuals_are_clearly_nonzero_for_a_regular_network(digits):
    x, y = digits
    torch.manual_seed(0)
    model = models.build("mlp", 10, (1, 8, 8), hidden=(32, 32)).double()
    res = scale.scale_invariance_residuals(model, lambda m: F.cross_entropy(m(x), y))
    assert len(res) == 6  # three weights, three biases
    for entry in res.values():
        assert max(entry["relative_residual"].values()) > 0.05
    assert max(abs(e["cosine"]) for e in res.values()) > 0.05


def test_residuals_leave_the_model_untouched_and_check_input(digits):
    x, y = digits
    model = si_mlp()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    scale.scale_invariance_residuals(model, lambda m: F.cross_entropy(m(x), y), scales=(3.0,))
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state[k], rtol=0, atol=0)
    with pytest.raises(ValueError, match="scales"):
        scale.scale_invariance_residuals(model, lambda m: m(x).sum(), scales=(0.0,))
    with pytest.raises(TypeError, match="loss_fn"):
        scale.scale_invariance_residuals(model, None)


# --------------------------------------------------------------------------- training


def test_weight_norm_grows_by_lr_squared_grad_squared_without_weight_decay(digits):
    """<grad L, theta> = 0 gives |theta_{t+1}|^2 = |theta_t|^2 + eta^2 |grad L|^2."""
    x, y = digits
    run = scale.sgd_trajectory(si_mlp(), x, y, 0.2, 100)
    norm2 = run["weight_norm"] ** 2
    np.testing.assert_allclose(np.diff(norm2), 0.2**2 * run["grad_norm"] ** 2, rtol=1e-8)
    np.testing.assert_allclose(run["effective_lr"], 0.2 / norm2[:-1], rtol=1e-15)
    decayed = scale.sgd_trajectory(si_mlp(), x, y, 0.2, 100, weight_decay=0.05)
    assert decayed["weight_norm"][-1] < run["weight_norm"][0] < run["weight_norm"][-1]


def test_sgd_trajectory_does_not_modify_the_model_and_checks_input(digits):
    x, y = digits
    model = si_mlp()
    before = [p.clone() for p in model.parameters()]
    run = scale.sgd_trajectory(model, x, y, schedules.constant(0.1), 3, batch_size=32)
    assert len(run["loss"]) == 3 and len(run["weight_norm"]) == 4
    for p, q in zip(model.parameters(), before, strict=True):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="steps"):
        scale.sgd_trajectory(model, x, y, 0.1, 0)
    with pytest.raises(ValueError, match="batch_size"):
        scale.sgd_trajectory(model, x, y, 0.1, 2, batch_size=10_000)
    with pytest.raises(ValueError, match="lr"):
        scale.sgd_trajectory(model, x, y, -0.1, 2)
    with pytest.raises(ValueError, match="same number"):
        scale.sgd_trajectory(model, x, y[:3], 0.1, 2)


@pytest.mark.slow
@pytest.mark.parametrize(("lr", "weight_decay", "momentum"), [(0.05, 5e-3, 0.9), (0.1, 1e-2, 0.0)])
def test_weight_decay_run_equals_explr_run_for_1000_steps(digits, lr, weight_decay, momentum):
    """Li & Arora's main theorem, in float64: outputs and directions agree to 1e-9 and the
    ExpLR weights are alpha^(-t) times the weight-decay weights."""
    x, y = digits
    pair = scale.explr_pair(si_mlp(), x, y, lr, weight_decay, momentum, steps=1000)
    assert pair["output_diff"].max() <= TOLERANCE
    assert pair["weight_diff"].max() <= TOLERANCE
    alpha = scale.explr_alpha(lr, weight_decay, momentum)
    np.testing.assert_allclose(
        pair["norm_explr"] / pair["norm_base"], alpha ** -np.arange(1001.0), rtol=TOLERANCE
    )
    np.testing.assert_allclose(pair["loss_explr"], pair["loss_base"], rtol=TOLERANCE)
    assert pair["lr_explr"][-1] > 5 * pair["lr_explr"][0]  # the rate really grew


@pytest.mark.slow
@pytest.mark.parametrize("momentum", [0.9, 0.0])
def test_step_decay_run_equals_its_exact_explr_run_for_1000_steps(digits, momentum):
    x, y = digits
    base = schedules.step_decay(0.05, step_size=400, gamma=0.1)
    pair = scale.explr_pair(si_mlp(), x, y, base, 5e-3, momentum, steps=1000, explr="exact")
    assert pair["output_diff"].max() <= TOLERANCE
    assert pair["weight_diff"].max() <= TOLERANCE
    np.testing.assert_allclose(pair["lr_base"], base(np.arange(1000)))


def test_minibatch_sgd_is_equivalent_too(digits):
    x, y = digits
    pair = scale.explr_pair(si_mlp(), x, y, 0.05, 5e-3, 0.9, steps=100, batch_size=64)
    assert pair["output_diff"].max() <= TOLERANCE


@pytest.mark.parametrize(
    ("case", "options", "model_options"),
    [
        ("zero momentum buffer", {"init_buffers": False}, {}),
        ("BatchNorm affine", {}, {"affine": True}),
        ("trained last layer", {}, {"fixed_output": False}),
        ("BatchNorm eps 1e-5", {}, {"eps": 1e-5}),
    ],
)
def test_what_breaks_exactness(digits, case, options, model_options):
    x, y = digits
    model = si_mlp(**model_options)
    pair = scale.explr_pair(model, x, y, 0.05, 5e-3, 0.9, steps=150, **options)
    assert pair["output_diff"][-1] > 1e-6, case


def test_texp_is_not_exact_after_a_phase_change_with_momentum(digits):
    x, y = digits
    base = schedules.step_decay(0.05, step_size=50, gamma=0.1)
    pair = scale.explr_pair(si_mlp(), x, y, base, 5e-3, 0.9, steps=120, explr="texp")
    assert pair["output_diff"][:51].max() <= TOLERANCE
    assert pair["output_diff"][-1] > 1e-7


def test_explr_pair_rejects_bad_input(digits):
    x, y = digits
    with pytest.raises(ValueError, match="explr must be"):
        scale.explr_pair(si_mlp(), x, y, 0.1, 1e-3, steps=2, explr="linear")
    with pytest.raises(ValueError, match="steps"):
        scale.explr_pair(si_mlp(), x, y, 0.1, 1e-3, steps=0)
    with pytest.raises(ValueError, match="momentum"):
        scale.explr_pair(si_mlp(), x, y, 0.1, 1e-3, momentum=1.5, steps=2)
    with pytest.raises(TypeError, match="model"):
        scale.explr_pair("mlp", x, y, 0.1, 1e-3, steps=2)


# --------------------------------------------------------------------------- docs


@pytest.mark.parametrize("module", [scale, lrlab.explr, scale_invariant])
def test_docstring_examples_run(module):
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0


def test_explr_factories_return_named_schedules_that_a_run_records():
    """A run's config names the ExpLR schedule it ran (not a closure's memory address), and
    the factories are Schedules: vectorised, with the scalar call the array call at 0-d."""
    s = scale.explr_schedule(0.1, 0.01, 0.9)
    assert isinstance(s, schedules.Schedule)
    assert repr(s) == "explr_schedule(lr=0.1, weight_decay=0.01, momentum=0.9)"
    assert s(7) == s(np.arange(10))[7]
    base = schedules.step_decay(0.1, 20)
    exact = scale.explr_from_schedule(base, 1e-3, 0.9, 40)
    tapered = scale.texp(base, 1e-3, 0.9, 40)
    assert repr(exact).startswith("explr_from_schedule(schedule=step_decay(lr=0.1")
    assert isinstance(tapered, schedules.Schedule) and tapered.params["steps"] == 40
    digits = data.load("digits", device="cpu")
    torch.manual_seed(0)
    net = models.build("mlp", 10, digits.input_shape, hidden=(16,))
    history = train.fit(net, digits, s, epochs=1, weight_decay=0.0, batch_size=512, progress=False)
    assert history.config["schedule"] == repr(s)
    np.testing.assert_array_equal(history.lr, s(np.arange(history.steps)))
