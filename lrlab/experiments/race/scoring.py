"""Scoring a race (:mod:`lrlab.experiments.race`): a trial's mean, the pick among trials, a
workload's target and each run's time to it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["median_target", "pick", "race_times", "steps_to_target", "trial_mean"]


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
