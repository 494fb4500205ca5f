"""Tests of lrlab.results: atomic writes, provenance, save/load, load_or_run."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest
import torch

import lrlab
from lrlab import results
from lrlab.history import History


def history() -> History:
    return History(
        lr=[0.1, 0.1],
        loss=[2.3, float("nan")],
        grad_norm=[1.0, float("inf")],
        steps_per_epoch=2,
        device="cpu",
        seed=3,
        config={"epochs": 1},
        diverged_at_step=1,
        wall_time=1.25,
    )


def test_atomic_write_replaces_whole_files_only(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "file.json"
    results.atomic_write(target, "old")
    assert target.read_text() == "old"

    def crash(*args):
        raise OSError("power cut")

    monkeypatch.setattr("os.replace", crash)
    with pytest.raises(OSError, match="power cut"):
        results.atomic_write(target, b"new content")
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["file.json"]
    with pytest.raises(TypeError, match="data must be bytes or str"):
        results.atomic_write(target, 3)


def test_save_and_load_keep_history_config_and_provenance(tmp_path):
    path = results.save("run", history(), {"lr": 0.1, "milestones": (1, 2)}, root=tmp_path)
    assert path == tmp_path / "run.json"
    # Strict JSON: no NaN/Infinity literals in the file.
    json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    record = results.load("run", root=tmp_path)
    assert record["result"].to_json() == history().to_json()  # NaN != NaN: compare as JSON
    assert record["result_type"] == "History"
    assert record["config"] == {"lr": 0.1, "milestones": [1, 2]}
    prov = record["provenance"]
    assert (prov["device"], prov["seed"], prov["wall_time_s"]) == ("cpu", 3, 1.25)
    assert prov["lrlab_version"] == lrlab.__version__ and prov["torch_version"] == torch.__version__
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"],
        cwd=Path(results.__file__).parent,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert prov["git_commit"] == (head or None)
    assert prov["date"].endswith("+00:00") and prov["command"]


def test_plain_results_round_trip(tmp_path):
    results.save("table", {"acc": [0.5, 0.9]}, {"n": 1}, command="made by hand", root=tmp_path)
    record = results.load("table", root=tmp_path)
    assert record["result"] == {"acc": [0.5, 0.9]} and record["result_type"] == "json"
    assert record["provenance"]["command"] == "made by hand"


def test_results_root_comes_from_argument_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ROOT_ENV, str(tmp_path / "env"))
    assert results.results_root() == tmp_path / "env"
    assert results.results_root(tmp_path / "arg") == tmp_path / "arg"
    results.save("x", {}, {})
    assert (tmp_path / "env" / "x.json").is_file()
    monkeypatch.delenv(results.ROOT_ENV)
    assert results.results_root() == results.PACKAGE_RESULTS


def test_stored_results_live_inside_the_package_and_ship_in_the_wheel():
    """The failure: results in data/results/, outside the package, which a pip-installed
    lrlab (Colab) never has. The folder is the package's own, the same from a clone and from
    an installed wheel, and pyproject ships its JSON files as package data."""
    package = Path(lrlab.__file__).resolve().parent
    assert results.PACKAGE_RESULTS == package / "results_data"
    assert results.PACKAGE_RESULTS.is_dir()
    pyproject = tomllib.loads((package.parent / "pyproject.toml").read_text())
    assert "results_data/*.json" in pyproject["tool"]["setuptools"]["package-data"]["lrlab"]
    assert not (package.parent / "data" / "results").exists()  # one place only


def test_available_lists_the_stored_results(tmp_path):
    assert results.available(tmp_path / "absent") == []
    results.save("b_run", {"x": 1}, {}, root=tmp_path)
    results.save("a_run", {"x": 2}, {}, root=tmp_path)
    (tmp_path / "notes.txt").write_text("not a result")
    assert results.available(tmp_path) == ["a_run", "b_run"]
    assert set(results.available()) == {p.stem for p in results.PACKAGE_RESULTS.glob("*.json")}


def test_a_missing_result_is_reported_clearly(tmp_path):
    results.save("present", {"x": 1}, {}, root=tmp_path)
    with pytest.raises(FileNotFoundError) as error:
        results.load("absent", root=tmp_path)
    message = str(error.value)
    assert "no stored result 'absent'" in message and str(tmp_path) in message
    assert "stored results there: present" in message and lrlab.__version__ in message
    assert results.ROOT_ENV in message


def test_load_or_run_uses_the_stored_result_for_the_same_config(tmp_path, capsys):
    results.save("exp", history(), {"epochs": 200, "lr": 0.1}, root=tmp_path)

    def run(config):
        raise AssertionError("should not run")

    record = results.load_or_run("exp", {"lr": 0.1, "epochs": 200}, run, {}, root=tmp_path)
    assert record["source"] == "stored" and record["result"].to_json() == history().to_json()
    assert "Loaded the stored result" in capsys.readouterr().out


def test_load_or_run_runs_the_cpu_config_when_nothing_matches(tmp_path, capsys):
    calls = []

    def run(config):
        calls.append(config)
        return {"epochs_run": config["epochs"]}

    record = results.load_or_run("exp", {"epochs": 200}, run, {"epochs": 2}, root=tmp_path)
    assert calls == [{"epochs": 2}] and record["result"] == {"epochs_run": 2}
    assert record["source"] == "cpu run" and record["config"] == {"epochs": 2}
    assert "running the CPU-scale configuration" in capsys.readouterr().out
    assert not (tmp_path / "exp.json").exists()  # CPU runs are not stored

    results.save("exp", {"epochs_run": 200}, {"epochs": 200, "lr": 0.1}, root=tmp_path)
    record = results.load_or_run(
        "exp", {"epochs": 200, "lr": 0.2}, run, {"epochs": 2}, root=tmp_path
    )
    out = capsys.readouterr().out
    assert record["source"] == "cpu run" and "different config (keys lr)" in out


def test_bad_names_and_missing_files_are_reported(tmp_path):
    with pytest.raises(ValueError, match="name must be a plain file stem"):
        results.save("../escape", {}, {}, root=tmp_path)
    with pytest.raises(FileNotFoundError, match="no stored result 'absent'"):
        results.load("absent", root=tmp_path)
    with pytest.raises(TypeError, match="config must be a mapping"):
        results.load_or_run("x", [1], lambda c: c, {}, root=tmp_path)


def test_the_readme_says_which_results_are_stored():
    """README.md once promised stored results that did not exist; it now says what is true,
    and this keeps it true as results land (then change its words)."""
    readme = (Path(lrlab.__file__).resolve().parents[1] / "README.md").read_text()
    stored = results.available(results.PACKAGE_RESULTS)
    devices = {
        json.loads((results.PACKAGE_RESULTS / f"{name}.json").read_text())["provenance"]["device"]
        for name in stored
    }
    assert ("None is stored yet" in readme) == (stored == [])
    assert ("no GPU-scale result is stored yet" in readme) == (devices <= {"cpu"})
    assert "data/results" not in readme


def test_a_stored_result_of_the_package_is_shown_by_its_place_in_lrlab(tmp_path, monkeypatch):
    """Pages printed the CI machine's absolute path (/tmp/.../lrlab/results_data/x.json)."""
    monkeypatch.chdir(tmp_path)
    assert results._shown(results.PACKAGE_RESULTS / "x.json") == "lrlab/results_data/x.json"
    assert results._shown(tmp_path / "y.json") == "y.json"
