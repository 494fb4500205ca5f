"""The papers' own protocols as sweeps, for the chapter "Reproductions".

The chapters' experiments (:mod:`lrlab.experiments.restarts`, :mod:`~.flat_minima`) follow
each paper's idea with the book's protocol (bounds from a range test, equal budgets, many
seeds). The entries here follow the papers' own settings instead, run for run: each is a
grid of :mod:`lrlab.sweep` (schedules × rates × seeds, every run a pure function of its
config, cached and resumable, on any engine: in-process, stacked with ``torch.func``, or a
Ray cluster). The ``paper`` scale is the paper's setting on CIFAR; the ``cpu`` scale the
same grid on MNIST-1D with the 1-D CNN, in minutes.

>>> PEAKS_GRID.config("paper")["grid"]["model"]
['small_cnn', 'resnet110']
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lrlab.experiments.experiment import TRAIN_EXAMPLES, Experiment

__all__ = [
    "CLR_GRID",
    "EXPERIMENTS",
    "PEAKS_GRID",
    "SGDR_GRID",
    "SWEEP_OPTIONS",
    "grid_work",
    "run_grid",
]

#: Options of :func:`run_grid` besides the protocol's (see :func:`lrlab.sweep.run`).
SWEEP_OPTIONS = ("engine", "cache", "address", "resources")


def run_grid(
    config: Mapping[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
    engine: str = "local",
    cache: str | os.PathLike | None = "auto",
    address: str | None = None,
    resources: Mapping[str, float] | None = None,
) -> dict:
    """Run the sweep ``config["grid"]`` with :func:`lrlab.sweep.run`.

    Parameters
    ----------
    config : mapping
        ``{"grid": grid}`` (a grid of :func:`lrlab.sweep.expand`).
    device, data_root, progress, jobs
        See :func:`lrlab.experiments.run` (``jobs`` is the local engine's concern: the
        sweep trains one run after the other in this process).
    cache : str or path-like or None
        Folder of finished runs, for resuming (see :func:`lrlab.sweep.run`); ``"auto"``, the
        default, is ``sweeps`` inside ``data_root``, so runs on one data folder never answer
        for another's; ``None`` caches nothing.
    engine, address, resources
        See :func:`lrlab.sweep.run`.

    Returns
    -------
    dict
        ``{"records": [...], "summary": [...]}``: every run's record and the mean and spread
        over seeds per (data, model, schedule, rate).

    Examples
    --------
    >>> out = run_grid(CLR_GRID.config("smoke"), cache=None)
    >>> len(out["records"])
    2
    """
    from lrlab import sweep

    if isinstance(cache, str) and cache == "auto":
        cache = Path(data_root) / "sweeps"
    records = sweep.run(
        config["grid"],
        engine=engine,
        cache=cache,
        device=device,
        data_root=data_root,
        progress=progress,
        address=address,
        resources=resources,
    )
    return {"records": records, "summary": sweep.summary(records)}


def grid_work(config: Mapping[str, Any]) -> int:
    """Training examples of a grid: epochs × training-set size, summed over its runs.

    Examples
    --------
    >>> grid_work({"grid": {"data": "digits", "epochs": 2, "seed": [0, 1]}}) == 4 * 1347
    True
    """
    from lrlab import sweep

    return sum(c["epochs"] * TRAIN_EXAMPLES[c["data"]] for c in sweep.expand(config["grid"]))


def _step(milestones, gamma=0.1, label="step"):
    return {
        "name": "multistep",
        "milestones": milestones,
        "gamma": gamma,
        "unit": "epoch",
        "label": label,
    }


def _smoke(config: Mapping[str, Any]) -> dict:
    """One run per distinct (data, model, schedule) of a grid, two epochs of batch 40 (two
    steps on CIFAR's 40-image test archive: a peak or a decay needs two)."""
    from lrlab import sweep

    seen: dict[tuple, dict] = {}
    for c in sweep.expand(config["grid"]):
        key = (c["data"], c["model"], sweep.schedule_label(c))
        seen.setdefault(key, {**c, "epochs": 2, "batch_size": 40})
    return {"grid": list(seen.values())}


_PEAKS = [
    {"name": "gaussian_peak", "label": "Gaussian peak"},
    {"name": "laplacian_peak", "label": "Laplacian peak"},
]

PEAKS_GRID = Experiment(
    name="seong-peak-grid",
    chapter="reproductions",
    title="Seong et al.'s protocol: step decay against peak schedules on CIFAR-10",
    cite="seong2018flatter",
    claim=(
        "A nonmonotonic schedule that starts low, rises to a peak and falls again (Gaussian "
        "or Laplacian in time) leads SGD to minima that test better than step decay's: the "
        "paper compares them on CIFAR-10 with a small CNN and ResNet-110 (validation errors)."
    ),
    run=run_grid,
    work=grid_work,
    options=SWEEP_OPTIONS,
    stored=(),
    # He et al. (2016)'s CIFAR-10 budget: 164 epochs of batch 128, lr 0.1 divided by 10 at
    # epochs 82 and 123, momentum 0.9, weight decay 1e-4.
    base={
        "grid": {
            "data": "mnist1d",
            "model": "cnn1d",
            "epochs": 40,
            "batch_size": 128,
            "weight_decay": 5e-4,
            "lr": 0.1,
            "seed": list(range(10)),
            "schedule": [_step([20, 30]), *_PEAKS],
        }
    },
    scales={
        "classroom": {"grid": {"epochs": 4, "seed": [0, 1], "schedule": [_step([2, 3]), *_PEAKS]}},
        "paper": {
            "grid": {
                "data": "cifar10",
                "model": ["small_cnn", "resnet110"],
                "epochs": 164,
                "weight_decay": 1e-4,
                "seed": [0, 1, 2],
                "schedule": [_step([82, 123]), *_PEAKS],
            }
        },
        "smoke": _smoke,
    },
)

SGDR_GRID = Experiment(
    name="sgdr-grid",
    chapter="reproductions",
    title="Loshchilov & Hutter's protocol: WRN-28-10 with SGDR against step decay",
    cite="loshchilov2017sgdr",
    claim=(
        "With WRN-28-10, SGDR (lr 0.05, T0 = 10, Tmult = 2) reaches a lower test error than "
        "the step-decay baseline (lr 0.1 divided by 5 at epochs 60, 120, 160 of 200): "
        "single models at 4.03% on CIFAR-10 and 19.58% on CIFAR-100 (median of 5 runs)."
    ),
    run=run_grid,
    work=grid_work,
    options=SWEEP_OPTIONS,
    stored=(),
    # WRN-28-10, batch 128, momentum 0.9, weight decay 5e-4.
    base={
        "grid": [
            {
                "data": "mnist1d",
                "model": "cnn1d",
                "batch_size": 128,
                "epochs": 40,
                "lr": 0.1,
                "seed": list(range(10)),
                "schedule": _step([12, 24, 32], gamma=0.2, label="step (/5)"),
            },
            {
                "data": "mnist1d",
                "model": "cnn1d",
                "batch_size": 128,
                "epochs": 30,
                "lr": 0.05,
                "seed": list(range(10)),
                "schedule": {
                    "name": "sgdr",
                    "first_cycle": 2,
                    "cycle_mult": 2,
                    "unit": "epoch",
                    "label": "SGDR T0=2, Tmult=2",
                },
            },
        ]
    },
    scales={
        "classroom": {
            "grid": [
                {
                    "data": "digits",
                    "model": "mlp",
                    "epochs": 8,
                    "lr": 0.1,
                    "seed": [0, 1],
                    "schedule": _step([4, 6], gamma=0.2, label="step (/5)"),
                },
                {
                    "data": "digits",
                    "model": "mlp",
                    "epochs": 6,
                    "lr": 0.05,
                    "seed": [0, 1],
                    "schedule": {
                        "name": "sgdr",
                        "first_cycle": 2,
                        "cycle_mult": 2,
                        "unit": "epoch",
                        "label": "SGDR T0=2, Tmult=2",
                    },
                },
            ]
        },
        "paper": {
            "grid": [
                {
                    "data": ["cifar10", "cifar100"],
                    "model": "wrn28_10",
                    "batch_size": 128,
                    "epochs": 200,
                    "lr": 0.1,
                    "seed": [0, 1, 2, 3, 4],
                    "schedule": _step([60, 120, 160], gamma=0.2, label="step (/5)"),
                },
                {
                    "data": ["cifar10", "cifar100"],
                    "model": "wrn28_10",
                    "batch_size": 128,
                    "epochs": 150,
                    "lr": 0.05,
                    "seed": [0, 1, 2, 3, 4],
                    "schedule": {
                        "name": "sgdr",
                        "first_cycle": 10,
                        "cycle_mult": 2,
                        "unit": "epoch",
                        "label": "SGDR T0=10, Tmult=2",
                    },
                },
            ]
        },
        "smoke": _smoke,
    },
)

CLR_GRID = Experiment(
    name="clr-grid",
    chapter="reproductions",
    title="Smith's protocol: triangular2 against a fixed rate on CIFAR-10",
    cite="smith2017cyclical",
    claim=(
        "On CIFAR-10, the triangular2 policy between 0.001 and 0.006 reaches 81.4% in 25,000 "
        "iterations, which the fixed rate of 0.001 needs 70,000 iterations for."
    ),
    run=run_grid,
    work=grid_work,
    options=SWEEP_OPTIONS,
    stored=(),
    # Batch 100 (500 iterations per epoch on CIFAR-10): fixed 0.001 for 70,000 iterations
    # (140 epochs) against triangular2 between 0.001 and 0.006 with a stepsize of 2,000
    # iterations (4 epochs) for 25,000 iterations (50 epochs). small_cnn stands in for
    # Caffe's CIFAR-10 network.
    base={
        "grid": [
            {
                "data": "mnist1d",
                "model": "cnn1d",
                "batch_size": 100,
                "seed": list(range(10)),
                "epochs": 40,
                "lr": 0.01,
                "schedule": "constant",
            },
            {
                "data": "mnist1d",
                "model": "cnn1d",
                "batch_size": 100,
                "seed": list(range(10)),
                "epochs": 15,
                "lr": 0.06,
                "schedule": {
                    "name": "cyclic",
                    "base_lr": 0.01,
                    "step_size_up": 2,
                    "mode": "triangular2",
                    "unit": "epoch",
                    "label": "triangular2",
                },
            },
        ]
    },
    scales={
        "classroom": lambda config: {
            "grid": [{**part, "seed": [0, 1], "epochs": 4} for part in config["grid"]]
        },
        "paper": {
            "grid": [
                {
                    "data": "cifar10",
                    "model": "small_cnn",
                    "batch_size": 100,
                    "seed": [0, 1, 2],
                    "epochs": 140,
                    "lr": 0.001,
                    "schedule": "constant",
                },
                {
                    "data": "cifar10",
                    "model": "small_cnn",
                    "batch_size": 100,
                    "seed": [0, 1, 2],
                    "epochs": 50,
                    "lr": 0.006,
                    "schedule": {
                        "name": "cyclic",
                        "base_lr": 0.001,
                        "step_size_up": 4,
                        "mode": "triangular2",
                        "unit": "epoch",
                        "label": "triangular2",
                    },
                },
            ]
        },
        "smoke": _smoke,
    },
)

#: The experiments of this chapter.
EXPERIMENTS = (PEAKS_GRID, SGDR_GRID, CLR_GRID)
