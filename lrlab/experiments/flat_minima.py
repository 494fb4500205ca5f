"""The experiments of the chapter "Flat minima and peak schedules": Seong et al.'s (2018)
comparison at CPU scale, peak schedules against the usual ones, and how flat each final model
is.

- ``seong-peak`` (:func:`run_flatness`): one model per schedule and seed on MNIST-1D, each
  final model measured with :mod:`lrlab.landscape` and :mod:`lrlab.curvature`;
- ``flat-minima-ensembles`` (:func:`run_ensembles`): Seong's Table 1, ensembles of k
  independently trained models per schedule.

:func:`seong_schedules` builds the schedules with Seong's rules.

**Equal training loss.** Seong's Conjecture 1 compares minima "given the same cost value",
but schedules end at different training losses, and sharpness depends on the loss: after
the peak the rate decays and sharpness grows back. So :func:`run_flatness` also records,
every few epochs, the training loss and the top Hessian eigenvalue of every run (sharpness
against loss, comparable at any loss level), and measures every run again at the first epoch
whose training loss is at most the highest final loss of all runs (``"matched"``).

>>> SEONG.config("classroom")["schedules"]
['step', 'gaussian']
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np
import torch

from lrlab.experiments.experiment import TRAIN_EXAMPLES, Experiment

__all__ = [
    "ENSEMBLES",
    "EXPERIMENTS",
    "SCHEDULES",
    "SEONG",
    "run_ensembles",
    "run_flatness",
    "seong_schedules",
]

#: The schedules compared, in the order of the chapter's tables.
SCHEDULES: tuple[str, ...] = ("constant", "step", "cosine", "gaussian", "laplacian")


def seong_schedules(base_lr: float, total_steps: int, peak_factor: float = 3.0) -> dict:
    """The five schedules of the comparison, with Seong et al.'s (2018) rules for the peaks.

    - ``constant``: ``base_lr`` throughout;
    - ``step``: ``base_lr``, divided by 10 at 50 % and again at 75 % of the run;
    - ``cosine``: from ``base_lr`` to 0 (Loshchilov & Hutter 2017);
    - ``gaussian``, ``laplacian``: peak :math:`\\gamma_{max}` = ``peak_factor`` × ``base_lr``
      (Seong: about three times the baseline's rate), end :math:`\\gamma_{min} =
      \\gamma_{max}/10^4`, and a ``t_offset`` chosen so that the schedule starts at the
      baseline's rate (``start_lr=base_lr``).

    Examples
    --------
    >>> s = seong_schedules(0.1, 1000)
    >>> round(float(max(s["gaussian"](np.arange(1000)))), 4), round(float(s["gaussian"](0)), 6)
    (0.3, 0.1)
    >>> round(float(s["step"](600)), 12), round(float(s["step"](800)), 12)
    (0.01, 0.001)
    """
    from lrlab import schedules

    if not (math.isfinite(peak_factor) and peak_factor > 1):
        raise ValueError(f"peak_factor must be a finite number > 1, got {peak_factor!r}")
    peak = peak_factor * base_lr
    return {
        "constant": schedules.constant(base_lr),
        "step": schedules.multistep(base_lr, [total_steps // 2, 3 * total_steps // 4]),
        "cosine": schedules.cosine(base_lr, total_steps),
        "gaussian": schedules.gaussian_peak(peak, total_steps, start_lr=base_lr),
        "laplacian": schedules.laplacian_peak(peak, total_steps, start_lr=base_lr),
    }


class _Snapshots:
    """A ``fit`` callback: at each epoch end, the weights and the full training loss."""

    def __init__(self, loss_fn):
        self.loss_fn = loss_fn
        self.weights: list[torch.Tensor] = []
        self.train_loss: list[float] = []

    def wants(self, step: int) -> bool:
        return False  # nothing to do per step; everything happens at epoch ends

    def __call__(self, model, step, history) -> None:
        return None

    def on_epoch_end(self, model, epoch, history) -> None:
        from lrlab import landscape

        self.weights.append(landscape.parameters_vector(model))
        self.train_loss.append(_loss(model, self.loss_fn))


def _loss(model, loss_fn) -> float:
    """The loss in eval mode (as every measure of lrlab.landscape), the mode restored."""
    from lrlab import models

    with models.preserved(model, weights=False), torch.no_grad():
        model.eval()
        return float(loss_fn(model))


def _sharpness(model, weights: torch.Tensor, probe) -> float:
    """λ_max at ``weights`` on the probe batch, in eval mode; the model left as it was."""
    from lrlab import curvature

    x, y = probe
    return curvature.sharpness(model, x, y, mode="eval", weights=weights, iters=30, tol=1e-3)


def _measure(model, weights, peak_weights, losses, probes, grids, config) -> dict[str, Any]:
    """Every flatness measure of one set of weights."""
    from torch.nn.utils import vector_to_parameters

    from lrlab import landscape

    with torch.no_grad():
        vector_to_parameters(weights.clone(), model.parameters())
    train_fn, sharp_probe = losses
    x, y, pool, x_test, y_test = probes
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
    path = (  # None where the weights are those at the peak (no path to walk)
        None
        if torch.equal(weights, peak_weights)
        else landscape.linear_path(
            model, weights, peak_weights, train_fn, grids["path_alphas"], normalize=True
        ).tolist()
    )
    with torch.no_grad():
        test_error = float((model.eval()(x_test).argmax(1) != y_test).float().mean())
    return {
        "train_loss": _loss(model, train_fn),
        "test_error": test_error,
        "weight_norm": float(weights.norm()),
        "lambda_max": _sharpness(model, weights, sharp_probe),
        "random": np.mean(random, axis=0).tolist(),
        "path": path,
        "fooling": landscape.loss_along(model, fooling, train_fn, grids["fooling_radii"]).tolist(),
        "noise": landscape.input_noise_loss(model, x, y, grids["noise_alphas"]).tolist(),
        "toward": landscape.input_path_loss(model, x, y, pool, grids["toward_alphas"]).tolist(),
    }


def _train(config, dataset, schedule, seed: int, callbacks=()):
    """One run of ``config``'s model and optimiser under ``schedule``, from ``seed``."""
    from lrlab import models, train

    model = models.build(config["model"], dataset.num_classes, dataset.input_shape, seed=seed)
    history = train.fit(
        model,
        dataset,
        schedule,
        config["epochs"],
        batch_size=config["batch_size"],
        momentum=config["momentum"],
        weight_decay=config["weight_decay"],
        seed=seed,
        progress=False,
        callbacks=list(callbacks),
    )
    return model, history


def run_ensembles(
    config: dict[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict[str, Any]:
    """Seong et al.'s Table 1 at our scale: ensembles of k = 1..M independently trained models.

    For each schedule, one model per seed of ``config`` (the training set-up of
    :func:`run_flatness`) is trained, and the ensembles of the first k of them (averaged
    softmax, see :func:`lrlab.ensembles.evaluate`) are scored on the test set.

    Parameters
    ----------
    config : dict
        Keys as in :data:`ENSEMBLE_CONFIG`.
    device, data_root, progress, jobs
        See :func:`lrlab.experiments.run`.

    Returns
    -------
    dict
        ``{"scores": {schedule: EnsembleScores.to_dict()}, "wall_time_s": ...}``: test
        accuracy and loss of the ensemble of the first k members and of each member alone.
    """
    from lrlab import data, ensembles

    started = time.perf_counter()
    dataset = data.load(config["dataset"], root=data_root, device=device)
    total = config["epochs"] * dataset.num_batches("train", config["batch_size"])
    all_schedules = seong_schedules(config["base_lr"], total, config["peak_factor"])
    scores = {}
    for name in config["schedules"]:
        members = [
            _train(config, dataset, all_schedules[name], seed)[0] for seed in config["seeds"]
        ]
        scores[name] = ensembles.evaluate(members, dataset).to_dict()
    return {"scores": scores, "wall_time_s": time.perf_counter() - started}


def run_flatness(
    config: dict[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict[str, Any]:
    """Train every schedule × seed of ``config`` and measure each model's flatness.

    Parameters
    ----------
    config : dict
        Keys as in :data:`CONFIG`: the data set and model, schedules and seeds, the
        training budget and the optimiser (SGD with momentum and weight decay), how often and
        on how many examples the top Hessian eigenvalue is tracked, and the grids of the
        flatness measures (``random_radii`` as ``[start, stop, points]`` in filter-normalised
        units; ``path_max`` and ``fooling_radius`` Euclidean distances in weight space;
        ``noise_max`` the input noise norm; ``probe_examples`` training examples for the
        input perturbations).
    device : torch.device or str
        Where the data and the models live: the CPU for the chapter's stored runs, a GPU
        for larger models and data sets.
    data_root : path
        Data folder (MNIST-1D's cache, CIFAR's archives).

    Returns
    -------
    dict
        JSON-ready: ``grids`` (the x values of every curve), ``peak_epoch`` (the epoch of
        the peak schedules' highest rate, whose weights the linear path heads to),
        ``matched_loss`` (the level of the equal-loss comparison), ``surfaces`` (a 2-D
        filter-normalised surface of seed 0's final model per schedule) and ``runs``:
        for each schedule a list over seeds of ``test_acc``, ``train_loss`` (full set, eval
        mode, per epoch), ``grad_norm`` (mean per epoch, Seong's Fig. 5), ``sharpness``
        (``[epoch, train loss, λ_max]`` rows), ``final`` and ``matched`` measures.
    """
    from lrlab import data, landscape

    started = time.perf_counter()
    dataset = data.load(config["dataset"], root=data_root, device=device)
    spe = dataset.num_batches("train", config["batch_size"])
    total = config["epochs"] * spe
    all_schedules = seong_schedules(config["base_lr"], total, config["peak_factor"])
    peak_step = int(np.argmax(all_schedules["gaussian"](np.arange(total))))
    peak_epoch = peak_step // spe  # 0-based epoch whose end is the first snapshot past the peak
    x_train, y_train = dataset.tensors("train")
    x_test, y_test = dataset.tensors("test")
    train_fn = landscape.batch_loss(x_train, y_train)
    n_sharp = config["sharpness_examples"]
    sharp_probe = (x_train[:n_sharp], y_train[:n_sharp])
    n_probe = config["probe_examples"]
    probes = (x_train[:n_probe], y_train[:n_probe], x_test, x_test, y_test)
    lo, hi, count = config["random_radii"]
    grids = {
        "random_radii": np.linspace(lo, hi, int(count)).tolist(),
        "path_alphas": np.linspace(0.0, config["path_max"], config["path_points"]).tolist(),
        "fooling_radii": np.linspace(0.0, config["fooling_radius"], 6).tolist(),
        "noise_alphas": np.linspace(0.0, config["noise_max"], 11).tolist(),
        "toward_alphas": np.linspace(0.0, 1.0, 11).tolist(),
        "surface_xs": np.linspace(-1.0, 1.0, config["surface_points"]).tolist(),
    }
    runs: dict[str, list[dict[str, Any]]] = {}
    snapshots: dict[str, list[_Snapshots]] = {}
    model = None
    for name in config["schedules"]:
        runs[name], snapshots[name] = [], []
        for seed in config["seeds"]:
            recorder = _Snapshots(train_fn)
            model, history = _train(config, dataset, all_schedules[name], seed, [recorder])
            every = config["sharpness_every"]
            sharpness = [
                [e + 1, recorder.train_loss[e], _sharpness(model, recorder.weights[e], sharp_probe)]
                for e in range(every - 1, config["epochs"], every)
            ]
            grad_norm = np.asarray(history.grad_norm).reshape(config["epochs"], spe).mean(axis=1)
            runs[name].append(
                {
                    "seed": seed,
                    "test_acc": history.test_acc,
                    "train_loss": recorder.train_loss,
                    "grad_norm": grad_norm.tolist(),
                    "sharpness": sharpness,
                    "final": _measure(
                        model,
                        recorder.weights[-1],
                        recorder.weights[peak_epoch],
                        (train_fn, sharp_probe),
                        probes,
                        grids,
                        config,
                    ),
                }
            )
            snapshots[name].append(recorder)
    # The equal-loss comparison: the highest final loss is a level every run has reached.
    matched = max(r["final"]["train_loss"] for rs in runs.values() for r in rs)
    surfaces = {}
    for name in config["schedules"]:
        for record, recorder in zip(runs[name], snapshots[name], strict=True):
            epoch = next(e for e, v in enumerate(recorder.train_loss) if v <= matched * (1 + 1e-9))
            record["matched"] = {
                "epoch": epoch + 1,
                **_measure(
                    model,
                    recorder.weights[epoch],
                    recorder.weights[peak_epoch],
                    (train_fn, sharp_probe),
                    probes,
                    grids,
                    config,
                ),
            }
        first = snapshots[name][0].weights[-1]
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(first.clone(), model.parameters())
        d1, d2 = (landscape.random_direction(model, "filter", seed=s) for s in (101, 102))
        xs = grids["surface_xs"]
        surfaces[name] = landscape.surface(model, d1, d2, train_fn, xs, xs).tolist()
    return {
        "grids": grids,
        "steps_per_epoch": spe,
        "peak_epoch": peak_epoch + 1,
        "matched_loss": matched,
        "surfaces": surfaces,
        "runs": runs,
        "wall_time_s": time.perf_counter() - started,
    }


def _train_work(config) -> int:
    """Training examples: every schedule and seed trains ``epochs`` passes."""
    runs = len(config["schedules"]) * len(config["seeds"])
    return runs * config["epochs"] * TRAIN_EXAMPLES[config["dataset"]]


_CLAIM = (
    "A nonmonotonic schedule that starts low, rises to a peak and falls again (Gaussian or "
    "Laplacian in time) drives SGD to flatter minima than step decay, and the flatter minima "
    "test better: the paper compares them on CIFAR-10 with a small CNN and ResNet-110 "
    "(validation errors)."
)
_TRAINING = {
    "dataset": "mnist1d",
    "model": "cnn1d",
    "schedules": list(SCHEDULES),
    "epochs": 40,
    "batch_size": 128,
    "base_lr": 0.1,
    "peak_factor": 3.0,
    "momentum": 0.9,
    "weight_decay": 5e-4,
}
# He et al. (2016)'s CIFAR-10 budget: 164 epochs of batch 128, weight decay 1e-4.
_PAPER = {
    "dataset": "cifar10",
    "model": "small_cnn",
    "epochs": 164,
    "weight_decay": 1e-4,
}

SEONG = Experiment(
    name="seong-peak",
    chapter="flat-minima",
    title="Step decay vs Gaussian and Laplacian peak schedules (Seong et al. 2018)",
    cite="seong2018flatter",
    claim=_CLAIM,
    run=run_flatness,
    work=_train_work,
    base={
        **_TRAINING,
        "seeds": [0, 1, 2],
        "sharpness_every": 4,
        "sharpness_examples": 512,
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
            "schedules": ["step", "gaussian"],
            "seeds": [0],
            "epochs": 2,
            "sharpness_every": 1,
            "sharpness_examples": 128,
            "directions": 1,
            "random_radii": [-1.0, 1.0, 5],
            "path_points": 3,
            "probe_examples": 200,
            "surface_points": 5,
        },
        "paper": _PAPER,
        "smoke": {
            "schedules": ["step", "gaussian"],
            "seeds": [0],
            "epochs": 1,
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

ENSEMBLES = Experiment(
    name="flat-minima-ensembles",
    chapter="flat-minima",
    title="Ensembles of step-decay against peak-schedule models (Seong et al. 2018, Table 1)",
    cite="seong2018flatter",
    claim=(
        "Ensembles of models trained with the Gaussian peak schedule test better than "
        "ensembles of step-decay models of the same size (Seong et al.'s Table 1, CIFAR-10)."
    ),
    run=run_ensembles,
    work=_train_work,
    base={**_TRAINING, "seeds": [0, 1, 2, 3, 4]},
    scales={
        "classroom": {"schedules": ["step", "gaussian"], "seeds": [0, 1], "epochs": 2},
        "paper": _PAPER,
        "smoke": {"schedules": ["step", "gaussian"], "seeds": [0, 1], "epochs": 1},
    },
)

#: The experiments of this chapter.
EXPERIMENTS = (SEONG, ENSEMBLES)
