"""The noise scale and the batch size: ``noise-scale`` and ``batch-size``.

- ``noise-scale`` (:func:`run_noise`): the simple noise scale :math:`B_\\text{simple}`
  (:class:`lrlab.scaling.NoiseScaleTracker`) and the full training loss along SGD runs,
  for several seeds (McCandlish et al. 2018);
- ``batch-size`` (:func:`run_batch`): for each batch size, plain SGD at every rate of one
  log grid; the steps each run needs to reach a target test accuracy
  (:class:`lrlab.scaling.TargetTracker`), and :math:`B_\\text{simple}` where it gets there.
  From these the chapter picks each batch size's best rate and fits the critical batch
  size (:func:`lrlab.scaling.critical_batch`).

>>> BATCH.config("classroom")["batch_sizes"]
[16, 128, 1024]
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from typing import Any

from lrlab._pool import pmap
from lrlab.experiments.experiment import TRAIN_EXAMPLES, Experiment
from lrlab.experiments.scaling.common import build_network, load_data

__all__ = [
    "BATCH",
    "NOISE",
    "batch_limits",
    "batch_work",
    "noise_work",
    "run_batch",
    "run_noise",
    "search_order",
    "summarize",
]


# --- the noise scale along training ---------------------------------------------------------


def _noise_task(config: dict, seed: int, device: str, data_root: str) -> dict:
    from lrlab import scaling, train

    clock = time.process_time()
    dataset = load_data(config["data"], device, data_root)
    every = config["every"]
    noise = scaling.NoiseScaleTracker(dataset, every=every, seed=seed, **config["noise"])
    curve = scaling.TargetTracker(dataset, split="train", every=every)
    history = train.fit(
        build_network(config, dataset, seed),
        dataset,
        config["lr"],
        config["epochs"],
        batch_size=config["batch_size"],
        momentum=0.0,
        weight_decay=0.0,
        seed=seed,
        progress=False,
        callbacks=[noise, curve],
    )
    extras = history.extras
    return {
        "seed": seed,
        "steps": [step + 1 for step, _ in extras.get("noise_scale", [])],
        **{
            key: [value for _, value in extras.get(name, [])]
            for key, name in (
                ("b_simple", "noise_scale"),
                ("trace_sigma", "noise_trace_sigma"),
                ("grad_sq", "noise_grad_sq"),
                ("train_loss", "eval_loss"),
                ("train_acc", "eval_acc"),
            )
        },
        "test_acc": history.test_acc,
        "diverged_at_step": history.diverged_at_step,
        "trained_steps": history.steps,
        "cpu_time_s": time.process_time() - clock,
    }


def run_noise(
    config: Mapping[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict:
    """SGD runs that measure :math:`B_\\text{simple}` and the full training loss every
    ``every`` steps.

    Per seed, the network is trained by :func:`lrlab.train.fit` for ``epochs`` epochs with
    plain SGD (no momentum, no weight decay) at the constant rate ``lr`` and batch size
    ``batch_size``; after every ``every``-th step (from the first),
    :class:`lrlab.scaling.NoiseScaleTracker` measures the noise scale (options ``noise``)
    and :class:`lrlab.scaling.TargetTracker` the loss and accuracy on the whole training
    set.

    Returns
    -------
    dict
        ``{"runs": [per seed: "seed", "steps" (steps taken at each measurement),
        "b_simple", "trace_sigma", "grad_sq", "train_loss", "train_acc" (one per
        measurement), "test_acc" (per epoch), "diverged_at_step", "trained_steps",
        "cpu_time_s"]}``.

    Examples
    --------
    >>> out = run_noise(NOISE.config("smoke"))
    >>> out["runs"][0]["steps"]
    [1, 17]
    """
    tasks = [(dict(config), seed, str(device), str(data_root)) for seed in config["seeds"]]
    return {"runs": pmap(_noise_task, tasks, jobs=jobs, progress=progress, desc="noise scale")}


def noise_work(config: Mapping[str, Any]) -> int:
    """Training examples :func:`run_noise` processes: ``epochs`` passes per seed (the noise
    measurements draw their own examples, not counted)."""
    return len(config["seeds"]) * config["epochs"] * TRAIN_EXAMPLES[config["data"]]


NOISE = Experiment(
    name="noise-scale",
    chapter="scaling",
    title="The gradient noise scale grows as the loss falls (McCandlish et al. 2018)",
    cite="mccandlish2018empirical",
    claim=(
        "The simple noise scale B_simple = tr(Sigma)/|G|^2, measured from gradient norms at "
        "two batch sizes, predicts the largest useful batch size, and it increases as the "
        "loss decreases over a training run."
    ),
    run=run_noise,
    work=noise_work,
    base={
        "data": "mnist1d",
        "model": "mlp",
        "width": 128,
        "depth": 2,
        "lr": 0.5,
        "batch_size": 128,
        "epochs": 40,
        "every": 64,  # steps between measurements (two epochs of batch 128)
        "noise": {"small_batch": 32, "big_batch": 1024, "batches": 8},
        "seeds": list(range(10)),
    },
    scales={
        "classroom": {"epochs": 16, "seeds": [0, 1]},
        # CIFAR-10 with the small CNN (BatchNorm: each small batch normalised by itself).
        "paper": {
            "data": "cifar10",
            "model": "small_cnn",
            "model_options": {},
            "batch_size": 128,
            "lr": 0.1,
            "epochs": 30,
            "every": 391,
            "noise": {"small_batch": 64, "big_batch": 1024, "batches": 8},
            "seeds": [0, 1, 2],
        },
        "smoke": {
            "epochs": 1,
            "every": 16,
            "noise": {"small_batch": 2, "big_batch": 8, "batches": 2},
            "seeds": [0],
        },
    },
)


# --- batch size and rate: steps to a target ---------------------------------------------------


def batch_limits(config: Mapping[str, Any], batch_size: int) -> tuple[int, int]:
    """The step budget of one run at ``batch_size`` and its evaluation interval.

    The budget is ``max(min_steps, max_examples / batch_size)`` steps (so that small
    batches get enough examples and large ones enough steps); the target is checked every
    ``max(1, round(eval_examples / batch_size))`` steps.

    Examples
    --------
    >>> batch_limits(BATCH.config(), 16), batch_limits(BATCH.config(), 2048)
    ((12500, 64), (1000, 1))
    """
    budget = max(config["min_steps"], -(-config["max_examples"] // batch_size))
    return budget, max(1, round(config["eval_examples"] / batch_size))


def search_order(config: Mapping[str, Any], batch_size: int) -> list[float]:
    """The order in which :func:`run_batch` tries the rates at ``batch_size``: nearest first
    (in log scale) to the guess ``min(search["rate"] * batch_size / search["batch_size"],
    search["max_rate"])``, the larger of two equally near first.

    The first rate to reach the target sets the budget of the others, so a good guess saves
    runs that stall; the result does not depend on the order (see :func:`run_batch`).

    Examples
    --------
    >>> search_order(BATCH.config(), 16)[:3], search_order(BATCH.config(), 2048)[:3]
    ([0.125, 0.25, 0.0625], [2.0, 4.0, 1.0])
    """
    search = config["search"]
    guess = min(search["rate"] * batch_size / search["batch_size"], search["max_rate"])
    return sorted(config["rates"], key=lambda lr: (abs(math.log(lr / guess)), -lr))


def _batch_task(config: dict, batch_size: int, seed: int, device: str, data_root: str) -> dict:
    """Every rate at one batch size and seed, in :func:`search_order`.

    A run ends at the target, at its budget, or once it has taken ``patience`` times the
    steps of the fastest run so far; afterwards every count above ``patience`` times the
    fastest is cleared (censored), so the result does not depend on the order.
    """
    from lrlab import scaling, train

    clock = time.process_time()
    dataset = load_data(config["data"], device, data_root)
    budget, every = batch_limits(config, batch_size)
    target = config["target"]
    fastest, runs = math.inf, {}
    for lr in search_order(config, batch_size):
        limit = int(min(budget, config["patience"] * fastest))
        tracker = scaling.TargetTracker(
            dataset, every=every, target=target["value"], metric=target["metric"], max_steps=limit
        )
        net = build_network(config, dataset, seed)
        history = train.fit(
            net,
            dataset,
            lr,
            -(-limit // dataset.num_batches("train", batch_size)),
            batch_size=batch_size,
            momentum=0.0,
            weight_decay=0.0,
            seed=seed,
            progress=False,
            callbacks=[tracker],
        )
        noise = math.nan
        if tracker.reached_at is not None:
            fastest = min(fastest, tracker.reached_at)
            noise = scaling.noise_scale(net, dataset, seed=seed, **config["noise"]).b_simple
        curve = history.extras.get("eval_acc" if target["metric"] == "accuracy" else "eval_loss")
        checked, values = [s + 1 for s, _ in curve or []], [v for _, v in curve or []]
        easier = [
            scaling.steps_to_target(values, value, steps=checked, goal=tracker.goal)
            for value in target["easier"]
        ]
        runs[lr] = (tracker.reached_at, noise, easier, history.diverged_at_step, history.steps)
    grid, cut = list(config["rates"]), config["patience"] * fastest

    def kept(steps):  # exact within patience times the fastest, else None, in any order
        return int(steps) if steps is not None and math.isfinite(steps) and steps <= cut else None

    return {
        "seed": seed,
        "steps": [kept(runs[lr][0]) for lr in grid],
        "b_simple": [runs[lr][1] if kept(runs[lr][0]) else math.nan for lr in grid],
        "steps_easier": [
            [kept(runs[lr][2][j]) for lr in grid] for j in range(len(target["easier"]))
        ],
        "diverged_at_step": [runs[lr][3] for lr in grid],
        "trained_steps": [runs[lr][4] for lr in grid],
        "cpu_time_s": time.process_time() - clock,
    }


def run_batch(
    config: Mapping[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict:
    """Steps to a target accuracy at every batch size and rate (McCandlish et al. 2018).

    For each batch size, seed and rate of ``rates``, the network is trained by
    :func:`lrlab.train.fit` with plain SGD at that constant rate, and
    :class:`lrlab.scaling.TargetTracker` checks the ``target`` (``metric`` and ``value`` on
    the test set) every few steps and ends the run when it is reached, within the budget of
    :func:`batch_limits`. Rates are tried in :func:`search_order`; once one reaches the
    target, the others of that batch size and seed stop at ``patience`` times its steps, and
    counts beyond ``patience`` times the fewest are reported as not reached (None): every
    count within ``patience`` times the fewest is exact and every other one None, whatever
    the order. The steps to each easier target of ``target["easier"]`` (values met on the
    way to the main one) are read off the same runs' curves
    (:func:`lrlab.scaling.steps_to_target`), censored at the same count. Where a run
    reaches the target, :func:`lrlab.scaling.noise_scale` (options ``noise``) measures
    :math:`B_\\text{simple}` of the network there.

    Returns
    -------
    dict
        ``{"batch_sizes", "rates", "runs": {str(batch_size): [per seed: "seed", "steps"
        (per rate: steps to the target, or None), "b_simple" (per rate, NaN where not
        reached), "steps_easier" (per easier target, per rate), "diverged_at_step",
        "trained_steps" (per rate), "cpu_time_s"]}}``.

    Examples
    --------
    >>> out = run_batch(BATCH.config("smoke"))
    >>> out["runs"]["4"][0]["steps"]
    [1, 1]
    """
    sizes = list(config["batch_sizes"])
    tasks = [
        (dict(config), size, seed, str(device), str(data_root))
        for size in sizes
        for seed in config["seeds"]
    ]
    done = iter(pmap(_batch_task, tasks, jobs=jobs, progress=progress, desc="batch size"))
    return {
        "batch_sizes": sizes,
        "rates": list(config["rates"]),
        "runs": {str(size): [next(done) for _ in config["seeds"]] for size in sizes},
    }


def summarize(result: Mapping[str, Any], easier: int | None = None) -> dict[str, Any]:
    """Each batch size's best rate, steps and examples to the target, and the fitted
    critical batch size, from a result of :func:`run_batch`.

    The best rate of a batch size is the one with the fewest steps to the target by the
    median over the seeds, a seed that did not get there counting as infinitely slow
    (:func:`lrlab.scaling.best_rate`); its median is :math:`S`, and :math:`E = BS`. The
    batch sizes with a finite :math:`S` are fitted with :func:`lrlab.scaling.critical_batch`.
    :math:`B_\\text{simple}` at the target is the median, over the seeds that got there
    at the best rate, of the noise scale measured there.

    Parameters
    ----------
    result : mapping
        What :func:`run_batch` returns (or a stored record's ``"result"``).
    easier : int, optional
        Use the easier target ``target["easier"][easier]`` instead of the main one
        (:math:`B_\\text{simple}` is measured at the main target only: NaN).

    Returns
    -------
    dict
        ``"batch_sizes"``, ``"best"`` (a :class:`lrlab.scaling.BestRate` per batch size),
        ``"best_rate"``, ``"steps"`` (:math:`S`), ``"examples"`` (:math:`E`),
        ``"per_seed"`` (each seed's steps at the best rate, NaN where it did not get there),
        ``"b_simple"`` (arrays, one entry per batch size) and ``"fit"`` (a
        :class:`lrlab.scaling.CriticalBatch`, or None with fewer than two finite sizes).

    Examples
    --------
    >>> out = summarize(run_batch(BATCH.config("smoke")))
    >>> out["best_rate"].tolist(), out["steps"].tolist()
    ([0.1, 0.1], [1.0, 1.0])
    """
    import numpy as np

    from lrlab import scaling

    sizes, rates = list(result["batch_sizes"]), list(result["rates"])
    best, per_seed, b_simple = [], [], []
    for size in sizes:
        runs = result["runs"][str(size)]
        steps = np.array(
            [run["steps"] if easier is None else run["steps_easier"][easier] for run in runs],
            dtype=float,
        )  # None -> NaN: did not get there
        choice = scaling.best_rate(rates, steps, statistic="median")
        best.append(choice)
        if choice.index is None:  # no rate got there
            per_seed.append(np.full(len(runs), np.nan))
            b_simple.append(math.nan)
            continue
        per_seed.append(steps[:, choice.index])
        noise = np.array([run["b_simple"][choice.index] for run in runs], dtype=float)
        finite = noise[np.isfinite(noise)]
        b_simple.append(float(np.median(finite)) if easier is None and finite.size else math.nan)
    size_array = np.array(sizes, dtype=float)
    steps = np.array([b.score for b in best], dtype=float)
    found = np.isfinite(steps)
    fit = scaling.critical_batch(size_array[found], steps[found]) if found.sum() >= 2 else None
    return {
        "batch_sizes": size_array,
        "best": best,
        "best_rate": np.array([b.rate for b in best]),
        "steps": steps,
        "examples": size_array * steps,
        "per_seed": np.array(per_seed),
        "b_simple": np.array(b_simple),
        "fit": fit,
    }


def batch_work(config: Mapping[str, Any]) -> int:
    """Training examples :func:`run_batch` may process: every run to its full budget (runs
    end earlier at the target or against the fastest; ``trained_steps`` counts them).

    Examples
    --------
    >>> config = BATCH.config("smoke")
    >>> batch_work(config) == 2 * 2 * (4 + 8) * 3
    True
    """
    per_seed = sum(
        len(config["rates"]) * size * batch_limits(config, size)[0]
        for size in config["batch_sizes"]
    )
    return len(config["seeds"]) * per_seed


BATCH = Experiment(
    name="batch-size",
    chapter="scaling",
    title="Steps and examples to a target against batch size (McCandlish et al. 2018)",
    cite="mccandlish2018empirical",
    claim=(
        "Each batch size at its own tuned rate, the steps S and examples E needed to reach a "
        "target trade off as (S/S_min - 1)(E/E_min - 1) = 1: doubling a small batch halves "
        "the steps at no cost in examples, doubling a large one saves no steps; the critical "
        "batch size E_min/S_min is close to the noise scale B_simple, and the best rate grows "
        "with the batch below it and saturates above."
    ),
    run=run_batch,
    work=batch_work,
    base={
        "data": "mnist1d",
        "model": "mlp",
        "width": 128,
        "depth": 2,
        "batch_sizes": [16, 32, 64, 128, 256, 512, 1024, 2048],
        "rates": [2.0**k for k in range(-5, 4)],  # 1/32 to 8
        # On the test set; the steps to the easier values come from the same runs.
        "target": {"metric": "accuracy", "value": 0.6, "easier": [0.5, 0.55]},
        "max_examples": 200_000,
        "min_steps": 1000,
        "patience": 2,
        "eval_examples": 1024,
        # Where to start looking (the cost, not the result, depends on it): from trial runs.
        "search": {"rate": 0.125, "batch_size": 16, "max_rate": 2.0},
        "noise": {"small_batch": 32, "big_batch": 1024, "batches": 8},
        "seeds": list(range(10)),
    },
    scales={
        "classroom": {
            "batch_sizes": [16, 128, 1024],
            "rates": [2.0**k for k in range(-3, 4, 2)],  # 1/8 to 8, four apart
            "seeds": [0, 1],
        },
        "paper": {
            "data": "cifar10",
            "model": "small_cnn",
            "model_options": {},
            "batch_sizes": [32, 64, 128, 256, 512, 1024, 2048, 4096],
            "rates": [2.0**k for k in range(-7, 3)],
            "target": {"metric": "accuracy", "value": 0.7, "easier": [0.6, 0.65]},
            "max_examples": 2_500_000,
            "eval_examples": 10_000,
            "noise": {"small_batch": 64, "big_batch": 1024, "batches": 8},
            "search": {"rate": 0.05, "batch_size": 32, "max_rate": 1.0},
            "seeds": [0, 1, 2],
        },
        # Every run meets an accuracy of 0 at its first check.
        "smoke": {
            "batch_sizes": [4, 8],
            "rates": [0.1, 0.2],
            "target": {"value": 0.0, "easier": [-1.0]},
            "max_examples": 8,
            "min_steps": 3,
            "eval_examples": 1,
            "noise": {"small_batch": 2, "big_batch": 4, "batches": 1},
            "seeds": [0, 1],
        },
    },
)
