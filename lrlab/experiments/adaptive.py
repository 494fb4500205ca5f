"""The experiments of the chapter "Adam at the edge of stability, and no schedule at all".

``adam-edge`` (Cohen et al. 2022): full-batch Adam on the square loss, a ReLU MLP on 500
digits, two rates and two β₁, each run tracking Adam's preconditioned sharpness λ₁(P⁻¹H)
against its threshold (2 + 2β₁)/((1 − β₁)η) and the raw sharpness λ_max beside it
(:class:`lrlab.curvature.SharpnessTracker`).

``schedule-free`` (Defazio et al. 2024): schedule-free SGD and AdamW (the ``schedulefree``
package, :mod:`lrlab.schedule_free`) against a cosine schedule and a warmup-stable-decay
schedule with the same optimizers, on MNIST-1D with the 1-D CNN. Every family gets the
same tuning budget on a validation split carved out of the training set; the tuned rates
are then trained on the whole training set for many seeds and scored on the test set, and
cosine runs of shorter horizons give the anytime comparison.

Every task records its own CPU time (``cpu_s``), so that a result says what it cost.

>>> ADAM_EDGE.config("smoke")["seeds"], sorted(SCHEDULE_FREE.config()["families"])[:2]
([0], ['adamw/cosine', 'adamw/schedule-free'])
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
    "ADAM_EDGE",
    "EXPERIMENTS",
    "SCHEDULE_FREE",
    "adam_edge_run",
    "adam_edge_work",
    "family_schedule",
    "schedule_free_run",
    "schedule_free_work",
    "split_data",
    "split_sizes",
]


# --- adam-edge --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _digits_subset(name: str, examples: int, device: str, root: str):
    """The first ``examples`` training examples and as many test ones (at most 200), loaded
    once per process."""
    from lrlab import data

    full = data.load(name, root=root, device="cpu")
    return data.subset(full, examples, min(examples, 200), augment=False, device=device)


def _edge_task(config: dict, lr: float, beta1: float, seed: int, device: str, root: str) -> dict:
    """One full-batch Adam run with both trackers (see :func:`adam_edge_run`)."""
    from lrlab import curvature, models, train

    started = time.process_time()
    subset = _digits_subset(config["data"], config["examples"], device, root)
    x, y = subset.tensors("train")
    every = config["every"]
    preconditioned = curvature.SharpnessTracker(x, y, every=every)
    raw = curvature.SharpnessTracker(x, y, every=every, preconditioned=False, threshold=False)
    net = models.build(
        "mlp", subset.num_classes, subset.input_shape, seed=seed, hidden=config["hidden"]
    )
    history = train.fit(
        net,
        subset,
        lr,
        epochs=config["steps"],
        batch_size=subset.size("train"),
        optimizer="adam",
        momentum=beta1,
        weight_decay=0.0,
        loss="mse",
        seed=seed,
        progress=False,
        callbacks=[preconditioned, raw],
    )
    extras = history.extras
    return {
        "seed": seed,
        "loss": history.loss,
        "steps": [s for s, _ in extras.get("preconditioned_sharpness", [])],
        "preconditioned_sharpness": [v for _, v in extras.get("preconditioned_sharpness", [])],
        "sharpness": [v for _, v in extras.get("sharpness", [])],
        "threshold": curvature.stability_threshold(lr, optimizer="adam", beta1=beta1),
        "diverged_at_step": history.diverged_at_step,
        "hvps": preconditioned.hvps + raw.hvps,
        "cpu_s": time.process_time() - started,
    }


def adam_edge_run(
    config: Mapping[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict:
    """Full-batch Adam at every rate and β₁ of ``config``, for every seed.

    Each run trains a ReLU MLP (``hidden`` widths, weights seeded by the seed) with
    :func:`lrlab.train.fit` on the first ``examples`` training examples, one full-batch
    Adam step per epoch for ``steps`` steps (β₂ = 0.999, ε = 1e-8, no weight decay), on
    the square loss. Every ``every`` steps it records the preconditioned sharpness
    λ₁(P⁻¹H) (:func:`lrlab.curvature.preconditioned_sharpness`) and the raw λ_max of the
    same loss on the same examples.

    Parameters
    ----------
    config : mapping
        ``data``, ``examples``, ``hidden``, ``steps``, ``every``, ``lrs``, ``beta1s``,
        ``seeds``.
    device, data_root, progress, jobs
        See :func:`lrlab.experiments.run`.

    Returns
    -------
    dict
        ``{"runs": [{"lr", "beta1", "seeds": [run per seed]}, ...]}`` over the rates (outer)
        and β₁ (inner); a run holds ``loss`` (per step), ``steps`` (measured),
        ``preconditioned_sharpness``, ``sharpness``, ``threshold``, ``diverged_at_step``,
        ``hvps`` and ``cpu_s``.

    Examples
    --------
    >>> out = adam_edge_run(ADAM_EDGE.config("smoke"))
    >>> [(r["lr"], r["beta1"], len(r["seeds"])) for r in out["runs"]]
    [(0.01, 0.9, 1)]
    """
    _check.integer("steps", config["steps"], minimum=1)
    _check.integer("every", config["every"], minimum=1)
    lrs = [_check.number("lrs", lr, low=0, low_open=True) for lr in config["lrs"]]
    betas = [_check.number("beta1s", b, 0, 1, high_open=True) for b in config["beta1s"]]
    seeds = [_check.integer("seeds", s, minimum=0) for s in config["seeds"]]
    pairs = [(lr, beta1) for lr in lrs for beta1 in betas]
    tasks = [
        (dict(config), lr, beta1, seed, str(device), str(data_root))
        for lr, beta1 in pairs
        for seed in seeds
    ]
    done = iter(pmap(_edge_task, tasks, jobs=jobs, progress=progress, desc="adam edge"))
    return {
        "runs": [
            {"lr": lr, "beta1": beta1, "seeds": [next(done) for _ in seeds]} for lr, beta1 in pairs
        ]
    }


def adam_edge_work(config: Mapping[str, Any]) -> int:
    """Training examples :func:`adam_edge_run` processes: ``steps`` full batches of
    ``examples`` per rate, β₁ and seed (the curvature measurements aside).

    Examples
    --------
    >>> adam_edge_work(ADAM_EDGE.config("smoke")) == 4 * 20
    True
    """
    examples = min(config["examples"], TRAIN_EXAMPLES[config["data"]])
    runs = len(config["lrs"]) * len(config["beta1s"]) * len(config["seeds"])
    return runs * config["steps"] * examples


ADAM_EDGE = Experiment(
    name="adam-edge",
    chapter="adaptive",
    title="Full-batch Adam at the adaptive edge of stability (Cohen et al. 2022)",
    cite="cohen2022adaptive",
    claim=(
        "During full-batch training with Adam, the top eigenvalue of the preconditioned "
        "Hessian, lambda_1(P^-1 H), rises to the stability threshold (2 + 2 beta1) / "
        "((1 - beta1) eta), 38/eta at beta1 = 0.9, and hovers there, while the raw sharpness "
        "need not; the paper shows it in its Figure 1."
    ),
    run=adam_edge_run,
    work=adam_edge_work,
    base={
        "data": "digits",
        "examples": 500,
        "hidden": [64, 64],
        "steps": 800,
        "every": 10,
        "lrs": [0.003, 0.01],
        "beta1s": [0.9, 0.5],
        "seeds": [0, 1, 2],
    },
    scales={
        "classroom": {"examples": 300, "steps": 300, "every": 20, "seeds": [0]},
        # The paper's kind of data: the first 5,000 CIFAR-10 images, a wider MLP, longer.
        "paper": {
            "data": "cifar10",
            "examples": 5000,
            "hidden": [200, 200],
            "steps": 3000,
            "every": 30,
            "lrs": [0.0003, 0.001],
        },
        "smoke": {
            "examples": 20,
            "hidden": [8],
            "steps": 4,
            "every": 2,
            "lrs": [0.01],
            "beta1s": [0.9],
            "seeds": [0],
        },
    },
)


# --- schedule-free ------------------------------------------------------------------------------


def split_sizes(config: Mapping[str, Any]) -> tuple[int, int]:
    """Training and validation examples of the tuning split: the last
    ``validation_fraction`` of the training set is held out (rounded, at least one each).

    Examples
    --------
    >>> split_sizes({"data": "mnist1d", "validation_fraction": 0.25})
    (3000, 1000)
    """
    n = TRAIN_EXAMPLES[config["data"]]
    held = min(max(1, round(n * config["validation_fraction"])), n - 1)
    return n - held, held


@functools.lru_cache(maxsize=4)
def split_data(name: str, split: str, fraction: float, device: str, root: str):
    """The data a run trains and is scored on, loaded once per process.

    ``split="test"``: the data set itself. ``split="validation"``: its training set alone,
    the last ``fraction`` of it held out as the test split (:func:`split_sizes`), so that
    tuning never sees the test set; the split's normalisation comes from its own training
    part.

    Examples
    --------
    >>> held = split_data("digits", "validation", 0.25, "cpu", "data/cache")
    >>> held.size("train"), held.size("test")
    (1010, 337)
    """
    from lrlab import data

    split = _check.choice("split", split, ("test", "validation"))
    full = data.load(name, root=root, device=device)
    if split == "test":
        return full
    train, _ = split_sizes({"data": name, "validation_fraction": fraction})
    images, labels = full.raw("train")
    return data.Dataset(
        f"{name}-validation",
        (images[:train], labels[:train]),
        (images[train:], labels[train:]),
        full.classes,
        scale=full.scale,
        augment_crop_flip=full.augmentation is not None,
        device=device,
        normalize=full.normalized,
    )


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
    dataset = split_data(config["data"], split, config["validation_fraction"], device, root)
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

#: The experiments of this chapter.
EXPERIMENTS = (ADAM_EDGE, SCHEDULE_FREE)
