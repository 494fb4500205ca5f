"""The flat-minima chapter's experiments: Seong's schedule rules, each schedule's own peak,
sharpness read at equal loss late in training only, and the records of both experiments at
their classroom scale."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from lrlab import results
from lrlab.experiments import flat_minima


def test_seong_schedules_follow_the_papers_rules():
    """Seong et al. 2018: peak ≈ 3× the baseline's rate, end = peak / 10⁴, and (our t_offset)
    the peak schedules start at the baseline's rate; step decay divides by 10 twice."""
    total = 1000
    s = flat_minima.seong_schedules(0.1, total, peak_factor=3.0)
    assert list(s) == list(flat_minima.SCHEDULES)
    steps = np.arange(total)
    for name in ("gaussian", "laplacian", "laplacian-wide"):
        lr = s[name](steps)
        assert lr.max() == pytest.approx(0.3, rel=1e-2)  # the peak falls between steps
        assert lr[0] == pytest.approx(0.1, rel=1e-9)
    for name in ("gaussian", "laplacian"):
        assert s[name](total - 1) == pytest.approx(0.3e-4, rel=1e-9)
    assert_allclose(s["step"]([0, 499, 500, 749, 750, 999]), [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert s["cosine"](total - 1) < 1e-6
    assert s["constant"](999) == 0.1
    with pytest.raises(ValueError, match="peak_factor must be a finite number > 1"):
        flat_minima.seong_schedules(0.1, total, peak_factor=1.0)


def test_the_wide_laplacian_has_the_gaussians_mean_rate_and_a_wider_peak():
    """The mean rate of the Laplacian (Seong's eq. with λ = -0.5 / ln(γ_min/γ_max)) over the
    run, integrated by the trapezoid rule on a fine grid, against the Gaussian's."""
    total = 1280
    s = flat_minima.seong_schedules(0.1, total)
    steps = np.arange(total)
    mean = {n: float(s[n](steps).mean()) for n in ("gaussian", "laplacian", "laplacian-wide")}
    assert mean["laplacian-wide"] == pytest.approx(mean["gaussian"], rel=1e-9)
    assert mean["laplacian"] < 0.5 * mean["gaussian"]
    above = {n: int((s[n](steps) > 0.15).sum()) for n in ("laplacian", "laplacian-wide")}
    assert above["laplacian-wide"] > above["laplacian"]  # longer above half the peak
    # The plain Laplacian's mean from its closed form: u from t0 to 1, peak at u = 0.5.
    lam = 0.5 / math.log(1e4)
    t0 = 0.5 + lam * math.log(1 / 3)
    u = np.linspace(t0, 1, 200_001)
    closed = np.trapezoid(0.3 * np.exp(-np.abs(u - 0.5) / lam), u) / (1 - t0)
    assert mean["laplacian"] == pytest.approx(closed, rel=2e-3)


def test_each_schedule_has_its_own_peak_epoch_away_from_mid_run():
    """Issue 21 (defect 6): with t_offset the Gaussian peaks about a quarter into the run
    and the Laplacian within the first eighth, not at mid-run. Closed form: the peak is at
    u = 0.5 of u = t0 + (1 - t0) t/(T - 1), t0 = 0.5 - sqrt(σ² ln 3) (Gaussian, σ² = 0.25 /
    ln 10⁴) or 0.5 + λ ln(1/3) (Laplacian, λ = 0.5 / ln 10⁴)."""
    spe, epochs = 32, 40
    total = spe * epochs
    s = flat_minima.seong_schedules(0.1, total)
    sigma2, lam = 0.25 / math.log(1e4), 0.5 / math.log(1e4)
    for name, t0 in (
        ("gaussian", 0.5 - math.sqrt(sigma2 * math.log(3))),
        ("laplacian", 0.5 + lam * math.log(1 / 3)),
    ):
        step = (0.5 - t0) / (1 - t0) * (total - 1)
        expected = {int(math.floor(step)) // spe + 1, int(math.ceil(step)) // spe + 1}
        assert flat_minima.peak_epoch(s[name], total, spe) in expected
    assert flat_minima.peak_epoch(s["gaussian"], total, spe) == 11
    assert flat_minima.peak_epoch(s["laplacian"], total, spe) == 5
    assert flat_minima.peak_epoch(s["step"], total, spe) == 20  # the end of its first phase
    assert flat_minima.peak_epoch(s["constant"], total, spe) == epochs


def test_late_crossing_reads_the_last_crossing_in_the_window_in_log_loss():
    rows = [[26, 0.5, 9.0], [27, 0.08, 4.0], [28, 0.02, 2.0], [29, 0.04, 3.0], [30, 0.01, 1.0]]
    # 0.03 is crossed three times from epoch 27 on; the last is between epochs 29 and 30
    w = math.log(0.03 / 0.04) / math.log(0.01 / 0.04)
    epoch, lam = flat_minima.late_crossing(rows, 0.03, first_epoch=27)
    assert epoch == pytest.approx(29 + w) and lam == pytest.approx(3.0 - 2.0 * w)
    assert flat_minima.late_crossing(rows, 0.2, first_epoch=27) is None  # only before 27
    assert flat_minima.late_crossing(rows, 0.2, first_epoch=26) is not None
    assert flat_minima.late_crossing(rows, 0.005, first_epoch=1) is None  # never reached


def _run(seed, losses, first=1, diverged=False):
    epochs = np.arange(first, first + len(losses))
    return {
        "seed": seed,
        "diverged": diverged,
        "train_loss": list(losses),
        "sharpness": [[int(e), loss, 10 * loss] for e, loss in zip(epochs, losses, strict=True)],
    }


def test_equal_loss_leaves_out_failed_runs_and_reads_every_run_late_only():
    """The failure behind issue 21's defect 1: matching at the final loss of an outlier put
    every matched point mid-run. Here one run ends far above the others and one diverges:
    neither appears, and every point read lies in the last third."""
    config = {"epochs": 30, "late_fraction": 1 / 3, "failed_factor": 10.0}
    falling = np.geomspace(2.0, 0.01, 30)
    runs = {
        "a": [_run(0, falling), _run(1, falling * 1.5), _run(2, np.full(30, 0.3))],
        "b": [_run(0, falling * 2), _run(1, falling, diverged=True)],
    }
    out = flat_minima.equal_loss(runs, config)
    first = flat_minima.first_late_epoch(config)
    assert first == 20 and first / config["epochs"] >= 2 / 3
    assert out["failed_limit"] == pytest.approx(10 * np.median([0.01, 0.015, 0.3, 0.02]))
    assert out["failed"] == {"a": [2], "b": [1]}
    assert [seed for seed, *_ in out["late"]["a"]] == [0, 1]
    (pair,) = out["pairs"]
    assert (pair["name_a"], pair["name_b"]) == ("a", "b")
    # late ranges: a [0.01, 0.062] and [0.015, 0.093], b [0.02, 0.124]; all three cover
    # the levels from 0.02 to 0.062, and the lowest of them is taken
    assert pair["level"] == pytest.approx(0.02)
    assert [p[0] for p in pair["a"]] == [0, 1] and [p[0] for p in pair["b"]] == [0]
    for _seed, epoch, lam in pair["a"] + pair["b"]:
        assert epoch >= first and lam == pytest.approx(10 * pair["level"], rel=0.05)
    swapped = flat_minima.matched_pair(out, "b", "a")
    assert swapped["a"] == pair["b"] and swapped["level"] == pair["level"]


def test_match_pair_finds_no_level_where_late_ranges_do_not_overlap():
    """Two schedules that sit at different losses late in training cannot be compared at
    equal loss there, however low or high a level is tried."""
    a = [_run(0, np.geomspace(1.0, 0.01, 30))]
    b = [_run(0, np.geomspace(2.0, 0.1, 30))]
    assert flat_minima.match_pair(a, b, first_epoch=25) == {"level": None, "a": [], "b": []}
    assert flat_minima.match_pair(a, b, first_epoch=1)["level"] is not None  # mid-run: yes


@pytest.mark.slow
def test_classroom_run_is_consistent_and_storable(tmp_path):
    """Curves pass through the measured loss at radius 0, each schedule walks toward its own
    peak's weights, sharpness rows stand below their stability bound, and the record
    survives lrlab.results (plain JSON)."""
    config = flat_minima.SEONG.config("classroom")
    out = flat_minima.run_flatness(config)
    radii = out["grids"]["random_radii"]
    centre = radii.index(0.0)
    assert set(out["peak_epoch"]) == set(config["schedules"])
    for name in config["schedules"]:
        assert len(out["runs"][name]) == len(config["seeds"])
        for record in out["runs"][name]:
            assert len(record["test_acc"]) == len(record["grad_norm"]) == config["epochs"]
            m = record["final"]
            assert m["random"][centre] == pytest.approx(m["train_loss"], rel=1e-5)
            assert m["fooling"][0] == pytest.approx(m["train_loss"], rel=1e-5)
            assert max(m["fooling"]) >= m["train_loss"] and m["lambda_max"] > 0
            assert (m["path"] is None) == (out["peak_epoch"][name] == config["epochs"])
            assert [row[0] for row in record["sharpness"]] == list(range(1, config["epochs"] + 1))
            assert all(row[2] < row[3] for row in record["sharpness"])
        assert np.shape(out["surfaces"][name]) == (config["surface_points"],) * 2
    results.save("flat", out, config, device="cpu", root=tmp_path)
    stored = json.loads((tmp_path / "flat.json").read_text())["result"]
    assert stored["runs"].keys() == out["runs"].keys()


@pytest.mark.slow
def test_ensembles_score_disjoint_groups_and_the_first_k_members():
    config = flat_minima.ENSEMBLES.config("classroom")
    out = flat_minima.run_ensembles(config)
    assert list(out["scores"]) == config["schedules"]
    for name, scores in out["scores"].items():
        assert scores["k"] == list(range(1, len(config["seeds"]) + 1))
        groups = out["groups"][name]
        assert groups["1"]["accuracy"] == scores["member_accuracy"]
        assert groups["2"]["seeds"] == [[0, 1], [2, 3]]
        assert groups["2"]["accuracy"][0] == scores["accuracy"][1]  # members 0 and 1
    json.dumps(out, allow_nan=False)
    with pytest.raises(ValueError, match="group_sizes must be an integer in"):
        flat_minima.run_ensembles({**config, "group_sizes": [3]})
