"""Sharpness at equal training loss, read late in training.

Seong et al.'s Conjecture 1 compares minima "given the same cost value"; schedules end at
different training losses and sharpness moves with the loss, so the flat-minima chapter
compares runs where their training losses are equal. Matched points must be *late*, near the
minimum a run ends in: a run is read at a loss level only where it crosses the level in the
last ``late_fraction`` of training (:func:`late_crossing`), each pair of schedules at the
level the most runs of both cross there (:func:`match_pair`), and runs that failed are left
out (:func:`equal_loss`).

>>> first_late_epoch({"epochs": 40, "late_fraction": 1 / 3})
27
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lrlab import _check

__all__ = [
    "equal_loss",
    "failure_limit",
    "first_late_epoch",
    "late_crossing",
    "late_range",
    "match_pair",
    "matched_pair",
]


def first_late_epoch(config: Mapping[str, Any]) -> int:
    """The first epoch (1-based) whose end lies in the last ``late_fraction`` of the
    ``epochs`` of ``config``."""
    return max(1, math.ceil((1 - config["late_fraction"]) * config["epochs"] - 1e-9))


def late_crossing(rows: Sequence[Sequence[float]], level: float, first_epoch: int):
    """Where a run's training loss passes ``level`` for the last time late in training.

    ``rows`` are ``[epoch, training loss, λ_max, ...]`` in the order of training. Among the
    rows from ``first_epoch`` on, the last pair of consecutive rows whose losses bracket
    ``level`` gives the crossing; epoch and λ_max are interpolated there, linearly in the
    logarithm of the loss (the axis on which the curves are drawn).

    Returns
    -------
    (epoch, lambda_max) or None
        None where the run does not reach ``level`` from ``first_epoch`` on.

    Examples
    --------
    >>> rows = [[1, 0.9, 5.0], [2, 0.4, 3.0], [3, 0.1, 2.0], [4, 0.2, 4.0]]
    >>> late_crossing(rows, 0.2, first_epoch=2)  # reached again on the way up at epoch 4
    (4.0, 4.0)
    >>> late_crossing(rows, 0.6, first_epoch=2) is None
    True
    """
    level = _check.number("level", level, low=0, low_open=True)
    late = [row for row in rows if row[0] >= first_epoch and math.isfinite(row[1])]
    for before, after in reversed(list(zip(late, late[1:], strict=False))):
        lo, hi = sorted((before[1], after[1]))
        if lo <= level <= hi:
            if hi == lo:
                return float(after[0]), float(after[2])
            w = (math.log(level) - math.log(before[1])) / (math.log(after[1]) - math.log(before[1]))
            return (
                float(before[0] + w * (after[0] - before[0])),
                float(before[2] + w * (after[2] - before[2])),
            )
    if len(late) == 1 and late[0][1] == level:
        return float(late[0][0]), float(late[0][2])
    return None


def late_range(rows: Sequence[Sequence[float]], first_epoch: int) -> tuple[float, float] | None:
    """The lowest and highest training loss a run records from ``first_epoch`` on: every
    level between them is crossed there (the recorded losses join up), none outside.

    Examples
    --------
    >>> late_range([[1, 0.9, 5.0], [2, 0.4, 3.0], [3, 0.1, 2.0], [4, 0.2, 4.0]], 2)
    (0.1, 0.4)
    """
    losses = [row[1] for row in rows if row[0] >= first_epoch and math.isfinite(row[1])]
    return (float(min(losses)), float(max(losses))) if losses else None


def failure_limit(runs: Mapping[str, Sequence[Mapping[str, Any]]], factor: float) -> float:
    """``factor`` times the median final training loss of the runs that did not diverge: a
    run ending above it has not trained like the others."""
    finals = [
        r["train_loss"][-1]
        for rs in runs.values()
        for r in rs
        if not r["diverged"] and r["train_loss"] and math.isfinite(r["train_loss"][-1])
    ]
    return float(factor * np.median(finals)) if finals else math.inf


def _failed(run: Mapping[str, Any], limit: float) -> bool:
    """A run that diverged or ended with a training loss above ``limit``."""
    loss = run["train_loss"][-1] if run["train_loss"] else math.nan
    return bool(run["diverged"]) or not (math.isfinite(loss) and loss <= limit)


def match_pair(runs_a, runs_b, first_epoch: int) -> dict[str, Any]:
    """Two schedules' runs read at one training loss, late in training.

    The level is the loss crossed from ``first_epoch`` on (:func:`late_range`) by the most
    runs of both: among the ends of the runs' late ranges, the one maximising the smaller
    count, then the total (the lowest such level on a tie). It is chosen from the losses
    alone, never from the sharpness compared there. Every run crossing it is read there
    (:func:`late_crossing`).

    Parameters
    ----------
    runs_a, runs_b : sequence of mapping
        Runs with ``seed`` and ``sharpness`` rows ``[epoch, loss, λ_max, ...]``.
    first_epoch : int
        The first epoch of the late window.

    Returns
    -------
    dict
        ``level`` (None where no loss is crossed late by runs of both), ``a`` and ``b``: one
        ``[seed, epoch, λ_max]`` per run crossing the level.

    Examples
    --------
    >>> a = [{"seed": 0, "sharpness": [[3, 0.30, 2.0], [4, 0.10, 1.0]]}]
    >>> b = [{"seed": 0, "sharpness": [[3, 0.20, 5.0], [4, 0.05, 4.0]]}]
    >>> out = match_pair(a, b, first_epoch=3)
    >>> out["level"], out["a"][0][0], out["b"][0][2]
    (0.1, 0, 4.5)
    """
    ranges = [
        [(r["seed"], r["sharpness"], late_range(r["sharpness"], first_epoch)) for r in runs]
        for runs in (runs_a, runs_b)
    ]
    ranges = [[x for x in side if x[2] is not None] for side in ranges]
    candidates = sorted({end for side in ranges for *_, span in side for end in span})

    def covering(side, level):
        return [x for x in side if x[2][0] <= level <= x[2][1]]

    best, best_key = None, (0, 0)
    for level in candidates:
        counts = [len(covering(side, level)) for side in ranges]
        key = (min(counts), sum(counts))
        if key[0] > 0 and key > best_key:
            best, best_key = level, key
    if best is None:
        return {"level": None, "a": [], "b": []}
    points = [
        [[seed, *late_crossing(rows, best, first_epoch)] for seed, rows, _ in covering(side, best)]
        for side in ranges
    ]
    return {"level": best, "a": points[0], "b": points[1]}


def equal_loss(runs: Mapping[str, Sequence[Mapping[str, Any]]], config: Mapping[str, Any]):
    """The sharpness of every pair of schedules at equal training loss, late in training.

    Runs that failed are left out: those that diverged, and those whose final training loss
    is above ``config["failed_factor"]`` times the median final loss of all runs
    (:func:`failure_limit`). Every pair of schedules is then read at one loss level crossed
    in the last ``late_fraction`` of training (:func:`first_late_epoch`) by the most runs of
    both (:func:`match_pair`), and nowhere else.

    Returns
    -------
    dict
        ``first_epoch``; ``failed_limit`` and ``failed`` (schedule -> seeds left out);
        ``late`` (schedule -> ``[seed, lowest, highest]`` late loss of each run kept);
        ``pairs``: one :func:`match_pair` record per pair of schedules, in the order of
        ``runs``, with the names as ``name_a`` and ``name_b``.
    """
    first = first_late_epoch(config)
    limit = failure_limit(runs, config["failed_factor"])
    failed = {n: [r["seed"] for r in rs if _failed(r, limit)] for n, rs in runs.items()}
    kept = {n: [r for r in rs if r["seed"] not in failed[n]] for n, rs in runs.items()}
    late = {
        n: [[r["seed"], *span] for r in rs if (span := late_range(r["sharpness"], first))]
        for n, rs in kept.items()
    }
    names = list(runs)
    pairs = [
        {"name_a": a, "name_b": b, **match_pair(kept[a], kept[b], first)}
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    ]
    return {
        "first_epoch": first,
        "failed_limit": limit,
        "failed": failed,
        "late": late,
        "pairs": pairs,
    }


def matched_pair(matched: Mapping[str, Any], a: str, b: str) -> dict[str, Any]:
    """The record of :func:`equal_loss` for schedules ``a`` and ``b``, as ``a`` against
    ``b``: ``{"level", "a", "b"}``.

    Examples
    --------
    >>> matched = {"pairs": [{"name_a": "x", "name_b": "y", "level": 0.1, "a": [1], "b": [2]}]}
    >>> matched_pair(matched, "y", "x")
    {'level': 0.1, 'a': [2], 'b': [1]}
    """
    for pair in matched["pairs"]:
        if (pair["name_a"], pair["name_b"]) == (a, b):
            return {"level": pair["level"], "a": pair["a"], "b": pair["b"]}
        if (pair["name_a"], pair["name_b"]) == (b, a):
            return {"level": pair["level"], "a": pair["b"], "b": pair["a"]}
    raise ValueError(f"no pair of {a!r} and {b!r} in the record")
