"""Networks in the neural-tangent-kernel parametrisation, whose sharpness at initialisation
stays of order one as they widen: the setting of the catapult phase (Lewkowycz et al. 2020).

``"two_layer_relu"`` is :class:`TwoLayerReLU`, f(x) = V relu(U x/√d)/√n, with U and V drawn
from N(0, 1); its closed-form linear cousin is :func:`lrlab.dynamics.catapult_gd`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lrlab import _check

__all__ = ["BUILDERS", "TwoLayerReLU", "two_layer_relu"]


class TwoLayerReLU(nn.Module):
    """f(x) = V relu(U x/√d)/√n in the NTK parametrisation, U and V drawn from N(0, 1).

    With this scaling the tangent kernel, and so the sharpness at initialisation, stays of
    order one as the width n grows, as in the catapult model (Lewkowycz et al., 2020, §3).

    Examples
    --------
    >>> net = TwoLayerReLU(40, 512, 2)
    >>> net(torch.randn(8, 40)).shape
    torch.Size([8, 2])
    """

    def __init__(self, input_dim: int, width: int, outputs: int = 1):
        super().__init__()
        self.input_dim = _check.integer("input_dim", input_dim, minimum=1)
        self.width = _check.integer("width", width, minimum=1)
        outputs = _check.integer("outputs", outputs, minimum=1)
        self.hidden = nn.Parameter(torch.randn(self.width, self.input_dim))
        self.readout = nn.Parameter(torch.randn(outputs, self.width))
        self.activation = nn.ReLU()  # a module, so that lrlab.stability.dead_units sees it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        features = self.activation(x @ self.hidden.T / self.input_dim**0.5)
        return features @ self.readout.T / self.width**0.5


def two_layer_relu(num_classes: int, input_shape, width: int = 1024) -> TwoLayerReLU:
    """A :class:`TwoLayerReLU` of ``width`` hidden units for inputs of ``input_shape``.

    Examples
    --------
    >>> two_layer_relu(2, (1, 8, 8), width=64).hidden.shape
    torch.Size([64, 64])
    """
    return TwoLayerReLU(math.prod(input_shape), width, num_classes)


BUILDERS = {"two_layer_relu": two_layer_relu}
