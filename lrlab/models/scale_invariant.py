"""Scale-invariant networks: the loss does not change when any trained weight is rescaled.

Every trained weight layer (``Linear`` or ``Conv2d``, without bias) is followed by a
BatchNorm layer *without* affine parameters, so multiplying a weight tensor by ``c > 0``
multiplies the layer's pre-normalisation output by ``c`` and BatchNorm divides it out
again. The output layer is a fixed random linear map (``requires_grad=False``), as in
Li & Arora, "An Exponential Learning Rate Schedule for Deep Learning" (ICLR 2020), so
that the loss is scale-invariant in *every* trained parameter:
``L(c W_k) = L(W_k)`` for each weight tensor ``W_k``.

Exact invariance also needs BatchNorm's ``eps`` to vanish: the layer divides by
``sqrt(var + eps)``, and ``eps`` does not scale with the weights. PyTorch requires
``eps > 0`` in training, so the builders default to ``eps=1e-30``, far below any
activation variance met in practice (``var + 1e-30 == var`` in floating point); pass
PyTorch's usual ``1e-5`` to see the small difference it makes.

Options that break scale invariance on purpose (the book shows what each one does):
``affine=True`` (BatchNorm's trained scale and shift), ``fixed_output=False`` (a trained
last layer) and a larger ``eps`` such as 1e-5.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lrlab import _check


def _check_options(widths: Sequence[int], eps: float, output_scale: float) -> tuple[int, ...]:
    widths = _check.integers("widths", widths, minimum=1)
    _check.number("eps", eps, low=0, low_open=True)  # PyTorch's BatchNorm needs eps > 0
    _check.number("output_scale", output_scale, low=0, low_open=True)
    return widths


def _output_layer(
    in_features: int, num_classes: int, fixed: bool, output_scale: float
) -> nn.Linear:
    """A bias-free linear read-out with N(0, output_scale^2 / in_features) weights."""
    layer = nn.Linear(in_features, num_classes, bias=False)
    with torch.no_grad():
        layer.weight.normal_(0.0, output_scale / in_features**0.5)
    layer.weight.requires_grad_(not fixed)
    return layer


def scale_invariant_mlp(
    num_classes: int,
    input_shape: tuple,
    *,
    widths: Sequence[int] = (64, 64),
    affine: bool = False,
    fixed_output: bool = True,
    eps: float = 1e-30,
    output_scale: float = 4.0,
    track_running_stats: bool = True,
) -> nn.Sequential:
    """A multilayer perceptron whose loss is invariant to rescaling each trained weight.

    Layers: flatten, then for each width ``Linear(bias=False) -> BatchNorm1d(affine=False)
    -> ReLU``, then a fixed linear read-out to ``num_classes`` logits.

    Parameter count: ``d*w_1 + w_1*w_2 + ... + w_{k-1}*w_k`` trained weights
    (``d = prod(input_shape)``) and ``w_k*num_classes`` fixed read-out weights. For the
    digits (``input_shape=(1, 8, 8)``, 10 classes) and the default ``widths=(64, 64)``
    that is 64*64 + 64*64 = 8,192 trained and 640 fixed parameters.

    Parameters
    ----------
    num_classes : int
        Number of output logits.
    input_shape : tuple of int
        Shape of one input example, e.g. ``(1, 8, 8)``.
    widths : sequence of int
        Hidden-layer widths.
    affine : bool
        Give BatchNorm its trained scale and shift (breaks scale invariance of those).
    fixed_output : bool
        Keep the read-out layer fixed (``requires_grad=False``). With ``False`` it is
        trained, and the loss is no longer scale-invariant in it.
    eps : float
        BatchNorm's ``eps`` > 0; the default 1e-30 keeps the invariance exact to
        floating-point precision, PyTorch's usual 1e-5 breaks it slightly.
    output_scale : float
        Read-out weights are drawn from N(0, output_scale^2 / w_k), so logits are of
        order ``output_scale``; a fixed read-out cannot learn its own scale.
    track_running_stats : bool
        Passed to BatchNorm. Training-mode outputs use batch statistics either way.

    Returns
    -------
    torch.nn.Sequential

    Examples
    --------
    >>> from lrlab.models.scale_invariant import scale_invariant_mlp
    >>> model = scale_invariant_mlp(10, (1, 8, 8))
    >>> sum(p.numel() for p in model.parameters() if p.requires_grad)
    8192
    """
    widths = _check_options(widths, eps, output_scale)
    in_features = 1
    for size in input_shape:
        in_features *= int(size)
    layers: list[nn.Module] = [nn.Flatten()]
    for width in widths:
        layers += [
            nn.Linear(in_features, width, bias=False),
            nn.BatchNorm1d(width, eps=eps, affine=affine, track_running_stats=track_running_stats),
            nn.ReLU(),
        ]
        in_features = width
    layers.append(_output_layer(in_features, num_classes, fixed_output, output_scale))
    return nn.Sequential(*layers)


def scale_invariant_cnn(
    num_classes: int,
    input_shape: tuple,
    *,
    widths: Sequence[int] = (16, 32, 64),
    affine: bool = False,
    fixed_output: bool = True,
    eps: float = 1e-30,
    output_scale: float = 4.0,
    track_running_stats: bool = True,
) -> nn.Sequential:
    """A small CNN whose loss is invariant to rescaling each trained weight.

    Layers: for each width ``Conv2d(3x3, bias=False) -> BatchNorm2d(affine=False) -> ReLU``
    (stride 1 for the first convolution, 2 for the others), global average pooling,
    then a fixed linear read-out to ``num_classes`` logits.

    Parameter count: ``9*(c*w_1 + w_1*w_2 + ... + w_{k-1}*w_k)`` trained weights
    (``c`` input channels) and ``w_k*num_classes`` fixed read-out weights. For the digits
    (one channel, 10 classes) and the default ``widths=(16, 32, 64)`` that is
    9*(16 + 512 + 2048) = 23,184 trained and 640 fixed parameters.

    Parameters
    ----------
    num_classes : int
        Number of output logits.
    input_shape : tuple of int
        ``(channels, height, width)`` of one input example, e.g. ``(1, 8, 8)``.
    widths : sequence of int
        Output channels of the convolutions.
    affine, fixed_output, eps, output_scale, track_running_stats
        As in :func:`scale_invariant_mlp`.

    Returns
    -------
    torch.nn.Sequential

    Examples
    --------
    >>> from lrlab.models.scale_invariant import scale_invariant_cnn
    >>> model = scale_invariant_cnn(10, (1, 8, 8))
    >>> sum(p.numel() for p in model.parameters() if p.requires_grad)
    23184
    """
    widths = _check_options(widths, eps, output_scale)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), got {input_shape}")
    in_channels = int(input_shape[0])
    layers: list[nn.Module] = []
    for i, width in enumerate(widths):
        layers += [
            nn.Conv2d(in_channels, width, 3, stride=1 if i == 0 else 2, padding=1, bias=False),
            nn.BatchNorm2d(width, eps=eps, affine=affine, track_running_stats=track_running_stats),
            nn.ReLU(),
        ]
        in_channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    layers.append(_output_layer(in_channels, num_classes, fixed_output, output_scale))
    return nn.Sequential(*layers)


BUILDERS = {
    "scale_invariant_mlp": scale_invariant_mlp,
    "scale_invariant_cnn": scale_invariant_cnn,
}
