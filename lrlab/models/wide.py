"""Wide residual networks for 32×32 images (Zagoruyko & Komodakis 2016, "Wide Residual Networks").

``"wrn28_10"`` is WRN-28-10, the network SGDR (Loshchilov & Hutter 2017) trains on
CIFAR-10/100: depth ``6n + 4 = 28`` (``n = 4`` blocks per stage), widening factor 10, so
stages of 160, 320 and 640 channels after a 16-channel 3×3 stem. Blocks are
pre-activation (BN-ReLU-conv, twice, He et al. 2016b); a shortcut that changes shape is a
1×1 convolution on the activated input. Dropout is off (as in SGDR's runs). The paper
reports 36.5M parameters for WRN-28-10.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lrlab import _check

__all__ = ["BUILDERS", "wide_resnet", "wrn28_10"]


class _WideBlock(nn.Module):
    def __init__(self, fan_in: int, fan_out: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(fan_in)
        self.conv1 = nn.Conv2d(fan_in, fan_out, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(fan_out)
        self.conv2 = nn.Conv2d(fan_out, fan_out, 3, 1, padding=1, bias=False)
        self.shortcut = (
            nn.Conv2d(fan_in, fan_out, 1, stride, bias=False)
            if stride != 1 or fan_in != fan_out
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(activated))))
        return out + (x if self.shortcut is None else self.shortcut(activated))


def wide_resnet(depth: int, widen: int, num_classes: int, input_shape=(3, 32, 32)) -> nn.Module:
    """WRN-``depth``-``widen``: three stages of ``(depth - 4) / 6`` pre-activation blocks.

    Parameters
    ----------
    depth : int
        ``6n + 4`` with ``n >= 1`` (16, 22, 28, 40 ...).
    widen : int
        Widening factor k: stages of 16k, 32k and 64k channels, k >= 1.
    num_classes : int
    input_shape : tuple of int
        ``(channels, height, width)``.

    Examples
    --------
    >>> wide_resnet(10, 1, 10)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
        raise ValueError(f"depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, ...), got {depth!r}")
    widen = _check.integer("widen", widen, minimum=1)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), got {input_shape}")
    blocks = (depth - 4) // 6
    widths = (16 * widen, 32 * widen, 64 * widen)
    layers: list[nn.Module] = [nn.Conv2d(input_shape[0], 16, 3, padding=1, bias=False)]
    fan_in = 16
    for i, width in enumerate(widths):
        for j in range(blocks):
            layers.append(_WideBlock(fan_in, width, 2 if (i > 0 and j == 0) else 1))
            fan_in = width
    layers += [
        nn.BatchNorm2d(fan_in),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(fan_in, num_classes),
    ]
    net = nn.Sequential(*layers)
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    return net


def wrn28_10(num_classes: int, input_shape=(3, 32, 32)) -> nn.Module:
    """WRN-28-10 (36,479,194 parameters for 10 classes)."""
    return wide_resnet(28, 10, num_classes, input_shape)


BUILDERS = {"wrn28_10": wrn28_10}
