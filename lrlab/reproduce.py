"""The book's experiments in one registry, each at a CPU scale and at the paper's scale.

Every :class:`Experiment` has two configurations: ``"cpu"`` (MNIST-1D or the digits,
minutes on two cores) and ``"paper"`` (CIFAR-10/100 with the paper's network, schedule
and epochs, for a GPU). :func:`run` runs one and stores its result with provenance as
``<results folder>/<name>_<scale>.json`` (:mod:`lrlab.results`), where a chapter finds it
with :func:`load` or :func:`lrlab.results.load_or_run` (:func:`load_or_run` here passes
the right file stem and configs). ``lrlab reproduce --list`` prints :func:`describe`;
``lrlab reproduce NAME --scale cpu|paper [--engine ray]`` calls :func:`run`.

Three kinds of experiment:

- ``"sweep"``: a grid of training runs (:mod:`lrlab.sweep`; any engine); the result holds
  every run's record and the per-(schedule, rate) summary over seeds;
- ``"range_test"``: the LR range test over seeds (:func:`lrlab.lrfind.run_config`);
- ``"tracked"``: training runs with a ``fit`` callback from another module that measures
  something along the way (sharpness, network stability, snapshots); such an entry names
  the module it needs and says so clearly when this lrlab does not have it yet.

>>> "seong-peak" in names()
True
>>> get("sgdr").config("cpu")["grid"]["data"]
'mnist1d'
"""

from __future__ import annotations

import copy
import importlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "REGISTRY",
    "SCALES",
    "Experiment",
    "cost_note",
    "describe",
    "get",
    "load",
    "load_or_run",
    "names",
    "result_name",
    "run",
    "smoke_config",
    "stored",
]

SCALES = ("cpu", "paper")

#: Training examples per pass, to size an experiment's work without loading the data.
TRAIN_EXAMPLES = {"digits": 1347, "mnist1d": 4000, "cifar10": 50_000, "cifar100": 50_000}

# Smoke tests (smoke_config): few steps on small batches, one run per distinct setting.
_SMOKE_STEPS = 2
_SMOKE_BATCH = 2


@dataclass(frozen=True)
class Experiment:
    """One experiment of the book: what it claims, how to run it at each scale.

    Attributes
    ----------
    name : str
        Registry key, e.g. ``"seong-peak"``.
    title : str
        One line.
    cite : str
        Key of the paper in the book's ``references.bib``.
    claim : str
        The paper's claim (and its numbers, where we quote them) in a few sentences.
    kind : {"sweep", "range_test", "tracked"}
    configs : dict
        ``{"cpu": config, "paper": config}``, JSON-plain.
    needs : str, optional
        ``"module:attribute"`` of lrlab that a ``tracked`` entry requires.
    """

    name: str
    title: str
    cite: str
    claim: str
    kind: str
    configs: Mapping[str, Mapping[str, Any]] = field(repr=False)
    needs: str | None = None

    def config(self, scale: str) -> dict[str, Any]:
        """A copy of the configuration at ``scale`` (``"cpu"`` or ``"paper"``)."""
        _check_scale(scale)
        return copy.deepcopy(dict(self.configs[scale]))

    def runs(self, scale: str) -> int:
        """How many training runs (or range tests) the scale's configuration holds."""
        config = self.config(scale)
        if self.kind == "sweep":
            from lrlab import sweep

            return len(sweep.expand(config["grid"]))
        if self.kind == "range_test":
            return len(config["seeds"])
        return len(config["schedules"]) * len(config["lrs"]) * len(config["seeds"])

    def work(self, scale: str) -> int:
        """Training examples processed (passes × set size, summed over runs): with the
        images/s ``lrlab bench train`` measures, the run's cost in seconds.

        Examples
        --------
        >>> get("clr").work("paper") == 3 * (140 + 50) * 50_000
        True
        """
        config = self.config(scale)
        if self.kind == "sweep":
            from lrlab import sweep

            return sum(
                c["epochs"] * TRAIN_EXAMPLES[c["data"]] for c in sweep.expand(config["grid"])
            )
        if self.kind == "range_test":
            test = config["test"]
            return len(config["seeds"]) * test["num_iter"] * test["batch_size"]
        size = config.get("subset") or TRAIN_EXAMPLES[config["data"]]
        return self.runs(scale) * config["epochs"] * size


def _check_scale(scale: str) -> None:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")


# --- the registry -------------------------------------------------------------------------

_MNIST1D = {"data": "mnist1d", "model": "cnn1d", "batch_size": 128, "seed": [0, 1, 2]}
_CPU_RATES = [0.05, 0.2]


def _step(milestones, gamma=0.1, label="step"):
    return {
        "name": "multistep",
        "milestones": milestones,
        "gamma": gamma,
        "unit": "epoch",
        "label": label,
    }


_PEAKS = [
    {"name": "gaussian_peak", "label": "Gaussian peak"},
    {"name": "laplacian_peak", "label": "Laplacian peak"},
]

_SEONG = Experiment(
    name="seong-peak",
    title="Step decay vs Gaussian and Laplacian peak schedules (Seong et al. 2018)",
    cite="seong2018flatter",
    claim=(
        "A nonmonotonic schedule that starts low, rises to a peak and falls again (Gaussian "
        "or Laplacian in time) drives SGD to flatter minima than step decay, and the flatter "
        "minima test better: the paper compares them on CIFAR-10 with a small CNN and "
        "ResNet-110."
    ),
    kind="sweep",
    configs={
        "cpu": {
            "grid": {
                **_MNIST1D,
                "epochs": 20,
                "lr": _CPU_RATES,
                "schedule": [_step([10, 15]), *_PEAKS],
            }
        },
        # The budget of He et al. (2016)'s CIFAR-10 ResNets: 164 epochs of batch 128,
        # lr 0.1 divided by 10 at epochs 82 and 123, momentum 0.9, weight decay 1e-4.
        "paper": {
            "grid": {
                "data": "cifar10",
                "model": ["small_cnn", "resnet110"],
                "epochs": 164,
                "batch_size": 128,
                "weight_decay": 1e-4,
                "lr": 0.1,
                "seed": [0, 1, 2],
                "schedule": [_step([82, 123]), *_PEAKS],
            }
        },
    },
)

_SGDR = Experiment(
    name="sgdr",
    title="Warm restarts against step decay (Loshchilov & Hutter 2017)",
    cite="loshchilov2017sgdr",
    claim=(
        "Cosine annealing with warm restarts has better anytime performance than step "
        "decay and reaches as good or better final accuracy; with WRN-28-10 the paper "
        "reports 3.14% test error on CIFAR-10 and 16.21% on CIFAR-100 (its abstract)."
    ),
    kind="sweep",
    configs={
        "cpu": {
            "grid": {
                **_MNIST1D,
                "epochs": 15,  # = 1 + 2 + 4 + 8: four whole SGDR cycles
                "lr": _CPU_RATES,
                "schedule": [
                    _step([5, 9, 12], gamma=0.2, label="step (/5)"),
                    {"name": "cosine", "label": "cosine"},
                    {
                        "name": "sgdr",
                        "first_cycle": 1,
                        "cycle_mult": 2,
                        "unit": "epoch",
                        "label": "SGDR T0=1, Tmult=2",
                    },
                ],
            }
        },
        # WRN-28-10, batch 128, momentum 0.9, weight decay 5e-4. Baseline: lr 0.1 divided
        # by 5 at epochs 60, 120, 160 of 200; SGDR: lr 0.05, T0 = 10, Tmult = 2, 150 epochs.
        "paper": {
            "grid": [
                {
                    "data": ["cifar10", "cifar100"],
                    "model": "wrn28_10",
                    "batch_size": 128,
                    "epochs": 200,
                    "lr": 0.1,
                    "schedule": _step([60, 120, 160], gamma=0.2, label="step (/5)"),
                },
                {
                    "data": ["cifar10", "cifar100"],
                    "model": "wrn28_10",
                    "batch_size": 128,
                    "epochs": 150,
                    "lr": 0.05,
                    "schedule": {
                        "name": "sgdr",
                        "first_cycle": 10,
                        "cycle_mult": 2,
                        "unit": "epoch",
                        "label": "SGDR T0=10, Tmult=2",
                    },
                },
            ]
        },
    },
)

_CLR = Experiment(
    name="clr",
    title="Cyclical learning rates reach a fixed rate's accuracy in fewer steps (Smith 2017)",
    cite="smith2017cyclical",
    claim=(
        "Letting the rate cycle between two bounds reaches the accuracy of a tuned fixed "
        "rate in fewer iterations: on CIFAR-10 the paper's triangular2 policy reaches 81.4% "
        "in 25,000 iterations, which the fixed rate needs 70,000 iterations for."
    ),
    kind="sweep",
    configs={
        "cpu": {
            "grid": [
                {**_MNIST1D, "epochs": 15, "lr": _CPU_RATES, "schedule": "constant"},
                {
                    **_MNIST1D,
                    "epochs": 6,
                    "lr": _CPU_RATES,
                    "schedule": {
                        "name": "cyclic",
                        "base_lr_ratio": 0.1,
                        "step_size_up": 1,
                        "mode": "triangular2",
                        "unit": "epoch",
                        "label": "triangular2",
                    },
                },
            ]
        },
        # Batch 100 (500 iterations per epoch): fixed 0.001 for 70,000 iterations (140
        # epochs) against triangular2 between 0.001 and 0.006 with a stepsize of 2,000
        # iterations (4 epochs) for 25,000 iterations (50 epochs). small_cnn stands in for
        # Caffe's CIFAR-10 network.
        "paper": {
            "grid": [
                {
                    "data": "cifar10",
                    "model": "small_cnn",
                    "batch_size": 100,
                    "seed": [0, 1, 2],
                    "epochs": 140,
                    "lr": 0.001,
                    "schedule": "constant",
                },
                {
                    "data": "cifar10",
                    "model": "small_cnn",
                    "batch_size": 100,
                    "seed": [0, 1, 2],
                    "epochs": 50,
                    "lr": 0.006,
                    "schedule": {
                        "name": "cyclic",
                        "base_lr": 0.001,
                        "step_size_up": 4,
                        "mode": "triangular2",
                        "unit": "epoch",
                        "label": "triangular2",
                    },
                },
            ]
        },
    },
)

_RANGE_TEST = Experiment(
    name="range-test-resnet18",
    title="The LR range test and how far its suggestions move between seeds (Smith 2017)",
    cite="smith2017cyclical",
    claim=(
        "Training a few hundred steps while the rate grows exponentially shows where the "
        "loss starts to fall and where it blows up; rules read a good rate off that curve."
    ),
    kind="range_test",
    configs={
        "cpu": {
            "test": {
                "dataset": "mnist1d",
                "model": "cnn1d",
                "start_lr": 1e-5,
                "end_lr": 10.0,
                "num_iter": 100,
                "batch_size": 128,
            },
            "seeds": [0, 1, 2, 3, 4],
        },
        # One epoch of CIFAR-10 at batch 128 (391 steps) from 1e-5 to 10.
        "paper": {
            "test": {
                "dataset": "cifar10",
                "model": "resnet18",
                "start_lr": 1e-5,
                "end_lr": 10.0,
                "num_iter": 391,
                "batch_size": 128,
            },
            "seeds": [0, 1, 2],
        },
    },
)

_SNAPSHOTS = Experiment(
    name="snapshot-ensembles",
    title="Snapshot ensembles: M models from one cyclic run (Huang et al. 2017)",
    cite="huang2017snapshot",
    claim=(
        "Saving the model at the end of each cosine cycle and averaging the snapshots' "
        "softmax outputs beats the single model of the same budget; with DenseNets the "
        "paper reports 3.4% test error on CIFAR-10 and 17.4% on CIFAR-100 (its abstract)."
    ),
    kind="tracked",
    needs="lrlab.ensembles",
    configs={
        "cpu": {
            "data": "mnist1d",
            "model": "cnn1d",
            "epochs": 30,
            "batch_size": 128,
            "cycles": 5,
            "lrs": [0.2],
            "schedules": ["cyclic_cosine"],
            "seeds": [0, 1, 2],
        },
        # ResNet-110 (the paper's DenseNets are not in lrlab.models): 200 epochs in M = 5
        # cosine cycles restarting at 0.2.
        "paper": {
            "data": "cifar10",
            "model": "resnet110",
            "epochs": 200,
            "batch_size": 64,
            "cycles": 5,
            "lrs": [0.2],
            "schedules": ["cyclic_cosine"],
            "seeds": [0],
        },
    },
)

_STABILITY = Experiment(
    name="network-stability",
    title="Learning-rate decay and network stability (ResNet-18, CIFAR-10)",
    cite="lrdecay2020stability",
    claim=(
        "Decaying the rate makes successive SGD steps see nearly the same loss field, so "
        "activations and backward signals stop jumping between regimes; the source argues "
        "it with ResNet-18 on CIFAR-10 and gives no numbers."
    ),
    kind="tracked",
    needs="lrlab.stability:StabilityTracker",
    configs={
        "cpu": {
            "data": "mnist1d",
            "model": "cnn1d",
            "epochs": 15,
            "batch_size": 128,
            "lrs": [0.1],
            "schedules": ["constant", _step([8, 12]), "cosine"],
            "seeds": [0, 1, 2],
            "probe": 256,
            "every": 10,
        },
        "paper": {
            "data": "cifar10",
            "model": "resnet18",
            "epochs": 100,
            "batch_size": 128,
            "lrs": [0.1],
            "schedules": ["constant", _step([50, 75]), "cosine"],
            "seeds": [0],
            "probe": 256,
            "every": 50,
        },
    },
)

_EOS = Experiment(
    name="edge-of-stability",
    title="Full-batch gradient descent at the edge of stability (Cohen et al. 2021)",
    cite="cohen2021eos",
    claim=(
        "Under full-batch gradient descent at rate eta, the sharpness (top Hessian "
        "eigenvalue) rises until it reaches 2/eta and then hovers there while the loss "
        "keeps falling, non-monotonically; the paper shows it on a 5,000-image subset of "
        "CIFAR-10."
    ),
    kind="tracked",
    needs="lrlab.curvature:SharpnessTracker",
    configs={
        "cpu": {
            "data": "digits",
            "subset": 1000,
            "model": "mlp",
            "epochs": 400,  # full batch: one step per epoch
            "lrs": [0.05, 0.1],
            "schedules": ["constant"],
            "seeds": [0],
            "every": 10,
        },
        "paper": {
            "data": "cifar10",
            "subset": 5000,
            "model": "mlp",
            "epochs": 2000,
            "lrs": [0.01, 0.02, 0.04],
            "schedules": ["constant"],
            "seeds": [0],
            "every": 20,
        },
    },
)

#: Every experiment, by name.
REGISTRY: dict[str, Experiment] = {
    e.name: e for e in (_SEONG, _SNAPSHOTS, _SGDR, _CLR, _STABILITY, _EOS, _RANGE_TEST)
}


def names() -> list[str]:
    """The registered experiments' names, in the book's order."""
    return list(REGISTRY)


def get(name: str) -> Experiment:
    """The experiment called ``name``; a ValueError lists the known ones."""
    if name not in REGISTRY:
        raise ValueError(f"experiment must be one of {names()}, got {name!r}")
    return REGISTRY[name]


def describe() -> str:
    """A readable list of the experiments: claim, both scales' size, what each needs.

    Examples
    --------
    >>> print(describe().splitlines()[0])
    seong-peak: Step decay vs Gaussian and Laplacian peak schedules (Seong et al. 2018)
    """
    blocks = []
    for exp in REGISTRY.values():
        lines = [f"{exp.name}: {exp.title}", f"  claim: {exp.claim}"]
        for scale in SCALES:
            cfg = exp.config(scale)
            data = _data_names(exp, cfg)
            lines.append(
                f"  {scale}: {exp.runs(scale)} runs on {data}, "
                f"{exp.work(scale):,} training examples processed"
            )
        if exp.needs:
            lines.append(f"  needs {exp.needs}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _data_names(exp: Experiment, config: dict) -> str:
    if exp.kind == "sweep":
        from lrlab import sweep

        return "/".join(dict.fromkeys(c["data"] for c in sweep.expand(config["grid"])))
    if exp.kind == "range_test":
        return config["test"]["dataset"]
    return config["data"]


def cost_note(name: str, images_per_s: float | None = None) -> str:
    """How to run an experiment at the paper's scale and what it costs, in one sentence.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    images_per_s : float, optional
        Training throughput of the GPU (``lrlab bench train`` measures it); with it the
        sentence adds the GPU time, ``work / images_per_s``.

    Examples
    --------
    >>> print(cost_note("clr", images_per_s=50_000))  # doctest: +NORMALIZE_WHITESPACE
    `lrlab reproduce clr --scale paper`: 6 runs, 28,500,000 training images;
    at 50,000 images/s, 0.2 GPU-hours.
    """
    exp = get(name)
    text = (
        f"`lrlab reproduce {name} --scale paper`: {exp.runs('paper')} runs, "
        f"{exp.work('paper'):,} training images"
    )
    if images_per_s is not None:
        if not images_per_s > 0:
            raise ValueError(f"images_per_s must be > 0, got {images_per_s}")
        hours = exp.work("paper") / images_per_s / 3600
        text += f"; at {images_per_s:,.0f} images/s, {hours:.1f} GPU-hours"
    return text + "."


def result_name(name: str, scale: str) -> str:
    """The results file stem of an experiment at a scale: ``"<name>_<scale>"``."""
    get(name)
    _check_scale(scale)
    return f"{name}_{scale}"


# --- running ------------------------------------------------------------------------------


def smoke_config(name: str, scale: str) -> dict[str, Any]:
    """The scale's configuration cut down to a smoke test of its code path.

    One run per distinct (data, model, schedule), batches of 2, at most
    ``_SMOKE_STEPS`` steps each (:func:`run` with ``smoke=True`` applies the step limit
    and stores nothing). The data, download, checksum, model and schedule code is the
    real one.
    """
    exp = get(name)
    config = exp.config(scale)
    if exp.kind == "sweep":
        from lrlab import sweep

        seen: dict[tuple, dict] = {}
        for c in sweep.expand(config["grid"]):
            key = (c["data"], c["model"], sweep.schedule_label(c))
            seen.setdefault(key, {**c, "batch_size": _SMOKE_BATCH})
        return {"grid": list(seen.values())}
    if exp.kind == "range_test":
        test = {**config["test"], "num_iter": _SMOKE_STEPS, "batch_size": _SMOKE_BATCH}
        return {"test": test, "seeds": config["seeds"][:1]}
    return {**config, "seeds": config["seeds"][:1], "lrs": config["lrs"][:1], "epochs": 1}


def _run_sweep(config, *, engine, device, data_root, cache, progress, address, resources, smoke):
    from lrlab import sweep

    records = sweep.run(
        config["grid"],
        engine=engine,
        cache=cache,
        device=device,
        data_root=data_root,
        progress=progress,
        address=address,
        resources=resources,
        max_steps=_SMOKE_STEPS if smoke else None,
    )
    return {"records": records, "summary": sweep.summary(records)}


def _run_range_test(config, *, engine, device, data_root, smoke, **_):
    from lrlab import lrfind

    if engine != "local":
        raise ValueError(f"a range test runs in-process (engine 'local'), got engine={engine!r}")
    runs, suggestions = [], {}
    for seed in config["seeds"]:
        out = lrfind.run_config({**config["test"], "seed": seed}, device=device, root=data_root)
        runs.append(out)
        for method, lr in lrfind.RangeTestResult.from_dict(out).suggestions().items():
            suggestions.setdefault(method, []).append(lr)
    return {"runs": runs, "suggestions": suggestions}


def _needed(exp: Experiment):
    """The module (or class) a tracked experiment needs, or a clear error."""
    module_name, _, attribute = exp.needs.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        module = None
    found = module if not attribute else getattr(module, attribute, None)
    if found is None:
        raise ModuleNotFoundError(
            f"experiment {exp.name!r} needs {exp.needs}, which this version of lrlab does "
            f"not have yet (it comes with the chapter that builds it); update lrlab"
        )
    return found


def _run_tracked(exp: Experiment, config, *, engine, device, data_root, smoke, **_):
    """Training runs with a measuring callback from the module the experiment needs."""
    needed = _needed(exp)
    if engine != "local":
        raise ValueError(f"{exp.name} runs in-process (engine 'local'), got engine={engine!r}")
    if exp.name == "snapshot-ensembles":
        raise NotImplementedError(
            "snapshot-ensembles: lrlab.ensembles is present; its snapshot callback and "
            "ensemble evaluation are wired into lrlab.reproduce when the two land together"
        )
    import torch

    import lrlab
    from lrlab import data as data_mod
    from lrlab import models, sweep, train

    device = torch.device(device) if device is not None else lrlab.device()
    full = data_mod.load(config["data"], root=data_root, device=device)
    dataset = full
    if config.get("subset"):
        # A fixed subset without augmentation, as full-batch gradient descent wants.
        x, y = full.raw("train")
        n = config["subset"]
        dataset = data_mod.Dataset(
            f"{full.name}[:{n}]",
            (x[:n], y[:n]),
            full.raw("test"),
            full.classes,
            scale=full.scale,
            augment_crop_flip=False,
            device=device,
        )
    batch_size = config.get("batch_size") or dataset.size("train")
    if smoke:
        batch_size = min(batch_size, _SMOKE_BATCH)
    inputs, targets = dataset.tensors("train" if config.get("subset") else "test")
    probe = config.get("probe") or len(targets)
    steps_per_epoch = dataset.num_batches("train", batch_size)
    histories = []
    for spec in config["schedules"]:
        for lr in config["lrs"]:
            for seed in config["seeds"]:
                schedule = sweep.make_schedule(spec, lr, steps_per_epoch, config["epochs"])
                torch.manual_seed(seed)
                model = models.build(config["model"], dataset.num_classes, dataset.input_shape)
                tracker = needed(inputs[:probe], targets[:probe], every=config["every"])
                callbacks = [tracker] + ([sweep._StopAfter(_SMOKE_STEPS)] if smoke else [])
                history = train.fit(
                    model,
                    dataset,
                    schedule,
                    config["epochs"],
                    batch_size=batch_size,
                    momentum=0.0 if config.get("subset") else 0.9,
                    weight_decay=0.0 if config.get("subset") else 5e-4,
                    seed=seed,
                    progress=False,
                    callbacks=callbacks,
                )
                label = spec if isinstance(spec, str) else spec.get("label", spec["name"])
                histories.append(
                    {"schedule": label, "lr": lr, "seed": seed, "history": history.to_dict()}
                )
    return {"runs": histories}


def _runner(exp: Experiment) -> Callable[..., dict]:
    if exp.kind == "sweep":
        return _run_sweep
    if exp.kind == "range_test":
        return _run_range_test
    return lambda config, **options: _run_tracked(exp, config, **options)


def _devices(result: dict, fallback: str) -> str:
    """The devices the runs of a result ran on (each sweep record names its own)."""
    found = {
        r["result"]["provenance"]["device"]
        for r in result.get("records", [])
        if r["result"].get("provenance")
    }
    return ", ".join(sorted(found)) if found else fallback


def run(
    name: str,
    scale: str = "cpu",
    *,
    engine: str = "local",
    device=None,
    data_root: str | os.PathLike = "data/cache",
    cache: str | os.PathLike | None = "data/cache/sweeps",
    root: str | os.PathLike | None = None,
    progress: bool = True,
    address: str | None = None,
    resources: Mapping[str, float] | None = None,
    command: str | None = None,
    smoke: bool = False,
) -> dict[str, Any]:
    """Run an experiment at a scale and store its result with provenance.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    scale : {"cpu", "paper"}
    engine : {"local", "ray"}
        For sweep experiments (see :func:`lrlab.sweep.run`); the others run in-process.
    device, data_root, cache, progress, address, resources
        As in :func:`lrlab.sweep.run`.
    root : path, optional
        Results folder (:func:`lrlab.results.results_root` by default).
    command : str, optional
        Recorded in the provenance (the ``lrlab reproduce`` command line).
    smoke : bool
        Run :func:`smoke_config` for a few steps instead, and store nothing: a test that
        the code path works end to end (a smoke run's numbers are no result).

    Returns
    -------
    dict
        The stored record (:func:`lrlab.results.load`); with ``smoke``, the unstored
        ``{"name", "config", "result", "smoke": True}``.
    """
    import lrlab
    from lrlab import results

    exp = get(name)
    _check_scale(scale)
    config = smoke_config(name, scale) if smoke else exp.config(scale)
    start = time.perf_counter()
    result = _runner(exp)(
        config,
        engine=engine,
        device=device,
        data_root=data_root,
        cache=cache,
        progress=progress,
        address=address,
        resources=resources,
        smoke=smoke,
    )
    wall = time.perf_counter() - start
    if smoke:
        return {"name": name, "config": config, "result": result, "smoke": True}
    local = lrlab.device_name(device if device is not None else lrlab.device())
    path = results.save(
        result_name(name, scale),
        result,
        config,
        command=command,
        device=_devices(result, local),
        wall_time_s=wall,
        root=root,
    )
    print(f"wrote {path} ({wall:.0f} s)")
    return results.load(result_name(name, scale), root=root)


def load(name: str, scale: str = "cpu", *, root=None) -> dict[str, Any]:
    """The stored result of an experiment at a scale (see :func:`lrlab.results.load`)."""
    from lrlab import results

    return results.load(result_name(name, scale), root=root)


def stored(name: str, scale: str, *, root=None) -> dict[str, Any] | None:
    """The stored result if one exists for exactly the registry's configuration, else None.

    Examples
    --------
    >>> import tempfile
    >>> stored("sgdr", "paper", root=tempfile.mkdtemp()) is None
    True
    """
    from lrlab import results

    try:
        record = load(name, scale, root=root)
    except FileNotFoundError:
        return None
    return record if record["config"] == results._plain(get(name).config(scale)) else None


def load_or_run(name: str, scale: str = "cpu", *, root=None, **options) -> dict[str, Any]:
    """:func:`lrlab.results.load_or_run` for a registry entry: the stored result of
    ``scale`` if there is one, else a run of the CPU configuration (not stored)."""
    from lrlab import results

    exp = get(name)
    runner = _runner(exp)
    defaults = {
        "engine": "local",
        "device": None,
        "data_root": "data/cache",
        "cache": None,
        "progress": False,
        "address": None,
        "resources": None,
        "smoke": False,
        **options,
    }
    return results.load_or_run(
        result_name(name, scale),
        exp.config(scale),
        lambda config: runner(config, **defaults),
        exp.config("cpu"),
        root=root,
    )
