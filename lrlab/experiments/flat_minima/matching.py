"""Sharpness at equal training loss, read late in training.

Seong et al.'s Conjecture 1 compares minima "given the same cost value"; schedules end at
different training losses and sharpness moves with the loss, so the flat-minima chapter
compares runs where their training losses are equal. Matched points must be *late*, near the
minimum a run ends in: a run is read at a loss level only where it crosses the level in the
last ``late_fraction`` of training (:func:`late_crossing`), and runs that failed are left
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

__all__ = ["common_level", "equal_loss", "first_late_epoch", "late_crossing"]


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


def _failed(run: Mapping[str, Any], limit: float) -> bool:
    """A run that diverged or ended with a training loss above ``limit``."""
    loss = run["train_loss"][-1] if run["train_loss"] else math.nan
    return bool(run["diverged"]) or not (math.isfinite(loss) and loss <= limit)


def equal_loss(runs: Mapping[str, Sequence[Mapping[str, Any]]], config: Mapping[str, Any]):
    """The sharpness of every schedule's runs at equal training loss, late in training.

    Runs that failed (diverged, or a final training loss above ``config["failed_loss"]``)
    are left out. The levels are ``config["match_levels"]`` losses, evenly spaced in log,
    from the lowest to the highest loss that the remaining runs record in the last third of
    training (:func:`first_late_epoch`); each run is read at each level it crosses there
    (:func:`late_crossing`), and nowhere else.

    Returns
    -------
    dict
        ``first_epoch``, ``failed`` (schedule -> seeds left out), ``levels`` and ``points``:
        schedule -> one list per level of ``[seed, epoch, λ_max]``, one per run crossing it.
    """
    first = first_late_epoch(config)
    failed = {
        n: [r["seed"] for r in rs if _failed(r, config["failed_loss"])] for n, rs in runs.items()
    }
    kept = {n: [r for r in rs if r["seed"] not in failed[n]] for n, rs in runs.items()}
    late = [row[1] for rs in kept.values() for r in rs for row in r["sharpness"] if row[0] >= first]
    if not late:
        levels: list[float] = []
    else:
        levels = np.geomspace(min(late), max(late), config["match_levels"]).tolist()
    points = {
        n: [
            [
                [r["seed"], *hit]
                for r in rs
                if (hit := late_crossing(r["sharpness"], level, first)) is not None
            ]
            for level in levels
        ]
        for n, rs in kept.items()
    }
    return {"first_epoch": first, "failed": failed, "levels": levels, "points": points}


def common_level(matched: Mapping[str, Any], a: str, b: str) -> int | None:
    """The level at which most runs of both ``a`` and ``b`` cross late: the index into
    ``matched["levels"]`` maximising the smaller count (then the larger), or None where no
    level has runs of both.

    Examples
    --------
    >>> matched = {"levels": [0.1, 0.2], "points": {"a": [[[0, 30, 1.0]], [[0, 35, 2.0]]],
    ...                                             "b": [[], [[1, 33, 3.0], [2, 38, 2.5]]]}}
    >>> common_level(matched, "a", "b")
    1
    """
    counts = [
        (min(len(pa), len(pb)), len(pa) + len(pb), i)
        for i, (pa, pb) in enumerate(zip(matched["points"][a], matched["points"][b], strict=True))
    ]
    best = max(counts, default=(0, 0, None))
    return best[2] if best[0] > 0 else None
