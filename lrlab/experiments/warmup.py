"""The experiments of the chapter "Why warming up lets a larger rate work" (book/warmup):
the map of trainable target rates and the curvature during warm-up.

Every run (:func:`run_one`) trains a digits MLP, two hidden layers of 64, on the square
loss from PyTorch's default initialisation or from the same weights doubled (``init_scale=2``,
a sharp start), with a linear warm-up (:func:`lrlab.schedules.warmup`) to a constant rate.

- ``warmup-map`` (Kalra & Barkeshli 2024): for SGD and Adam, each initialisation and each
  warm-up length, a log grid of target rates, every seed: which runs train.
- ``warmup-curvature``: full-batch gradient descent with the sharpness tracked
  (:class:`lrlab.curvature.SharpnessTracker`) during warm-ups of several lengths, from a
  sharp start (the sharpness falls) and from the default one (it first rises).

Where to start a warm-up and what it buys: :mod:`lrlab.experiments.warmup_choice`.

>>> MAP.config("smoke")["seeds"], sorted(MAP.config()["inits"])
([0], ['default', 'sharp'])
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lrlab import _check
from lrlab._pool import pmap
from lrlab.experiments.experiment import TRAIN_EXAMPLES, Experiment, Replace

__all__ = [
    "CURVATURE",
    "EXPERIMENTS",
    "MAP",
    "RUN_DEFAULTS",
    "boundary",
    "run_curvature",
    "run_map",
    "run_one",
    "stack_runs",
    "trained",
]

#: The defaults of one run (see :func:`run_one`).
RUN_DEFAULTS = {
    "data": "digits",
    "examples": None,
    "hidden": [64, 64],
    "init_scale": 1.0,
    "optimizer": "sgd",
    "momentum": 0.0,
    "lr": 0.1,
    "lr_edges": None,
    "warmup_steps": 0,
    "start_edges": 0.0,
    "epochs": 30,
    "batch_size": 128,
    "every": 0,
    "seed": 0,
}


@functools.lru_cache(maxsize=4)
def _dataset(name: str, examples: int | None, device: str, root: str):
    """The data set (its first ``examples`` training examples, if given), once per process."""
    from lrlab import data

    if examples is None:
        return data.load(name, root=root, device=device)
    full = data.load(name, root=root, device="cpu")
    return data.subset(full, examples, full.size("test"), augment=False, device=device)


def run_one(
    config: Mapping[str, Any] | None = None,
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
) -> dict:
    """One run: a linear warm-up over ``warmup_steps`` steps to a constant target rate, on
    the square loss, without weight decay.

    The rates can be given in units of the catapult's edge 2/λ₀, λ₀ the sharpness of the
    initial network on the training set (:func:`lrlab.curvature.sharpness`): the target is
    ``lr``, or ``lr_edges`` × 2/λ₀ if that is set, and the warm-up starts at
    ``start_edges`` × 2/λ₀ (0 by default).

    Parameters
    ----------
    config : mapping, optional
        Keys of :data:`RUN_DEFAULTS`: the data (its first ``examples`` training examples,
        all if None), the network (``hidden``, ``init_scale``, built with ``seed``), the
        optimizer (``"sgd"`` or ``"adam"``; ``momentum`` is Adam's β₁), the rates, the
        length in ``epochs`` of ``batch_size`` (None: full batch), and ``every`` > 0 to
        record the sharpness (with Adam the preconditioned one) every that many steps.
    device : torch.device or str
    data_root : path
        Data folder (MNIST-1D's cache, CIFAR's archives).

    Returns
    -------
    dict
        ``"lam0"`` (NaN unless a rate was given in units of 2/λ₀), ``"lr"`` (the target),
        ``"final_loss"`` (mean training loss of the last epoch), ``"train_acc"``,
        ``"test_acc"`` (those three NaN if the run diverged), ``"diverged_at_step"``; with
        ``every`` also ``"lrs"`` and ``"loss"`` (per step), ``"sharpness_steps"``,
        ``"sharpness"`` and ``"threshold"`` (the optimizer's, at each measured step's rate).

    Examples
    --------
    >>> out = run_one({"examples": 64, "batch_size": None, "epochs": 4, "every": 2})
    >>> out["sharpness_steps"], out["diverged_at_step"] is None
    ([0, 2], True)
    """
    from lrlab import curvature, models, schedules, train

    config = {**RUN_DEFAULTS, **(config or {})}
    unknown = set(config) - set(RUN_DEFAULTS)
    if unknown:
        raise ValueError(
            f"config has unknown keys {sorted(unknown)}; allowed: {list(RUN_DEFAULTS)}"
        )
    lr = _check.number("lr", config["lr"], low=0, low_open=True)
    if config["lr_edges"] is not None:
        _check.number("lr_edges", config["lr_edges"], low=0, low_open=True)
    warmup_steps = _check.integer("warmup_steps", config["warmup_steps"], minimum=0)
    start_edges = _check.number("start_edges", config["start_edges"], low=0)
    every = _check.integer("every", config["every"], minimum=0)
    data = _dataset(config["data"], config["examples"], str(device), str(data_root))
    x, y = data.tensors("train")
    net = models.build(
        "mlp",
        data.num_classes,
        data.input_shape,
        seed=_check.integer("seed", config["seed"], minimum=0),
        hidden=config["hidden"],
        init_scale=config["init_scale"],
    ).to(data.device)
    lam0 = math.nan
    if config["lr_edges"] is not None or start_edges:
        lam0 = curvature.sharpness(net, x, y, loss="mse")
    if config["lr_edges"] is not None:
        lr = config["lr_edges"] * 2.0 / lam0
    schedule = schedules.constant(lr)
    if warmup_steps:
        start = start_edges * 2.0 / lam0 if start_edges else 0.0
        schedule = schedules.warmup(schedule, warmup_steps, start_lr=start)
    tracker = [curvature.SharpnessTracker(x, y, every=every)] if every else []
    history = train.fit(
        net,
        data,
        schedule,
        epochs=config["epochs"],
        batch_size=config["batch_size"] or data.size("train"),
        optimizer=config["optimizer"],
        momentum=config["momentum"],
        weight_decay=0.0,
        loss="mse",
        seed=config["seed"],
        progress=False,
        callbacks=tracker,
    )
    done = not history.diverged
    out = {
        "lam0": lam0,
        "lr": lr,
        "final_loss": history.train_loss[-1] if done else math.nan,
        "train_acc": history.train_acc[-1] if done else math.nan,
        "test_acc": history.test_acc[-1] if done else math.nan,
        "diverged_at_step": history.diverged_at_step,
    }
    if every:
        name = "sharpness" if config["optimizer"] == "sgd" else "preconditioned_sharpness"
        measured = history.extras.get(name, [])
        out |= {
            "lrs": history.lr,
            "loss": history.loss,
            "sharpness_steps": [s for s, _ in measured],
            "sharpness": [v for _, v in measured],
            "threshold": [v for _, v in history.extras.get("stability_threshold", [])],
        }
    return out


def trained(final_loss, threshold: float) -> np.ndarray:
    """Which runs trained: a finite final training loss below ``threshold`` (a diverged
    run's final loss is NaN, so it did not).

    Examples
    --------
    >>> trained([0.02, 0.3, float("nan")], 0.1).tolist()
    [True, False, False]
    """
    threshold = _check.number("threshold", threshold, low=0, low_open=True)
    loss = np.asarray(final_loss, dtype=float)
    return np.isfinite(loss) & (loss < threshold)


def boundary(values, ok, *, which: str = "largest") -> np.ndarray:
    """The largest (or smallest) of ``values`` at which a run trained, for every seed.

    Parameters
    ----------
    values : sequence of float
        The grid (target rates, warm-up lengths), length k.
    ok : array of bool, shape (..., k, seeds)
        Whether the run at each grid value and seed trained (:func:`trained`).
    which : {"largest", "smallest"}

    Returns
    -------
    numpy.ndarray, shape (..., seeds)
        The value per seed; NaN where no run trained.

    Examples
    --------
    >>> ok = [[True, True], [True, False], [False, False]]  # 3 rates x 2 seeds
    >>> boundary([0.1, 0.2, 0.4], ok).tolist()
    [0.2, 0.1]
    >>> boundary([4, 16, 64], [[False], [True], [True]], which="smallest").tolist()
    [16.0]
    """
    _check.choice("which", which, ("largest", "smallest"))
    values = np.asarray(values, dtype=float)
    ok = np.asarray(ok, dtype=bool)
    if ok.ndim < 2 or ok.shape[-2] != values.size:
        raise ValueError(f"ok must have shape (..., {values.size}, seeds), got {ok.shape}")
    grid = values[:, None]
    if which == "largest":
        picked = np.where(ok, grid, -np.inf).max(axis=-2)
    else:
        picked = np.where(ok, grid, np.inf).min(axis=-2)
    return np.where(np.isfinite(picked), picked, np.nan)


def stack_runs(runs: Sequence[Mapping[str, Any]], shape: Sequence[int]) -> dict:
    """The numbers of :func:`run_one` results as nested lists of ``shape``, the runs taken
    in row-major order (``None``, a run that did not diverge, becomes NaN).

    Examples
    --------
    >>> runs = [{"lr": r, "final_loss": 0.1, "train_acc": 1, "test_acc": 1, "lam0": 2,
    ...          "diverged_at_step": None} for r in (1, 2, 3, 4)]
    >>> stack_runs(runs, (2, 2))["lr"]
    [[1.0, 2.0], [3.0, 4.0]]
    """
    keys = ("lam0", "lr", "final_loss", "train_acc", "test_acc", "diverged_at_step")
    return {
        key: np.array([math.nan if r[key] is None else r[key] for r in runs], dtype=float)
        .reshape(tuple(shape))
        .tolist()
        for key in keys
    }


def _examples(config: Mapping[str, Any]) -> int:
    examples, full = config.get("examples"), TRAIN_EXAMPLES[config["data"]]
    return full if examples is None else min(examples, full)


# --- the map -------------------------------------------------------------------------------


def _map_task(config: dict, init: str, name: str, warmup: int, lr: float, seed: int, where):
    run = {k: config[k] for k in ("data", "hidden", "epochs", "batch_size")}
    run |= {"init_scale": config["inits"][init], "optimizer": name, "lr": lr, "seed": seed}
    return run_one({**run, "momentum": config["momentum"][name], "warmup_steps": warmup}, **where)


def run_map(config, *, device="cpu", data_root="data/cache", progress=False, jobs=1) -> dict:
    """Every run of the map: for each initialisation, optimizer, warm-up length, target
    rate on the optimizer's grid and seed, one :func:`run_one` on the whole training set.

    Returns
    -------
    dict
        ``{init: {optimizer: numbers}}``, the numbers of :func:`stack_runs` indexed
        [warm-up][rate][seed].

    Examples
    --------
    >>> out = run_map(MAP.config("smoke"))
    >>> np.shape(out["sharp"]["adam"]["final_loss"])
    (1, 1, 1)
    """
    where = {"device": str(device), "data_root": str(data_root)}
    arms = [(init, name) for init in config["inits"] for name in config["momentum"]]
    tasks = [
        (config, init, name, warmup, lr, seed, where)
        for init, name in arms
        for warmup in config["warmups"]
        for lr in config["rates"][name]
        for seed in config["seeds"]
    ]
    done = iter(pmap(_map_task, tasks, jobs=jobs, progress=progress, desc="warmup map"))
    out: dict[str, dict] = {init: {} for init in config["inits"]}
    for init, name in arms:
        shape = (len(config["warmups"]), len(config["rates"][name]), len(config["seeds"]))
        out[init][name] = stack_runs([next(done) for _ in range(math.prod(shape))], shape)
    return out


def map_work(config) -> int:
    """Training examples :func:`run_map` draws, if no run diverges (one that does stops).

    Examples
    --------
    >>> map_work(MAP.config("smoke")) == 2 * 2 * 1 * 1 * 1 * 1347
    True
    """
    rates = sum(len(config["rates"][name]) for name in config["momentum"])
    runs = len(config["inits"]) * rates * len(config["warmups"]) * len(config["seeds"])
    return runs * config["epochs"] * _examples(config)


MAP = Experiment(
    name="warmup-map",
    chapter="warmup",
    title="The largest target rate that trains, against the warm-up length (SGD and Adam)",
    cite="kalra2024warmup",
    claim=(
        "The overwhelming benefit of warm-up is that it lets a network tolerate a larger "
        "target rate: the largest trainable target grows with the warm-up length, for SGD "
        "and for Adam, most where training starts in a sharp region (Kalra & Barkeshli "
        "2024, on CIFAR-10 and other data sets)."
    ),
    run=run_map,
    work=map_work,
    # 30 epochs of batches of 128 (330 steps); rates on a grid of factors of 2.
    base={
        "data": "digits",
        "hidden": [64, 64],
        "epochs": 30,
        "batch_size": 128,
        "inits": {"default": 1.0, "sharp": 2.0},
        "momentum": {"sgd": 0.0, "adam": 0.9},  # Adam's β₁
        "rates": {
            "sgd": [2.0**k for k in range(-4, 3)],
            "adam": [2.0**k for k in range(-9, 0)],
        },
        "warmups": [0, 4, 16, 64],
        "loss_threshold": 0.1,
        "seeds": list(range(10)),
    },
    scales={
        "classroom": {
            "inits": Replace({"sharp": 2.0}),
            "rates": {
                "sgd": [2.0**k for k in range(-4, 2)],
                "adam": [2.0**k for k in range(-7, -1)],
            },
            "warmups": [0, 16],
            "seeds": [0],
        },
        # CIFAR-10 and a wider, deeper MLP, batches of 512 (as Kalra & Barkeshli's FCNs).
        "paper": {
            "data": "cifar10",
            "hidden": [512, 512, 512],
            "epochs": 20,
            "batch_size": 512,
            "rates": {
                "sgd": [2.0**k for k in range(-8, 1)],
                "adam": [2.0**k for k in range(-14, -5)],
            },
            "warmups": [0, 64, 256, 1024],
            "seeds": [0, 1, 2],
        },
        "smoke": {
            "epochs": 1,
            "rates": {"sgd": [0.01], "adam": [0.001]},
            "warmups": [4],
            "seeds": [0],
        },
    },
)


# --- the curvature during warm-up ----------------------------------------------------------


def _curvature_task(config: dict, scale: float, warmup: int | None, seed: int, where: dict):
    """One full-batch run with its sharpness tracked: a warm-up of ``warmup`` steps to the
    target, or (``warmup=None``) the gentle constant rate ``gentle`` × 2/λ₀."""
    run = {
        **{k: config[k] for k in ("data", "examples", "hidden", "every")},
        "init_scale": scale,
        "epochs": config["steps"],
        "batch_size": None,
        "seed": seed,
    }
    if warmup is None:
        run["lr_edges"] = config["gentle"]
    else:
        run |= {"lr": config["target"], "warmup_steps": warmup}
    return run_one(run, **where)


def run_curvature(config, *, device="cpu", data_root="data/cache", progress=False, jobs=1):
    """The sharpness during warm-ups to ``target`` of each length, full batch on the first
    ``examples`` training examples, from each initialisation, and a run at the gentle
    constant rate ``gentle`` × 2/λ₀ that shows which way training moves the sharpness by
    itself (λ₀ measured at initialisation).

    Returns
    -------
    dict
        ``{init: {"gentle": [run per seed], "warmup-<W>": [run per seed], ...}}``, each run
        a :func:`run_one` result with the sharpness every ``every`` steps.

    Examples
    --------
    >>> out = run_curvature(CURVATURE.config("smoke"))
    >>> sorted(out["sharp"]), len(out["sharp"]["warmup-2"][0]["sharpness"])
    (['gentle', 'warmup-2'], 2)
    """
    where = {"device": str(device), "data_root": str(data_root)}
    names = ["gentle"] + [f"warmup-{w}" for w in config["warmups"]]
    lengths = [None, *config["warmups"]]
    tasks = [
        (config, scale, warmup, seed, where)
        for scale in config["inits"].values()
        for warmup in lengths
        for seed in config["seeds"]
    ]
    done = iter(pmap(_curvature_task, tasks, jobs=jobs, progress=progress, desc="curvature"))
    return {
        init: {name: [next(done) for _ in config["seeds"]] for name in names}
        for init in config["inits"]
    }


def curvature_work(config) -> int:
    """Training examples :func:`run_curvature` draws if nothing diverges: ``steps``
    full-batch steps per run (sharpness measurements aside).

    Examples
    --------
    >>> curvature_work(CURVATURE.config("smoke")) == 2 * 2 * 1 * 2 * 40
    True
    """
    runs = len(config["inits"]) * (1 + len(config["warmups"])) * len(config["seeds"])
    return runs * config["steps"] * _examples(config)


CURVATURE = Experiment(
    name="warmup-curvature",
    chapter="warmup",
    title="Sharpness and 2/eta(t) during warm-up, from a sharp and from a flat start",
    cite="kalra2024warmup",
    claim=(
        "During warm-up the sharpness either falls (training that starts in a sharp region "
        "reduces it by itself) or first rises (progressive sharpening, from a flat start) "
        "until it meets the falling 2/eta(t); from then on the growing rate pushes it down "
        "and it follows 2/eta(t), so that at the end of the warm-up the network sits where "
        "the target rate is stable (Kalra & Barkeshli 2024; Gilmer et al. 2022)."
    ),
    run=run_curvature,
    work=curvature_work,
    # Full-batch gradient descent on 500 digits, 400 steps, the sharpness every 4 steps.
    base={
        "data": "digits",
        "examples": 500,
        "hidden": [64, 64],
        "inits": {"default": 1.0, "sharp": 2.0},
        "target": 1.0,
        "warmups": [0, 16, 64, 256],
        "gentle": 0.25,
        "steps": 400,
        "every": 4,
        "seeds": [0, 1, 2],
    },
    scales={
        "classroom": {"warmups": [0, 128], "steps": 200, "every": 8, "seeds": [0]},
        "paper": {
            "data": "cifar10",
            "examples": 5000,
            "hidden": [512, 512, 512],
            "target": 0.1,
            "warmups": [0, 64, 256, 1024],
            "steps": 2000,
            "every": 10,
        },
        "smoke": {
            "examples": 40,
            "hidden": [8],
            "warmups": [2],
            "steps": 2,
            "every": 1,
            "seeds": [0],
        },
    },
)


#: The experiments of this chapter (its other two: :mod:`lrlab.experiments.warmup_choice`).
EXPERIMENTS = (MAP, CURVATURE)
