"""A small 1-D convolutional network for sequences such as MNIST-1D.

The architecture follows the convolutional baseline of Greydanus ("Scaling down deep
learning", 2020) for MNIST-1D: three 1-D convolutions with stride 2, each followed by a
ReLU, then one linear layer on the flattened features. It has no BatchNorm, so every
output depends only on its own input (which keeps ensembles, landscapes and stability
measurements free of batch statistics) and the model works with ``torch.func`` (vmap).
"""

from __future__ import annotations

from torch import nn

from lrlab import _check

__all__ = ["BUILDERS", "cnn1d"]


def _conv_length(length: int, kernel: int, stride: int, padding: int) -> int:
    return (length + 2 * padding - kernel) // stride + 1


def cnn1d(num_classes: int, input_shape, width: int = 32) -> nn.Module:
    """Three stride-2 1-D convolutions with ReLU (kernels 5, 3, 3), then a linear read-out.

    Each convolution halves the length (40 → 19 → 10 → 5 for MNIST-1D). Parameter count:
    ``(c·5 + 1)·w + 2·(w·w·3 + w) + (w·L₃ + 1)·k`` for ``c`` input channels, width ``w``,
    final length ``L₃`` and ``k`` classes: 8,010 for MNIST-1D with ``width=32``.

    Parameters
    ----------
    num_classes : int
        Output logits.
    input_shape : tuple of int
        ``(channels, length)``, length >= 8.
    width : int
        Channels of every convolution.

    Returns
    -------
    torch.nn.Sequential

    Examples
    --------
    >>> import torch
    >>> cnn1d(10, (1, 40))(torch.zeros(2, 1, 40)).shape
    torch.Size([2, 10])
    """
    width = _check.integer("width", width, minimum=1)
    if len(input_shape) != 2 or input_shape[1] < 8:
        raise ValueError(
            f"input_shape must be (channels, length) with length >= 8, got {input_shape}"
        )
    channels, length = input_shape
    layers: list[nn.Module] = []
    fan_in = channels
    for kernel in (5, 3, 3):
        layers += [nn.Conv1d(fan_in, width, kernel, stride=2, padding=1), nn.ReLU()]
        length = _conv_length(length, kernel, 2, 1)
        fan_in = width
    layers += [nn.Flatten(), nn.Linear(width * length, num_classes)]
    return nn.Sequential(*layers)


BUILDERS = {"cnn1d": cnn1d}
