"""Deep linear networks ½‖R − W_L⋯W_1‖²_F: the sharpness of the flattest global minimum
and full-batch gradient descent on them (Nar & Sastry, NeurIPS 2018).

>>> deep_linear_sharpness(4.0, depth=2)
8.0
"""

from __future__ import annotations

import numpy as np

from lrlab import _check
from lrlab.dynamics.maps import iterate

__all__ = ["deep_linear_gd", "deep_linear_grad", "deep_linear_loss", "deep_linear_sharpness"]


def _check_target(R) -> np.ndarray:
    """Return R as a (d, d) matrix (d = 1 for a scalar) after checking it."""
    target = _check.array("R", R)
    if target.ndim == 0:
        return target.reshape(1, 1)
    if (
        target.ndim != 2
        or target.shape[0] != target.shape[1]
        or not np.all(np.isfinite(target))
        or not np.allclose(target, target.T)
    ):
        raise ValueError(f"R must be a scalar or a symmetric matrix, got shape {target.shape}")
    return target


def deep_linear_sharpness(R, depth: int) -> float:
    r"""Top Hessian eigenvalue of ½‖R − W_L⋯W_1‖²_F at the balanced global minimum.

    At a global minimum the residual is zero, so the Hessian is JᵀJ with J the Jacobian of
    the product W_L⋯W_1. At the balanced minimum W_i = R^{1/L} its top eigenvalue is

    .. math:: \lambda_{\max} = L\,\rho^{2(L-1)/L},

    with ρ the largest eigenvalue of R (:math:`|r|` for a scalar). This is the flattest global
    minimum, so gradient descent can only converge to a global minimum when
    γ < 2/(L ρ^{2(L−1)/L}) (Nar & Sastry, NeurIPS 2018).

    Parameters
    ----------
    R : float or array_like
        Target: a scalar r or a symmetric positive semi-definite matrix.
    depth : int
        Number of layers L ≥ 1.

    Returns
    -------
    float

    Examples
    --------
    >>> deep_linear_sharpness(4.0, depth=2)
    8.0
    """
    target = _check_target(R)
    depth = _check.integer("depth", depth, minimum=1)
    if target.shape == (1, 1):
        rho = abs(float(target[0, 0]))
    else:
        eigenvalues = np.linalg.eigvalsh(target)
        if eigenvalues.min() < -1e-10 * max(1.0, abs(eigenvalues).max()):
            raise ValueError(
                f"R must be positive semi-definite, got smallest eigenvalue {eigenvalues.min()}"
            )
        rho = float(eigenvalues.max())
    return depth * rho ** (2.0 * (depth - 1) / depth)


def _initial_weights(init, depth: int, dim: int) -> np.ndarray:
    """Layer weights, shape (depth, dim, dim), from "identity", a scale or explicit weights."""
    if isinstance(init, str):
        if init != "identity":
            raise ValueError(f'init must be "identity", a number or weights, got {init!r}')
        return np.broadcast_to(np.eye(dim), (depth, dim, dim)).copy()
    weights = _check.array("init", init)
    if weights.ndim == 0:
        return np.broadcast_to(float(weights) * np.eye(dim), (depth, dim, dim)).copy()
    expected = (depth,) if dim == 1 else (depth, dim, dim)
    if weights.shape != expected:
        raise ValueError(f"init weights must have shape {expected}, got {weights.shape}")
    return weights.reshape(depth, dim, dim).copy()


def _as_layers(weights, R, target: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """Layers of shape (..., L) (scalar R) or (..., L, d, d) as (n, L, d, d), and the (...)."""
    weights = np.asarray(weights, dtype=float)
    if np.ndim(R) == 0:
        if weights.ndim < 1:
            raise ValueError(f"weights must have shape (..., depth) for a scalar R, got {()}")
        return weights.reshape(-1, weights.shape[-1], 1, 1), weights.shape[:-1]
    dim = target.shape[0]
    if weights.ndim < 3 or weights.shape[-2:] != (dim, dim):
        raise ValueError(f"weights must have shape (..., depth, {dim}, {dim}), got {weights.shape}")
    return weights.reshape(-1, *weights.shape[-3:]), weights.shape[:-3]


def deep_linear_loss(weights, R) -> np.ndarray:
    r"""The loss ½‖R − W_L⋯W_1‖²_F of deep linear nets, vectorised over leading axes.

    Parameters
    ----------
    weights : array_like
        Layers, shape ``(..., L)`` for a scalar R (scalar layers, as
        :func:`deep_linear_gd` returns them) or ``(..., L, d, d)``; ``W_1`` first.
    R : float or array_like
        The target.

    Returns
    -------
    numpy.ndarray or float
        One loss per net: the leading shape of ``weights`` (a float for a single net).

    Examples
    --------
    >>> deep_linear_loss([2.0, 1.5], 4.0)  # ½ (4 − 3)²
    0.5
    >>> deep_linear_loss([[2.0, 2.0], [1.0, 1.0]], 4.0).tolist()
    [0.0, 4.5]
    """
    target = _check_target(R)
    layers, lead = _as_layers(weights, R, target)
    product = layers[:, 0]
    for i in range(1, layers.shape[1]):
        product = layers[:, i] @ product  # W_i ⋯ W_1
    loss = 0.5 * ((target - product) ** 2).sum(axis=(-2, -1))
    return float(loss[0]) if lead == () else loss.reshape(lead)


def deep_linear_grad(weights, R) -> np.ndarray:
    r"""The gradient of ½‖R − W_L⋯W_1‖²_F with respect to every layer.

    With P = W_L⋯W_1 and E = P − R, ∂/∂W_i = (W_L⋯W_{i+1})ᵀ E (W_{i−1}⋯W_1)ᵀ.

    Parameters
    ----------
    weights : array_like
        Layers, as in :func:`deep_linear_loss`.
    R : float or array_like

    Returns
    -------
    numpy.ndarray
        The shape of ``weights``.

    Examples
    --------
    >>> deep_linear_grad([2.0, 1.5], 4.0).tolist()  # −(4 − 3)·(1.5, 2)
    [-1.5, -2.0]
    """
    target = _check_target(R)
    layers, _ = _as_layers(weights, R, target)
    return _deep_linear_grad(layers, target).reshape(np.shape(weights))


def _deep_linear_grad(weights: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Gradient of ½‖R − W_L⋯W_1‖²_F for a batch of nets, weights shape (n, L, d, d).

    With P = W_L⋯W_1 and E = P − R, ∂/∂W_i = (W_L⋯W_{i+1})ᵀ E (W_{i−1}⋯W_1)ᵀ.
    """
    n, depth, dim, _ = weights.shape
    below = np.empty_like(weights)  # below[:, i] = W_{i-1} ... W_0
    below[:, 0] = np.eye(dim)
    for i in range(1, depth):
        below[:, i] = weights[:, i - 1] @ below[:, i - 1]
    above = np.empty_like(weights)  # above[:, i] = W_{L-1} ... W_{i+1}
    above[:, depth - 1] = np.eye(dim)
    for i in range(depth - 2, -1, -1):
        above[:, i] = above[:, i + 1] @ weights[:, i + 1]
    error = weights[:, depth - 1] @ below[:, depth - 1] - target
    return np.swapaxes(above, -1, -2) @ error[:, None] @ np.swapaxes(below, -1, -2)


def deep_linear_gd(
    R,
    depth: int,
    lr,
    steps: int,
    init="identity",
    max_abs: float = 1e12,
) -> np.ndarray:
    """Full-batch gradient descent on ½‖R − W_L⋯W_1‖²_F; the layer weights over time.

    Parameters
    ----------
    R : float or array_like
        Target: a scalar r (scalar layers) or a square symmetric matrix.
    depth : int
        Number of layers L ≥ 1.
    lr : float or 1-D array_like
        Step size(s) γ > 0; an array adds a leading axis.
    steps : int
        Number of updates.
    init : "identity", float or array_like
        Initial layers: all identity (1 for scalars); all ``init · I``; or explicit weights
        of shape ``(depth,)`` (scalar R) or ``(depth, d, d)``.
    max_abs : float
        Divergence threshold, as in :func:`iterate`.

    Returns
    -------
    numpy.ndarray
        ``(steps + 1, depth)`` for a scalar R, else ``(steps + 1, depth, d, d)``; with a
        leading ``len(lr)`` axis when ``lr`` is an array. Diverged entries are NaN.

    Examples
    --------
    >>> w = deep_linear_gd(4.0, depth=2, lr=0.1, steps=200)
    >>> np.round(w[-1], 6).tolist()
    [2.0, 2.0]
    """
    target = _check_target(R)
    depth = _check.integer("depth", depth, minimum=1)
    dim = target.shape[0]
    start = _initial_weights(init, depth, dim)
    out = iterate(lambda w: _deep_linear_grad(w, target), start, lr, steps, max_abs)
    return out[..., 0, 0] if np.ndim(R) == 0 else out
