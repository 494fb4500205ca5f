"""The experiment ``seong-peak``: every schedule of :data:`~.training.SCHEDULES` from many
seeds, each run followed during training (loss, gradient norm, sharpness against its stability
bound) and its final model measured in every way Seong et al. (2018) measure flatness.

>>> len(SEONG.config("classroom")["schedules"]), SEONG.config("smoke")["schedules"]
(6, ['step', 'gaussian'])
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from lrlab._pool import pmap
from lrlab.experiments.experiment import Experiment
from lrlab.experiments.flat_minima.matching import equal_loss, first_late_epoch
from lrlab.experiments.flat_minima.training import (
    PAPER,
    TRAINING,
    load_data,
    peak_epoch,
    run_schedules,
    smoke_epochs,
    train_one,
    train_work,
)

__all__ = ["SEONG", "run_flatness"]


class _EpochRecorder:
    """A ``fit`` callback: at epoch ends the full training loss, the sharpness at the epochs
    asked for (each warm-started from the previous top eigenvector), and the weights at one
    epoch."""

    def __init__(self, loss_fn, probe, sharpness_epochs, keep_epoch, threshold):
        self.loss_fn, self.probe = loss_fn, probe
        self.sharpness_epochs, self.keep_epoch = set(sharpness_epochs), keep_epoch
        self.threshold = threshold  # epoch -> stability bound of the rate in use
        self.train_loss: list[float] = []
        self.rows: list[list[float]] = []
        self.kept: torch.Tensor | None = None
        self._vector = None

    def wants(self, step: int) -> bool:
        return False  # everything happens at epoch ends

    def __call__(self, model, step, history) -> None:
        return None

    def on_epoch_end(self, model, epoch, history) -> None:
        from lrlab import curvature, landscape

        epoch += 1
        self.train_loss.append(_loss(model, self.loss_fn))
        if epoch == self.keep_epoch:
            self.kept = landscape.parameters_vector(model)
        if epoch in self.sharpness_epochs:
            x, y = self.probe
            value, info = curvature.sharpness(
                model, x, y, mode="eval", iters=30, tol=1e-3, init=self._vector, return_info=True
            )
            self._vector = info["eigenvector"]
            self.rows.append([epoch, self.train_loss[-1], value, self.threshold(epoch)])


def _loss(model, loss_fn) -> float:
    """The loss in eval mode (as every measure of lrlab.landscape), the mode restored."""
    from lrlab import models

    with models.preserved(model, weights=False), torch.no_grad():
        model.eval()
        return float(loss_fn(model))


def _grids(config: Mapping[str, Any]) -> dict[str, list[float]]:
    lo, hi, count = config["random_radii"]
    return {
        "random_radii": np.linspace(lo, hi, int(count)).tolist(),
        "path_alphas": np.linspace(0.0, config["path_max"], config["path_points"]).tolist(),
        "fooling_radii": np.linspace(0.0, config["fooling_radius"], 6).tolist(),
        "noise_alphas": np.linspace(0.0, config["noise_max"], 11).tolist(),
        "toward_alphas": np.linspace(0.0, 1.0, 11).tolist(),
        "surface_xs": np.linspace(-1.0, 1.0, config["surface_points"]).tolist(),
    }


def _measure(model, peak_weights, dataset, config) -> dict[str, Any]:
    """Every flatness measure of the model's (final) weights."""
    from lrlab import curvature, landscape

    grids = _grids(config)
    x_train, y_train = dataset.tensors("train")
    x_test, y_test = dataset.tensors("test")
    train_fn = landscape.batch_loss(x_train, y_train)
    weights = landscape.parameters_vector(model)
    random = [
        landscape.loss_along(
            model,
            landscape.random_direction(model, "filter", seed=s),
            train_fn,
            grids["random_radii"],
        )
        for s in range(config["directions"])
    ]
    fooling = landscape.fooling_direction(model, train_fn, config["fooling_radius"], steps=5)
    path = (  # None where the final weights are those at the peak (a constant rate)
        None
        if peak_weights is None
        else landscape.linear_path(
            model, weights, peak_weights, train_fn, grids["path_alphas"], normalize=True
        ).tolist()
    )
    n_probe, n_sharp = config["probe_examples"], config["sharpness_examples"]
    x, y = x_train[:n_probe], y_train[:n_probe]
    with torch.no_grad():
        test_error = float((model.eval()(x_test).argmax(1) != y_test).float().mean())
    return {
        "train_loss": _loss(model, train_fn),
        "test_error": test_error,
        "weight_norm": float(weights.norm()),
        "peak_distance": None if peak_weights is None else float((peak_weights - weights).norm()),
        "lambda_max": curvature.sharpness(
            model, x_train[:n_sharp], y_train[:n_sharp], mode="eval", iters=30, tol=1e-3
        ),
        "random": np.mean(random, axis=0).tolist(),
        "path": path,
        "fooling": landscape.loss_along(model, fooling, train_fn, grids["fooling_radii"]).tolist(),
        "noise": landscape.input_noise_loss(model, x, y, grids["noise_alphas"]).tolist(),
        "toward": landscape.input_path_loss(model, x, y, x_test, grids["toward_alphas"]).tolist(),
    }


def _flatness_task(config: dict, name: str, seed: int, device: str, data_root: str) -> dict:
    """Train one schedule from one seed, follow it, measure its final model."""
    from lrlab import curvature, landscape

    started = time.process_time()
    dataset = load_data(config["dataset"], device, data_root)
    spe, schedules = run_schedules(config, dataset)
    schedule, epochs = schedules[name], config["epochs"]
    top = peak_epoch(schedule, epochs * spe, spe)
    late, every = first_late_epoch(config), config["sharpness_every"]
    x_train, y_train = dataset.tensors("train")
    n_sharp = config["sharpness_examples"]
    recorder = _EpochRecorder(
        landscape.batch_loss(x_train, y_train),
        (x_train[:n_sharp], y_train[:n_sharp]),
        [e for e in range(1, epochs + 1) if e % every == 0 or e >= late],
        keep_epoch=top,
        threshold=lambda e: curvature.stability_threshold(
            float(schedule(e * spe - 1)), config["momentum"]
        ),
    )
    model, history = train_one(config, dataset, schedule, seed, [recorder])
    record: dict[str, Any] = {
        "seed": seed,
        "diverged": history.diverged,
        "test_acc": history.test_acc,
        # a run that diverged scores what its non-finite outputs score: chance
        "final_test_acc": 1 / dataset.num_classes if history.diverged else history.test_acc[-1],
        "train_loss": recorder.train_loss,
        "grad_norm": [
            float(np.mean(history.grad_norm[e * spe : (e + 1) * spe]))
            for e in range(len(history.test_acc))
        ],
        "sharpness": recorder.rows,
        "final": None,
        "surface": None,
    }
    if not history.diverged:
        peak_weights = None if top == epochs else recorder.kept
        record["final"] = _measure(model, peak_weights, dataset, config)
        if seed == config["seeds"][0]:  # one 2-D slice per schedule
            record["surface"] = _surface(model, dataset, config)
    record["cpu_time_s"] = time.process_time() - started
    return record


def _surface(model, dataset, config) -> list:
    from lrlab import landscape

    x_train, y_train = dataset.tensors("train")
    d1, d2 = (landscape.random_direction(model, "filter", seed=s) for s in (101, 102))
    xs = _grids(config)["surface_xs"]
    loss_fn = landscape.batch_loss(x_train, y_train)
    return landscape.surface(model, d1, d2, loss_fn, xs, xs).tolist()


def run_flatness(
    config: dict[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict[str, Any]:
    """Train every schedule × seed of ``config``, follow each run and measure its final model.

    Each run (one task of :func:`lrlab._pool.pmap`, so seeds run on every core) records per
    epoch the test accuracy, the training loss (whole training set, eval mode) and the mean
    gradient norm (Seong's Fig. 5); ``[epoch, loss, λ_max, 2(1 + β)/γ]`` every
    ``sharpness_every`` epochs and every epoch of the last third (λ_max on the first
    ``sharpness_examples`` training examples, warm-started); and its final model's flatness
    (:func:`lrlab.landscape`: random filter-normalised directions, the linear path to the
    weights at *its own schedule's* peak (:func:`peak_epoch`), a fooling direction, input
    noise, the path toward a nearby test input; λ_max; the weight norm).

    Parameters
    ----------
    config : dict
        Keys as in :data:`SEONG`'s base: data set and model, schedules and seeds, the
        training budget and optimiser, when and on how many examples sharpness is measured,
        the equal-loss comparison (``late_fraction``, ``failed_factor``) and
        the grids of the flatness measures (``random_radii`` as ``[start, stop, points]`` in
        filter-normalised units; ``path_max`` and ``fooling_radius`` Euclidean distances in
        weight space; ``noise_max`` the input noise norm; ``probe_examples`` training
        examples for the input perturbations).
    device, data_root, progress, jobs
        See :func:`lrlab.experiments.run`.

    Returns
    -------
    dict
        JSON-ready: ``grids``, ``steps_per_epoch``, ``peak_epoch`` (schedule -> epoch),
        ``surfaces`` (schedule -> 2-D filter-normalised surface around the first seed's final
        model), ``equal_loss`` (:func:`equal_loss`), ``runs`` (schedule -> one record per
        seed: ``seed``, ``diverged``, ``test_acc``, ``final_test_acc``, ``train_loss``,
        ``grad_norm``, ``sharpness`` rows, ``final`` measures, ``cpu_time_s``),
        ``cpu_time_s`` (summed over the runs) and ``wall_time_s``.
    """
    started = time.perf_counter()
    dataset = load_data(config["dataset"], str(device), str(data_root))
    spe, schedules = run_schedules(config, dataset)
    total = config["epochs"] * spe
    tasks = [
        (config, name, seed, str(device), str(data_root))
        for name in config["schedules"]
        for seed in config["seeds"]
    ]
    done = iter(pmap(_flatness_task, tasks, jobs=jobs, progress=progress, desc="seong-peak"))
    runs = {name: [next(done) for _ in config["seeds"]] for name in config["schedules"]}
    surfaces = {name: runs[name][0].pop("surface") for name in runs}
    for records in runs.values():
        for record in records[1:]:
            record.pop("surface")
    return {
        "grids": _grids(config),
        "steps_per_epoch": spe,
        "peak_epoch": {n: peak_epoch(schedules[n], total, spe) for n in config["schedules"]},
        "surfaces": surfaces,
        "equal_loss": equal_loss(runs, config),
        "runs": runs,
        "cpu_time_s": sum(r["cpu_time_s"] for rs in runs.values() for r in rs),
        "wall_time_s": time.perf_counter() - started,
    }


_CLAIM = (
    "A nonmonotonic schedule that starts low, rises to a peak and falls again (Gaussian or "
    "Laplacian in time) drives SGD to flatter minima than step decay, and the flatter minima "
    "generalise better: the paper compares them on CIFAR-10 with small and large CNNs and "
    "ResNet-110 (validation errors)."
)
SEONG = Experiment(
    name="seong-peak",
    chapter="flat-minima",
    title="Step decay vs Gaussian and Laplacian peak schedules (Seong et al. 2018)",
    cite="seong2018flatter",
    claim=_CLAIM,
    run=run_flatness,
    work=train_work,
    base={
        **TRAINING,
        "seeds": list(range(16)),
        "sharpness_every": 2,
        "sharpness_examples": 512,
        "late_fraction": 1 / 3,
        "failed_factor": 10.0,
        "directions": 2,
        "random_radii": [-1.0, 1.0, 13],
        "path_max": 4.0,
        "path_points": 9,
        "fooling_radius": 1.0,
        "noise_max": 4.0,
        "probe_examples": 1000,
        "surface_points": 21,
    },
    scales={
        "classroom": {
            "seeds": [0, 1],
            "epochs": 3,
            "sharpness_every": 1,
            "sharpness_examples": 128,
            "directions": 1,
            "random_radii": [-1.0, 1.0, 5],
            "path_points": 3,
            "probe_examples": 200,
            "surface_points": 5,
        },
        "paper": PAPER,
        "smoke": lambda config: {
            "schedules": ["step", "gaussian"],
            "seeds": [0, 1],
            "epochs": smoke_epochs(config, least=2),
            "sharpness_every": 1,
            "sharpness_examples": 32,
            "directions": 1,
            "random_radii": [-1.0, 1.0, 3],
            "path_points": 3,
            "probe_examples": 50,
            "surface_points": 3,
        },
    },
)
