"""Dead ReLU units: hidden units whose output is zero on every example of a batch.

A ReLU unit whose pre-activation is negative on every input passes no gradient to the
weights that feed it, so gradient descent on that data can never switch it on again: it is
*dead*. A step that is too large can push many units there at once: in the catapult phase
of wide ReLU networks the activations grow sparser as the rate grows (Meltzer, Chen & Liu
2023, "Catapult dynamics and phase transitions in quadratic nets"). :func:`dead_units`
counts them.
"""

from __future__ import annotations

import torch
from torch import nn

from lrlab.stability.probes import check_probe

__all__ = ["dead_units"]


def dead_units(model: nn.Module, inputs: torch.Tensor) -> dict[str, float]:
    """The fraction of each ReLU layer's units that are zero on every input.

    Every ``nn.ReLU`` module of ``model`` is watched during one forward pass over
    ``inputs`` (in evaluation mode, without gradients; every module's mode is restored). A
    unit is a feature of the ReLU's output along dimension 1 (a neuron of an MLP, a channel
    of a convolution, all its positions together); it is dead when its output is 0 for every
    example (and position).

    Parameters
    ----------
    model : torch.nn.Module
        A network whose ReLUs are ``nn.ReLU`` modules (a functional ``relu`` is not seen).
    inputs : torch.Tensor
        The batch, at least one example.

    Returns
    -------
    dict
        ReLU module name (as in ``model.named_modules()``) -> fraction of its units dead,
        in [0, 1].

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.zero_()
    ...     _ = net[0].bias.copy_(torch.tensor([1.0, -1.0, -2.0, 3.0]))
    >>> dead_units(net, torch.randn(5, 2))
    {'1': 0.5}
    """
    check_probe(inputs)
    relus = {name: m for name, m in model.named_modules() if isinstance(m, nn.ReLU)}
    if not relus:
        raise ValueError("model must have at least one nn.ReLU module, found none")
    alive: dict[str, torch.Tensor] = {}

    def watch(name):
        def hook(module, args, output):
            per_unit = output.detach().transpose(0, 1).reshape(output.shape[1], -1)
            alive[name] = (per_unit > 0).any(dim=1)

        return hook

    modes = [(m, m.training) for m in model.modules()]
    handles = [m.register_forward_hook(watch(name)) for name, m in relus.items()]
    try:
        model.eval()
        with torch.no_grad():
            model(inputs)
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in modes:
            module.training = mode
    return {name: float(1.0 - alive[name].double().mean()) for name in relus if name in alive}
