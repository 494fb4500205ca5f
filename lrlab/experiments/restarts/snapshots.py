"""``snapshot-ensembles``: M models from one cyclic run (Huang et al. 2017) against one model
and against independently trained models, at two peak rates.

For each peak (``peak_fractions`` of the range test's upper bound) and each seed:

- ``snapshot``: SGDR with ``cycles`` = M equal cycles, a snapshot at each cycle end
  (:class:`lrlab.ensembles.Snapshots`), scored as Huang et al. score it: the ensemble of the
  *last* m snapshots, m = 1..M (their section 3: "the last m models"), each costing the
  whole run. The top Hessian eigenvalue λ_max of the training loss (on the first
  ``sharpness.examples`` training examples) is measured at the initial weights and at every
  snapshot, to compare with the stability limit of the next restart;
- ``single``: one model trained with step decay from the same peak for the same epochs.

At ``independent_peak_fraction``, for each seed, two ensembles of M step-decay models
trained independently: ``equal_cost`` (M models of ``epochs / M`` epochs: the snapshot
run's cost) and ``m_times_cost`` (M models of ``epochs``: the seed's ``single`` model and
M - 1 more). A run *collapses* as :func:`common.collapsed` says; the experiment stores every
run, collapsed or not, and the chapter says which it compares.

>>> SNAPSHOTS.config()["cycles"], SNAPSHOTS.config()["peak_fractions"]
(4, [1.0, 0.5])
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from typing import Any

from lrlab.experiments.experiment import Experiment
from lrlab.experiments.restarts import common

__all__ = [
    "SNAPSHOTS",
    "arm_name",
    "independent_seeds",
    "snapshot_experiment",
    "snapshot_schedules",
    "snapshot_work",
]


def arm_name(peak_fraction: float) -> str:
    """The key of a peak's arms in the result.

    Examples
    --------
    >>> arm_name(1.0), arm_name(0.5)
    ('peak=1', 'peak=0.5')
    """
    return f"peak={peak_fraction:g}"


def independent_seeds(seed: int, cycles: int) -> dict[str, list[int]]:
    """The seeds of the two independent ensembles of base seed ``seed``: ``m_times_cost``
    holds ``seed`` itself (that seed's ``single`` model) and ``cycles - 1`` more,
    ``equal_cost`` ``cycles`` others; no seed serves twice.

    Examples
    --------
    >>> independent_seeds(2, 4)
    {'m_times_cost': [2, 1006, 1007, 1008], 'equal_cost': [2008, 2009, 2010, 2011]}
    """
    return {
        "m_times_cost": [seed] + [1000 + (cycles - 1) * seed + j for j in range(cycles - 1)],
        "equal_cost": [2000 + cycles * seed + j for j in range(cycles)],
    }


def snapshot_schedules(
    config: Mapping[str, Any],
    bounds: Mapping[str, float],
    steps_per_epoch: int,
    peak_fraction: float,
) -> dict:
    """The schedules at one peak, ``peak_fraction * max_lr``: ``snapshot`` (SGDR with
    ``cycles`` equal cycles), ``single`` (step decay over ``epochs``) and ``short`` (step
    decay over ``epochs / cycles``: an equal-cost ensemble's member).

    Examples
    --------
    >>> import numpy as np
    >>> made = snapshot_schedules(SNAPSHOTS.config(), {"max_lr": 0.2}, 1, 0.5)
    >>> steps = np.array([0, 5, 8, 10, 20])
    >>> [made[k](steps).round(4).tolist() for k in ("snapshot", "single", "short")]
    [[0.1, 0.05, 0.0095, 0.1, 0.1], [0.1, 0.1, 0.1, 0.1, 0.01], [0.1, 0.01, 0.001, 0.001, 0.001]]
    """
    from lrlab import schedules

    total = config["epochs"] * steps_per_epoch
    cycle = config["epochs"] // config["cycles"] * steps_per_epoch
    peak = peak_fraction * bounds["max_lr"]
    return {
        "snapshot": schedules.sgdr(peak, cycle),
        "single": common.step_decay(peak, total),
        "short": common.step_decay(peak, cycle),
    }


def _check_cycles(config: Mapping[str, Any]) -> None:
    if config["cycles"] < 1 or config["epochs"] % config["cycles"]:
        raise ValueError(
            f"cycles must divide epochs ({config['epochs']}) into equal cycles of whole "
            f"epochs, got {config['cycles']}"
        )


def _probe(config: Mapping[str, Any], data):
    """The first ``sharpness.examples`` training examples, model-ready."""
    images, labels = data.raw("train")
    n = config["sharpness"]["examples"]
    return data.normalize(images[:n]), labels[:n]


def _sharpness(model, probe, options: Mapping[str, Any]) -> float:
    """λ_max of the training loss on the probe, in eval mode; NaN at non-finite weights."""
    import torch

    from lrlab import curvature

    if not all(torch.isfinite(p).all() for p in model.parameters()):
        return math.nan
    x, y = probe
    return curvature.sharpness(model, x, y, mode="eval", tol=options["tol"], iters=options["iters"])


def _snapshot_run(config: dict, data, schedule, seed: int) -> dict:
    """One cyclic run with its snapshots scored the last-m way and measured for λ_max."""
    from lrlab import ensembles

    per_epoch = data.num_batches("train", config["batch_size"])
    probe = _probe(config, data)
    lambda_init = _sharpness(common.build(config, data, seed), probe, config["sharpness"])
    snapshots = ensembles.Snapshots(ensembles.cycle_ends(schedule, config["epochs"] * per_epoch))
    model, run = common.fit(config, data, schedule, seed, callbacks=[snapshots])
    run["snapshot_epochs"] = [(step + 1) // per_epoch for step in snapshots.taken]
    if len(snapshots):  # newest first: the ensemble of the first m is that of the last m
        scores = ensembles.evaluate(snapshots.states[::-1], data, model=model)
        run["snapshot_acc"] = scores.member_accuracy[::-1].tolist()
        run["snapshot_loss"] = scores.member_loss[::-1].tolist()
        run["last_m_acc"] = scores.accuracy.tolist()
        run["last_m_loss"] = scores.loss.tolist()
    else:
        run.update(snapshot_acc=[], snapshot_loss=[], last_m_acc=[], last_m_loss=[])
    lambdas = []
    for state in snapshots.states:
        model.load_state_dict(state)
        lambdas.append(_sharpness(model, probe, config["sharpness"]))
    run["lambda_init"], run["lambda_max"] = lambda_init, lambdas
    return run


def _task(
    config: dict,
    kind: str,
    peak_fraction: float,
    seed: int,
    bounds: dict,
    device: str,
    data_root: str,
) -> dict:
    """One run (a task of :func:`lrlab._pool.pmap`): ``kind`` is ``snapshot``, ``single``
    or ``short``; ``single`` and ``short`` runs also return their weights (``state``), for
    the ensembles of independent models."""
    data = common.dataset(config["dataset"], device, data_root)
    per_epoch = data.num_batches("train", config["batch_size"])
    schedule = snapshot_schedules(config, bounds, per_epoch, peak_fraction)[kind]
    if kind == "snapshot":
        return {"run": _snapshot_run(config, data, schedule, seed), "state": None}
    epochs = config["epochs"] // config["cycles"] if kind == "short" else config["epochs"]
    model, run = common.fit(config, data, schedule, seed, epochs=epochs)
    return {"run": run, "state": {k: v.detach().cpu() for k, v in model.state_dict().items()}}


def _tasks(config: Mapping[str, Any]) -> list[tuple[str, str, float, int]]:
    """Every run as ``(part, kind, peak_fraction, seed)``, in the order of the result."""
    tasks = [
        (arm_name(fraction), kind, fraction, seed)
        for fraction in config["peak_fractions"]
        for kind in ("snapshot", "single")
        for seed in config["seeds"]
    ]
    fraction = config["independent_peak_fraction"]
    for seed in config["seeds"]:
        seeds = independent_seeds(seed, config["cycles"])
        # seed itself is the single model of the m_times_cost ensemble, trained above
        tasks += [("m_times_cost", "single", fraction, s) for s in seeds["m_times_cost"][1:]]
        tasks += [("equal_cost", "short", fraction, s) for s in seeds["equal_cost"]]
    return tasks


def snapshot_experiment(
    config: Mapping[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict:
    """Snapshot ensembles against one model and independent models, at every peak.

    Parameters
    ----------
    config : mapping
        :data:`SNAPSHOTS`'s configuration at a scale.
    device, data_root, progress, jobs
        See :func:`lrlab.experiments.run`.

    Returns
    -------
    dict
        ``{"bounds", "steps_per_epoch", "num_classes", "cycle_epochs", "peaks": {arm:
        rate}, "arms": {arm: {"snapshot": [run per seed], "single": [run per seed]}},
        "independent": {"peak", "m_times_cost": [group per seed], "equal_cost": [group
        per seed]}, "cpu_time_s"}``, an arm named by :func:`arm_name`. Every run is as
        :func:`common.fit` returns it; a snapshot run also has ``snapshot_epochs``,
        ``snapshot_acc`` and ``snapshot_loss`` (each snapshot alone, in training order),
        ``last_m_acc`` and ``last_m_loss`` (the ensemble of the last m snapshots, m = 1..M),
        ``lambda_init`` and ``lambda_max`` (at each snapshot). A group is ``{"seeds",
        "runs", "collapsed" (members that collapsed), "ensemble"}``, the ensemble of its
        first k members for k = 1..M (:meth:`lrlab.ensembles.EnsembleScores.to_dict`).
        ``cpu_time_s`` is the CPU seconds of the whole experiment (:func:`common.timed_pmap`).
    """
    from lrlab import ensembles

    started = time.process_time()
    _check_cycles(config)
    if config["independent_peak_fraction"] not in config["peak_fractions"]:
        raise ValueError(
            f"independent_peak_fraction must be one of peak_fractions "
            f"{config['peak_fractions']}, got {config['independent_peak_fraction']}"
        )
    data = common.dataset(config["dataset"], str(device), str(data_root))
    per_epoch = data.num_batches("train", config["batch_size"])
    bounds = common.bounds(config, data)
    plan = _tasks(config)
    tasks = [
        (dict(config), kind, fraction, seed, bounds, str(device), str(data_root))
        for _, kind, fraction, seed in plan
    ]
    outputs, elsewhere = common.timed_pmap(
        _task, tasks, jobs=jobs, progress=progress, desc="snapshot ensembles"
    )
    done = dict(zip(((part, kind, seed) for part, kind, _, seed in plan), outputs, strict=True))
    arms = {
        arm_name(f): {
            kind: [done[arm_name(f), kind, s]["run"] for s in config["seeds"]]
            for kind in ("snapshot", "single")
        }
        for f in config["peak_fractions"]
    }
    fraction = config["independent_peak_fraction"]
    template = common.build(config, data, 0)
    independent = {"peak": fraction * bounds["max_lr"]}
    for group, kind in (("m_times_cost", "single"), ("equal_cost", "short")):
        independent[group] = []
        for seed in config["seeds"]:
            seeds = independent_seeds(seed, config["cycles"])[group]
            parts = [group] * len(seeds)
            if group == "m_times_cost":
                parts[0] = arm_name(fraction)
            members = [done[part, kind, s] for part, s in zip(parts, seeds, strict=True)]
            scores = ensembles.evaluate([m["state"] for m in members], data, model=template)
            runs = [m["run"] for m in members]
            independent[group].append(
                {
                    "seeds": seeds,
                    "runs": runs,
                    "collapsed": sum(r["collapsed"] for r in runs),
                    "ensemble": scores.to_dict(),
                }
            )
    cycle = config["epochs"] // config["cycles"]
    return {
        "bounds": bounds,
        "steps_per_epoch": per_epoch,
        "num_classes": data.num_classes,
        "cycle_epochs": [cycle * (i + 1) for i in range(config["cycles"])],
        "peaks": {arm_name(f): f * bounds["max_lr"] for f in config["peak_fractions"]},
        "arms": arms,
        "independent": independent,
        "cpu_time_s": time.process_time() - started + elsewhere,
    }


def snapshot_work(config: Mapping[str, Any]) -> int:
    """Training examples :func:`snapshot_experiment` draws: the range test; per peak and
    seed a cyclic and a step-decay run of ``epochs``; per seed ``cycles - 1`` more models
    of ``epochs`` and ``cycles`` of ``epochs / cycles`` (the independent ensembles).

    Examples
    --------
    >>> snapshot_work(SNAPSHOTS.config()) == 200 * 128 + 20 * (2 * 2 + 3 + 1) * 40 * 4000
    True
    """
    seeds, cycles = len(config["seeds"]), config["cycles"]
    per_seed = 2 * len(config["peak_fractions"]) * config["epochs"]
    per_seed += (cycles - 1) * config["epochs"] + cycles * (config["epochs"] // cycles)
    return common.range_test_work(config) + seeds * common.epochs_work(config, per_seed)


SNAPSHOTS = Experiment(
    name="snapshot-ensembles",
    chapter="restarts",
    title="Snapshot ensembles: M models from one cyclic run (Huang et al. 2017)",
    cite="huang2017snapshot",
    claim=(
        "Saving the model at the end of each cosine cycle and averaging the last m "
        "snapshots' softmax outputs beats the single model of the same budget and compares "
        "favourably with ensembles of independently trained models; with DenseNets the paper "
        "reports 3.4% test error on CIFAR-10 and 17.4% on CIFAR-100 (its abstract)."
    ),
    run=snapshot_experiment,
    work=snapshot_work,
    base={
        **common.COMMON,
        "epochs": 40,
        "cycles": 4,
        "seeds": list(range(20)),
        # the range test's upper bound, and half of it
        "peak_fractions": [1.0, 0.5],
        "independent_peak_fraction": 0.5,
        # λ_max by Lanczos on a fixed batch of training examples
        "sharpness": {"examples": 512, "tol": 1e-3, "iters": 100},
    },
    scales={
        "classroom": {"epochs": 8, "seeds": [0, 1]},
        # ResNet-110 (the paper's DenseNets are not in lrlab.models): 200 epochs in M = 5
        # cosine cycles; one seed: a demonstration on a GPU, not a verdict.
        "paper": {
            "dataset": "cifar10",
            "model": "resnet110",
            "batch_size": 64,
            "weight_decay": 1e-4,
            "range_test": {"num_iter": 400},
            "epochs": 200,
            "seeds": [0],
            "cycles": 5,
        },
        # Two cycles of one step on CIFAR's 40-image test archive, or of 100 on MNIST-1D.
        "smoke": {
            **common.SMOKE,
            "epochs": 2,
            "cycles": 2,
            "batch_size": 40,
            "sharpness": {"examples": 8, "tol": 0.1, "iters": 10},
        },
    },
)
