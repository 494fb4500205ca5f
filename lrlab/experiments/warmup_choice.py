"""The experiments of the chapter "Why warming up lets a larger rate work" (book/warmup)
that choose a warm-up: where to start it, and what it buys at a rate that trains without.

Both train the digits MLP of :func:`lrlab.experiments.warmup.run_one` (square loss, batches
of 128, 30 epochs) with a linear warm-up to a constant target rate.

- ``warmup-start`` (Kalra & Barkeshli 2024): from the sharp start (weights doubled), warm-ups
  of several lengths to a rate that fails without one, starting at 0 or at the catapult's
  edge 2/λ₀ (λ₀ the sharpness at initialisation, as in the edge-of-stability chapter).
- ``warmup-gain``: with a warm-up or without, at target rates that train without one (below
  2/λ₀, or above it where every seed of the map trains), over 20 seeds, for the paired
  comparison of the final test accuracies.

>>> START.config("classroom")["warmups"], len(GAIN.config()["seeds"])
([4, 16], 20)
"""

from __future__ import annotations

from lrlab._pool import pmap
from lrlab.experiments.experiment import TRAIN_EXAMPLES, Experiment, Replace
from lrlab.experiments.warmup import run_one, stack_runs

__all__ = ["EXPERIMENTS", "GAIN", "START", "run_gain", "run_start"]


# --- where to start the warm-up ------------------------------------------------------------


def _start_task(config: dict, edges: float, warmup: int, seed: int, where: dict) -> dict:
    run = {k: config[k] for k in ("data", "hidden", "init_scale", "epochs", "batch_size")}
    run |= {"lr": config["target"], "warmup_steps": warmup, "start_edges": edges, "seed": seed}
    return run_one(run, **where)


def run_start(config, *, device="cpu", data_root="data/cache", progress=False, jobs=1) -> dict:
    """Warm-ups to ``target`` that start at 0 or at a multiple of the catapult's edge 2/λ₀
    (``starts``: name -> multiple), for each warm-up length and seed.

    Returns
    -------
    dict
        ``{start: {"final_loss", "test_acc", ..., "lam0"}}``, indexed [warm-up][seed]
        (:func:`~lrlab.experiments.warmup.stack_runs`; λ₀ is NaN for a start at 0).

    Examples
    --------
    >>> out = run_start(START.config("smoke"))
    >>> out["zero"]["test_acc"] == [[out["zero"]["test_acc"][0][0]]], out["edge"]["lam0"][0][0] > 0
    (True, True)
    """
    where = {"device": str(device), "data_root": str(data_root)}
    tasks = [
        (config, edges, warmup, seed, where)
        for edges in config["starts"].values()
        for warmup in config["warmups"]
        for seed in config["seeds"]
    ]
    done = pmap(_start_task, tasks, jobs=jobs, progress=progress, desc="warm-up start")
    shape = (len(config["warmups"]), len(config["seeds"]))
    size = shape[0] * shape[1]
    return {
        start: stack_runs(done[i * size : (i + 1) * size], shape)
        for i, start in enumerate(config["starts"])
    }


def start_work(config) -> int:
    """Training examples :func:`run_start` draws if nothing diverges.

    Examples
    --------
    >>> start_work(START.config("smoke")) == 2 * 1 * 1 * 1347
    True
    """
    runs = len(config["seeds"]) * len(config["starts"]) * len(config["warmups"])
    return runs * config["epochs"] * TRAIN_EXAMPLES[config["data"]]


START = Experiment(
    name="warmup-start",
    chapter="warmup",
    title="Starting the warm-up at the catapult's edge 2/lambda0 instead of 0",
    cite="kalra2024warmup",
    claim=(
        "Starting the warm-up at the critical rate of the loss catapult, about 2/lambda0, "
        "instead of at 0 saves warm-up steps, in some cases all of them (Kalra & "
        "Barkeshli 2024)."
    ),
    run=run_start,
    work=start_work,
    # The sharp start (weights doubled), SGD to 1.0, which fails without warm-up.
    base={
        "data": "digits",
        "hidden": [64, 64],
        "init_scale": 2.0,
        "epochs": 30,
        "batch_size": 128,
        "target": 1.0,
        "starts": {"zero": 0.0, "edge": 1.0},  # the start rate in units of 2/λ₀
        "warmups": [2, 4, 6, 8, 12, 16, 24, 32],
        "loss_threshold": 0.1,
        "seeds": list(range(10)),
    },
    scales={
        "classroom": {"warmups": [4, 16], "seeds": [0, 1]},
        "paper": {
            "data": "cifar10",
            "hidden": [512, 512, 512],
            "batch_size": 512,
            "target": 0.1,
            "warmups": [16, 64, 256, 1024],
            "seeds": [0, 1, 2],
        },
        "smoke": {"epochs": 1, "target": 0.01, "warmups": [2], "seeds": [0]},
    },
)


# --- what a warm-up buys at a rate that trains without one ---------------------------------


def _gain_task(config: dict, arm: dict, warmup: int, seed: int, where: dict) -> dict:
    run = {k: config[k] for k in ("data", "hidden", "epochs", "batch_size")}
    return run_one({**run, **arm, "warmup_steps": warmup, "seed": seed}, **where)


def run_gain(config, *, device="cpu", data_root="data/cache", progress=False, jobs=1) -> dict:
    """For each arm (an initialisation, optimizer and target rate: ``lr``, or ``lr_edges``
    × 2/λ₀ of each seed's network), the runs without warm-up and with ``warmup`` steps.

    Returns
    -------
    dict
        ``{arm: {"none": {...}, "warmup": {...}}}``, each the numbers of
        :func:`~lrlab.experiments.warmup.stack_runs` per seed.

    Examples
    --------
    >>> out = run_gain(GAIN.config("smoke"))
    >>> sorted(out["sgd-stable"]), len(out["sgd-stable"]["none"]["test_acc"])
    (['none', 'warmup'], 1)
    """
    where = {"device": str(device), "data_root": str(data_root)}
    lengths = {"none": 0, "warmup": config["warmup"]}
    tasks = [
        (config, arm, warmup, seed, where)
        for arm in config["arms"].values()
        for warmup in lengths.values()
        for seed in config["seeds"]
    ]
    done = iter(pmap(_gain_task, tasks, jobs=jobs, progress=progress, desc="warm-up gain"))
    seeds = len(config["seeds"])
    return {
        arm: {name: stack_runs([next(done) for _ in range(seeds)], (seeds,)) for name in lengths}
        for arm in config["arms"]
    }


def gain_work(config) -> int:
    """Training examples :func:`run_gain` draws if nothing diverges.

    Examples
    --------
    >>> gain_work(GAIN.config("smoke")) == 3 * 2 * 1 * 1347
    True
    """
    runs = len(config["arms"]) * 2 * len(config["seeds"])
    return runs * config["epochs"] * TRAIN_EXAMPLES[config["data"]]


GAIN = Experiment(
    name="warmup-gain",
    chapter="warmup",
    title="What a warm-up buys in accuracy at a target rate that trains without one",
    cite="kalra2024warmup",
    claim=(
        "Warm-up's benefit is the larger target rate it makes trainable; at a target that "
        "is already stable it is not needed (Kalra & Barkeshli 2024)."
    ),
    run=run_gain,
    work=gain_work,
    base={
        "data": "digits",
        "hidden": [64, 64],
        "epochs": 30,
        "batch_size": 128,
        "warmup": 32,
        "arms": {
            # Below the edge 2/λ₀ at initialisation: stable from the first step.
            "sgd-stable": {"init_scale": 1.0, "optimizer": "sgd", "lr_edges": 0.9},
            "sgd-sharp-stable": {"init_scale": 2.0, "optimizer": "sgd", "lr_edges": 0.9},
            # Above the edge, but training without warm-up for every seed of the map.
            "sgd": {"init_scale": 1.0, "optimizer": "sgd", "lr": 0.5},
            "adam": {"init_scale": 1.0, "optimizer": "adam", "momentum": 0.9, "lr": 2.0**-7},
        },
        "seeds": list(range(20)),
    },
    scales={
        "classroom": {"seeds": [0, 1, 2]},
        # CIFAR-10: the rates in units of 2/λ₀ carry over; the absolute ones are replaced.
        "paper": {
            "data": "cifar10",
            "hidden": [512, 512, 512],
            "batch_size": 512,
            "arms": Replace(
                {
                    "sgd-stable": {"init_scale": 1.0, "optimizer": "sgd", "lr_edges": 0.9},
                    "sgd-sharp-stable": {"init_scale": 2.0, "optimizer": "sgd", "lr_edges": 0.9},
                    "sgd": {"init_scale": 1.0, "optimizer": "sgd", "lr_edges": 3.0},
                    "adam": {"init_scale": 1.0, "optimizer": "adam", "momentum": 0.9, "lr": 1e-4},
                }
            ),
            "seeds": [0, 1, 2],
        },
        "smoke": {
            "epochs": 1,
            "arms": Replace(
                {
                    "sgd-stable": {"init_scale": 1.0, "optimizer": "sgd", "lr_edges": 0.5},
                    "sgd": {"init_scale": 1.0, "optimizer": "sgd", "lr": 0.01},
                    "adam": {"init_scale": 1.0, "optimizer": "adam", "momentum": 0.9, "lr": 1e-3},
                }
            ),
            "warmup": 2,
            "seeds": [0],
        },
    },
)

#: The experiments of this module.
EXPERIMENTS = (START, GAIN)
