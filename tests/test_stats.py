"""lrlab.stats against scipy.stats, against exact enumeration with integers, and by simulation.

References: the t interval is SciPy's ``ttest_1samp(...).confidence_interval``; the
permutation p value is checked against ``scipy.stats.permutation_test`` on untied data and
against our own enumeration of every relabelling in integer arithmetic on tied data (values on
a grid, as accuracies on 1,000 test examples are); Holm's adjustment against a hand-computed
example and his sequentially rejective procedure (Holm 1979, Scand. J. Statist. 6, 65-70).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import warnings

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab import plots, stats

FAST = {"n_bootstrap": 99}  # where the interval is not what the test checks


def _mean_difference(x, y, axis=-1):
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


# --- summary -------------------------------------------------------------------------------


@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_summary_interval_is_scipys_one_sample_t_interval(confidence):
    x = np.random.default_rng(3).normal(91.0, 0.7, size=10)
    s = stats.summary(x, confidence)
    ci = scipy.stats.ttest_1samp(x, popmean=0).confidence_interval(confidence_level=confidence)
    np.testing.assert_allclose(s.ci, (ci.low, ci.high), rtol=1e-12)
    assert s.mean == pytest.approx(np.mean(x)) and s.std == pytest.approx(np.std(x, ddof=1))
    assert (s.n, s.confidence) == (10, confidence)


def test_summary_of_equal_values_is_a_point_interval():
    s = stats.summary([0.5, 0.5, 0.5])
    assert (s.mean, s.std, s.ci) == (0.5, 0.0, (0.5, 0.5))


def test_summary_prints_mean_interval_spread_and_seeds():
    assert str(stats.summary([1.0, 2.0, 3.0])) == "2.0 (95% CI -0.5 to 4.5, sd 1.0, 3 seeds)"


# --- the permutation p value ----------------------------------------------------------------


def test_unpaired_p_value_is_scipys_on_untied_data():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.8, 1, size=6), rng.normal(0, 1, size=7)  # 1,716 relabellings
    ours = stats.compare(a, b, **FAST).p_value
    ref = scipy.stats.permutation_test(
        (a, b),
        lambda x, y, axis: np.abs(_mean_difference(x, y, axis)),
        alternative="greater",
        vectorized=True,
    )
    assert ours == pytest.approx(ref.pvalue, rel=1e-12)
    # With equal arms the null distribution is symmetric, so SciPy's own two-sided p agrees.
    a = a[:6]
    b = b[:6]
    ref = scipy.stats.permutation_test((a, b), _mean_difference, vectorized=True)
    assert stats.compare(a, b, **FAST).p_value == pytest.approx(ref.pvalue, rel=1e-12)


def test_paired_p_value_is_scipys_sign_flip_test_on_untied_data():
    rng = np.random.default_rng(1)
    a = rng.normal(size=9)
    b = a - 0.5 + rng.normal(0, 0.5, size=9)
    ref = scipy.stats.permutation_test(
        (a, b), _mean_difference, permutation_type="samples", vectorized=True
    )
    ours = stats.compare(a, b, paired=True, **FAST).p_value
    assert ours == pytest.approx(ref.pvalue, rel=1e-12)


def _exact_unpaired_p(ia, ib):
    """Share of the splits of the pooled integers into groups of len(ia) and len(ib) whose
    |mean difference| is at least the observed one, compared exactly: |n_b S_a - n_a S_b|."""
    pool, n_a, n_b = list(ia) + list(ib), len(ia), len(ib)
    total = sum(pool)
    observed = abs(n_b * sum(ia) - n_a * sum(ib))
    count = splits = 0
    for chosen in itertools.combinations(range(len(pool)), n_a):
        s_a = sum(pool[i] for i in chosen)
        count += abs(n_b * s_a - n_a * (total - s_a)) >= observed
        splits += 1
    assert splits == math.comb(n_a + n_b, n_a)
    return count / splits


def _exact_paired_p(ia, ib):
    """Share of the 2^n sign flips of the integer pair differences with |sum| >= observed."""
    d = [x - y for x, y in zip(ia, ib, strict=True)]
    observed = abs(sum(d))
    flips = list(itertools.product((1, -1), repeat=len(d)))
    return sum(abs(sum(s * x for s, x in zip(signs, d, strict=True))) >= observed
               for signs in flips) / len(flips)  # fmt: skip


def test_p_value_counts_tied_accuracies_exactly():
    """Accuracies on 1,000 test examples: SciPy's own count, with its tolerance relative to
    the observed difference, gives 0.873 here; the exact share is 113/126."""
    ia, ib = [946, 944, 954, 948, 943], [950, 956, 942, 942]
    p = stats.compare(np.array(ia) / 1000, np.array(ib) / 1000, **FAST).p_value
    assert p == _exact_unpaired_p(ia, ib) == 113 / 126


grid = st.sampled_from([1000, 10])  # accuracy as a fraction (0.001 grid) or in points (0.1)


@settings(max_examples=60, deadline=None)
@given(
    ia=st.lists(st.integers(900, 960), min_size=2, max_size=5),
    ib=st.lists(st.integers(900, 960), min_size=2, max_size=5),
    divisor=grid,
)
def test_unpaired_p_value_equals_exact_enumeration_on_grid_data(ia, ib, divisor):
    a, b = np.array(ia) / divisor, np.array(ib) / divisor
    assert stats.compare(a, b, **FAST).p_value == _exact_unpaired_p(ia, ib)


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(900, 960), st.integers(900, 960)), min_size=2, max_size=8),
    divisor=grid,
)
def test_paired_p_value_equals_exact_sign_flip_enumeration_on_grid_data(pairs, divisor):
    ia, ib = zip(*pairs, strict=True)
    a, b = np.array(ia) / divisor, np.array(ib) / divisor
    assert stats.compare(a, b, paired=True, **FAST).p_value == _exact_paired_p(ia, ib)


def test_random_relabellings_when_there_are_more_splits_than_n_permutations():
    rng = np.random.default_rng(5)
    ia, ib = rng.integers(900, 960, size=7), rng.integers(905, 965, size=7)  # 3,432 splits
    exact = _exact_unpaired_p(ia.tolist(), ib.tolist())
    p = stats.compare(ia / 1000, ib / 1000, n_permutations=999, **FAST).p_value
    count = p * 1000  # (count + 1) / (999 + 1): never 0, as a Monte Carlo p must not be
    assert count == pytest.approx(round(count)) and p >= 1 / 1000
    assert abs(p - exact) < 4 * math.sqrt(exact * (1 - exact) / 999) + 1 / 1000
    assert stats.compare(ia / 1000, ib / 1000, **FAST).p_value == exact


def test_constant_arms_give_a_point_interval_and_an_exact_p_value():
    same = stats.compare([0.9] * 5, [0.9] * 5)
    assert (same.difference, same.ci, same.p_value) == (0.0, (0.0, 0.0), 1.0)
    apart = stats.compare([1.0] * 5, [0.0] * 5)
    assert (apart.difference, apart.ci) == (1.0, (1.0, 1.0))
    assert apart.p_value == 2 / math.comb(10, 5)  # the observed split and its mirror image
    paired = stats.compare([1.0, 2.0, 3.0], [0.5, 1.5, 2.5], paired=True)
    assert paired.ci == (0.5, 0.5) and paired.p_value == 2 / 8


# --- the bootstrap interval ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "paired", "experiments", "low", "high"),
    [
        # The coverage of a percentile-type bootstrap interval for normal data is about
        # P(|t_df| < 1.96 sqrt((n-1)/n)): 0.94 at n = 30 (1,500 simulations: 0.95 unpaired,
        # 0.94 paired); at n = 10, 0.92 unpaired and 0.90 paired (3,000 simulations: 0.91 and
        # 0.89). Bounds: 4 binomial standard deviations around that (seven seeds of this
        # simulation at n = 30 gave 0.91 to 0.95). A 90% interval (coverage 0.85 to 0.88 at
        # n = 30) or one that ignored an arm's spread fails.
        (30, False, 1000, 0.905, 0.975),
        (30, True, 1000, 0.905, 0.97),
        (10, False, 400, 0.85, 0.97),
        (10, True, 400, 0.83, 0.95),
    ],
)
def test_bootstrap_interval_covers_the_true_difference_at_its_expected_rate(
    n, paired, experiments, low, high
):
    rng = np.random.default_rng(2024)
    covered = 0
    for k in range(experiments):
        a, b = rng.normal(0.5, 1, size=n), rng.normal(0, 1, size=n)
        c = stats.compare(a, b, paired=paired, n_bootstrap=999, n_permutations=9, seed=k)
        covered += c.ci[0] <= 0.5 <= c.ci[1]
    assert low <= covered / experiments <= high


def test_paired_interval_removes_the_seed_effect_shared_by_a_pair():
    rng = np.random.default_rng(4)
    shared = rng.normal(0, 2.0, size=10)  # e.g. the data order a seed fixes for both arms
    a, b = shared + 0.3 + rng.normal(0, 0.1, size=10), shared + rng.normal(0, 0.1, size=10)
    paired = stats.compare(a, b, paired=True)  # 1,024 sign flips, all enumerated
    unpaired = stats.compare(a, b, n_permutations=9999)
    assert paired.ci[1] - paired.ci[0] < (unpaired.ci[1] - unpaired.ci[0]) / 5
    assert paired.ci[0] <= 0.3 <= paired.ci[1] and paired.significant
    assert not unpaired.significant


def test_same_seed_same_result_and_scale_multiplies_the_difference():
    rng = np.random.default_rng(6)
    a, b = rng.normal(0.91, 0.005, size=12), rng.normal(0.905, 0.005, size=12)
    first = stats.compare(a, b, n_permutations=999)
    assert stats.compare(a, b, n_permutations=999) == first
    assert stats.compare(a, b, seed=1, n_permutations=999).ci != first.ci
    points = stats.compare(a, b, scale=100, n_permutations=999)
    assert points.difference == pytest.approx(100 * first.difference)
    np.testing.assert_allclose(points.ci, 100 * np.array(first.ci), rtol=1e-9)
    assert points.p_value == first.p_value


# --- the verdict ---------------------------------------------------------------------------


def _comparison(difference, ci, p, n_a=10, n_b=10, **kw):
    return stats.Comparison(difference, ci, p, n_a, n_b, **{"unit": "points", **kw})


@pytest.mark.parametrize(
    ("comparison", "verdict"),
    [
        (
            _comparison(0.8, (0.3, 1.3), 0.004),
            "A is higher than B by 0.8 points (95% CI 0.3 to 1.3, p = 0.004, 10 seeds each).",
        ),
        (
            _comparison(-0.83, (-1.31, -0.32), 0.0004, 10, 12),
            "A is lower than B by 0.83 points (95% CI 0.32 to 1.31, p < 0.001, 10 and 12 seeds).",
        ),
        (
            _comparison(0.15, (-0.6, 0.9), 0.41, paired=True),
            "No difference detectable between A and B with 10 paired seeds: "
            "the 95% CI of A \u2212 B runs from -0.6 to 0.9 points (p = 0.41).",
        ),
        (
            _comparison(-0.012, (-0.02, -0.004), 0.0496, unit="", label_a="WSD", label_b="cosine"),
            "WSD is lower than cosine by 0.012 (95% CI 0.004 to 0.020, p = 0.0496, 10 seeds each).",
        ),
        (
            _comparison(0.5, (0.1, 0.9), 0.012, adjustment="holm", confidence=0.9),
            "A is higher than B by 0.50 points (90% CI 0.10 to 0.90, Holm-adjusted p = 0.012, "
            "10 seeds each).",
        ),
        (
            _comparison(0.0, (0.0, 0.0), 1.0),
            "No difference detectable between A and B with 10 seeds each: "
            "the 95% CI of A \u2212 B runs from 0 to 0 points (p = 1).",
        ),
    ],
)
def test_verdict_states_direction_size_interval_p_and_seeds(comparison, verdict):
    assert comparison.verdict == str(comparison) == verdict


def test_verdict_of_a_real_comparison_names_the_arms_and_is_stored_as_plain_json():
    c = stats.compare(
        [0.912, 0.915, 0.909, 0.918, 0.914, 0.911, 0.916, 0.913, 0.917, 0.910],
        [0.906, 0.909, 0.902, 0.910, 0.904, 0.908, 0.905, 0.907, 0.903, 0.911],
        labels=("cosine", "step"),
        unit="points",
        scale=100,
        n_permutations=9999,
    )
    assert c.significant and c.verdict.startswith("cosine is higher than step by 0.")
    assert c.verdict.endswith(", p < 0.001, 10 seeds each).")
    stored = json.loads(json.dumps(c.to_dict()))
    assert stored["verdict"] == c.verdict and stored["significant"] is True
    assert stored["ci"] == list(c.ci) and stored["p_value"] == c.p_value
    fields = {f.name for f in dataclasses.fields(stats.Comparison)}
    rebuilt = stats.Comparison(**{k: stored[k] for k in fields} | {"ci": tuple(stored["ci"])})
    assert rebuilt == c


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (([1.0], [1.0, 2.0]), {}, ValueError, "a must hold at least 2 values, got 1"),
        (([1.0, np.nan], [1.0, 2.0]), {}, ValueError, "a must be finite.*diverged seed"),
        (([1.0, 2.0], [1.0, np.inf]), {}, ValueError, "b must be finite"),
        (([[1.0, 2.0]], [1.0, 2.0]), {}, ValueError, r"a must be 1-D .* shape \(1, 2\)"),
        ((["x", "y"], [1.0, 2.0]), {}, TypeError, "a must be a 1-D sequence of numbers"),
        (([1, 2, 3], [1, 2]), {"paired": True}, ValueError, "equal length, got 3 and 2"),
        (([1, 2], [1, 2]), {"confidence": 1.0}, ValueError, r"confidence must be in \(0, 1\)"),
        (([1, 2], [1, 2]), {"alpha": 0}, ValueError, r"alpha must be in \(0, 1\)"),
        (([1, 2], [1, 2]), {"scale": -100}, ValueError, "scale must be > 0"),
        (([1, 2], [1, 2]), {"seed": -1}, ValueError, "seed must be an integer >= 0"),
        (([1, 2], [1, 2]), {"labels": ("A",)}, TypeError, "labels must be a pair of strings"),
        (([1, 2], [1, 2]), {"paired": 1}, TypeError, "paired must be True or False"),
    ],
)
def test_compare_rejects_bad_input_naming_the_parameter(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        stats.compare(*args, **kwargs)


def test_summary_rejects_a_single_seed_and_nan():
    with pytest.raises(ValueError, match="values must hold at least 2 values, got 1"):
        stats.summary([0.9])
    with pytest.raises(ValueError, match="values must be finite"):
        stats.summary([0.9, np.nan])


# --- Holm ----------------------------------------------------------------------------------


def test_holm_matches_a_hand_computed_example():
    # sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> 0.06
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(stats.holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1
    assert stats.holm([0.2]).tolist() == [0.2]


@settings(max_examples=200, deadline=None)
@given(p=st.lists(st.floats(0, 1), min_size=1, max_size=12), alpha=st.sampled_from([0.01, 0.05]))
def test_holm_is_monotone_bounded_and_rejects_as_the_step_down_procedure(p, alpha):
    adjusted = stats.holm(p)
    raw = np.array(p)
    assert np.all(adjusted >= raw) and np.all(adjusted <= 1)
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(adjusted[order]) >= 0)
    # Holm (1979): walk up the sorted p values, rejecting while p_(j) (m - j + 1) <= alpha.
    rejected = set()
    for j, i in enumerate(order):
        if raw[i] * (len(p) - j) > alpha:
            break
        rejected.add(int(i))
    assert {int(i) for i in np.flatnonzero(adjusted <= alpha)} == rejected


def test_holm_rejects_values_outside_zero_one():
    with pytest.raises(ValueError, match=r"p_values must each be in \[0, 1\]"):
        stats.holm([0.5, 1.5])
    with pytest.raises(ValueError, match="p_values must hold at least 1 values, got 0"):
        stats.holm([])


def test_compare_many_adjusts_the_family_with_holm():
    rng = np.random.default_rng(8)
    runs = {name: rng.normal(shift, 1, size=6) for name, shift in [("step", 0), ("cos", 1.5),
                                                                    ("peak", 0.3)]}  # fmt: skip
    against = stats.compare_many(runs, baseline="step", **FAST)
    assert [(c.label_a, c.label_b) for c in against] == [("cos", "step"), ("peak", "step")]
    raw = [stats.compare(runs[x], runs["step"], **FAST).p_value for x in ("cos", "peak")]
    np.testing.assert_allclose([c.p_value for c in against], stats.holm(raw))
    assert all(c.adjustment == "holm" and "Holm-adjusted p" in c.verdict for c in against)
    pairs = stats.compare_many(runs, **FAST)
    assert [(c.label_a, c.label_b) for c in pairs] == [("step", "cos"), ("step", "peak"),
                                                       ("cos", "peak")]  # fmt: skip
    with pytest.raises(ValueError, match="baseline must be one of"):
        stats.compare_many(runs, baseline="sgdr")
    with pytest.raises(TypeError, match="labels"):
        stats.compare_many(runs, labels=("a", "b"))
    with pytest.raises(ValueError, match="at least 2 arm"):
        stats.compare_many({"step": [1.0, 2.0]})


def test_holm_family_adjusts_comparisons_of_different_pairs_as_one_family():
    """Pairs with different baselines (compare_many cannot form them) adjusted together:
    the p values are holm() of the raw ones, intervals and labels untouched."""
    rng = np.random.default_rng(3)
    a, b, c, d = (rng.normal(shift, 1, size=6) for shift in (0.0, 1.2, 0.1, 0.4))
    raw = [stats.compare(a, b, labels=("a", "b"), **FAST), stats.compare(c, d, **FAST)]
    family = stats.holm_family(raw)
    np.testing.assert_allclose([x.p_value for x in family], stats.holm([x.p_value for x in raw]))
    assert [x.ci for x in family] == [x.ci for x in raw] and family[0].label_a == "a"
    assert all(x.adjustment == "holm" for x in family)
    with pytest.raises(ValueError, match="adjusted already"):
        stats.holm_family(family)
    with pytest.raises(TypeError, match="non-empty list of Comparison"):
        stats.holm_family([])


# --- plots.seed_band -----------------------------------------------------------------------


def _band_limits(ax, x):
    """Lowest and highest y of the band's polygon at each x."""
    vertices = np.concatenate([p.vertices for p in ax.collections[0].get_paths()])
    low = [vertices[np.isclose(vertices[:, 0], v), 1].min() for v in x]
    high = [vertices[np.isclose(vertices[:, 0], v), 1].max() for v in x]
    return np.array(low), np.array(high)


RUNS = np.array([[1.0, 2.0, 4.0, 5.0], [3.0, np.nan, 6.0, 7.0], [2.0, 3.0, np.inf, 9.0]])
X = np.array([0.0, 10.0, 20.0, 30.0])


def test_seed_band_draws_the_nan_mean_and_the_range_of_the_finite_seeds():
    fig, ax = plots.subplots()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" warnings reach the reader
        line = plots.seed_band(ax, X, RUNS, label="cosine")
    np.testing.assert_allclose(line.get_ydata(), [2.0, 2.5, 5.0, 7.0])
    assert line.get_label() == "cosine"
    low, high = _band_limits(ax, X)
    np.testing.assert_allclose(low, [1.0, 2.0, 4.0, 5.0])
    np.testing.assert_allclose(high, [3.0, 3.0, 6.0, 9.0])
    face = ax.collections[0].get_facecolor()[0]
    np.testing.assert_allclose(face[:3], plots.mpl.colors.to_rgb(line.get_color()))


def test_seed_band_ci_is_the_t_interval_and_std_the_standard_deviation():
    fig, ax = plots.subplots()
    plots.seed_band(ax, X, RUNS, band="ci")
    low, high = _band_limits(ax, X)
    for t in (0, 3):  # three finite seeds
        ci = scipy.stats.ttest_1samp(RUNS[:, t], 0).confidence_interval()
        assert (low[t], high[t]) == pytest.approx((ci.low, ci.high))
    fig, ax = plots.subplots()
    plots.seed_band(ax, X, RUNS, band="std", color="k")
    low, high = _band_limits(ax, X)
    assert (low[0], high[0]) == pytest.approx((1.0, 3.0))  # mean 2, sd 1
    assert (low[3], high[3]) == pytest.approx((7 - 2.0, 7 + 2.0))


def test_seed_band_leaves_a_gap_where_no_seed_is_finite():
    fig, ax = plots.subplots()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        line = plots.seed_band(ax, [0, 1, 2], [[1.0, np.nan, 3.0], [2.0, np.nan, 5.0]], band="ci")
    assert np.isnan(line.get_ydata()[1]) and line.get_ydata()[2] == 4.0


def test_seed_band_rejects_runs_that_do_not_match_x():
    fig, ax = plots.subplots()
    with pytest.raises(ValueError, match=r"runs must have shape \(seeds, 3\) to match x"):
        plots.seed_band(ax, [0, 1, 2], [[1.0, 2.0]])
    with pytest.raises(ValueError, match="band must be one of"):
        plots.seed_band(ax, [0, 1], [[1.0, 2.0]], band="iqr")
