"""The experiments of the chapter "Sharpness during training: the edge of stability and the
catapult".

``edge-of-stability`` (Cohen et al. 2021): full-batch gradient descent on the square loss at
several rates, with heavy-ball momentum, with minibatches, and with a warm-up, each run
recording the sharpness λ_max (:class:`lrlab.curvature.SharpnessTracker`) beside the
optimizer's stability threshold, and the cosine of successive gradients
(:class:`lrlab.stability.GradientCosine`).

``catapult`` (Lewkowycz et al. 2020): a wide two-layer ReLU network in the NTK
parametrisation (``lrlab.models.build("two_layer_relu")``), its initial sharpness λ₀
measured, trained full-batch at η = r/λ₀ for a range of ratios r; the closed-form model of
the same phases is :func:`lrlab.dynamics.catapult_gd`.

>>> EDGE.config("smoke")["seeds"], CATAPULT.config("classroom")["width"]
([0], 256)
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from lrlab import _check
from lrlab._pool import pmap
from lrlab.experiments.experiment import TRAIN_EXAMPLES, Experiment, Replace

__all__ = [
    "CATAPULT",
    "EDGE",
    "EXPERIMENTS",
    "RUN_DEFAULTS",
    "run_catapult",
    "run_edge",
    "run_one",
]

#: Defaults of one edge-of-stability run (see :func:`run_one`).
RUN_DEFAULTS = {
    "data": "digits",
    "examples": 500,
    "hidden": [64, 64],
    "lr": 0.2,
    "warmup_steps": 0,
    "momentum": 0.0,
    "batch_size": None,
    "steps": 400,
    "every": 10,
    "seed": 0,
}


@functools.lru_cache(maxsize=4)
def _subset(name: str, examples: int, device: str, root: str, classes: tuple | None = None):
    """The first ``examples`` training examples (and as many test ones, at most 200 for the
    edge runs), loaded once per process."""
    from lrlab import data

    full = data.load(name, root=root, device="cpu")
    test = examples if classes else 200
    return data.subset(full, examples, test, classes=classes, augment=False, device=device)


def run_one(config: Mapping[str, Any] | None = None, data=None) -> dict:
    """One full-batch (or minibatch) run on the square loss that tracks sharpness and the
    cosine of successive gradients.

    A ReLU MLP (``lrlab.models.build("mlp", hidden=...)``, seeded with ``seed``) is trained
    by :func:`lrlab.train.fit` for ``steps`` optimizer steps with SGD (momentum as given, no
    weight decay) on the square loss, full-batch unless ``batch_size`` is set, at rate
    ``lr`` (after a linear warm-up from 0 over ``warmup_steps`` steps, if any). Every
    ``every`` steps the sharpness on the whole training set and the optimizer's stability
    threshold are recorded, the cosine of successive gradients at every step.

    Parameters
    ----------
    config : mapping, optional
        Keys of :data:`RUN_DEFAULTS` (the defaults for missing keys).
    data : lrlab.data.Dataset, optional
        The training data; by default the first ``examples`` of ``config["data"]``.

    Returns
    -------
    dict
        ``"config"`` (complete), ``"lr"``, ``"loss"`` (per step), ``"sharpness_steps"``,
        ``"sharpness"``, ``"threshold"`` (NaN at a rate of 0, where there is none),
        ``"cosine"`` (per step from step 1; NaN where undefined), ``"diverged_at_step"``,
        ``"hvps"``, ``"test_acc"`` (at the end; NaN if the run diverged) and
        ``"dead_units"`` (:func:`lrlab.stability.dead_units` on the training set at the end,
        per ReLU layer; NaN if the run diverged).

    Examples
    --------
    >>> out = run_one({"examples": 100, "hidden": [16], "steps": 4, "every": 2})
    >>> out["sharpness_steps"], len(out["loss"]), len(out["cosine"])
    ([0, 2], 4, 3)
    """
    from lrlab import curvature, models, schedules, stability, train

    config = {**RUN_DEFAULTS, **(config or {})}
    unknown = set(config) - set(RUN_DEFAULTS)
    if unknown:
        raise ValueError(
            f"config has unknown keys {sorted(unknown)}; allowed: {list(RUN_DEFAULTS)}"
        )
    lr = _check.number("lr", config["lr"], low=0, low_open=True)
    warmup_steps = _check.integer("warmup_steps", config["warmup_steps"], minimum=0)
    steps = _check.integer("steps", config["steps"], minimum=1)
    seed = _check.integer("seed", config["seed"], minimum=0)
    if data is None:
        data = _subset(config["data"], config["examples"], "cpu", "data/cache")
    batch_size = config["batch_size"] or data.size("train")
    batch_size = _check.integer("batch_size", batch_size, minimum=1)
    steps_per_epoch = data.num_batches("train", batch_size)
    if steps % steps_per_epoch:
        raise ValueError(
            f"steps must be a multiple of the {steps_per_epoch} steps per epoch, got {steps}"
        )
    schedule = schedules.constant(lr)
    if warmup_steps:
        schedule = schedules.warmup(schedule, warmup_steps)
    x, y = data.tensors("train")
    tracker = curvature.SharpnessTracker(x, y, every=config["every"])
    net = models.build(
        "mlp", data.num_classes, data.input_shape, seed=seed, hidden=config["hidden"]
    )
    history = train.fit(
        net,
        data,
        schedule,
        epochs=steps // steps_per_epoch,
        batch_size=batch_size,
        momentum=config["momentum"],
        weight_decay=0.0,
        loss="mse",
        seed=seed,
        progress=False,
        callbacks=[tracker, stability.GradientCosine()],
    )
    cosines = dict(history.extras.get("gradient_cosine", []))
    if history.diverged:
        test_acc, dead = math.nan, dict.fromkeys(stability.dead_units(net, x[:1]), math.nan)
    else:
        test_acc, dead = history.test_acc[-1], stability.dead_units(net, x)
    return {
        "config": config,
        "lr": history.lr,
        "loss": history.loss,
        "sharpness_steps": [s for s, _ in history.extras.get("sharpness", [])],
        "sharpness": [v for _, v in history.extras.get("sharpness", [])],
        "threshold": [v for _, v in history.extras.get("stability_threshold", [])],
        "cosine": [cosines.get(t, math.nan) for t in range(1, len(history.loss))],
        "diverged_at_step": history.diverged_at_step,
        "hvps": tracker.hvps,
        "test_acc": test_acc,
        "dead_units": dead,
    }


def _edge_task(config: dict, seed: int, device: str, data_root: str) -> dict:
    data = _subset(config["data"], config["examples"], device, data_root)
    return run_one({**config, "seed": seed}, data)


def run_edge(
    config: Mapping[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict:
    """Every run of ``config`` for every seed: ``{name: [run_one(...) per seed]}``.

    Parameters
    ----------
    config : mapping
        ``{"base": {...}, "seeds": [...], "runs": {name: {...}}}``: each run's options are
        ``base`` updated by its own entry and its seed (keys of :data:`RUN_DEFAULTS`).
    device, data_root, progress, jobs
        See :func:`lrlab.experiments.store`.

    Examples
    --------
    >>> tiny = {"base": {"examples": 50, "hidden": [8], "steps": 2, "every": 1},
    ...         "seeds": [0, 1], "runs": {"gd": {"lr": 0.1}}}
    >>> [len(r["sharpness"]) for r in run_edge(tiny)["gd"]]
    [2, 2]
    """
    base = {**RUN_DEFAULTS, **config["base"]}
    tasks = [
        ({**base, **options}, seed, str(device), str(data_root))
        for options in config["runs"].values()
        for seed in config["seeds"]
    ]
    done = iter(pmap(_edge_task, tasks, jobs=jobs, progress=progress, desc="edge of stability"))
    return {name: [next(done) for _ in config["seeds"]] for name in config["runs"]}


def edge_work(config: Mapping[str, Any]) -> int:
    """Training examples :func:`run_edge` processes (its sharpness measurements aside): per
    run and seed, ``steps`` steps of ``batch_size`` (full batch by default) on the first
    ``examples`` training examples.

    Examples
    --------
    >>> tiny = {"base": {"examples": 50, "steps": 4}, "seeds": [0, 1],
    ...         "runs": {"gd": {"lr": 0.1}, "sgd": {"lr": 0.1, "batch_size": 25}}}
    >>> edge_work(tiny) == 2 * (4 * 50 + 4 * 25)
    True
    """
    base = {**RUN_DEFAULTS, **config["base"]}
    total = 0
    for options in config["runs"].values():
        run = {**base, **options}
        n = min(run["examples"], TRAIN_EXAMPLES[run["data"]])
        batches = -(-n // (run["batch_size"] or n))  # steps per pass
        total += run["steps"] // batches * n
    return len(config["seeds"]) * total


EDGE = Experiment(
    name="edge-of-stability",
    chapter="edge-of-stability",
    title="Full-batch gradient descent at the edge of stability (Cohen et al. 2021)",
    cite="cohen2021eos",
    claim=(
        "Under full-batch gradient descent at rate eta, the sharpness (top Hessian "
        "eigenvalue) rises until it reaches 2/eta and then hovers there while the loss "
        "keeps falling, non-monotonically; the paper shows it on a 5,000-image subset of "
        "CIFAR-10."
    ),
    run=run_edge,
    work=edge_work,
    # Full-batch GD at a small and at three larger rates, heavy-ball momentum, minibatch
    # SGD, a large rate with and without warm-up, and a linear ramp of the rate (a
    # full-batch range test); twenty seeds, the same in every run (paired comparisons).
    base={
        "base": {"data": "digits", "examples": 500, "hidden": [64, 64], "steps": 400, "every": 10},
        "seeds": list(range(20)),
        "runs": {
            "gd-0.05": {"lr": 0.05},
            "gd-0.15": {"lr": 0.15},
            "gd-0.2": {"lr": 0.2},
            "gd-0.3": {"lr": 0.3},
            "momentum-0.3": {"lr": 0.3, "momentum": 0.5},
            "sgd-0.2": {"lr": 0.2, "batch_size": 50},
            "constant-1.5": {"lr": 1.5},
            "warmup-1.5": {"lr": 1.5, "warmup_steps": 200},
            "ramp-4": {"lr": 4.0, "warmup_steps": 400},
        },
    },
    scales={
        # One seed, 200 examples, half the steps.
        "classroom": {
            "base": {"examples": 200, "steps": 200, "every": 20},
            "seeds": [0],
            "runs": {
                "warmup-1.5": {"lr": 1.5, "warmup_steps": 100},
                "ramp-4": {"lr": 4.0, "warmup_steps": 200},
            },
        },
        # The first 5,000 CIFAR-10 images, 2,000 full-batch steps, ten seeds (the book's
        # evidence rule: a verdict needs ten seeds an arm).
        "paper": {
            "base": {
                "data": "cifar10",
                "examples": 5000,
                "hidden": [200, 200],
                "steps": 2000,
                "every": 20,
            },
            "seeds": list(range(10)),
            "runs": Replace(
                {"gd-0.01": {"lr": 0.01}, "gd-0.02": {"lr": 0.02}, "gd-0.04": {"lr": 0.04}}
            ),
        },
        "smoke": {"base": {"examples": 20, "hidden": [8], "steps": 2, "every": 1}, "seeds": [0]},
    },
)


# --- the catapult ------------------------------------------------------------------------


def _catapult_task(config: dict, seed: int, device: str, data_root: str) -> dict:
    """One seed of :func:`run_catapult`: λ₀ of the initial network, then one run per ratio."""
    from lrlab import curvature, dynamics, models, stability, train

    classes = tuple(config["classes"])
    subset = _subset(config["data"], config["examples"], device, data_root, classes)
    x, y = subset.tensors("train")
    # Drawn on the CPU, so that a seed gives the same network on every device.
    start = models.build(
        "two_layer_relu", 2, subset.input_shape, seed=seed, width=config["width"]
    ).to(subset.device)
    lam0 = curvature.sharpness(start, x, y, loss="mse")
    steps = config["steps"]
    losses, finals, dead = [], [], []
    for ratio in config["ratios"]:
        net = models.build("two_layer_relu", 2, subset.input_shape, width=config["width"])
        net.load_state_dict(start.state_dict())
        history = train.fit(
            net,
            subset,
            ratio / lam0,
            epochs=steps,
            batch_size=len(y),
            momentum=0.0,
            weight_decay=0.0,
            loss="mse",
            seed=seed,
            progress=False,
        )
        losses.append(history.loss + [math.nan] * (steps - len(history.loss)))
        finals.append(math.nan if history.diverged else curvature.sharpness(net, x, y, loss="mse"))
        dead.append(math.nan if history.diverged else stability.dead_units(net, x)["activation"])
    numbers = dynamics.catapult_summary(
        np.asarray(losses), np.asarray(finals), np.asarray(config["ratios"]) / lam0
    )
    return {
        "lam0": lam0,
        "dead_units_init": stability.dead_units(start, x)["activation"],
        "loss": losses,
        "final_sharpness": finals,
        "dead_units": dead,
        **{key: np.asarray(value).tolist() for key, value in numbers.items()},
    }


def run_catapult(
    config: Mapping[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict:
    """The catapult on a wide two-layer ReLU network, full-batch GD on the square loss.

    For each seed a two-layer ReLU network of the given width is initialised, its sharpness
    λ₀ (:func:`lrlab.curvature.sharpness` of the square loss on the training examples)
    measured, and a copy trained by :func:`lrlab.train.fit` for ``steps`` full-batch steps
    at η = ratio/λ₀ for every ratio, without momentum or weight decay; the sharpness is
    measured again at the end.

    Parameters
    ----------
    config : mapping
        ``data`` (a data-set name), ``classes`` (two labels), ``examples`` (training
        examples kept), ``width``, ``ratios`` (values of η·λ₀), ``seeds``, ``steps``.
    device, data_root, progress, jobs
        See :func:`lrlab.experiments.store`.

    Returns
    -------
    dict
        ``"lam0"`` and ``"dead_units_init"`` (the fraction of hidden units that are zero on
        every training example, :func:`lrlab.stability.dead_units`) per seed, and per seed
        and ratio (nested lists, seeds first): ``"loss"`` (per step, NaN after a
        divergence), ``"final_sharpness"``, ``"dead_units"`` (at the end),
        ``"peak_ratio"``, ``"final_lr_lam"``, ``"diverged"`` (see
        :func:`lrlab.dynamics.catapult_summary`).

    Examples
    --------
    >>> small = {**CATAPULT.config("smoke"), "examples": 16, "width": 64}
    >>> len(run_catapult(small)["loss"][0][0])
    2
    """
    if len(config["classes"]) != 2:
        raise ValueError(f"classes must name two labels, got {config['classes']!r}")
    _check.integer("examples", config["examples"], minimum=1)
    _check.integer("width", config["width"], minimum=1)
    _check.integer("steps", config["steps"], minimum=1)
    for ratio in config["ratios"]:
        _check.number("ratios", ratio, low=0, low_open=True)
    seeds = [_check.integer("seeds", s, minimum=0) for s in config["seeds"]]
    tasks = [(dict(config), seed, str(device), str(data_root)) for seed in seeds]
    per_seed = pmap(_catapult_task, tasks, jobs=jobs, progress=progress, desc="catapult")
    return {key: [one[key] for one in per_seed] for key in per_seed[0]}


def catapult_work(config: Mapping[str, Any]) -> int:
    """Training examples :func:`run_catapult` processes at most (a diverging run stops
    early; the sharpness measurements aside): ``steps`` full-batch steps on ``examples``
    examples per seed and ratio.

    Examples
    --------
    >>> catapult_work(CATAPULT.config("classroom")) == 1 * 3 * 60 * 64
    True
    """
    examples = min(config["examples"], TRAIN_EXAMPLES[config["data"]])
    return len(config["seeds"]) * len(config["ratios"]) * config["steps"] * examples


CATAPULT = Experiment(
    name="catapult",
    chapter="edge-of-stability",
    title="The catapult phase of a wide ReLU network (Lewkowycz et al. 2020)",
    cite="lewkowycz2020catapult",
    claim=(
        "With rate eta and initial sharpness lambda0, training is lazy below 2/lambda0, "
        "catapults between 2/lambda0 and a maximal rate (the loss first grows, the sharpness "
        "falls below 2/eta, then training converges to a flatter minimum) and diverges "
        "above; for ReLU networks the paper finds that maximal rate near 12/lambda0."
    ),
    run=run_catapult,
    work=catapult_work,
    base={
        "data": "digits",
        "classes": [0, 1],
        "examples": 64,
        "width": 1024,
        "ratios": [0.5, 1.0, 1.5, 1.9, 2.2, 2.6, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0]
        + [48.0, 64.0],
        "seeds": list(range(20)),
        "steps": 60,
    },
    scales={
        "classroom": {"width": 256, "ratios": [1.0, 3.0, 12.0], "seeds": [0]},
        # Wider, on two classes of CIFAR-10 (airplane against automobile).
        "paper": {
            "data": "cifar10",
            "examples": 512,
            "width": 8192,
            "ratios": [0.5, 1.0, 1.5, 1.9, 2.2, 2.6, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0],
            "steps": 200,
        },
        "smoke": {"examples": 8, "width": 16, "ratios": [1.0], "seeds": [0], "steps": 2},
    },
)

#: The experiments of this chapter.
EXPERIMENTS = (EDGE, CATAPULT)
