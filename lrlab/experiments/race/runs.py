"""Running a race (:mod:`lrlab.experiments.race`): the splits, the trials' rates, each
family's schedule, the training and range-test tasks, and the protocol itself."""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Mapping
from typing import Any

from lrlab._pool import pmap
from lrlab.experiments.experiment import TRAIN_EXAMPLES
from lrlab.experiments.race.scoring import median_target, pick

__all__ = ["race_schedule", "race_work", "run_race", "trial_points", "val_size"]


def val_size(n: int, fraction: float) -> int:
    """Examples held out for validation from a training set of ``n``: ``round(fraction n)``,
    at least one, and at least one left to train on.

    >>> val_size(1347, 0.2), val_size(4000, 0.2)
    (269, 800)
    """
    return min(max(1, round(fraction * n)), n - 1)


@functools.lru_cache(maxsize=4)
def _splits(dataset: str, fraction: float, device: str, root: str):
    """``(validation, test)`` data sets of a built-in data set, loaded once per process: both
    train on the same first examples of its training set; the first is scored on the last
    ``fraction`` of it, the second on the real test set. Both keep the data set's
    augmentation and are normalised by the training part's statistics."""
    from lrlab import data

    full = data.load(dataset, root=root, device="cpu")
    images, labels = full.raw("train")
    keep = len(labels) - val_size(len(labels), fraction)
    train = (images[:keep], labels[:keep])
    made = []
    for name, scored in (("val", (images[keep:], labels[keep:])), ("test", full.raw("test"))):
        made.append(
            data.Dataset(
                f"{full.name}-{name}",
                train,
                scored,
                full.classes,
                scale=full.scale,
                augment_crop_flip=full.augmentation is not None,
                device=device,
                normalize=full.normalized,
            )
        )
    return tuple(made)


def trial_points(
    family: Mapping[str, Any], suggestion: float, search: Mapping[str, Any]
) -> list[tuple[float, dict]]:
    """The ``(rate, shape)`` of each tuning trial of a family.

    Trial ``i`` of ``n = search["trials"]`` has the rate ``suggestion * factor ** ((2 i + 1)
    / n - 1)`` (log-evenly spread over ``[suggestion / factor, suggestion * factor]``, the
    same for every family) and, if the family has a shape parameter ``{name: [values]}``,
    the ``i mod k``-th of its ``k`` values; else no shape.

    Examples
    --------
    >>> [round(lr, 3) for lr, _ in trial_points({}, 1.0, {"trials": 4, "factor": 4.0})]
    [0.354, 0.707, 1.414, 2.828]
    """
    n, factor = int(search["trials"]), float(search["factor"])
    shape = family.get("shape") or {}
    if len(shape) > 1:
        raise ValueError(f"a family has at most one shape parameter, got {sorted(shape)}")
    points = []
    for i in range(n):
        lr = suggestion * factor ** ((2 * i + 1) / n - 1)
        chosen = {key: values[i % len(values)] for key, values in shape.items()}
        points.append((float(lr), chosen))
    return points


def race_schedule(
    family: Mapping[str, Any], lr: float, total_steps: int, shape: Mapping[str, Any] = ()
):
    """A family's schedule at a peak rate: its ``spec`` for
    :func:`lrlab.schedules.from_spec`, with ``fractions`` (parameters given as fractions of
    the run: ``milestones``, ``decay_steps``) turned into steps, and the trial's ``shape``.

    Examples
    --------
    >>> family = {"spec": {"name": "multistep"}, "fractions": {"milestones": [0.5, 0.75]}}
    >>> race_schedule(family, 0.1, 100, {"gamma": 0.3})
    multistep(lr=0.1, milestones=[50, 75], gamma=0.3)
    """
    from lrlab import schedules

    spec = dict(family["spec"])
    for key, fraction in (family.get("fractions") or {}).items():
        if isinstance(fraction, list):
            steps: list[int] = []
            for f in fraction:  # strictly increasing, also in a run of a few steps
                steps.append(max(round(f * total_steps), steps[-1] + 1 if steps else 1))
            spec[key] = steps
        else:
            spec[key] = max(1, round(fraction * total_steps))
    spec.update(dict(shape))
    return schedules.from_spec(spec, lr=lr, total_steps=total_steps)


def _fit_task(
    common: dict, workload: dict, family: dict, lr: float, shape: dict, seed: int, device, root
) -> dict:
    """One training run: the family's schedule at ``lr`` on the workload, from ``seed``;
    validation accuracy after every epoch, then the test split and the training objective."""
    import torch

    from lrlab import models, step, train

    started = time.process_time()
    val, test = _splits(workload["dataset"], common["val_fraction"], device, root)
    per_epoch = val.num_batches("train", common["batch_size"])
    total = workload["epochs"] * per_epoch
    schedule = race_schedule(family, lr, total, shape)
    options = {"momentum": workload["momentum"], "weight_decay": workload["weight_decay"]}
    options.update(family.get("options") or {})
    net = models.build(
        workload["model"], val.num_classes, val.input_shape, seed=seed, **workload["model_options"]
    )
    history = train.fit(
        net,
        val,
        schedule,
        workload["epochs"],
        batch_size=common["batch_size"],
        seed=seed,
        progress=False,
        **options,
    )
    test_loss, test_acc = step.evaluate(net, test)
    train_loss, _ = step.evaluate(net, val, "train")
    with torch.no_grad():
        squares = sum(float((p.double() ** 2).sum()) for p in net.parameters())
    return {
        "seed": seed,
        "lr": lr,
        "shape": shape,
        "val_acc": history.test_acc,
        "val_loss": history.test_loss[-1] if history.test_loss else math.nan,
        "test_acc": test_acc,
        "test_loss": test_loss,
        # the objective SGD's weight decay minimises: mean loss + wd / 2 * |theta|^2
        "objective": train_loss + options["weight_decay"] / 2 * squares,
        "diverged_at_step": history.diverged_at_step,
        "cpu_s": time.process_time() - started,
    }


def _range_task(common: dict, workload: dict, device, root) -> dict:
    """The workload's range test on its training part, read with the configured rule."""
    from lrlab import lrfind, models

    started = time.process_time()
    val, _ = _splits(workload["dataset"], common["val_fraction"], device, root)
    options = dict(common["range_test"])
    rule, seed = options.pop("rule"), options.pop("seed")
    net = models.build(
        workload["model"], val.num_classes, val.input_shape, seed=seed, **workload["model_options"]
    )
    result = lrfind.range_test(
        net,
        val,
        batch_size=common["batch_size"],
        momentum=workload["momentum"],
        weight_decay=workload["weight_decay"],
        seed=seed,
        **options,
    )
    return {
        "lrs": result.lrs.tolist(),
        "smoothed": result.smoothed.tolist(),
        "rule": rule,
        "suggestion": result.suggest(rule),
        "cpu_s": time.process_time() - started,
    }


def run_race(
    config: Mapping[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict:
    """Tune every family with the same budget on every workload, then train it over seeds.

    Parameters
    ----------
    config : mapping
        :data:`RACE`'s configuration at a scale.
    device, data_root, progress, jobs
        See :func:`lrlab.experiments.run`.

    Returns
    -------
    dict
        ``{"families": [...], "cpu_s": summed CPU seconds of the tasks, "workloads": {name:
        {"steps_per_epoch", "total_steps", "sizes": {"train", "val", "test"}, "range_test":
        {"lrs", "smoothed", "rule", "suggestion"}, "trials": {family: [{"lr", "shape",
        "runs"}]}, "picks": {family: index}, "target", "seeds": {family: [run per seed]},
        and with ``objective_pick`` "objective_picks" and "objective_seeds"}}}``. A run holds
        ``seed``, ``val_acc`` (after every epoch), ``val_loss``, ``test_acc``, ``test_loss``,
        ``objective``, ``diverged_at_step`` and ``cpu_s``.
    """
    device, root = str(device), str(data_root)
    common = {k: config[k] for k in ("batch_size", "val_fraction", "range_test")}
    workloads, families = config["workloads"], config["families"]
    tests = pmap(
        _range_task,
        [(common, dict(w), device, root) for w in workloads.values()],
        jobs=jobs,
        progress=progress,
        desc="range tests",
    )
    out: dict[str, dict] = {}
    for (name, workload), test in zip(workloads.items(), tests, strict=True):
        val, test_set = _splits(workload["dataset"], config["val_fraction"], device, root)
        per_epoch = val.num_batches("train", config["batch_size"])
        out[name] = {
            "steps_per_epoch": per_epoch,
            "total_steps": workload["epochs"] * per_epoch,
            "sizes": {
                "train": val.size("train"),
                "val": val.size("test"),
                "test": test_set.size("test"),
            },
            "range_test": test,
            "trials": {
                family: [
                    {"lr": lr, "shape": shape, "runs": []}
                    for lr, shape in trial_points(spec, test["suggestion"], config["search"])
                ]
                for family, spec in families.items()
            },
        }

    def task(workload, spec, trial, seed) -> tuple:
        """The arguments of one :func:`_fit_task`: the family at the trial's rate and shape."""
        return (common, dict(workload), dict(spec), trial["lr"], trial["shape"], seed, device, root)

    def fill(slots: list[list], tasks: list[tuple], desc: str) -> None:
        """Run every task in one map and append each run to its slot."""
        runs = pmap(_fit_task, tasks, jobs=jobs, progress=progress, desc=desc)
        for slot, run in zip(slots, runs, strict=True):
            slot.append(run)

    # Tuning: every (workload, family, trial, tuning seed), in one map.
    slots, tasks = [], []
    for name, workload in workloads.items():
        for family, spec in families.items():
            for trial in out[name]["trials"][family]:
                for seed in config["tune_seeds"]:
                    slots.append(trial["runs"])
                    tasks.append(task(workload, spec, trial, seed))
    fill(slots, tasks, "tuning")
    # Test: every family at its pick(s), over the seeds.
    slots, tasks = [], []
    for name, workload in workloads.items():
        result = out[name]
        kinds = [("picks", "seeds", "val_acc")]
        if workload.get("objective_pick"):
            kinds.append(("objective_picks", "objective_seeds", "objective"))
        for picks_key, seeds_key, by in kinds:
            result[picks_key] = {f: pick(t, by) for f, t in result["trials"].items()}
            result[seeds_key] = {f: [] for f in families}
            for family, spec in families.items():
                trial = result["trials"][family][result[picks_key][family]]
                for seed in config["seeds"]:
                    slots.append(result[seeds_key][family])
                    tasks.append(task(workload, spec, trial, seed))
        result["target"] = median_target(result)
    fill(slots, tasks, "seeds")
    cpu = sum(t["cpu_s"] for t in tests)
    for result in out.values():
        for key in ("trials", "seeds", "objective_seeds"):
            for entries in result.get(key, {}).values():
                runs = [r for e in entries for r in e["runs"]] if key == "trials" else entries
                cpu += sum(r["cpu_s"] for r in runs)
    return {"families": list(families), "cpu_s": cpu, "workloads": out}


def race_work(config: Mapping[str, Any], sizes: Mapping[str, int] = TRAIN_EXAMPLES) -> int:
    """Training examples :func:`run_race` processes (at most: a range test may stop early).

    Per workload: the range test's ``num_iter`` batches, then ``epochs`` passes over the
    training part for every tuning run (families x trials x tuning seeds) and every test run
    (families x seeds, twice with ``objective_pick``).

    Examples
    --------
    >>> from lrlab.experiments.race import RACE
    >>> race_work(RACE.config("smoke")) > 0
    True
    """
    total = 0
    families = len(config["families"])
    for workload in config["workloads"].values():
        n = sizes[workload["dataset"]]
        train = n - val_size(n, config["val_fraction"])
        batch = min(config["batch_size"], train)  # the range test skips a short last batch
        runs = families * config["search"]["trials"] * len(config["tune_seeds"])
        runs += families * len(config["seeds"]) * (2 if workload.get("objective_pick") else 1)
        total += config["range_test"]["num_iter"] * batch + runs * workload["epochs"] * train
    return total
