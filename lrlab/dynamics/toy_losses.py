"""The small losses the chapters run gradient descent on, each as a pair ``(loss, grad)`` of
vectorised NumPy functions, ready for :func:`lrlab.dynamics.iterate` and
:func:`lrlab.dynamics.bifurcation`.

- :func:`two_wells`: a sharp and a flat quadratic well side by side; the step size decides
  which minimum gradient descent can settle in (γ < 2/h for each).
- :func:`product_loss`: ½(r − xy)², the two-layer scalar linear network of Nar & Sastry
  (NeurIPS 2018), with a valley of minima xy = r of sharpness x² + y².
- :func:`double_well`: ¼(x² − 1)², whose map goes through period doubling into chaos.
- :func:`power_well`: ⅔|x|^{3/2}, where gradient descent never converges but settles on the
  2-cycle ±γ²/4.

>>> loss, grad = double_well()
>>> float(loss(0.0)), float(grad(2.0))
(0.25, 6.0)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lrlab import _check

__all__ = ["double_well", "power_well", "product_loss", "two_wells"]

LossAndGrad = tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]


def two_wells(
    h_sharp: float = 20.0, h_flat: float = 2.0, sharp_min: float = -1.0, flat_min: float = 2.0
) -> LossAndGrad:
    r"""Two quadratic wells of curvatures ``h_sharp`` and ``h_flat``: the lower one counts.

    .. math::

        f(x) = \min\big(\tfrac12 h_s (x - a)^2,\ \tfrac12 h_f (x - b)^2\big),

    with minima at ``a = sharp_min`` and ``b = flat_min``. Near each minimum gradient
    descent is gradient descent on that well's quadratic, so it can settle at ``a`` only
    for γ < 2/h_s and at ``b`` only for γ < 2/h_f (Seong et al., UAI 2018, eq. 13): a step
    size between the two leaves only the flat minimum reachable.

    Parameters
    ----------
    h_sharp, h_flat : float
        Curvatures, > 0.
    sharp_min, flat_min : float
        Where the wells' minima are; distinct.

    Returns
    -------
    loss, grad : callable
        Elementwise on arrays; ``grad`` is the derivative of the well that is lower at x.

    Examples
    --------
    >>> loss, grad = two_wells()
    >>> loss(np.array([-1.0, 2.0, 0.0])).tolist(), grad(np.array([-0.5, 3.0])).tolist()
    ([0.0, 0.0, 4.0], [10.0, 2.0])
    """
    h_s = _check.number("h_sharp", h_sharp, low=0, low_open=True)
    h_f = _check.number("h_flat", h_flat, low=0, low_open=True)
    a = _check.number("sharp_min", sharp_min)
    b = _check.number("flat_min", flat_min)
    if a == b:
        raise ValueError(f"flat_min must differ from sharp_min, got both {a}")

    def loss(x):
        return np.minimum(0.5 * h_s * (x - a) ** 2, 0.5 * h_f * (x - b) ** 2)

    def grad(x):
        return np.where(h_s * (x - a) ** 2 < h_f * (x - b) ** 2, h_s * (x - a), h_f * (x - b))

    return loss, grad


def product_loss(r: float = 1.0) -> LossAndGrad:
    r"""½(r − xy)²: a two-layer scalar linear network, on points ``z = (x, y)``.

    .. math::

        f(x, y) = \tfrac12 (r - xy)^2, \qquad \nabla f = -(r - xy)\,(y, x).

    Its minima form the hyperbola xy = r; at a minimum the Hessian's top eigenvalue is
    :math:`x^2 + y^2 \ge 2|r|`, equal at the balanced minima :math:`|x| = |y|` (Nar & Sastry,
    NeurIPS 2018), so a step size γ leaves only the minima with x² + y² < 2/γ stable.

    Parameters
    ----------
    r : float
        The target, finite.

    Returns
    -------
    loss, grad : callable
        On arrays of shape ``(..., 2)``: ``loss`` returns shape ``(...)``, ``grad`` the
        input's shape.

    Examples
    --------
    >>> loss, grad = product_loss(4.0)
    >>> float(loss(np.array([1.0, 2.0]))), grad(np.array([1.0, 2.0])).tolist()
    (2.0, [-4.0, -2.0])
    """
    r = _check.number("r", r)

    def loss(z):
        return 0.5 * (r - z[..., 0] * z[..., 1]) ** 2

    def grad(z):
        return -(r - z[..., 0] * z[..., 1])[..., None] * z[..., ::-1]

    return loss, grad


def double_well() -> LossAndGrad:
    r"""¼(x² − 1)², minima at ±1 with curvature 2, a maximum at 0.

    .. math:: f(x) = \tfrac14 (x^2 - 1)^2, \qquad f'(x) = x^3 - x.

    The map x ← x − γ(x³ − x) converges to ±1 for γ < 1 (= 2/f''(±1)), then doubles its
    period again and again on the way to chaos, and diverges from x₀ = 0.5 once γ > 2.

    Examples
    --------
    >>> loss, grad = double_well()
    >>> loss(np.array([1.0, 0.0])).tolist(), grad(np.array([1.0, 0.5])).tolist()
    ([0.0, 0.25], [0.0, -0.375])
    """

    def loss(x):
        return 0.25 * (x**2 - 1) ** 2

    def grad(x):
        return x**3 - x

    return loss, grad


def power_well() -> LossAndGrad:
    r"""⅔|x|^{3/2}: a minimum at 0 that gradient descent cannot reach.

    .. math:: f(x) = \tfrac23 |x|^{3/2}, \qquad f'(x) = \operatorname{sign}(x) \sqrt{|x|}.

    The curvature is infinite at 0, so every step size is too large there: from any start
    x ≠ 0 the map x ← x − γ sign(x)√|x| settles on the 2-cycle ±γ²/4 (Nar & Sastry,
    NeurIPS 2018, the periodic orbits of gradient descent).

    Examples
    --------
    >>> loss, grad = power_well()
    >>> float(loss(4.0)), grad(np.array([4.0, -0.25])).tolist()
    (5.333333333333333, [2.0, -0.5])
    """

    def loss(x):
        return 2.0 / 3.0 * np.abs(x) ** 1.5

    def grad(x):
        return np.sign(x) * np.sqrt(np.abs(x))

    return loss, grad
