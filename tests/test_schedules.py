"""lrlab.schedules against PyTorch's own schedulers, plus properties of the others.

The reference for every schedule with a PyTorch counterpart is ``get_last_lr()`` after
``t`` calls of ``scheduler.step()``, one per optimizer step, over 2,000 steps.
"""

import io

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from lrlab import schedules
from lrlab.schedules import to_torch, trace_torch

STEPS = 2000
RTOL = 1e-9

rates = st.floats(1e-4, 10.0)
decays = st.floats(0.5, 1.0)
lengths = st.integers(1, 700)


def torch_lrs(make_scheduler, steps=STEPS, lr=1.0):
    """PyTorch's learning rates for steps 0..steps-1, one scheduler step per optimizer step."""
    return trace_torch(make_scheduler, steps, lr=lr)


def ours(schedule, steps=STEPS):
    return schedule(np.arange(steps))


def assert_matches(ours_values, torch_values):
    scale = np.max(np.abs(torch_values))
    assert_allclose(ours_values, torch_values, rtol=RTOL, atol=1e-12 * scale)


S = torch.optim.lr_scheduler


@settings(max_examples=15, deadline=None)
@given(lr=rates, step_size=lengths, gamma=decays)
def test_step_decay_matches_torch(lr, step_size, gamma):
    expected = torch_lrs(lambda o: S.StepLR(o, step_size, gamma), lr=lr)
    assert_matches(ours(schedules.step_decay(lr, step_size, gamma)), expected)


@settings(max_examples=15, deadline=None)
@given(
    lr=rates,
    milestones=st.lists(st.integers(1, STEPS), min_size=1, max_size=6, unique=True),
    gamma=decays,
)
def test_multistep_matches_torch(lr, milestones, gamma):
    milestones = sorted(milestones)
    expected = torch_lrs(lambda o: S.MultiStepLR(o, milestones, gamma), lr=lr)
    assert_matches(ours(schedules.multistep(lr, milestones, gamma)), expected)


@settings(max_examples=15, deadline=None)
@given(lr=rates, gamma=st.floats(0.99, 1.001))
def test_exponential_matches_torch(lr, gamma):
    expected = torch_lrs(lambda o: S.ExponentialLR(o, gamma), lr=lr)
    assert_matches(ours(schedules.exponential(lr, gamma)), expected)


@settings(max_examples=15, deadline=None)
@given(lr=rates, total=st.integers(1, STEPS + 100), power=st.floats(0.5, 3.0))
def test_polynomial_matches_torch(lr, total, power):
    expected = torch_lrs(lambda o: S.PolynomialLR(o, total_iters=total, power=power), lr=lr)
    assert_matches(ours(schedules.polynomial(lr, total, power)), expected)


@settings(max_examples=15, deadline=None)
@given(lr=rates, total=st.integers(1, STEPS), min_fraction=st.floats(0.0, 1.0))
def test_cosine_matches_torch_until_total_steps(lr, total, min_fraction):
    min_lr = lr * min_fraction
    expected = torch_lrs(lambda o: S.CosineAnnealingLR(o, T_max=total, eta_min=min_lr), lr=lr)
    got = ours(schedules.cosine(lr, total, min_lr))
    assert_matches(got[: total + 1], expected[: total + 1])
    assert_allclose(got[total:], min_lr)  # held at min_lr afterwards (PyTorch climbs back)


@settings(max_examples=15, deadline=None)
@given(
    lr=rates,
    first=st.integers(1, 300),
    mult=st.integers(1, 3),
    min_fraction=st.floats(0.0, 1.0),
)
def test_sgdr_matches_torch(lr, first, mult, min_fraction):
    min_lr = lr * min_fraction
    expected = torch_lrs(
        lambda o: S.CosineAnnealingWarmRestarts(o, T_0=first, T_mult=mult, eta_min=min_lr), lr=lr
    )
    assert_matches(ours(schedules.sgdr(lr, first, mult, min_lr)), expected)


@settings(max_examples=20, deadline=None)
@given(
    base_fraction=st.floats(0.0, 1.0),
    max_lr=rates,
    up=st.integers(1, 400),
    down=st.one_of(st.none(), st.integers(1, 400)),
    mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
    gamma=st.floats(0.998, 1.0),
)
def test_cyclic_matches_torch(base_fraction, max_lr, up, down, mode, gamma):
    base_lr = max_lr * base_fraction
    expected = torch_lrs(
        lambda o: S.CyclicLR(
            o, base_lr, max_lr, up, down, mode=mode, gamma=gamma, cycle_momentum=False
        )
    )
    assert_matches(ours(schedules.cyclic(base_lr, max_lr, up, down, mode, gamma)), expected)


@settings(max_examples=20, deadline=None)
@given(
    max_lr=rates,
    total=st.integers(STEPS, 3 * STEPS),
    pct=st.floats(0.01, 0.49),
    div=st.floats(1.0, 100.0),
    final_div=st.floats(1.0, 1e5),
    anneal=st.sampled_from(["cos", "linear"]),
    three_phase=st.booleans(),
)
def test_one_cycle_matches_torch(max_lr, total, pct, div, final_div, anneal, three_phase):
    expected = torch_lrs(
        lambda o: S.OneCycleLR(
            o,
            max_lr,
            total_steps=total,
            pct_start=pct,
            div_factor=div,
            final_div_factor=final_div,
            anneal_strategy=anneal,
            three_phase=three_phase,
            cycle_momentum=False,
        )
    )
    got = ours(schedules.one_cycle(max_lr, total, pct, div, final_div, anneal, three_phase))
    assert_matches(got, expected)


def test_one_cycle_matches_torch_to_its_last_step_and_then_holds():
    total = 500
    expected = torch_lrs(
        lambda o: S.OneCycleLR(o, 0.4, total_steps=total, cycle_momentum=False), steps=total
    )
    s = schedules.one_cycle(0.4, total)
    assert_matches(s(np.arange(total)), expected)
    assert s(total + 10) == pytest.approx(0.4 / 25.0 / 1e4)


@settings(max_examples=10, deadline=None)
@given(lr=rates, decay=st.floats(0.0, 1.0))
def test_inverse_time_matches_lambda_lr(lr, decay):
    expected = torch_lrs(lambda o: S.LambdaLR(o, lambda t: 1.0 / (1.0 + decay * t)), lr=lr)
    assert_matches(ours(schedules.inverse_time(lr, decay)), expected)


@settings(max_examples=10, deadline=None)
@given(lr=rates)
def test_constant_matches_torch(lr):
    expected = torch_lrs(lambda o: S.LambdaLR(o, lambda t: 1.0), lr=lr)
    assert_matches(ours(schedules.constant(lr)), expected)


# --- properties of the schedules with no PyTorch counterpart --------------------------------

peak_factories = pytest.mark.parametrize(
    "factory", [schedules.gaussian_peak, schedules.laplacian_peak]
)


@peak_factories
@settings(max_examples=25, deadline=None)
@given(
    max_lr=rates,
    total=st.integers(3, 5000),
    min_exponent=st.floats(-6.0, -0.5),
    start_fraction=st.one_of(st.none(), st.floats(0.0, 1.0)),
)
def test_peak_endpoints_peak_and_monotone_pieces(
    factory, max_lr, total, min_exponent, start_fraction
):
    """Seong et al. (2018): starts at start_lr (or min_lr), peaks at max_lr, ends at min_lr."""
    min_lr = max_lr * 10.0**min_exponent
    start_lr = None
    if start_fraction is not None:  # log-uniform between min_lr (excluded) and max_lr
        start_lr = min_lr * (max_lr / min_lr) ** max(start_fraction, 1e-3)
    s = factory(max_lr, total, min_lr=min_lr, start_lr=start_lr)
    lr = s(np.arange(total))
    assert_allclose(lr[0], start_lr if start_lr is not None else min_lr, rtol=1e-9)
    assert_allclose(lr[-1], min_lr, rtol=1e-9)
    assert np.all(lr > 0) and np.all(lr <= max_lr * (1 + 1e-12))
    top = int(np.argmax(lr))
    assert np.all(np.diff(lr[: top + 1]) >= -1e-15 * max_lr)  # rising to the peak
    assert np.all(np.diff(lr[top:]) <= 1e-15 * max_lr)  # then falling
    # The peak (u = 0.5) falls at step (0.5 - t0) / (1 - t0) * (T - 1), t0 from the paper's
    # offset formulas; the largest sampled rate is at most one step away from it.
    log_ratio = np.log(min_lr / max_lr)
    t0 = 0.0
    if start_lr is not None and factory is schedules.gaussian_peak:
        t0 = 0.5 - np.sqrt(0.25 / log_ratio * np.log(start_lr / max_lr))
    elif start_lr is not None:
        t0 = 0.5 - 0.5 / log_ratio * np.log(start_lr / max_lr)
    assert abs(top - (0.5 - t0) / (1 - t0) * (total - 1)) <= 1.0


@peak_factories
def test_peak_reaches_max_lr_at_the_middle(factory):
    s = factory(0.5, total_steps=1001, min_lr=1e-4)
    assert s(500) == pytest.approx(0.5, rel=1e-12)
    lr = s(np.arange(1001))
    assert int(np.argmax(lr)) == 500
    assert_allclose(lr, lr[::-1], rtol=1e-12)  # symmetric without start_lr


@peak_factories
def test_peak_holds_min_lr_after_the_end(factory):
    s = factory(1.0, total_steps=50, min_lr=1e-3)
    assert_allclose(s(np.arange(49, 80)), 1e-3, rtol=1e-12)


def test_gaussian_is_wider_than_laplacian_near_the_peak():
    """Seong et al. (2018), §5 and Fig. 6: the Laplacian peak is sharper than the Gaussian."""
    g = schedules.gaussian_peak(1.0, 1001, min_lr=1e-4)
    lap = schedules.laplacian_peak(1.0, 1001, min_lr=1e-4)
    assert g(600) > lap(600) and g(400) > lap(400)


@settings(max_examples=25, deadline=None)
@given(lr=rates, warm=st.integers(1, 500), start_fraction=st.floats(0.0, 1.0), total=lengths)
def test_warmup_is_linear_then_the_schedule(lr, warm, start_fraction, total):
    base = schedules.cosine(lr, total)
    start_lr = start_fraction * lr
    s = schedules.warmup(base, warm, start_lr)
    t = np.arange(warm + total + 5)
    lr_t = s(t)
    assert_allclose(lr_t[0], start_lr)
    assert_allclose(lr_t[:warm], start_lr + (lr - start_lr) * t[:warm] / warm, rtol=1e-12)
    assert_allclose(lr_t[warm:], base(t[warm:] - warm), rtol=1e-12)


def test_join_restarts_each_schedules_counter():
    a, b, c = schedules.constant(0.1), schedules.cosine(1.0, 10), schedules.exponential(0.5, 0.9)
    s = schedules.join([a, b, c], boundaries=[5, 15])
    t = np.arange(30)
    expected = np.concatenate([a(t[:5]), b(t[:10]), c(t[:15])])
    assert_allclose(s(t), expected, rtol=1e-15)


@settings(max_examples=20, deadline=None)
@given(lr=rates, total=lengths, power=st.floats(0.5, 3.0), end_fraction=st.floats(0.0, 1.0))
def test_polynomial_with_end_lr_goes_from_lr_to_end_lr(lr, total, power, end_fraction):
    end_lr = lr * end_fraction
    lr_t = schedules.polynomial(lr, total, power, end_lr)(np.arange(total + 10))
    assert_allclose([lr_t[0], lr_t[total], lr_t[-1]], [lr, end_lr, end_lr], rtol=1e-12, atol=0)
    assert np.all(np.diff(lr_t) <= 1e-15)


def test_sgdr_peak_decay_multiplies_each_peak():
    s = schedules.sgdr(1.0, first_cycle=10, cycle_mult=2, min_lr=0.01, peak_decay=0.5)
    starts = [0, 10, 30, 70]
    assert_allclose(s(np.asarray(starts)), [1.0, 0.5, 0.25, 0.125])
    assert s(9) > 0.01 and s(29) > 0.01


@pytest.mark.parametrize(
    "schedule",
    [
        schedules.step_decay(0.1, 7),
        schedules.sgdr(0.1, 5, 2),
        schedules.one_cycle(0.1, 100),
        schedules.join([schedules.constant(1.0), schedules.cosine(1.0, 9)], [3]),
        schedules.warmup(schedules.cyclic(0.01, 0.1, 4), 5),
        schedules.wsd(0.1, 50, decay_steps=20, warmup_steps=7, warmup="cosine", end_lr=1e-3),
        schedules.exponential(0.1, 0.97),
        schedules.multistep(0.1, [5, 20, 21]),
        schedules.cosine(0.1, 45, 1e-3),
        schedules.sgdr(0.1, 4, 1, peak_decay=0.8),
    ],
    ids=repr,
)
def test_a_scalar_call_is_the_array_call_on_one_step(schedule):
    """A call with an int is the one-element array call, bit for bit, as a Python float.

    Both are the same computation by construction (see ``Schedule``); equal numbers from
    two different paths (NumPy's scalar arithmetic against its vectorised loops) would
    depend on the NumPy build and the CPU, which is the failure this replaces.
    """
    t = np.arange(60)
    for i in t:
        value = schedule(int(i))
        assert type(value) is float
        assert value == schedule(np.array([i]))[0] == schedule(np.int64(i))
    # Elementwise NumPy loops give the same numbers wherever an element sits; allow a
    # rounding difference of the last bit rather than assume it.
    np.testing.assert_array_max_ulp(schedule(t), np.array([schedule(int(i)) for i in t]), 1)
    assert schedule(t.reshape(6, 10)).shape == (6, 10)


LONG = 100_000  # more than one block of Schedule's 32,768 steps


@pytest.mark.parametrize(
    "schedule",
    [
        schedules.multistep(0.1, [30_000, 32_768, 70_000]),
        schedules.sgdr(0.1, 5_000, 2, 1e-4, 0.7),
        schedules.sgdr(0.1, 777, 1, 1e-4, 0.9),
        schedules.one_cycle(0.1, 90_000, three_phase=True),
        schedules.wsd(0.1, 90_000, decay_steps=20_000, warmup_steps=33_000, warmup="cosine"),
        schedules.step_decay(0.1, 3, 0.99),
    ],
    ids=repr,
)
def test_a_long_call_is_the_same_whatever_its_blocks(schedule):
    """A long array reaches the formula in blocks, where a segment (a cycle, a phase)
    found for a whole block is a number; a step's rate must not depend on its block, on
    the other steps of the call, or on their order. Exact: the same arithmetic."""
    t = np.arange(LONG)
    whole = schedule(t)
    cuts = [0, 1, 32_767, 40_000, 40_001, LONG]
    pieces = [schedule(t[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
    assert np.array_equal(np.concatenate(pieces), whole)
    assert np.array_equal(schedule(t[::-1]), whole[::-1])
    assert all(schedule(int(i)) == whole[i] for i in (32_767, 32_768, 65_535, 65_536, LONG - 1))


def test_long_previews_match_torch_across_blocks():
    """The references over 100,000 steps: cycles and phases that start inside a block."""
    expected = torch_lrs(lambda o: S.CosineAnnealingWarmRestarts(o, 3_001, 2), steps=LONG)
    assert_matches(schedules.sgdr(1.0, 3_001, 2)(np.arange(LONG)), expected)
    expected = torch_lrs(
        lambda o: S.OneCycleLR(o, 1.0, total_steps=LONG, cycle_momentum=False), steps=LONG
    )
    assert_matches(schedules.one_cycle(1.0, LONG)(np.arange(LONG)), expected)


def test_the_schedule_function_always_sees_an_array():
    """The failure this catches: a scalar step reaching the formula as a 0-d array, whose
    arithmetic NumPy then does with its scalar code (1 ulp off its array loops for
    ``gamma ** k`` on some CPUs, which failed CI on a fresh machine)."""
    seen = []

    def fn(t):
        seen.append((type(t), t.ndim, t.dtype))
        return 0.1 * 0.5 ** np.floor(t / 7)

    s = schedules.Schedule("probe", {}, fn)
    s(14), s(np.int64(3)), s(np.arange(4)), s(np.arange(6).reshape(2, 3))
    assert all(kind is np.ndarray and ndim >= 1 for kind, ndim, _ in seen)
    assert {dtype for *_, dtype in seen} == {np.dtype(np.float64)}


def test_steps_must_be_non_negative_integers():
    s = schedules.constant(0.1)
    with pytest.raises(ValueError, match="step must be an integer >= 0"):
        s(-1)
    with pytest.raises(TypeError, match="step must be an int"):
        s(1.5)


# --- bad input ------------------------------------------------------------------------------

BAD = [
    (schedules.constant, dict(lr=0.0), "lr must be"),
    (schedules.constant, dict(lr=float("nan")), "lr must be"),
    (schedules.step_decay, dict(lr=0.1, step_size=0), "step_size must be an integer >= 1"),
    (schedules.step_decay, dict(lr=0.1, step_size=5, gamma=1.5), "gamma must be in"),
    (schedules.multistep, dict(lr=0.1, milestones=[5, 3]), "milestones must be"),
    (schedules.exponential, dict(lr=-0.1, gamma=0.9), "lr must be"),
    (schedules.inverse_time, dict(lr=0.1, decay_rate=-1.0), "decay_rate must be"),
    (schedules.polynomial, dict(lr=0.1, total_steps=10, end_lr=0.2), "end_lr must be <= lr"),
    (schedules.cosine, dict(lr=0.1, total_steps=-3), "total_steps must be an integer >= 1"),
    (schedules.cosine, dict(lr=0.1, total_steps=10, min_lr=0.5), "min_lr must be <= lr"),
    (
        schedules.sgdr,
        dict(lr=0.1, first_cycle=10, cycle_mult=0),
        "cycle_mult must be an integer >= 1",
    ),
    (schedules.sgdr, dict(lr=0.1, first_cycle=10, peak_decay=0.0), "peak_decay must be in"),
    (schedules.cyclic, dict(base_lr=0.2, max_lr=0.1, step_size_up=5), "base_lr must be <="),
    (schedules.cyclic, dict(base_lr=0.0, max_lr=0.1, step_size_up=5, mode="sine"), "mode must"),
    (schedules.one_cycle, dict(max_lr=0.1, total_steps=100, pct_start=1.0), "pct_start must"),
    (schedules.one_cycle, dict(max_lr=0.1, total_steps=100, anneal="exp"), "anneal must"),
    (schedules.one_cycle, dict(max_lr=0.1, total_steps=3, pct_start=0.3), "pct_start \\* total"),
    (schedules.gaussian_peak, dict(max_lr=0.1, total_steps=100, min_lr=0.2), "min_lr must be <"),
    (
        schedules.gaussian_peak,
        dict(max_lr=0.1, total_steps=1),
        "total_steps must be an integer >= 2",
    ),
    (
        schedules.laplacian_peak,
        dict(max_lr=0.1, total_steps=100, min_lr=0.01, start_lr=0.005),
        "start_lr must be in",
    ),
    (schedules.wsd, dict(lr=0.1, total_steps=10, decay_steps=0), "decay_steps must be an integer"),
    (
        schedules.wsd,
        dict(lr=0.1, total_steps=10, decay_steps=8, warmup_steps=3),
        r"warmup_steps \+ decay_steps must be <= total_steps \(10\), got 11",
    ),
    (schedules.wsd, dict(lr=0.1, total_steps=10, decay_steps=2, warmup="exp"), "warmup must"),
    (schedules.wsd, dict(lr=0.1, total_steps=10, decay_steps=2, cooldown="sqrt"), "cooldown must"),
    (schedules.wsd, dict(lr=0.1, total_steps=10, decay_steps=2, end_lr=0.2), "end_lr must be <="),
    (schedules.warmup, dict(schedule=schedules.constant(0.1), warmup_steps=0), "warmup_steps"),
    (schedules.join, dict(schedules=[schedules.constant(0.1)] * 2, boundaries=[]), "boundaries"),
    (schedules.step_decay, dict(lr="fast", step_size=3), "lr must be a number"),
]


@pytest.mark.parametrize("factory, kwargs, message", BAD, ids=lambda x: getattr(x, "__name__", ""))
def test_bad_input_names_the_parameter(factory, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        factory(**kwargs)


# --- to_torch --------------------------------------------------------------------------------


def _regression_problem(seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 5, generator=gen)
    y = x @ torch.randn(5, 1, generator=gen) + 0.1 * torch.randn(64, 1, generator=gen)
    return x, y


def _train(schedule, steps, model=None, optimizer=None, scheduler=None):
    x, y = _regression_problem()
    if model is None:
        torch.manual_seed(0)
        model = torch.nn.Linear(5, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=123.0, momentum=0.9)
        scheduler = to_torch(schedule, optimizer)
    used = []
    for _ in range(steps):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        scheduler.step()
    return model, optimizer, scheduler, np.asarray(used)


def test_to_torch_sets_the_schedule_in_a_training_loop():
    s = schedules.warmup(schedules.cosine(0.05, 150), 50)
    _, _, scheduler, used = _train(s, 200)
    # The loop and the reference both call s(step) with an int: one path, exact equality.
    assert used.tolist() == [s(t) for t in range(200)]
    assert scheduler.get_last_lr() == [s(200)]


def test_to_torch_resumes_exactly_from_state_dict():
    s = schedules.one_cycle(0.05, 120)
    full_model, *_ = _train(s, 100)

    model, optimizer, scheduler, first = _train(s, 40)
    buffer = io.BytesIO()
    torch.save(
        {"m": model.state_dict(), "o": optimizer.state_dict(), "s": scheduler.state_dict()}, buffer
    )
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=False)

    model2 = torch.nn.Linear(5, 1)
    optimizer2 = torch.optim.SGD(model2.parameters(), lr=999.0, momentum=0.9)
    scheduler2 = to_torch(s, optimizer2)
    model2.load_state_dict(saved["m"])
    optimizer2.load_state_dict(saved["o"])
    scheduler2.load_state_dict(saved["s"])
    _, _, _, second = _train(s, 60, model2, optimizer2, scheduler2)

    assert np.concatenate([first, second]).tolist() == [s(t) for t in range(100)]
    for a, b in zip(full_model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(a, b)


def test_to_torch_takes_one_schedule_per_group():
    params = [torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)]
    optimizer = torch.optim.SGD([{"params": [params[0]]}, {"params": [params[1]]}], lr=1.0)
    scheduler = to_torch([schedules.constant(0.1), schedules.constant(0.2)], optimizer)
    assert scheduler.get_last_lr() == [0.1, 0.2]
    with pytest.raises(ValueError, match="one per parameter group"):
        to_torch([schedules.constant(0.1)], optimizer)
    with pytest.raises(TypeError, match="optimizer must be"):
        to_torch(schedules.constant(0.1), object())


def test_trace_torch_records_the_rate_each_optimizer_step_uses():
    step = lambda o: S.StepLR(o, step_size=1, gamma=0.5)  # noqa: E731
    assert trace_torch(step, 3).tolist() == [1.0, 0.5, 0.25]
    # Per-epoch stepping: the rate changes once every `every` optimizer steps.
    assert trace_torch(step, 4, every=2).tolist() == [1.0, 1.0, 0.5, 0.5]
    # The pre-1.1 order skips the first value of the schedule.
    assert trace_torch(step, 3, order="before").tolist() == [0.5, 0.25, 0.125]
    with pytest.raises(ValueError, match="order must be"):
        trace_torch(step, 3, order="during")
