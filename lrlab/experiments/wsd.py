"""The experiments of the chapter "Warmup-stable-decay and the river valley".

On MNIST-1D (Greydanus 2020) with the 1-D CNN of :mod:`lrlab.models`, SGD with momentum:

- ``wsd-cooldown`` (:func:`run_cooldown`): warmup-stable-decay (:func:`lrlab.schedules.wsd`)
  with cooldowns of several lengths and shapes, against cosine (to 0 and to 10%), linear
  decay to zero and the constant rate, all at the same budget and on the same grid of peak
  rates, over seeds. The WSD runs of one seed and rate share their stable phase
  (:func:`lrlab.branching.branch_cooldowns`); each is bit for bit the run it stands for.
- ``wsd-branching`` (:func:`run_branching`): one stable run per seed, a cooldown branched
  from it for each horizon, against a separate cosine run for each horizon: the frontier of
  accuracy against compute from one run (Hägele et al. 2024).

Every (rate, seed) or (seed, horizon) is one task for :func:`lrlab._pool.pmap`; each task
records its own CPU time (``cpu_s``), the bill of the stored run.

>>> COOLDOWN.config("classroom")["epochs"], BRANCHING.config()["horizons"]
(10, [10, 20, 30, 40])
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping
from typing import Any

from lrlab import _check
from lrlab._pool import pmap
from lrlab.experiments.experiment import TRAIN_EXAMPLES, Experiment

__all__ = [
    "BASELINES",
    "BRANCHING",
    "COOLDOWN",
    "EXPERIMENTS",
    "arm_name",
    "baseline_schedule",
    "branching_work",
    "cooldown_work",
    "cooldowns",
    "run_branching",
    "run_cooldown",
]

#: The schedules WSD is compared with, by name: each decays over the whole run.
BASELINES = ("cosine", "cosine to 10%", "linear to 0")

_COMMON = {
    "dataset": "mnist1d",
    "model": "cnn1d",
    "batch_size": 128,
    "momentum": 0.9,
    "weight_decay": 5e-4,
}
# The paper-sized variant: ResNet-20 on CIFAR-10 for a GPU.
_PAPER = {"dataset": "cifar10", "model": "resnet20", "weight_decay": 1e-4}


@functools.lru_cache(maxsize=2)
def _dataset(name: str, device: str, root: str):
    """The data set, loaded once per process."""
    from lrlab import data

    return data.load(name, root=root, device=device)


def _run(history) -> dict:
    """What the chapter reads of one run: its per-epoch series (losses to 5 decimals)."""
    return {
        "test_acc": list(history.test_acc),
        "test_loss": [round(v, 5) for v in history.test_loss],
        "train_loss": [round(v, 5) for v in history.train_loss],
    }


def _fit_options(config: Mapping, seed: int) -> dict:
    return {
        "batch_size": config["batch_size"],
        "momentum": config["momentum"],
        "weight_decay": config["weight_decay"],
        "seed": seed,
        "progress": False,
    }


def _build(config: Mapping, dataset, seed: int):
    from lrlab import models

    return models.build(config["model"], dataset.num_classes, dataset.input_shape, seed=seed)


def arm_name(fraction: float, shape: str) -> str:
    """The name of a WSD arm in results and tables.

    Examples
    --------
    >>> arm_name(0.2, "1-sqrt")
    'wsd 20% 1-sqrt'
    """
    return f"wsd {round(100 * fraction)}% {shape}"


def cooldowns(config: Mapping) -> dict:
    """The WSD arms of :func:`run_cooldown` as :class:`lrlab.branching.Cooldown`, by name.

    A cooldown of ``fraction`` lasts ``round(fraction * epochs)`` epochs, at least 1, and
    starts from the stable run's checkpoint after the rest.

    Examples
    --------
    >>> made = cooldowns({"epochs": 30, "fractions": [0.1, 0.4], "shapes": ["linear"]})
    >>> {name: (c.start, c.epochs) for name, c in made.items()}
    {'wsd 10% linear': (27, 3), 'wsd 40% linear': (18, 12)}
    """
    from lrlab.branching import Cooldown

    epochs = _check.integer("epochs", config["epochs"], minimum=2)
    made = {}
    for fraction in config["fractions"]:
        _check.number("fractions", fraction, 0, 1, low_open=True, high_open=True)
        length = min(max(1, round(fraction * epochs)), epochs - 1)
        for shape in config["shapes"]:
            made[arm_name(fraction, shape)] = Cooldown(epochs - length, length, shape)
    return made


def baseline_schedule(name: str, lr: float, total_steps: int):
    """One of :data:`BASELINES` at peak ``lr`` over ``total_steps``.

    ``cosine`` decays to 0, ``cosine to 10%`` to ``lr / 10`` (the usual language-model
    recipe that Bergsma et al. 2025 compare with), ``linear to 0`` is
    ``polynomial(lr, total_steps, power=1)`` (Defazio et al. 2023).

    Examples
    --------
    >>> baseline_schedule("cosine to 10%", 0.2, 100)
    cosine(lr=0.2, total_steps=100, min_lr=0.020000000000000004)
    """
    from lrlab import schedules

    name = _check.choice("baseline", name, BASELINES)
    if name == "cosine":
        return schedules.cosine(lr, total_steps)
    if name == "cosine to 10%":
        return schedules.cosine(lr, total_steps, min_lr=0.1 * lr)
    return schedules.polynomial(lr, total_steps, power=1.0)


# --- cooldown lengths and shapes ------------------------------------------------------------


def _cooldown_task(config: dict, lr: float, seed: int, device: str, data_root: str) -> dict:
    """One (rate, seed) of :func:`run_cooldown`: the branched WSD arms with the constant run,
    then each baseline."""
    from lrlab import branching, train

    started = time.process_time()
    dataset = _dataset(config["dataset"], device, data_root)
    epochs = config["epochs"]
    arms = cooldowns(config)
    options = _fit_options(config, seed)
    stable, branches = branching.branch_cooldowns(
        _build(config, dataset, seed),
        dataset,
        lr,
        list(arms.values()),
        stable_epochs=epochs,
        **options,
    )
    runs = {"constant": _run(stable)}
    runs.update({name: _run(h) for name, h in zip(arms, branches, strict=True)})
    total = epochs * dataset.num_batches("train", config["batch_size"])
    for name in config["baselines"]:
        schedule = baseline_schedule(name, lr, total)
        history = train.fit(_build(config, dataset, seed), dataset, schedule, epochs, **options)
        runs[name] = _run(history)
    return {
        "runs": runs,
        "steps_per_epoch": dataset.num_batches("train", config["batch_size"]),
        "cpu_s": time.process_time() - started,
    }


def run_cooldown(
    config: Mapping[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict:
    """WSD's cooldowns against cosine, linear decay and a constant rate, per rate and seed.

    For every peak rate in ``lrs`` and seed: one stable run at that rate for ``epochs``
    epochs (the ``constant`` arm), with the WSD arms of :func:`cooldowns` branched from its
    checkpoints (:func:`lrlab.branching.branch_cooldowns`), and one run of each of
    ``baselines`` (:func:`baseline_schedule`) over the same ``epochs``. The same seed gives
    every arm the same initial weights and data order (paired arms).

    Parameters
    ----------
    config : mapping
        :data:`COOLDOWN`'s configuration at a scale: the data and optimizer keys, ``epochs``,
        ``lrs``, ``seeds``, ``fractions``, ``shapes``, ``baselines``.
    device, data_root, progress, jobs
        See :func:`lrlab.experiments.run`.

    Returns
    -------
    dict
        ``{"steps_per_epoch", "arms": [names], "runs": {lr: {arm: [run per seed]}},
        "cpu_s": [per task]}`` with the rates as strings (``str(lr)``); a run has the
        per-epoch ``test_acc``, ``test_loss`` and ``train_loss``.
    """
    lrs = [_check.number("lrs", lr, low=0, low_open=True) for lr in config["lrs"]]
    seeds = [_check.integer("seeds", s, minimum=0) for s in config["seeds"]]
    for name in config["baselines"]:
        _check.choice("baselines", name, BASELINES)
    arms = ["constant", *cooldowns(config), *config["baselines"]]
    tasks = [(dict(config), lr, seed, str(device), str(data_root)) for lr in lrs for seed in seeds]
    done = iter(pmap(_cooldown_task, tasks, jobs=jobs, progress=progress, desc="wsd cooldowns"))
    runs, cpu, per_epoch = {}, [], None
    for lr in lrs:
        per_seed = [next(done) for _ in seeds]
        cpu += [one["cpu_s"] for one in per_seed]
        per_epoch = per_seed[0]["steps_per_epoch"]
        runs[str(lr)] = {arm: [one["runs"][arm] for one in per_seed] for arm in arms}
    return {"steps_per_epoch": per_epoch, "arms": arms, "runs": runs, "cpu_s": cpu}


def cooldown_work(config: Mapping[str, Any]) -> int:
    """Training examples :func:`run_cooldown` processes: per rate and seed, the stable run's
    ``epochs``, every cooldown's epochs and each baseline's ``epochs``.

    Examples
    --------
    >>> small = {"dataset": "mnist1d", "epochs": 10, "lrs": [0.1], "seeds": [0, 1],
    ...          "fractions": [0.2], "shapes": ["linear", "1-sqrt"], "baselines": ["cosine"]}
    >>> cooldown_work(small) == 2 * (10 + 2 + 2 + 10) * 4000
    True
    """
    cooling = sum(c.epochs for c in cooldowns(config).values())
    per_task = config["epochs"] * (1 + len(config["baselines"])) + cooling
    runs = len(config["lrs"]) * len(config["seeds"])
    return runs * per_task * TRAIN_EXAMPLES[config["dataset"]]


# --- branching: the frontier from one run ---------------------------------------------------


def _horizon_cooldowns(config: Mapping) -> list:
    """One :class:`lrlab.branching.Cooldown` per horizon: its last ``fraction`` cools down."""
    from lrlab.branching import Cooldown

    made = []
    for horizon in config["horizons"]:
        horizon = _check.integer("horizons", horizon, minimum=2)
        length = min(max(1, round(config["fraction"] * horizon)), horizon - 1)
        made.append(Cooldown(horizon - length, length, config["shape"]))
    return made


def _branching_task(config: dict, seed: int, device: str, data_root: str) -> dict:
    """One seed of :func:`run_branching`'s WSD side: the stable run and its branches."""
    from lrlab import branching

    started = time.process_time()
    dataset = _dataset(config["dataset"], device, data_root)
    stable, branches = branching.branch_cooldowns(
        _build(config, dataset, seed),
        dataset,
        config["lr"],
        _horizon_cooldowns(config),
        **_fit_options(config, seed),
    )
    return {
        "constant": _run(stable),
        "wsd": [_run(h) for h in branches],
        "cpu_s": time.process_time() - started,
    }


def _cosine_task(config: dict, seed: int, horizon: int, device: str, data_root: str) -> dict:
    """One (seed, horizon) of :func:`run_branching`'s cosine side: a run of its own."""
    from lrlab import train

    started = time.process_time()
    dataset = _dataset(config["dataset"], device, data_root)
    total = horizon * dataset.num_batches("train", config["batch_size"])
    history = train.fit(
        _build(config, dataset, seed),
        dataset,
        baseline_schedule("cosine", config["lr"], total),
        horizon,
        **_fit_options(config, seed),
    )
    return {**_run(history), "cpu_s": time.process_time() - started}


def run_branching(
    config: Mapping[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict:
    """The accuracy-against-compute frontier: WSD branches of one run against cosine runs.

    Per seed, one stable run at ``lr`` with a cooldown of the last ``fraction`` (shape
    ``shape``) branched from it for every horizon in ``horizons`` (epochs), and one cosine
    run from ``lr`` for every horizon.

    Parameters
    ----------
    config : mapping
        :data:`BRANCHING`'s configuration at a scale: the data and optimizer keys, ``lr``,
        ``horizons``, ``fraction``, ``shape``, ``seeds``.
    device, data_root, progress, jobs
        See :func:`lrlab.experiments.run`.

    Returns
    -------
    dict
        ``{"horizons", "cooldowns": [[start, epochs] per horizon], "constant": [run per
        seed], "wsd": [[run per horizon] per seed], "cosine": [[run per horizon] per seed],
        "epochs_trained": {"wsd", "cosine"} (per seed), "cpu_s": {"wsd", "cosine"}}``.
    """
    seeds = [_check.integer("seeds", s, minimum=0) for s in config["seeds"]]
    _check.number("lr", config["lr"], low=0, low_open=True)
    branches = _horizon_cooldowns(config)
    horizons = [c.total for c in branches]
    wsd = pmap(
        _branching_task,
        [(dict(config), seed, str(device), str(data_root)) for seed in seeds],
        jobs=jobs,
        progress=progress,
        desc="wsd branches",
    )
    cosine = pmap(
        _cosine_task,
        [(dict(config), s, h, str(device), str(data_root)) for s in seeds for h in horizons],
        jobs=jobs,
        progress=progress,
        desc="cosine runs",
    )
    per_seed = len(horizons)
    return {
        "horizons": horizons,
        "cooldowns": [[c.start, c.epochs] for c in branches],
        "constant": [one["constant"] for one in wsd],
        "wsd": [one["wsd"] for one in wsd],
        "cosine": [
            [{k: v for k, v in run.items() if k != "cpu_s"} for run in cosine[i : i + per_seed]]
            for i in range(0, len(cosine), per_seed)
        ],
        "epochs_trained": {
            "wsd": max(c.start for c in branches) + sum(c.epochs for c in branches),
            "cosine": sum(horizons),
        },
        "cpu_s": {"wsd": [one["cpu_s"] for one in wsd], "cosine": [r["cpu_s"] for r in cosine]},
    }


def branching_work(config: Mapping[str, Any]) -> int:
    """Training examples :func:`run_branching` processes: per seed, the stable run to the last
    branch point, every cooldown, and a cosine run per horizon.

    Examples
    --------
    >>> small = {"dataset": "mnist1d", "horizons": [5, 10], "fraction": 0.2,
    ...          "shape": "1-sqrt", "seeds": [0]}
    >>> branching_work(small) == (8 + 1 + 2 + 5 + 10) * 4000
    True
    """
    branches = _horizon_cooldowns(config)
    wsd = max(c.start for c in branches) + sum(c.epochs for c in branches)
    cosine = sum(c.total for c in branches)
    return len(config["seeds"]) * (wsd + cosine) * TRAIN_EXAMPLES[config["dataset"]]


COOLDOWN = Experiment(
    name="wsd-cooldown",
    chapter="wsd",
    title="WSD cooldowns of three lengths and shapes against cosine and linear decay",
    cite="hagele2024scaling",
    claim=(
        "A constant rate followed by a cooldown matches a cosine schedule of the same length "
        "(the authors' recipe cools down over the last 20% of the run), and a (1 - sqrt) "
        "cooldown beats a linear one (Hägele et al. 2024, Llama-style language models, "
        "perplexity); linear decay to zero matches or beats cosine (Defazio et al. 2023) and "
        "beats cosine to 10% of the peak (Bergsma et al. 2025)."
    ),
    run=run_cooldown,
    work=cooldown_work,
    base={
        **_COMMON,
        "epochs": 30,
        "lrs": [0.1, 0.2, 0.3],
        "seeds": list(range(10)),
        "fractions": [0.1, 0.2, 0.4],
        "shapes": ["linear", "1-sqrt", "cosine"],
        "baselines": list(BASELINES),
    },
    scales={
        "classroom": {
            "epochs": 10,
            "lrs": [0.2],
            "seeds": [0, 1],
            "fractions": [0.2],
            "shapes": ["linear", "1-sqrt"],
            "baselines": ["cosine"],
        },
        "paper": {**_PAPER, "epochs": 100, "seeds": [0, 1, 2], "lrs": [0.05, 0.1, 0.2]},
        "smoke": {
            "epochs": 2,
            "lrs": [0.2],
            "seeds": [0],
            "fractions": [0.5],
            "shapes": ["1-sqrt"],
            "baselines": ["cosine"],
        },
    },
)

BRANCHING = Experiment(
    name="wsd-branching",
    chapter="wsd",
    title="One stable run, a cooldown per horizon: the frontier against cosine runs",
    cite="hagele2024scaling",
    claim=(
        "Cooldowns branched from the checkpoints of one constant-rate run match separate "
        "cosine runs at every training length, for a fraction of their compute (Hägele et "
        "al. 2024; Hu et al. 2024)."
    ),
    run=run_branching,
    work=branching_work,
    base={
        **_COMMON,
        "lr": 0.2,
        "horizons": [10, 20, 30, 40],
        "fraction": 0.2,
        "shape": "1-sqrt",
        "seeds": list(range(10)),
    },
    scales={
        "classroom": {"horizons": [5, 10], "seeds": [0, 1]},
        "paper": {**_PAPER, "lr": 0.1, "horizons": [25, 50, 100, 200], "seeds": [0, 1, 2]},
        "smoke": {"horizons": [2, 3], "seeds": [0]},
    },
)

#: The experiments of this chapter.
EXPERIMENTS = (COOLDOWN, BRANCHING)
