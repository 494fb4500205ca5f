"""The adam-edge experiment of the chapter "Adam at the edge of stability, and no schedule at
all" (the chapter's other experiment, ``schedule-free``, is in
:mod:`lrlab.experiments.no_schedule`).

``adam-edge`` (Cohen et al. 2022): full-batch Adam on the square loss, a ReLU MLP on 500
digits, two rates and two β₁, each run tracking Adam's preconditioned sharpness λ₁(P⁻¹H)
against its threshold (2 + 2β₁)/((1 − β₁)η) and the raw sharpness λ_max beside it
(:class:`lrlab.curvature.SharpnessTracker`).

Every task records its own CPU time (``cpu_s``), so that a result says what it cost.

>>> ADAM_EDGE.config("smoke")["seeds"], ADAM_EDGE.config()["beta1s"]
([0], [0.9, 0.5])
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping
from typing import Any

from lrlab import _check
from lrlab._pool import pmap
from lrlab.experiments.experiment import TRAIN_EXAMPLES, Experiment

__all__ = ["ADAM_EDGE", "EXPERIMENTS", "adam_edge_run", "adam_edge_work"]


# --- adam-edge --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _digits_subset(name: str, examples: int, device: str, root: str):
    """The first ``examples`` training examples and as many test ones (at most 200), loaded
    once per process."""
    from lrlab import data

    full = data.load(name, root=root, device="cpu")
    return data.subset(full, examples, min(examples, 200), augment=False, device=device)


def _edge_task(config: dict, lr: float, beta1: float, seed: int, device: str, root: str) -> dict:
    """One full-batch Adam run with both trackers (see :func:`adam_edge_run`)."""
    from lrlab import curvature, models, train

    started = time.process_time()
    subset = _digits_subset(config["data"], config["examples"], device, root)
    x, y = subset.tensors("train")
    every = config["every"]
    preconditioned = curvature.SharpnessTracker(x, y, every=every)
    raw = curvature.SharpnessTracker(x, y, every=every, preconditioned=False, threshold=False)
    net = models.build(
        "mlp", subset.num_classes, subset.input_shape, seed=seed, hidden=config["hidden"]
    )
    history = train.fit(
        net,
        subset,
        lr,
        epochs=config["steps"],
        batch_size=subset.size("train"),
        optimizer="adam",
        momentum=beta1,
        weight_decay=0.0,
        loss="mse",
        seed=seed,
        progress=False,
        callbacks=[preconditioned, raw],
    )
    extras = history.extras
    return {
        "seed": seed,
        "loss": history.loss,
        "steps": [s for s, _ in extras.get("preconditioned_sharpness", [])],
        "preconditioned_sharpness": [v for _, v in extras.get("preconditioned_sharpness", [])],
        "sharpness": [v for _, v in extras.get("sharpness", [])],
        "threshold": curvature.stability_threshold(lr, optimizer="adam", beta1=beta1),
        "diverged_at_step": history.diverged_at_step,
        "hvps": preconditioned.hvps + raw.hvps,
        "cpu_s": time.process_time() - started,
    }


def adam_edge_run(
    config: Mapping[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict:
    """Full-batch Adam at every rate and β₁ of ``config``, for every seed.

    Each run trains a ReLU MLP (``hidden`` widths, weights seeded by the seed) with
    :func:`lrlab.train.fit` on the first ``examples`` training examples, one full-batch
    Adam step per epoch for ``steps`` steps (β₂ = 0.999, ε = 1e-8, no weight decay), on
    the square loss. Every ``every`` steps it records the preconditioned sharpness
    λ₁(P⁻¹H) (:func:`lrlab.curvature.preconditioned_sharpness`) and the raw λ_max of the
    same loss on the same examples.

    Parameters
    ----------
    config : mapping
        ``data``, ``examples``, ``hidden``, ``steps``, ``every``, ``lrs``, ``beta1s``,
        ``seeds``.
    device, data_root, progress, jobs
        See :func:`lrlab.experiments.run`.

    Returns
    -------
    dict
        ``{"runs": [{"lr", "beta1", "seeds": [run per seed]}, ...]}`` over the rates (outer)
        and β₁ (inner); a run holds ``loss`` (per step), ``steps`` (measured),
        ``preconditioned_sharpness``, ``sharpness``, ``threshold``, ``diverged_at_step``,
        ``hvps`` and ``cpu_s``.

    Examples
    --------
    >>> out = adam_edge_run(ADAM_EDGE.config("smoke"))
    >>> [(r["lr"], r["beta1"], len(r["seeds"])) for r in out["runs"]]
    [(0.01, 0.9, 1)]
    """
    _check.integer("steps", config["steps"], minimum=1)
    _check.integer("every", config["every"], minimum=1)
    lrs = [_check.number("lrs", lr, low=0, low_open=True) for lr in config["lrs"]]
    betas = [_check.number("beta1s", b, 0, 1, high_open=True) for b in config["beta1s"]]
    seeds = [_check.integer("seeds", s, minimum=0) for s in config["seeds"]]
    pairs = [(lr, beta1) for lr in lrs for beta1 in betas]
    tasks = [
        (dict(config), lr, beta1, seed, str(device), str(data_root))
        for lr, beta1 in pairs
        for seed in seeds
    ]
    done = iter(pmap(_edge_task, tasks, jobs=jobs, progress=progress, desc="adam edge"))
    return {
        "runs": [
            {"lr": lr, "beta1": beta1, "seeds": [next(done) for _ in seeds]} for lr, beta1 in pairs
        ]
    }


def adam_edge_work(config: Mapping[str, Any]) -> int:
    """Training examples :func:`adam_edge_run` processes: ``steps`` full batches of
    ``examples`` per rate, β₁ and seed (the curvature measurements aside).

    Examples
    --------
    >>> adam_edge_work(ADAM_EDGE.config("smoke")) == 4 * 20
    True
    """
    examples = min(config["examples"], TRAIN_EXAMPLES[config["data"]])
    runs = len(config["lrs"]) * len(config["beta1s"]) * len(config["seeds"])
    return runs * config["steps"] * examples


ADAM_EDGE = Experiment(
    name="adam-edge",
    chapter="adaptive",
    title="Full-batch Adam at the adaptive edge of stability (Cohen et al. 2022)",
    cite="cohen2022adaptive",
    claim=(
        "During full-batch training with Adam, the top eigenvalue of the preconditioned "
        "Hessian, lambda_1(P^-1 H), rises to the stability threshold (2 + 2 beta1) / "
        "((1 - beta1) eta), 38/eta at beta1 = 0.9, and hovers there, while the raw sharpness "
        "need not; the paper shows it in its Figure 1."
    ),
    run=adam_edge_run,
    work=adam_edge_work,
    base={
        "data": "digits",
        "examples": 500,
        "hidden": [64, 64],
        "steps": 800,
        "every": 10,
        "lrs": [0.003, 0.01],
        "beta1s": [0.9, 0.5],
        "seeds": [0, 1, 2],
    },
    scales={
        "classroom": {"examples": 300, "steps": 300, "every": 20, "seeds": [0]},
        # The paper's kind of data: the first 5,000 CIFAR-10 images, a wider MLP, longer.
        "paper": {
            "data": "cifar10",
            "examples": 5000,
            "hidden": [200, 200],
            "steps": 3000,
            "every": 30,
            "lrs": [0.0003, 0.001],
        },
        "smoke": {
            "examples": 20,
            "hidden": [8],
            "steps": 4,
            "every": 2,
            "lrs": [0.01],
            "beta1s": [0.9],
            "seeds": [0],
        },
    },
)

#: The experiments of this module.
EXPERIMENTS = (ADAM_EDGE,)
