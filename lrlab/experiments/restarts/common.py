"""What the three experiments of the restarts chapter share: the data and network, the
range test that gives every schedule its bounds, one training run, and what a collapsed run
is.

Every run of these experiments is one task of :func:`lrlab._pool.pmap`: a module-level
function of plain data (the configuration, an arm, a seed) that loads the data set once per
process (:func:`dataset`), builds its schedule from the bounds the parent's range test read,
and trains with :func:`lrlab.train.fit`. Its numbers do not depend on the number of
processes.

>>> COLLAPSE_FACTOR, collapsed([0.5, 0.11, 0.3], diverged=False, num_classes=10)
(2, True)
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lrlab._pool import pmap
from lrlab.experiments.experiment import TRAIN_EXAMPLES

__all__ = [
    "COLLAPSE_FACTOR",
    "COMMON",
    "SMOKE",
    "bounds",
    "build",
    "collapse_epoch",
    "collapsed",
    "dataset",
    "epochs_work",
    "final_accuracy",
    "fit",
    "range_test_work",
    "step_decay",
    "timed_pmap",
]

#: What every experiment of the chapter shares: MNIST-1D, the 1-D CNN, SGD with momentum
#: 0.9 and weight decay 5e-4 at batch 128, and one range test (an exponential sweep of the
#: rate read on the loss; Smith's own test grows the rate linearly and reads accuracy) whose
#: smoothed loss gives the bounds: the lower where it has fallen by ``drop``
#: (1%) from its start, the upper at its minimum (:func:`lrlab.lrfind.cyclical_bounds`).
#: Smith reads the bounds once for a network and data set: one range test, from the
#: weights and batch order of seed ``range_test.seed``, serves every seed of every arm.
COMMON = {
    "dataset": "mnist1d",
    "model": "cnn1d",
    "batch_size": 128,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "range_test": {"start_lr": 1e-4, "end_lr": 10.0, "num_iter": 200, "drop": 0.01, "seed": 0},
}

#: A smoke run: one seed, one epoch, a short range test (applied on top of any scale).
SMOKE = {
    "epochs": 1,
    "seeds": [0],
    "range_test": {"start_lr": 0.01, "num_iter": 30, "drop": 1e-6},
}

#: A run has *collapsed* when its loss stopped being finite, or its test accuracy fell back
#: below this many times chance (20% on MNIST-1D's ten classes) after being above it, or
#: never rose above it (:func:`collapse_epoch`): it stopped learning, not merely learned less.
COLLAPSE_FACTOR = 2


@functools.lru_cache(maxsize=4)
def dataset(name: str, device: str, data_root: str):
    """The data set ``name`` on ``device``, loaded once per process."""
    from lrlab import data

    return data.load(name, root=data_root, device=device)


def build(config: Mapping[str, Any], data, seed: int):
    """The configuration's network for ``data``, its weights drawn from ``seed``."""
    from lrlab import models

    return models.build(config["model"], data.num_classes, data.input_shape, seed=seed)


def bounds(config: Mapping[str, Any], data) -> dict[str, float]:
    """``{"base_lr", "max_lr"}`` read off one range test of ``config["range_test"]``.

    The upper bound is where the *smoothed* loss is lowest; smoothing lags, so it lands at a
    rate above the one where the raw loss turns up (see :func:`lrlab.lrfind.cyclical_bounds`).
    """
    from lrlab import lrfind

    options = dict(config["range_test"])
    drop, seed = options.pop("drop"), options.pop("seed")
    result = lrfind.range_test(
        build(config, data, seed),
        data,
        batch_size=config["batch_size"],
        momentum=config["momentum"],
        weight_decay=config["weight_decay"],
        seed=seed,
        **options,
    )
    base_lr, max_lr = lrfind.cyclical_bounds(result.lrs, result.smoothed, drop)
    return {"base_lr": base_lr, "max_lr": max_lr}


def step_decay(lr: float, total_steps: int):
    """The usual CIFAR recipe: ``lr``, divided by 10 at half and at three quarters of the run
    (in a run of a step or two, where those coincide, once after the first step).

    Examples
    --------
    >>> import numpy as np
    >>> step_decay(0.1, 40)(np.array([0, 20, 30])).round(4).tolist()
    [0.1, 0.01, 0.001]
    >>> step_decay(0.1, 1).params["milestones"]
    [1]
    """
    from lrlab import schedules

    milestones = sorted({max(1, total_steps // 2), max(1, 3 * total_steps // 4)})
    return schedules.multistep(lr, milestones)


def collapse_epoch(test_acc: Sequence[float], diverged: bool, num_classes: int) -> int | None:
    """The epoch (from 1) at which a run collapsed, or None if it did not.

    A run collapses when it stops learning: its test accuracy, once at or above
    :data:`COLLAPSE_FACTOR` times chance (``1 / num_classes``), falls below it again (even
    if it later recovers part of the way), or it never gets there, or its loss stops being
    finite. The epoch is the first one below the threshold after one above it; 1 for a run
    that never rose above it; for a run that diverged first, the epoch it diverged in (one
    past the last epoch it finished).

    Parameters
    ----------
    test_acc : sequence of float
        The run's test accuracy after each epoch (empty if it diverged in the first).
    diverged : bool
        Whether its loss stopped being finite (:attr:`lrlab.history.History.diverged`).
    num_classes : int

    Examples
    --------
    >>> collapse_epoch([0.3, 0.9, 0.95], False, 10) is None  # a slow first epoch is no collapse
    True
    >>> collapse_epoch([0.3, 0.9, 0.09, 0.4], False, 10), collapse_epoch([0.9, 0.95], True, 10)
    (3, 3)
    """
    threshold = COLLAPSE_FACTOR / num_classes
    above = [math.isfinite(a) and a >= threshold for a in map(float, test_acc)]
    if True not in above:
        return len(above) + 1 if diverged and above else 1
    first = above.index(True)
    if False in above[first:]:
        return above.index(False, first) + 1
    return len(above) + 1 if diverged else None


def collapsed(test_acc: Sequence[float], diverged: bool, num_classes: int) -> bool:
    """Whether a run collapsed (:func:`collapse_epoch` is not None).

    Examples
    --------
    >>> collapsed([0.9, 0.95], False, 10), collapsed([0.9, 0.089, 0.35], False, 10)
    (False, True)
    >>> collapsed([0.9], True, 10), collapsed([0.11, 0.12], False, 10)
    (True, True)
    """
    return collapse_epoch(test_acc, diverged, num_classes) is not None


def final_accuracy(run: Mapping[str, Any], num_classes: int) -> float:
    """A run's final test accuracy, scored as chance (``1 / num_classes``) if it diverged,
    where it has no final accuracy: the score of a model that predicts nothing.

    Examples
    --------
    >>> final_accuracy({"test_acc": [0.5, 0.9], "diverged": False}, 10)
    0.9
    >>> final_accuracy({"test_acc": [0.5], "diverged": True}, 10)
    0.1
    """
    if run["diverged"] or not run["test_acc"]:
        return 1 / num_classes
    return float(run["test_acc"][-1])


def fit(
    config: Mapping[str, Any],
    data,
    schedule,
    seed: int,
    *,
    epochs: int | None = None,
    callbacks=(),
):
    """Train the configuration's network from ``seed`` under ``schedule``.

    Parameters
    ----------
    config : mapping
        With ``model``, ``batch_size``, ``momentum``, ``weight_decay`` and ``epochs``.
    data : lrlab.data.Dataset
    schedule : callable
        Rate per optimizer step.
    seed : int
        Initial weights and batch order.
    epochs : int, optional
        Instead of ``config["epochs"]``.
    callbacks : sequence
        :func:`lrlab.train.fit` callbacks (snapshots).

    Returns
    -------
    (torch.nn.Module, dict)
        The trained model and the run: ``seed``, per-epoch ``test_acc``, ``test_loss`` and
        ``train_loss``, ``diverged``, ``collapsed`` and ``collapse_epoch``
        (:func:`collapse_epoch`).
    """
    from lrlab import train

    model = build(config, data, seed)
    history = train.fit(
        model,
        data,
        schedule,
        epochs=config["epochs"] if epochs is None else epochs,
        batch_size=config["batch_size"],
        momentum=config["momentum"],
        weight_decay=config["weight_decay"],
        seed=seed,
        progress=False,
        callbacks=callbacks,
    )
    run = {
        "seed": seed,
        "test_acc": list(history.test_acc),
        "test_loss": list(history.test_loss),
        "train_loss": list(history.train_loss),
        "diverged": history.diverged,
    }
    run["collapse_epoch"] = collapse_epoch(history.test_acc, history.diverged, data.num_classes)
    run["collapsed"] = run["collapse_epoch"] is not None
    return model, run


def range_test_work(config: Mapping[str, Any]) -> int:
    """Training examples the range test draws (at most: it may stop early at divergence).

    Examples
    --------
    >>> range_test_work(COMMON) == 200 * 128
    True
    """
    return config["range_test"]["num_iter"] * config["batch_size"]


def epochs_work(config: Mapping[str, Any], epochs: int) -> int:
    """Training examples of ``epochs`` passes over the configuration's data set.

    Examples
    --------
    >>> epochs_work(COMMON, 3)
    12000
    """
    return epochs * TRAIN_EXAMPLES[config["dataset"]]


def _timed(fn: Callable[..., Any], *args) -> tuple[Any, float]:
    start = time.process_time()
    out = fn(*args)
    return out, time.process_time() - start


def timed_pmap(
    fn: Callable[..., Any], tasks: Sequence[Sequence[Any]], *, jobs: int, progress: bool, desc: str
) -> tuple[list[Any], float]:
    """:func:`lrlab._pool.pmap`, and the CPU seconds its tasks spent in other processes.

    Each task's CPU time is its :func:`time.process_time` in whichever process ran it; the
    second value is their sum less the CPU time this process spent in the call (0 with
    ``jobs=1``, where the tasks run here). An experiment's CPU bill is then this process's
    :func:`time.process_time` from start to end plus that value, whatever ``jobs`` was: a
    figure that the machine's other load does not inflate, as a wall time would be.

    Examples
    --------
    >>> out, elsewhere = timed_pmap(pow, [(2, 3), (3, 2)], jobs=1, progress=False, desc="")
    >>> out, abs(elsewhere) < 0.1
    ([8, 9], True)
    """
    start = time.process_time()
    pairs = pmap(_timed, [(fn, *task) for task in tasks], jobs=jobs, progress=progress, desc=desc)
    here = time.process_time() - start
    return [out for out, _ in pairs], max(0.0, sum(seconds for _, seconds in pairs) - here)
