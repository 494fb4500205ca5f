"""Tests of lrlab.sweep: grids expand as documented, a run equals a direct fit, the cache
resumes, the Ray engine returns exactly the in-process results, the gathering is right."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lrlab import data, models, schedules, sweep, train

TINY = {"data": "digits", "model": "mlp", "epochs": 1, "lr": 0.1}


def _metrics(result: dict) -> dict:
    """What a run computed, without what differs between two runs of it (time, provenance)."""
    return {k: v for k, v in result.items() if k not in ("wall_time_s", "provenance")}


def test_expand_crosses_list_axes_last_key_fastest_and_concatenates_grids():
    configs = sweep.expand({"lr": [0.1, 0.3], "schedule": ["constant", "cosine"], "epochs": 2})
    assert [(c["lr"], c["schedule"]["name"]) for c in configs] == [
        (0.1, "constant"),
        (0.1, "cosine"),
        (0.3, "constant"),
        (0.3, "cosine"),
    ]
    assert all(
        c["epochs"] == 2 and c["batch_size"] == sweep.DEFAULTS["batch_size"] for c in configs
    )
    assert len(sweep.expand([{"seed": [0, 1]}, {"seed": [2, 3, 4]}])) == 5


def test_bad_grids_name_the_offending_option():
    with pytest.raises(ValueError, match="unknown.*'rate'"):
        sweep.expand({"rate": [0.1]})
    with pytest.raises(ValueError, match="axis lr must list at least one value"):
        sweep.expand({"lr": []})
    with pytest.raises(ValueError, match="schedule name must be one of"):
        sweep.expand({"schedule": "cosine_annealing"})
    with pytest.raises(ValueError, match="epochs must be an integer >= 1, got 0"):
        sweep.normalize({"epochs": 0})


def test_config_key_ignores_spelling_but_not_content():
    """Catches a cache that reruns equal configs or, worse, serves one config's result
    for another."""
    assert sweep.config_key({"lr": np.float64(0.1)}) == sweep.config_key({"lr": 0.1, "seed": 0})
    assert sweep.config_key({"schedule": "cosine"}) == sweep.config_key(
        {"schedule": {"name": "cosine"}}
    )
    assert sweep.config_key({"lr": 0.1}) != sweep.config_key({"lr": 0.1000001})
    assert sweep.config_key({"seed": 0}) != sweep.config_key({"seed": 1})


def test_make_schedule_counts_epochs_fills_total_steps_and_scales_ratios():
    t = np.arange(300)
    got = sweep.make_schedule(
        {"name": "multistep", "milestones": [2, 4], "gamma": 0.2, "unit": "epoch"}, 0.5, 50, 6
    )
    np.testing.assert_array_equal(got(t), schedules.multistep(0.5, [100, 200], 0.2)(t))
    got = sweep.make_schedule({"name": "cosine", "min_lr_ratio": 0.01}, 0.5, 50, 6)
    np.testing.assert_array_equal(got(t), schedules.cosine(0.5, 300, min_lr=0.005)(t))
    got = sweep.make_schedule({"name": "gaussian_peak"}, 0.5, 10, 3)  # lr fills max_lr
    np.testing.assert_array_equal(got(t), schedules.gaussian_peak(0.5, 30)(t))
    with pytest.raises(ValueError, match="lr is set by the run's lr"):
        sweep.make_schedule({"name": "cosine", "lr": 0.3}, 0.5, 10, 3)
    with pytest.raises(ValueError, match="cosine has no parameter 'gamma'"):
        sweep.make_schedule({"name": "cosine", "gamma": 0.3}, 0.5, 10, 3)


def test_run_one_is_a_direct_fit_with_the_config_seed():
    """The reference: build and fit by hand with the same seed and schedule."""
    config = {**TINY, "epochs": 2, "seed": 3, "schedule": "cosine"}
    result = sweep.run_one(config, device="cpu")
    digits = data.load("digits", device="cpu")
    torch.manual_seed(3)
    net = models.build("mlp", 10, digits.input_shape)
    total = 2 * digits.num_batches("train", 128)
    history = train.fit(net, digits, schedules.cosine(0.1, total), 2, seed=3, progress=False)
    assert result["test_acc"] == history.test_acc
    assert result["final_test_acc"] == history.test_acc[-1]
    assert result["best_test_acc"] == max(history.test_acc)
    assert result["final_test_loss"] == history.test_loss[-1]
    assert result["steps"] == total and result["diverged"] is False
    prov = result["provenance"]
    assert prov["seed"] == 3 and prov["device"] == "cpu" and prov["wall_time_s"] > 0


def test_diverged_run_reports_none_not_a_number():
    result = sweep.run_one({**TINY, "lr": 1e6, "momentum": 0.0}, device="cpu")
    assert result["diverged"] is True
    assert result["final_test_acc"] is None and result["test_acc"] == []


def test_cache_resumes_an_interrupted_sweep_and_reruns_nothing_when_done(tmp_path, monkeypatch):
    grid = {**TINY, "seed": [0, 1, 2]}
    first = sweep.run(grid, cache=tmp_path, progress=False, device="cpu")
    files = sorted(tmp_path.glob("*.json"))
    assert [f.stem for f in files] == sorted(r["key"] for r in first)
    # An interrupted sweep: one result missing; only that config runs again.
    (tmp_path / f"{first[1]['key']}.json").unlink()
    ran = []
    real = sweep.run_one
    monkeypatch.setattr(
        sweep.engines, "run_one", lambda c, **kw: ran.append(c["seed"]) or real(c, **kw)
    )
    again = sweep.run(grid, cache=tmp_path, progress=False, device="cpu")
    assert ran == [1]
    assert [_metrics(r["result"]) for r in again] == [_metrics(r["result"]) for r in first]
    # A finished sweep costs nothing; a cache file of another config is not trusted.
    sweep.run(grid, cache=tmp_path, progress=False, device="cpu")
    assert ran == [1]
    path = tmp_path / f"{first[0]['key']}.json"
    record = json.loads(path.read_text())
    record["config"]["lr"] = 0.5
    path.write_text(json.dumps(record))
    sweep.run(grid, cache=tmp_path, progress=False, device="cpu")
    assert ran == [1, 0]
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_unknown_engine_is_refused_before_any_run():
    with pytest.raises(ValueError, match="engine must be one of"):
        sweep.run(TINY, engine="dask", cache=None)


@pytest.mark.slow
def test_ray_engine_returns_exactly_the_in_process_results(tmp_path):
    pytest.importorskip(
        "ray.tune",
        reason="LOUD SKIP: Ray Tune is not installed, so the Ray engine is NOT tested here; "
        "install the sweep extra (pip install -e '.[sweep]') to run this test",
    )
    grid = {**TINY, "seed": [0, 1]}
    local = sweep.run(grid, cache=None, progress=False, device="cpu")
    remote = sweep.run(grid, engine="ray", cache=tmp_path, resources={"cpu": 1})
    assert [r["key"] for r in remote] == [r["key"] for r in local]
    assert [_metrics(r["result"]) for r in remote] == [_metrics(r["result"]) for r in local]
    assert len(list(tmp_path.glob("*.json"))) == 2  # the driver caches Ray's results too


def _record(lr, seed, acc, schedule="constant"):
    return {
        "config": sweep.normalize({"lr": lr, "seed": seed, "schedule": schedule}),
        "result": {"final_test_acc": acc},
    }


def test_summary_and_plot_show_mean_and_seed_band_and_skip_diverged_runs():
    records = [
        _record(0.1, 0, 0.5),
        _record(0.1, 1, 0.7),
        _record(1.0, 0, 0.8),
        _record(1.0, 1, None),
        _record(0.1, 0, 0.6, "cosine"),
    ]
    rows = {(r["label"], r["lr"]): r for r in sweep.summary(records)}
    assert rows[("constant", 0.1)]["mean"] == pytest.approx(0.6)
    assert (rows[("constant", 0.1)]["min"], rows[("constant", 0.1)]["max"]) == (0.5, 0.7)
    assert rows[("constant", 1.0)]["mean"] == 0.8 and rows[("constant", 1.0)]["diverged"] == 1
    ax = sweep.plot(records)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"constant", "cosine"}
    np.testing.assert_allclose(lines["constant"].get_ydata(), [0.6, 0.8])
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == pytest.approx(0.5) and band[:, 1].max() == pytest.approx(0.8)
    assert "diverged" in sweep.table(
        [{**records[3], "result": {"final_test_acc": None}}], metrics=["final_test_acc"]
    )


def test_summary_table_has_a_row_per_schedule_and_a_column_per_rate():
    records = [_record(0.1, 0, 0.5), _record(0.1, 1, 0.7), _record(1.0, 0, None)]
    records.append(_record(1.0, 0, 0.9, "cosine"))
    lines = sweep.summary_table(records).splitlines()
    assert lines[0] == "| schedule | lr 0.1 | lr 1 |"
    assert lines[2] == "| constant | 60.0% [50.0, 70.0] | diverged (1 of 1) |"
    assert lines[3] == "| cosine |  | 90.0% [90.0, 90.0] |"


def test_yaml_and_json_grids_read_the_same(tmp_path):
    pytest.importorskip("yaml", reason="PyYAML (lrlab[sweep]) reads YAML grids")
    (tmp_path / "g.yaml").write_text(
        "lr: [0.1, 0.3]\nschedule:\n  - cosine\n  - {name: sgdr, first_cycle: 1, unit: epoch}\n"
    )
    (tmp_path / "g.json").write_text(
        json.dumps(
            {
                "lr": [0.1, 0.3],
                "schedule": ["cosine", {"name": "sgdr", "first_cycle": 1, "unit": "epoch"}],
            }
        )
    )
    assert sweep.expand(sweep.load_grid(tmp_path / "g.yaml")) == sweep.expand(
        sweep.load_grid(tmp_path / "g.json")
    )
    with pytest.raises(ValueError, match="must end in .json, .yaml or .yml"):
        sweep.load_grid(tmp_path / "g.toml")
