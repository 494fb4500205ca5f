"""One training step and everything it runs on: the runtime floor under every training loop.

:func:`prepare` sets a model up for training on a device and returns a :class:`Prepared`:
the precision (bf16/fp16 autocast or fp32, see :func:`choose_precision`), the memory layout
(:func:`choose_channels_last`), the optimizer (:func:`make_optimizer`), the gradient scaler
for fp16, and the step function (:func:`make_train_step`). :func:`lrlab.train.fit`, the range
test (:func:`lrlab.lrfind.range_test`) and ``lrlab bench train`` all start from it, so the
three take the same step. :func:`evaluate` measures a split in eval mode;
:func:`epoch_seed` gives each epoch its own seed, so that a resumed run draws the batches the
uninterrupted one drew.

The loss is cross-entropy by default, or ``"mse"``: the square loss against one-hot targets
that Cohen et al. (2021) train with to study the edge of stability (:func:`square_loss`),
which is also the loss of regression, against real-valued targets (:func:`choose_loss`).

>>> import torch
>>> from torch import nn
>>> run = prepare(nn.Linear(4, 3), "cpu", lr=0.1, momentum=0.0, weight_decay=0.0)
>>> loss, grad_norm, correct = run.step(torch.randn(8, 4), torch.zeros(8, dtype=torch.long), 0.1)
>>> run.precision, run.channels_last, loss.shape
('fp32', False, torch.Size([]))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lrlab import _check, schedule_free
from lrlab.options import LOSSES, PRECISIONS, SCHEDULE_FREE, RunOptions

__all__ = [
    "Prepared",
    "bf16_supported",
    "choose_channels_last",
    "choose_loss",
    "choose_precision",
    "epoch_seed",
    "evaluate",
    "loss_function",
    "make_optimizer",
    "make_train_step",
    "prepare",
    "square_loss",
]

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def choose_precision(precision: str, device_type: str, bf16_supported: bool) -> str:
    """Resolve the ``precision`` option of :func:`lrlab.train.fit` for a device.

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
    _check.choice("precision", precision, PRECISIONS)
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
    if isinstance(channels_last, str) and channels_last == "auto":
        return device_type == "cuda" and has_conv
    if not isinstance(channels_last, (bool, np.bool_)):
        raise ValueError(f"channels_last must be 'auto', True or False, got {channels_last!r}")
    return bool(channels_last)


def bf16_supported(device: torch.device | str) -> bool:
    """Whether ``device`` computes in bf16 natively (a CUDA GPU of compute capability >= 8).

    Emulated bf16 does not count: a T4 "supports" bf16 only by slow emulation.

    Examples
    --------
    >>> bf16_supported("cpu")
    False
    """
    device = torch.device(device)
    return device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)


def make_optimizer(
    model: nn.Module,
    optimizer: str = "sgd",
    lr: float = 0.1,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = 5e-4,
    warmup_steps: int = 0,
) -> torch.optim.Optimizer:
    """Build the optimizer :func:`lrlab.train.fit` uses, on all of the model's parameters.

    ``"sgd"`` is heavy-ball momentum (Polyak 1964) or Nesterov momentum with L2 weight
    decay added to the gradient (``momentum=0`` is plain (stochastic) gradient descent);
    ``"adam"`` uses ``momentum`` as beta1; ``"adamw"`` also, with decoupled weight decay;
    the schedule-free ones (with their ``warmup_steps``) come from
    :func:`lrlab.schedule_free.make_optimizer`.

    Examples
    --------
    >>> make_optimizer(nn.Linear(2, 1), "sgd", lr=0.1).defaults["momentum"]
    0.9
    """
    o = RunOptions(optimizer=optimizer, momentum=momentum, nesterov=nesterov)
    o = o.replace(weight_decay=weight_decay, warmup_steps=warmup_steps)
    params = model.parameters()
    if o.optimizer in SCHEDULE_FREE:
        return schedule_free.make_optimizer(
            params, o.optimizer, lr, o.momentum, o.weight_decay, o.warmup_steps
        )
    if o.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=o.momentum, nesterov=o.nesterov, weight_decay=o.weight_decay
        )
    cls = torch.optim.Adam if o.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=lr, betas=(o.momentum, 0.999), weight_decay=o.weight_decay)


def square_loss(logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Half the squared distance from the logits to the one-hot targets, per example.

    .. math::

        \\ell(z, y) = \\tfrac12 \\sum_{k} (z_k - [k = y])^2,

    averaged (``reduction="mean"``) or summed over the batch: the square loss of Cohen et
    al. (2021, *Gradient Descent on Neural Networks Typically Occurs at the Edge of
    Stability*), whose sharpness settles at 2/η under full-batch gradient descent.
    Floating-point ``y`` are regression targets, ``(n,)`` for one output or ``(n, k)``,
    and take the place of the one-hot vectors: :math:`\\tfrac12 \\lVert z - y\\rVert^2`.

    Examples
    --------
    >>> logits = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    >>> float(square_loss(logits, torch.tensor([0, 1])))  # (0 + ½·1) / 2
    0.25
    >>> float(square_loss(torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 1.0])))  # (½ + 2) / 2
    1.25
    """
    _check.choice("reduction", reduction, ("mean", "sum"))
    if y.is_floating_point():
        target = y.to(logits.dtype).reshape(logits.shape)
    else:
        target = F.one_hot(y, logits.shape[1]).to(logits.dtype)
    per_example = 0.5 * ((logits - target) ** 2).sum(dim=1)
    return per_example.mean() if reduction == "mean" else per_example.sum()


def loss_function(name: str = "cross_entropy") -> Callable[..., torch.Tensor]:
    """The training loss called ``name``: ``f(logits, y, reduction="mean") -> loss``.

    ``"cross_entropy"`` is :func:`torch.nn.functional.cross_entropy`; ``"mse"`` is
    :func:`square_loss`.

    Examples
    --------
    >>> loss_function("mse") is square_loss
    True
    """
    _check.choice("loss", name, LOSSES)
    return F.cross_entropy if name == "cross_entropy" else square_loss


def choose_loss(loss: str | None, task: str = "classification") -> str:
    """Resolve the ``loss`` option of :func:`lrlab.train.fit` for a data set's task.

    ``None`` means cross-entropy for classification and the square loss (``"mse"``) for
    regression (a :class:`lrlab.data.Dataset`'s ``task``); cross-entropy cannot train on
    real-valued targets.

    Examples
    --------
    >>> choose_loss(None, "regression"), choose_loss(None, "classification")
    ('mse', 'cross_entropy')
    """
    _check.choice("task", task, ("classification", "regression"))
    if loss is None:
        return "mse" if task == "regression" else "cross_entropy"
    _check.choice("loss", loss, LOSSES)
    if loss == "cross_entropy" and task == "regression":
        raise ValueError("loss 'cross_entropy' needs class labels; for regression use 'mse'")
    return loss


def _correct(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """How many argmax predictions match integer labels; NaN for regression targets."""
    if y.is_floating_point():
        return logits.new_full((), float("nan"))
    return (logits.argmax(dim=1) == y).sum()


def make_train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    precision: str = "fp32",
    channels_last: bool = False,
    scaler: torch.amp.GradScaler | None = None,
    metrics: bool = True,
    loss: str = "cross_entropy",
) -> Callable[[torch.Tensor, torch.Tensor, float], tuple[torch.Tensor, ...]]:
    """One optimizer step, as :func:`lrlab.train.fit` (and the benchmark) runs it.

    The step zeroes the gradients before its backward pass, not after the update, so until
    the next step each parameter's ``.grad`` holds this step's minibatch gradient (unscaled).
    It sets every parameter group's rate to ``lr``, times the group's ``"lr_scale"`` where
    it has one (per-layer rates such as μP's, :func:`lrlab.scaling.mup_param_groups`).

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
    loss : {"cross_entropy", "mse"}
        See :func:`loss_function`.

    Returns
    -------
    callable
        ``step(x, y, lr) -> (loss, grad_norm, correct)``, all 0-d tensors left on the
        device (reading them forces a GPU sync): the batch's mean loss, the global L2
        norm of the (unscaled) gradient, and how many predictions were right (argmax of
        the logits; NaN for regression targets); the last two are ``None`` when
        ``metrics`` is false.

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
    criterion = loss_function(loss)
    device_type = next(model.parameters()).device.type
    params = [p for p in model.parameters() if p.requires_grad]

    def step(x: torch.Tensor, y: torch.Tensor, lr: float):
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type, dtype=_DTYPES.get(precision), enabled=precision != "fp32"):
            logits = model(x)
            loss = criterion(logits.float(), y)
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
            correct = _correct(logits.detach(), y)
        return loss.detach(), grad_norm, correct

    return step


@dataclass
class Prepared:
    """A model set up for training by :func:`prepare`.

    Attributes
    ----------
    model : torch.nn.Module
        The model, on ``device`` and in its memory layout (trained in place).
    net : torch.nn.Module
        What the step calls: ``model``, or ``torch.compile(model)``.
    device : torch.device
    precision : str
        ``"fp32"``, ``"bf16"`` or ``"fp16"``, resolved for the device.
    channels_last : bool
        Resolved memory layout.
    optimizer : torch.optim.Optimizer
    scaler : torch.amp.GradScaler or None
        Present for fp16 only.
    loss : str
        One of :data:`LOSSES`.
    step : callable
        ``step(x, y, lr) -> (loss, grad_norm, correct)`` from :func:`make_train_step`.
    """

    model: nn.Module
    net: nn.Module
    device: torch.device
    precision: str
    channels_last: bool
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None
    loss: str
    step: Callable[[torch.Tensor, torch.Tensor, float], tuple[torch.Tensor, ...]]


def prepare(
    model: nn.Module,
    device: torch.device | str,
    options: RunOptions | None = None,
    *,
    lr: float = 0.1,
    optimizer: str | torch.optim.Optimizer | None = None,
    metrics: bool = True,
    **overrides,
) -> Prepared:
    """Set ``model`` up for training on ``device``: precision, layout, optimizer, scaler, step.

    Every option is checked before anything is done. Then the model is moved to the device
    (and to channels-last layout if chosen), the optimizer is built over its parameters
    with rate ``lr`` (or the given optimizer instance is used as it is), a gradient scaler
    is made for fp16, the model is compiled if asked, and the step is built.

    Parameters
    ----------
    model : torch.nn.Module
    device : torch.device or str
    options : lrlab.options.RunOptions, optional
        The run's options (its batch size and seed are the caller's business here);
        ``RunOptions()`` by default.
    lr : float
        The optimizer's initial rate (each step sets its own).
    optimizer : str or torch.optim.Optimizer, optional
        A name overrides ``options.optimizer``; an instance (over the model's parameters,
        which must then already be on ``device``) is used as it is, and the options'
        optimizer, momentum, Nesterov flag and weight decay are ignored.
    metrics : bool
        See :func:`make_train_step`.
    **overrides
        Options of :class:`~lrlab.options.RunOptions` that replace those of ``options``.

    Returns
    -------
    Prepared

    Examples
    --------
    >>> run = prepare(nn.Linear(2, 2), "cpu", optimizer="adam", momentum=0.9, loss="mse")
    >>> type(run.optimizer).__name__, run.scaler is None, run.loss
    ('Adam', True, 'mse')
    """
    instance = optimizer if isinstance(optimizer, torch.optim.Optimizer) else None
    if optimizer is not None and instance is None:
        if not isinstance(optimizer, str):
            raise TypeError(
                f"optimizer must be a name or a torch.optim.Optimizer, got {optimizer!r}"
            )
        overrides["optimizer"] = optimizer
    o = RunOptions.resolve(options, overrides)
    device = torch.device(device)
    prec = choose_precision(o.precision, device.type, bf16_supported(device))
    has_conv = any(isinstance(m, nn.Conv2d) for m in model.modules())
    use_channels_last = choose_channels_last(o.channels_last, device.type, has_conv)
    if instance is not None and any(p.device != device for p in model.parameters()):
        raise ValueError(f"with an optimizer instance the model must already be on {device}")
    model.to(device)
    if use_channels_last:
        model.to(memory_format=torch.channels_last)
    opt = instance or make_optimizer(
        model, o.optimizer, lr, o.momentum, o.nesterov, o.weight_decay, o.warmup_steps
    )
    scaler = torch.amp.GradScaler(device.type) if prec == "fp16" else None
    net = torch.compile(model) if o.compile else model
    loss = o.loss if o.loss is not None else "cross_entropy"  # fit resolves it by the data
    step = make_train_step(net, opt, prec, use_channels_last, scaler, metrics, loss)
    return Prepared(model, net, device, prec, use_channels_last, opt, scaler, loss, step)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data,
    split: str = "test",
    batch_size: int = 1024,
    precision: str = "fp32",
    channels_last: bool = False,
    loss: str = "cross_entropy",
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on a split, in eval mode.

    Parameters
    ----------
    model : torch.nn.Module
    data : lrlab.data.Dataset
    split : {"train", "test"}
    batch_size : int
    precision : {"fp32", "bf16", "fp16"}
    channels_last : bool
    loss : {"cross_entropy", "mse"}
        See :func:`loss_function`; accuracy is the argmax of the logits either way.

    Returns
    -------
    (float, float)
        Loss and accuracy in [0, 1] (NaN for regression targets). The model is put back
        in its previous mode.

    Examples
    --------
    >>> from lrlab import data
    >>> digits = data.load("digits", device="cpu")
    >>> loss, acc = evaluate(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), digits)
    >>> 0 <= acc <= 1
    True
    """
    criterion = loss_function(loss)
    was_training = model.training
    model.eval()
    device = data.device
    total_loss = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.float64)
    dtype = _DTYPES.get(precision)
    for x, y in data.batches(split, batch_size, shuffle=False, augment=False):
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype, enabled=precision != "fp32"):
            logits = model(x).float()
        total_loss += criterion(logits, y, reduction="sum")
        correct += _correct(logits, y)
    model.train(was_training)
    n = data.size(split)
    return float(total_loss) / n, float(correct) / n


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` of a run seeded ``seed``: independent draws per epoch.

    A resumed run starts at its epoch's seed and so draws what the full run drew.

    Examples
    --------
    >>> epoch_seed(0, 1) == epoch_seed(0, 1) != epoch_seed(0, 2)
    True
    """
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
