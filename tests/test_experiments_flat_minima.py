"""The flat-minima chapter's experiments: Seong's schedule rules, and the records of its two
experiments at their classroom scale."""

from __future__ import annotations

import json

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
    for name in ("gaussian", "laplacian"):
        lr = s[name](steps)
        assert lr.max() == pytest.approx(0.3, rel=1e-2)  # the peak falls between steps
        assert lr[0] == pytest.approx(0.1, rel=1e-9)
        assert lr[-1] == pytest.approx(0.3e-4, rel=1e-9)
    assert_allclose(s["step"]([0, 499, 500, 749, 750, 999]), [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert s["cosine"](total - 1) < 1e-6
    assert s["constant"](999) == 0.1
    with pytest.raises(ValueError, match="peak_factor must be a finite number > 1"):
        flat_minima.seong_schedules(0.1, total, peak_factor=1.0)


@pytest.mark.slow
def test_cpu_config_run_is_consistent_and_storable(tmp_path):
    """The equal-loss level is reached by every run, the curves pass through the measured
    loss at radius 0, and the record survives lrlab.results (finite JSON, no NaN)."""
    config = flat_minima.SEONG.config("classroom")
    out = flat_minima.run_flatness(config)
    finals = [r["final"]["train_loss"] for rs in out["runs"].values() for r in rs]
    assert out["matched_loss"] == max(finals)
    radii = out["grids"]["random_radii"]
    centre = radii.index(0.0)
    for name in config["schedules"]:
        (record,) = out["runs"][name]
        assert len(record["test_acc"]) == config["epochs"]
        assert record["matched"]["train_loss"] <= out["matched_loss"] * (1 + 1e-9)
        for key in ("final", "matched"):
            m = record[key]
            assert m["random"][centre] == pytest.approx(m["train_loss"], rel=1e-5)
            assert m["fooling"][0] == pytest.approx(m["train_loss"], rel=1e-5)
            assert max(m["fooling"]) >= m["train_loss"]
            assert m["lambda_max"] > 0
        assert np.shape(out["surfaces"][name]) == (config["surface_points"],) * 2
    results.save("flat", out, config, device="cpu", root=tmp_path)
    assert (
        json.loads((tmp_path / "flat.json").read_text())["result"]["runs"].keys()
        == out["runs"].keys()
    )


@pytest.mark.slow
def test_run_ensembles_scores_the_first_k_members_of_each_schedule():
    config = flat_minima.ENSEMBLES.config("classroom")
    out = flat_minima.run_ensembles(config)
    assert list(out["scores"]) == config["schedules"]
    for scores in out["scores"].values():
        assert scores["k"] == list(range(1, len(config["seeds"]) + 1))
        assert scores["accuracy"][0] == scores["member_accuracy"][0]
    json.dumps(out, allow_nan=False)
