"""What both experiments of the flat-minima chapter share: Seong et al.'s (2018) schedules,
the epoch of each schedule's peak, the training set-up and one training run.

>>> s = seong_schedules(0.1, 1280)
>>> sorted(s) == sorted(SCHEDULES)
True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from lrlab import _check
from lrlab.experiments.experiment import TRAIN_EXAMPLES

__all__ = [
    "PAPER",
    "SCHEDULES",
    "TRAINING",
    "load_data",
    "peak_epoch",
    "seong_schedules",
    "smoke_epochs",
    "train_one",
    "train_work",
]

#: The schedules compared, in the order of the chapter's tables. ``laplacian-wide`` is the
#: Laplacian widened to the Gaussian's mean rate: the test of whether the Laplacian's
#: smaller total learning rate, rather than its shape, is what it lacks.
SCHEDULES: tuple[str, ...] = (
    "constant",
    "step",
    "cosine",
    "gaussian",
    "laplacian",
    "laplacian-wide",
)

#: The training set-up both experiments share (MNIST-1D, the 1-D CNN, SGD with momentum).
TRAINING = {
    "dataset": "mnist1d",
    "model": "cnn1d",
    "schedules": list(SCHEDULES),
    "epochs": 40,
    "batch_size": 128,
    "base_lr": 0.1,
    "peak_factor": 3.0,
    "momentum": 0.9,
    "weight_decay": 5e-4,
}

#: The paper's scale: He et al. (2016)'s CIFAR-10 budget, 164 epochs of batch 128, weight
#: decay 1e-4, with Seong's small CNN.
PAPER = {
    "dataset": "cifar10",
    "model": "small_cnn",
    "epochs": 164,
    "weight_decay": 1e-4,
}


def seong_schedules(base_lr: float, total_steps: int, peak_factor: float = 3.0) -> dict:
    """The schedules of the comparison, with Seong et al.'s (2018) rules for the peaks.

    - ``constant``: ``base_lr`` throughout;
    - ``step``: ``base_lr``, divided by 10 at 50 % and again at 75 % of the run;
    - ``cosine``: from ``base_lr`` to 0 (Loshchilov & Hutter 2017);
    - ``gaussian``, ``laplacian``: peak :math:`\\gamma_{max}` = ``peak_factor`` × ``base_lr``
      (Seong: about three times the baseline's rate), end :math:`\\gamma_{min} =
      \\gamma_{max}/10^4`, and a ``t_offset`` chosen so that the schedule starts at the
      baseline's rate (``start_lr=base_lr``);
    - ``laplacian-wide``: the Laplacian with the same peak and start, its end rate
      :math:`\\gamma_{min}` raised (which widens its peak) until its mean rate over the run
      equals the Gaussian's (solved with :func:`scipy.optimize.brentq`).

    Examples
    --------
    >>> s = seong_schedules(0.1, 1000)
    >>> round(float(max(s["gaussian"](np.arange(1000)))), 4), round(float(s["gaussian"](0)), 6)
    (0.3, 0.1)
    >>> round(float(s["step"](600)), 12), round(float(s["step"](800)), 12)
    (0.01, 0.001)
    >>> mean = {n: s[n](np.arange(1000)).mean() for n in ("gaussian", "laplacian-wide")}
    >>> round(float(mean["laplacian-wide"] / mean["gaussian"]), 6)
    1.0
    """
    from scipy.optimize import brentq

    from lrlab import schedules

    base_lr = _check.number("base_lr", base_lr, low=0, low_open=True)
    total_steps = _check.integer("total_steps", total_steps, minimum=2)
    if not (math.isfinite(peak_factor) and peak_factor > 1):
        raise ValueError(f"peak_factor must be a finite number > 1, got {peak_factor!r}")
    peak, steps = peak_factor * base_lr, np.arange(total_steps)
    gaussian = schedules.gaussian_peak(peak, total_steps, start_lr=base_lr)

    def laplacian(min_lr: float | None = None):
        return schedules.laplacian_peak(peak, total_steps, min_lr=min_lr, start_lr=base_lr)

    # The Laplacian's mean rate grows with its end rate: below the Gaussian's at the end
    # rate peak / 1e4, above it as the end rate nears the start rate; one root between.
    target = float(gaussian(steps).mean())
    min_lr = brentq(
        lambda m: laplacian(m)(steps).mean() - target,
        peak / 1e4,
        base_lr * (1 - 1e-9),
        xtol=1e-12,
    )
    return {
        "constant": schedules.constant(base_lr),
        "step": schedules.multistep(base_lr, [total_steps // 2, 3 * total_steps // 4]),
        "cosine": schedules.cosine(base_lr, total_steps),
        "gaussian": gaussian,
        "laplacian": laplacian(),
        "laplacian-wide": laplacian(min_lr),
    }


def peak_epoch(schedule, total_steps: int, steps_per_epoch: int) -> int:
    """The epoch (1-based) whose end holds "the weights at the peak" of ``schedule``: the
    epoch of the *last* step at which the rate is at its highest.

    For a peak schedule that is the epoch of its own peak (Seong et al.'s Fig. 3a walks from
    the final weights toward the weights there); for step decay the end of its first phase;
    for a constant rate the last epoch (the final weights themselves).

    Examples
    --------
    >>> from lrlab import schedules
    >>> peak_epoch(schedules.multistep(0.1, [50, 75]), 100, 10)
    5
    >>> peak_epoch(schedules.gaussian_peak(0.3, 101), 101, 10)  # its peak at step 50
    6
    """
    total_steps = _check.integer("total_steps", total_steps, minimum=1)
    steps_per_epoch = _check.integer("steps_per_epoch", steps_per_epoch, minimum=1)
    rates = np.asarray(schedule(np.arange(total_steps)), dtype=float)
    last_top = int(np.flatnonzero(rates == rates.max())[-1])
    return last_top // steps_per_epoch + 1


@functools.lru_cache(maxsize=2)
def load_data(name: str, device: str, root: str):
    """The data set ``name`` on ``device``, loaded once per process (each worker of
    :func:`lrlab._pool.pmap` loads it once for all its tasks)."""
    from lrlab import data

    return data.load(name, root=root, device=device)


def run_schedules(config: Mapping[str, Any], dataset) -> tuple[int, dict]:
    """Steps per epoch and :func:`seong_schedules` for ``config``'s training budget."""
    spe = dataset.num_batches("train", config["batch_size"])
    total = config["epochs"] * spe
    return spe, seong_schedules(config["base_lr"], total, config["peak_factor"])


def train_one(config: Mapping[str, Any], dataset, schedule, seed: int, callbacks=()):
    """One run of ``config``'s model and optimiser (SGD, momentum, weight decay) under
    ``schedule``, from ``seed`` (initial weights and data order): ``(model, history)``."""
    from lrlab import models, train

    model = models.build(config["model"], dataset.num_classes, dataset.input_shape, seed=seed)
    history = train.fit(
        model,
        dataset,
        schedule,
        config["epochs"],
        batch_size=config["batch_size"],
        momentum=config["momentum"],
        weight_decay=config["weight_decay"],
        seed=seed,
        progress=False,
        callbacks=list(callbacks),
    )
    return model, history


def smoke_epochs(config: Mapping[str, Any], least: int = 1) -> int:
    """Epochs of a smoke run: at least ``least``, and enough for 4 steps (the fewest the
    schedules take: step decay's two milestones), however few examples the data set has.

    Examples
    --------
    >>> smoke_epochs({"dataset": "mnist1d", "batch_size": 128}, least=2)
    2
    """
    steps_per_epoch = math.ceil(TRAIN_EXAMPLES[config["dataset"]] / config["batch_size"])
    return max(least, math.ceil(4 / steps_per_epoch))


def train_work(config: Mapping[str, Any]) -> int:
    """Training examples: every schedule and seed trains ``epochs`` passes."""
    runs = len(config["schedules"]) * len(config["seeds"])
    return runs * config["epochs"] * TRAIN_EXAMPLES[config["dataset"]]
