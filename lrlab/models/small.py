"""Small models that train in seconds on a CPU: an MLP, a four-layer CNN and a linear
classifier (multinomial logistic regression, whose loss is convex in its weights).

All accept any input shape ``(channels, height, width)``: the 8×8 digits of
``lrlab.data.load("digits")`` as well as 32×32 CIFAR images. The MLP also comes in the
maximal-update parametrization (μP) of Yang et al. (2021), whose best learning rate does not
move with the width.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lrlab import _check

__all__ = ["BUILDERS", "PARAMETRIZATIONS", "ScaledReadout", "linear", "mlp", "small_cnn"]

#: The MLP's parametrizations: standard (PyTorch's defaults) and μP.
PARAMETRIZATIONS = ("sp", "mup")


class ScaledReadout(nn.Linear):
    """The output layer of a μP network: ``Linear(x / width_mult)``.

    Dividing the input by the width multiplier ``width / base_width`` makes the readout's
    effective weights scale as 1/width (Yang et al. 2021, *Tensor Programs V*, Table 8),
    as the ``mup`` package's ``MuReadout`` does (with its ``output_mult=1``).

    Parameters
    ----------
    in_features, out_features : int
    width_mult : float
        ``width / base_width``, > 0.

    Examples
    --------
    >>> layer = ScaledReadout(4, 2, width_mult=2.0)
    >>> x = torch.ones(1, 4)
    >>> torch.equal(layer(x), nn.functional.linear(x / 2.0, layer.weight, layer.bias))
    True
    """

    def __init__(self, in_features: int, out_features: int, width_mult: float, bias: bool = True):
        super().__init__(in_features, out_features, bias=bias)
        self.width_mult = _check.number("width_mult", width_mult, low=0, low_open=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x / self.width_mult)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, width_mult={self.width_mult:g}"


def mlp(
    num_classes: int,
    input_shape,
    hidden=(256, 256),
    *,
    width: int | None = None,
    parametrization: str = "sp",
    base_width: int | None = None,
    init_scale: float = 1.0,
) -> nn.Module:
    """A multilayer perceptron: flatten, then Linear + ReLU per hidden width, then Linear.

    Parameter count: the sum over layers of ``fan_in * fan_out + fan_out`` — 85,002 on
    digits (input 64, two hidden layers of 256, 10 classes) and 855,050 on CIFAR-10
    (input 3,072).

    ``parametrization="mup"`` builds the maximal-update parametrization (μP; Yang et al.
    2021, *Tensor Programs V*, Table 8, as the ``mup`` package's ``set_base_shapes``
    leaves a model), relative to the same network ``base_width`` wide, with
    ``m = width / base_width``: PyTorch's default initialisation, then the hidden layers'
    biases and the readout's weights and bias multiplied by √m, and a readout that divides
    its input by m (:class:`ScaledReadout`). At ``width == base_width`` it is the standard
    network. Train it with the per-layer rates of :func:`lrlab.scaling.mup_param_groups`.

    ``init_scale = c`` multiplies every weight matrix of that initialisation by c (the
    biases stay as they are). Without biases a ReLU network is positively homogeneous, so
    its output is multiplied by c^L with L linear layers (c³ for the default two hidden
    layers), and its sharpness at initialisation grows with c about as fast. It is a knob
    for where training starts: Gilmer et al. (2022, *A Loss Curvature Perspective on
    Training Instabilities of Deep Learning Models*) trace instabilities to
    initialisations in regions of high curvature, and Kalra & Barkeshli (2024, *Why
    Warmup the Learning Rate?*) find that whether training first reduces the sharpness or
    first raises it (progressive sharpening) depends on the initialisation. On the book's
    digits with the square loss, c = 2 starts in the first regime and c = 1 in the
    second (book/warmup).

    Parameters
    ----------
    num_classes : int
        Output logits.
    input_shape : tuple of int
        One example's shape; it is flattened.
    hidden : sequence of int
        Hidden layer widths.
    width : int, optional
        Make every hidden layer this wide (as many layers as ``hidden`` lists: two by
        default).
    parametrization : {"sp", "mup"}
        Standard, or μP (needs equal hidden widths and ``base_width``).
    base_width : int, optional
        The width at which the μP network is the standard one; μP only.
    init_scale : float
        Multiplies every initial weight matrix, > 0.

    Returns
    -------
    torch.nn.Sequential

    Examples
    --------
    >>> net = mlp(10, (1, 8, 8))
    >>> net(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    >>> mlp(10, (1, 8, 8), width=512, parametrization="mup", base_width=128)[-1]
    ScaledReadout(in_features=512, out_features=10, bias=True, width_mult=4)
    >>> _ = torch.manual_seed(0); one = mlp(10, (1, 8, 8))
    >>> _ = torch.manual_seed(0); two = mlp(10, (1, 8, 8), init_scale=2.0)
    >>> torch.equal(two[1].weight, 2 * one[1].weight), torch.equal(two[1].bias, one[1].bias)
    (True, True)
    """
    hidden = _check.integers("hidden", hidden, minimum=1)
    if width is not None:
        hidden = (_check.integer("width", width, minimum=1),) * len(hidden)
    _check.choice("parametrization", parametrization, PARAMETRIZATIONS)
    init_scale = _check.number("init_scale", init_scale, low=0, low_open=True)
    mup = parametrization == "mup"
    if mup and base_width is None:
        raise ValueError("parametrization='mup' needs base_width (an integer >= 1)")
    if not mup and base_width is not None:
        raise ValueError("base_width is for parametrization='mup' only")
    if mup:
        base_width = _check.integer("base_width", base_width, minimum=1)
        if len(set(hidden)) != 1:
            raise ValueError(f"parametrization='mup' needs equal hidden widths, got {hidden}")
    widths = (math.prod(input_shape), *hidden)
    layers: list[nn.Module] = [nn.Flatten()]
    for fan_in, fan_out in zip(widths, widths[1:], strict=False):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    if not mup:
        layers.append(nn.Linear(widths[-1], num_classes))
        return _scale_weights(nn.Sequential(*layers), init_scale)
    m = widths[-1] / base_width
    layers.append(ScaledReadout(widths[-1], num_classes, width_mult=m))
    net = nn.Sequential(*layers)
    # From PyTorch's initialisation (variance 1/fan_in) to μP's: a bias whose fan-in is a
    # width, and the readout (whose input is divided by m), get variances constant in width.
    linears = [module for module in net if isinstance(module, nn.Linear)]
    with torch.no_grad():
        for layer in linears[1:-1]:
            layer.bias *= m**0.5
        linears[-1].weight *= m**0.5
        linears[-1].bias *= m**0.5
    return _scale_weights(net, init_scale)


def _scale_weights(net: nn.Module, scale: float) -> nn.Module:
    """``net`` with every linear layer's weight matrix multiplied by ``scale``, in place."""
    if scale != 1.0:
        with torch.no_grad():
            for module in net.modules():
                if isinstance(module, nn.Linear):
                    module.weight *= scale
    return net


def small_cnn(num_classes: int, input_shape, width: int = 32) -> nn.Module:
    """A small CNN: three 3×3 conv-BN-ReLU layers, a 2×2 max-pool, global average, linear.

    Widths ``width, 2 width, 4 width``; the max-pool follows the second convolution.
    Convolutions have no bias (BatchNorm follows). Parameter count: 94,186 on digits and
    94,762 on CIFAR-10 with the default ``width=32`` (it does not depend on the image
    size).

    Parameters
    ----------
    num_classes : int
        Output logits.
    input_shape : tuple of int
        ``(channels, height, width)``; height and width >= 2.
    width : int
        Channels of the first convolution.

    Returns
    -------
    torch.nn.Sequential

    Examples
    --------
    >>> import torch
    >>> small_cnn(10, (3, 32, 32))(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    width = _check.integer("width", width, minimum=1)
    if len(input_shape) != 3 or min(input_shape[1:]) < 2:
        raise ValueError(f"input_shape must be (channels, h, w) with h, w >= 2, got {input_shape}")

    def block(fan_in: int, fan_out: int) -> list[nn.Module]:
        return [
            nn.Conv2d(fan_in, fan_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(fan_out),
            nn.ReLU(),
        ]

    return nn.Sequential(
        *block(input_shape[0], width),
        *block(width, 2 * width),
        nn.MaxPool2d(2),
        *block(2 * width, 4 * width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * width, num_classes),
    )


def linear(num_classes: int, input_shape) -> nn.Module:
    r"""A linear classifier: flatten, then one ``Linear`` layer (PyTorch's initialisation).

    Trained with cross-entropy it is multinomial logistic regression,

    .. math:: p(y = k \mid x) = \operatorname{softmax}(W x + b)_k,

    whose training loss is convex in ``(W, b)`` (and strongly convex with L2 weight decay):
    the setting of convex optimisation theory, such as the last-iterate bounds of SGD's
    schedules (Defazio et al. 2023). Parameter count ``(d + 1) k`` for ``d`` inputs and
    ``k`` classes: 650 on digits, 30,730 on CIFAR-10.

    Parameters
    ----------
    num_classes : int
        Output logits.
    input_shape : tuple of int
        One example's shape; it is flattened.

    Returns
    -------
    torch.nn.Sequential

    Examples
    --------
    >>> net = linear(10, (1, 8, 8))
    >>> net(torch.zeros(2, 1, 8, 8)).shape, sum(p.numel() for p in net.parameters())
    (torch.Size([2, 10]), 650)
    """
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes))


BUILDERS = {"linear": linear, "mlp": mlp, "small_cnn": small_cnn}
