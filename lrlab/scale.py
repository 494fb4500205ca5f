"""Scale invariance and the exponential learning rate (Li & Arora, ICLR 2020).

With BatchNorm after every weight layer (and a fixed read-out) the loss is
*scale-invariant*: ``L(c theta) = L(theta)`` for ``c > 0``. Differentiating gives
``<grad L(theta), theta> = 0`` and ``grad L(c theta) = grad L(theta) / c``
(Li & Arora, "An Exponential Learning Rate Schedule for Deep Learning", ICLR 2020).

For such a loss, SGD with momentum ``gamma``, weight decay ``lambda`` and learning rate
``eta`` (PyTorch's form: ``v <- gamma v + grad L + lambda theta``, ``theta <- theta - eta v``)
walks through exactly the same network functions as SGD with momentum ``gamma``, *no*
weight decay and the exponentially growing learning rate ``eta alpha^(-2t-1)``, where
``alpha`` is the larger root of ``x^2 - (1 + gamma - lambda eta) x + gamma = 0``
(Li & Arora's main theorem). The weights of the second run are ``alpha^(-t)`` times those of
the first. The same holds for any base schedule ``eta_t`` with a per-step ``alpha_t``
(:func:`explr_from_schedule`); :func:`texp` is the paper's simpler approximation.

Functions here: :func:`set_explr_momentum_buffers`, :func:`scale_invariance_residuals`,
:func:`sgd_trajectory` and :func:`explr_pair` (two copies trained side by side). The
schedules :func:`explr_alpha`, :func:`explr_schedule`, :func:`explr_from_schedule` and
:func:`texp` live in :mod:`lrlab.explr` (they are :class:`lrlab.schedules.Schedule` objects)
and are re-exported here.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lrlab import _check
from lrlab.explr import explr_alpha, explr_from_schedule, explr_schedule, rates_of, texp
from lrlab.schedules import constant

__all__ = [
    "explr_alpha",
    "explr_from_schedule",
    "explr_pair",
    "explr_schedule",
    "scale_invariance_residuals",
    "set_explr_momentum_buffers",
    "sgd_trajectory",
    "texp",
]

# --------------------------------------------------------------------------- PyTorch side


def _trainable(model: nn.Module) -> list[torch.Tensor]:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model must have at least one parameter with requires_grad=True")
    return params


def _flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def _norm(tensors: Sequence[torch.Tensor]) -> float:
    return float(_flat(tensors).norm())


def set_explr_momentum_buffers(optimizer: torch.optim.SGD, lr: float, weight_decay: float) -> None:
    """Give an ExpLR run the initial momentum buffer that makes the equivalence exact.

    Call this on the optimizer of the run *without* weight decay, before its first step,
    while its parameters still equal the starting point ``theta_0`` of the run with weight
    decay. The run with weight decay starts, as PyTorch does, with an empty buffer.

    Why a buffer is needed: with ``theta~_t = alpha^(-t) theta_t`` and PyTorch's update
    ``theta_{t+1} = theta_t - eta_t (gamma v_t + g_t)``, the first step of the two runs
    matches only if

    .. math:: \\tilde v_0 = v_0 - \\frac{1 - \\alpha}{\\eta_0\\,\\alpha}\\,\\theta_0,
              \\qquad v_0 = 0 .

    Where it comes from: with momentum, weight decay shrinks the weights by a factor
    ``alpha`` per step only once the buffer has filled with the weight-decay pull; in the
    first step, with an empty buffer, it shrinks them by only ``1 - lr*weight_decay``,
    which is larger than ``alpha``. The ExpLR run, whose weights must stay ``alpha^(-t)``
    times the others, has no weight decay to imitate that: its buffer must carry the
    outward push ``((1 - lr*weight_decay) / alpha - 1) theta_0`` of the first step (the
    buffer is negative, and SGD steps against it). A zero buffer starts the ExpLR run with
    a slightly wrong weight norm, hence a different effective learning rate, and the two
    runs drift apart (the book's chapter plots it). Without momentum
    ``alpha = 1 - lr*weight_decay``, the buffer plays no role, and nothing is set.

    The formula follows from matching the two runs' first steps (derived in the book's
    chapter; Li & Arora, ICLR 2020, state the general initial conditions).

    Parameters
    ----------
    optimizer : torch.optim.SGD
        The ExpLR run's optimizer: ``weight_decay=0``, ``dampening=0``, ``nesterov=False``,
        the same momentum as the run with weight decay, no steps taken yet.
    lr : float
        The *base* run's first learning rate ``eta_0``.
    weight_decay : float
        The base run's weight decay lambda.

    Returns
    -------
    None
        The buffers are written into ``optimizer.state``.

    Examples
    --------
    >>> import torch
    >>> from lrlab.scale import set_explr_momentum_buffers
    >>> w = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    >>> opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> set_explr_momentum_buffers(opt, lr=0.1, weight_decay=1e-3)
    >>> round(opt.state[w]["momentum_buffer"][0].item(), 6)  # -(1 - alpha) / (lr alpha) w
    -0.010102
    """
    if not isinstance(optimizer, torch.optim.SGD):
        raise TypeError(f"optimizer must be a torch.optim.SGD, got {type(optimizer).__name__}")
    for group in optimizer.param_groups:
        if group["weight_decay"] != 0 or group["dampening"] != 0 or group["nesterov"]:
            raise ValueError(
                "optimizer must have weight_decay=0, dampening=0 and nesterov=False, got "
                f"weight_decay={group['weight_decay']}, dampening={group['dampening']}, "
                f"nesterov={group['nesterov']}"
            )
    for group in optimizer.param_groups:
        momentum = group["momentum"]
        if momentum == 0:
            continue
        alpha = explr_alpha(lr, weight_decay, momentum)
        coefficient = -(1.0 - alpha) / (lr * alpha)
        for p in group["params"]:
            if "momentum_buffer" in optimizer.state[p]:
                raise ValueError("optimizer must not have taken a step yet (it has a buffer)")
            optimizer.state[p]["momentum_buffer"] = coefficient * p.detach().clone()


def scale_invariance_residuals(
    model: nn.Module,
    loss_fn: Callable[[nn.Module], torch.Tensor],
    scales: Sequence[float] = (0.5, 2.0, 10.0),
) -> dict[str, dict]:
    """How far each parameter tensor is from making the loss scale-invariant.

    For a loss with ``L(c W) = L(W)`` in a parameter tensor ``W`` (all else fixed),
    ``<grad_W L, W> = 0`` and ``c grad_W L(c W) = grad_W L(W)`` (Li & Arora, ICLR 2020).
    This function measures both for every trained tensor, rescaling one tensor at a time,
    on a copy of ``model`` (the model itself is left untouched).

    Parameters
    ----------
    model : torch.nn.Module
        The network; use training mode for BatchNorm networks (batch statistics).
    loss_fn : callable
        ``loss_fn(model) -> scalar tensor``, e.g. ``lambda m: F.cross_entropy(m(x), y)``.
    scales : sequence of float
        The factors ``c > 0`` to try.

    Returns
    -------
    dict
        Parameter name -> ``{"inner": <grad, W>, "cosine": <grad, W> / (|grad| |W|),
        "grad_norm": |grad|, "residual": {c: |c grad(cW) - grad(W)|},
        "relative_residual": {c: residual / |grad|}}``.

    Examples
    --------
    >>> import torch
    >>> from lrlab.models.scale_invariant import scale_invariant_mlp
    >>> from lrlab.scale import scale_invariance_residuals
    >>> _ = torch.manual_seed(0)
    >>> model = scale_invariant_mlp(3, (5,), widths=(8,)).double()
    >>> x, y = torch.randn(32, 5, dtype=torch.float64), torch.randint(0, 3, (32,))
    >>> res = scale_invariance_residuals(
    ...     model, lambda m: torch.nn.functional.cross_entropy(m(x), y))
    >>> abs(res["1.weight"]["cosine"]) < 1e-12
    True
    """
    scales = tuple(float(c) for c in scales)
    if not scales or not all(math.isfinite(c) and c > 0 for c in scales):
        raise ValueError(f"scales must be a non-empty sequence of finite numbers > 0, got {scales}")
    if not callable(loss_fn):
        raise TypeError("loss_fn must be callable: loss_fn(model) -> scalar tensor")
    model = copy.deepcopy(model)
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("model must have at least one parameter with requires_grad=True")
    params = [p for _, p in named]

    def gradients() -> list[torch.Tensor]:
        return [g.detach() for g in torch.autograd.grad(loss_fn(model), params)]

    base = gradients()
    results: dict[str, dict] = {}
    for i, ((name, p), g) in enumerate(zip(named, base, strict=True)):
        grad_norm = float(g.norm())
        inner = float((g * p.detach()).sum())
        denominator = grad_norm * float(p.detach().norm())
        residual = {}
        for c in scales:
            original = p.detach().clone()
            with torch.no_grad():
                p.mul_(c)
            g_c = gradients()[i]
            with torch.no_grad():
                p.copy_(original)
            residual[c] = float((c * g_c - g).norm())
        results[name] = {
            "inner": inner,
            "cosine": inner / denominator if denominator > 0 else 0.0,
            "grad_norm": grad_norm,
            "residual": residual,
            "relative_residual": {
                c: r / grad_norm if grad_norm > 0 else r for c, r in residual.items()
            },
        }
    return results


def _as_base_schedule(lr_or_schedule: float | Callable) -> Callable:
    if callable(lr_or_schedule):
        return lr_or_schedule
    return constant(_check.number("lr", lr_or_schedule, low=0, low_open=True))


def _batches(n: int, batch_size: int | None, steps: int, seed: int) -> list[torch.Tensor | None]:
    """Per-step example indices (``None`` = the whole batch), the same for both runs."""
    if batch_size is None:
        return [None] * steps
    batch_size = _check.integer("batch_size", batch_size, minimum=1, maximum=n)
    generator = torch.Generator().manual_seed(int(seed))
    return [torch.randperm(n, generator=generator)[: int(batch_size)] for _ in range(steps)]


def _prepare(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"x and y must hold the same number (> 0) of examples, got {len(x)}, {len(y)}"
        )
    reference = _trainable(model)[0]
    model = copy.deepcopy(model).train()
    return model, x.to(reference.device, reference.dtype), y.to(reference.device)


def _sgd_step(model, optimizer, x, y, lr, grad_of=None) -> tuple[float, torch.Tensor, float]:
    """One SGD step at learning rate ``lr``.

    Returns the loss and logits before the step, and ``|grad L|`` over the tensors
    ``grad_of`` (NaN when not asked for).
    """
    for group in optimizer.param_groups:
        group["lr"] = float(lr)
    optimizer.zero_grad(set_to_none=True)
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    grad_norm = math.nan if grad_of is None else _norm([p.grad for p in grad_of])
    optimizer.step()
    return float(loss.detach()), logits.detach(), grad_norm


def sgd_trajectory(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    schedule: float | Callable,
    steps: int,
    *,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    batch_size: int | None = None,
    seed: int = 0,
) -> dict:
    """Train a copy of ``model`` with PyTorch's SGD (cross-entropy) and record its weight norm.

    For a scale-invariant loss and plain SGD, ``<grad L, theta> = 0`` makes the squared
    weight norm grow by exactly ``eta^2 |grad L|^2`` per step without weight decay, so
    the effective learning rate ``eta / |theta|^2`` of the weights' direction falls;
    weight decay pulls the norm back (Li & Arora, ICLR 2020).

    Parameters
    ----------
    model : torch.nn.Module
        Copied, not modified. Its parameters' dtype (e.g. float64) is used for ``x``.
    x, y : torch.Tensor
        Inputs and integer labels.
    schedule : float or callable
        A constant learning rate or a schedule ``s(step) -> lr``.
    steps : int
        Number of optimizer steps.
    weight_decay, momentum : float
        PyTorch SGD's ``weight_decay`` and ``momentum`` (applied to trained parameters).
    batch_size : int, optional
        Examples per step, drawn without replacement with ``seed``; all of them if None.
    seed : int
        Seed of the batch order.

    Returns
    -------
    dict
        ``"lr"``, ``"loss"``, ``"grad_norm"`` (of the loss, without weight decay) and
        ``"effective_lr"`` (``lr / |theta_t|^2``) per step (length ``steps``);
        ``"weight_norm"``: ``|theta_t|`` of the trained parameters for ``t = 0..steps``;
        ``"model"``: the trained copy.

    Examples
    --------
    >>> import torch
    >>> from lrlab.models.scale_invariant import scale_invariant_mlp
    >>> from lrlab.scale import sgd_trajectory
    >>> _ = torch.manual_seed(0)
    >>> x, y = torch.randn(64, 5), torch.randint(0, 3, (64,))
    >>> run = sgd_trajectory(scale_invariant_mlp(3, (5,), widths=(8,)), x, y, 0.5, 20)
    >>> bool(run["weight_norm"][-1] > run["weight_norm"][0])  # no weight decay: it grows
    True
    """
    steps = _check.integer("steps", steps, minimum=1)
    weight_decay = _check.number("weight_decay", weight_decay, low=0)
    momentum = _check.number("momentum", momentum, 0, 1, high_open=True)
    rates = rates_of(_as_base_schedule(schedule), steps)
    model, x, y = _prepare(model, x, y)
    batches = _batches(len(x), batch_size, steps, seed)
    params = _trainable(model)
    optimizer = torch.optim.SGD(params, lr=rates[0], momentum=momentum, weight_decay=weight_decay)
    loss, grad_norm, weight_norm = np.empty(steps), np.empty(steps), np.empty(steps + 1)
    for t in range(steps):
        weight_norm[t] = _norm(params)
        idx = batches[t]
        xb, yb = (x, y) if idx is None else (x[idx], y[idx])
        loss[t], _, grad_norm[t] = _sgd_step(model, optimizer, xb, yb, rates[t], params)
    weight_norm[steps] = _norm(params)
    return {
        "lr": rates,
        "loss": loss,
        "grad_norm": grad_norm,
        "weight_norm": weight_norm,
        "effective_lr": rates / weight_norm[:-1] ** 2,
        "model": model,
    }


def _compare(params_a, params_b) -> tuple[float, float, float]:
    """``|theta_a/|theta_a| - theta_b/|theta_b||``, ``|theta_a|`` and ``|theta_b|``."""
    flat_a, flat_b = _flat(params_a), _flat(params_b)
    norm_a, norm_b = flat_a.norm(), flat_b.norm()
    return float((flat_a / norm_a - flat_b / norm_b).norm()), float(norm_a), float(norm_b)


def _relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / a.norm())


def explr_pair(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    schedule: float | Callable,
    weight_decay: float,
    momentum: float = 0.0,
    steps: int = 1000,
    *,
    explr: str | Callable = "exact",
    init_buffers: bool = True,
    batch_size: int | None = None,
    seed: int = 0,
) -> dict:
    """Train two copies side by side: weight decay + base schedule vs ExpLR, no weight decay.

    Copy A runs PyTorch's SGD with ``weight_decay`` and the base ``schedule``; copy B runs
    SGD with the same momentum, no weight decay, the equivalent schedule, and (with
    ``init_buffers=True``) the initial momentum buffer of :func:`set_explr_momentum_buffers`.
    Both see the same batches. On a scale-invariant network the two compute the same
    function at every step (Li & Arora, ICLR 2020): in float64 their outputs agree to
    about 1e-12, and B's weights are A's times ``s_t`` (``alpha^(-t)`` for a constant rate).

    Parameters
    ----------
    model : torch.nn.Module
        Copied twice, not modified; the dtype of its parameters is used for ``x``.
    x, y : torch.Tensor
        Inputs and integer labels (the full batch, or the pool ``batch_size`` draws from).
    schedule : float or callable
        A's learning rate: a constant or a schedule ``s(step) -> lr``.
    weight_decay : float
        A's weight decay lambda.
    momentum : float
        Momentum gamma of both runs.
    steps : int
        Number of optimizer steps.
    explr : {"exact", "texp"} or callable
        B's schedule: :func:`explr_from_schedule` (:func:`explr_schedule` for a constant
        rate), :func:`texp`, or any schedule to try.
    init_buffers : bool
        Set B's initial momentum buffer (:func:`set_explr_momentum_buffers`); ``False``
        starts it empty, as PyTorch does, which breaks exactness.
    batch_size : int, optional
        Examples per step (the same draw for both copies); the full batch if None.
    seed : int
        Seed of the batch order.

    Returns
    -------
    dict
        Per step ``t = 0..steps-1``: ``"lr_base"``, ``"lr_explr"``, ``"loss_base"``,
        ``"loss_explr"``. For ``t = 0..steps``: ``"output_diff"``, the relative difference
        ``|f_A - f_B| / |f_A|`` of the logits (on the step's batch; on all of ``x`` at the
        end); ``"weight_diff"``, ``|theta_A/|theta_A| - theta_B/|theta_B||``;
        ``"norm_base"``, ``"norm_explr"``, the weight norms. ``"models"``: (A, B).

    Examples
    --------
    >>> import torch
    >>> from lrlab.models.scale_invariant import scale_invariant_mlp
    >>> from lrlab.scale import explr_pair
    >>> _ = torch.manual_seed(0)
    >>> model = scale_invariant_mlp(3, (5,), widths=(8,)).double()
    >>> x, y = torch.randn(64, 5), torch.randint(0, 3, (64,))
    >>> pair = explr_pair(model, x, y, 0.1, weight_decay=0.01, momentum=0.9, steps=50)
    >>> bool(pair["output_diff"].max() < 1e-10)
    True
    """
    steps = _check.integer("steps", steps, minimum=1)
    weight_decay = _check.number("weight_decay", weight_decay, low=0)
    momentum = _check.number("momentum", momentum, 0, 1, high_open=True)
    base = _as_base_schedule(schedule)
    rates = rates_of(base, steps)
    if callable(explr):
        target = explr
    elif explr == "exact" and not callable(schedule):
        target = explr_schedule(rates[0], weight_decay, momentum)
    elif explr == "exact":
        target = explr_from_schedule(base, weight_decay, momentum, steps)
    elif explr == "texp":
        target = texp(base, weight_decay, momentum, steps)
    else:
        raise ValueError(f"explr must be 'exact', 'texp' or a schedule, got {explr!r}")
    explr_rates = rates_of(target, steps)

    model_a, x, y = _prepare(model, x, y)
    model_b = copy.deepcopy(model_a)
    params_a, params_b = _trainable(model_a), _trainable(model_b)
    opt_a = torch.optim.SGD(params_a, lr=rates[0], momentum=momentum, weight_decay=weight_decay)
    opt_b = torch.optim.SGD(params_b, lr=explr_rates[0], momentum=momentum)
    if init_buffers:
        set_explr_momentum_buffers(opt_b, rates[0], weight_decay)
    batches = _batches(len(x), batch_size, steps, seed)

    record = {
        key: np.empty(steps + 1)
        for key in ("output_diff", "weight_diff", "norm_base", "norm_explr")
    }
    loss_a, loss_b = np.empty(steps), np.empty(steps)
    for t in range(steps):
        record["weight_diff"][t], record["norm_base"][t], record["norm_explr"][t] = _compare(
            params_a, params_b
        )
        idx = batches[t]
        xb, yb = (x, y) if idx is None else (x[idx], y[idx])
        loss_a[t], logits_a, _ = _sgd_step(model_a, opt_a, xb, yb, rates[t])
        loss_b[t], logits_b, _ = _sgd_step(model_b, opt_b, xb, yb, explr_rates[t])
        record["output_diff"][t] = _relative_difference(logits_a, logits_b)
    with torch.no_grad():
        record["output_diff"][steps] = _relative_difference(model_a(x), model_b(x))
    record["weight_diff"][steps], record["norm_base"][steps], record["norm_explr"][steps] = (
        _compare(params_a, params_b)
    )
    return {
        "lr_base": rates,
        "lr_explr": explr_rates,
        "loss_base": loss_a,
        "loss_explr": loss_b,
        **record,
        "models": (model_a, model_b),
    }
