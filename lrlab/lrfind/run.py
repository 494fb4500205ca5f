"""Running a range test: the sweep of optimizer steps with the model's state saved and put
back, the same test under several seeds, and a test described by a plain config.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from lrlab import _check, schedule_free
from lrlab.lrfind.result import RangeTestResult, SeedSweep
from lrlab.lrfind.sweep import lr_sweep
from lrlab.options import RunOptions
from lrlab.step import choose_loss, epoch_seed, prepare

__all__ = [
    "CONFIG_KEYS",
    "OPTIONS",
    "range_test",
    "range_test_seeds",
    "restore_state",
    "run_config",
    "save_state",
]


def save_state(model: nn.Module, optimizer: torch.optim.Optimizer | None) -> dict:
    """Copies of everything a training step changes: weights, buffers, gradients, modes,
    and the optimizer's state (momentum buffers, step counts, hyperparameters).

    :func:`restore_state` puts them back.

    Examples
    --------
    >>> net = nn.Linear(2, 1)
    >>> saved = save_state(net, None)
    >>> _ = net.weight.data.add_(1.0)
    >>> restore_state(net, None, saved)
    >>> torch.equal(net.weight, saved["params"]["weight"])
    True
    """

    return {
        "params": {n: p.detach().clone() for n, p in model.named_parameters()},
        "grads": {
            n: None if p.grad is None else p.grad.detach().clone()
            for n, p in model.named_parameters()
        },
        "buffers": {n: b.detach().clone() for n, b in model.named_buffers()},
        "modes": {n: m.training for n, m in model.named_modules()},
        "optimizer": None if optimizer is None else copy.deepcopy(optimizer.state_dict()),
    }


def restore_state(model: nn.Module, optimizer, saved: dict) -> None:
    """Put back what :func:`save_state` copied: values, dtypes, devices and memory layout.

    Parameters keep their identity (an optimizer and the caller still hold them); only
    their data are replaced by the saved copies, which ``clone`` made with the same strides.
    """
    for name, param in model.named_parameters():
        param.data = saved["params"][name]
        param.grad = saved["grads"][name]
    modules = dict(model.named_modules())
    for name, buffer in saved["buffers"].items():
        owner, _, attr = name.rpartition(".")
        setattr(modules[owner], attr, buffer)
    for name, training in saved["modes"].items():
        modules[name].training = training
    if optimizer is not None:
        optimizer.load_state_dict(saved["optimizer"])


def _train_batches(data, batch_size: int, seed: int):
    """Endless training batches, epoch after epoch, each epoch shuffled by ``(seed, epoch)``.

    A short last batch is skipped (unless the set is smaller than one batch), so every
    step's loss is an average over the same number of examples.
    """
    skip_short = data.size("train") >= batch_size
    epoch = 0
    while True:
        for x, y in data.batches("train", batch_size, seed=epoch_seed(seed, epoch)):
            if not (skip_short and len(y) < batch_size):
                yield x, y
        epoch += 1


#: The range test's default run options: :func:`lrlab.train.fit`'s, without weight decay.
OPTIONS = RunOptions(weight_decay=0.0)


def range_test(
    model: nn.Module,
    data,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    mode: str = "exp",
    smooth: float = 0.98,
    diverge: float = 4.0,
    options: RunOptions | None = None,
    *,
    optimizer: str | torch.optim.Optimizer | None = None,
    progress: bool = False,
    callback: Callable[[nn.Module, int], None] | None = None,
    **overrides,
) -> RangeTestResult:
    """Smith's learning-rate range test: one optimizer step per rate of a growing sweep.

    Step ``i`` trains on a fresh batch with rate ``lr_sweep(start_lr, end_lr, num_iter,
    mode)[i]`` (Smith, 2017, *Cyclical Learning Rates for Training Neural Networks*; the
    exponential sweep and the smoothing as in fastai, Howard & Gugger 2020). After each step
    the loss is smoothed (:func:`smooth_losses`) and the test stops early once the smoothed
    loss exceeds ``diverge`` times the lowest smoothed loss so far, or once a loss is not
    finite. The run is set up by :func:`lrlab.step.prepare`, as :func:`lrlab.train.fit` sets
    up its own, so the test takes fit's step with the same precision and memory-layout choices.

    Afterwards the model and the optimizer are exactly as before: every parameter (value,
    dtype, device, memory layout), gradient, buffer (BatchNorm statistics) and module's
    train/eval mode, the optimizer's state and hyperparameters, and PyTorch's global
    random generators. This holds even when the test is interrupted.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier (or regressor) for ``data``; moved to ``data.device`` for the test.
    data : lrlab.data.Dataset
        Batches come from its training split, shuffled (and augmented) per epoch by ``seed``.
    start_lr, end_lr : float
        First and last rate of the sweep, ``0 < start_lr < end_lr``.
    num_iter : int
        Steps (rates) in the sweep, >= 2.
    mode : {"exp", "linear"}
        Sweep spacing (see :func:`lr_sweep`).
    smooth : float
        β of the bias-corrected moving average, in [0, 1).
    diverge : float
        Stop once the smoothed loss exceeds ``diverge`` × its best so far; > 1
        (``math.inf``: stop only on a non-finite loss).
    options : lrlab.options.RunOptions, optional
        Batch size (examples per step), optimizer, momentum (Adam's β1), weight decay,
        precision, memory layout, loss and seed (of the batch order, augmentation and
        in-model randomness); :data:`OPTIONS` by default: those of
        :func:`lrlab.train.fit` without weight decay.
    optimizer : str or torch.optim.Optimizer, optional
        A name overrides ``options.optimizer`` (a fresh optimizer is built with
        :func:`lrlab.step.make_optimizer`). An optimizer instance over the model's
        parameters is used as it is (its momentum buffers included) and restored
        afterwards; the model must then already be on ``data.device``. A schedule-free
        optimizer (:mod:`lrlab.schedule_free`) is put in train mode: the losses are those
        at its gradient point y, each step at the sweep's rate (no warm-up of its own),
        while its average x moves ever more slowly; the test then measures the rate at
        which its underlying SGD or AdamW steps blow up.
    progress : bool
        Show a tqdm progress bar.
    callback : callable, optional
        Called as ``callback(model, step)`` after each optimizer step but the one that
        stops the test (before the state is restored), e.g. to measure the model along the
        sweep; with a callback the losses are read back after every step.
    **overrides
        Options of :class:`~lrlab.options.RunOptions` that replace those of ``options``
        (``range_test(model, data, batch_size=64, momentum=0.0)``).
        The loss (``options.loss``) is by default the one :func:`lrlab.train.fit` picks
        for ``data`` (cross-entropy for class labels, the square loss for regression).

    Returns
    -------
    RangeTestResult

    Notes
    -----
    On a GPU the losses are read back every 8 steps, so that the GPU never waits for
    Python; a stop is then detected up to 7 steps late and those extra steps are dropped
    from the result (the model is restored anyway).

    Examples
    --------
    >>> from lrlab import data, models
    >>> digits = data.load("digits", device="cpu")
    >>> net = models.build("mlp", 10, digits.input_shape)
    >>> before = [p.detach().clone() for p in net.parameters()]
    >>> result = range_test(net, digits, start_lr=1e-4, num_iter=30)
    >>> float(result.lrs[0]), len(result.lrs) <= 30
    (0.0001, True)
    >>> all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    True
    """
    lrs = lr_sweep(start_lr, end_lr, num_iter, mode)
    smooth = _check.number("smooth", smooth, 0, 1, high_open=True)
    diverge = _check.number("diverge", diverge, low=1, low_open=True, finite=False)
    instance = optimizer if isinstance(optimizer, torch.optim.Optimizer) else None
    if optimizer is not None and instance is None:
        if not isinstance(optimizer, str):
            raise TypeError(
                f"optimizer must be a name or a torch.optim.Optimizer, got {optimizer!r}"
            )
        overrides["optimizer"] = optimizer
    options = RunOptions.resolve(options, overrides, default=OPTIONS)
    options = options.replace(
        loss=choose_loss(options.loss, getattr(data, "task", "classification"))
    )
    if options.warmup_steps:
        raise ValueError(
            f"warmup_steps must be 0 in a range test (the sweep sets every step's rate), "
            f"got {options.warmup_steps}"
        )
    loss = options.loss
    batch_size, seed = options.batch_size, options.seed
    named = instance is None
    device = data.device
    started = time.perf_counter()
    # prepare() checks the optimizer, precision and layout options before it touches the model.
    saved = save_state(model, instance)
    rng_devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=rng_devices):
            torch.manual_seed(seed)
            run = prepare(
                model, device, options, lr=float(lrs[0]), optimizer=instance, metrics=False
            )
            model.train()
            schedule_free.train_mode(run.optimizer)  # steps are taken at y
            batches = _train_batches(data, batch_size, seed)
            check_every = 8 if device.type == "cuda" and callback is None else 1
            after_step = None if callback is None else (lambda i: callback(model, i))
            losses, smoothed, reason = _sweep(
                run.step, batches, lrs, smooth, diverge, check_every, progress, after_step
            )
    finally:
        restore_state(model, instance, saved)
    taken = len(losses)
    return RangeTestResult(
        lrs=lrs[:taken],
        losses=np.array(losses),
        smoothed=np.array(smoothed),
        stopped_early=taken < num_iter,
        stop_reason=reason,
        num_iter=num_iter,
        mode=mode,
        start_lr=float(start_lr),
        end_lr=float(end_lr),
        smooth=float(smooth),
        diverge=float(diverge),
        config={
            "batch_size": batch_size,
            "optimizer": options.optimizer if named else type(instance).__name__,
            "momentum": options.momentum if named else _group_momentum(instance),
            "weight_decay": options.weight_decay if named else None,
            "seed": seed,
            "loss": loss,
            "precision": run.precision,
            "data": data.name,
            "model": type(model).__name__,
        },
        wall_time_s=time.perf_counter() - started,
    )


def _group_momentum(optimizer: torch.optim.Optimizer) -> float | None:
    group = optimizer.param_groups[0]
    if "momentum" in group:
        return float(group["momentum"])
    return float(group["betas"][0]) if "betas" in group else None


def _sweep(step, batches, lrs, smooth, diverge, check_every, progress, after_step):
    """Run the steps; return raw losses, smoothed losses and why the test stopped (or None)."""
    from tqdm.auto import tqdm

    losses: list[float] = []
    smoothed: list[float] = []
    average, best = 0.0, math.inf
    pending: list[torch.Tensor] = []
    with tqdm(total=len(lrs), disable=not progress, unit="step") as bar:
        for i, (x, y) in zip(range(len(lrs)), batches, strict=False):
            pending.append(step(x, y, float(lrs[i]))[0])
            if len(pending) < check_every and i < len(lrs) - 1:
                continue
            read = [pending[0].item()] if len(pending) == 1 else torch.stack(pending).tolist()
            for loss in read:  # one transfer from the device per chunk
                t = len(losses)
                average = smooth * average + (1 - smooth) * loss
                losses.append(loss)
                smoothed.append(average / (1 - smooth ** (t + 1)))
                if not math.isfinite(loss):
                    return losses, smoothed, "non-finite loss"
                best = min(best, smoothed[-1])
                if smoothed[-1] > diverge * best:
                    return losses, smoothed, "diverged"
                if after_step is not None:
                    after_step(t)
            bar.update(len(pending))
            pending = []
    return losses, smoothed, None


def range_test_seeds(model, data, seeds: int | Sequence[int] = 5, **options) -> SeedSweep:
    """Run :func:`range_test` once per seed, to see how much each suggestion moves.

    Parameters
    ----------
    model : torch.nn.Module or callable
        A module (the same initial weights for every seed: only the batch order,
        augmentation and dropout change) or ``build(seed) -> module`` (fresh weights per
        seed as well).
    data : lrlab.data.Dataset
    seeds : int or sequence of int
        ``n`` for seeds ``0 .. n-1``, or the seeds themselves (distinct, >= 0).
    **options
        Passed to :func:`range_test` (everything but ``seed``).

    Returns
    -------
    SeedSweep

    Examples
    --------
    >>> import torch
    >>> from lrlab import data, models
    >>> digits = data.load("digits", device="cpu")
    >>> build = lambda s: (torch.manual_seed(s), models.build("mlp", 10, (1, 8, 8)))[1]
    >>> sweep = range_test_seeds(build, digits, seeds=2, num_iter=30, start_lr=1e-4)
    >>> sweep.seeds, len(sweep.results)
    ([0, 1], 2)
    """
    if "seed" in options:
        raise TypeError("range_test_seeds takes seeds=..., not seed=")
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = _check.integer("seeds", seeds, minimum=1)
        seeds = list(range(seeds))
    seeds = [_check.integer("each seed", s, minimum=0) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a count >= 1 or distinct integers, got {seeds!r}")
    if not (isinstance(model, nn.Module) or callable(model)):
        raise TypeError(f"model must be a torch.nn.Module or build(seed), got {model!r}")
    results = []
    for s in seeds:
        net = model if isinstance(model, nn.Module) else model(s)
        results.append(range_test(net, data, seed=s, **options))
    return SeedSweep(seeds=seeds, results=results)


#: The keys of a range-test config (:func:`run_config`, ``lrlab lr-find --out``).
CONFIG_KEYS = (
    "dataset",
    "model",
    "model_options",
    "start_lr",
    "end_lr",
    "num_iter",
    "mode",
    "smooth",
    "diverge",
    *RunOptions.names(),
)


def run_config(config: Mapping, device=None, root="data/cache") -> dict:
    """Run the range test a plain config describes; return the result as a dict.

    The config names the data set (:func:`lrlab.data.load`) and model
    (:func:`lrlab.models.build` with the dict ``model_options``, weights seeded with
    ``seed``) and gives any of the other :data:`CONFIG_KEYS` (the rest keep
    :func:`range_test`'s defaults). This is the ``run``
    of :func:`lrlab.results.load_or_run`, and ``lrlab lr-find --out`` stores its output
    with the same keys, so a stored GPU run is found by the same config.

    Parameters
    ----------
    config : mapping
        ``dataset`` and ``model`` are required.
    device : torch.device or str, optional
        ``lrlab.device()`` by default.
    root : str or path
        Data folder for CIFAR.

    Returns
    -------
    dict
        :meth:`RangeTestResult.to_dict`; :meth:`RangeTestResult.from_dict` reads it back.

    Examples
    --------
    >>> out = run_config({"dataset": "digits", "model": "mlp", "num_iter": 20}, device="cpu")
    >>> len(out["lrs"]) <= 20
    True
    """
    from lrlab import data as data_mod
    from lrlab import models

    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping, got {type(config).__name__}")
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    missing = [k for k in ("dataset", "model") if k not in config]
    if unknown or missing:
        raise ValueError(
            f"config keys must be among {CONFIG_KEYS} and include dataset and model; "
            f"unknown {unknown}, missing {missing}"
        )
    options = {k: v for k, v in config.items() if k not in ("dataset", "model", "model_options")}
    dataset = data_mod.load(config["dataset"], root=root, device=device)
    torch.manual_seed(options.get("seed", 0))
    model = models.build(
        config["model"],
        dataset.num_classes,
        dataset.input_shape,
        **config.get("model_options", {}),
    )
    return range_test(model, dataset, **options).to_dict()
