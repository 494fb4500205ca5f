"""The experiments of the chapter on restarts, cycles and snapshot ensembles, at CPU scale.

Three experiments on MNIST-1D (Greydanus 2020) with the 1-D CNN of :mod:`lrlab.models`,
each a pure function ``experiment(config) -> dict`` of a JSON configuration, so that they can
be stored with provenance (:func:`store`, or ``python -m lrlab.restarts``) and loaded by the
book with :func:`lrlab.results.load_or_run`:

- :func:`clr_experiment`: cyclical rates (Smith 2017), ``triangular``, ``triangular2`` and
  ``exp_range``, against a constant rate and step decay, with the bounds read off a range
  test as Smith recommends;
- :func:`sgdr_experiment`: warm restarts (Loshchilov & Hutter 2017), with and without a
  decaying peak, and what the model at the end of each cycle is worth alone and in an
  ensemble;
- :func:`snapshot_experiment`: snapshot ensembles (Huang et al. 2017) against one model
  trained with the same budget and against ensembles of independently trained models.

:data:`CONFIGS` holds the configurations stored in ``lrlab/results_data``, :data:`CPU_CONFIGS`
much smaller variants that a page runs when no stored result matches.

>>> sorted(CONFIGS) == sorted(CPU_CONFIGS) == sorted(EXPERIMENTS)
True
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = [
    "CONFIGS",
    "CPU_CONFIGS",
    "EXPERIMENTS",
    "clr_experiment",
    "clr_schedules",
    "cyclical_bounds",
    "sgdr_experiment",
    "sgdr_schedules",
    "snapshot_examples",
    "snapshot_experiment",
    "snapshot_schedules",
    "store",
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

#: The configurations of the stored results, by results-file name.
CONFIGS: dict[str, dict] = {
    "restarts_clr_mnist1d": {
        **_COMMON,
        "epochs": 40,
        "seeds": [0, 1, 2],
        "step_size_epochs": 4,
        # exp_range: the amplitude halves every cycle of 2 * step_size_epochs epochs
        "exp_range_halving_epochs": 8,
    },
    "restarts_sgdr_mnist1d": {
        **_COMMON,
        "epochs": 70,
        "seeds": [0, 1, 2],
        "first_cycle_epochs": 10,
        "cycle_mult": 2,
        "peak_decays": [1.0, 0.5],
        # restarts (and the single models' first rate) go to this fraction of max_lr: a
        # trained network is sharper than the fresh one the range test measured
        "peak_fraction": 0.5,
    },
    "restarts_snapshots_mnist1d": {
        **_COMMON,
        "epochs": 40,
        "seeds": [0, 1, 2],
        "cycles": 4,
        "independent_models": 4,
        "peak_fraction": 0.5,
    },
}
# The same two experiments with the peak at the full upper bound (peak_fraction 1, the
# default when the key is absent): where restarting at the range test's edge goes wrong.
CONFIGS["restarts_sgdr_full_peak_mnist1d"] = {
    k: v for k, v in CONFIGS["restarts_sgdr_mnist1d"].items() if k != "peak_fraction"
}
CONFIGS["restarts_snapshots_full_peak_mnist1d"] = {
    k: v for k, v in CONFIGS["restarts_snapshots_mnist1d"].items() if k != "peak_fraction"
}

#: Small variants run by a page when no stored result matches (minutes become seconds).
CPU_CONFIGS: dict[str, dict] = {
    "restarts_clr_mnist1d": {
        **CONFIGS["restarts_clr_mnist1d"],
        "epochs": 8,
        "step_size_epochs": 1,
        "exp_range_halving_epochs": 2,
    },
    "restarts_sgdr_mnist1d": {
        **CONFIGS["restarts_sgdr_mnist1d"],
        "epochs": 7,
        "first_cycle_epochs": 1,
    },
    "restarts_snapshots_mnist1d": {
        **CONFIGS["restarts_snapshots_mnist1d"],
        "epochs": 8,
        "independent_models": 2,
    },
}
for _name in ("sgdr", "snapshots"):
    CPU_CONFIGS[f"restarts_{_name}_full_peak_mnist1d"] = {
        k: v for k, v in CPU_CONFIGS[f"restarts_{_name}_mnist1d"].items() if k != "peak_fraction"
    }


def cyclical_bounds(lrs, smoothed_losses, drop: float = 0.01) -> tuple[float, float]:
    """Smith's bounds of a cyclical schedule, read off a range test's smoothed loss.

    The lower bound is the first rate at which the loss has fallen by the fraction
    ``drop`` below its starting value ("where the loss starts to fall"); the upper bound
    is the rate at the lowest loss, after which it turns ragged and climbs (Smith 2017,
    section 3.3, reads the same two points off the accuracy). Both are rounded to two
    significant digits, the precision anyone reads a rate off a plot with.

    Parameters
    ----------
    lrs, smoothed_losses : array_like
        A range test's rates and smoothed losses (``RangeTestResult.lrs``, ``.smoothed``).
    drop : float
        In (0, 1).

    Returns
    -------
    (float, float)
        ``(base_lr, max_lr)``.

    Examples
    --------
    >>> cyclical_bounds([0.01, 0.02, 0.04, 0.08, 0.16], [2.3, 2.3, 2.2, 1.5, 2.9])
    (0.04, 0.08)
    """
    lrs, losses = np.asarray(lrs, dtype=float), np.asarray(smoothed_losses, dtype=float)
    if lrs.shape != losses.shape or lrs.ndim != 1 or len(lrs) < 2:
        raise ValueError(
            f"lrs and smoothed_losses must be 1-D of one length >= 2, got {lrs.shape} "
            f"and {losses.shape}"
        )
    if not 0 < drop < 1:
        raise ValueError(f"drop must be in (0, 1), got {drop}")
    finite = np.isfinite(losses)
    lowest = int(np.argmin(np.where(finite, losses, np.inf)))
    fallen = np.flatnonzero(finite[: lowest + 1] & (losses[: lowest + 1] < (1 - drop) * losses[0]))
    if len(fallen) == 0:
        raise ValueError(f"the loss never falls by {drop:.0%} below its start: no lower bound")
    return float(f"{lrs[fallen[0]]:.2g}"), float(f"{lrs[lowest]:.2g}")


# --- shared pieces ---------------------------------------------------------------------------


def _data(config: Mapping, device, data_root):
    from lrlab import data

    return data.load(config["dataset"], root=data_root, device=device)


def _build(config: Mapping, dataset, seed: int):
    import torch

    from lrlab import models

    torch.manual_seed(seed)
    return models.build(config["model"], dataset.num_classes, dataset.input_shape)


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
    base_lr, max_lr = cyclical_bounds(result.lrs, result.smoothed, drop)
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
    >>> made = clr_schedules(CONFIGS["restarts_clr_mnist1d"], {"base_lr": 0.01, "max_lr": 0.1}, 10)
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
    config: Mapping, *, device="cpu", data_root: str | os.PathLike = "data/cache"
) -> dict:
    """Cyclical rates against a constant rate and step decay, over seeds.

    The bounds ``base_lr``, ``max_lr`` come from a range test read with
    :func:`cyclical_bounds`; the schedules are those of :func:`clr_schedules`.

    Parameters
    ----------
    config : mapping
        A value of :data:`CONFIGS` or :data:`CPU_CONFIGS`.
    device : torch.device or str
        Where the data and the models live: the CPU for the chapter's stored runs, a GPU
        for the paper's scale (``lrlab reproduce ... --scale paper``).
    data_root : path
        Data folder (MNIST-1D's cache, CIFAR's archives).

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
    >>> made = sgdr_schedules(CONFIGS["restarts_sgdr_mnist1d"], {"max_lr": 0.2}, 1)
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
    config: Mapping, *, device="cpu", data_root: str | os.PathLike = "data/cache"
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
    >>> made = snapshot_schedules(CONFIGS["restarts_snapshots_mnist1d"], {"max_lr": 0.2}, 1)
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
    config: Mapping, *, device="cpu", data_root: str | os.PathLike = "data/cache"
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


def snapshot_examples(config: Mapping, sizes: Mapping[str, int]) -> int:
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
    >>> config = CONFIGS["restarts_snapshots_mnist1d"]
    >>> snapshot_examples(config, {"mnist1d": 4000}) == 200 * 128 + 3 * 5 * 40 * 4000
    True
    """
    test = config["range_test"]["num_iter"] * config["batch_size"]
    runs = len(config["seeds"]) * (1 + config["independent_models"])
    return test + runs * config["epochs"] * sizes[config["dataset"]]


#: The experiment function of each results-file name.
EXPERIMENTS = {
    "restarts_clr_mnist1d": clr_experiment,
    "restarts_sgdr_mnist1d": sgdr_experiment,
    "restarts_snapshots_mnist1d": snapshot_experiment,
    "restarts_sgdr_full_peak_mnist1d": sgdr_experiment,
    "restarts_snapshots_full_peak_mnist1d": snapshot_experiment,
}


def store(name: str, root=None) -> Path:
    """Run the experiment ``name`` at its stored configuration and save it with provenance.

    Uses one PyTorch thread (results do not depend on the machine's core count).

    Parameters
    ----------
    name : str
        A key of :data:`CONFIGS`.
    root : path, optional
        Results folder (see :func:`lrlab.results.results_root`).

    Returns
    -------
    pathlib.Path
        The results file written.
    """
    import torch

    from lrlab import results

    if name not in CONFIGS:
        raise ValueError(f"name must be one of {sorted(CONFIGS)}, got {name!r}")
    torch.set_num_threads(1)
    started = time.perf_counter()
    result = EXPERIMENTS[name](CONFIGS[name])
    return results.save(
        name,
        result,
        CONFIGS[name],
        command=f"python -m lrlab.restarts {name}",
        device="cpu",
        seed=CONFIGS[name]["seeds"][0],
        wall_time_s=time.perf_counter() - started,
        root=root,
    )


if __name__ == "__main__":  # python -m lrlab.restarts [NAME ...]
    for name in sys.argv[1:] or sorted(CONFIGS):
        print(f"stored {store(name)}", flush=True)
