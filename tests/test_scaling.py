"""Tests of lrlab.scaling: the noise scale against the closed form of linear regression, the
critical-batch fit against data generated from its model, μP against the `mup` package,
and the coordinate check."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from torch import nn

from lrlab import data, models, scaling, train
from lrlab.step import epoch_seed, prepare

WIDTHS = (64, 128, 256, 512, 1024)


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", device="cpu")


# --- the noise scale ---------------------------------------------------------------------


def linear_regression(n: int, d: int = 4, sigma: float = 0.5, seed: int = 0):
    """y = w*·x + ε with x ~ N(0, I_d), ε ~ N(0, σ²); a float64 model at w = w* + δ."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    w_star = torch.randn(d, generator=gen, dtype=torch.float64)
    y = x @ w_star + sigma * torch.randn(n, generator=gen, dtype=torch.float64)
    delta = torch.full((d,), 0.5, dtype=torch.float64)
    net = nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        net.weight.copy_(w_star + delta)
    ds = data.from_tensors(x, y, x[:8], y[:8], name="linear", device="cpu")
    return net, ds, delta, sigma


def population_parts(net, ds) -> tuple[float, float]:
    """|G|² and tr Σ of the training set, from the per-example gradients r_i x_i of
    ½(w·x_i − y_i)² written out by hand (no autograd), in float64."""
    x, y = ds.raw("train")
    x, y = x.double(), y.double()
    w = net.weight.detach()[0]
    per_example = (x @ w - y)[:, None] * x
    mean = per_example.mean(dim=0)
    return float(mean @ mean), float(((per_example - mean) ** 2).sum(dim=1).mean())


def test_estimator_recovers_both_parts_from_their_expectations():
    """McCandlish et al. (2018), Appendix A: E|G_B|² = |G|² + tr Σ / B, so the estimators
    A.2 and A.3 applied to the expected norms give |G|² and tr Σ exactly."""
    grad_sq, trace = 0.7, 31.0
    for small, big in [(1, 2), (8, 64), (32, 1000)]:
        est = scaling.simple_noise_scale(grad_sq + trace / small, grad_sq + trace / big, small, big)
        assert_allclose([est.grad_sq, est.trace_sigma], [grad_sq, trace], rtol=1e-12)
        assert est.b_simple == pytest.approx(trace / grad_sq, rel=1e-12)
        assert math.isnan(est.grad_sq_se) and est.batches == 1


def test_estimator_averages_the_parts_before_the_ratio():
    """The ratio of averages, not the average of per-draw ratios (McCandlish et al. 2018,
    Appendix A.1); a non-positive |G|² estimate gives an infinite noise scale."""
    small = np.array([3.0, 5.0])
    big = np.array([1.0, 1.5])
    est = scaling.simple_noise_scale(small, big, 1, 4)
    grad_sq = (4 * big - small) / 3
    trace = (small - big) / 0.75
    assert est.b_simple == pytest.approx(trace.mean() / grad_sq.mean(), rel=1e-12)
    assert est.grad_sq_se == pytest.approx(grad_sq.std(ddof=1) / math.sqrt(2), rel=1e-12)
    assert scaling.simple_noise_scale(2.0, 1.0, 1, 2).b_simple == math.inf  # |G|² est. = 0


def test_noise_scale_is_unbiased_on_linear_regression_with_gaussian_inputs():
    """For ½(w·x − y)², y = w*·x + ε, x ~ N(0, I_d), ε ~ N(0, σ²) and δ = w − w*, one
    example's gradient (w·x − y) x has mean δ and tr Σ = (d + 1)|δ|² + dσ² (the fourth
    moment E[(δ·x)²|x|²] = (d + 2)|δ|²). The training set's own values (per-example
    gradients by hand) are within 2% of those; the estimates, over i.i.d. draws from the
    set, within four standard errors of the set's values, the errors being under 3%."""
    net, ds, delta, sigma = linear_regression(2**15)
    d = len(delta)
    grad_sq, trace = population_parts(net, ds)
    closed_grad_sq = float(delta @ delta)
    closed_trace = (d + 1) * closed_grad_sq + d * sigma**2
    assert_allclose([grad_sq, trace], [closed_grad_sq, closed_trace], rtol=0.02)
    est = scaling.noise_scale(net, ds, small_batch=8, big_batch=32, batches=1000, seed=1)
    assert est.grad_sq_se < 0.03 * grad_sq and est.trace_sigma_se < 0.03 * trace
    assert abs(est.grad_sq - grad_sq) < 4 * est.grad_sq_se
    assert abs(est.trace_sigma - trace) < 4 * est.trace_sigma_se
    assert est.b_simple == pytest.approx(trace / grad_sq, rel=0.08)
    # The raw averages are what the two batch sizes' norms should average to.
    assert est.small_sq == pytest.approx(grad_sq + trace / 8, rel=0.05)
    assert est.big_sq == pytest.approx(grad_sq + trace / 32, rel=0.05)


def test_noise_scale_of_identical_examples_is_zero_noise_and_the_exact_gradient():
    """With every example the same, every batch gradient is the gradient: tr Σ = 0 and
    |G|² = |(w·x − y) x|², whatever the draws."""
    x = torch.tensor([[1.0, -2.0, 0.5]]).repeat(6, 1)
    y = torch.full((6,), 0.25)
    ds = data.from_tensors(x, y, x, y, device="cpu")
    net = nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[0.3, 0.1, -0.7]]))
    est = scaling.noise_scale(net, ds, small_batch=2, big_batch=6, batches=3)
    residual = float(net.weight.detach()[0] @ x[0].double() - 0.25)
    assert est.grad_sq == pytest.approx(residual**2 * float(x[0] @ x[0]), rel=1e-12)
    assert abs(est.trace_sigma) < 1e-12 and est.b_simple < 1e-10


def bn_dropout_mlp(d: int = 5, k: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(d, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, k)
    )


def classes_from_tensors(n: int = 96, d: int = 5, k: int = 3) -> data.Dataset:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(n, d, generator=gen)
    y = torch.randint(0, k, (n,), generator=gen)
    return data.from_tensors(x[:64], y[:64], x[64:], y[64:], device="cpu")


def test_noise_scale_leaves_the_model_its_grads_and_the_global_generator_alone():
    ds = classes_from_tensors()
    net = bn_dropout_mlp()
    net(torch.randn(8, 5)).sum().backward()
    grads = [p.grad.clone() for p in net.parameters()]
    state = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    first = scaling.noise_scale(net, ds, small_batch=4, big_batch=16, batches=3, seed=5)
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(p.grad, g) for p, g in zip(net.parameters(), grads, strict=True))
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
    assert net.training
    again = scaling.noise_scale(net, ds, small_batch=4, big_batch=16, batches=3, seed=5)
    assert again == first  # the draws come from the seed alone


def test_tracker_records_the_noise_scale_and_leaves_the_run_unchanged():
    """fit's protocol: the callback must not change weights, .grad, buffers or fit's random
    generator, so a run with the tracker is step for step the run without it."""
    ds = classes_from_tensors()
    plain = train.fit(bn_dropout_mlp(), ds, 0.05, epochs=2, batch_size=16, progress=False)
    tracker = scaling.NoiseScaleTracker(ds, small_batch=4, big_batch=16, batches=2, every=3)
    net = bn_dropout_mlp()
    tracked = train.fit(net, ds, 0.05, epochs=2, batch_size=16, progress=False, callbacks=[tracker])
    assert tracked.loss == plain.loss and tracked.test_loss == plain.test_loss
    for name in ("noise_scale", "noise_trace_sigma", "noise_grad_sq"):
        assert [step for step, _ in tracked.extras[name]] == [0, 3, 6]
    b_simple = [v for _, v in tracked.extras["noise_scale"]]
    parts = zip(tracked.extras["noise_trace_sigma"], tracked.extras["noise_grad_sq"], strict=True)
    assert b_simple == [s / g if g > 0 else math.inf for (_, s), (_, g) in parts]


def test_noise_scale_checks_its_arguments(digits):
    net = models.build("mlp", 10, digits.input_shape, hidden=(8,))
    with pytest.raises(ValueError, match="big_batch must be an integer >= 16"):
        scaling.noise_scale(net, digits, small_batch=8, big_batch=12)
    with pytest.raises(ValueError, match="big_batch must be a multiple of small_batch"):
        scaling.noise_scale(net, digits, small_batch=8, big_batch=20)
    with pytest.raises(ValueError, match="batches must be an integer >= 1"):
        scaling.noise_scale(net, digits, small_batch=8, big_batch=16, batches=0)
    with pytest.raises(ValueError, match="small_sq and big_sq must hold one value per draw"):
        scaling.simple_noise_scale([1.0, 2.0], [1.0], 1, 2)
    with pytest.raises(ValueError, match="for regression use 'mse'"):
        x = torch.randn(4, 2)
        regression = data.from_tensors(x, x[:, 0], x, x[:, 0], device="cpu")
        scaling.NoiseScaleTracker(regression, small_batch=1, big_batch=2, loss="cross_entropy")


# --- the critical batch size ---------------------------------------------------------------


def test_critical_batch_recovers_the_model_that_generated_the_data():
    """McCandlish et al. (2018), eqs. 2.11-2.12: S = S_min + E_min / B, B_crit = E_min/S_min,
    and on the fitted curve (S/S_min − 1)(E/E_min − 1) = 1 with E = B S."""
    b = np.array([8, 32, 128, 512, 2048, 8192])
    fit = scaling.critical_batch(b, 300 + 60_000 / b)
    assert_allclose([fit.s_min, fit.e_min, fit.b_crit], [300, 60_000, 200], rtol=1e-9)
    s, e = fit.steps(b), fit.examples(b)
    assert_allclose(e, b * s, rtol=1e-12)
    assert_allclose((s / fit.s_min - 1) * (e / fit.e_min - 1), 1.0, rtol=1e-9)
    assert_allclose(fit.steps(fit.b_crit), 2 * fit.s_min, rtol=1e-12)


def test_critical_batch_with_noisy_steps_lands_near_the_truth():
    """5% multiplicative noise on S over 12 batch sizes; the relative residuals make each
    size count alike, and B_crit comes out within 15% over 200 draws of the noise."""
    rng = np.random.default_rng(0)
    b = np.geomspace(4, 16_384, 12)
    found = [
        scaling.critical_batch(b, (100 + 40_000 / b) * np.exp(0.05 * rng.standard_normal(12)))
        for _ in range(200)
    ]
    b_crit = np.array([f.b_crit for f in found])
    assert np.all(np.abs(b_crit / 400 - 1) < 0.15)
    assert abs(np.median(b_crit) / 400 - 1) < 0.03


def test_critical_batch_keeps_both_minima_non_negative():
    """Steps that do not fall with the batch: E_min = 0 (no batch is worth more than one)."""
    fit = scaling.critical_batch([8, 64, 512], [50.0, 60.0, 70.0])
    assert fit.e_min == 0 and fit.s_min > 0 and fit.b_crit == 0


def test_steps_to_target_finds_the_first_crossing():
    assert scaling.steps_to_target([3.0, 1.0, 0.2, 0.5], 0.5) == 3.0
    assert scaling.steps_to_target([3.0, np.nan, 0.2], 0.5, steps=[100, 200, 300]) == 300.0
    assert scaling.steps_to_target([0.1, 0.95], 0.9, goal="above") == 2.0
    assert scaling.steps_to_target([0.1, 0.5], 0.9, goal="above") == math.inf


def test_critical_batch_checks_its_arguments():
    with pytest.raises(ValueError, match="at least two distinct sizes"):
        scaling.critical_batch([8, 8], [10, 12])
    with pytest.raises(ValueError, match="steps must hold finite numbers > 0"):
        scaling.critical_batch([8, 16], [10, math.inf])
    with pytest.raises(ValueError, match="one length"):
        scaling.critical_batch([8, 16, 32], [10, 12])
    with pytest.raises(ValueError, match="goal must be one of"):
        scaling.steps_to_target([1.0], 0.5, goal="under")


# --- μP against the mup package --------------------------------------------------------------


def mup_reference(width: int, base_width: int, depth: int = 2, d_in: int = 64, k: int = 10):
    """The same MLP written for the `mup` package (MuReadout) with its base shapes set,
    the weights drawn from seed 0 as lrlab's builder draws them."""
    mup = pytest.importorskip("mup")

    def net(w):
        widths = (d_in, *(w,) * depth)
        layers = [nn.Flatten()]
        for fan_in, fan_out in zip(widths, widths[1:], strict=False):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        return nn.Sequential(*layers, mup.MuReadout(w, k))

    base = net(base_width)
    torch.manual_seed(0)
    return mup.set_base_shapes(net(width), base)


def ours(width: int, base_width: int, depth: int = 2) -> nn.Module:
    return models.build(
        "mlp",
        10,
        (1, 8, 8),
        seed=0,
        hidden=(1,) * depth,
        width=width,
        parametrization="mup",
        base_width=base_width,
    )


@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("width", WIDTHS)
def test_mup_mlp_initialisation_and_output_equal_the_mup_packages(width, depth):
    """Yang et al. (2021), Table 8, as `mup.set_base_shapes` applies it: the same weights,
    and the same outputs (readout input divided by width / base_width)."""
    reference, net = mup_reference(width, 64, depth), ours(width, 64, depth)
    for (name, p), q in zip(net.named_parameters(), reference.parameters(), strict=True):
        assert torch.equal(p, q), name
    x = torch.randn(7, 1, 8, 8)
    assert torch.equal(net(x), reference(x))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("width", WIDTHS)
def test_mup_param_groups_equal_musgd_and_muadam(width, optimizer):
    """Every parameter's learning rate and weight decay equal those of `mup.MuSGD` /
    `mup.MuAdam` over the package's model (Yang et al. 2021, Table 3/8)."""
    mup = pytest.importorskip("mup")
    reference, net = mup_reference(width, 64, depth=3), ours(width, 64, depth=3)
    make = mup.MuSGD if optimizer == "sgd" else mup.MuAdam
    theirs = {
        id(p): (g["lr"], g["weight_decay"])
        for g in make(reference.parameters(), lr=0.03, weight_decay=1e-3).param_groups
        for p in g["params"]
    }
    groups = scaling.mup_param_groups(net, 64, optimizer, lr=0.03, weight_decay=1e-3)
    mine = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    for p, q in zip(net.parameters(), reference.parameters(), strict=True):
        assert_allclose(mine[id(p)], theirs[id(q)], rtol=1e-12)
    for g in groups:
        assert g["lr"] == pytest.approx(0.03 * g["lr_scale"], rel=1e-15)


def test_mup_scales_describe_the_builders_initialisation():
    """The init column of the table is what the builder applied to the standard network
    drawn from the same seed."""
    sp = models.build("mlp", 10, (1, 8, 8), seed=0, hidden=(1, 1, 1), width=256)
    mu = ours(256, 64, depth=3)
    scales = scaling.mup_scales(4.0)
    linears = [m for m in mu if isinstance(m, nn.Linear)]
    roles = ["input"] + ["hidden"] * (len(linears) - 2) + ["output"]
    for role, a, b in zip(roles, linears, [m for m in sp if isinstance(m, nn.Linear)], strict=True):
        for kind in ("weight", "bias"):
            factor = scales[f"{role}_{kind}"]["init"]
            assert_allclose(
                getattr(a, kind).detach(), factor * getattr(b, kind).detach(), rtol=1e-6
            )


def test_fit_with_mup_groups_trains_as_the_mup_package_does(digits):
    """The schedule's rate times each group's lr_scale: fit with our groups and a decaying
    schedule takes the steps `mup.MuSGD` takes at that schedule's rates, on fit's batches."""
    mup = pytest.importorskip("mup")
    from lrlab import schedules

    schedule = schedules.step_decay(0.05, step_size=5, gamma=0.5)
    net = ours(256, 64)
    opt = torch.optim.SGD(scaling.mup_param_groups(net, 64, "sgd", lr=0.05), lr=0.05)
    history = train.fit(net, digits, schedule, 1, batch_size=128, optimizer=opt, progress=False)
    options = {k: history.config[k] for k in ("optimizer", "momentum", "nesterov", "weight_decay")}
    assert options == {"optimizer": "SGD", "momentum": 0, "nesterov": False, "weight_decay": 0.0}
    reference = mup_reference(256, 64)
    ref_opt = mup.MuSGD(reference.parameters(), lr=0.05)
    base = [g["lr"] / 0.05 for g in ref_opt.param_groups]
    for t, (x, y) in enumerate(digits.batches("train", 128, seed=epoch_seed(0, 0))):
        for g, factor in zip(ref_opt.param_groups, base, strict=True):
            g["lr"] = float(schedule(t)) * factor
        ref_opt.zero_grad()
        nn.functional.cross_entropy(reference(x), y).backward()
        ref_opt.step()
    for p, q in zip(net.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_mup_builder_and_groups_check_their_arguments():
    with pytest.raises(ValueError, match="needs base_width"):
        models.build("mlp", 10, (4,), width=8, parametrization="mup")
    with pytest.raises(ValueError, match="base_width is for parametrization='mup' only"):
        models.build("mlp", 10, (4,), width=8, base_width=4)
    with pytest.raises(ValueError, match="equal hidden widths"):
        models.build("mlp", 10, (4,), hidden=(8, 16), parametrization="mup", base_width=4)
    with pytest.raises(ValueError, match="parametrization must be one of"):
        models.build("mlp", 10, (4,), parametrization="ntk")
    with pytest.raises(ValueError, match="model must be a μP MLP"):
        scaling.mup_param_groups(models.build("mlp", 10, (4,), width=8), 4)
    with pytest.raises(ValueError, match="base_width must be the model's"):
        scaling.mup_param_groups(ours(128, 64), 32)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        scaling.mup_param_groups(ours(128, 64), 64, "lion")


def test_width_sets_every_hidden_layer_and_keeps_hidden_working():
    net = models.build("mlp", 10, (1, 8, 8), width=48)
    assert [m.out_features for m in net if isinstance(m, nn.Linear)] == [48, 48, 10]
    net = models.build("mlp", 10, (1, 8, 8), hidden=(32, 16))
    assert [m.out_features for m in net if isinstance(m, nn.Linear)] == [32, 16, 10]


# --- the coordinate check ------------------------------------------------------------------


def test_coordinate_check_records_each_layers_mean_absolute_activation(digits):
    """Step 0's record is the untrained network's activation on the first batch."""
    widths = [16, 32]
    sizes = scaling.coordinate_check(
        lambda w: models.build("mlp", 10, (1, 8, 8), width=w), widths, digits, steps=3
    )
    assert all(v.shape == (2, 3) for v in sizes.values())
    x, _ = next(digits.batches("train", 64, augment=False, seed=epoch_seed(0, 0)))
    net = models.build("mlp", 10, (1, 8, 8), width=32, seed=0)
    with torch.no_grad():
        hidden = net[2](net[1](net[0](x)))
    assert sizes["2"][1, 0] == pytest.approx(float(hidden.abs().mean()), rel=1e-6)


def test_coordinate_check_output_grows_with_width_in_sp_not_in_mup(digits):
    """Yang et al. (2021), Figure 5's pattern under Adam: after a few steps the standard
    network's output size grows with width, μP's does not; at the base width the two
    networks are the same network."""
    widths, lr = [64, 1024], 0.01

    def check(parametrization, base_width):
        options = {"parametrization": parametrization, "base_width": base_width}
        options = options if base_width else {}
        return scaling.coordinate_check(
            lambda w: models.build("mlp", 10, (1, 8, 8), width=w, **options),
            widths,
            digits,
            steps=4,
            lr=lr,
            optimizer="adam",
            base_width=base_width,
        )

    sp, mu = check("sp", None), check("mup", 64)
    for name in sp:
        assert_allclose(sp[name][0], mu[name][0], rtol=1e-6)  # width 64 = base width
    output = "5"
    assert sp[output][1, -1] > 3 * sp[output][0, -1]
    assert mu[output][1, -1] < 1.2 * mu[output][0, -1]


def test_coordinate_check_leaves_the_global_generator_alone(digits):
    rng = torch.get_rng_state()
    scaling.coordinate_check(
        lambda w: models.build("mlp", 10, (1, 8, 8), width=w), [8], digits, steps=1
    )
    assert torch.equal(torch.get_rng_state(), rng)


def test_prepared_step_scales_each_groups_rate():
    """make_train_step sets group rates to lr × lr_scale (1 where a group has none)."""
    net = nn.Linear(1, 2)
    groups = [{"params": [net.weight], "lr_scale": 4.0}, {"params": [net.bias]}]
    opt = torch.optim.SGD(groups, lr=1.0)
    run = prepare(net, "cpu", optimizer=opt, precision="fp32", channels_last=False)
    run.step(torch.zeros(2, 1), torch.tensor([0, 1]), 0.5)
    assert [g["lr"] for g in opt.param_groups] == [2.0, 0.5]


def test_fit_records_only_the_options_an_optimizer_instances_groups_share(digits):
    net = ours(128, 64)
    groups = scaling.mup_param_groups(net, 64, "sgd", lr=0.05, weight_decay=1e-3)
    opt = torch.optim.SGD(groups, lr=0.05, momentum=0.9)
    history = train.fit(net, digits, 0.05, 1, optimizer=opt, progress=False)
    assert (history.config["momentum"], history.config["weight_decay"]) == (0.9, None)
