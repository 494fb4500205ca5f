"""The loss surface around trained weights: linear paths, random and fooling directions, inputs.

The tools that Seong et al. (2018) use to argue that a large learning rate ends in a flat
region, and Li et al. (2018) to draw loss surfaces:

- :func:`linear_path`: the loss on the segment between two weight vectors (Goodfellow et
  al. 2015), or along a unit direction from the final weights (Seong's Fig. 3a);
- :func:`random_direction`: a Gaussian direction, filter-normalised (Li et al. 2018);
- :func:`loss_along` and :func:`surface`: the loss on a line or a plane through the weights;
- :func:`fooling_direction`: the direction that raises the loss fastest (Seong's third
  perturbation, after Szegedy et al. 2013);
- :func:`input_noise_loss`, :func:`input_path_loss`: perturbations of the inputs instead
  of the weights (Seong §6.2), and :func:`input_to_weight_perturbation`, the exact
  correspondence between the two (Seong's Lemma 1 and Proposition 1).

Parameters travel as flat vectors in the order of ``model.parameters()`` (the layout of
``torch.nn.utils.parameters_to_vector``). A loss is a callable ``loss_fn(model) -> scalar
tensor``; :func:`batch_loss` and :func:`split_loss` build the usual one. Every function
restores the model's parameters and its train/eval mode when it returns, also after an
exception.

**Mode and BatchNorm.** Losses are evaluated with the model in ``eval()`` mode: BatchNorm
uses its stored running statistics and dropout is off, so the loss is one fixed function of
the weights that does not depend on how the examples are batched, and evaluating it changes
no buffer (in ``train()`` mode every evaluation would also update the running averages).
The running statistics are *not* recomputed for perturbed weights: far from the trained
weights they no longer match the activations, which makes BatchNorm networks look sharper
there than they would with recomputed statistics. Filter-normalised directions leave
BatchNorm's own parameters alone (zeroed), as Li et al. do.

**Many points at once.** :func:`loss_along`, :func:`surface` and :func:`linear_path` can
evaluate grid points in chunks with ``torch.func.functional_call`` under ``torch.func.vmap``
(one batched forward pass for ``chunk`` weight vectors), and fall back to one point at a
time when the loss cannot be vmapped (for example when it calls ``.item()``). Both give the
same numbers (see the tests). Which is faster depends on the device: on a CPU the forward
pass of one point over a whole data set is already a large matrix product, and
``benchmarks/landscape.py`` measured the batched path slower there, so by default (``batched=None``)
points are batched on a GPU and evaluated one at a time on a CPU.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parameters_to_vector

__all__ = [
    "batch_loss",
    "split_loss",
    "parameters_vector",
    "linear_path",
    "random_direction",
    "loss_along",
    "surface",
    "fooling_direction",
    "input_noise_loss",
    "nearest_indices",
    "input_path_loss",
    "input_to_weight_perturbation",
    "perturbation_bound",
]

NORMALIZATIONS = ("filter", "layer", "none")

LossFn = Callable[[nn.Module], torch.Tensor]


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
        if isinstance(size, bool) or int(size) != size or not 1 <= size <= len(y):
            raise ValueError(f"size must be an integer in [1, {len(y)}], got {size!r}")
        x, y = x[: int(size)], y[: int(size)]
    return batch_loss(x, y)


def parameters_vector(model: nn.Module) -> torch.Tensor:
    """A detached copy of the model's parameters as one flat vector.

    Examples
    --------
    >>> parameters_vector(nn.Linear(3, 2)).shape
    torch.Size([8])
    """
    return parameters_to_vector(model.parameters()).detach().clone()


@contextlib.contextmanager
def _restored(model: nn.Module) -> Iterator[None]:
    """Put the model in eval mode; on exit restore its mode and parameter values."""
    saved = [p.detach().clone() for p in model.parameters()]
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        with torch.no_grad():
            for p, value in zip(model.parameters(), saved, strict=True):
                p.copy_(value)
        model.train(was_training)


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _vector(model: nn.Module, v, name: str, *, nonzero: bool = False) -> torch.Tensor:
    """Check that ``v`` is a finite flat vector with one entry per parameter."""
    if not isinstance(v, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(v).__name__}")
    n = _count(model)
    if v.shape != (n,):
        raise ValueError(
            f"{name} must be a flat vector of length {n} (the model's parameters), "
            f"got shape {tuple(v.shape)}"
        )
    if not bool(torch.isfinite(v).all()):
        raise ValueError(f"{name} must be finite")
    if nonzero and float(v.norm()) == 0.0:
        raise ValueError(f"{name} must have a norm > 0, got a zero vector")
    first = next(model.parameters())
    return v.detach().to(first.device, first.dtype)


def _grid(values, name: str) -> np.ndarray:
    """Check a 1-D array of finite numbers (radii, alphas, grid coordinates)."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of numbers, got {values!r}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got {array[~np.isfinite(array)][:3].tolist()}")
    return array


def _check_chunk(chunk) -> int:
    if isinstance(chunk, bool) or int(chunk) != chunk or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
    return int(chunk)


# --- evaluating the loss at many weight vectors ------------------------------------------


class _LossOf(nn.Module):
    """``forward()`` is ``loss_fn(model)``: lets functional_call swap the model's weights."""

    def __init__(self, model: nn.Module, loss_fn: LossFn):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self) -> torch.Tensor:
        return self.loss_fn(self.model)


class _Plane:
    """The weight vectors ``base + coefficients[i] @ directions``, made a chunk at a time.

    A 41 × 41 grid of an 85,000-parameter model would take 570 MB as one matrix (and a
    ResNet's far more); only ``chunk`` rows exist at once.
    """

    def __init__(self, base: torch.Tensor, directions: torch.Tensor, coefficients: np.ndarray):
        self.base, self.directions = base, directions
        self.coefficients = torch.as_tensor(coefficients, dtype=base.dtype, device=base.device)

    def __len__(self) -> int:
        return len(self.coefficients)

    def rows(self, start: int, stop: int) -> torch.Tensor:
        return self.base + self.coefficients[start:stop] @ self.directions


def _losses_batched(model, plane: _Plane, loss_fn, chunk: int) -> torch.Tensor:
    from torch.func import functional_call, vmap

    wrapper = _LossOf(model, loss_fn)
    named = list(model.named_parameters())
    sizes = [p.numel() for _, p in named]

    def loss_at(vector: torch.Tensor) -> torch.Tensor:
        pieces = torch.split(vector, sizes)
        params = {
            f"model.{name}": piece.view_as(p)
            for (name, p), piece in zip(named, pieces, strict=True)
        }
        return functional_call(wrapper, params, ())

    batched = vmap(loss_at)
    return torch.cat([batched(plane.rows(i, i + chunk)) for i in range(0, len(plane), chunk)])


def _losses_one_by_one(model, plane: _Plane, loss_fn) -> torch.Tensor:
    params = list(model.parameters())
    sizes = [p.numel() for p in params]
    out = []
    for i in range(len(plane)):
        vector = plane.rows(i, i + 1)[0]
        for p, piece in zip(params, torch.split(vector, sizes), strict=True):
            p.copy_(piece.view_as(p))
        out.append(loss_fn(model).detach().reshape(()))
    return torch.stack(out)


def _batch_by_default(device: torch.device) -> bool:
    """Whether ``batched=None`` tries vmap on ``device``.

    Measured with ``benchmarks/landscape.py``: on a CPU one forward pass per point over a
    whole data set is already a large, efficient matrix product, and vmap's batched pass was
    slower; on a GPU, batching grid points is what fills the device.
    """
    return device.type == "cuda"


def _losses(model, plane: _Plane, loss_fn, chunk: int, batched: bool | None) -> np.ndarray:
    """Loss at each weight vector of ``plane``; see the module note on vmap."""
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(model), got {loss_fn!r}")
    if batched not in (None, True, False):
        raise ValueError(
            f"batched must be None (try, then fall back), True or False, got {batched!r}"
        )
    with _restored(model), torch.no_grad():
        if batched is None and not _batch_by_default(plane.base.device):
            batched = False
        if batched is not False:
            try:
                values = _losses_batched(model, plane, loss_fn, chunk)
            except RuntimeError:
                # vmap refuses data-dependent Python (``.item()``, in-place buffer updates):
                # such a loss is evaluated one point at a time.
                if batched:
                    raise
            else:
                return values.double().cpu().numpy()
        return _losses_one_by_one(model, plane, loss_fn).double().cpu().numpy()


# --- directions and paths in weight space --------------------------------------------------


def linear_path(
    model: nn.Module,
    start: torch.Tensor,
    end: torch.Tensor,
    loss_fn: LossFn,
    alphas,
    *,
    normalize: bool = False,
    chunk: int = 64,
    batched: bool | None = None,
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
        ``loss_fn(model) -> scalar tensor``.
    alphas : sequence of float
        Finite positions on the line.
    normalize : bool
        Use the unit direction instead of ``end - start``.
    chunk : int
        Weight vectors per batched forward pass.
    batched : bool or None
        ``None``: on a GPU try vmap and fall back to one point at a time, on a CPU one
        point at a time (faster there, see the module note); ``True`` insists on vmap;
        ``False`` evaluates one point at a time.

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
    start = _vector(model, start, "start")
    end = _vector(model, end, "end")
    alphas = _grid(alphas, "alphas")
    step = end - start
    if normalize:
        if float(step.norm()) == 0.0:
            raise ValueError("start and end must differ when normalize=True (zero-length path)")
        step = step / step.norm()
    plane = _Plane(start, step[None], alphas[:, None])
    return _losses(model, plane, loss_fn, _check_chunk(chunk), batched)


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
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if isinstance(seed, bool) or int(seed) != seed:
        raise ValueError(f"seed must be an integer, got {seed!r}")
    generator = torch.Generator().manual_seed(int(seed))
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
    chunk: int = 64,
    batched: bool | None = None,
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
    chunk, batched
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
    direction = _vector(model, direction, "direction", nonzero=True)
    radii = _grid(radii, "radii")
    plane = _Plane(parameters_vector(model), direction[None], radii[:, None])
    return _losses(model, plane, loss_fn, _check_chunk(chunk), batched)


def surface(
    model: nn.Module,
    d1: torch.Tensor,
    d2: torch.Tensor,
    loss_fn: LossFn,
    xs,
    ys,
    *,
    chunk: int = 64,
    batched: bool | None = None,
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
    chunk, batched
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
    d1 = _vector(model, d1, "d1", nonzero=True)
    d2 = _vector(model, d2, "d2", nonzero=True)
    xs, ys = _grid(xs, "xs"), _grid(ys, "ys")
    gx, gy = np.meshgrid(xs, ys)  # (len(ys), len(xs))
    plane = _Plane(
        parameters_vector(model), torch.stack([d1, d2]), np.stack([gx.ravel(), gy.ravel()], 1)
    )
    return _losses(model, plane, loss_fn, _check_chunk(chunk), batched).reshape(gx.shape)


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
    if not (isinstance(radius, (int, float, np.floating, np.integer)) and radius > 0):
        raise ValueError(f"radius must be a number > 0, got {radius!r}")
    if not math.isfinite(radius):
        raise ValueError(f"radius must be finite, got {radius!r}")
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    params = list(model.parameters())
    theta = parameters_vector(model)
    delta = torch.zeros_like(theta)
    sizes = [p.numel() for p in params]
    with _restored(model):
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


# --- perturbations of the inputs -----------------------------------------------------------


def _input_losses(model: nn.Module, batches, y: torch.Tensor) -> np.ndarray:
    with _restored(model), torch.no_grad():
        return np.array([float(F.cross_entropy(model(x).float(), y)) for x in batches])


def _inputs(x, y) -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError("x and y must be tensors")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"x and y must hold the same number (>= 1) of rows, got {len(x)}, {len(y)}"
        )


def input_noise_loss(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, alphas, seed: int = 0
) -> np.ndarray:
    r"""Mean cross-entropy under input noise :math:`x + \alpha\,n`, n a unit-norm Gaussian.

    Each example gets its own direction :math:`n = z/\lVert z\rVert` with z standard normal
    over all of the example's entries (drawn from ``seed`` on the CPU), the same for every
    α, so the curve is a 1-D slice in input space (Seong et al. 2018, §6.2, Fig. 3b).

    Parameters
    ----------
    model : torch.nn.Module
    x, y : torch.Tensor
        Inputs ``(n, ...)`` and labels ``(n,)``.
    alphas : sequence of float
        Finite noise lengths (in the units of x).
    seed : int

    Returns
    -------
    numpy.ndarray
        The mean loss at each α.

    Examples
    --------
    >>> model = nn.Linear(4, 2)
    >>> x, y = torch.randn(8, 4), torch.randint(0, 2, (8,))
    >>> curve = input_noise_loss(model, x, y, [0.0, 1.0])
    >>> bool(abs(curve[0] - float(F.cross_entropy(model(x), y).detach())) < 1e-6)
    True
    """
    _inputs(x, y)
    alphas = _grid(alphas, "alphas")
    generator = torch.Generator().manual_seed(int(seed))
    z = torch.randn(x.shape, generator=generator, dtype=torch.float64)
    z = z / z.reshape(len(z), -1).norm(dim=1).view(-1, *([1] * (z.dim() - 1)))
    z = z.to(x.device, x.dtype)
    return _input_losses(model, (x + float(a) * z for a in alphas), y)


def nearest_indices(x: torch.Tensor, pool: torch.Tensor, k: int = 10) -> torch.Tensor:
    """Indices of the ``k`` nearest rows of ``pool`` to each row of ``x`` (Euclidean).

    Rows of ``pool`` identical to the query (distance 0, the example itself) are skipped.

    Returns
    -------
    torch.Tensor
        ``(len(x), k)`` int64, nearest first.

    Examples
    --------
    >>> pool = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    >>> nearest_indices(torch.tensor([[0.0], [2.9]]), pool, k=2).tolist()
    [[1, 2], [2, 1]]
    """
    if isinstance(k, bool) or int(k) != k or not 1 <= k < len(pool):
        raise ValueError(f"k must be an integer in [1, {len(pool) - 1}], got {k!r}")
    distances = torch.cdist(x.reshape(len(x), -1).double(), pool.reshape(len(pool), -1).double())
    distances[distances == 0] = math.inf
    return distances.topk(int(k), dim=1, largest=False).indices


def input_path_loss(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    pool: torch.Tensor,
    alphas,
    k: int = 10,
    seed: int = 0,
) -> np.ndarray:
    r"""Mean cross-entropy along :math:`x + \alpha\,(x_{val} - x)`, toward nearby points.

    For each example, :math:`x_{val}` is drawn uniformly (from ``seed``) among its ``k``
    nearest rows of ``pool`` (validation inputs, see :func:`nearest_indices`); the label
    stays ``y``. At α = 1 the input *is* the other point, so the curve shows how far the
    model keeps its answer on the way there (Seong et al. 2018, §6.2, Fig. 3c).

    Parameters
    ----------
    model : torch.nn.Module
    x, y : torch.Tensor
        Inputs and their labels.
    pool : torch.Tensor
        Candidate end points, same shape per row as x.
    alphas : sequence of float
    k : int
    seed : int

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> model = nn.Linear(4, 2)
    >>> x, y, pool = torch.randn(5, 4), torch.randint(0, 2, (5,)), torch.randn(20, 4)
    >>> input_path_loss(model, x, y, pool, [0.0, 0.5, 1.0], k=3).shape
    (3,)
    """
    _inputs(x, y)
    if not isinstance(pool, torch.Tensor) or pool.shape[1:] != x.shape[1:]:
        raise ValueError("pool must be a tensor whose rows have the shape of x's rows")
    alphas = _grid(alphas, "alphas")
    neighbours = nearest_indices(x, pool, k)
    generator = torch.Generator().manual_seed(int(seed))
    choice = torch.randint(0, neighbours.shape[1], (len(x),), generator=generator)
    target = pool[neighbours[torch.arange(len(x)), choice].to(pool.device)]
    return _input_losses(model, (x + float(a) * (target - x) for a in alphas), y)


# --- Lemma 1 and Proposition 1 of Seong et al. ---------------------------------------------


def _matrix_and_vectors(W, x, dx) -> None:
    if W.dim() != 2 or x.dim() != 1 or dx.shape != x.shape or W.shape[1] != x.shape[0]:
        raise ValueError(
            "W must be (m, n) and x, dx vectors of length n, got "
            f"{tuple(W.shape)}, {tuple(x.shape)}, {tuple(dx.shape)}"
        )
    if float(x.norm()) == 0.0:
        raise ValueError("x must be non-zero (Lemma 1 divides by its norm)")


def input_to_weight_perturbation(W: torch.Tensor, x: torch.Tensor, dx: torch.Tensor):
    r"""The weight perturbation that has the effect of an input perturbation (Lemma 1).

    Seong et al. (2018, Lemma 1): for a linear layer :math:`Wx`,

    .. math:: \delta W = \frac{W\,\delta x\,x^\top}{\lVert x\rVert^2}
              \quad\Longrightarrow\quad (W + \delta W)\,x = W\,(x + \delta x),

    so every input perturbation is carried exactly by a weight perturbation of the first
    layer, whose size Proposition 1 bounds (:func:`perturbation_bound`).

    Parameters
    ----------
    W : torch.Tensor
        ``(m, n)`` weight matrix.
    x, dx : torch.Tensor
        Input and its perturbation, length ``n``; ``x`` non-zero.

    Returns
    -------
    torch.Tensor
        δW, shape ``(m, n)``.

    Examples
    --------
    >>> W, x, dx = torch.eye(2), torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.5])
    >>> dW = input_to_weight_perturbation(W, x, dx)
    >>> ((W + dW) @ x).tolist(), (W @ (x + dx)).tolist()
    ([1.0, 0.5], [1.0, 0.5])
    """
    _matrix_and_vectors(W, x, dx)
    return torch.outer(W @ dx, x) / x.dot(x)


def perturbation_bound(W: torch.Tensor, x: torch.Tensor, dx: torch.Tensor) -> float:
    r"""Proposition 1's bound on Lemma 1's weight perturbation.

    .. math:: \lVert\delta W\rVert_F = \frac{\lVert W\,\delta x\rVert}{\lVert x\rVert}
              \le \sigma_{max}(W)\,\frac{\lVert\delta x\rVert}{\lVert x\rVert}

    (Seong et al. 2018, Proposition 1), with equality when δx lies along the top right
    singular vector of W. A small relative input change thus needs only a small weight change:
    a model flat in weight space is flat in input space too.

    Examples
    --------
    >>> W = torch.diag(torch.tensor([3.0, 1.0]))
    >>> perturbation_bound(W, torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0]))
    1.5
    """
    _matrix_and_vectors(W, x, dx)
    sigma_max = torch.linalg.matrix_norm(W, ord=2)
    return float(sigma_max * dx.norm() / x.norm())
