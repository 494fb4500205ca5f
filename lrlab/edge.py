"""The edge of stability: full-batch runs that record sharpness, the threshold and gradient angles.

Cohen et al. (ICLR 2021) trained networks by full-batch gradient descent on the square loss
and measured the sharpness λ_max (the top Hessian eigenvalue) along the way. Two things
happen: *progressive sharpening* (λ_max rises while λ_max < 2/η) and the *edge of
stability* (once λ_max reaches 2/η it stops there and hovers, while the loss keeps falling
over long times though not monotonically). With heavy-ball momentum β the level is
(2 + 2β)/η. At the edge, successive gradients point in nearly opposite directions along the
top eigenvector: their cosine turns negative.

:func:`run` is one such training run through :func:`lrlab.train.fit` with a
:class:`~lrlab.curvature.SharpnessTracker` and a :class:`GradientCosine`;
:func:`edge_of_stability` runs the book chapter's set of runs (stored with provenance by
:mod:`lrlab.results`).
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from torch import nn

from lrlab import _check
from lrlab.stability import gradient_cosine

__all__ = [
    "EDGE_OF_STABILITY",
    "EDGE_OF_STABILITY_CPU",
    "GradientCosine",
    "edge_of_stability",
    "run",
    "stack",
    "subset",
    "training_examples",
]


def subset(
    name: str = "digits",
    examples: int = 500,
    test_examples: int = 200,
    *,
    device="cpu",
    root: str | os.PathLike = "data/cache",
):
    """The first ``examples`` training and ``test_examples`` test examples.

    Cohen et al. use a 5,000-example subset of CIFAR-10 so that full-batch gradient descent
    is affordable; a few hundred digits do the same at CPU scale.

    Parameters
    ----------
    name : str
        A data set of :func:`lrlab.data.load`.
    examples, test_examples : int
        How many of the first training and test examples to keep.
    device : torch.device or str
        Where the subset lives (the CPU by default).
    root : path
        Data folder (MNIST-1D's cache, CIFAR's archives).

    Examples
    --------
    >>> subset("digits", 100, 50)
    Dataset('digits-100', train=100, test=50, input_shape=(1, 8, 8), num_classes=10, device=cpu)
    """
    from lrlab import data

    examples = _check.integer("examples", examples, minimum=1)
    test_examples = _check.integer("test_examples", test_examples, minimum=1)
    full = data.load(name, root=root, device="cpu")
    (x, y), (xt, yt) = full.raw("train"), full.raw("test")
    return data.Dataset(
        f"{name}-{examples}",
        (x[:examples], y[:examples]),
        (xt[:test_examples], yt[:test_examples]),
        full.classes,
        scale=full.scale,
        augment_crop_flip=False,
        device=device,
    )


class GradientCosine:
    """A :func:`lrlab.train.fit` callback: the cosine between successive steps' gradients.

    Records ``"gradient_cosine"`` at every step t ≥ 1: cos(g_t, g_{t−1}) of the (minibatch)
    gradients the optimizer used. Near a minimum with curvature λ along the top eigenvector,
    gradient descent multiplies that component by 1 − ηλ per step, so once λ > 1/η the
    gradients alternate in sign along it, and past 2/η (the edge) the cosine is driven
    towards −1.

    Examples
    --------
    >>> from lrlab.train import History
    >>> w = nn.Parameter(torch.tensor([1.0, 0.0]))
    >>> model, history, cosine = nn.Module(), History(), GradientCosine()
    >>> model.w = w
    >>> for step, g in enumerate([[1.0, 0.0], [-1.0, 0.0]]):
    ...     w.grad = torch.tensor(g)
    ...     cosine(model, step, history)
    >>> history.extras["gradient_cosine"]
    [[1, -1.0]]
    """

    def __init__(self):
        self._previous: torch.Tensor | None = None
        self._previous_step: int | None = None

    def __call__(self, model: nn.Module, step: int, history) -> None:
        grads = [p.grad.reshape(-1) for p in model.parameters() if p.grad is not None]
        if not grads:
            return
        current = torch.cat(grads).detach().double()
        if self._previous is not None and self._previous_step == step - 1:
            history.record("gradient_cosine", step, gradient_cosine(current, self._previous))
        self._previous, self._previous_step = current.clone(), step


#: Defaults of one run (see :func:`run`).
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


def run(config: dict | None = None, data=None) -> dict:
    """One training run on the square loss that tracks sharpness and gradient angles.

    A ReLU MLP (``lrlab.models.build("mlp", hidden=...)``, seeded with ``seed``) is trained
    by :func:`lrlab.train.fit` for ``steps`` optimizer steps with SGD (momentum as given,
    no weight decay) on the square loss, full-batch unless ``batch_size`` is set, at rate
    ``lr`` (after a linear warm-up from 0 over ``warmup_steps`` steps, if any). Every
    ``every`` steps the sharpness on the whole training set and the optimizer's stability
    threshold are recorded; the cosine of successive gradients at every step.

    Parameters
    ----------
    config : dict, optional
        Keys of :data:`RUN_DEFAULTS` (the defaults for missing keys).
    data : lrlab.data.Dataset, optional
        The training data; by default :func:`subset` of ``config["data"]`` and
        ``config["examples"]``.

    Returns
    -------
    dict
        ``"config"`` (complete), ``"lr"``, ``"loss"`` (per step), ``"sharpness_steps"``,
        ``"sharpness"`` (None where the curvature overflowed), ``"threshold"`` (None at a
        rate of 0, where there is none),
        ``"cosine"`` (per step from step 1; None at steps where it is undefined),
        ``"diverged_at_step"`` and ``"hvps"``.

    Examples
    --------
    >>> out = run({"examples": 100, "hidden": [16], "steps": 4, "every": 2})
    >>> out["sharpness_steps"], len(out["loss"]), len(out["cosine"])
    ([0, 2], 4, 3)
    """
    from lrlab import curvature, models, schedules, train

    config = {**RUN_DEFAULTS, **(config or {})}
    unknown = set(config) - set(RUN_DEFAULTS)
    if unknown:
        raise ValueError(
            f"config has unknown keys {sorted(unknown)}; allowed: {list(RUN_DEFAULTS)}"
        )
    lr = _check.number("lr", config["lr"], low=0, low_open=True)
    warmup_steps = _check.integer("warmup_steps", config["warmup_steps"], minimum=0)
    steps = _check.integer("steps", config["steps"], minimum=1)
    data = data if data is not None else subset(config["data"], config["examples"])
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
    torch.manual_seed(_check.integer("seed", config["seed"], minimum=0))
    net = models.build("mlp", data.num_classes, data.input_shape, hidden=config["hidden"])
    history = train.fit(
        net,
        data,
        schedule,
        epochs=steps // steps_per_epoch,
        batch_size=batch_size,
        momentum=config["momentum"],
        weight_decay=0.0,
        loss="mse",
        seed=config["seed"],
        progress=False,
        callbacks=[tracker, GradientCosine()],
    )
    cosines = dict(history.extras.get("gradient_cosine", []))
    finite = lambda v: v if math.isfinite(v) else None  # noqa: E731 - JSON has no NaN
    return {
        "config": config,
        "lr": history.lr,
        "loss": [finite(v) for v in history.loss],
        "sharpness_steps": [s for s, _ in history.extras.get("sharpness", [])],
        "sharpness": [finite(v) for _, v in history.extras.get("sharpness", [])],
        "threshold": [finite(v) for _, v in history.extras.get("stability_threshold", [])],
        "cosine": [
            finite(cosines[t]) if t in cosines else None for t in range(1, len(history.loss))
        ],
        "diverged_at_step": history.diverged_at_step,
        "hvps": tracker.hvps,
    }


#: The chapter's runs, stored as ``lrlab/results_data/edge_of_stability.json``: full-batch GD at a
#: small and at three larger rates, heavy-ball momentum, minibatch SGD, a large rate with
#: and without warm-up, and a linear ramp of the rate (a full-batch range test).
EDGE_OF_STABILITY = {
    "base": {"data": "digits", "examples": 500, "hidden": [64, 64], "steps": 400, "every": 10},
    "seeds": [0, 1, 2],
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
}
#: A smaller variant (one seed, half the steps), shown when the stored result is missing.
EDGE_OF_STABILITY_CPU = {
    "base": {**EDGE_OF_STABILITY["base"], "examples": 200, "steps": 200, "every": 20},
    "seeds": [0],
    "runs": {
        **EDGE_OF_STABILITY["runs"],
        "warmup-1.5": {"lr": 1.5, "warmup_steps": 100},
        "ramp-4": {"lr": 4.0, "warmup_steps": 200},
    },
}


def edge_of_stability(
    config: dict | None = None,
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
) -> dict:
    """Run every run of ``config`` for every seed (see :data:`EDGE_OF_STABILITY`).

    Parameters
    ----------
    config : dict, optional
        ``{"base": {...}, "seeds": [...], "runs": {name: {...}}}``: each run's options are
        ``base`` updated by its own entry and its seed (keys of :data:`RUN_DEFAULTS`).
        :data:`EDGE_OF_STABILITY` by default. Also the ``run`` of
        :func:`lrlab.results.load_or_run`, whose result this is.
    device : torch.device or str
        Where the data and the networks live: the CPU for the chapter's stored runs, a GPU
        for the paper's scale (``lrlab reproduce edge-of-stability --scale paper``).
    data_root : path
        Data folder (MNIST-1D's cache, CIFAR's archives).

    Returns
    -------
    dict
        ``{name: [run(...) for each seed]}`` (see :func:`run`).

    Examples
    --------
    >>> tiny = {"base": {"examples": 50, "hidden": [8], "steps": 2, "every": 1},
    ...         "seeds": [0, 1], "runs": {"gd": {"lr": 0.1}}}
    >>> [len(r["sharpness"]) for r in edge_of_stability(tiny)["gd"]]
    [2, 2]
    """
    config = config if config is not None else EDGE_OF_STABILITY
    base = {**RUN_DEFAULTS, **config["base"]}
    data = subset(base["data"], base["examples"], device=device, root=data_root)
    return {
        name: [run({**base, **options, "seed": seed}, data) for seed in config["seeds"]]
        for name, options in config["runs"].items()
    }


def training_examples(config: dict, sizes: dict[str, int]) -> int:
    """Training examples :func:`edge_of_stability` processes (its sharpness measurements
    aside): per run and seed, ``steps`` steps of ``batch_size`` (full batch by default) on
    the first ``examples`` training examples.

    Parameters
    ----------
    config : dict
        As :func:`edge_of_stability` takes it.
    sizes : dict
        Training-set size of each data set by name.

    Examples
    --------
    >>> tiny = {"base": {"examples": 50, "steps": 4}, "seeds": [0, 1],
    ...         "runs": {"gd": {"lr": 0.1}, "sgd": {"lr": 0.1, "batch_size": 25}}}
    >>> training_examples(tiny, {"digits": 1347}) == 2 * (4 * 50 + 4 * 25)
    True
    """
    base = {**RUN_DEFAULTS, **config["base"]}
    total = 0
    for options in config["runs"].values():
        run_config = {**base, **options}
        n = min(run_config["examples"], sizes[run_config["data"]])
        batches = -(-n // (run_config["batch_size"] or n))  # steps per pass
        total += run_config["steps"] // batches * n
    return len(config["seeds"]) * total


def stack(seed_runs: list[dict], key: str) -> np.ndarray:
    """One series of several runs (one per seed) as a float array, one row per run.

    Missing values (None: a step after a divergence, an undefined cosine) become NaN; rows
    of different lengths are padded with NaN at the end.

    Examples
    --------
    >>> stack([{"loss": [1.0, 0.5]}, {"loss": [2.0, None]}], "loss").tolist()
    [[1.0, 0.5], [2.0, nan]]
    """
    if not seed_runs:
        raise ValueError("seed_runs must hold at least one run, got none")
    if any(key not in r for r in seed_runs):
        raise ValueError(f"key must name a series of every run, got {key!r}")
    length = max(len(r[key]) for r in seed_runs)
    out = np.full((len(seed_runs), length), np.nan)
    for row, r in zip(out, seed_runs, strict=True):
        row[: len(r[key])] = np.array(r[key], dtype=float)
    return out
