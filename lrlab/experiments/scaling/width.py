"""The width: the best rate under the standard parametrization and μP, ``width``.

For each width, parametrization (standard or μP, Yang et al. 2022) and optimizer (SGD or
Adam), every rate of a log grid for a fixed number of epochs; the final training loss of
each run (:func:`run_width`).

>>> WIDTH.config("classroom")["widths"]
[64, 512]
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from typing import Any

from lrlab import _check
from lrlab._pool import pmap
from lrlab.experiments.experiment import TRAIN_EXAMPLES, Experiment, Replace
from lrlab.experiments.scaling.common import build_network, load_data

__all__ = ["WIDTH", "run_width", "summarize", "width_work"]


# --- width: the best rate under SP and muP -----------------------------------------------------


def _width_task(config: dict, arm: str, width: int, seed: int, device: str, data_root: str) -> dict:
    """Every rate of one arm (``"<optimizer>-<parametrization>"``), width and seed."""
    import torch

    from lrlab import scaling, train
    from lrlab.step import evaluate

    clock = time.process_time()
    optimizer, parametrization = arm.split("-")
    dataset = load_data(config["data"], device, data_root)
    out = {"train_loss": [], "train_acc": [], "test_acc": [], "diverged_at_step": []}
    for lr in config["rates"][optimizer]:
        net = build_network(config, dataset, seed, width, parametrization).to(dataset.device)
        groups = (
            scaling.mup_param_groups(
                net, config["base_width"], optimizer, lr=lr, weight_decay=config["weight_decay"]
            )
            if parametrization == "mup"
            else [{"params": list(net.parameters()), "weight_decay": config["weight_decay"]}]
        )
        make = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
        history = train.fit(
            net,
            dataset,
            lr,
            config["epochs"],
            batch_size=config["batch_size"],
            optimizer=make(groups, lr=lr),
            seed=seed,
            progress=False,
        )
        loss, acc = math.inf, math.nan
        if not history.diverged:
            options = history.config
            loss, acc = evaluate(
                net, dataset, "train", 1024, options["precision"], False, options["loss"]
            )
        out["train_loss"].append(loss if math.isfinite(loss) else math.inf)
        out["train_acc"].append(acc)
        out["test_acc"].append(history.test_acc[-1] if history.test_acc else math.nan)
        out["diverged_at_step"].append(history.diverged_at_step)
    return {"seed": seed, **out, "cpu_time_s": time.process_time() - clock}


def run_width(
    config: Mapping[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict:
    """The final training loss at every rate, width, parametrization and optimizer.

    For each arm ``"<optimizer>-<parametrization>"`` of ``arms`` (optimizers ``"sgd"``,
    plain SGD, and ``"adam"``; parametrizations ``"sp"``, PyTorch's default, and ``"mup"``,
    μP relative to ``base_width`` with the per-layer rates of
    :func:`lrlab.scaling.mup_param_groups`), width, seed and rate of ``rates[optimizer]``,
    the MLP is trained by :func:`lrlab.train.fit` for ``epochs`` epochs at that constant
    (base) rate and batch size ``batch_size``; then its loss on the whole training set is
    measured (eval mode; ``inf`` if the run diverged).

    Returns
    -------
    dict
        ``{"widths", "rates", "arms", "runs": {arm: {str(width): [per seed: "seed",
        "train_loss", "train_acc", "test_acc", "diverged_at_step" (one per rate),
        "cpu_time_s"]}}}``.

    Examples
    --------
    >>> out = run_width(WIDTH.config("smoke"))
    >>> sorted(out["runs"]), sorted(out["runs"]["adam-mup"])
    (['adam-mup', 'adam-sp', 'sgd-mup', 'sgd-sp'], ['16', '8'])
    """
    widths, arms = list(config["widths"]), list(config["arms"])
    tasks = [
        (dict(config), arm, width, seed, str(device), str(data_root))
        for arm in arms
        for width in widths
        for seed in config["seeds"]
    ]
    done = iter(pmap(_width_task, tasks, jobs=jobs, progress=progress, desc="width"))
    runs = {
        arm: {str(width): [next(done) for _ in config["seeds"]] for width in widths} for arm in arms
    }
    return {"widths": widths, "rates": dict(config["rates"]), "arms": arms, "runs": runs}


def summarize(result: Mapping[str, Any], arm: str) -> dict[str, Any]:
    """One arm of a result of :func:`run_width`: the losses, each width's best rate, and
    what the narrowest width's best rate is worth at the widest.

    The best rate of a width is the one with the lowest mean final training loss over the
    seeds, a seed that diverged counting as an infinite loss
    (:func:`lrlab.scaling.best_rate`).

    Parameters
    ----------
    result : mapping
        What :func:`run_width` returns (or a stored record's ``"result"``).
    arm : str
        One of ``result["arms"]``, e.g. ``"adam-mup"``.

    Returns
    -------
    dict
        ``"widths"``, ``"rates"`` (arrays); ``"losses"`` (widths × seeds × rates, ``inf``
        where a run diverged); ``"mean"`` (widths × rates, over the seeds); ``"best"`` (a
        :class:`lrlab.scaling.BestRate` per width) and ``"best_rate"``; ``"transferred"``:
        the index of the narrowest width's best rate, and ``"regret"``: the widest width's
        mean loss at that rate minus its mean loss at its own best rate.

    Examples
    --------
    >>> out = summarize(run_width(WIDTH.config("smoke")), "sgd-sp")
    >>> out["losses"].shape, out["regret"]
    ((2, 1, 1), 0.0)
    """
    import numpy as np

    from lrlab import scaling

    _check.choice("arm", arm, result["arms"])
    rates = np.array(result["rates"][arm.split("-")[0]], dtype=float)
    widths = np.array(result["widths"])
    losses = np.array(
        [[run["train_loss"] for run in result["runs"][arm][str(w)]] for w in widths], dtype=float
    )
    losses = np.where(np.isfinite(losses), losses, np.inf)
    best = [scaling.best_rate(rates, table) for table in losses]
    mean = losses.mean(axis=1)
    transferred = best[0].index
    regret = (
        float(mean[-1, transferred] - best[-1].score)
        if transferred is not None and best[-1].index is not None
        else math.inf
    )
    return {
        "widths": widths,
        "rates": rates,
        "losses": losses,
        "mean": mean,
        "best": best,
        "best_rate": np.array([b.rate for b in best]),
        "transferred": transferred,
        "regret": regret,
    }


def width_work(config: Mapping[str, Any]) -> int:
    """Training examples :func:`run_width` processes (at most: a diverged run stops early):
    ``epochs`` passes per arm, width, seed and rate."""
    runs = sum(
        len(config["rates"][arm.split("-")[0]]) * len(config["widths"]) for arm in config["arms"]
    )
    return len(config["seeds"]) * runs * config["epochs"] * TRAIN_EXAMPLES[config["data"]]


WIDTH = Experiment(
    name="width",
    chapter="scaling",
    title="The best rate against width, standard parametrization and muP (Yang et al. 2022)",
    cite="yang2022tensor",
    claim=(
        "In the standard parametrization the best learning rate drifts as the network "
        "widens; in the maximal-update parametrization (muP) it stays put, so that a rate "
        "tuned on a narrow network transfers to a wide one; with muP wider is also better "
        "at the transferred rate."
    ),
    run=run_width,
    work=width_work,
    base={
        "data": "mnist1d",
        "model": "mlp",
        "depth": 2,
        "widths": [64, 128, 256, 512, 1024],
        "base_width": 64,
        "arms": ["sgd-sp", "sgd-mup", "adam-sp", "adam-mup"],
        "rates": {
            "sgd": [2.0**k for k in range(-5, 3)],  # 1/32 to 4
            "adam": [2.0**k for k in range(-11, -2)],  # 1/2048 to 1/8
        },
        "batch_size": 128,
        "epochs": 4,
        "weight_decay": 0.0,
        "seeds": list(range(10)),
    },
    scales={
        "classroom": {
            "widths": [64, 512],
            "rates": Replace(
                {
                    "sgd": [2.0**k for k in range(-5, 3, 2)],
                    "adam": [2.0**k for k in range(-11, -2, 2)],
                }
            ),
            "epochs": 2,
            "seeds": [0, 1],
        },
        # CIFAR-10, widths 256 to 4,096 (Yang et al. train MLPs on CIFAR-10 too).
        "paper": {
            "data": "cifar10",
            "widths": [256, 512, 1024, 2048, 4096],
            "base_width": 256,
            "epochs": 20,
            "seeds": [0, 1, 2],
        },
        "smoke": {
            "widths": [8, 16],
            "base_width": 8,
            "rates": Replace({"sgd": [0.1], "adam": [0.001]}),
            "epochs": 1,
            "seeds": [0],
        },
    },
)
