"""Curvature of a loss by Hessian-vector products: HVPs, the top eigenvalue, the trace.

The Hessian of a network is never formed. A Hessian-vector product Hv costs about two
backward passes (Pearlmutter, 1994): differentiate ⟨∇L(θ), v⟩ with respect to θ. On
top of that, :func:`top_eigenvalue` runs the Lanczos iteration (with full
reorthogonalisation, so it is stable in float32 too) or power iteration, from a random
vector or warm-started from a given one, on H or on a diagonally preconditioned
P^(−1/2) H P^(−1/2); :func:`hessian_trace` runs Hutchinson's estimator.

``loss_fn`` is a function of no arguments that computes the loss from the current values
of ``params``, over a fixed batch or the whole data set. The caller decides what the
model's mode is. It matters for BatchNorm: in ``train()`` mode the loss uses the batch's
statistics (the function gradient descent actually sees, but every call also updates the
running averages), in ``eval()`` mode it uses the stored running averages (a different
function, with a different Hessian). Dropout must be off (or its randomness fixed), or the
loss is not a fixed function. The functions here call ``loss_fn`` exactly once.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from lrlab import _check

__all__ = ["hvp", "top_eigenvalue", "hessian_trace"]


def _as_params(params: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    if isinstance(params, torch.Tensor):
        params = [params]
    params = list(params)
    if not params:
        raise ValueError("params must hold at least one tensor, got none")
    for p in params:
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"params must be tensors, got {type(p).__name__}")
        if not p.requires_grad:
            raise ValueError("params must all require grad, got one with requires_grad=False")
    return params


def _hessian_operator(
    loss_fn: Callable[[], torch.Tensor], params: list[torch.Tensor]
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Compute the gradient once (with its graph) and return v ↦ Hv on flat vectors."""
    loss = loss_fn()
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise ValueError("loss_fn must return a scalar tensor")
    grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    # Only gradients that depend on the parameters contribute to Hv; a parameter the
    # loss does not use (or uses linearly) has a zero row in the Hessian.
    live = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]
    sizes = [p.numel() for p in params]

    def matvec(v: torch.Tensor) -> torch.Tensor:
        pieces = torch.split(v, sizes)
        if not live:
            return torch.zeros_like(v)
        products = torch.autograd.grad(
            [grads[i] for i in live],
            params,
            grad_outputs=[pieces[i].view_as(params[i]) for i in live],
            retain_graph=True,
            allow_unused=True,
        )
        return torch.cat(
            [
                (torch.zeros_like(p) if hv is None else hv).reshape(-1)
                for p, hv in zip(params, products, strict=True)
            ]
        )

    return matvec


def _flatten(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _unflatten(flat: torch.Tensor, params: list[torch.Tensor]) -> list[torch.Tensor]:
    pieces = torch.split(flat, [p.numel() for p in params])
    return [piece.view_as(p) for piece, p in zip(pieces, params, strict=True)]


def hvp(
    loss_fn: Callable[[], torch.Tensor],
    params: Iterable[torch.Tensor],
    v: torch.Tensor | Sequence[torch.Tensor],
) -> torch.Tensor | list[torch.Tensor]:
    """Hessian-vector product Hv of ``loss_fn()`` with respect to ``params``.

    Double backprop (Pearlmutter, 1994): Hv = ∇_θ ⟨∇_θ L(θ), v⟩, exact up to rounding.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn() -> scalar tensor`` (see the module's note on BatchNorm and dropout).
    params : iterable of torch.Tensor
        The parameters (``requires_grad=True``), e.g. ``model.parameters()``.
    v : torch.Tensor or sequence of torch.Tensor
        Either one flat vector with as many entries as all parameters together, or one
        tensor per parameter with the same shapes.

    Returns
    -------
    torch.Tensor or list of torch.Tensor
        Hv, in the same form as ``v``.

    Examples
    --------
    >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> hvp(lambda: (w**3).sum(), [w], torch.tensor([1.0, 1.0])).tolist()
    [6.0, 12.0]
    """
    params = _as_params(params)
    flat_input = isinstance(v, torch.Tensor)
    product = _hessian_operator(loss_fn, params)(_as_flat("v", v, params))
    return product if flat_input else _unflatten(product, params)


def _start_vector(params: list[torch.Tensor], seed: int) -> torch.Tensor:
    """A random unit vector, the same for a given seed on every device."""
    total = sum(p.numel() for p in params)
    generator = torch.Generator().manual_seed(seed)
    v = torch.randn(total, generator=generator, dtype=torch.float64)
    return (v / v.norm()).to(params[0].device, params[0].dtype)


def _as_flat(name: str, value, params: list[torch.Tensor]) -> torch.Tensor:
    """``value`` (one flat tensor, or one tensor per parameter) as a flat vector like params."""
    total = sum(p.numel() for p in params)
    if isinstance(value, torch.Tensor):
        if value.shape != (total,):
            raise ValueError(
                f"{name} must have shape ({total},) when flat, got {tuple(value.shape)}"
            )
        flat = value
    else:
        value = list(value)
        if len(value) != len(params) or any(
            not isinstance(a, torch.Tensor) or a.shape != p.shape
            for a, p in zip(value, params, strict=False)
        ):
            raise ValueError(
                f"{name} must be a flat tensor or one tensor per parameter, same shapes"
            )
        flat = _flatten(value)
    first = params[0]
    return flat.detach().to(first.device, first.dtype)


def _lanczos(matvec, q: torch.Tensor, iters: int, tol: float):
    """Lanczos with full reorthogonalisation; returns (θ_max, vector, estimates, converged)."""
    # The basis lives in the rows of one buffer that doubles when full: the
    # reorthogonalisation then multiplies by a view instead of stacking a list every step.
    basis = q.new_empty((min(iters, 8), q.numel()))
    basis[0] = q
    alphas: list[float] = []
    betas: list[float] = []
    estimates: list[float] = []
    w = matvec(q)
    for k in range(iters):
        alpha = float(torch.dot(basis[k], w))
        if not math.isfinite(alpha):  # the curvature overflowed: there is nothing to solve
            return math.nan, q, estimates, False
        alphas.append(alpha)
        w = w - alpha * basis[k]
        if k > 0:
            w = w - betas[k - 1] * basis[k - 1]
        # Full reorthogonalisation, twice ("twice is enough"): keeps the basis orthogonal
        # in finite precision, so no spurious copies of the top eigenvalue appear.
        used = basis[: k + 1]
        for _ in range(2):
            w = torch.addmv(w, used.T, used @ w, alpha=-1)
        beta = float(w.norm())
        if not math.isfinite(beta):
            return math.nan, q, estimates, False
        # The small tridiagonal matrix in float64 NumPy (a few microseconds, no device).
        tridiagonal = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
        ritz_values, ritz_vectors = np.linalg.eigh(tridiagonal)
        theta = float(ritz_values[-1])
        estimates.append(theta)
        # ‖H y − θ y‖ = β_k |last entry of the Ritz vector| for the Ritz pair (θ, y).
        residual = beta * abs(float(ritz_vectors[-1, -1]))
        scale = max(abs(theta), 1e-30)
        if residual <= tol * scale or beta <= 1e-12 * scale or k == iters - 1:
            coefficients = torch.from_numpy(ritz_vectors[:, -1]).to(q.device, q.dtype)
            vector = used.T @ coefficients
            return theta, vector / vector.norm(), estimates, residual <= tol * scale
        betas.append(beta)
        if k + 1 == len(basis):
            basis = torch.cat([basis, torch.empty_like(basis)])[:iters]
        basis[k + 1] = w / beta
        w = matvec(basis[k + 1])
    raise AssertionError("unreachable")  # pragma: no cover


def _power(matvec, v: torch.Tensor, iters: int, tol: float):
    """Power iteration; returns (Rayleigh quotient, vector, estimates, converged)."""
    estimates: list[float] = []
    for _ in range(iters):
        w = matvec(v)
        value = float(torch.dot(v, w))
        if not math.isfinite(value):
            return math.nan, v, estimates, False
        estimates.append(value)
        residual = float((w - value * v).norm())
        if residual <= tol * max(abs(value), 1e-30):
            return value, v, estimates, True
        norm = w.norm()
        if float(norm) == 0.0:
            return 0.0, v, estimates, True
        v = w / norm
    return value, v, estimates, False


def top_eigenvalue(
    loss_fn: Callable[[], torch.Tensor],
    params: Iterable[torch.Tensor],
    iters: int = 100,
    tol: float = 1e-4,
    method: str = "lanczos",
    seed: int = 0,
    return_info: bool = False,
    init: torch.Tensor | Sequence[torch.Tensor] | None = None,
    preconditioner: torch.Tensor | Sequence[torch.Tensor] | None = None,
):
    """The largest eigenvalue λ_max of the loss's Hessian and its eigenvector.

    ``method="lanczos"`` (Lanczos, 1950) builds a Krylov basis with one Hessian-vector
    product per iteration and reads λ_max off the small tridiagonal matrix; it returns the
    algebraically largest eigenvalue and usually needs far fewer products than power
    iteration. ``method="power"`` iterates v ← Hv/‖Hv‖ and converges to the eigenvalue of
    largest *magnitude*: on a non-convex loss with a very negative eigenvalue that is not
    λ_max. Both stop when the residual ‖Hv − λv‖ ≤ tol·abs(λ) or after ``iters`` products.

    **Warm start.** ``init`` starts the solver from a given vector instead of a random one,
    typically the eigenvector this function returned for nearby parameters (the previous
    measurement during training). The stopping test is the same residual test, so the
    answer is as accurate as a cold start's; the closer the start is to the new top
    eigenvector, the fewer products it takes (one, if it is the eigenvector). The test
    cannot tell which eigenvalue a small residual belongs to: if another eigenvalue has
    overtaken the old top one, a warm start may stop on the old one; a cold start from a
    random vector does not have that bias.

    **Preconditioning.** With a positive diagonal ``preconditioner`` P (one entry per
    parameter) the solver works on the symmetric matrix P^(−1/2) H P^(−1/2), whose
    eigenvalues are those of P⁻¹H (the two are similar), so it returns λ₁(P⁻¹H): the
    curvature that a preconditioned step θ ← θ − η P⁻¹g sees (Cohen et al., 2022). The
    returned vector u is the eigenvector of P^(−1/2) H P^(−1/2); that of P⁻¹H is
    P^(−1/2) u.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn() -> scalar tensor`` over a fixed batch or the full data set. The caller
        sets the model's mode: with BatchNorm, ``train()`` mode measures the curvature of
        the batch-statistics loss that training follows (and updates the running averages
        once), ``eval()`` mode that of the running-average loss.
    params : iterable of torch.Tensor
        Parameters with ``requires_grad=True``.
    iters : int
        Maximum number of Hessian-vector products.
    tol : float
        Relative residual at which to stop.
    method : {"lanczos", "power"}
        The eigensolver.
    seed : int
        Seed of the random start vector.
    return_info : bool
        Also return a dict with ``hvps`` (products used), ``converged`` and ``estimates``
        (the estimate of λ_max after each product).
    init : torch.Tensor or sequence of torch.Tensor, optional
        Start vector (flat, or one tensor per parameter; any nonzero norm), e.g. a
        previously returned eigenvector; ``seed`` is then unused.
    preconditioner : torch.Tensor or sequence of torch.Tensor, optional
        The diagonal of P, all entries finite and > 0 (flat, or one tensor per parameter).

    Returns
    -------
    eigenvalue : float
        NaN (with a warning) when a Hessian-vector product overflows.
    eigenvector : list of torch.Tensor
        Unit-norm, one tensor per parameter (of P^(−1/2) H P^(−1/2) when preconditioned).
    info : dict
        Only when ``return_info`` is true.

    Warns
    -----
    RuntimeWarning
        When the residual has not reached ``tol`` after ``iters`` products.

    Examples
    --------
    >>> w = torch.zeros(3, requires_grad=True)
    >>> scales = torch.tensor([1.0, 5.0, 2.0])
    >>> value, vector = top_eigenvalue(lambda: 0.5 * (scales * w**2).sum(), [w])
    >>> round(value, 6)
    5.0
    >>> value, _, info = top_eigenvalue(
    ...     lambda: 0.5 * (scales * w**2).sum(), [w], init=vector, return_info=True
    ... )
    >>> round(value, 6), info["hvps"]
    (5.0, 1)
    >>> value, _ = top_eigenvalue(  # λ₁(P⁻¹H) with P = diag(1, 10, 1)
    ...     lambda: 0.5 * (scales * w**2).sum(), [w], preconditioner=torch.tensor([1.0, 10, 1])
    ... )
    >>> round(value, 6)
    2.0
    """
    params = _as_params(params)
    iters = _check.integer("iters", iters, minimum=1)
    tol = _check.number("tol", tol, low=0, low_open=True)
    if method not in ("lanczos", "power"):
        raise ValueError(f'method must be "lanczos" or "power", got {method!r}')
    if init is None:
        start = _start_vector(params, seed)
    else:
        start = _as_flat("init", init, params)
        norm = float(start.norm())
        if not (math.isfinite(norm) and norm > 0):
            raise ValueError(f"init must have a finite nonzero norm, got {norm}")
        start = start / norm
    scaling = None
    if preconditioner is not None:
        diagonal = _as_flat("preconditioner", preconditioner, params)
        if not bool(torch.isfinite(diagonal).all() and (diagonal > 0).all()):
            raise ValueError("preconditioner must hold finite entries > 0")
        scaling = diagonal.rsqrt()  # P^(-1/2)
    hessian = _hessian_operator(loss_fn, params)
    matvec = hessian if scaling is None else (lambda u: scaling * hessian(scaling * u))
    solver = _lanczos if method == "lanczos" else _power
    value, vector, estimates, converged = solver(matvec, start, iters, tol)
    if math.isnan(value):
        warnings.warn(
            "top_eigenvalue: a Hessian-vector product was not finite (the loss or its "
            "curvature overflows at these parameters); returning nan",
            RuntimeWarning,
            stacklevel=2,
        )
    elif not converged:
        warnings.warn(
            f"top_eigenvalue ({method}) did not reach tol={tol} in {iters} Hessian-vector "
            "products; raise iters",
            RuntimeWarning,
            stacklevel=2,
        )
    eigenvector = _unflatten(vector.detach(), params)
    if return_info:
        info = {"hvps": len(estimates), "converged": converged, "estimates": estimates}
        return value, eigenvector, info
    return value, eigenvector


def hessian_trace(
    loss_fn: Callable[[], torch.Tensor],
    params: Iterable[torch.Tensor],
    samples: int = 100,
    seed: int = 0,
) -> float:
    """Hutchinson's estimate of the Hessian's trace, the mean of vᵀHv over random signs.

    For v with independent ±1 entries E[vᵀHv] = tr(H) (Hutchinson, 1989); the variance is
    2(‖H‖²_F − Σ H_ii²)/samples, so the estimate is exact for a diagonal Hessian.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn() -> scalar tensor`` (see :func:`top_eigenvalue` on BatchNorm).
    params : iterable of torch.Tensor
        Parameters with ``requires_grad=True``.
    samples : int
        Number of Rademacher vectors (one Hessian-vector product each).
    seed : int
        Seed of the random signs.

    Returns
    -------
    float

    Examples
    --------
    >>> w = torch.zeros(3, requires_grad=True)
    >>> scales = torch.tensor([1.0, 5.0, 2.0])
    >>> hessian_trace(lambda: 0.5 * (scales * w**2).sum(), [w], samples=3)
    8.0
    """
    params = _as_params(params)
    samples = _check.integer("samples", samples, minimum=1)
    matvec = _hessian_operator(loss_fn, params)
    total = sum(p.numel() for p in params)
    generator = torch.Generator().manual_seed(seed)
    estimate = 0.0
    for _ in range(samples):
        signs = torch.randint(0, 2, (total,), generator=generator, dtype=torch.int8)
        v = (2 * signs - 1).to(params[0].device, params[0].dtype)
        estimate += float(torch.dot(v, matvec(v)))
    return estimate / samples
