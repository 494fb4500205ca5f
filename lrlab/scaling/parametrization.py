"""The maximal-update parametrization (μP): per-layer rates that let the best learning rate
carry over from a narrow network to a wide one.

Yang et al. (2021, *Tensor Programs V: Tuning Large Neural Networks via Zero-Shot
Hyperparameter Transfer*) scale each layer's initialisation and learning rate with the
width so that every layer's activations change by Θ(1) per step, at any width. In Table 3
the rules are written with fan-in and fan-out; the ``mup`` package implements the
equivalent form of their Table 8, relative to a *base* network of width ``base_width``:
with the width multiplier ``m = width / base_width``,

==================  ===========  ==============  ===================
layer               init (× SP)  SGD rate (× η)  Adam rate (× η)
==================  ===========  ==============  ===================
input weight, bias  1            m               1
hidden weight       1            1               1/m
hidden bias         √m           m               1
output weight       √m           m               1
output bias         √m           1               1
==================  ===========  ==============  ===================

and a readout that divides its input by m (:class:`lrlab.models.small.ScaledReadout`),
so that the effective output weights have variance ∝ 1/width² and, under SGD, a rate
∝ 1/width, as in Table 3. Weight decay is scaled by the inverse of the rate's factor (as
``MuSGD``/``MuAdam`` scale it). :func:`lrlab.models.build` ``("mlp", ...,
parametrization="mup", base_width=...)`` applies the initialisation; :func:`mup_param_groups`
gives the rates; at ``width == base_width`` both are the standard network's.
"""

from __future__ import annotations

from torch import nn

from lrlab import _check
from lrlab.models.small import ScaledReadout

__all__ = ["ROLES", "mup_param_groups", "mup_scales"]

#: The kinds of parameter of an MLP that μP treats differently, in network order.
ROLES = (
    "input_weight",
    "input_bias",
    "hidden_weight",
    "hidden_bias",
    "output_weight",
    "output_bias",
)
_OPTIMIZERS = ("sgd", "adam", "adamw")


def mup_scales(width_mult: float, optimizer: str = "sgd") -> dict[str, dict[str, float]]:
    """μP's multipliers per kind of parameter, relative to the standard network at base width.

    The table of this module's docstring (Yang et al. 2021, Table 8; the ``mup`` package's
    ``set_base_shapes`` with ``MuSGD`` or ``MuAdam``).

    Parameters
    ----------
    width_mult : float
        ``m = width / base_width``, > 0.
    optimizer : {"sgd", "adam", "adamw"}
        SGD-like (rates scale with the gradient) or Adam-like (entrywise normalised).

    Returns
    -------
    dict
        ``{role: {"init": ..., "lr": ..., "weight_decay": ...}}`` for every role of
        :data:`ROLES`: the factors applied to PyTorch's default initialisation, to the
        base rate η and to the weight decay.

    Examples
    --------
    >>> scales = mup_scales(4.0, "sgd")
    >>> scales["input_weight"]["lr"], scales["hidden_weight"]["lr"], scales["output_bias"]["init"]
    (4.0, 1.0, 2.0)
    >>> mup_scales(4.0, "adam")["hidden_weight"]
    {'init': 1.0, 'lr': 0.25, 'weight_decay': 4.0}
    """
    m = _check.number("width_mult", width_mult, low=0, low_open=True)
    _check.choice("optimizer", optimizer, _OPTIMIZERS)
    root = m**0.5
    init = {"hidden_bias": root, "output_weight": root, "output_bias": root}
    if optimizer == "sgd":  # vector-like parameters (one width dimension) get m
        lr = dict.fromkeys(("input_weight", "input_bias", "hidden_bias", "output_weight"), m)
    else:  # Adam: matrix-like parameters (two width dimensions) get 1/m
        lr = {"hidden_weight": 1.0 / m}
    return {
        role: {
            "init": init.get(role, 1.0),
            "lr": lr.get(role, 1.0),
            "weight_decay": 1.0 / lr.get(role, 1.0),
        }
        for role in ROLES
    }


def _roles(model: nn.Module) -> tuple[dict[str, list[nn.Parameter]], ScaledReadout, int]:
    """Each μP role's parameters in a μP MLP, its readout, and its hidden width."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    others = [
        m
        for m in model.modules()
        if not isinstance(m, nn.Linear) and any(True for _ in m.parameters(recurse=False))
    ]
    if len(linears) < 2 or others or not isinstance(linears[-1], ScaledReadout):
        raise ValueError(
            "model must be a μP MLP (lrlab.models.build('mlp', ..., parametrization='mup')): "
            "Linear layers only, the last a ScaledReadout"
        )
    width = linears[0].out_features
    if any(layer.in_features != width for layer in linears[1:]):
        raise ValueError("model must have hidden layers of one width")
    roles: dict[str, list[nn.Parameter]] = {role: [] for role in ROLES}
    for i, layer in enumerate(linears):
        kind = "input" if i == 0 else "output" if i == len(linears) - 1 else "hidden"
        roles[f"{kind}_weight"].append(layer.weight)
        if layer.bias is not None:
            roles[f"{kind}_bias"].append(layer.bias)
    return roles, linears[-1], width


def mup_param_groups(
    model: nn.Module,
    base_width: int,
    optimizer: str = "sgd",
    lr: float = 0.1,
    weight_decay: float = 0.0,
) -> list[dict]:
    """μP's per-layer learning rates: parameter groups for ``torch.optim.SGD`` or ``Adam``.

    One group per kind of parameter (:data:`ROLES`) with rate ``lr × mup_scales(m)[role]
    ["lr"]`` and weight decay scaled likewise, ``m = width / base_width``: the rates of the
    ``mup`` package's ``MuSGD`` / ``MuAdam`` after ``set_base_shapes`` with a base network
    ``base_width`` wide (Yang et al. 2021, Tables 3 and 8). Each group also holds its factor
    as ``"lr_scale"``, so that :func:`lrlab.train.fit` (and every loop built on
    :func:`lrlab.step.prepare`) gives it the schedule's rate times that factor, and its
    ``"role"``.

    Parameters
    ----------
    model : torch.nn.Module
        A μP MLP built with the same ``base_width``
        (``models.build("mlp", ..., width=..., parametrization="mup", base_width=...)``).
    base_width : int
        The width at which the rates are the standard ones, >= 1.
    optimizer : {"sgd", "adam", "adamw"}
        The optimizer the groups are for.
    lr : float
        The base rate η, > 0 (what the schedule sets, at the base width).
    weight_decay : float
        The base weight decay, >= 0.

    Returns
    -------
    list of dict
        ``{"params", "lr", "lr_scale", "weight_decay", "role"}`` for each role the model has.

    Examples
    --------
    >>> import torch
    >>> from lrlab import models
    >>> net = models.build("mlp", 10, (64,), width=256, parametrization="mup", base_width=64)
    >>> groups = mup_param_groups(net, 64, "sgd", lr=0.1)
    >>> [(g["role"], g["lr_scale"]) for g in groups][:3]
    [('input_weight', 4.0), ('input_bias', 4.0), ('hidden_weight', 1.0)]
    >>> opt = torch.optim.SGD(groups, lr=0.1)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    base_width = _check.integer("base_width", base_width, minimum=1)
    _check.choice("optimizer", optimizer, _OPTIMIZERS)
    lr = _check.number("lr", lr, low=0, low_open=True)
    weight_decay = _check.number("weight_decay", weight_decay, low=0)
    roles, readout, width = _roles(model)
    m = width / base_width
    if readout.width_mult != m:
        raise ValueError(
            f"base_width must be the model's: its readout divides by {readout.width_mult:g}, "
            f"not width / base_width = {width} / {base_width}"
        )
    scales = mup_scales(m, optimizer)
    return [
        {
            "params": params,
            "lr": lr * scales[role]["lr"],
            "lr_scale": scales[role]["lr"],
            "weight_decay": weight_decay * scales[role]["weight_decay"],
            "role": role,
        }
        for role, params in roles.items()
        if params
    ]
