"""Residual networks for 32×32 images (He et al. 2016, "Deep Residual Learning").

Two families:

- ``"resnet18"``: the ImageNet ResNet-18 layout (four stages of two basic blocks,
  64–512 channels) adapted to CIFAR the usual way: a 3×3 stride-1 stem convolution and
  no max-pool, so the 32×32 input keeps its resolution in the first stage. Shortcuts that
  change shape are 1×1 convolutions with BatchNorm (He et al.'s option B).
- ``"resnet20"``, ``"resnet56"``, ``"resnet110"``: the CIFAR networks of He et al.
  (section 4.2): depth ``6n + 2``, a 3×3 stem with 16 channels, three stages of ``n``
  basic blocks with 16, 32 and 64 channels (the first block of stages 2 and 3 halves the
  resolution), global average pooling and a linear layer. Shortcuts that change shape
  subsample by 2 and pad the new channels with zeros (option A, no parameters), as in the
  paper; it reports 0.27M, 0.85M and 1.7M parameters for these depths.

Convolutions have no bias (BatchNorm follows them) and use He (fan-out) initialisation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lrlab import _check

__all__ = [
    "BUILDERS",
    "BasicBlock",
    "cifar_resnet",
    "resnet18",
    "resnet20",
    "resnet56",
    "resnet110",
]


class _ZeroPadShortcut(nn.Module):
    """Option-A shortcut: take every other pixel and zero-pad the extra channels."""

    def __init__(self, extra_channels: int):
        super().__init__()
        self.extra = extra_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::2, ::2]
        half = self.extra // 2
        return F.pad(x, (0, 0, 0, 0, half, self.extra - half))


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers with a shortcut: ``relu(bn(conv(relu(bn(conv(x))))) + s(x))``.

    Parameters
    ----------
    fan_in, fan_out : int
        Channels in and out.
    stride : int
        Stride of the first convolution (1 or 2).
    shortcut : {"A", "B"}
        When the shape changes: zero padding ("A") or a 1×1 convolution with BatchNorm
        ("B"). Otherwise the shortcut is the identity.
    """

    def __init__(self, fan_in: int, fan_out: int, stride: int = 1, shortcut: str = "B"):
        super().__init__()
        if shortcut not in ("A", "B"):
            raise ValueError(f"shortcut must be 'A' or 'B', got {shortcut!r}")
        self.conv1 = nn.Conv2d(fan_in, fan_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(fan_out)
        self.conv2 = nn.Conv2d(fan_out, fan_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(fan_out)
        if stride == 1 and fan_in == fan_out:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "A":
            self.shortcut = _ZeroPadShortcut(fan_out - fan_in)
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(fan_in, fan_out, 1, stride=stride, bias=False), nn.BatchNorm2d(fan_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class _ResNet(nn.Module):
    def __init__(self, in_channels: int, widths, blocks, num_classes: int, shortcut: str):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        stages, fan_in = [], widths[0]
        for i, (width, count) in enumerate(zip(widths, blocks, strict=True)):
            stride = 1 if i == 0 else 2
            layers = [BasicBlock(fan_in, width, stride, shortcut)]
            layers += [BasicBlock(width, width, 1, shortcut) for _ in range(count - 1)]
            stages.append(nn.Sequential(*layers))
            fan_in = width
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(fan_in, num_classes)
        )
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def _channels(input_shape) -> int:
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), got {input_shape}")
    return int(input_shape[0])


def resnet18(num_classes: int, input_shape=(3, 32, 32), width: int = 64) -> nn.Module:
    """CIFAR ResNet-18: 3×3 stem, no max-pool, stages of 2 blocks with widths ×1, 2, 4, 8.

    Parameter count with ``width=64`` and 3 input channels: 11,173,962 for 10 classes
    and 11,220,132 for 100 classes.

    Parameters
    ----------
    num_classes : int
        Output logits.
    input_shape : tuple of int
        ``(channels, height, width)``; any size (global average pooling), 32×32 intended.
    width : int
        Channels of the stem and first stage.

    Examples
    --------
    >>> import torch
    >>> resnet18(10, (3, 32, 32))(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    width = _check.integer("width", width, minimum=1)
    widths = (width, 2 * width, 4 * width, 8 * width)
    return _ResNet(_channels(input_shape), widths, (2, 2, 2, 2), num_classes, shortcut="B")


def cifar_resnet(depth: int, num_classes: int, input_shape=(3, 32, 32)) -> nn.Module:
    """He et al.'s CIFAR ResNet of depth ``6n + 2`` (16/32/64 channels, option-A shortcuts).

    Parameters
    ----------
    depth : int
        ``6n + 2`` with ``n >= 1``: 20, 32, 44, 56, 110, ...
    num_classes : int
        Output logits.
    input_shape : tuple of int
        ``(channels, height, width)``.

    Examples
    --------
    >>> net = cifar_resnet(20, 10)
    >>> sum(p.numel() for p in net.parameters())
    269722
    """
    depth = _check.integer("depth", depth)
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (20, 56, 110, ...), got {depth!r}")
    n = (depth - 2) // 6
    return _ResNet(_channels(input_shape), (16, 32, 64), (n, n, n), num_classes, shortcut="A")


def resnet20(num_classes: int, input_shape=(3, 32, 32)) -> nn.Module:
    """ResNet-20 (n = 3): 269,722 parameters for 10 classes (paper: 0.27M)."""
    return cifar_resnet(20, num_classes, input_shape)


def resnet56(num_classes: int, input_shape=(3, 32, 32)) -> nn.Module:
    """ResNet-56 (n = 9): 853,018 parameters for 10 classes (paper: 0.85M)."""
    return cifar_resnet(56, num_classes, input_shape)


def resnet110(num_classes: int, input_shape=(3, 32, 32)) -> nn.Module:
    """ResNet-110 (n = 18): 1,727,962 parameters for 10 classes (paper: 1.7M)."""
    return cifar_resnet(110, num_classes, input_shape)


BUILDERS = {
    "resnet18": resnet18,
    "resnet20": resnet20,
    "resnet56": resnet56,
    "resnet110": resnet110,
}
