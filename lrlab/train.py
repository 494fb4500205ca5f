"""The training loop: a schedule sets the learning rate before every optimizer step.

:func:`fit` trains a classifier on an :class:`lrlab.data.Dataset` with SGD (or Adam),
records every step's learning rate, loss and gradient norm and every epoch's train/test
loss and accuracy in a :class:`History`, stops cleanly when the loss stops being finite,
and can checkpoint every epoch and resume bit-for-bit (on the CPU).

On a GPU it uses the fast path by default: data already on the device (see
:mod:`lrlab.data`), bf16 autocast (fp16 with a gradient scaler on GPUs without bf16, such
as the T4), channels-last memory layout for convolutional nets, and it reads the loss back
from the GPU only every few steps so that the GPU never waits for Python.

>>> import torch, lrlab
>>> from lrlab import data, models, train
>>> digits = data.load("digits", device="cpu")
>>> _ = torch.manual_seed(0)
>>> net = models.build("mlp", 10, digits.input_shape)
>>> history = train.fit(net, digits, 0.05, epochs=2, progress=False)
>>> len(history.lr) == 2 * digits.num_batches("train", 128)
True
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lrlab.results import atomic_write, device_name

__all__ = [
    "History",
    "StopTraining",
    "choose_channels_last",
    "choose_precision",
    "evaluate",
    "fit",
    "make_optimizer",
    "make_train_step",
    "matmul_peak",
    "throughput",
    "training_flops",
]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
OPTIMIZERS = ("sgd", "adam", "adamw")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# Options that may differ between a run and its resumption ("schedule" is its repr, which
# for a lambda names a memory address: the schedule is checked by its values instead).
_RESUMABLE_DIFFERENCES = {"epochs", "schedule"}


class StopTraining(Exception):  # noqa: N818 - a control signal, not an error
    """Raise from a callback to end :func:`fit` early; History marks the step."""


def choose_precision(precision: str, device_type: str, bf16_supported: bool) -> str:
    """Resolve the ``precision`` option of :func:`fit` for a device.

    ``"auto"`` means bf16 autocast on a GPU with native bf16 (compute capability >= 8,
    e.g. A100, H100, L4), fp16 autocast with a gradient scaler on older GPUs (V100, T4),
    and fp32 on the CPU, where autocast would be slower.

    Parameters
    ----------
    precision : {"auto", "fp32", "bf16", "fp16"}
    device_type : str
        ``torch.device.type``: ``"cuda"``, ``"cpu"``, ...
    bf16_supported : bool
        Whether the GPU computes in bf16 natively.

    Returns
    -------
    str
        ``"fp32"``, ``"bf16"`` or ``"fp16"``.

    Examples
    --------
    >>> choose_precision("auto", "cuda", bf16_supported=False)
    'fp16'
    >>> choose_precision("auto", "cpu", bf16_supported=False)
    'fp32'
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        if device_type != "cuda":
            return "fp32"
        return "bf16" if bf16_supported else "fp16"
    if precision == "fp16" and device_type != "cuda":
        raise ValueError(f"precision 'fp16' needs a CUDA device, got {device_type!r}")
    if precision == "bf16" and device_type == "cuda" and not bf16_supported:
        raise ValueError("precision 'bf16' needs a GPU with bf16 (compute capability >= 8)")
    return precision


def choose_channels_last(channels_last, device_type: str, has_conv: bool) -> bool:
    """Resolve the ``channels_last`` option: ``"auto"`` is on for conv nets on CUDA only.

    Channels-last (NHWC) lets cuDNN use tensor cores without transposes; on the CPU and
    for MLPs it brings nothing.

    Examples
    --------
    >>> choose_channels_last("auto", "cuda", has_conv=True)
    True
    >>> choose_channels_last("auto", "cpu", has_conv=True)
    False
    """
    if channels_last == "auto":
        return device_type == "cuda" and has_conv
    if not isinstance(channels_last, bool):
        raise ValueError(f"channels_last must be 'auto', True or False, got {channels_last!r}")
    return channels_last


def _bf16_supported(device: torch.device) -> bool:
    # including_emulation=False: a T4 "supports" bf16 only by slow emulation.
    return device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)


def make_optimizer(
    model: nn.Module,
    optimizer: str = "sgd",
    lr: float = 0.1,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = 5e-4,
) -> torch.optim.Optimizer:
    """Build the optimizer :func:`fit` uses, on all of the model's parameters.

    ``"sgd"`` is heavy-ball momentum (Polyak 1964) or Nesterov momentum with L2 weight
    decay added to the gradient; ``"adam"`` uses ``momentum`` as beta1; ``"adamw"`` also,
    with decoupled weight decay.

    Examples
    --------
    >>> make_optimizer(nn.Linear(2, 1), "sgd", lr=0.1).defaults["momentum"]
    0.9
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    if nesterov and (optimizer != "sgd" or momentum == 0):
        raise ValueError("nesterov=True needs optimizer='sgd' and momentum > 0")
    params = model.parameters()
    if optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay
        )
    cls = torch.optim.Adam if optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=lr, betas=(momentum, 0.999), weight_decay=weight_decay)


def make_train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    precision: str = "fp32",
    channels_last: bool = False,
    scaler: torch.amp.GradScaler | None = None,
    metrics: bool = True,
) -> Callable[[torch.Tensor, torch.Tensor, float], tuple[torch.Tensor, ...]]:
    """One optimizer step of cross-entropy training, as :func:`fit` (and the benchmark) runs it.

    Parameters
    ----------
    model, optimizer
        The model (already on the device) and its optimizer.
    precision : {"fp32", "bf16", "fp16"}
        Autocast dtype; fp16 needs ``scaler``.
    channels_last : bool
        Convert each batch to channels-last memory layout (the model should be too).
    scaler : torch.amp.GradScaler, optional
        Loss scaling for fp16.
    metrics : bool
        Also compute the gradient norm and the number of correct predictions. Callers
        that need only the loss (the range test) turn this off: on a small network the
        two cost about a tenth of a step.

    Returns
    -------
    callable
        ``step(x, y, lr) -> (loss, grad_norm, correct)``, all 0-d tensors left on the
        device (reading them forces a GPU sync): the batch's mean loss, the global L2
        norm of the (unscaled) gradient, and how many predictions were right; the last
        two are ``None`` when ``metrics`` is false.

    Examples
    --------
    >>> net = nn.Linear(4, 3)
    >>> step = make_train_step(net, torch.optim.SGD(net.parameters(), lr=0.1))
    >>> loss, norm, correct = step(torch.randn(8, 4), torch.zeros(8, dtype=torch.long), 0.1)
    >>> loss.shape, norm.shape
    (torch.Size([]), torch.Size([]))
    """
    if precision not in ("fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be 'fp32', 'bf16' or 'fp16', got {precision!r}")
    if precision == "fp16" and scaler is None:
        raise ValueError("precision 'fp16' needs a GradScaler (scaler=...)")
    device_type = next(model.parameters()).device.type
    params = [p for p in model.parameters() if p.requires_grad]

    def step(x: torch.Tensor, y: torch.Tensor, lr: float):
        for group in optimizer.param_groups:
            group["lr"] = lr
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type, dtype=_DTYPES.get(precision), enabled=precision != "fp32"):
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        grad_norm = correct = None
        if metrics:
            grads = [p.grad for p in params if p.grad is not None]
            grad_norm = torch.nn.utils.get_total_norm(grads) if grads else loss.new_zeros(())
            grad_norm = grad_norm.detach()
        if scaler is not None:
            scaler.step(optimizer)  # skips the step when the scaled gradient overflowed
            scaler.update()
        else:
            optimizer.step()
        if metrics:
            correct = (logits.detach().argmax(dim=1) == y).sum()
        return loss.detach(), grad_norm, correct

    return step


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data,
    split: str = "test",
    batch_size: int = 1024,
    precision: str = "fp32",
    channels_last: bool = False,
) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of ``model`` on a split, in eval mode.

    Returns
    -------
    (float, float)
        Loss and accuracy in [0, 1]. The model is put back in its previous mode.

    Examples
    --------
    >>> from lrlab import data
    >>> digits = data.load("digits", device="cpu")
    >>> loss, acc = evaluate(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), digits)
    >>> 0 <= acc <= 1
    True
    """
    was_training = model.training
    model.eval()
    device = data.device
    total_loss = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    dtype = _DTYPES.get(precision)
    for x, y in data.batches(split, batch_size, shuffle=False, augment=False):
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype, enabled=precision != "fp32"):
            logits = model(x).float()
        total_loss += F.cross_entropy(logits, y, reduction="sum")
        correct += (logits.argmax(dim=1) == y).sum()
    model.train(was_training)
    n = data.size(split)
    return float(total_loss) / n, int(correct) / n


_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _encode(value):
    """JSON has no NaN/inf: store non-finite floats as the strings "nan", "inf", "-inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(value):
    """Inverse of :func:`_encode`."""
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    return value


def _plain_value(value):
    """Tensors and NumPy values as Python numbers and lists (JSON- and checkpoint-safe)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain_value(v) for v in value]
    return value


@dataclass
class History:
    """What a training run did, step by step and epoch by epoch.

    Attributes
    ----------
    lr, loss, grad_norm : list of float
        Per optimizer step ``t = 0, 1, ...``: the learning rate used, the batch's mean
        training loss, and the global L2 norm of the gradient.
    train_loss, train_acc, test_loss, test_acc, epoch_time : list of float
        Per completed epoch: mean training loss and accuracy over the epoch's batches (in
        train mode, as the steps saw them), test loss and accuracy (eval mode), and the
        epoch's wall time in seconds (training and evaluation).
    steps_per_epoch : int
    device : str
        Readable device name (GPU model, or ``"cpu"``).
    seed : int
    config : dict
        The options of the run (see :func:`fit`).
    diverged_at_step : int or None
        First step whose loss (or gradient norm) was not finite; the run stopped there.
    stopped_at_step : int or None
        Step after which a callback raised :class:`StopTraining`.
    wall_time : float
        Seconds spent in :func:`fit` in total (over resumptions).
    extras : dict of str to list
        Series recorded by callbacks with :meth:`record`.
    """

    lr: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    steps_per_epoch: int = 0
    device: str = "cpu"
    seed: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    diverged_at_step: int | None = None
    stopped_at_step: int | None = None
    wall_time: float = 0.0
    extras: dict[str, list] = field(default_factory=dict)

    _STEP_FIELDS = ("lr", "loss", "grad_norm")
    _EPOCH_FIELDS = ("train_loss", "train_acc", "test_loss", "test_acc", "epoch_time")

    @property
    def steps(self) -> int:
        """Optimizer steps recorded."""
        return len(self.lr)

    @property
    def epochs(self) -> int:
        """Epochs completed."""
        return len(self.test_acc)

    @property
    def diverged(self) -> bool:
        return self.diverged_at_step is not None

    def record(self, name: str, step: int, value) -> None:
        """Append ``[step, value]`` to the series ``extras[name]`` (for callbacks).

        ``value`` may be a number, a tensor or NumPy array (stored as numbers/lists), or
        anything JSON can hold.

        Examples
        --------
        >>> h = History()
        >>> h.record("sharpness", 10, 3.5)
        >>> h.extras
        {'sharpness': [[10, 3.5]]}
        """
        self.extras.setdefault(name, []).append([int(step), _plain_value(value)])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite floats become ``"nan"``/``"inf"`` strings)."""
        return _encode(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Inverse of :meth:`to_dict`."""
        d = _decode(dict(d))
        for name in (*cls._STEP_FIELDS, *cls._EPOCH_FIELDS):
            d[name] = [float(v) for v in d.get(name, [])]
        return cls(**d)

    def to_json(self) -> str:
        """Serialise to a JSON string (see :meth:`from_json`).

        Examples
        --------
        >>> h = History(lr=[0.1], loss=[float("nan")], grad_norm=[1.0])
        >>> History.from_json(h.to_json()).loss
        [nan]
        """
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> History:
        """Read a History written by :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def table(self) -> str:
        """A plain-text table of the epochs (what ``lrlab train`` prints).

        The ``lr`` column is the rate of each epoch's last step.
        """
        header = f"{'epoch':>5} {'lr':>10} {'train loss':>10} {'train acc':>9} "
        header += f"{'test loss':>9} {'test acc':>8} {'time s':>7}"
        rows = [header]
        for i in range(self.epochs):
            lr = self.lr[(i + 1) * self.steps_per_epoch - 1]
            rows.append(
                f"{i + 1:>5} {lr:>10.4g} {self.train_loss[i]:>10.4f} {self.train_acc[i]:>9.2%} "
                f"{self.test_loss[i]:>9.4f} {self.test_acc[i]:>8.2%} {self.epoch_time[i]:>7.2f}"
            )
        if self.diverged:
            rows.append(f"diverged at step {self.diverged_at_step} (lr {self.lr[-1]:.4g})")
        if self.stopped_at_step is not None:
            rows.append(f"stopped by a callback after step {self.stopped_at_step}")
        return "\n".join(rows)

    def plot(self, axes=None):
        """Learning rate and loss per step, accuracy per epoch, in three panels.

        Parameters
        ----------
        axes : sequence of 3 matplotlib Axes, optional
            Where to draw; a new house-style figure if omitted.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> h = History(lr=[0.1, 0.05], loss=[2.0, 1.5], grad_norm=[1.0, 0.8],
        ...             train_loss=[1.75], train_acc=[0.4], test_loss=[1.6], test_acc=[0.5],
        ...             epoch_time=[0.1], steps_per_epoch=2)
        >>> len(h.plot().axes)
        3
        """
        from lrlab import plots

        if axes is None:
            _, axes = plots.subplots(1, 3, width=11.0, height=3.4)
        ax_lr, ax_loss, ax_acc = axes
        steps = np.arange(self.steps)
        ax_lr.plot(steps, self.lr)
        ax_lr.set_xlabel("optimizer step")
        ax_lr.set_ylabel("learning rate")
        ax_loss.plot(steps, self.loss, alpha=0.35, lw=1, label="train (per step)")
        ends = (np.arange(self.epochs) + 1) * self.steps_per_epoch - 1
        ax_loss.plot(ends, self.train_loss, "o-", label="train (epoch mean)")
        ax_loss.plot(ends, self.test_loss, "s-", label="test")
        ax_loss.set_yscale("log")
        ax_loss.set(xlabel="optimizer step", ylabel="cross-entropy loss")
        ax_loss.legend()
        epochs = np.arange(1, self.epochs + 1)
        ax_acc.plot(epochs, self.train_acc, "o-", label="train")
        ax_acc.plot(epochs, self.test_acc, "s-", label="test")
        ax_acc.set(xlabel="epoch", ylabel="accuracy")
        ax_acc.legend()
        if self.diverged:
            for ax in (ax_lr, ax_loss):
                ax.axvline(self.diverged_at_step, color="k", ls="--", lw=1)
            ax_loss.set_title(f"diverged at step {self.diverged_at_step}")
        return ax_lr.figure


def _as_schedule(schedule) -> Callable[[int], float]:
    if isinstance(schedule, bool):
        raise TypeError(f"schedule must be callable or a number, got {schedule!r}")
    if isinstance(schedule, (int, float)):
        if not (math.isfinite(schedule) and schedule > 0):
            raise ValueError(f"schedule (a constant learning rate) must be > 0, got {schedule}")
        from lrlab.schedules import constant

        return constant(float(schedule))
    if not callable(schedule):
        raise TypeError(f"schedule must be callable or a number, got {schedule!r}")
    return schedule


def _epoch_seed(seed: int, epoch: int) -> int:
    """Independent seeds per epoch, so a resumed run draws what the full run drew."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


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


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def fit(
    model: nn.Module,
    data,
    schedule,
    epochs: int,
    batch_size: int = 128,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = 5e-4,
    precision: str = "auto",
    channels_last="auto",
    compile: bool = False,
    seed: int = 0,
    checkpoint=None,
    resume: bool = False,
    progress: bool = True,
    callbacks: Sequence[Callable] = (),
) -> History:
    """Train ``model`` on ``data`` with cross-entropy, the schedule setting every step's rate.

    Step ``t`` (0-based, counted over all epochs) uses learning rate ``schedule(t)``;
    there are ``data.num_batches("train", batch_size)`` steps per epoch (the last batch
    of an epoch may be short). Each epoch draws its order and augmentation from
    ``(seed, epoch)`` and re-seeds PyTorch's global generator from it (for dropout),
    so runs are reproducible and a resumed run repeats the uninterrupted one exactly on
    the CPU. The model's initial weights are the caller's: seed before building it.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier mapping ``(batch, *data.input_shape)`` to logits; moved to
        ``data.device`` and trained in place.
    data : lrlab.data.Dataset
    schedule : callable or float
        ``schedule(step) -> lr`` (e.g. from :mod:`lrlab.schedules`), or a constant rate.
    epochs : int
        Passes over the training set, >= 1.
    batch_size : int
    optimizer : {"sgd", "adam", "adamw"}
    momentum : float
        SGD momentum (Adam's beta1), in [0, 1).
    nesterov : bool
        Nesterov momentum (SGD only).
    weight_decay : float
        L2 penalty on all parameters (decoupled for AdamW), >= 0.
    precision : {"auto", "fp32", "bf16", "fp16"}
        See :func:`choose_precision`.
    channels_last : {"auto", True, False}
        See :func:`choose_channels_last`.
    compile : bool
        Run the model through ``torch.compile``.
    seed : int
        Seed of the data order, augmentation and in-model randomness.
    checkpoint : str or path, optional
        File to write (atomically) after every epoch: model, optimizer, scaler, History.
    resume : bool
        Continue from ``checkpoint`` if the file exists (else start afresh, so the same
        call serves the first launch and every restart). Its options must match.
    progress : bool
        Show a tqdm progress bar with loss, learning rate and test accuracy.
    callbacks : sequence of callables
        Each is called as ``callback(model, step, history)`` after every optimizer step,
        with ``history`` already holding that step; with callbacks, losses are read back
        from the device every step. A callback may have an
        ``on_epoch_end(model, epoch, history)`` method (called after the epoch's record,
        before the checkpoint) and may raise :class:`StopTraining` to end the run.

    Returns
    -------
    History
        With ``diverged_at_step`` set (and no exception) if the loss or, without a
        gradient scaler, the gradient norm became non-finite. On a GPU, losses are read
        back every 25 steps, so up to 24 further steps may have been applied to the model
        by then; the History ends at the diverged step either way.
    """
    schedule = _as_schedule(schedule)
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path>")
    if not all(callable(c) for c in callbacks):
        raise TypeError("callbacks must be callables callback(model, step, history)")
    device = data.device
    prec = choose_precision(precision, device.type, _bf16_supported(device))
    has_conv = any(isinstance(m, nn.Conv2d) for m in model.modules())
    use_channels_last = choose_channels_last(channels_last, device.type, has_conv)
    model.to(device)
    if use_channels_last:
        model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, optimizer, _lr_at(schedule, 0), momentum, nesterov, weight_decay)
    scaler = torch.amp.GradScaler(device.type) if prec == "fp16" else None
    net = torch.compile(model) if compile else model
    step_fn = make_train_step(net, opt, prec, use_channels_last, scaler)
    steps_per_epoch = data.num_batches("train", batch_size)
    config = {
        "model": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": data.name,
        "schedule": repr(schedule),
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer": optimizer,
        "momentum": momentum,
        "nesterov": nesterov,
        "weight_decay": weight_decay,
        "precision": prec,
        "channels_last": use_channels_last,
        "compile": compile,
        "seed": seed,
    }
    history = History(
        steps_per_epoch=steps_per_epoch, device=device_name(device), seed=seed, config=config
    )
    start_epoch = 0
    if resume and Path(checkpoint).is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        history = History.from_dict(state["history"])
        differ = {
            k for k in set(config) | set(history.config) if config.get(k) != history.config.get(k)
        } - _RESUMABLE_DIFFERENCES
        done = len(history.lr)
        sample = np.unique(np.linspace(0, done - 1, min(done, 100)).astype(int))
        if any(_lr_at(schedule, int(t)) != history.lr[t] for t in sample):
            differ.add("schedule")
        if differ:
            raise ValueError(
                f"checkpoint {checkpoint} was written with different options: {sorted(differ)}"
            )
        history.config = config
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if scaler is not None and state["scaler"] is not None:
            scaler.load_state_dict(state["scaler"])
        start_epoch = state["epoch"]
        if start_epoch > epochs:
            raise ValueError(
                f"epochs must be >= {start_epoch} (done in {checkpoint}), got {epochs}"
            )
    # Reading a loss back from a GPU makes the CPU wait for it: do that every step only
    # where it is free (CPU) or needed (callbacks look at the History every step).
    sync_every = 1 if (callbacks or device.type != "cuda") else 25

    from tqdm.auto import tqdm

    bar = tqdm(
        total=epochs * steps_per_epoch,
        initial=start_epoch * steps_per_epoch,
        disable=not progress,
        unit="step",
    )
    model.train()
    step = start_epoch * steps_per_epoch
    started: float | None = None  # start time of the epoch in progress
    try:
        for epoch in range(start_epoch, epochs):
            started = time.perf_counter()
            epoch_seed = _epoch_seed(seed, epoch)
            torch.manual_seed(epoch_seed)
            pending: list[tuple[torch.Tensor, ...]] = []
            sizes: list[int] = []
            correct = 0
            for x, y in data.batches("train", batch_size, seed=epoch_seed):
                lr = _lr_at(schedule, step)
                history.lr.append(lr)
                pending.append(step_fn(x, y, lr))
                sizes.append(len(y))
                step += 1
                if len(pending) < sync_every and len(sizes) < steps_per_epoch:
                    continue
                correct += _flush(pending, history, check_grad=prec != "fp16")
                bar.update(len(pending))
                pending = []
                if history.diverged:
                    break
                bar.set_postfix(loss=f"{history.loss[-1]:.3f}", lr=f"{lr:.3g}", refresh=False)
                for callback in callbacks:
                    callback(model, step - 1, history)
            if history.diverged:
                break
            test_loss, test_acc = evaluate(
                model, data, "test", max(batch_size, 512), prec, use_channels_last
            )
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
                _save_checkpoint(Path(checkpoint), model, opt, scaler, history, epoch + 1)
    except StopTraining:
        history.stopped_at_step = step - 1
    finally:
        bar.close()
        if started is not None:  # time of an epoch cut short
            history.wall_time += time.perf_counter() - started
    return history


def _lr_at(schedule, step: int) -> float:
    lr = float(schedule(step))
    if not (math.isfinite(lr) and lr >= 0):
        raise ValueError(f"schedule({step}) must be a finite rate >= 0, got {lr}")
    return lr


def _flush(pending: list[tuple[torch.Tensor, ...]], history: History, check_grad: bool) -> int:
    """Copy pending step results to the History in one transfer; mark divergence.

    Returns the number of correct predictions in those steps. On divergence, History
    keeps the steps up to and including the first non-finite one.
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
    return int(sum(correct))


# --- measuring speed (used by ``lrlab bench train``) ---------------------------------------


def training_flops(model: nn.Module, input_shape, batch_size: int = 2) -> float:
    """FLOPs of one training step per example: forward and backward, matmuls and convolutions.

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` on a copy of the model (a
    multiply-add is 2 FLOPs; element-wise work such as BatchNorm is not counted, the usual
    convention for model FLOPs utilisation).

    Examples
    --------
    >>> training_flops(nn.Linear(10, 5), (10,))  # forward 2·10·5, weight gradient 2·10·5
    200.0
    """
    from copy import deepcopy

    from torch.utils.flop_counter import FlopCounterMode

    _check_positive_int("batch_size", batch_size)
    copy = deepcopy(model).train()
    param = next(copy.parameters())
    x = torch.randn(batch_size, *input_shape, device=param.device)
    counter = FlopCounterMode(display=False)
    with counter:
        logits = copy(x)
        F.cross_entropy(
            logits, torch.zeros(batch_size, dtype=torch.long, device=x.device)
        ).backward()
    return counter.get_total_flops() / batch_size


def matmul_peak(device, dtype=torch.bfloat16, size: int = 8192, repeats: int = 20) -> float:
    """Measured FLOP/s of a large square matmul: the practical peak for MFU.

    Parameters
    ----------
    device : torch.device or str
        A CUDA device (on the CPU this would measure BLAS, not a meaningful peak).
    dtype : torch.dtype
    size : int
        Matrix side; 8192 saturates current GPUs.
    repeats : int
        Timed multiplications (after 3 warm-up ones).

    Returns
    -------
    float
        ``2 size³ repeats / seconds``.
    """
    device = torch.device(device)
    if device.type != "cuda":
        raise ValueError(f"device must be a CUDA device, got {device}")
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def throughput(step, batches, steps: int, warmup: int = 2, lr: float = 0.01) -> float:
    """Images per second of a training ``step`` fed from an iterator of ``(x, y)`` batches.

    Runs ``warmup`` untimed steps, then times ``steps`` steps (including fetching each
    batch, so the input pipeline counts), waiting for the GPU at both ends.

    Examples
    --------
    >>> net = nn.Linear(4, 2)
    >>> step = make_train_step(net, torch.optim.SGD(net.parameters(), lr=0.1))
    >>> batches = iter([(torch.randn(8, 4), torch.zeros(8, dtype=torch.long))] * 5)
    >>> throughput(step, batches, steps=3, warmup=1) > 0
    True
    """
    _check_positive_int("steps", steps)
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")

    def sync():
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    for _ in range(warmup):
        x, y = next(batches)
        step(x, y, lr)
    sync()
    start, images = time.perf_counter(), 0
    for _ in range(steps):
        x, y = next(batches)
        step(x, y, lr)
        images += len(y)
    sync()
    return images / (time.perf_counter() - start)
