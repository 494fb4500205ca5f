"""The experiment of the chapter "Learning-rate decay and network stability".

``network-stability`` (:func:`run`) trains, with :class:`lrlab.stability.StabilityTracker`
attached, every run the chapter shows, for twelve seeds, each run (or each seed of the
continuations) one task of :func:`lrlab._pool.pmap`:

- ``"schedules"``: constant rate, step decay (x0.1 at half and three quarters of the
  run) and cosine annealing, on MNIST-1D with the 1-D CNN and on the digits with the MLP;
- ``"base_rates"``: the same three schedules on MNIST-1D at larger peak rates, without the
  tracker (the final accuracy of each schedule depends on the peak rate);
- ``"batch_vs_rate"``: one MNIST-1D run at rate η and batch B, then three continuations
  from the same weights: unchanged, rate η/f, batch f·B (the same SGD noise scale η/B as
  the smaller rate, Smith et al. 2018);
- ``"edge"``: full-batch gradient descent on the digits at several rates, with the
  successive-gradient cosine every step and the sharpness (top Hessian eigenvalue of the
  training loss, :class:`lrlab.curvature.SharpnessTracker`) every few steps.

:func:`seed_band` and :func:`mean_between` read the stored runs.

>>> STABILITY.config("classroom")["seeds"]
[0]
"""

from __future__ import annotations

import copy
import functools
import os
import warnings
from typing import Any

import numpy as np

from lrlab import _check, curvature, data, models, schedules, stability, train
from lrlab._pool import pmap
from lrlab.experiments.experiment import TRAIN_EXAMPLES, Experiment, Replace
from lrlab.history import History

__all__ = [
    "EXPERIMENTS",
    "KINDS",
    "STABILITY",
    "mean_between",
    "run",
    "seed_band",
    "training_examples",
]

KINDS = ("constant", "step", "cosine")


def _schedule(kind: str, lr: float, total_steps: int):
    if kind == "constant":
        return schedules.constant(lr)
    if kind == "step":
        return schedules.multistep(lr, [total_steps // 2, 3 * total_steps // 4], gamma=0.1)
    return schedules.cosine(lr, total_steps)


def _round(value):
    """Six significant digits (the metrics are not more precise, the file is smaller);
    non-finite numbers (a run that diverged) become ``None``, JSON's null, read back as NaN."""
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_round(v) for v in value]
    value = float(value)
    return float(f"{value:.6g}") if np.isfinite(value) else None


def _columns(history: History) -> dict[str, Any]:
    """The tracker's series as columns, ``{metric: {"steps": [...], "values": ...}}``."""
    out = {}
    for metric in history.extras:
        steps, values = stability.series(history, metric)
        out[metric] = {"steps": steps.tolist(), "values": _round(values)}
    return out


def _summary(history: History) -> dict[str, Any]:
    return {
        "metrics": _columns(history),
        "lr": _round(history.lr),
        "test_acc": _round(history.test_acc),
        "test_loss": _round(history.test_loss),
        "train_loss": _round(history.train_loss),
        "steps_per_epoch": history.steps_per_epoch,
    }


@functools.lru_cache(maxsize=4)
def _dataset(name: str, device: str, data_root: str) -> data.Dataset:
    """A data set, loaded once per process (every task of a worker shares it)."""
    return data.load(name, root=data_root, device=device)


def _probe(dataset, size: int):
    x, y = dataset.tensors("train")
    return x[:size], y[:size]


def _build(dataset, name: str, seed: int, **options):
    return models.build(name, dataset.num_classes, dataset.input_shape, seed=seed, **options)


def _schedule_run(config, name: str, lr: float, kind: str, seed: int, dataset, tracked: bool):
    """One schedule of one data set's setting at peak rate ``lr`` (its stability tracked or
    not: the base-rate arms record the accuracy alone)."""
    c = config["schedules"][name]
    total = c["epochs"] * dataset.num_batches("train", c["batch_size"])
    callbacks = []
    if tracked:
        px, py = _probe(dataset, config["probe_size"])
        callbacks.append(stability.StabilityTracker(px, py, every=c["every"]))
    history = train.fit(
        _build(dataset, c["model"], seed),
        dataset,
        _schedule(kind, lr, total),
        c["epochs"],
        batch_size=c["batch_size"],
        seed=seed,
        progress=False,
        callbacks=callbacks,
    )
    return _summary(history)


def _continuations(config, seed: int, dataset) -> dict[str, Any]:
    """One seed of ``batch_vs_rate``: the run at rate η and batch B, then its three
    continuations from the same weights and with the same data order."""
    c = config["batch_vs_rate"]
    px, py = _probe(dataset, config["probe_size"])
    lr, batch, f = c["lr"], c["batch_size"], c["factor"]
    variants = {  # label: (rate, batch size) of the continuation
        "unchanged": (lr, batch),
        "smaller rate": (lr / f, batch),
        "larger batch": (lr, batch * f),
    }
    net = _build(dataset, c["model"], seed)
    history = train.fit(
        net,
        dataset,
        lr,
        c["epochs_before"],
        batch_size=batch,
        seed=seed,
        progress=False,
        callbacks=[stability.StabilityTracker(px, py, every=c["every"])],
    )
    out = {"before": _summary(history)}
    for label, (rate, size) in variants.items():
        history = train.fit(
            copy.deepcopy(net),
            dataset,
            rate,
            c["epochs_after"],
            batch_size=size,
            seed=1000 + seed,  # the same data order for every continuation
            progress=False,
            callbacks=[stability.StabilityTracker(px, py, every=c["every"])],
        )
        out[label] = _summary(history)
    return out


def _edge_run(config, lr: float, seed: int, dataset) -> dict[str, Any]:
    """Full-batch gradient descent on the digits at rate ``lr``: the successive-gradient
    cosine every step, the sharpness every ``sharpness_every`` steps."""
    c = config["edge"]
    x, y = dataset.tensors("train")
    px, py = _probe(dataset, config["probe_size"])
    net = _build(dataset, "mlp", seed, hidden=tuple(c["hidden"]))
    history = train.fit(  # one step per "epoch": the whole training set is one batch
        net,
        dataset,
        lr,
        c["steps"],
        batch_size=dataset.size("train"),
        momentum=0.0,
        weight_decay=0.0,
        seed=seed,
        progress=False,
        callbacks=[
            stability.StabilityTracker(px, py, every=1),
            curvature.SharpnessTracker(x, y, c["sharpness_every"], iters=40, tol=1e-3),
        ],
    )
    summary = _summary(history)
    summary["loss"] = _round(history.loss)
    del summary["test_loss"], summary["train_loss"]
    return summary


def _task(config: dict[str, Any], part: str, key, kind, seed: int, device: str, data_root: str):
    """One run of one part (``key``: a data set, a rate), or one seed of the continuations."""
    if part == "schedules":
        dataset = _dataset(key, device, data_root)
        lr = config["schedules"][key]["lr"]
        return _schedule_run(config, key, lr, kind, seed, dataset, tracked=True)
    if part == "base_rates":
        name = config["base_rates"]["data"]
        return _schedule_run(
            config, name, key, kind, seed, _dataset(name, device, data_root), tracked=False
        )
    if part == "batch_vs_rate":
        return _continuations(
            config, seed, _dataset(config["batch_vs_rate"]["data"], device, data_root)
        )
    return _edge_run(config, key, seed, _dataset("digits", device, data_root))


def run(
    config: dict[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict[str, Any]:
    """Run every experiment of ``config``, one task per part, arm and seed.

    Parameters
    ----------
    config : dict
        :data:`STABILITY`'s configuration at a scale.
    device, data_root, progress, jobs
        See :func:`lrlab.experiments.run` (the tasks, one per run, or per seed of
        ``batch_vs_rate``, run in ``jobs`` processes; the result does not depend on it).

    Returns
    -------
    dict
        ``{"schedules": {data: {kind: [run per seed]}}, "base_rates": {str(lr): {kind:
        [...]}}, "batch_vs_rate": {variant: [...]}, "edge": {str(lr): [...]}}``; each run is
        ``{"metrics": {metric: {"steps", "values"}}, "lr", "test_acc", "test_loss",
        "train_loss", "steps_per_epoch"}`` (per epoch; the edge runs have ``"loss"`` per
        step instead of the epoch losses), the metrics as
        :class:`~lrlab.stability.StabilityTracker` records them (none in the base-rate
        runs), plus ``"sharpness"`` and ``"stability_threshold"`` in the edge runs.
        Non-finite numbers are ``None``.
    """
    seeds = config["seeds"]
    # Longest tasks first, so that the processes finish together.
    keys = [("batch_vs_rate", None, None, s) for s in seeds]
    keys += [("schedules", n, k, s) for n in config["schedules"] for k in KINDS for s in seeds]
    keys += [
        ("base_rates", r, k, s) for r in config["base_rates"]["lrs"] for k in KINDS for s in seeds
    ]
    keys += [("edge", r, None, s) for r in config["edge"]["lrs"] for s in seeds]
    tasks = [(config, *key, str(device), str(data_root)) for key in keys]
    outputs = pmap(_task, tasks, jobs=jobs, progress=progress, desc="network stability")
    done = dict(zip(keys, outputs, strict=True))
    return {
        "schedules": {
            n: {k: [done["schedules", n, k, s] for s in seeds] for k in KINDS}
            for n in config["schedules"]
        },
        "base_rates": {
            str(r): {k: [done["base_rates", r, k, s] for s in seeds] for k in KINDS}
            for r in config["base_rates"]["lrs"]
        },
        "batch_vs_rate": {
            v: [done["batch_vs_rate", None, None, s][v] for s in seeds]
            for v in ("before", "unchanged", "smaller rate", "larger batch")
        },
        "edge": {str(r): [done["edge", r, None, s] for s in seeds] for r in config["edge"]["lrs"]},
    }


def training_examples(config: dict[str, Any], sizes: dict[str, int] = TRAIN_EXAMPLES) -> int:
    """Training examples :func:`run` processes (its curvature and stability probes aside).

    Each data set of ``schedules`` trains ``len(KINDS)`` schedules per seed for ``epochs``
    passes, and the data set of ``base_rates`` as many again per extra peak rate;
    ``batch_vs_rate`` one run of ``epochs_before`` passes and three continuations of
    ``epochs_after``; ``edge`` ``steps`` full-batch steps on the digits per rate.

    Parameters
    ----------
    config : dict
        As :func:`run` takes it.
    sizes : dict
        Training-set size of each data set by name.

    Examples
    --------
    >>> tiny = {"seeds": [0], "schedules": {"digits": {"epochs": 2}},
    ...         "base_rates": {"data": "digits", "lrs": [0.1]},
    ...         "batch_vs_rate": {"data": "digits", "epochs_before": 1, "epochs_after": 1},
    ...         "edge": {"lrs": [0.5], "steps": 3}}
    >>> training_examples(tiny, {"digits": 100}) == 2 * 3 * 2 * 100 + (1 + 3) * 100 + 3 * 100
    True
    """
    seeds = len(config["seeds"])
    per_run = {name: c["epochs"] * sizes[name] for name, c in config["schedules"].items()}
    total = len(KINDS) * seeds * sum(per_run.values())
    c = config["base_rates"]
    total += len(c["lrs"]) * len(KINDS) * seeds * per_run[c["data"]]
    c = config["batch_vs_rate"]
    total += seeds * (c["epochs_before"] + 3 * c["epochs_after"]) * sizes[c["data"]]
    c = config["edge"]
    return total + len(c["lrs"]) * seeds * c["steps"] * sizes["digits"]


def _values(run_record: dict, metric: str, layer: str | None):
    column = run_record["metrics"][metric]
    values = column["values"]
    if isinstance(values, dict):
        values = values[_check.choice("layer", layer, sorted(values))]
    elif layer is not None:
        raise ValueError(f"{metric} has one value per step: layer must be None, got {layer!r}")
    return np.asarray(column["steps"]), np.asarray(values, dtype=float)


def seed_band(runs: list[dict], metric: str, layer: str | None = None):
    """Mean, minimum and maximum over seeds of a recorded metric, step by step.

    Parameters
    ----------
    runs : list of dict
        One run per seed as :func:`run` stores them (recorded at the same steps).
    metric : str
        A metric of :class:`~lrlab.stability.StabilityTracker` (or ``"sharpness"``).
    layer : str, optional
        The layer, for per-layer metrics.

    Returns
    -------
    steps, mean, low, high : numpy.ndarray
        Over the steps all runs recorded: a run that diverged and stopped early ends the
        band at its last record. Non-finite values are left out of the statistics.

    Examples
    --------
    >>> runs = [{"metrics": {"kl": {"steps": [5, 10], "values": [v, 2 * v]}}} for v in (1, 3)]
    >>> [a.tolist() for a in seed_band(runs, "kl")]
    [[5, 10], [2.0, 4.0], [1.0, 2.0], [3.0, 6.0]]
    """
    if not runs:
        raise ValueError("runs must hold at least one run, got none")
    columns = [_values(r, metric, layer) for r in runs]
    length = min(len(s) for s, _ in columns)
    steps = columns[0][0][:length]
    if any(not np.array_equal(s[:length], steps) for s, _ in columns):
        raise ValueError(f"runs must record {metric} at the same steps")
    values = np.stack([v[:length] for _, v in columns])
    finite = np.where(np.isfinite(values), values, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a step where every seed is NaN
        return steps, np.nanmean(finite, 0), np.nanmin(finite, 0), np.nanmax(finite, 0)


def mean_between(
    run_record: dict, metric: str, start: int, stop: int, layer: str | None = None
) -> float:
    """Mean of a recorded metric over the records at steps ``start <= step < stop``.

    The record at step ``t`` measures the update of step ``t``, so with a rate that drops
    at step ``m``, ``mean_between(r, k, m - w, m)`` is the mean before the drop and
    ``mean_between(r, k, m, m + w)`` after it.

    Examples
    --------
    >>> r = {"metrics": {"kl": {"steps": [5, 10, 15], "values": [1.0, 2.0, 6.0]}}}
    >>> mean_between(r, "kl", 6, 20)
    4.0
    """
    steps, values = _values(run_record, metric, layer)
    chosen = (steps >= start) & (steps < stop) & np.isfinite(values)
    if not chosen.any():
        raise ValueError(f"no finite record of {metric} at steps in [{start}, {stop})")
    return float(values[chosen].mean())


def _smoke(config: dict[str, Any]) -> dict[str, Any]:
    """A smoke run of any scale: one seed, one epoch of each part, its own data sets."""
    return {
        "seeds": [0],
        "probe_size": 16,
        "schedules": {
            name: {"epochs": 1, "batch_size": 10 if name.startswith("cifar") else 512, "every": 1}
            for name in config["schedules"]
        },
        "base_rates": {"lrs": config["base_rates"]["lrs"][:1]},
        "batch_vs_rate": {"batch_size": 512, "factor": 2, "epochs_before": 1, "epochs_after": 1},
        "edge": {"lrs": [0.5], "steps": 3, "sharpness_every": 3},
    }


STABILITY = Experiment(
    name="network-stability",
    chapter="network-stability",
    title="Learning-rate decay and network stability (ResNet-18, CIFAR-10)",
    cite="lrdecay2020stability",
    claim=(
        "Decaying the rate makes successive SGD steps see nearly the same loss field, so "
        "activations and backward signals stop jumping between regimes; the source argues "
        "it with ResNet-18 on CIFAR-10 and gives no numbers."
    ),
    run=run,
    work=training_examples,
    # Twelve seeds an arm (the same seeds in every arm: paired comparisons). The schedules
    # again at two larger peak rates, for the accuracy alone: which schedule ends higher
    # depends on the peak rate. 1-D CNN and MLP with SGD (momentum 0.9, weight decay 5e-4).
    base={
        "seeds": list(range(12)),
        "probe_size": 256,
        "schedules": {
            "mnist1d": {"model": "cnn1d", "lr": 0.05, "epochs": 32, "batch_size": 128, "every": 8},
            "digits": {"model": "mlp", "lr": 0.05, "epochs": 24, "batch_size": 64, "every": 6},
        },
        "base_rates": {"data": "mnist1d", "lrs": [0.1, 0.2]},
        "batch_vs_rate": {
            "data": "mnist1d",
            "model": "cnn1d",
            "lr": 0.05,
            "batch_size": 32,
            "factor": 4,
            "epochs_before": 12,
            "epochs_after": 12,
            "every": 8,
        },
        "edge": {
            "hidden": [64, 64],
            "lrs": [0.2, 0.5, 1.0, 2.0],
            "steps": 400,
            "sharpness_every": 20,
        },
    },
    scales={
        "classroom": {
            "seeds": [0],
            "probe_size": 128,
            "schedules": {"mnist1d": {"epochs": 4}, "digits": {"epochs": 4}},
            "base_rates": {"lrs": [0.2]},
            "batch_vs_rate": {"epochs_before": 2, "epochs_after": 2},
            "edge": {"lrs": [0.5, 2.0], "steps": 100},
        },
        # ResNet-18 on CIFAR-10 in place of the two small data sets (100 epochs, batch
        # 128; a smaller peak rate beside the usual 0.1), ten seeds; the batch-versus-rate
        # and full-batch parts stay the chapter's.
        "paper": {
            "seeds": list(range(10)),
            "schedules": Replace(
                {
                    "cifar10": {
                        "model": "resnet18",
                        "lr": 0.1,
                        "epochs": 100,
                        "batch_size": 128,
                        "every": 50,
                    }
                }
            ),
            "base_rates": {"data": "cifar10", "lrs": [0.01]},
        },
        "smoke": _smoke,
    },
)

#: The experiments of this chapter.
EXPERIMENTS = (STABILITY,)
