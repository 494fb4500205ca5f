"""``clr``: cyclical learning rates (Smith 2017) against a constant rate and step decay.

Five arms over the same epochs and the same seeds (seed ``s`` gives every arm the same
initial weights and batch order, so the arms can be compared seed by seed): a constant rate
at the geometric mean of the bounds, step decay from the upper bound, and
:func:`lrlab.schedules.cyclic` in the modes ``triangular``, ``triangular2`` and
``exp_range`` between the bounds.

>>> CLR.config("classroom")["epochs"], len(CLR.config()["seeds"])
(8, 20)
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from lrlab.experiments.experiment import Experiment
from lrlab.experiments.restarts import common

__all__ = ["ARMS", "CLR", "clr_experiment", "clr_schedules", "clr_work"]

#: The arms, in the order the chapter shows them.
ARMS = ("constant", "step", "triangular", "triangular2", "exp_range")


def clr_schedules(config: Mapping[str, Any], bounds: Mapping[str, float], steps_per_epoch: int):
    """The schedules :func:`clr_experiment` compares, by name (:data:`ARMS`).

    ``constant`` at the geometric mean of the bounds, ``step`` from ``max_lr`` divided by
    10 at 50% and 75% of the run, and :func:`lrlab.schedules.cyclic` in the modes
    ``triangular``, ``triangular2`` and ``exp_range`` between the bounds, with half-cycles
    of ``step_size_epochs`` epochs (Smith 2017 recommends 2 to 10); ``exp_range``'s
    amplitude halves every ``exp_range_halving_epochs`` epochs.

    Examples
    --------
    >>> made = clr_schedules(CLR.config(), {"base_lr": 0.01, "max_lr": 0.1}, 10)
    >>> list(made) == list(ARMS), made["triangular"](np.array([0, 30, 60])).round(3).tolist()
    (True, [0.01, 0.1, 0.01])
    """
    from lrlab import schedules

    base_lr, max_lr = bounds["base_lr"], bounds["max_lr"]
    total = config["epochs"] * steps_per_epoch
    half = config["step_size_epochs"] * steps_per_epoch
    gamma = 0.5 ** (1 / (config["exp_range_halving_epochs"] * steps_per_epoch))
    return {
        "constant": schedules.constant(float(np.sqrt(base_lr * max_lr))),
        "step": common.step_decay(max_lr, total),
        **{
            mode: schedules.cyclic(base_lr, max_lr, half, mode=mode, gamma=gamma)
            for mode in ("triangular", "triangular2", "exp_range")
        },
    }


def _task(config: dict, arm: str, seed: int, bounds: dict, device: str, data_root: str) -> dict:
    """One run of ``arm`` from ``seed`` (a task of :func:`lrlab._pool.pmap`)."""
    data = common.dataset(config["dataset"], device, data_root)
    per_epoch = data.num_batches("train", config["batch_size"])
    schedule = clr_schedules(config, bounds, per_epoch)[arm]
    return common.fit(config, data, schedule, seed)[1]


def clr_experiment(
    config: Mapping[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict:
    """Cyclical rates against a constant rate and step decay, over seeds.

    The bounds come from one range test (:func:`common.bounds`); every arm of
    :func:`clr_schedules` is trained from every seed of ``config["seeds"]``, one task each.

    Parameters
    ----------
    config : mapping
        :data:`CLR`'s configuration at a scale.
    device, data_root, progress, jobs
        See :func:`lrlab.experiments.run`.

    Returns
    -------
    dict
        ``{"bounds": {"base_lr", "max_lr"}, "steps_per_epoch", "num_classes",
        "schedules": {arm: repr}, "runs": {arm: [run per seed]}, "cpu_time_s"}``; each run
        as :func:`common.fit` returns it, and ``cpu_time_s`` the CPU seconds of the whole
        experiment (:func:`common.timed_pmap`).
    """
    started = time.process_time()
    data = common.dataset(config["dataset"], str(device), str(data_root))
    per_epoch = data.num_batches("train", config["batch_size"])
    bounds = common.bounds(config, data)
    made = clr_schedules(config, bounds, per_epoch)
    tasks = [
        (dict(config), arm, seed, bounds, str(device), str(data_root))
        for arm in ARMS
        for seed in config["seeds"]
    ]
    outputs, elsewhere = common.timed_pmap(_task, tasks, jobs=jobs, progress=progress, desc="clr")
    done = iter(outputs)
    return {
        "bounds": bounds,
        "steps_per_epoch": per_epoch,
        "num_classes": data.num_classes,
        "schedules": {arm: repr(s) for arm, s in made.items()},
        "runs": {arm: [next(done) for _ in config["seeds"]] for arm in ARMS},
        "cpu_time_s": time.process_time() - started + elsewhere,
    }


def clr_work(config: Mapping[str, Any]) -> int:
    """Training examples :func:`clr_experiment` draws: the range test, then every arm's
    ``epochs`` passes for every seed.

    Examples
    --------
    >>> clr_work(CLR.config()) == 200 * 128 + 5 * 20 * 30 * 4000
    True
    """
    runs = len(ARMS) * len(config["seeds"])
    return common.range_test_work(config) + runs * common.epochs_work(config, config["epochs"])


CLR = Experiment(
    name="clr",
    chapter="restarts",
    title="Cyclical learning rates reach a fixed rate's accuracy in fewer steps (Smith 2017)",
    cite="smith2017cyclical",
    claim=(
        "Letting the rate cycle between two bounds reaches the accuracy of a tuned fixed "
        "rate in fewer iterations: on CIFAR-10 the paper's triangular2 policy reaches 81.4% "
        "in 25,000 iterations, which the fixed rate needs 70,000 iterations for."
    ),
    run=clr_experiment,
    work=clr_work,
    base={
        **common.COMMON,
        "epochs": 30,
        "seeds": list(range(20)),
        # five full cycles of 6 epochs; Smith recommends half-cycles of 2 to 10 epochs
        "step_size_epochs": 3,
        # exp_range: the amplitude halves every cycle
        "exp_range_halving_epochs": 6,
    },
    scales={
        "classroom": {
            "epochs": 8,
            "seeds": [0, 1],
            "step_size_epochs": 1,
            "exp_range_halving_epochs": 2,
        },
        # Smith's CIFAR-10 setting: batch 100, 70,000 iterations (140 epochs), a half-cycle
        # of 2,000 iterations (4 epochs); our small CNN stands in for Caffe's CIFAR-10 net.
        "paper": {
            "dataset": "cifar10",
            "model": "small_cnn",
            "batch_size": 100,
            "epochs": 140,
            "step_size_epochs": 4,
            "exp_range_halving_epochs": 8,
        },
        "smoke": {**common.SMOKE, "step_size_epochs": 1, "exp_range_halving_epochs": 2},
    },
)
