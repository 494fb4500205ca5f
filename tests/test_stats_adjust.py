"""lrlab.stats.holm_adjust: Holm over a family of comparisons, against Holm's (1979) adjusted p
values written out by hand, and against compare_many, which must agree with it."""

from __future__ import annotations

import numpy as np
import pytest

from lrlab import stats


def _family():
    rng = np.random.default_rng(4)
    base = rng.normal(size=10)
    shifts = (0.0, 0.3, 1.0, 2.0)
    return [
        stats.compare(base + s + rng.normal(0, 0.5, 10), base, paired=True, n_permutations=2000)
        for s in shifts
    ]


def test_holm_adjust_is_holms_step_down_in_the_input_order():
    """Reference: sort the p values, multiply the i-th smallest by m - i, carry the running
    maximum, cap at 1, and put them back in place (Holm 1979, the adjusted-p form)."""
    family = _family()
    p = np.array([c.p_value for c in family])
    order = np.argsort(p)
    stepped = np.minimum(1, np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order]))
    expected = np.empty_like(p)
    expected[order] = stepped
    adjusted = stats.holm_adjust(family)
    assert [c.p_value for c in adjusted] == pytest.approx(expected)
    assert all(c.adjustment == "holm" and "Holm-adjusted" in c.verdict for c in adjusted)
    assert [c.ci for c in adjusted] == [c.ci for c in family]  # intervals unadjusted


def test_compare_many_is_holm_adjust_over_its_pairs():
    groups = {"a": [1.0, 2.0, 3.5, 4.0], "b": [1.5, 2.5, 3.0, 5.0], "c": [3.0, 4.0, 5.5, 6.0]}
    many = stats.compare_many(groups, baseline="a", paired=True)
    by_hand = stats.holm_adjust(
        [stats.compare(groups[x], groups["a"], paired=True, labels=(x, "a")) for x in "bc"]
    )
    assert many == by_hand


def test_holm_adjust_refuses_an_empty_or_adjusted_family():
    with pytest.raises(TypeError, match="^comparisons"):
        stats.holm_adjust([])
    with pytest.raises(ValueError, match="^comparisons"):
        stats.holm_adjust(stats.holm_adjust(_family()))
