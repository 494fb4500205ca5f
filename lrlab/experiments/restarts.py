"""The experiments of the chapter "Restarts, cycles and snapshot ensembles".

On MNIST-1D (Greydanus 2020) with the 1-D CNN of :mod:`lrlab.models`, the schedules' bounds
read off a range test (:func:`lrlab.lrfind.cyclical_bounds`) as Smith recommends:

- ``clr`` (:func:`clr_experiment`): cyclical rates (Smith 2017), ``triangular``,
  ``triangular2`` and ``exp_range``, against a constant rate and step decay;
- ``sgdr`` (:func:`sgdr_experiment`): warm restarts (Loshchilov & Hutter 2017), with and
  without a decaying peak, and what the model at the end of each cycle is worth alone and
  in an ensemble;
- ``snapshot-ensembles`` (:func:`snapshot_experiment`): snapshot ensembles (Huang et al.
  2017) against one model trained with the same budget and against ensembles of
  independently trained models.

>>> CLR.config("classroom")["epochs"], SGDR.config()["first_cycle_epochs"]
(8, 10)
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from lrlab.experiments.experiment import TRAIN_EXAMPLES, Experiment

__all__ = [
    "CLR",
    "EXPERIMENTS",
    "SGDR",
    "SGDR_FULL_PEAK",
    "SNAPSHOTS",
    "SNAPSHOTS_FULL_PEAK",
    "clr_experiment",
    "clr_schedules",
    "sgdr_experiment",
    "sgdr_schedules",
    "snapshot_examples",
    "snapshot_experiment",
    "snapshot_schedules",
]

_COMMON = {
    "dataset": "mnist1d",
    "model": "cnn1d",
    "batch_size": 128,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    # Smith's range test: an exponential sweep; the lower bound is where the smoothed loss
    # has fallen by `drop` (1%) from its start, the upper where it turns up (its minimum).
    "range_test": {"start_lr": 1e-4, "end_lr": 10.0, "num_iter": 200, "drop": 0.01, "seed": 0},
}
# A smoke run: one seed, one epoch, a short range test.
_SMOKE = {
    "epochs": 1,
    "seeds": [0],
    "range_test": {"start_lr": 0.01, "num_iter": 30, "drop": 1e-6},
}


# --- shared pieces ---------------------------------------------------------------------------


def _data(config: Mapping, device, data_root):
    from lrlab import data

    return data.load(config["dataset"], root=data_root, device=device)


def _build(config: Mapping, dataset, seed: int):
    from lrlab import models

    return models.build(config["model"], dataset.num_classes, dataset.input_shape, seed=seed)


def _bounds(config: Mapping, dataset) -> dict:
    from lrlab import lrfind

    options = dict(config["range_test"])
    drop, seed = options.pop("drop"), options.pop("seed")
    result = lrfind.range_test(
        _build(config, dataset, seed),
        dataset,
        batch_size=config["batch_size"],
        momentum=config["momentum"],
        weight_decay=config["weight_decay"],
        seed=seed,
        **options,
    )
    base_lr, max_lr = lrfind.cyclical_bounds(result.lrs, result.smoothed, drop)
    return {"base_lr": base_lr, "max_lr": max_lr}


def _fit(config: Mapping, dataset, schedule, seed: int, callbacks=()):
    from lrlab import train

    model = _build(config, dataset, seed)
    history = train.fit(
        model,
        dataset,
        schedule,
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        momentum=config["momentum"],
        weight_decay=config["weight_decay"],
        seed=seed,
        progress=False,
        callbacks=callbacks,
    )
    run = {
        "seed": seed,
        "test_acc": history.test_acc,
        "test_loss": history.test_loss,
        "train_loss": history.train_loss,
        "wall_time_s": history.wall_time,
    }
    return model, run


def _step_decay(lr: float, total_steps: int):
    """The usual CIFAR recipe: divide by 10 at half and at three quarters of the run."""
    from lrlab import schedules

    return schedules.multistep(lr, [total_steps // 2, 3 * total_steps // 4])


# --- the experiments -------------------------------------------------------------------------


def clr_schedules(config: Mapping, bounds: Mapping, steps_per_epoch: int) -> dict:
    """The schedules :func:`clr_experiment` compares, by name.

    ``constant`` at the geometric mean of the bounds, ``step`` from ``max_lr`` divided by
    10 at 50% and 75% of the run, and :func:`lrlab.schedules.cyclic` in the modes
    ``triangular``, ``triangular2`` and ``exp_range`` between the bounds, with half-cycles
    of ``step_size_epochs`` epochs (Smith 2017 recommends 2 to 10); ``exp_range``'s
    amplitude halves every ``exp_range_halving_epochs`` epochs.

    Examples
    --------
    >>> made = clr_schedules(CLR.config(), {"base_lr": 0.01, "max_lr": 0.1}, 10)
    >>> sorted(made), made["triangular"](np.array([0, 40, 80])).round(3).tolist()
    (['constant', 'exp_range', 'step', 'triangular', 'triangular2'], [0.01, 0.1, 0.01])
    """
    from lrlab import schedules

    base_lr, max_lr = bounds["base_lr"], bounds["max_lr"]
    total = config["epochs"] * steps_per_epoch
    half = config["step_size_epochs"] * steps_per_epoch
    gamma = 0.5 ** (1 / (config["exp_range_halving_epochs"] * steps_per_epoch))
    return {
        "constant": schedules.constant(float(np.sqrt(base_lr * max_lr))),
        "step": _step_decay(max_lr, total),
        **{
            mode: schedules.cyclic(base_lr, max_lr, half, mode=mode, gamma=gamma)
            for mode in ("triangular", "triangular2", "exp_range")
        },
    }


def clr_experiment(
    config: Mapping,
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict:
    """Cyclical rates against a constant rate and step decay, over seeds.

    The bounds ``base_lr``, ``max_lr`` come from a range test read with
    :func:`cyclical_bounds`; the schedules are those of :func:`clr_schedules`.

    Parameters
    ----------
    config : mapping
        :data:`CLR`'s configuration at a scale.
    device, data_root, progress, jobs
        See :func:`lrlab.experiments.run`.

    Returns
    -------
    dict
        ``{"bounds": {"base_lr", "max_lr"}, "steps_per_epoch", "schedules": {name: repr},
        "runs": {name: [run per seed]}}``; each run has ``seed`` and the per-epoch
        ``test_acc``, ``test_loss``, ``train_loss``, and ``wall_time_s``.
    """
    dataset = _data(config, device, data_root)
    per_epoch = dataset.num_batches("train", config["batch_size"])
    bounds = _bounds(config, dataset)
    made = clr_schedules(config, bounds, per_epoch)
    runs = {
        name: [_fit(config, dataset, s, seed)[1] for seed in config["seeds"]]
        for name, s in made.items()
    }
    return {
        "bounds": bounds,
        "steps_per_epoch": per_epoch,
        "schedules": {name: repr(s) for name, s in made.items()},
        "runs": runs,
    }


def sgdr_schedules(config: Mapping, bounds: Mapping, steps_per_epoch: int) -> dict:
    """The schedules :func:`sgdr_experiment` compares: SGDR per peak decay, its first peak
    at ``peak_fraction`` (default 1) times ``max_lr``.

    Examples
    --------
    >>> made = sgdr_schedules(SGDR.config(), {"max_lr": 0.2}, 1)
    >>> list(made), made["peak_decay=0.5"](np.array([0, 10, 30])).tolist()
    (['peak_decay=1', 'peak_decay=0.5'], [0.1, 0.05, 0.025])
    """
    from lrlab import schedules

    peak = bounds["max_lr"] * config.get("peak_fraction", 1.0)
    return {
        f"peak_decay={d:g}": schedules.sgdr(
            peak,
            config["first_cycle_epochs"] * steps_per_epoch,
            cycle_mult=config["cycle_mult"],
            peak_decay=d,
        )
        for d in config["peak_decays"]
    }


def sgdr_experiment(
    config: Mapping,
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict:
    """SGDR with cycles of ``first_cycle_epochs * cycle_mult**k`` epochs, peak ``max_lr``.

    For each ``peak_decay`` and seed, one run with :class:`lrlab.ensembles.Snapshots` at
    the cycle ends; each snapshot is evaluated alone and as the ensemble of the first k.

    ``config``, ``device`` and ``data_root`` are as in :func:`clr_experiment`.

    Returns
    -------
    dict
        ``{"bounds", "steps_per_epoch", "cycle_ends" (steps), "schedules",
        "runs": {"peak_decay=<d>": [run per seed]}}``; each run also has ``"ensemble"``,
        the :meth:`lrlab.ensembles.EnsembleScores.to_dict` of its snapshots on the test set.
    """
    from lrlab import ensembles

    dataset = _data(config, device, data_root)
    per_epoch = dataset.num_batches("train", config["batch_size"])
    bounds = _bounds(config, dataset)
    made = sgdr_schedules(config, bounds, per_epoch)
    ends = ensembles.cycle_ends(next(iter(made.values())), config["epochs"] * per_epoch)
    runs = {}
    for name, schedule in made.items():
        runs[name] = []
        for seed in config["seeds"]:
            snapshots = ensembles.Snapshots(ends)
            model, run = _fit(config, dataset, schedule, seed, [snapshots])
            run["ensemble"] = ensembles.evaluate(snapshots, dataset, model=model).to_dict()
            runs[name].append(run)
    return {
        "bounds": bounds,
        "steps_per_epoch": per_epoch,
        "cycle_ends": ends,
        "schedules": {name: repr(s) for name, s in made.items()},
        "runs": runs,
    }


def snapshot_schedules(config: Mapping, bounds: Mapping, steps_per_epoch: int) -> dict:
    """The schedules of :func:`snapshot_experiment`: ``snapshot`` (SGDR with ``cycles``
    equal cycles) and ``single`` (step decay), both from ``peak_fraction`` (default 1)
    times ``max_lr``.

    Examples
    --------
    >>> made = snapshot_schedules(SNAPSHOTS.config(), {"max_lr": 0.2}, 1)
    >>> made["snapshot"](np.array([0, 10])).tolist(), made["single"](np.array([0, 20])).tolist()
    ([0.1, 0.1], [0.1, 0.010000000000000002])
    """
    from lrlab import schedules

    total = config["epochs"] * steps_per_epoch
    if total % config["cycles"]:
        raise ValueError(
            f"cycles ({config['cycles']}) must divide the run's {total} steps into equal cycles"
        )
    peak = bounds["max_lr"] * config.get("peak_fraction", 1.0)
    return {
        "snapshot": schedules.sgdr(peak, total // config["cycles"]),
        "single": _step_decay(peak, total),
    }


def snapshot_experiment(
    config: Mapping,
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict:
    """A snapshot ensemble against one model and against independently trained models.

    - ``snapshot``: per seed, one run of SGDR with ``cycles`` equal cycles (peak
      ``max_lr``, as Huang et al. restart a cosine at the top), snapshots at the cycle
      ends; scored as the ensemble of the first k snapshots, at a cost of
      ``k * epochs / cycles`` epochs.
    - ``single``: ``independent_models`` runs per seed with step decay from ``max_lr``
      over the same ``epochs`` (seeds ``seed * independent_models + i``); each alone, and
      ``independent``: the ensemble of the first k of them, at a cost of ``k * epochs``.

    ``config``, ``device`` and ``data_root`` are as in :func:`clr_experiment`.

    Returns
    -------
    dict
        ``{"bounds", "steps_per_epoch", "cycle_ends", "schedules", "snapshot": [run per
        seed, with "ensemble"], "independent": [{"seeds", "runs", "ensemble"} per seed]}``.
    """
    from lrlab import ensembles

    dataset = _data(config, device, data_root)
    per_epoch = dataset.num_batches("train", config["batch_size"])
    total = config["epochs"] * per_epoch
    bounds = _bounds(config, dataset)
    made = snapshot_schedules(config, bounds, per_epoch)
    cyclic, single = made["snapshot"], made["single"]
    ends = ensembles.cycle_ends(cyclic, total)
    snapshot_runs = []
    for seed in config["seeds"]:
        snapshots = ensembles.Snapshots(ends)
        model, run = _fit(config, dataset, cyclic, seed, [snapshots])
        run["ensemble"] = ensembles.evaluate(snapshots, dataset, model=model).to_dict()
        snapshot_runs.append(run)
    independent = []
    count = config["independent_models"]
    for seed in config["seeds"]:
        seeds = [seed * count + i for i in range(count)]
        trained = [_fit(config, dataset, single, s) for s in seeds]
        independent.append(
            {
                "seeds": seeds,
                "runs": [run for _, run in trained],
                "ensemble": ensembles.evaluate([m for m, _ in trained], dataset).to_dict(),
            }
        )
    return {
        "bounds": bounds,
        "steps_per_epoch": per_epoch,
        "cycle_ends": ends,
        "schedules": {"snapshot": repr(cyclic), "single": repr(single)},
        "snapshot": snapshot_runs,
        "independent": independent,
    }


def snapshot_examples(config: Mapping, sizes: Mapping[str, int] = TRAIN_EXAMPLES) -> int:
    """Training examples :func:`snapshot_experiment` processes (at most: a range test may stop
    early): the range test's batches,
    then per seed one cyclic run and ``independent_models`` step-decay runs of ``epochs``
    passes (the cost of a run, before the ensembles are scored).

    Parameters
    ----------
    config : mapping
        As :func:`snapshot_experiment` takes it.
    sizes : mapping
        Training-set size of each data set by name.

    Examples
    --------
    >>> snapshot_examples(SNAPSHOTS.config(), {"mnist1d": 4000}) == 200 * 128 + 3 * 5 * 40 * 4000
    True
    """
    test = config["range_test"]["num_iter"] * config["batch_size"]
    runs = len(config["seeds"]) * (1 + config["independent_models"])
    return test + runs * config["epochs"] * sizes[config["dataset"]]


def _runs_work(config: Mapping, runs_per_seed: int) -> int:
    """The range test's batches, then ``runs_per_seed`` runs of ``epochs`` passes per seed."""
    test = config["range_test"]["num_iter"] * config["batch_size"]
    runs = len(config["seeds"]) * runs_per_seed
    return test + runs * config["epochs"] * TRAIN_EXAMPLES[config["dataset"]]


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
    work=lambda config: _runs_work(config, 5),
    base={
        **_COMMON,
        "epochs": 40,
        "seeds": [0, 1, 2],
        "step_size_epochs": 4,
        # exp_range: the amplitude halves every cycle of 2 * step_size_epochs epochs
        "exp_range_halving_epochs": 8,
    },
    scales={
        "classroom": {"epochs": 8, "step_size_epochs": 1, "exp_range_halving_epochs": 2},
        "paper": {"dataset": "cifar10", "model": "small_cnn", "batch_size": 100},
        "smoke": {**_SMOKE, "step_size_epochs": 1, "exp_range_halving_epochs": 2},
    },
)

_SGDR_BASE = {
    **_COMMON,
    "epochs": 70,
    "seeds": [0, 1, 2],
    "first_cycle_epochs": 10,
    "cycle_mult": 2,
    "peak_decays": [1.0, 0.5],
}
_SGDR_SCALES = {
    "classroom": {"epochs": 7, "first_cycle_epochs": 1},
    "paper": {"dataset": "cifar10", "model": "resnet20"},
    "smoke": {**_SMOKE, "first_cycle_epochs": 1, "cycle_mult": 1},
}
_SGDR_CLAIM = (
    "Cosine annealing with warm restarts has better anytime performance than step decay and "
    "reaches as good or better final accuracy; with WRN-28-10 the paper's single models reach "
    "4.03% test error on CIFAR-10 and 19.58% on CIFAR-100 (median of 5 runs), and 3.14% and "
    "16.21% as ensembles of 16 runs of 3 snapshots each."
)

SGDR = Experiment(
    name="sgdr",
    chapter="restarts",
    title="Warm restarts against step decay (Loshchilov & Hutter 2017)",
    cite="loshchilov2017sgdr",
    claim=_SGDR_CLAIM,
    run=sgdr_experiment,
    work=lambda config: _runs_work(config, len(config["peak_decays"])),
    # restarts (and the single models' first rate) go to this fraction of max_lr
    base={**_SGDR_BASE, "peak_fraction": 0.5},
    scales=_SGDR_SCALES,
)

SGDR_FULL_PEAK = Experiment(
    name="sgdr-full-peak",
    chapter="restarts",
    title="Warm restarts at the range test's full upper bound",
    cite="loshchilov2017sgdr",
    claim=_SGDR_CLAIM,
    run=sgdr_experiment,
    work=lambda config: _runs_work(config, len(config["peak_decays"])),
    base=_SGDR_BASE,
    scales=_SGDR_SCALES,
)

_SNAPSHOT_BASE = {**_COMMON, "epochs": 40, "seeds": [0, 1, 2], "cycles": 4, "independent_models": 4}
_SNAPSHOT_SCALES = {
    "classroom": {"epochs": 8, "independent_models": 2},
    # ResNet-110 (the paper's DenseNets are not in lrlab.models): 200 epochs in M = 5
    # cosine cycles from the range test's upper bound.
    "paper": {
        "dataset": "cifar10",
        "model": "resnet110",
        "batch_size": 64,
        "weight_decay": 1e-4,
        "range_test": {"num_iter": 400},
        "epochs": 200,
        "seeds": [0],
        "cycles": 5,
        "independent_models": 2,
    },
    # Two cycles of one step on CIFAR's 40-image test archive, or of 100 on MNIST-1D.
    "smoke": {**_SMOKE, "independent_models": 1, "epochs": 2, "cycles": 2, "batch_size": 40},
}
_SNAPSHOT_CLAIM = (
    "Saving the model at the end of each cosine cycle and averaging the snapshots' softmax "
    "outputs beats the single model of the same budget; with DenseNets the paper reports "
    "3.4% test error on CIFAR-10 and 17.4% on CIFAR-100 (its abstract)."
)

SNAPSHOTS = Experiment(
    name="snapshot-ensembles",
    chapter="restarts",
    title="Snapshot ensembles: M models from one cyclic run (Huang et al. 2017)",
    cite="huang2017snapshot",
    claim=_SNAPSHOT_CLAIM,
    run=snapshot_experiment,
    work=snapshot_examples,
    base={**_SNAPSHOT_BASE, "peak_fraction": 0.5},
    scales=_SNAPSHOT_SCALES,
)

SNAPSHOTS_FULL_PEAK = Experiment(
    name="snapshot-ensembles-full-peak",
    chapter="restarts",
    title="Snapshot ensembles restarting at the range test's full upper bound",
    cite="huang2017snapshot",
    claim=_SNAPSHOT_CLAIM,
    run=snapshot_experiment,
    work=snapshot_examples,
    base=_SNAPSHOT_BASE,
    scales=_SNAPSHOT_SCALES,
)

#: The experiments of this chapter.
EXPERIMENTS = (CLR, SGDR, SGDR_FULL_PEAK, SNAPSHOTS, SNAPSHOTS_FULL_PEAK)
