"""Faults a learning-rate lab must survive: runs that diverge, files that are damaged, a sweep
killed mid-grid. Each test names the failure it catches; the references are runs that met
no fault (an uninterrupted sweep, a fresh cache) and closed forms (the float32 range)."""

from __future__ import annotations

import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from lrlab import data, models, results, sweep, train

#: Full-batch gradient descent on the digits (one step an epoch) at rate 324.4: the loss
#: of every step is finite, but after the fourth step the test loss is NaN (measured), the
#: case of 19 of 60 rates in [3, 3e4] that stopped `lrlab sweep` for good.
FULL_BATCH = {"data": "digits", "batch_size": 2048, "momentum": 0.0, "weight_decay": 0.0}
NAN_AFTER_FOUR = {**FULL_BATCH, "lr": 324.4, "epochs": 5}


def _metrics(result: dict) -> dict:
    """A run's numbers, without what differs between two runs of it (time, provenance)."""
    return {k: v for k, v in result.items() if k not in ("wall_time_s", "provenance")}


class NaNWhenEvaluated(nn.Module):
    """A classifier whose test-time outputs are NaN (training outputs are not): the
    weights broken by an epoch's last step, as the test set sees them."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(64, 10)

    def forward(self, x):
        out = self.linear(x.flatten(1))
        return out if self.training else out * math.nan


# --- 1. divergence is a result ----------------------------------------------------------------


def test_a_non_finite_test_loss_marks_the_run_diverged_at_the_epochs_last_step(digits):
    """Catches a run whose weights are broken after an epoch being reported as trained."""
    history = train.fit(NaNWhenEvaluated(), digits, 0.1, 3, progress=False)
    steps = digits.num_batches("train", 128)
    assert history.diverged_at_step == steps - 1 and history.steps == steps
    assert history.test_loss == [] and history.epochs == 0  # the broken epoch is not kept
    assert "diverged at step 10" in history.table()


def test_a_rate_beyond_float32_diverges_where_it_starts_instead_of_raising(digits):
    """float32 holds at most (2 - 2**-23) * 2**127 (about 3.4e38); PyTorch's SGD raises
    RuntimeError for a rate above it. Here the rate passes that bound at step 3."""
    limit = (2 - 2**-23) * 2.0**127
    assert limit == torch.finfo(torch.float32).max
    schedule = [1e-3, 1e-3, 1e-3, 3.5e38, 1e-3, 1e-3]  # six steps of 256 examples
    torch.manual_seed(0)
    net = models.build("mlp", 10, digits.input_shape)
    history = train.fit(net, digits, lambda t: schedule[t], 1, progress=False, batch_size=256)
    assert history.diverged_at_step == 3 and history.lr == schedule[:4]
    assert all(math.isfinite(v) for v in history.loss[:3]) and math.isnan(history.loss[3])


def test_a_sweep_with_a_rate_whose_test_loss_turns_nan_finishes_and_caches_it(tmp_path):
    """The first fault of the issue: one such run made every `lrlab sweep` rerun fail with
    "Out of range float values are not JSON compliant", and nothing was cached."""
    grid = {**NAN_AFTER_FOUR, "lr": [3.0, 324.4, 1e39]}
    records = sweep.run(grid, cache=tmp_path, progress=False, device="cpu")
    assert [r["result"]["diverged"] for r in records] == [False, True, True]
    assert [r["result"]["steps"] for r in records] == [5, 4, 1]
    assert records[2]["result"]["final_test_acc"] is None  # diverged in its first epoch
    assert len(list(tmp_path.glob("*.json"))) == 3
    again = sweep.run(grid, cache=tmp_path, progress=False, device="cpu")
    assert [r["result"] for r in again] == [r["result"] for r in records]
    # Both engines agree on where each run diverged.
    stacked = sweep.run(grid, engine="vmap", cache=None, progress=False, device="cpu")
    assert [(r["result"]["diverged"], r["result"]["steps"]) for r in stacked] == [
        (False, 5),
        (True, 4),
        (True, 1),
    ]


def test_non_finite_numbers_of_a_record_are_stored_and_read_back(tmp_path):
    """Records go through the codec of lrlab.results: NaN and inf as strings on disk."""
    import lrlab

    result = {"test_loss": [1.0, math.nan], "best_test_loss": math.inf, "diverged": True}
    result["provenance"] = {"lrlab_version": lrlab.__version__}
    config = sweep.normalize({})
    sweep.engines._store(tmp_path, "k", config, result)
    text = (tmp_path / "k.json").read_text()
    assert '"nan"' in text and '"inf"' in text and "NaN" not in text
    assert json.loads(text)  # strict JSON
    back = sweep.engines._cached(tmp_path, "k", config)
    assert math.isnan(back["test_loss"][1]) and back["best_test_loss"] == math.inf


def test_results_save_stores_nan_in_a_plain_dict(tmp_path):
    path = results.save("plain", {"loss": math.nan, "x": [math.inf]}, {"lr": 1.0}, root=tmp_path)
    assert json.loads(path.read_text())["result"] == {"loss": "nan", "x": ["inf"]}
    loaded = results.load("plain", root=tmp_path)["result"]
    assert math.isnan(loaded["loss"]) and loaded["x"] == [math.inf]


# --- 2. a damaged file is named, and recovered when it can be ------------------------------


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # truncated
        lambda text: "",  # empty
        lambda text: '{"key": "x"}',  # JSON, but no record
        lambda text: "\xff\xfe garbage",  # not even text
    ],
    ids=["truncated", "empty", "no-record", "binary"],
)
def test_a_damaged_cache_entry_is_named_and_run_again(tmp_path, damage):
    grid = {"data": "digits", "epochs": 1, "seed": [0, 1]}
    first = sweep.run(grid, cache=tmp_path, progress=False, device="cpu")
    path = tmp_path / f"{first[1]['key']}.json"
    path.write_bytes(damage(path.read_text()).encode("utf-8", "surrogateescape"))
    with pytest.warns(RuntimeWarning, match=str(path)):
        again = sweep.run(grid, cache=tmp_path, progress=False, device="cpu")
    assert [_metrics(r["result"]) for r in again] == [_metrics(r["result"]) for r in first]
    assert json.loads(path.read_text())["key"] == first[1]["key"]  # rewritten whole


def test_a_damaged_results_file_is_named(tmp_path):
    results.save("run", {"acc": 0.5}, {"lr": 0.1}, root=tmp_path)
    path = tmp_path / "run.json"
    path.write_text(path.read_text()[:40])
    with pytest.raises(ValueError, match=rf"{path}: results file is damaged"):
        results.load("run", root=tmp_path)
    path.write_text('{"name": "run"}')
    with pytest.raises(ValueError, match=rf"{path}: .* lacks config, result, provenance"):
        results.load("run", root=tmp_path)


def test_a_damaged_mnist1d_cache_is_generated_again(mnist1d, tmp_path):
    """The reference is the session's freshly generated MNIST-1D."""
    cache = tmp_path / "mnist1d.pt"
    for damaged in (b"not a torch file", _torch_bytes({"train_x": torch.zeros(3)})):
        cache.write_bytes(damaged)
        with pytest.warns(RuntimeWarning, match=str(cache)):
            again = data.load("mnist1d", root=tmp_path, device="cpu")
        assert torch.equal(again.raw("train")[0], mnist1d.raw("train")[0])
        assert torch.equal(again.raw("test")[1], mnist1d.raw("test")[1])
        assert torch.load(cache, weights_only=True).keys() >= {"train_x", "test_y"}


def test_a_forged_cifar_cache_with_the_right_md5_is_derived_again(tmp_path, monkeypatch):
    from cifar_fixture import write_archive

    archive = write_archive(tmp_path / "mirror")
    monkeypatch.setitem(data.SOURCES, "cifar10", archive.source)
    root = tmp_path / "cache"
    data.load("cifar10", root=root, device="cpu")
    blob = torch.load(root / "cifar10.pt", weights_only=True)
    forged = {**blob, "train_x": torch.zeros_like(blob["train_x"])}  # md5 field kept
    (root / "cifar10.pt").write_bytes(_torch_bytes(forged))
    with pytest.warns(RuntimeWarning, match="do not match their recorded SHA-256"):
        loaded = data.load("cifar10", root=root, device="cpu", download=False)
    assert torch.equal(loaded.raw("train")[0], torch.from_numpy(archive.train_x))
    wrong_shape = {**blob, "train_x": blob["train_x"][:, :1]}
    (root / "cifar10.pt").write_bytes(_torch_bytes(wrong_shape))
    with pytest.warns(RuntimeWarning, match=r"not \(n, 3, 32, 32\) uint8"):
        data.load("cifar10", root=root, device="cpu", download=False)


def test_a_broken_checkpoint_is_named_with_how_to_start_afresh(digits, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    train.fit(
        nn.Sequential(nn.Flatten(), nn.Linear(64, 10)),
        digits,
        0.1,
        1,
        checkpoint=ckpt,
        progress=False,
    )
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.raises(ValueError, match=rf"checkpoint {ckpt} cannot be read.*delete it"):
        train.fit(
            nn.Sequential(nn.Flatten(), nn.Linear(64, 10)),
            digits,
            0.1,
            2,
            checkpoint=ckpt,
            resume=True,
            progress=False,
        )


def _torch_bytes(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


# --- the fault test: kill a sweep mid-grid, damage its cache, rerun ----------------------------

#: Runs `lrlab sweep` (its main, in this process) with the third and later runs held back
#: until the test kills the process: SIGKILL lands while a run is in progress, after two
#: records were written, whatever the machine's speed.
_HELD_SWEEP = """
import sys, time
import lrlab.sweep.engines as engines
real, calls = engines.run_one, []
def run_one(config, **kw):
    calls.append(config["seed"])
    if len(calls) > 2:
        time.sleep(600)
    return real(config, **kw)
engines.run_one = run_one
from lrlab.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_sweep_killed_mid_grid_with_a_damaged_entry_resumes_to_the_same_records(tmp_path):
    grid_file = tmp_path / "grid.json"
    grid = {"data": "digits", "epochs": 1, "lr": [0.05, 0.1], "seed": [0, 1, 2]}
    grid_file.write_text(json.dumps(grid))
    cache = tmp_path / "cache"
    argv = ["sweep", str(grid_file), "--cache", str(cache), "--device", "cpu", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _HELD_SWEEP, *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while len(list(cache.glob("*.json"))) < 2 and proc.poll() is None:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    entries = sorted(cache.glob("*.json"))
    assert proc.returncode == -signal.SIGKILL and len(entries) == 2
    entries[0].write_text(entries[0].read_text()[:50])  # a damaged (truncated) entry
    with pytest.warns(RuntimeWarning, match=str(entries[0])):
        resumed = sweep.run(grid, cache=cache, progress=False, device="cpu")
    uninterrupted = sweep.run(grid, cache=None, progress=False, device="cpu")
    assert [r["key"] for r in resumed] == [r["key"] for r in uninterrupted]
    assert [_metrics(r["result"]) for r in resumed] == [
        _metrics(r["result"]) for r in uninterrupted
    ]
    assert len(list(cache.glob("*.json"))) == 6 and not list(cache.glob(".*.tmp"))
