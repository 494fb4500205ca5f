"""Gradient descent on a quadratic f(w) = ½ wᵀHw, with and without momentum: the
trajectory, the per-direction contraction factor and the largest stable step
(Seong et al., UAI 2018, eqs. 10–13; Polyak 1964 for heavy ball).

>>> max_stable_lr([1.0, 10.0])
0.2
"""

from __future__ import annotations

import numpy as np

from lrlab import _check

__all__ = ["contraction_factor", "gd_quadratic", "max_stable_lr"]


def _check_momentum(momentum: float, nesterov: bool) -> float:
    momentum = _check.number("momentum", momentum, 0, 1, high_open=True)
    if _check.flag("nesterov", nesterov) and momentum == 0.0:
        raise ValueError("nesterov=True needs momentum > 0, got momentum=0.0")
    return momentum


def _check_hessian(h) -> np.ndarray:
    """Return ``h`` as eigenvalues (0-D or 1-D) or a symmetric matrix (2-D)."""
    arr = np.asarray(h, dtype=float)
    if arr.ndim > 2 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(
            "h must be a finite scalar, a 1-D array of eigenvalues or a symmetric matrix, "
            f"got shape {arr.shape}"
        )
    if arr.ndim == 2 and (arr.shape[0] != arr.shape[1] or not np.allclose(arr, arr.T)):
        raise ValueError(f"h must be a symmetric matrix when 2-D, got shape {arr.shape}")
    return arr


def gd_quadratic(
    h,
    lr,
    w0,
    steps: int,
    momentum: float = 0.0,
    nesterov: bool = False,
) -> np.ndarray:
    r"""Run gradient descent (optionally with momentum) on f(w) = ½ wᵀHw.

    The update is PyTorch's ``torch.optim.SGD`` (no dampening, no weight decay):

    .. math::

        g_t = H w_t,\quad b_t = \mu b_{t-1} + g_t\ (b_{-1} = 0),

        w_{t+1} = w_t - \gamma\,(g_t + \mu b_t \text{ if Nesterov else } b_t).

    Without momentum this is w_{t+1} = (I − γH) w_t, so w_t = (I − γH)^t w_0.

    Parameters
    ----------
    h : float, array_like
        Curvature: a scalar (a 1-D problem), a 1-D array of eigenvalues (H diagonal), or a
        symmetric matrix H.
    lr : float or 1-D array_like
        Step size(s) γ > 0. An array adds a leading axis: one trajectory per step size.
    w0 : float or array_like
        Starting point, broadcast to the dimension of H.
    steps : int
        Number of updates.
    momentum : float
        Momentum μ in [0, 1).
    nesterov : bool
        Use PyTorch's Nesterov variant (needs ``momentum > 0``).

    Returns
    -------
    numpy.ndarray
        Shape ``(steps + 1,)`` for a scalar ``h``, else ``(steps + 1, d)``; with a leading
        ``len(lr)`` axis when ``lr`` is an array. Once a trajectory overflows, its remaining
        entries are NaN (no warnings are printed).

    Examples
    --------
    >>> w = gd_quadratic(2.0, lr=0.25, w0=1.0, steps=3)
    >>> w.tolist()
    [1.0, 0.5, 0.25, 0.125]
    """
    hess = _check_hessian(h)
    lrs, scalar_lr = _check.rates("lr", lr)
    steps = _check.integer("steps", steps, minimum=0)
    momentum = _check_momentum(momentum, nesterov)
    dim = 1 if hess.ndim == 0 else hess.shape[0]
    w0_arr = np.asarray(w0, dtype=float)
    if w0_arr.ndim > 1 or w0_arr.size not in (1, dim):
        raise ValueError(f"w0 must be a scalar or have length {dim}, got shape {w0_arr.shape}")

    diagonal = None if hess.ndim == 2 else np.atleast_1d(hess)
    out = np.empty((lrs.size, steps + 1, dim))
    w = np.broadcast_to(w0_arr, (lrs.size, dim)).astype(float)
    buf = np.zeros_like(w)
    gamma = lrs[:, None]
    out[:, 0] = w
    with np.errstate(all="ignore"):
        for t in range(steps):
            # H is symmetric, so w @ H applies it to every row (one row per step size).
            g = w @ hess if diagonal is None else w * diagonal
            if momentum:
                buf = momentum * buf + g
                g = g + momentum * buf if nesterov else buf
            w = w - gamma * g
            w[~np.isfinite(w)] = np.nan
            out[:, t + 1] = w
    if hess.ndim == 0:
        out = out[..., 0]
    return out[0] if scalar_lr else out


def _characteristic(a, momentum: float, nesterov: bool):
    """Trace and determinant of the 2×2 companion matrix of one direction, a = γh.

    Heavy ball: w_{t+1} = (1 + μ − a) w_t − μ w_{t−1}, so T = 1 + μ − a, D = μ.
    Nesterov (PyTorch): with u_t = γ b_t the state (w_t, u_{t−1}) maps by
    [[1 − a(1 + μ), −μ²], [a, μ]], so T = (1 + μ)(1 − a), D = μ(1 − a).
    """
    if nesterov:
        return (1.0 + momentum) * (1.0 - a), momentum * (1.0 - a)
    return 1.0 + momentum - a, momentum + 0.0 * a


def contraction_factor(lr, h, momentum: float = 0.0, nesterov: bool = False) -> float | np.ndarray:
    r"""Per-step contraction of GD along an eigendirection with curvature h.

    This is the spectral radius of the linear map that one step applies to that direction:
    :math:`|1 - \gamma h|` without momentum; with momentum, the largest root modulus of
    z² − Tz + D (see :func:`max_stable_lr` for T and D). GD converges along the direction
    exactly when the factor is < 1 (Seong et al., UAI 2018, eq. 12 for μ = 0).

    Parameters
    ----------
    lr : float or array_like
        Step size(s) γ > 0; broadcast against ``h``.
    h : float or array_like
        Eigenvalue(s) of the Hessian.
    momentum : float
        Momentum μ in [0, 1).
    nesterov : bool
        PyTorch's Nesterov variant.

    Returns
    -------
    float or numpy.ndarray
        The factor, with the broadcast shape of ``lr`` and ``h``; a float when both are
        scalars. A scalar call is computed as a one-element array, by the same NumPy loops
        as an array call (NumPy's scalar arithmetic can differ from them in the last bit).

    Examples
    --------
    >>> contraction_factor([0.5, 1.5], 1.0).tolist()
    [0.5, 0.5]
    >>> contraction_factor(0.5, 1.0)
    0.5
    """
    gamma = _check.array("lr", lr, positive=True)
    curvature = _check.array("h", h)
    momentum = _check_momentum(momentum, nesterov)
    shape = np.broadcast_shapes(gamma.shape, curvature.shape)
    # One arithmetic path for scalars and arrays: a scalar goes through as a 1-element array.
    a = np.atleast_1d(gamma) * np.atleast_1d(curvature)
    if momentum == 0.0:
        factor = np.abs(1.0 - a)
    else:
        trace, det = _characteristic(a, momentum, nesterov)
        root = np.sqrt(trace.astype(complex) ** 2 - 4.0 * det)
        factor = np.maximum(np.abs(trace + root), np.abs(trace - root)) / 2.0
    return float(factor[0]) if shape == () else factor.reshape(shape)


def max_stable_lr(h, momentum: float = 0.0, nesterov: bool = False) -> float:
    r"""The largest step size for which GD converges on a quadratic, sup{γ : factor < 1}.

    For a top eigenvalue h = max(h) > 0:

    - plain GD: γ < 2/h (:math:`|1 - \gamma h| < 1`);
    - heavy ball (Polyak): γ < 2(1 + μ)/h;
    - Nesterov as in PyTorch: γ < 2(1 + μ) / ((1 + 2μ) h).

    Derivation: per direction the iteration is linear with characteristic polynomial
    z² − Tz + D. Both roots lie inside the unit circle iff :math:`|D| < 1` and
    :math:`|T| < 1 + D`
    (the Jury/Schur–Cohn conditions). Heavy ball has T = 1 + μ − γh, D = μ, so the
    binding condition is γh < 2(1 + μ). Nesterov has T = (1 + μ)(1 − γh), D = μ(1 − γh);
    1 − T + D = γh > 0 always holds and 1 + T + D > 0 gives γh < 2(1 + μ)/(1 + 2μ),
    which is tighter than :math:`|D| < 1`. At γ equal to the bound a root sits on the unit circle
    (at z = −1), so the returned value itself is the first step size that does not converge.

    Parameters
    ----------
    h : float or array_like
        The Hessian's eigenvalues (scalar or 1-D) or a symmetric matrix; only the largest
        eigenvalue matters and it must be > 0.
    momentum : float
        Momentum μ in [0, 1).
    nesterov : bool
        PyTorch's Nesterov variant.

    Returns
    -------
    float

    Examples
    --------
    >>> max_stable_lr([1.0, 10.0])
    0.2
    >>> round(max_stable_lr(10.0, momentum=0.9), 6)
    0.38
    """
    hess = _check_hessian(h)
    momentum = _check_momentum(momentum, nesterov)
    top = float(np.linalg.eigvalsh(hess).max() if hess.ndim == 2 else hess.max())
    if top <= 0:
        raise ValueError(f"h must have a positive largest eigenvalue, got {top}")
    if nesterov:
        return 2.0 * (1.0 + momentum) / ((1.0 + 2.0 * momentum) * top)
    return 2.0 * (1.0 + momentum) / top
