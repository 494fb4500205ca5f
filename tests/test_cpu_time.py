"""The CPU time an experiment records in its provenance: every process's share, counted."""

from __future__ import annotations

import time

import pytest

from lrlab import _pool, experiments, results
from lrlab.experiments.experiment import Experiment


def _busy(n: int) -> float:
    """Burn some CPU and return this task's own CPU seconds (the reference)."""
    start = time.process_time()
    total = 0
    for i in range(n):
        total += i * i
    return time.process_time() - start + 0 * total


def _run(config, *, device, data_root, progress, jobs):
    return {"own": _pool.pmap(_busy, [(config["n"],)] * 4, jobs=jobs)}


@pytest.mark.parametrize("jobs", [1, 2])
def test_cpu_time_counts_the_tasks_of_every_process(jobs, monkeypatch, tmp_path):
    """Catches a measurement that misses the worker processes (RUSAGE_SELF alone would
    count none of their time): the recorded CPU time is at least the sum of what each task
    measured of itself with time.process_time, however many processes ran them."""
    tiny = Experiment(
        name="busy",
        chapter="none",
        title="Busy",
        claim="Nothing.",
        cite="",
        run=_run,
        base={"n": 2_000_000, "seeds": [0]},
        scales={"classroom": {}, "paper": {}, "smoke": {}},
        work=lambda config: 0,
    )
    monkeypatch.setitem(experiments.EXPERIMENTS, "busy", tiny)
    record = experiments.store("busy", root=tmp_path, progress=False, jobs=jobs)
    own = sum(record["result"]["own"])
    assert own > 0
    assert record["provenance"]["cpu_time_s"] >= 0.95 * own
    # the page says what the provenance measured, halved for two cores
    two_cores = record["provenance"]["cpu_time_s"] / 120
    assert f"that is {two_cores:.1f} minutes on two cores" in results.source_note(record)


def test_cpu_seconds_never_decreases():
    first = _pool.cpu_seconds()
    _busy(100_000)
    assert _pool.cpu_seconds() >= first
