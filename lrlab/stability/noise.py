"""Successive gradients of SGD on a noisy quadratic: the reference for the gradient cosine
that :class:`~lrlab.stability.StabilityTracker` measures on networks.
"""

from __future__ import annotations

import numpy as np

from lrlab import _check

__all__ = ["noisy_quadratic_gradients", "successive_correlation"]


def noisy_quadratic_gradients(
    curvature: float,
    lr: float,
    steps: int,
    dim: int = 1,
    noise: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    r"""The gradients SGD sees on :math:`\frac h2\lVert x\rVert^2` with Gaussian gradient noise.

    .. math:: g_t = h x_t + \sigma\xi_t, \quad x_{t+1} = x_t - \eta g_t, \quad
              \xi_t \sim \mathcal N(0, I_d)

    For :math:`\eta h < 2` the iterates have the stationary variance
    :math:`\eta\sigma^2 / (h(2 - \eta h))` per coordinate, and :math:`x_0` is drawn from it, so
    the run is stationary from the start. There,
    :math:`\mathbb E g^2 = 2\sigma^2/(2 - \eta h)` and the correlation of successive
    gradients is :math:`-\eta h/2`: negative for every step, and :math:`-1` at the edge
    of stability :math:`\eta = 2/h` (see the network-stability chapter). For
    :math:`\eta h \ge 2` the run starts at :math:`x_0 = 0`.

    Returns
    -------
    numpy.ndarray
        ``(steps, dim)`` gradients.

    Examples
    --------
    >>> g = noisy_quadratic_gradients(1.0, 1.0, 20000, seed=1)
    >>> round(successive_correlation(g), 1)  # -eta h / 2
    -0.5
    """
    curvature = _check.number("curvature", curvature, low=0, low_open=True)
    lr = _check.number("lr", lr, low=0, low_open=True)
    noise = _check.number("noise", noise, low=0, low_open=True)
    steps = _check.integer("steps", steps, minimum=1)
    dim = _check.integer("dim", dim, minimum=1)
    rng = np.random.default_rng(seed)
    xi = rng.standard_normal((steps, dim)) * noise
    stationary = lr * curvature < 2
    spread = np.sqrt(lr * noise**2 / (curvature * (2 - lr * curvature))) if stationary else 0.0
    x = rng.standard_normal(dim) * spread
    grads = np.empty((steps, dim))
    for t in range(steps):
        grads[t] = curvature * x + xi[t]
        x = x - lr * grads[t]
    return grads


def successive_correlation(gradients) -> float:
    r"""Correlation of successive gradients, :math:`\sum_t \langle g_t, g_{t+1}\rangle /
    \sum_t \lVert g_t\rVert^2` (pooled over steps; ``gradients`` is ``(steps, dim)``).

    Examples
    --------
    >>> successive_correlation(np.array([[1.0], [-1.0], [1.0]]))
    -1.0
    """
    g = np.asarray(gradients, dtype=float)
    if g.ndim == 1:
        g = g[:, None]
    if g.ndim != 2 or len(g) < 2:
        raise ValueError(f"gradients must be (steps >= 2, dim), got shape {g.shape}")
    return float(np.sum(g[1:] * g[:-1]) / np.sum(g[:-1] ** 2))
