"""The experiment of the chapter "Which schedule wins? A fair race": schedule families tuned
with the same budget on three workloads, then scored over seeds.

``race`` (:func:`run_race`), the protocol of AlgoPerf (Dahl et al. 2023) at CPU scale:

1. **Search space.** One range test per workload (Smith 2017) on its training part; the rule
   ``range_test["rule"]`` (``"steepest"``, torch-lr-finder's) reads a rate ``s`` off it.
   Every family's peak rate is searched over ``[s / factor, s * factor]``.
2. **Tuning.** Each family gets the same ``trials``: trial ``i`` (of ``n``) has the rate
   ``s * factor ** ((2 i + 1) / n - 1)``, log-evenly spread over the space, and, for a family
   with a shape parameter, the ``i mod k``-th of its ``k`` values. Each trial trains with the
   ``tune_seeds`` on the training part and is scored on the validation split (the last
   ``val_fraction`` of the training set); the pick is the trial with the highest mean final
   validation accuracy (ties: the lowest validation loss).
3. **Test.** Every family trains at its pick with each of ``seeds`` (the same seeds for every
   family: the same initial weights and data order), scored on the test split. A workload
   with ``objective_pick`` also picks each family's trial by the lowest final training
   objective (the L2-regularised loss of the last iterate, the quantity of Defazio et al.
   2023's bounds) and trains the seeds there too.

The time to a target is read from each run's validation accuracy after every epoch
(:func:`steps_to_target`); the target of a workload is the median over the families of their
picks' mean validation accuracy in tuning (:func:`median_target`).

>>> sorted(RACE.config()["families"])[:3]
['constant', 'cosine', 'gaussian-peak']
>>> lr, shape = trial_points({"shape": {"gamma": [0.1, 0.3]}}, 1.0, {"trials": 4, "factor": 4.0})[0]
>>> round(lr, 4), shape
(0.3536, {'gamma': 0.1})
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lrlab._pool import pmap
from lrlab.experiments.experiment import TRAIN_EXAMPLES, Experiment, Replace

__all__ = [
    "EXPERIMENTS",
    "RACE",
    "median_target",
    "pick",
    "race_schedule",
    "race_times",
    "race_work",
    "run_race",
    "steps_to_target",
    "trial_mean",
    "trial_points",
    "val_size",
]


# --- the pieces ---------------------------------------------------------------------------


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
            spec[key] = [max(1, round(f * total_steps)) for f in fraction]
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


def trial_mean(runs: Sequence[Mapping], key: str = "val_acc") -> float:
    """The mean over runs of ``key`` at the end of each run (the last entry of a series such
    as ``val_acc``, else the value, such as ``objective``); NaN if any run diverged.

    Examples
    --------
    >>> trial_mean([{"val_acc": [0.5, 0.75], "diverged_at_step": None},
    ...             {"val_acc": [0.6, 1.0], "diverged_at_step": None}])
    0.875
    >>> trial_mean([{"objective": 0.3, "diverged_at_step": 7}], "objective")
    nan
    """
    values = []
    for run in runs:
        value = run[key]
        if isinstance(value, list):
            value = value[-1] if value else math.nan
        values.append(math.nan if run.get("diverged_at_step") is not None else float(value))
    return float(np.mean(values))


def pick(trials: Sequence[Mapping], by: str = "val_acc") -> int:
    """The index of the best trial: the highest mean final validation accuracy (ties: the
    lowest mean validation loss) with ``by="val_acc"``, the lowest mean final training
    objective with ``by="objective"``. A trial with a diverged run is never picked unless
    every trial has one.

    Examples
    --------
    >>> trials = [{"runs": [{"val_acc": [0.5, 0.9], "val_loss": 0.3}]},
    ...           {"runs": [{"val_acc": [0.6, 0.9], "val_loss": 0.2}]}]
    >>> pick(trials)
    1
    """
    if by == "val_acc":
        keys = [
            (-trial_mean(t["runs"], "val_acc"), trial_mean(t["runs"], "val_loss")) for t in trials
        ]
    elif by == "objective":
        keys = [(trial_mean(t["runs"], "objective"), 0.0) for t in trials]
    else:
        raise ValueError(f"by must be 'val_acc' or 'objective', got {by!r}")
    keys = [tuple(math.inf if math.isnan(k) else k for k in key) for key in keys]
    return min(range(len(trials)), key=lambda i: keys[i])


def median_target(workload_result: Mapping[str, Any]) -> float:
    """A workload's target validation accuracy: the median over the families of their
    picked trial's mean final validation accuracy in tuning."""
    tuned = [
        trial_mean(trials[workload_result["picks"][family]]["runs"], "val_acc")
        for family, trials in workload_result["trials"].items()
    ]
    return float(np.nanmedian(tuned))


def steps_to_target(val_acc: Sequence[float], target: float, steps_per_epoch: int) -> float:
    """Optimizer steps until the validation accuracy, read after every epoch, first reaches
    ``target``: ``(e + 1) * steps_per_epoch`` for the first such epoch ``e``, ``inf`` if none.

    >>> steps_to_target([0.5, 0.8, 0.9], 0.8, 25), steps_to_target([0.5], 0.8, 25)
    (50, inf)
    """
    for epoch, acc in enumerate(val_acc):
        if acc >= target:
            return (epoch + 1) * steps_per_epoch
    return math.inf


def race_times(
    result: Mapping[str, Any], targets: Mapping[str, float] | None = None
) -> dict[str, dict[str, float]]:
    """Family -> workload -> the median over the test seeds of the steps to the workload's
    target (``inf`` when most seeds never reach it), the costs of
    :func:`lrlab.stats.performance_profile`.

    Parameters
    ----------
    result : mapping
        What :func:`run_race` returns.
    targets : mapping, optional
        Workload -> target accuracy; each workload's stored ``target`` by default.
    """
    times: dict[str, dict[str, float]] = {}
    for name, workload in result["workloads"].items():
        target = workload["target"] if targets is None else targets[name]
        for family, runs in workload["seeds"].items():
            steps = [
                steps_to_target(r["val_acc"], target, workload["steps_per_epoch"]) for r in runs
            ]
            times.setdefault(family, {})[name] = float(np.median(steps))
    return times


# --- the experiment ------------------------------------------------------------------------


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
    # Tuning: every (workload, family, trial, tuning seed), in one map.
    slots, tasks = [], []
    for name, workload in workloads.items():
        for family, spec in families.items():
            for trial in out[name]["trials"][family]:
                for seed in config["tune_seeds"]:
                    slots.append(trial["runs"])
                    tasks.append(
                        (
                            common,
                            dict(workload),
                            dict(spec),
                            trial["lr"],
                            trial["shape"],
                            seed,
                            device,
                            root,
                        )
                    )
    for slot, run in zip(
        slots, pmap(_fit_task, tasks, jobs=jobs, progress=progress, desc="tuning"), strict=True
    ):
        slot.append(run)
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
                    tasks.append(
                        (
                            common,
                            dict(workload),
                            dict(spec),
                            trial["lr"],
                            trial["shape"],
                            seed,
                            device,
                            root,
                        )
                    )
        result["target"] = median_target(result)
    for slot, run in zip(
        slots, pmap(_fit_task, tasks, jobs=jobs, progress=progress, desc="seeds"), strict=True
    ):
        slot.append(run)
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


# --- the configuration ----------------------------------------------------------------------

#: The entrants: a schedule spec of :func:`lrlab.schedules.from_spec` whose rate parameter is
#: the trial's peak rate, parameters given as fractions of the run, at most one shape
#: parameter with its values, and run options that differ from the workload's.
FAMILIES = {
    "constant": {"spec": {"name": "constant"}},
    # divide by 1/gamma at half and at three quarters of the run
    "step": {
        "spec": {"name": "multistep"},
        "fractions": {"milestones": [0.5, 0.75]},
        "shape": {"gamma": [0.1, 0.3]},
    },
    # to zero, or to a tenth of the peak (Bergsma et al. 2025's baseline)
    "cosine": {"spec": {"name": "cosine"}, "shape": {"min_lr_ratio": [0.0, 0.1]}},
    # PyTorch's OneCycleLR: warm up from peak / 25 for this share of the run, anneal to 1e-4 of that
    "one-cycle": {"spec": {"name": "one_cycle"}, "shape": {"pct_start": [0.15, 0.3]}},
    # constant, then a cooldown over the last fifth (Hägele et al. 2024); no warm-up
    "wsd": {
        "spec": {"name": "wsd"},
        "fractions": {"decay_steps": 0.2},
        "shape": {"cooldown": ["linear", "1-sqrt"]},
    },
    # linear decay to zero: polynomial(power=1, end_lr=0)
    "linear": {"spec": {"name": "polynomial", "power": 1.0, "end_lr": 0.0}},
    # Seong et al. 2018: from min_lr up to the peak at mid-run and back down
    "gaussian-peak": {"spec": {"name": "gaussian_peak"}, "shape": {"min_lr_ratio": [0.01, 0.0001]}},
    # SCHEDULE-FREE: the entrant of Defazio et al. 2024 goes here once the optimizer is in
    # lrlab (optimizer="sgd_schedulefree"), e.g. {"spec": {"name": "constant"}, "options":
    # {"optimizer": "sgd_schedulefree", "momentum": 0.9}}.
}

_BASE = {
    "workloads": {
        "mnist1d-cnn": {
            "dataset": "mnist1d",
            "model": "cnn1d",
            "model_options": {},
            "epochs": 40,
            "momentum": 0.9,
            "weight_decay": 5e-4,
            "objective_pick": False,
        },
        "digits-mlp": {
            "dataset": "digits",
            "model": "mlp",
            "model_options": {},
            "epochs": 30,
            "momentum": 0.9,
            "weight_decay": 5e-4,
            "objective_pick": False,
        },
        # multinomial logistic regression, L2-regularised (strongly convex), plain SGD: the
        # setting of Defazio et al. 2023's last-iterate bounds
        "digits-logreg": {
            "dataset": "digits",
            "model": "linear",
            "model_options": {},
            "epochs": 60,
            "momentum": 0.0,
            "weight_decay": 1e-3,
            "objective_pick": True,
        },
    },
    "families": FAMILIES,
    "batch_size": 128,
    "val_fraction": 0.2,
    "range_test": {
        "start_lr": 1e-4,
        "end_lr": 10.0,
        "num_iter": 100,
        "rule": "steepest",
        "seed": 0,
    },
    # trials per family over [s / factor, s * factor] around the range test's suggestion s
    "search": {"trials": 8, "factor": 4.0},
    "tune_seeds": [1000, 1001],
    "seeds": list(range(20)),
}


def _smoke(config: Mapping[str, Any]) -> dict:
    """Seconds on any scale: one epoch per workload, two trials, one tuning seed, two seeds."""
    return {
        "workloads": {name: {"epochs": 1} for name in config["workloads"]},
        "search": {"trials": 2},
        "tune_seeds": [1000],
        "seeds": [0, 1],
        "range_test": {"num_iter": 20},
    }


RACE = Experiment(
    name="race",
    chapter="race",
    title="Which schedule wins? Schedule families raced at an equal tuning budget",
    cite="dahl2023benchmarking",
    claim=(
        "Comparisons between training algorithms only count at an equal tuning budget "
        "(AlgoPerf). At that budget, a constant rate with a short cooldown matches cosine "
        "(Hägele et al. 2024), linear decay to zero beats cosine (Bergsma et al. 2025), and "
        "linear decay is worst-case optimal for SGD's last iterate on convex problems "
        "(Defazio et al. 2023)."
    ),
    run=run_race,
    work=race_work,
    base=_BASE,
    scales={
        # the two digits workloads, shorter, four trials of one seed, five seeds
        "classroom": {
            "workloads": Replace(
                {
                    "digits-mlp": {**_BASE["workloads"]["digits-mlp"], "epochs": 10},
                    "digits-logreg": {**_BASE["workloads"]["digits-logreg"], "epochs": 20},
                }
            ),
            "search": {"trials": 4},
            "tune_seeds": [1000],
            "seeds": [0, 1, 2, 3, 4],
            "range_test": {"num_iter": 60},
        },
        # CIFAR on a GPU: ResNet-20 and ResNet-18, and logistic regression on the pixels
        "paper": {
            "workloads": Replace(
                {
                    "cifar10-resnet20": {
                        **_BASE["workloads"]["mnist1d-cnn"],
                        "dataset": "cifar10",
                        "model": "resnet20",
                        "epochs": 30,
                    },
                    "cifar100-resnet18": {
                        **_BASE["workloads"]["mnist1d-cnn"],
                        "dataset": "cifar100",
                        "model": "resnet18",
                        "epochs": 30,
                    },
                    "cifar10-logreg": {
                        **_BASE["workloads"]["digits-logreg"],
                        "dataset": "cifar10",
                        "epochs": 20,
                    },
                }
            ),
            "tune_seeds": [1000],
            "seeds": list(range(10)),
            "range_test": {"num_iter": 200},
        },
        "smoke": _smoke,
    },
)

#: The experiments of this chapter.
EXPERIMENTS = (RACE,)
