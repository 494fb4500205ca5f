"""The schedule-free experiment of the chapter "Adam at the edge of stability, and no schedule
at all" (its adam-edge experiment is in :mod:`lrlab.experiments.adaptive`).

``schedule-free`` (Defazio et al. 2024): schedule-free SGD and AdamW (the ``schedulefree``
package, :mod:`lrlab.schedule_free`) against a cosine schedule and a warmup-stable-decay
schedule with the same optimizers, on MNIST-1D with the 1-D CNN. Every family gets the
same tuning budget on a validation split carved out of the training set
(:func:`lrlab.data.holdout`); the tuned rates are then trained on the whole training set
for many seeds and scored on the test set, and cosine runs of shorter horizons give the
anytime comparison. Every task records its own CPU time (``cpu_s``).

>>> sorted(SCHEDULE_FREE.config()["families"])[:2], len(SCHEDULE_FREE.config()["seeds"])
(['adamw/cosine', 'adamw/schedule-free'], 12)
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from lrlab import _check
from lrlab._pool import pmap
from lrlab.experiments.experiment import TRAIN_EXAMPLES, Experiment, Replace

__all__ = [
    "EXPERIMENTS",
    "SCHEDULE_FREE",
    "family_schedule",
    "schedule_free_run",
    "schedule_free_work",
    "split_sizes",
]


def split_sizes(config: Mapping[str, Any]) -> tuple[int, int]:
    """Training and validation examples of the tuning split (:func:`lrlab.data.holdout`
    with ``validation_fraction``), counted without loading the data.

    Examples
    --------
    >>> split_sizes({"data": "mnist1d", "validation_fraction": 0.25})
    (3000, 1000)
    """
    n = TRAIN_EXAMPLES[config["data"]]
    held = min(max(1, round(n * config["validation_fraction"])), n - 1)
    return n - held, held


@functools.lru_cache(maxsize=4)
def _split(name: str, split: str, fraction: float, device: str, root: str):
    """The data set (``"test"``) or its validation split, loaded once per process."""
    from lrlab import data

    full = data.load(name, root=root, device=device)
    return full if split == "test" else data.holdout(full, fraction)


def family_schedule(
    family: Mapping[str, Any], lr: float, steps_per_epoch: int, epochs: int, config: Mapping
):
    """The schedule a family trains with, and the schedule-free optimizer's own warm-up.

    - ``"cosine"``: a linear warm-up over ``warmup_epochs`` (:func:`lrlab.schedules.warmup`),
      then cosine annealing to 0 at the end of the run;
    - ``"wsd"``: the same warm-up, the constant rate, then a linear cooldown to 0 over the
      last ``wsd_decay_fraction`` of the run (:func:`lrlab.schedules.wsd`);
    - ``"constant"``: the rate itself, the warm-up left to the schedule-free optimizer
      (``warmup_steps``, which ramps step k to lr·(k + 1)/W).

    Both decaying schedules are built by :func:`lrlab.schedules.from_spec`, as the command
    line and the sweep build theirs.

    Returns
    -------
    (schedule, int)
        The schedule and the optimizer's ``warmup_steps`` (0 but for ``"constant"``).

    Examples
    --------
    >>> config = {"warmup_epochs": 1, "wsd_decay_fraction": 0.2}
    >>> s, w = family_schedule({"schedule": "wsd"}, 1.0, 10, 10, config)
    >>> np.round(s(np.array([0, 5, 10, 79, 80, 90, 99])), 3).tolist(), w
    ([0.0, 0.5, 1.0, 1.0, 1.0, 0.5, 0.05], 0)
    """
    from lrlab import schedules

    total = steps_per_epoch * epochs
    warm = config["warmup_epochs"] * steps_per_epoch
    kind = _check.choice("schedule", family["schedule"], ("cosine", "wsd", "constant"))
    if kind == "constant":
        return schedules.constant(lr), warm
    spec = {"name": kind, "warmup_steps": warm}
    if kind == "wsd":
        spec["decay_steps"] = max(1, round(config["wsd_decay_fraction"] * total))
    return schedules.from_spec(spec, lr=lr, total_steps=total), 0


def _train_task(
    config: dict, family: str, lr: float, epochs: int, seed: int, split: str, device: str, root: str
) -> dict:
    """One run of a family at a rate: per-epoch accuracy and loss on the split's test side."""
    from lrlab import models, train

    started = time.process_time()
    spec = config["families"][family]
    dataset = _split(config["data"], split, config["validation_fraction"], device, root)
    per_epoch = dataset.num_batches("train", config["batch_size"])
    schedule, warmup_steps = family_schedule(spec, lr, per_epoch, epochs, config)
    net = models.build(config["model"], dataset.num_classes, dataset.input_shape, seed=seed)
    history = train.fit(
        net,
        dataset,
        schedule,
        epochs,
        batch_size=config["batch_size"],
        optimizer=spec["optimizer"],
        momentum=config["momentum"],
        weight_decay=spec["weight_decay"],
        warmup_steps=warmup_steps,
        seed=seed,
        progress=False,
    )
    return {
        "seed": seed,
        "lr": lr,
        "test_acc": history.test_acc,
        "test_loss": history.test_loss,
        "train_loss": history.train_loss,
        "diverged": history.diverged,
        "cpu_s": time.process_time() - started,
    }


def _final_accuracy(run: Mapping, epochs: int, chance: float) -> float:
    """A run's accuracy at its last epoch; chance for a run that diverged before it."""
    acc = run["test_acc"]
    return float(acc[-1]) if len(acc) == epochs and not run["diverged"] else chance


def schedule_free_run(
    config: Mapping[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict:
    """Schedule-free SGD and AdamW against cosine and WSD: tuned alike, then compared.

    1. **Tuning** (the same budget for every family), on the validation split
       (:func:`split_sizes`): a coarse grid of rates (``tuning.coarse``, one run per
       rate and ``tuning.coarse_seeds``), then a fine grid, the coarse winner times each
       of ``tuning.fine_factors`` (runs per ``tuning.fine_seeds``); the winner of each
       stage has the highest mean validation accuracy at the end of the run (a diverged
       run scores chance). All runs last ``epochs`` epochs.
    2. **Final runs**: each family at its tuned rate on the whole training set, for every
       seed of ``seeds``, scored on the test set after every epoch. A seed fixes the
       initial weights and the batch order, the same in every family (paired seeds).
    3. **Horizons**: each cosine family again for every seed at each shorter horizon of
       ``horizons`` epochs (the rate tuned for ``epochs``), for the anytime comparison
       with one schedule-free run.

    Parameters
    ----------
    config : mapping
        :data:`SCHEDULE_FREE`'s configuration at a scale.
    device, data_root, progress, jobs
        See :func:`lrlab.experiments.run`.

    Returns
    -------
    dict
        ``{"split": {"train", "validation"}, "tuning": {family: {"coarse": {"lrs",
        "accuracy"}, "fine": {...}, "lr"}}, "final": {family: [run per seed]},
        "horizons": {family: {str(h): [run per seed]}}, "cpu_s": {phase: seconds}}``; a run
        holds ``seed``, ``lr``, per-epoch ``test_acc``, ``test_loss``, ``train_loss``,
        ``diverged`` and ``cpu_s``.
    """
    _check.integer("epochs", config["epochs"], minimum=1)
    seeds = [_check.integer("seeds", s, minimum=0) for s in config["seeds"]]
    horizons = [_check.integer("horizons", h, minimum=1, maximum=config["epochs"] - 1)
                for h in config["horizons"]]  # fmt: skip
    families = list(config["families"])
    tuning = config["tuning"]
    epochs, chance = config["epochs"], 1 / 10
    common = (str(device), str(data_root))

    def stage(rates: Mapping[str, list[float]], stage_seeds: list[int], name: str) -> dict:
        tasks = [
            (dict(config), fam, lr, epochs, seed, "validation", *common)
            for fam in families
            for lr in rates[fam]
            for seed in stage_seeds
        ]
        done = iter(pmap(_train_task, tasks, jobs=jobs, progress=progress, desc=name))
        out = {}
        for fam in families:
            runs = [[next(done) for _ in stage_seeds] for _ in rates[fam]]
            accuracy = [[_final_accuracy(r, epochs, chance) for r in row] for row in runs]
            best = int(np.argmax([np.mean(row) for row in accuracy]))
            out[fam] = {
                "lrs": list(rates[fam]),
                "accuracy": accuracy,
                "best": rates[fam][best],
                "cpu_s": sum(r["cpu_s"] for row in runs for r in row),
            }
        return out

    coarse = stage({f: list(tuning["coarse"]) for f in families}, tuning["coarse_seeds"], "coarse")
    tuned = {f: {"coarse": coarse[f], "lr": coarse[f]["best"]} for f in families}
    if tuning["fine_factors"]:
        rates = {f: [coarse[f]["best"] * k for k in tuning["fine_factors"]] for f in families}
        fine = stage(rates, tuning["fine_seeds"], "fine")
        for f in families:
            tuned[f].update(fine=fine[f], lr=fine[f]["best"])

    cosine = [f for f in families if config["families"][f]["schedule"] == "cosine"]
    tasks = [(dict(config), f, tuned[f]["lr"], epochs, s, "test", *common) for f in families
             for s in seeds]  # fmt: skip
    tasks += [
        (dict(config), f, tuned[f]["lr"], h, s, "test", *common)
        for f in cosine
        for h in horizons
        for s in seeds
    ]
    done = iter(pmap(_train_task, tasks, jobs=jobs, progress=progress, desc="final"))
    final = {f: [next(done) for _ in seeds] for f in families}
    extra = {f: {str(h): [next(done) for _ in seeds] for h in horizons} for f in cosine}
    train, validation = split_sizes(config)
    return {
        "split": {"train": train, "validation": validation},
        "tuning": tuned,
        "final": final,
        "horizons": extra,
        "cpu_s": {
            "tuning": sum(
                t[k]["cpu_s"] for t in tuned.values() for k in ("coarse", "fine") if k in t
            ),  # fmt: skip
            "final": sum(r["cpu_s"] for runs in final.values() for r in runs),
            "horizons": sum(r["cpu_s"] for f in extra.values() for rs in f.values() for r in rs),
        },
    }


def schedule_free_work(config: Mapping[str, Any]) -> int:
    """Training examples :func:`schedule_free_run` processes, at most (a run that diverges
    stops early): tuning runs on the training part of the split, final runs and the
    shorter cosine horizons on the whole training set.

    Examples
    --------
    >>> small = SCHEDULE_FREE.config("smoke")
    >>> schedule_free_work(small) == 6 * 2 * 3000 + 6 * 2 * 2 * 4000
    True
    """
    train, _ = split_sizes(config)
    full = TRAIN_EXAMPLES[config["data"]]
    families = len(config["families"])
    cosine = sum(spec["schedule"] == "cosine" for spec in config["families"].values())
    tuning = config["tuning"]
    runs = len(tuning["coarse"]) * len(tuning["coarse_seeds"])
    runs += len(tuning["fine_factors"]) * len(tuning["fine_seeds"])
    seeds = len(config["seeds"])
    epochs = config["epochs"]
    return (
        families * runs * epochs * train
        + families * seeds * epochs * full
        + cosine * seeds * sum(config["horizons"]) * full
    )


_FAMILIES = {
    "sgd/cosine": {"optimizer": "sgd", "schedule": "cosine", "weight_decay": 5e-4},
    "sgd/wsd": {"optimizer": "sgd", "schedule": "wsd", "weight_decay": 5e-4},
    "sgd/schedule-free": {
        "optimizer": "sgd_schedulefree",
        "schedule": "constant",
        "weight_decay": 5e-4,
    },
    "adamw/cosine": {"optimizer": "adamw", "schedule": "cosine", "weight_decay": 0.01},
    "adamw/wsd": {"optimizer": "adamw", "schedule": "wsd", "weight_decay": 0.01},
    "adamw/schedule-free": {
        "optimizer": "adamw_schedulefree",
        "schedule": "constant",
        "weight_decay": 0.01,
    },
}

SCHEDULE_FREE = Experiment(
    name="schedule-free",
    chapter="adaptive",
    title="Schedule-free SGD and AdamW against tuned cosine and WSD (Defazio et al. 2024)",
    cite="defazio2024road",
    claim=(
        "Schedule-free training needs no schedule and no stopping time, yet matches or beats "
        "tuned cosine and linear-decay schedules across the paper's problems, at every point "
        "of a run; a schedule-free AdamW entry won the self-tuning track of the AlgoPerf "
        "2024 competition (Kasimbeg et al. 2025)."
    ),
    run=schedule_free_run,
    work=schedule_free_work,
    # SGD with momentum 0.9 and L2 5e-4 (the book's defaults), AdamW with beta1 0.9 and
    # decoupled weight decay 0.01 (PyTorch's default); one warm-up epoch for every family.
    base={
        "data": "mnist1d",
        "model": "cnn1d",
        "batch_size": 128,
        "epochs": 30,
        "momentum": 0.9,
        "warmup_epochs": 1,
        "wsd_decay_fraction": 0.2,
        "validation_fraction": 0.25,
        "families": _FAMILIES,
        "tuning": {
            # half-decades from 1e-3 to 3.16, then factors of sqrt(2) around the winner
            "coarse": [round(10 ** (k / 2), 6) for k in range(-6, 2)],
            "coarse_seeds": [100],
            "fine_factors": [0.5, 0.707107, 1.0, 1.414214, 2.0],
            "fine_seeds": [100, 101],
        },
        "horizons": [5, 10, 20],
        "seeds": list(range(12)),
    },
    scales={
        # Eight epochs, two rates, no fine stage, three seeds.
        "classroom": {
            "epochs": 8,
            "tuning": {"coarse": [0.03, 0.3], "fine_factors": []},
            "horizons": [4],
            "seeds": [0, 1, 2],
        },
        # CIFAR-10 with ResNet-20 (BatchNorm, re-estimated at the schedule-free average).
        "paper": {
            "data": "cifar10",
            "model": "resnet20",
            "epochs": 100,
            "warmup_epochs": 5,
            "horizons": [25, 50],
            "seeds": [0, 1, 2],
        },
        "smoke": {
            "epochs": 2,
            "warmup_epochs": 1,
            "tuning": {"coarse": [0.03], "fine_factors": []},
            "horizons": [],
            "seeds": [0, 1],
            "families": Replace(_FAMILIES),
        },
    },
)

#: The experiments of this module.
EXPERIMENTS = (SCHEDULE_FREE,)
