"""Gradient descent as a dynamical system: quadratics, 1-D/N-D maps, orbits, deep linear nets.

Everything here is NumPy and vectorised over step sizes: pass an array of learning rates
and get one trajectory per learning rate along a leading axis.

On a quadratic f(w) = ½ wᵀHw, gradient descent multiplies the component of w along an
eigenvector of H with eigenvalue h by (1 − γh) at every step, so it converges exactly
when abs(1 − γh) < 1 in every direction, i.e. γ < 2/h_max (Seong et al., UAI 2018,
eqs. 10–13). With momentum the same question is answered by the 2×2 companion matrix of
each direction. Nar & Sastry (NeurIPS 2018) read gradient descent on a non-quadratic loss as a
nonlinear map: the step size decides which minima are stable fixed points, and the map
can settle on periodic orbits instead.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "gd_quadratic",
    "contraction_factor",
    "max_stable_lr",
    "iterate",
    "orbit_period",
    "bifurcation",
    "deep_linear_sharpness",
    "deep_linear_gd",
]


# ---------------------------------------------------------------------------------------
# Input checks shared by the functions below
# ---------------------------------------------------------------------------------------


def _check_momentum(momentum: float, nesterov: bool) -> float:
    momentum = float(momentum)
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if nesterov and momentum == 0.0:
        raise ValueError("nesterov=True needs momentum > 0, got momentum=0.0")
    return momentum


def _check_steps(steps: int, name: str = "steps") -> int:
    if isinstance(steps, bool) or int(steps) != steps or steps < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {steps!r}")
    return int(steps)


def _check_lr(lr) -> tuple[np.ndarray, bool]:
    """Return the learning rates as a 1-D float array and whether ``lr`` was a scalar."""
    lrs = np.asarray(lr, dtype=float)
    if lrs.ndim > 1:
        raise ValueError(f"lr must be a scalar or a 1-D array, got shape {lrs.shape}")
    if lrs.size == 0 or not np.all(np.isfinite(lrs)) or np.any(lrs <= 0):
        raise ValueError(f"lr must be finite and > 0, got {lr!r}")
    return np.atleast_1d(lrs), lrs.ndim == 0


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


# ---------------------------------------------------------------------------------------
# Quadratics
# ---------------------------------------------------------------------------------------


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

        g_t = H w_t,\quad b_t = \mu b_{t-1} + g_t\ (b_{-1} = 0),\quad
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
    lrs, scalar_lr = _check_lr(lr)
    steps = _check_steps(steps)
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
    gamma = np.asarray(lr, dtype=float)
    if not np.all(np.isfinite(gamma)) or np.any(gamma <= 0):
        raise ValueError(f"lr must be finite and > 0, got {lr!r}")
    curvature = np.asarray(h, dtype=float)
    if not np.all(np.isfinite(curvature)):
        raise ValueError(f"h must be finite, got {h!r}")
    momentum = _check_momentum(momentum, nesterov)
    shape = np.broadcast_shapes(gamma.shape, curvature.shape)
    a = np.atleast_1d(gamma * curvature)  # one arithmetic path for scalars and arrays
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


# ---------------------------------------------------------------------------------------
# General maps x <- x - lr * grad(x)
# ---------------------------------------------------------------------------------------


def _run_map(
    grad: Callable,
    x: np.ndarray,
    gamma: np.ndarray,
    max_abs: float,
    steps: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Run ``steps`` vectorised updates and return the last state; ``out[t]`` gets state t+1.

    Entries that overflow or exceed ``max_abs`` become NaN. Floating-point warnings are
    silenced once around the whole loop (entering ``np.errstate`` per step costs more than
    a small step itself).
    """
    with np.errstate(all="ignore"):
        for t in range(steps):
            x = x - gamma * np.asarray(grad(x), dtype=float)
            magnitude = np.abs(x)
            if not magnitude.max() <= max_abs:  # some entry is too large, inf or NaN
                x[~(magnitude <= max_abs)] = np.nan
            if out is not None:
                out[t] = x
    return x


def _check_grad_map(grad, max_abs: float) -> None:
    if not callable(grad):
        raise TypeError(f"grad must be callable, got {type(grad).__name__}")
    if not max_abs > 0:
        raise ValueError(f"max_abs must be > 0, got {max_abs}")


def iterate(
    grad: Callable[[np.ndarray], np.ndarray],
    x0,
    lr,
    steps: int,
    max_abs: float = 1e12,
) -> np.ndarray:
    """Iterate the gradient-descent map x ← x − γ·grad(x), vectorised over step sizes.

    Parameters
    ----------
    grad : callable
        NumPy gradient. It receives an array of shape ``(n, *x0.shape)`` (``n`` step sizes)
        and must return an array of that shape, treating leading axes as a batch (write
        ``x @ H`` rather than ``H @ x``).
    x0 : float or array_like
        Starting state: a scalar for a 1-D map, a vector for an N-D map, or any array
        (for example a batch of independent 1-D starts).
    lr : float or 1-D array_like
        Step size(s) γ > 0; an array adds a leading axis to the result.
    steps : int
        Number of updates.
    max_abs : float
        Divergence threshold. An entry that overflows, becomes NaN or exceeds ``max_abs``
        in magnitude is set to NaN, and stays NaN (NaN propagates through ``grad`` to the
        coordinates coupled to it). No floating-point warnings are printed.

    Returns
    -------
    numpy.ndarray
        ``(steps + 1, *x0.shape)``, with a leading ``len(lr)`` axis when ``lr`` is an array.

    Examples
    --------
    >>> x = iterate(lambda x: 2.0 * x, 1.0, lr=[0.25, 1.5], steps=2)
    >>> x.tolist()
    [[1.0, 0.5, 0.25], [1.0, -2.0, 4.0]]
    """
    _check_grad_map(grad, max_abs)
    lrs, scalar_lr = _check_lr(lr)
    steps = _check_steps(steps)
    start = np.asarray(x0, dtype=float)
    if start.size == 0 or not np.all(np.isfinite(start)):
        raise ValueError(f"x0 must be finite with at least one entry, got {x0!r}")
    x = np.broadcast_to(start, (lrs.size, *start.shape)).copy()
    gamma = lrs.reshape((lrs.size,) + (1,) * (x.ndim - 1))
    out = np.empty((steps + 1, *x.shape))
    out[0] = x
    _run_map(grad, x, gamma, max_abs, steps, out[1:])
    out = np.moveaxis(out, 0, 1)
    return out[0] if scalar_lr else out


def orbit_period(trajectory, tol: float = 1e-9, max_period: int = 64) -> int | None:
    r"""The smallest period of the tail of a trajectory.

    The tail is the last ``2 * max_period`` states; the period is the smallest p with
    :math:`|x_t - x_{t-p}| \le \mathrm{tol} \cdot \max(1, \max |x|)` for every t in the
    tail. A fixed point has period 1.

    Parameters
    ----------
    trajectory : array_like
        One trajectory, time on the first axis: shape ``(T,)`` or ``(T, ...)``.
    tol : float
        Tolerance, relative to the tail's magnitude when that exceeds 1.
    max_period : int
        Largest period tried; needs ``T >= 2 * max_period``.

    Returns
    -------
    int or None
        The period, or None when the tail diverged (non-finite) or has no period up to
        ``max_period`` (for example a chaotic trajectory).

    Examples
    --------
    >>> orbit_period([0.3, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0], max_period=3)
    2
    """
    traj = np.asarray(trajectory, dtype=float)
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    if isinstance(max_period, bool) or int(max_period) != max_period or max_period < 1:
        raise ValueError(f"max_period must be a positive integer, got {max_period!r}")
    if traj.ndim == 0 or traj.shape[0] < 2 * max_period:
        raise ValueError(
            f"trajectory must have at least 2 * max_period = {2 * max_period} states, "
            f"got shape {traj.shape}"
        )
    tail = traj[-2 * max_period :].reshape(2 * max_period, -1)
    if not np.all(np.isfinite(tail)):
        return None
    scale = tol * max(1.0, float(np.abs(tail).max()))
    for period in range(1, max_period + 1):
        if np.abs(tail[period:] - tail[:-period]).max() <= scale:
            return period
    return None


def bifurcation(
    grad: Callable[[np.ndarray], np.ndarray],
    lrs,
    x0: float,
    burn_in: int = 1000,
    keep: int = 200,
    max_abs: float = 1e12,
) -> tuple[np.ndarray, np.ndarray]:
    """Points of a bifurcation diagram of a 1-D gradient map x ← x − γ·grad(x).

    All step sizes are iterated together (one NumPy array), the first ``burn_in`` states
    are dropped and the next ``keep`` are returned; diverged points are left out.

    Parameters
    ----------
    grad : callable
        Elementwise NumPy derivative of a 1-D loss.
    lrs : 1-D array_like
        Step sizes γ > 0.
    x0 : float
        Starting point, the same for every step size.
    burn_in, keep : int
        Transient steps to drop, then states to keep (``keep >= 1``).
    max_abs : float
        Divergence threshold, as in :func:`iterate`.

    Returns
    -------
    lr, x : numpy.ndarray
        Matching 1-D arrays of points (γ, x_t), ready for ``ax.plot(lr, x, ",")``.

    Examples
    --------
    >>> lr, x = bifurcation(lambda x: x**3 - x, [0.5, 1.2], x0=0.5, burn_in=500, keep=4)
    >>> lr.tolist()
    [0.5, 0.5, 0.5, 0.5, 1.2, 1.2, 1.2, 1.2]
    >>> np.round(x[:4], 6).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    _check_grad_map(grad, max_abs)
    gammas, _ = _check_lr(lrs)
    burn_in = _check_steps(burn_in, "burn_in")
    keep = _check_steps(keep, "keep")
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    if np.ndim(x0) != 0:
        raise ValueError(f"x0 must be a scalar (a 1-D map), got shape {np.shape(x0)}")
    x = _run_map(grad, np.full(gammas.size, float(x0)), gammas, max_abs, burn_in)
    kept = np.empty((keep, gammas.size))
    _run_map(grad, x, gammas, max_abs, keep, kept)
    lr_points = np.repeat(gammas, keep)
    x_points = kept.T.ravel()
    finite = np.isfinite(x_points)
    return lr_points[finite], x_points[finite]


# ---------------------------------------------------------------------------------------
# Deep linear networks ½‖R − W_L ⋯ W_1‖²_F
# ---------------------------------------------------------------------------------------


def _check_target(R) -> np.ndarray:
    """Return R as a (d, d) matrix (d = 1 for a scalar) after checking it."""
    target = np.asarray(R, dtype=float)
    if target.ndim == 0:
        if not np.isfinite(target):
            raise ValueError(f"R must be finite, got {R!r}")
        return target.reshape(1, 1)
    if (
        target.ndim != 2
        or target.shape[0] != target.shape[1]
        or not np.all(np.isfinite(target))
        or not np.allclose(target, target.T)
    ):
        raise ValueError(f"R must be a scalar or a symmetric matrix, got shape {target.shape}")
    return target


def _check_depth(depth: int) -> int:
    if isinstance(depth, bool) or int(depth) != depth or depth < 1:
        raise ValueError(f"depth must be a positive integer, got {depth!r}")
    return int(depth)


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
    depth = _check_depth(depth)
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
    weights = np.asarray(init, dtype=float)
    if weights.ndim == 0:
        return np.broadcast_to(float(weights) * np.eye(dim), (depth, dim, dim)).copy()
    expected = (depth,) if dim == 1 else (depth, dim, dim)
    if weights.shape != expected or not np.all(np.isfinite(weights)):
        raise ValueError(f"init weights must be finite with shape {expected}, got {weights.shape}")
    return weights.reshape(depth, dim, dim).copy()


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
    depth = _check_depth(depth)
    lrs, scalar_lr = _check_lr(lr)
    steps = _check_steps(steps)
    if not max_abs > 0:
        raise ValueError(f"max_abs must be > 0, got {max_abs}")
    dim = target.shape[0]
    weights = np.broadcast_to(
        _initial_weights(init, depth, dim), (lrs.size, depth, dim, dim)
    ).copy()
    gamma = lrs[:, None, None, None]
    out = np.empty((steps + 1, *weights.shape))
    out[0] = weights
    _run_map(lambda w: _deep_linear_grad(w, target), weights, gamma, max_abs, steps, out[1:])
    out = np.moveaxis(out, 0, 1)
    if np.ndim(R) == 0:
        out = out[..., 0, 0]
    return out[0] if scalar_lr else out
