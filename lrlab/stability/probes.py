"""Probing a network on a fixed batch: its layers, their activations and backward signals,
and every stability metric between the states before and after one optimizer step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lrlab.stability.metrics import (
    layer_progress,
    loss_wasserstein,
    prediction_kl,
    relative_change,
    relative_update,
)

__all__ = ["ProbeState", "activations", "compare", "layers", "one_step", "probe"]

#: Metrics :func:`compare` returns with one value per layer (the others are one number).
LAYER_METRICS = ("activation_drift", "backward_drift", "update_size", "layer_progress")


def layers(model: nn.Module) -> dict[str, nn.Module]:
    """The modules of ``model`` that own parameters themselves, in definition order.

    Examples
    --------
    >>> list(layers(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))))
    ['0', '2']
    """
    found = {
        name: module
        for name, module in model.named_modules()
        if any(True for _ in module.parameters(recurse=False))
    }
    if not found:
        raise ValueError("model must have at least one module with parameters, found none")
    return found


def check_probe(inputs, targets=None) -> None:
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"probe inputs must be a tensor, got {type(inputs).__name__}")
    if inputs.ndim == 0 or inputs.shape[0] == 0:
        raise ValueError(
            f"probe inputs must hold at least one example, got shape {tuple(inputs.shape)}"
        )
    if targets is not None:
        if not isinstance(targets, torch.Tensor):
            raise TypeError(f"probe targets must be a tensor, got {type(targets).__name__}")
        if targets.shape[:1] != inputs.shape[:1]:
            raise ValueError(
                f"probe targets must have one label per input ({inputs.shape[0]}), "
                f"got shape {tuple(targets.shape)}"
            )


class _EvalMode:
    """Evaluation mode inside the block; every module's own mode restored afterwards."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self):
        self.modes = [(m, m.training) for m in self.model.modules()]
        self.model.eval()

    def __exit__(self, *exc):
        for module, mode in self.modes:
            module.training = mode


def _full_precision(logits: torch.Tensor) -> torch.Tensor:
    """Logits of a half-precision model in float32; float32 and float64 ones as they are."""
    return logits if logits.dtype in (torch.float32, torch.float64) else logits.float()


def _forward_recording(model, inputs, chosen: Mapping[str, nn.Module]):
    """Run the model with forward hooks on ``chosen``; return (output, {name: layer output})."""
    outputs: dict[str, torch.Tensor] = {}

    def hook_for(name):
        def hook(_module, _args, output):
            if isinstance(output, torch.Tensor):
                outputs[name] = output

        return hook

    handles = [module.register_forward_hook(hook_for(name)) for name, module in chosen.items()]
    try:
        result = model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return result, outputs


def activations(
    model: nn.Module, inputs: torch.Tensor, layer_names: Iterable[str] | None = None
) -> dict[str, torch.Tensor]:
    """Each layer's output on ``inputs`` (evaluation mode, no gradients, hooks removed).

    Parameters
    ----------
    model : torch.nn.Module
    inputs : torch.Tensor
        A batch, ``(n, *input_shape)`` with ``n >= 1``.
    layer_names : iterable of str, optional
        Which layers (default: every module with parameters, see :func:`layers`).

    Returns
    -------
    dict of str to torch.Tensor
        Detached outputs, in the order the modules are defined.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> {k: tuple(v.shape) for k, v in activations(net, torch.zeros(5, 2)).items()}
    {'0': (5, 3), '2': (5, 1)}
    """
    check_probe(inputs)
    chosen = _select(model, layer_names)
    with _EvalMode(model), torch.no_grad():
        _, outputs = _forward_recording(model, inputs, chosen)
    return {name: outputs[name].detach() for name in chosen if name in outputs}


def _select(model, layer_names) -> dict[str, nn.Module]:
    found = layers(model)
    if layer_names is None:
        return found
    names = list(layer_names)
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ValueError(f"layer_names must be among {list(found)}, got unknown {unknown}")
    return {n: found[n] for n in names}


@dataclass
class ProbeState:
    """What a network computes on the probe batch at one parameter state (see :func:`probe`).

    Attributes
    ----------
    activations, backward : dict of str to torch.Tensor
        Each layer's output and the gradient of the mean probe loss with respect to it.
    logits : torch.Tensor
        The network's outputs, ``(n, classes)``.
    losses : torch.Tensor
        Per-example cross-entropy, ``(n,)``.
    params, param_grads : dict of str to torch.Tensor
        Each layer's own parameters and the gradient of the mean probe loss with respect
        to them, flattened into one vector per layer.
    """

    activations: dict[str, torch.Tensor]
    backward: dict[str, torch.Tensor]
    logits: torch.Tensor
    losses: torch.Tensor
    params: dict[str, torch.Tensor]
    param_grads: dict[str, torch.Tensor]


def probe(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> ProbeState:
    """One forward and backward pass on the probe batch, recording every layer.

    The gradients come from :func:`torch.autograd.grad`, so the parameters' ``.grad``
    (which :class:`StabilityTracker` reads) is left alone. Evaluation mode; modes restored.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> state = probe(net, torch.randn(4, 2), torch.tensor([0, 1, 1, 0]))
    >>> tuple(state.backward["2"].shape), tuple(state.losses.shape)
    ((4, 2), (4,))
    """
    check_probe(inputs, targets)
    chosen = layers(model)
    own = {
        name: [p for p in m.parameters(recurse=False) if p.requires_grad]
        for name, m in chosen.items()
    }
    with _EvalMode(model), torch.enable_grad():
        logits, outputs = _forward_recording(model, inputs, chosen)
        losses = F.cross_entropy(_full_precision(logits), targets, reduction="none")
        names = [n for n in chosen if n in outputs and outputs[n].requires_grad]
        flat_params = [p for n in chosen for p in own[n]]
        grads = torch.autograd.grad(
            losses.mean(), [outputs[n] for n in names] + flat_params, allow_unused=True
        )
    backward = dict(zip(names, grads[: len(names)], strict=True))
    param_grads, params, i = {}, {}, len(names)
    for name in chosen:
        ps = own[name]
        gs = [
            g if g is not None else torch.zeros_like(p)
            for p, g in zip(ps, grads[i : i + len(ps)], strict=True)
        ]
        i += len(ps)
        if ps:
            params[name] = torch.cat([p.detach().reshape(-1) for p in ps]).clone()
            param_grads[name] = torch.cat([g.reshape(-1) for g in gs])
    return ProbeState(
        activations={n: outputs[n].detach() for n in chosen if n in outputs},
        backward={n: g.detach() for n, g in backward.items()},
        logits=logits.detach(),
        losses=losses.detach(),
        params=params,
        param_grads=param_grads,
    )


def compare(before: ProbeState, after: ProbeState) -> dict:
    """Every stability metric between two probe states (all but the gradient cosine).

    Returns
    -------
    dict
        ``activation_drift``, ``backward_drift``, ``update_size`` and ``layer_progress``
        (dicts of layer name to float, see :data:`LAYER_METRICS`), ``prediction_kl``,
        ``loss_w1`` and ``loss_change`` (mean probe loss after minus before).

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 2))
    >>> x, y = torch.randn(3, 2), torch.tensor([0, 1, 0])
    >>> s = probe(net, x, y)
    >>> compare(s, s)["prediction_kl"]
    0.0
    """
    return {
        "activation_drift": {
            n: relative_change(a, after.activations[n]) for n, a in before.activations.items()
        },
        "backward_drift": {
            n: relative_change(g, after.backward[n]) for n, g in before.backward.items()
        },
        "update_size": relative_update(before.params, after.params),
        "layer_progress": layer_progress(before.param_grads, before.params, after.params),
        "prediction_kl": prediction_kl(before.logits, after.logits),
        "loss_w1": loss_wasserstein(before.losses, after.losses),
        "loss_change": float(after.losses.double().mean() - before.losses.double().mean()),
    }


def one_step(
    model: nn.Module,
    probe_inputs: torch.Tensor,
    probe_targets: torch.Tensor,
    batch_inputs: torch.Tensor,
    batch_targets: torch.Tensor,
    lr: float,
) -> dict:
    r"""The metrics of one plain SGD step :math:`\theta' = \theta - \eta\nabla L_B(\theta)`.

    The gradient is the mean cross-entropy gradient on the batch (in the model's current
    mode); the step is taken on the model, measured with :func:`compare` on the probe
    batch, and undone: the model ends with exactly its parameters and ``.grad``.

    Examples
    --------
    >>> net = nn.Linear(3, 2)
    >>> x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    >>> w = net.weight.clone()
    >>> _ = one_step(net, x, y, x, y, lr=0.5)
    >>> torch.equal(w, net.weight)
    True
    """
    check_probe(probe_inputs, probe_targets)
    check_probe(batch_inputs, batch_targets)
    if not (isinstance(lr, (int, float, np.floating, np.integer)) and np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    loss = F.cross_entropy(_full_precision(model(batch_inputs)), batch_targets)
    grads = torch.autograd.grad(loss, params)
    before = probe(model, probe_inputs, probe_targets)
    saved = [p.detach().clone() for p in params]
    try:
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p.sub_(float(lr) * g)
        after = probe(model, probe_inputs, probe_targets)
    finally:
        with torch.no_grad():
            for p, s in zip(params, saved, strict=True):
                p.copy_(s)
    return compare(before, after)
