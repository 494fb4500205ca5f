"""The loss around trained weights: loss functions, flat parameter vectors, linear paths,
random (filter-normalised) and fooling directions, lines and planes through the weights.

See :mod:`lrlab.landscape` for the conventions (flat vectors, eval mode, batching).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parameters_to_vector

from lrlab import _check
from lrlab.landscape._evaluate import (
    LossFn,
    Plane,
    check_chunk,
    check_grid,
    check_vector,
    evaluating,
    losses_at,
)

__all__ = [
    "batch_loss",
    "split_loss",
    "parameters_vector",
    "linear_path",
    "random_direction",
    "loss_along",
    "surface",
    "fooling_direction",
]

NORMALIZATIONS = ("filter", "layer", "none")


# --- losses and parameter vectors ----------------------------------------------------------


def batch_loss(x: torch.Tensor, y: torch.Tensor) -> LossFn:
    """A loss function: mean cross-entropy of ``model(x)`` against labels ``y``.

    Examples
    --------
    >>> model = nn.Linear(3, 2)
    >>> loss_fn = batch_loss(torch.zeros(4, 3), torch.tensor([0, 1, 0, 1]))
    >>> loss_fn(model).shape
    torch.Size([])
    """
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError("x and y must be tensors")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"x and y must hold the same number (>= 1) of rows, got {len(x)}, {len(y)}"
        )

    def loss_fn(model: nn.Module) -> torch.Tensor:
        return F.cross_entropy(model(x).float(), y)

    return loss_fn


def split_loss(data, split: str = "train", size: int | None = None) -> LossFn:
    """A loss function: mean cross-entropy over a split of an :class:`lrlab.data.Dataset`.

    Parameters
    ----------
    data : lrlab.data.Dataset
    split : {"train", "test"}
    size : int, optional
        Use only the first ``size`` examples of the split (all by default).

    Examples
    --------
    >>> from lrlab import data, models
    >>> digits = data.load("digits", device="cpu")
    >>> model = models.build("mlp", 10, digits.input_shape)
    >>> float(split_loss(digits, "test", size=100)(model).detach()) > 0
    True
    """
    x, y = data.tensors(split)
    if size is not None:
        size = _check.integer("size", size, minimum=1, maximum=len(y))
        x, y = x[:size], y[:size]
    return batch_loss(x, y)


def parameters_vector(model: nn.Module) -> torch.Tensor:
    """A detached copy of the model's parameters as one flat vector.

    Examples
    --------
    >>> parameters_vector(nn.Linear(3, 2)).shape
    torch.Size([8])
    """
    return parameters_to_vector(model.parameters()).detach().clone()


# --- directions and paths in weight space --------------------------------------------------


def linear_path(
    model: nn.Module,
    start: torch.Tensor,
    end: torch.Tensor,
    loss_fn: LossFn,
    alphas,
    *,
    normalize: bool = False,
    chunk: int | None = None,
) -> np.ndarray:
    r"""The loss along the line through two weight vectors.

    With ``normalize=False`` the points are :math:`w_{start} + \alpha\,(w_{end} - w_{start})`
    (Goodfellow et al. 2015: α = 0 is ``start``, α = 1 is ``end``). With ``normalize=True``
    they are Seong et al.'s (2018, Fig. 3a) unit-speed form

    .. math:: w_{start} + \alpha\,\frac{w_{end} - w_{start}}{\lVert w_{end} - w_{start}\rVert},

    with ``start`` the final weights and ``end`` the weights at the learning-rate peak, so α
    is a Euclidean distance and paths of different models are comparable.

    Parameters
    ----------
    model : torch.nn.Module
        The architecture (its own weights are restored on return).
    start, end : torch.Tensor
        Flat weight vectors (see :func:`parameters_vector`); distinct if ``normalize``.
    loss_fn : callable
        ``loss_fn(model) -> scalar tensor``, one fixed function of the weights (the same
        data at every call; see "Many points at once" in :mod:`lrlab.landscape`).
    alphas : sequence of float
        Finite positions on the line.
    normalize : bool
        Use the unit direction instead of ``end - start``.
    chunk : int or None
        Points per batched pass (``torch.func.vmap``); ``None`` takes as many as fit a
        memory budget (8 MiB on a CPU, a quarter of the free memory on a GPU), ``1`` runs
        the points one at a time without vmap. The numbers do not depend on it beyond float
        rounding.

    Returns
    -------
    numpy.ndarray
        The loss at each α (float64).

    Examples
    --------
    >>> model = nn.Linear(2, 2)
    >>> loss_fn = batch_loss(torch.eye(2), torch.tensor([0, 1]))
    >>> start = parameters_vector(model)
    >>> curve = linear_path(model, start, torch.zeros_like(start), loss_fn, [0.0, 1.0])
    >>> round(float(curve[1]), 4)  # all-zero weights: uniform over 2 classes, log 2
    0.6931
    """
    start = check_vector(model, start, "start")
    end = check_vector(model, end, "end")
    alphas = check_grid(alphas, "alphas")
    step = end - start
    if normalize:
        if float(step.norm()) == 0.0:
            raise ValueError("start and end must differ when normalize=True (zero-length path)")
        step = step / step.norm()
    plane = Plane(start, step[None], alphas[:, None])
    return losses_at(model, plane, loss_fn, check_chunk(chunk))


def random_direction(
    model: nn.Module, normalization: str = "filter", seed: int = 0
) -> torch.Tensor:
    r"""A random Gaussian direction in weight space, normalised as Li et al. (2018) define it.

    A direction :math:`d` with independent standard normal entries is drawn (in float64 on
    the CPU from ``seed``, so it is the same on every device), then for each parameter
    tensor :math:`\theta` of the model:

    - ``"filter"``: a tensor with two or more dimensions (the weight of a linear or
      convolutional layer) is rescaled filter by filter, a filter being one slice along the
      first (output) dimension: :math:`d_{i} \leftarrow d_{i}\,\lVert\theta_{i}\rVert /
      \lVert d_{i}\rVert` (Li et al. 2018, eq. 1);
    - ``"layer"``: such a tensor is rescaled as a whole,
      :math:`d \leftarrow d\,\lVert\theta\rVert / \lVert d\rVert`;
    - ``"none"``: the raw Gaussian direction, every parameter included.

    With ``"filter"`` and ``"layer"``, one-dimensional tensors (biases, BatchNorm scales and
    shifts) get a zero direction, as in Li et al.'s code (their ``ignore='biasbn'``). The
    direction then moves every filter by the same fraction of its own norm, so that a
    network and its rescaled twin (a ReLU layer multiplied by c, the next by 1/c: the same
    function) have the same loss curve.

    Parameters
    ----------
    model : torch.nn.Module
        The weights the direction is normalised to.
    normalization : {"filter", "layer", "none"}
    seed : int

    Returns
    -------
    torch.Tensor
        A flat vector on the model's device and dtype.

    Examples
    --------
    >>> layer = nn.Linear(3, 2)
    >>> d = random_direction(layer)
    >>> d[6:].tolist()  # the bias is not moved
    [0.0, 0.0]
    >>> torch.allclose(d[:6].view(2, 3).norm(dim=1), layer.weight.norm(dim=1))
    True
    """
    _check.choice("normalization", normalization, NORMALIZATIONS)
    seed = _check.integer("seed", seed)
    generator = torch.Generator().manual_seed(seed)
    pieces = []
    for p in model.parameters():
        d = torch.randn(p.shape, generator=generator, dtype=torch.float64)
        w = p.detach().cpu().double()
        if normalization != "none" and p.dim() <= 1:
            d.zero_()
        elif normalization == "filter":
            w_norms = w.reshape(len(w), -1).norm(dim=1)
            d_norms = d.reshape(len(d), -1).norm(dim=1)
            d *= (w_norms / d_norms).view(-1, *([1] * (d.dim() - 1)))
        elif normalization == "layer":
            d *= w.norm() / d.norm()
        pieces.append(d.reshape(-1))
    first = next(model.parameters())
    return torch.cat(pieces).to(first.device, first.dtype)


def loss_along(
    model: nn.Module,
    direction: torch.Tensor,
    loss_fn: LossFn,
    radii,
    *,
    chunk: int | None = None,
) -> np.ndarray:
    r"""The loss at :math:`\theta + r\,d` for each radius r (a 1-D slice of the surface).

    Parameters
    ----------
    model : torch.nn.Module
        Its current weights are :math:`\theta`.
    direction : torch.Tensor
        Flat vector :math:`d` of non-zero norm (e.g. :func:`random_direction`).
    loss_fn : callable
    radii : sequence of float
        Finite distances along ``direction`` (in units of ``direction``).
    chunk
        As in :func:`linear_path`.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> model = nn.Linear(2, 2)
    >>> loss_fn = batch_loss(torch.eye(2), torch.tensor([0, 1]))
    >>> curve = loss_along(model, random_direction(model), loss_fn, [-1.0, 0.0, 1.0])
    >>> bool(abs(curve[1] - float(loss_fn(model).detach())) < 1e-6)
    True
    """
    direction = check_vector(model, direction, "direction", nonzero=True)
    radii = check_grid(radii, "radii")
    plane = Plane(parameters_vector(model), direction[None], radii[:, None])
    return losses_at(model, plane, loss_fn, check_chunk(chunk))


def surface(
    model: nn.Module,
    d1: torch.Tensor,
    d2: torch.Tensor,
    loss_fn: LossFn,
    xs,
    ys,
    *,
    chunk: int | None = None,
) -> np.ndarray:
    r"""The loss on the plane :math:`\theta + x\,d_1 + y\,d_2` (Li et al. 2018's contour plots).

    Parameters
    ----------
    model : torch.nn.Module
    d1, d2 : torch.Tensor
        Flat directions of non-zero norm.
    loss_fn : callable
    xs, ys : sequence of float
        Finite grid coordinates along ``d1`` and ``d2``.
    chunk
        As in :func:`linear_path`.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(ys), len(xs))``: row i, column j is the loss at ``(xs[j], ys[i])``, the
        layout ``matplotlib``'s ``contour(xs, ys, Z)`` expects.

    Examples
    --------
    >>> model = nn.Linear(2, 2)
    >>> loss_fn = batch_loss(torch.eye(2), torch.tensor([0, 1]))
    >>> d1, d2 = random_direction(model, seed=1), random_direction(model, seed=2)
    >>> surface(model, d1, d2, loss_fn, [-1, 0, 1], [0, 1]).shape
    (2, 3)
    """
    d1 = check_vector(model, d1, "d1", nonzero=True)
    d2 = check_vector(model, d2, "d2", nonzero=True)
    xs, ys = check_grid(xs, "xs"), check_grid(ys, "ys")
    gx, gy = np.meshgrid(xs, ys)  # (len(ys), len(xs))
    plane = Plane(
        parameters_vector(model), torch.stack([d1, d2]), np.stack([gx.ravel(), gy.ravel()], 1)
    )
    return losses_at(model, plane, loss_fn, check_chunk(chunk)).reshape(gx.shape)


def fooling_direction(
    model: nn.Module, loss_fn: LossFn, radius: float, steps: int = 10
) -> torch.Tensor:
    r"""The weight direction that raises the loss fastest within ``radius``: Seong's fooling
    perturbation, an adversarial example (Szegedy et al. 2013) in weight space.

    Recipe (normalised gradient ascent with projection): start at :math:`\delta_0 = 0`; for
    ``k = 1..steps``

    .. math:: \delta_k = \Pi_{\lVert\delta\rVert \le r}\Bigl(\delta_{k-1}
              + \frac{r}{\text{steps}}\,\frac{g_k}{\lVert g_k\rVert}\Bigr),
              \qquad g_k = \nabla_\theta L(\theta + \delta_{k-1}),

    where :math:`\Pi` rescales a vector longer than r back onto the sphere of radius r
    (each step has length r/steps, so the projection acts only when ascent turns back).
    The result is the unit vector :math:`\delta/\lVert\delta\rVert`; the loss along it,
    ``loss_along(model, d, loss_fn, radii)`` for radii in [0, r], is the fooling curve.
    With ``steps=1`` it is the normalised gradient. The gradients are taken in ``eval()``
    mode, like every loss here.

    Parameters
    ----------
    model : torch.nn.Module
    loss_fn : callable
    radius : float
        > 0, the Euclidean length of the perturbation searched.
    steps : int
        Gradient evaluations, >= 1.

    Returns
    -------
    torch.Tensor
        Unit-norm flat vector.

    Raises
    ------
    ValueError
        If the gradient vanishes (at an exact stationary point there is no ascent direction).

    Examples
    --------
    >>> model = nn.Linear(2, 1, bias=False)
    >>> d = fooling_direction(model, lambda m: m.weight @ torch.tensor([3.0, 4.0]), 1.0)
    >>> [round(v, 4) for v in d.tolist()]  # a linear loss rises fastest along its gradient
    [0.6, 0.8]
    """
    radius = _check.number("radius", radius, low=0, low_open=True)
    steps = _check.integer("steps", steps, minimum=1)
    params = list(model.parameters())
    theta = parameters_vector(model)
    delta = torch.zeros_like(theta)
    sizes = [p.numel() for p in params]
    with evaluating(model):
        for _ in range(int(steps)):
            with torch.no_grad():
                for p, piece in zip(params, torch.split(theta + delta, sizes), strict=True):
                    p.copy_(piece.view_as(p))
            grads = torch.autograd.grad(loss_fn(model), params, allow_unused=True)
            g = torch.cat(
                [
                    (torch.zeros_like(p) if grad is None else grad).reshape(-1)
                    for p, grad in zip(params, grads, strict=True)
                ]
            )
            norm = float(g.norm())
            if norm == 0.0:
                raise ValueError("the gradient of loss_fn is zero: no ascent direction")
            delta = delta + (radius / steps) * g / norm
            length = float(delta.norm())
            if length > radius:
                delta = delta * (radius / length)
    return delta / delta.norm()
