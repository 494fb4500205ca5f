"""The training loop: a schedule sets the learning rate before every optimizer step.

:func:`fit` trains a classifier on an :class:`lrlab.data.Dataset` with SGD (or Adam),
records every step's learning rate, loss and gradient norm and every epoch's train/test
loss and accuracy in a :class:`~lrlab.history.History`, stops cleanly when the loss stops
being finite (or the test loss after an epoch does: divergence is a result, never an
exception), and can checkpoint every epoch and resume bit-for-bit (on the CPU). The run
is set up by :func:`lrlab.step.prepare`, the same set-up the range test and the benchmark
use, from the same :class:`~lrlab.options.RunOptions`; the step, the History and the speed
measurements live in :mod:`lrlab.step`, :mod:`lrlab.history` and :mod:`lrlab.speed`.

On a GPU it uses the fast path by default: data already on the device (see
:mod:`lrlab.data`), bf16 autocast (fp16 with a gradient scaler on GPUs without bf16, such
as the T4), channels-last memory layout for convolutional nets, and it reads the loss back
from the GPU only every few steps so that the GPU never waits for Python.

Callbacks
---------
A feature that needs the training loop (tracking sharpness, stability, snapshots) is a
callback, not a copy of the loop. The protocol, in full:

- A callback is a callable ``callback(model, step, history)``, called after optimizer step
  ``step`` (0-based, counted over all epochs) with ``history`` already holding that step
  (``history.lr[step]``, ``history.loss[step]``, ``history.grad_norm[step]``). Each
  parameter's ``.grad`` still holds that step's minibatch gradient (unscaled); the next
  step zeroes it. The model is in train mode.
- It records what it measures with ``history.record(name, step, value)`` (a series in
  ``history.extras``, saved with the History).
- It may raise :class:`StopTraining` to end the run after this step
  (``history.stopped_at_step`` says where).
- An optional method ``on_fit_start(model, optimizer, history)`` is called once before the
  first step (after a resume has loaded the History), handing over the optimizer fit
  trains with, for a callback that reads its state (Adam's preconditioner, say).
- An optional method ``on_epoch_end(model, epoch, history)`` is called after each epoch's
  record (test loss and accuracy included), before the checkpoint is written, whatever
  the callback's schedule below.
- When to call it: an integer attribute ``every`` (>= 1) asks for the steps with
  ``step % every == 0``; a method ``wants(step) -> bool`` asks for the steps where it
  returns True and takes precedence over ``every``; a callback with neither is called
  every step. :func:`is_due` is that rule. ``fit`` reads the losses back from the device
  (a GPU sync) only when some callback is due, or every 25 steps on a GPU (every step on
  the CPU, where reading is free), so a callback that runs every k steps costs no
  per-step sync. A callback should still return early by itself at steps it does not
  want, so that it is correct when called by other loops.
- It leaves the model's mode and parameters as it found them and removes any hook it adds.

Schedule-free optimizers (``optimizer="sgd_schedulefree"`` or ``"adamw_schedulefree"``,
:mod:`lrlab.schedule_free`) keep two points: the one gradients are taken at (y) and the
average that is evaluated (x). Steps and the callbacks called after them see y;
``fit`` moves the model to x (``optimizer.eval()``, BatchNorm statistics re-estimated
there) before each epoch's test evaluation, so ``on_epoch_end`` and the checkpoint see x,
and back to y (``optimizer.train()``) before the next step; the trained model is left at
x. The package changes ``.grad`` in its step (AdamW's holds the normalised gradient, plus
weight decay with either optimizer), so a callback reading ``.grad`` reads that.

>>> import torch, lrlab
>>> from lrlab import data, models, train
>>> digits = data.load("digits", device="cpu")
>>> _ = torch.manual_seed(0)
>>> net = models.build("mlp", 10, digits.input_shape)
>>> class WeightNorm:
...     every = 5
...     def __call__(self, model, step, history):
...         norm = sum(float(p.detach().norm() ** 2) for p in model.parameters()) ** 0.5
...         history.record("weight_norm", step, norm)
>>> history = train.fit(net, digits, 0.05, epochs=2, progress=False, callbacks=[WeightNorm()])
>>> len(history.lr) == 2 * digits.num_batches("train", 128)
True
>>> [step for step, _ in history.extras["weight_norm"]]
[0, 5, 10, 15, 20]
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from lrlab import _check, device_name, schedule_free, schedules
from lrlab._io import atomic_write
from lrlab.history import History
from lrlab.options import RunOptions
from lrlab.step import choose_loss, epoch_seed, evaluate, prepare

__all__ = ["Callback", "StopTraining", "fit", "is_due"]

# Options that may differ between a run and its resumption ("schedule" is its repr, which
# for a lambda names a memory address: the schedule is checked by its values instead).
_RESUMABLE_DIFFERENCES = {"epochs", "schedule"}
# Options added to the config after checkpoints were first written: their value then.
_CONFIG_DEFAULTS = {"loss": "cross_entropy", "warmup_steps": 0}
# On a GPU, read the losses back every this many steps (unless a callback is due sooner).
_GPU_SYNC_EVERY = 25


class StopTraining(Exception):  # noqa: N818 - a control signal, not an error
    """Raise from a callback to end :func:`fit` early; History marks the step."""


@runtime_checkable
class Callback(Protocol):
    """What :func:`fit` calls after optimizer steps (the full protocol is in the module
    docstring): ``callback(model, step, history)``, with the optional attribute ``every``
    and the optional methods ``wants(step)``, ``on_fit_start(model, optimizer, history)`` and
    ``on_epoch_end(model, epoch, history)``."""

    def __call__(self, model: nn.Module, step: int, history: History) -> None: ...


def is_due(callback: Callable, step: int) -> bool:
    """Whether :func:`fit` calls ``callback`` after step ``step``.

    ``callback.wants(step)`` if the callback has that method, else ``step % callback.every
    == 0`` if it has an ``every`` attribute, else True.

    Examples
    --------
    >>> class Every10:
    ...     every = 10
    ...     def __call__(self, model, step, history): ...
    >>> [t for t in range(35) if is_due(Every10(), t)]
    [0, 10, 20, 30]
    """
    wants = getattr(callback, "wants", None)
    if wants is not None:
        return bool(wants(step))
    every = getattr(callback, "every", None)
    return every is None or step % every == 0


def _check_callbacks(callbacks: Sequence[Callable]) -> list[Callable]:
    callbacks = list(callbacks)
    for callback in callbacks:
        if not callable(callback):
            raise TypeError("callbacks must be callables callback(model, step, history)")
        if getattr(callback, "wants", None) is not None and not callable(callback.wants):
            raise TypeError(f"a callback's wants must be a method wants(step), got {callback!r}")
        if getattr(callback, "every", None) is not None:
            _check.integer("a callback's every", callback.every, minimum=1)
    return callbacks


def _as_schedule(schedule) -> Callable[[int], float]:
    if isinstance(schedule, (bool, np.bool_)):
        raise TypeError(f"schedule must be callable or a number, got {schedule!r}")
    if isinstance(schedule, (int, float, np.integer, np.floating)):
        return schedules.constant(_check.number("schedule", schedule, low=0, low_open=True))
    if not callable(schedule):
        raise TypeError(f"schedule must be callable or a number, got {schedule!r}")
    return schedule


def _save_checkpoint(path: Path, model, optimizer, scaler, history: History, epoch: int) -> None:
    state = {
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "history": history.to_dict(),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write(path, buffer.getvalue())


def _resume(checkpoint, run, schedule, config: dict, epochs: int) -> tuple[History, int]:
    """Load ``checkpoint`` into the prepared run; return its History and the epochs done."""
    try:
        state = torch.load(checkpoint, map_location=run.device, weights_only=True)
        history = History.from_dict(state["history"])
        parts = (state["model"], state["optimizer"], state["scaler"], state["epoch"])
    except Exception as err:  # noqa: BLE001 - any failure to read means a damaged file
        raise ValueError(
            f"checkpoint {checkpoint} cannot be read ({type(err).__name__}: {err}); "
            "delete it to start afresh"
        ) from err
    model_state, optimizer_state, scaler_state, start_epoch = parts
    stored = {**_CONFIG_DEFAULTS, **history.config}
    differ = {
        k for k in set(config) | set(stored) if config.get(k) != stored.get(k)
    } - _RESUMABLE_DIFFERENCES
    done = len(history.lr)
    sample = np.unique(np.linspace(0, done - 1, min(done, 100)).astype(int))
    if any(schedules.rate_at(schedule, int(t)) != history.lr[t] for t in sample):
        differ.add("schedule")
    if differ:
        raise ValueError(
            f"checkpoint {checkpoint} was written with different options: {sorted(differ)}"
        )
    history.config = config
    try:
        run.model.load_state_dict(model_state)
        run.optimizer.load_state_dict(optimizer_state)
        if run.scaler is not None and scaler_state is not None:
            run.scaler.load_state_dict(scaler_state)
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"checkpoint {checkpoint} does not fit this model and optimizer ({err}); "
            "delete it to start afresh"
        ) from err
    try:
        _check.integer("epochs", epochs, minimum=start_epoch)
    except ValueError as err:
        raise ValueError(f"{err} ({start_epoch} epochs are done in {checkpoint})") from None
    return history, start_epoch


def fit(
    model: nn.Module,
    data,
    schedule,
    epochs: int,
    options: RunOptions | None = None,
    *,
    optimizer: str | torch.optim.Optimizer | None = None,
    checkpoint=None,
    resume: bool = False,
    progress: bool = True,
    callbacks: Sequence[Callable] = (),
    **overrides,
) -> History:
    """Train ``model`` on ``data``, the schedule setting every step's rate.

    Step ``t`` (0-based, counted over all epochs) uses learning rate ``schedule(t)``;
    there are ``data.num_batches("train", batch_size)`` steps per epoch (the last batch
    of an epoch may be short). Each epoch draws its order and augmentation from
    ``(seed, epoch)`` and re-seeds PyTorch's global generator from it (for dropout),
    so runs are reproducible and a resumed run repeats the uninterrupted one exactly on
    the CPU. The model's initial weights are the caller's: seed before building it.
    Full-batch gradient descent is ``batch_size=data.size("train"), momentum=0.0,
    weight_decay=0.0``.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier mapping ``(batch, *data.input_shape)`` to logits (a regressor to its
        ``data.num_classes`` outputs); moved to ``data.device`` and trained in place.
    data : lrlab.data.Dataset
        Built in (:func:`lrlab.data.load`) or of your own tensors
        (:func:`lrlab.data.from_tensors`), with class labels or regression targets.
    schedule : callable or float
        ``schedule(step) -> lr`` (e.g. from :mod:`lrlab.schedules`), or a constant rate.
        A schedule-free optimizer takes it as its ``lr`` (before its own warm-up), as it
        would a PyTorch scheduler's: give it a constant rate.
    epochs : int
        Passes over the training set, >= 1.
    options : lrlab.options.RunOptions, optional
        Batch size, optimizer (SGD with heavy-ball momentum and L2 weight decay by
        default, Adam, AdamW, schedule-free SGD and AdamW), momentum, Nesterov, weight
        decay, a schedule-free optimizer's warm-up, precision, memory layout,
        compilation, loss and seed; ``RunOptions()`` by default (batch 128, momentum 0.9,
        weight decay 5e-4, the fast path on a GPU, cross-entropy, seed 0).
    optimizer : str or torch.optim.Optimizer, optional
        A name overrides ``options.optimizer``. An instance over the model's parameters
        (on ``data.device``), e.g. with the per-layer groups of
        :func:`lrlab.scaling.mup_param_groups`, is used as it is and the options'
        optimizer, momentum, Nesterov flag and weight decay are ignored (the config records
        its class name and the options its groups share). Each step sets its groups' rates
        to the schedule's, times a group's ``"lr_scale"`` (see
        :func:`lrlab.step.make_train_step`).
    checkpoint : str or path, optional
        File to write (atomically) after every epoch: model, optimizer, scaler, History.
    resume : bool
        Continue from ``checkpoint`` if the file exists (else start afresh, so the same
        call serves the first launch and every restart). Its options must match.
    progress : bool
        Show a tqdm progress bar with loss, learning rate and test accuracy.
    callbacks : sequence of callables
        Called after optimizer steps as ``callback(model, step, history)``, every step or
        at the steps they ask for (``every``, ``wants``), optionally with methods
        ``on_fit_start(model, optimizer, history)`` and
        ``on_epoch_end(model, epoch, history)``; one may raise
        :class:`StopTraining`. The protocol is in this module's docstring.
    **overrides
        Options of :class:`~lrlab.options.RunOptions` that replace those of ``options``
        (``fit(model, data, 0.1, 5, batch_size=64, momentum=0.0)``).
        The loss (``options.loss``) is by default cross-entropy for class labels and the
        square loss for regression targets, whose accuracies are NaN
        (:func:`lrlab.step.choose_loss`).

    Returns
    -------
    History
        With ``diverged_at_step`` set (and no exception) if the loss or, without a
        gradient scaler, the gradient norm became non-finite; if a step's rate exceeds
        what the parameters' dtype holds (above about 3.4e38 for float32: that step is
        not taken and its loss is NaN); or if the test loss (or, for class labels, the
        accuracy) after an epoch is not finite (the epoch's last step is the diverged one,
        and that epoch is not recorded). On a GPU, losses are read back every 25 steps (or
        when a callback is due), so up to 24 further steps may have been applied to the
        model by then; the History ends at the diverged step either way.
    """
    schedule = _as_schedule(schedule)
    epochs = _check.integer("epochs", epochs, minimum=1)
    if _check.flag("resume", resume) and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path>")
    callbacks = _check_callbacks(callbacks)
    instance = optimizer if isinstance(optimizer, torch.optim.Optimizer) else None
    if optimizer is not None and instance is None:
        overrides["optimizer"] = optimizer
    options = RunOptions.resolve(options, overrides)
    options = options.replace(
        loss=choose_loss(options.loss, getattr(data, "task", "classification"))
    )
    batch_size, seed = options.batch_size, options.seed
    run = prepare(
        model, data.device, options, lr=schedules.rate_at(schedule, 0), optimizer=instance
    )
    steps_per_epoch = data.num_batches("train", batch_size)
    config = {
        "model": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": data.name,
        "schedule": repr(schedule),
        "epochs": epochs,
        **options.to_dict(),
        **({} if instance is None else _instance_options(instance)),
        "precision": run.precision,
        "channels_last": run.channels_last,
    }
    history = History(
        steps_per_epoch=steps_per_epoch, device=device_name(run.device), seed=seed, config=config
    )
    start_epoch = 0
    if resume and Path(checkpoint).is_file():
        history, start_epoch = _resume(checkpoint, run, schedule, config, epochs)
    # Reading a loss back from a GPU makes the CPU wait for it: do that every step only
    # where it is free (CPU), else every few steps or when a callback is due.
    sync_every = 1 if run.device.type != "cuda" else _GPU_SYNC_EVERY
    rate_limit = _rate_limit(run.optimizer)
    for callback in callbacks:
        if hasattr(callback, "on_fit_start"):
            callback.on_fit_start(model, run.optimizer, history)

    from tqdm.auto import tqdm

    bar = tqdm(
        total=epochs * steps_per_epoch,
        initial=start_epoch * steps_per_epoch,
        disable=not progress,
        unit="step",
    )
    model.train()
    schedule_free.train_mode(run.optimizer)  # to the gradient point y (schedule-free only)
    step = start_epoch * steps_per_epoch
    started: float | None = None  # start time of the epoch in progress
    try:
        for epoch in range(start_epoch, epochs):
            started = time.perf_counter()
            seed_of_epoch = epoch_seed(seed, epoch)
            torch.manual_seed(seed_of_epoch)
            pending: list[tuple[torch.Tensor, ...]] = []
            sizes: list[int] = []
            correct = 0
            for x, y in data.batches("train", batch_size, seed=seed_of_epoch):
                lr = schedules.rate_at(schedule, step)
                history.lr.append(lr)
                overflow = abs(lr) > rate_limit
                # A rate the parameters' dtype cannot hold is a step to infinite weights
                # (PyTorch refuses to take it): recorded as a non-finite loss, it diverges.
                pending.append(_not_taken(run.device) if overflow else run.step(x, y, lr))
                sizes.append(len(y))
                due = [c for c in callbacks if is_due(c, step)]
                step += 1
                flush = due or overflow or len(pending) >= sync_every
                if not flush and len(sizes) < steps_per_epoch:
                    continue
                correct += _flush(pending, history, check_grad=run.precision != "fp16")
                bar.update(len(pending))
                pending = []
                if history.diverged:
                    break
                bar.set_postfix(loss=f"{history.loss[-1]:.3f}", lr=f"{lr:.3g}", refresh=False)
                for callback in due:
                    callback(model, step - 1, history)
            if history.diverged:
                break
            # Schedule-free: evaluate, hand over and save the average x (BatchNorm re-estimated).
            schedule_free.eval_mode(run.optimizer, model, data, batch_size)
            test_loss, test_acc = evaluate(
                model,
                data,
                "test",
                max(batch_size, 512),
                run.precision,
                run.channels_last,
                options.loss,
            )
            if _diverged_on_test(test_loss, test_acc, data):
                # The last step's update broke the weights although its own loss was
                # finite: the run diverged there, and this epoch is not recorded.
                history.diverged_at_step = step - 1
                break
            history.train_loss.append(
                float(np.dot(history.loss[-len(sizes) :], sizes)) / sum(sizes)
            )
            history.train_acc.append(correct / sum(sizes))
            history.test_loss.append(test_loss)
            history.test_acc.append(test_acc)
            history.epoch_time.append(time.perf_counter() - started)
            history.wall_time += history.epoch_time[-1]
            started = None
            bar.set_postfix(
                loss=f"{history.loss[-1]:.3f}", lr=f"{lr:.3g}", test_acc=f"{test_acc:.3f}"
            )
            for callback in callbacks:
                if hasattr(callback, "on_epoch_end"):
                    callback.on_epoch_end(model, epoch, history)
            if checkpoint is not None:
                _save_checkpoint(
                    Path(checkpoint), model, run.optimizer, run.scaler, history, epoch + 1
                )
            if epoch + 1 < epochs:
                schedule_free.train_mode(run.optimizer)
    except StopTraining:
        history.stopped_at_step = step - 1
    finally:
        bar.close()
        if started is not None:  # time of an epoch cut short
            history.wall_time += time.perf_counter() - started
    schedule_free.eval_mode(run.optimizer, model, data, batch_size)  # a run cut short: to x
    return history


def _instance_options(optimizer: torch.optim.Optimizer) -> dict:
    """An optimizer instance's options as fit's config records them: its class name, and
    each option's value where all its parameter groups share it (else None)."""

    def shared(read):
        values = {read(group) for group in optimizer.param_groups}
        return values.pop() if len(values) == 1 else None

    return {
        "optimizer": type(optimizer).__name__,
        "momentum": shared(
            lambda g: g["momentum"] if "momentum" in g else g.get("betas", [None])[0]
        ),
        "nesterov": shared(lambda g: bool(g.get("nesterov", False))),
        "weight_decay": shared(lambda g: g.get("weight_decay")),
        "warmup_steps": shared(lambda g: g.get("warmup_steps", 0)),
    }


def _rate_limit(optimizer: torch.optim.Optimizer) -> float:
    """The largest rate a step can take: the largest finite value of a parameter's dtype
    (about 3.4e38 for float32), over a group's ``"lr_scale"``. PyTorch's optimizers convert
    the rate to that dtype, and raise rather than step to infinite weights above it."""
    limits = [math.inf]
    for group in optimizer.param_groups:
        scale = abs(group.get("lr_scale", 1.0))
        for p in group["params"]:
            if p.is_floating_point() and scale:
                limits.append(torch.finfo(p.dtype).max / scale)
    return min(limits)


def _not_taken(device: torch.device) -> tuple[torch.Tensor, ...]:
    """The record of a step that could not be taken: loss, gradient norm and correct
    predictions, all NaN (what ``_flush`` reads as divergence)."""
    nan = torch.full((), math.nan, device=device)
    return nan, nan, nan


def _diverged_on_test(test_loss: float, test_acc: float, data) -> bool:
    """A non-finite test loss, or a non-finite accuracy where there is one (class labels;
    regression has none): the weights after the epoch's last step are broken."""
    classes = getattr(data, "task", "classification") == "classification"
    return not math.isfinite(test_loss) or (classes and not math.isfinite(test_acc))


def _flush(pending: list[tuple[torch.Tensor, ...]], history: History, check_grad: bool) -> float:
    """Copy pending step results to the History in one transfer; mark divergence.

    Returns the number of correct predictions in those steps (NaN for regression). On
    divergence, History keeps the steps up to and including the first non-finite one.
    """
    losses, norms, correct = (torch.stack(column).tolist() for column in zip(*pending, strict=True))
    first = len(history.lr) - len(pending)  # the step of pending[0]
    history.loss.extend(float(v) for v in losses)
    history.grad_norm.extend(float(v) for v in norms)
    for i, (loss, norm) in enumerate(zip(losses, norms, strict=True)):
        if not math.isfinite(loss) or (check_grad and not math.isfinite(norm)):
            history.diverged_at_step = first + i
            del history.lr[first + i + 1 :], history.loss[first + i + 1 :]
            del history.grad_norm[first + i + 1 :]
            break
    return float(sum(correct))
