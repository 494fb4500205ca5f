"""A sweep's grid is checked whole and sized before its first run; configs mean what they
say and their cache keys change exactly when their meaning does; Ray fails fast where no
cluster answers and keeps a local instance on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import lrlab
from lrlab import cli, schedules, sweep
from lrlab.sweep import engines

TINY = {"data": "digits", "model": "mlp", "epochs": 1}


@pytest.fixture
def runs(monkeypatch):
    """The configs that reached training, in order (training itself is skipped)."""
    seen = []

    def run_one(config, **kwargs):
        seen.append(config)
        raise AssertionError("a run started")

    monkeypatch.setattr(engines, "run_one", run_one)
    return seen


# --- 5. grids are checked whole, and sized ---------------------------------------------------


@pytest.mark.parametrize(
    ("last", "message"),
    [
        ({"schedule": {"name": "one_cycle", "pct_start": 0.7, "three_phase": True}}, "pct_start"),
        ({"schedule": {"name": "cosine", "min_lr_ratio": 2.0}}, "min_lr"),
        ({"model_options": {"widht": 64}}, "widht"),
        ({"model": "cnn1d"}, "input_shape"),  # a 1-D net on 8x8 images
        ({"precision": "fp16"}, "fp16"),  # needs a GPU
    ],
    ids=["schedule-value", "ratio", "model-option", "model-shape", "precision"],
)
def test_a_bad_value_in_the_last_config_fails_before_the_first_run(last, message, runs):
    grid = [{**TINY, "lr": [0.05, 0.1], "seed": [0, 1]}, {**TINY, **last}]
    with pytest.raises((ValueError, TypeError), match=rf"config 5 of 5 .*{message}"):
        sweep.run(grid, cache=None, progress=False, device="cpu")
    assert runs == []


def test_the_sweep_announces_its_size_and_asks_for_yes_above_the_threshold(tmp_path, runs):
    seen = []
    grid = {**TINY, "lr": [0.05, 0.1]}
    with pytest.raises(AssertionError, match="a run started"):
        sweep.run(grid, cache=tmp_path, progress=False, device="cpu", confirm=seen.append)
    assert seen == [sweep.Plan(runs=2, cached=0, examples=2 * 1347)] and len(runs) == 1
    runs.clear()
    # Two thousand CIFAR-10 epochs: refused without --yes, before any data is loaded.
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"data": "cifar10", "epochs": 1000, "seed": [0, 1, 2]}))
    argv = ["sweep", str(big), "--cache", str(tmp_path / "c"), "--data-root", str(tmp_path)]
    assert cli.main(argv) == 2
    assert runs == [] and not list(tmp_path.glob("cifar*"))


def test_a_huge_grid_is_counted_not_expanded_without_yes(tmp_path, monkeypatch, capsys):
    def expanded(grid):
        raise AssertionError("the grid was expanded")

    monkeypatch.setattr(engines, "expand", expanded)
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"lr": [0.1] * 100, "seed": list(range(10_000))}))
    assert cli.main(["sweep", str(grid), "--cache", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "the grid has 1,000,000 runs (more than 10,000): pass --yes" in err
    assert sweep.size(json.loads(grid.read_text())) == 1_000_000


# --- 6. configs mean what they say; keys change with the meaning -----------------------------


@pytest.mark.parametrize("value", ["false", "yes", 1, None])
def test_booleans_of_a_schedule_must_be_booleans(value, runs):
    with pytest.raises(TypeError, match=f"three_phase must be True or False, got {value!r}"):
        schedules.one_cycle(1.0, 100, three_phase=value)
    grid = {**TINY, "schedule": {"name": "one_cycle", "three_phase": value}}
    with pytest.raises(TypeError, match="three_phase must be True or False"):
        sweep.run(grid, cache=None, progress=False, device="cpu")
    assert runs == []


def test_equal_meaning_equal_key_and_a_label_is_only_a_name():
    assert sweep.config_key({"lr": 1}) == sweep.config_key({"lr": 1.0})
    ratio = {"name": "cosine", "min_lr_ratio": 0}
    assert sweep.config_key({"schedule": ratio}) == sweep.config_key(
        {"schedule": {**ratio, "min_lr_ratio": 0.0}}
    )
    labelled = {"schedule": {"name": "cosine", "label": "cosine to zero"}}
    assert sweep.config_key(labelled) == sweep.config_key({"schedule": "cosine"})
    assert sweep.config_key({"schedule": "cosine"}) != sweep.config_key({"schedule": "constant"})


def test_a_new_label_reuses_the_cached_run_and_shows_the_new_name(tmp_path, monkeypatch):
    first = sweep.run({**TINY, "schedule": "cosine"}, cache=tmp_path, progress=False, device="cpu")
    monkeypatch.setattr(engines, "run_one", lambda *a, **k: pytest.fail("a run was repeated"))
    named = {**TINY, "schedule": {"name": "cosine", "label": "cosine, to zero"}}
    again = sweep.run(named, cache=tmp_path, progress=False, device="cpu")
    assert again[0]["result"] == first[0]["result"]
    assert sweep.schedule_label(again[0]["config"]) == "cosine, to zero"


def test_a_record_of_another_lrlab_version_is_run_again_with_a_warning(tmp_path):
    first = sweep.run(TINY, cache=tmp_path, progress=False, device="cpu")
    path = tmp_path / f"{first[0]['key']}.json"
    record = json.loads(path.read_text())
    record["result"]["provenance"]["lrlab_version"] = "0.0.1"
    path.write_text(json.dumps(record))
    with pytest.warns(RuntimeWarning, match=r"made by lrlab 0\.0\.1, this is lrlab"):
        sweep.run(TINY, cache=tmp_path, progress=False, device="cpu")
    assert json.loads(path.read_text())["result"]["provenance"]["lrlab_version"] == (
        lrlab.__version__
    )


# --- 7. Ray ----------------------------------------------------------------------------------


def test_an_address_where_nothing_listens_fails_at_once():
    """Before, ray.init waited past 150 s; the check needs no Ray at all."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
            with pytest.raises(ConnectionError, match=f"no Ray cluster answers at {address}"):
                sweep.run(TINY, engine="ray", address=address, cache=None)


#: Runs a sweep on lrlab's local Ray instance in a fresh interpreter (Ray not imported
#: before lrlab imports it) while a thread notes every TCP port that this process and its
#: children (Ray's servers) listen on; prints them as "address port" lines.
_LISTENERS = textwrap.dedent(
    """
    import os, sys, threading

    def family(root):
        found, grew = {root}, True
        while grew:
            grew = False
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except OSError:
                    continue
                if ppid in found and int(pid) not in found:
                    found.add(int(pid))
                    grew = True
        return found

    def listening():
        inodes = set()
        for pid in family(os.getpid()):
            try:
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if link.startswith("socket:["):
                        inodes.add(link[8:-1])
            except OSError:
                continue
        found = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as f:
                for line in f.read().splitlines()[1:]:
                    fields = line.split()
                    if fields[3] == "0A" and fields[9] in inodes:
                        address, port = fields[1].split(":")
                        found.add((address, int(port, 16)))
        return found

    seen, done = set(), threading.Event()

    def watch():
        while not done.is_set():
            seen.update(listening())
            done.wait(0.5)

    watcher = threading.Thread(target=watch)
    watcher.start()
    from lrlab import sweep
    sweep.run(eval(sys.argv[1]), engine="ray", cache=sys.argv[2])
    done.set()
    watcher.join()
    for address, port in sorted(seen):
        print(address, port)
    """
)


@pytest.mark.slow
def test_a_local_ray_instance_listens_on_the_loopback_only(tmp_path):
    """Ray's servers listen on every interface by default (measured with Ray 2.60); the
    one lrlab starts must accept connections from this machine only."""
    pytest.importorskip(
        "ray.tune",
        reason="LOUD SKIP: Ray Tune is not installed, so the Ray engine is NOT tested here; "
        "install the sweep extra (pip install -e '.[sweep]') to run this test",
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
    argv = [sys.executable, "-c", _LISTENERS, repr(TINY), str(tmp_path)]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    listeners = [line.split() for line in out.splitlines()]
    assert len(listeners) >= 3  # the GCS, the raylet, the object manager ...
    loopback = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}
    assert {address for address, _ in listeners} <= loopback, listeners
    assert len(list(tmp_path.glob("*.json"))) == 1
