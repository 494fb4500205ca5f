"""lrlab.stats.performance_profile against a hand-worked example and the properties that
Dolan & Moré (2002, Math. Program. 91, 201-213, sec. 2) derive for the profiles, and the
plotting helper lrlab.plots.performance_profiles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab import plots, stats

INF = math.inf

# Three methods, five problems: a failure of A on p3, failures of B and C on p4, and p5
# failed by all. Best costs: p1 10 (A), p2 10 (C), p3 30 (B), p4 5 (A), p5 none.
TIMES = {
    "A": {"p1": 10, "p2": 20, "p3": INF, "p4": 5, "p5": INF},
    "B": {"p1": 20, "p2": 20, "p3": 30, "p4": INF, "p5": INF},
    "C": {"p1": 40, "p2": 10, "p3": 60, "p4": INF, "p5": INF},
}


def test_profile_of_a_hand_worked_example():
    """Ratios by hand: A (1, 2, inf, 1, -), B (2, 2, 1, inf, -), C (4, 1, 2, inf, -); the
    problem every method fails counts for none, so each fraction is out of 5."""
    got = stats.performance_profile(TIMES, [1, 1.5, 2, 3.99, 4, INF])
    expected = {
        "A": [2, 2, 3, 3, 3, 3],
        "B": [1, 1, 3, 3, 3, 3],
        "C": [1, 1, 2, 2, 3, 3],
    }
    assert list(got) == ["A", "B", "C"]
    for method, counts in expected.items():
        np.testing.assert_allclose(got[method], np.array(counts) / 5)


def test_tied_methods_both_count_as_best():
    got = stats.performance_profile({"a": {"p": 3.0}, "b": {"p": 3.0}}, [1])
    assert got["a"].tolist() == got["b"].tolist() == [1.0]


costs = st.one_of(st.floats(0.1, 1e4), st.just(INF))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda problems: st.lists(
            st.lists(costs, min_size=problems, max_size=problems), min_size=1, max_size=4
        )
    ),
    st.integers(-6, 6).map(lambda k: 2.0**k),
)
def test_profiles_are_monotone_fractions_invariant_to_each_problems_unit(table, unit):
    """Dolan & Moré: rho_s is a non-decreasing step function into [0, 1]; rho_s(inf) is the
    share of problems s solves; at tau = 1 every solved problem has a best method; and a
    change of unit on one problem (scaling its costs) changes nothing. The unit is a power of
    two, so the rescaled costs are exact: with another factor, rounding can turn costs one
    ulp apart into a tie (0.1 and 0.1 + 1 ulp, both times 0.1)."""
    problems = [f"p{j}" for j in range(len(table[0]))]
    times = {f"m{i}": dict(zip(problems, row, strict=True)) for i, row in enumerate(table)}
    taus = np.array([1.0, 1.3, 2.0, 10.0, INF])
    got = stats.performance_profile(times, taus)
    solved_by_any = np.mean(
        [any(math.isfinite(row[j]) for row in table) for j in range(len(problems))]
    )
    assert sum(rho[0] for rho in got.values()) >= solved_by_any - 1e-12
    for i, rho in enumerate(got.values()):
        assert np.all(np.diff(rho) >= 0) and 0 <= rho[0] and rho[-1] <= 1
        assert rho[-1] == pytest.approx(np.mean([math.isfinite(c) for c in table[i]]))
    rescaled = {m: {**c, "p0": c["p0"] * unit} for m, c in times.items()}
    for m, rho in stats.performance_profile(rescaled, taus).items():
        np.testing.assert_allclose(rho, got[m])


@pytest.mark.parametrize(
    ("times", "taus", "message"),
    [
        ({}, [1], "times must map at least one method"),
        ({"a": {}}, [1], r"times\['a'\] must map at least one problem"),
        ({"a": {"p": 1}, "b": {"q": 1}}, [1], "every method must name the same problems"),
        ({"a": {"p": 0.0}}, [1], "every time must be positive"),
        ({"a": {"p": math.nan}}, [1], "every time must be positive"),
        ({"a": {"p": 1.0}}, [0.5], "taus must be"),
        ({"a": {"p": 1.0}}, [], "taus must be"),
    ],
)
def test_bad_input_is_refused_with_its_name(times, taus, message):
    with pytest.raises(ValueError, match=message):
        stats.performance_profile(times, taus)


def test_plot_draws_each_methods_profile_as_steps():
    taus = np.array([1.0, 1.5, 2.0, 4.0])
    profiles = stats.performance_profile(TIMES, taus)
    fig, ax = plots.subplots()
    lines = plots.performance_profiles(ax, taus, profiles)
    assert [line.get_label() for line in lines] == ["A", "B", "C"]
    for line, rho in zip(lines, profiles.values(), strict=True):
        np.testing.assert_allclose(line.get_ydata(), rho)
        assert line.get_drawstyle() == "steps-post"
    assert ax.get_xscale() == "log" and ax.get_ylim()[1] >= 1
    with pytest.raises(ValueError, match="profiles"):
        plots.performance_profiles(ax, taus, {"A": [0.1]})
