"""The experiment ``flat-minima-ensembles``: Seong et al.'s (2018) Table 1 at CPU scale,
ensembles of independently trained step-decay and peak-schedule models.

Every schedule trains one model per seed (the set-up of ``seong-peak``), and
:func:`lrlab.ensembles.evaluate` scores two kinds of ensemble on the test set, each
averaging its members' softmax outputs:

- the ensembles of the first k members, k = 1..M (the curve of Table 1);
- for each group size k of ``group_sizes``, the ensembles of *disjoint* groups of k
  consecutive seeds (seeds 0..k-1, k..2k-1, ...): independent ensembles of equal cost, one
  number each, for :func:`lrlab.stats.compare` ("do two step-decay models match one
  peak-schedule model?" compares the groups of 2 of step decay with the groups of 1 of the
  peak schedule; seed groups are the same in every schedule, so equal k pairs by group).

>>> ENSEMBLES.config("classroom")["group_sizes"]
[1, 2]
"""

from __future__ import annotations

import os
import time
from typing import Any

from lrlab import _check
from lrlab._pool import pmap
from lrlab.experiments.experiment import Experiment
from lrlab.experiments.flat_minima.training import (
    PAPER,
    TRAINING,
    load_data,
    run_schedules,
    smoke_epochs,
    train_one,
    train_work,
)

__all__ = ["ENSEMBLES", "run_ensembles"]


def _member_task(config: dict, name: str, seed: int, device: str, data_root: str):
    """Train one member: its weights (on the CPU) and the CPU time it took."""
    started = time.process_time()
    dataset = load_data(config["dataset"], device, data_root)
    _, schedules = run_schedules(config, dataset)
    model, _ = train_one(config, dataset, schedules[name], seed)
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    return state, time.process_time() - started


def run_ensembles(
    config: dict[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict[str, Any]:
    """Train one model per schedule and seed of ``config``; score ensembles of them.

    Parameters
    ----------
    config : dict
        The training keys of :data:`lrlab.experiments.flat_minima.TRAINING`, ``seeds``
        (the members, in order) and ``group_sizes`` (the k of the disjoint groups; each
        must divide into at least two groups).
    device, data_root, progress, jobs
        See :func:`lrlab.experiments.run`.

    Returns
    -------
    dict
        ``scores``: schedule -> :meth:`lrlab.ensembles.EnsembleScores.to_dict` of the first
        k members, k = 1..M; ``groups``: schedule -> ``{str(k): {"seeds": [[...], ...],
        "accuracy": [...], "loss": [...]}}``, one entry per disjoint group of k seeds
        (leftover seeds unused); ``cpu_time_s`` (summed over the members' training) and
        ``wall_time_s``.
    """
    from lrlab import ensembles, models

    seeds = list(config["seeds"])
    # two disjoint groups at least of every size
    sizes = [
        _check.integer("group_sizes", k, minimum=1, maximum=len(seeds) // 2)
        for k in config["group_sizes"]
    ]
    started = time.perf_counter()
    dataset = load_data(config["dataset"], str(device), str(data_root))
    tasks = [
        (config, n, s, str(device), str(data_root)) for n in config["schedules"] for s in seeds
    ]
    done = iter(pmap(_member_task, tasks, jobs=jobs, progress=progress, desc="ensembles"))
    model = models.build(config["model"], dataset.num_classes, dataset.input_shape)
    scores, groups, cpu = {}, {}, 0.0
    for name in config["schedules"]:
        members = []
        for _ in seeds:
            state, seconds = next(done)
            members.append(state)
            cpu += seconds
        scores[name] = ensembles.evaluate(members, dataset, model=model).to_dict()
        groups[name] = {}
        for k in sizes:
            starts = range(0, len(seeds) - k + 1, k)
            last = [ensembles.evaluate(members[i : i + k], dataset, model=model) for i in starts]
            groups[name][str(k)] = {
                "seeds": [seeds[i : i + k] for i in starts],
                "accuracy": [float(s.accuracy[-1]) for s in last],
                "loss": [float(s.loss[-1]) for s in last],
            }
    return {
        "scores": scores,
        "groups": groups,
        "cpu_time_s": cpu,
        "wall_time_s": time.perf_counter() - started,
    }


ENSEMBLES = Experiment(
    name="flat-minima-ensembles",
    chapter="flat-minima",
    title="Ensembles of step-decay against peak-schedule models (Seong et al. 2018, Table 1)",
    cite="seong2018flatter",
    claim=(
        "Ensembles of models trained with the Gaussian peak schedule beat ensembles of "
        "step-decay models of the same size, and one peak-schedule model does about as well "
        "as an ensemble of several step-decay ones (Seong et al.'s Table 1, CIFAR-10)."
    ),
    run=run_ensembles,
    work=train_work,
    base={
        **TRAINING,
        "schedules": ["step", "gaussian"],
        "seeds": list(range(30)),
        "group_sizes": [1, 2, 3],
    },
    scales={
        "classroom": {"seeds": [0, 1, 2, 3], "group_sizes": [1, 2], "epochs": 2},
        "paper": PAPER,
        "smoke": lambda config: {
            "seeds": [0, 1, 2, 3],
            "group_sizes": [1, 2],
            "epochs": smoke_epochs(config),
        },
    },
)
