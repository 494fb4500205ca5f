"""Perturbations of the inputs instead of the weights (Seong et al. 2018, §6.2), and the exact
correspondence between the two (Seong's Lemma 1 and Proposition 1).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lrlab import _check
from lrlab.landscape._evaluate import check_grid, evaluating

__all__ = [
    "input_noise_loss",
    "nearest_indices",
    "input_path_loss",
    "input_to_weight_perturbation",
    "perturbation_bound",
]


# --- perturbations of the inputs -----------------------------------------------------------


def _input_losses(model: nn.Module, batches, y: torch.Tensor) -> np.ndarray:
    with evaluating(model), torch.no_grad():
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
    alphas = check_grid(alphas, "alphas")
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
    k = _check.integer("k", k, minimum=1, maximum=len(pool) - 1)
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
    alphas = check_grid(alphas, "alphas")
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
