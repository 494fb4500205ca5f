"""``sgdr``: cosine annealing with warm restarts (Loshchilov & Hutter 2017) against step
decay, at the same peak rate and the same budget of epochs.

Two arms from the same seeds: SGDR with cycles of ``first_cycle_epochs * cycle_mult**k``
epochs, and step decay (divided by 10 at 50% and 75% of the run), both from
``peak_fraction`` times the range test's upper bound. SGDR's claim is about *anytime*
performance, so every run keeps its test accuracy after every epoch, and the cycle ends are
stored: SGDR at the end of each cycle is to be compared with step decay at the same epoch.

>>> SGDR.config()["first_cycle_epochs"], sgdr_cycle_epochs(SGDR.config())
(2, [2, 6, 14, 30])
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from lrlab.experiments.experiment import Experiment
from lrlab.experiments.restarts import common

__all__ = ["ARMS", "SGDR", "sgdr_cycle_epochs", "sgdr_experiment", "sgdr_schedules", "sgdr_work"]

#: The arms: SGDR and the step decay it is compared with.
ARMS = ("sgdr", "step")


def sgdr_schedules(config: Mapping[str, Any], bounds: Mapping[str, float], steps_per_epoch: int):
    """The schedules of :func:`sgdr_experiment`, by name (:data:`ARMS`): both from the peak
    ``peak_fraction * max_lr``.

    Examples
    --------
    >>> import numpy as np
    >>> made = sgdr_schedules(SGDR.config(), {"max_lr": 0.2}, 1)
    >>> steps = np.array([0, 1, 2, 15, 29])
    >>> made["sgdr"](steps).round(4).tolist(), made["step"](steps).round(4).tolist()
    ([0.1, 0.05, 0.1, 0.099, 0.001], [0.1, 0.1, 0.1, 0.01, 0.001])
    """
    from lrlab import schedules

    peak = config["peak_fraction"] * bounds["max_lr"]
    return {
        "sgdr": schedules.sgdr(
            peak, config["first_cycle_epochs"] * steps_per_epoch, cycle_mult=config["cycle_mult"]
        ),
        "step": common.step_decay(peak, config["epochs"] * steps_per_epoch),
    }


def sgdr_cycle_epochs(config: Mapping[str, Any]) -> list[int]:
    """The epochs at which SGDR's complete cycles end within the run.

    Examples
    --------
    >>> sgdr_cycle_epochs({"epochs": 70, "first_cycle_epochs": 10, "cycle_mult": 2})
    [10, 30, 70]
    """
    from lrlab import ensembles, schedules

    schedule = schedules.sgdr(1.0, config["first_cycle_epochs"], cycle_mult=config["cycle_mult"])
    return [end + 1 for end in ensembles.cycle_ends(schedule, config["epochs"])]


def _task(config: dict, arm: str, seed: int, bounds: dict, device: str, data_root: str) -> dict:
    """One run of ``arm`` from ``seed`` (a task of :func:`lrlab._pool.pmap`)."""
    data = common.dataset(config["dataset"], device, data_root)
    per_epoch = data.num_batches("train", config["batch_size"])
    schedule = sgdr_schedules(config, bounds, per_epoch)[arm]
    return common.fit(config, data, schedule, seed)[1]


def sgdr_experiment(
    config: Mapping[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict:
    """SGDR against step decay at the same peak, epochs and seeds.

    Parameters
    ----------
    config : mapping
        :data:`SGDR`'s configuration at a scale.
    device, data_root, progress, jobs
        See :func:`lrlab.experiments.run`.

    Returns
    -------
    dict
        ``{"bounds", "peak", "steps_per_epoch", "num_classes", "cycle_epochs" (the epochs
        at which SGDR's cycles end), "schedules": {arm: repr}, "runs": {arm: [run per
        seed]}, "cpu_time_s"}``; each run as :func:`common.fit` returns it, and
        ``cpu_time_s`` the CPU seconds of the whole experiment (:func:`common.timed_pmap`).
    """
    started = time.process_time()
    data = common.dataset(config["dataset"], str(device), str(data_root))
    per_epoch = data.num_batches("train", config["batch_size"])
    bounds = common.bounds(config, data)
    made = sgdr_schedules(config, bounds, per_epoch)
    tasks = [
        (dict(config), arm, seed, bounds, str(device), str(data_root))
        for arm in ARMS
        for seed in config["seeds"]
    ]
    outputs, elsewhere = common.timed_pmap(_task, tasks, jobs=jobs, progress=progress, desc="sgdr")
    done = iter(outputs)
    return {
        "bounds": bounds,
        "peak": config["peak_fraction"] * bounds["max_lr"],
        "steps_per_epoch": per_epoch,
        "num_classes": data.num_classes,
        "cycle_epochs": sgdr_cycle_epochs(config),
        "schedules": {arm: repr(s) for arm, s in made.items()},
        "runs": {arm: [next(done) for _ in config["seeds"]] for arm in ARMS},
        "cpu_time_s": time.process_time() - started + elsewhere,
    }


def sgdr_work(config: Mapping[str, Any]) -> int:
    """Training examples :func:`sgdr_experiment` draws: the range test, then both arms'
    ``epochs`` passes for every seed.

    Examples
    --------
    >>> sgdr_work(SGDR.config()) == 200 * 128 + 2 * 20 * 30 * 4000
    True
    """
    runs = len(ARMS) * len(config["seeds"])
    return common.range_test_work(config) + runs * common.epochs_work(config, config["epochs"])


SGDR = Experiment(
    name="sgdr",
    chapter="restarts",
    title="Warm restarts against step decay (Loshchilov & Hutter 2017)",
    cite="loshchilov2017sgdr",
    claim=(
        "Cosine annealing with warm restarts has better anytime performance than step decay "
        "and reaches as good or better final accuracy; with WRN-28-10 the paper's single "
        "models reach 4.03% test error on CIFAR-10 and 19.58% on CIFAR-100 (median of 5 "
        "runs), and 3.14% and 16.21% as ensembles of 16 runs of 3 snapshots each."
    ),
    run=sgdr_experiment,
    work=sgdr_work,
    # Cycles of 2, 4, 8 and 16 epochs end at epochs 2, 6, 14 and 30, as the paper's T0 = 10,
    # Tmult = 2 end at 10, 30, 70, 150 of its 200. Both arms start at half the range test's
    # upper bound: at the full bound runs collapse (the snapshot-ensembles experiment
    # measures how often).
    base={
        **common.COMMON,
        "epochs": 30,
        "seeds": list(range(20)),
        "first_cycle_epochs": 2,
        "cycle_mult": 2,
        "peak_fraction": 0.5,
    },
    scales={
        "classroom": {"epochs": 7, "first_cycle_epochs": 1, "seeds": [0, 1, 2]},
        # The paper's cycles (T0 = 10, Tmult = 2) over 150 epochs, ResNet-20 for WRN-28-10.
        "paper": {
            "dataset": "cifar10",
            "model": "resnet20",
            "epochs": 150,
            "first_cycle_epochs": 10,
        },
        "smoke": {**common.SMOKE, "first_cycle_epochs": 1, "cycle_mult": 1},
    },
)
