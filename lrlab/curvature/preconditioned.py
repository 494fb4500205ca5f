r"""Adam's preconditioner and the preconditioned sharpness λ₁(P⁻¹H).

Adam's step is a preconditioned momentum step θ ← θ − η P⁻¹ m_t with a diagonal P built
from the second-moment average. Cohen et al. (2022, *Adaptive Gradient Methods at the Edge
of Stability*, §2) showed that what Adam's stability depends on is the curvature seen
through P, the *preconditioned sharpness* λ₁(P⁻¹H), and that full-batch Adam drives it up
to its threshold (2 + 2β₁)/((1 − β₁)η), 38/η at β₁ = 0.9
(:func:`lrlab.curvature.stability_threshold`), and keeps it there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from lrlab.curvature.measure import sharpness

__all__ = ["adam_preconditioner", "preconditioned_sharpness"]


def adam_preconditioner(
    optimizer: torch.optim.Optimizer, params: Iterable[torch.Tensor] | None = None
) -> list[torch.Tensor]:
    r"""The diagonal of Adam's preconditioner P at its latest step, one tensor per parameter.

    .. math::

        P = (1 - \beta_1^t)\,\Bigl(\operatorname{diag}\sqrt{v_t / (1 - \beta_2^t)}
            + \varepsilon\Bigr),

    with t the steps taken and v_t the average of squared gradients (``exp_avg_sq``;
    ``max_exp_avg_sq`` with ``amsgrad``) in the optimizer's state. This is the
    preconditioner of Cohen et al. (2022, §2) and exactly the one
    :class:`torch.optim.Adam` and :class:`~torch.optim.AdamW` apply: PyTorch divides by
    ``sqrt(v_t) / sqrt(1 − β₂^t) + ε`` and scales the step by ``η / (1 − β₁^t)``, so (the
    ε inside the bias-corrected denominator, as in the paper) its update is

    .. math::

        \theta_t = \theta_{t-1} - \eta\, P^{-1} m_t,

    m_t being ``exp_avg``. AdamW's decoupled weight decay θ ← (1 − ηλ)θ, applied before
    that update, is not part of P; nor is Adam's L2 penalty (``weight_decay``), which is
    added to the gradient, so to the Hessian, not to the preconditioner.

    Parameters
    ----------
    optimizer : torch.optim.Adam or torch.optim.AdamW
        After at least one step for each parameter asked for.
    params : iterable of torch.Tensor, optional
        The parameters to build P for (in this order); by default every parameter of the
        optimizer's groups.

    Returns
    -------
    list of torch.Tensor
        P's diagonal, shaped like each parameter, entries > 0 when ε > 0.

    Raises
    ------
    TypeError
        If ``optimizer`` is not Adam or AdamW.
    ValueError
        If a parameter is not in the optimizer or has no Adam state yet.

    Examples
    --------
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> adam = torch.optim.Adam([w], lr=0.1)
    >>> (w**2).sum().backward()
    >>> adam.step()
    >>> [round(float(p), 6) for p in adam_preconditioner(adam)[0]]  # (1 − β₁)(|g| + ε)
    [0.2, 0.4]
    """
    if not isinstance(optimizer, (torch.optim.Adam, torch.optim.AdamW)):
        raise TypeError(
            "optimizer must be torch.optim.Adam or torch.optim.AdamW (whose state holds "
            f"exp_avg_sq), got {type(optimizer).__name__}"
        )
    groups = {id(p): group for group in optimizer.param_groups for p in group["params"]}
    if params is None:
        params = [p for group in optimizer.param_groups for p in group["params"]]
    diagonal = []
    for p in params:
        group = groups.get(id(p))
        if group is None:
            raise ValueError(
                f"params must be parameters of the optimizer, got one of shape {tuple(p.shape)}"
            )
        state = optimizer.state.get(p, {})
        second = state.get("max_exp_avg_sq" if group["amsgrad"] else "exp_avg_sq")
        if second is None or "step" not in state:
            raise ValueError(
                "optimizer has no Adam state (exp_avg_sq) for a parameter of shape "
                f"{tuple(p.shape)}: it must have taken at least one step with its gradient"
            )
        t = float(state["step"])
        beta1, beta2 = (float(b) for b in group["betas"])
        eps = float(group["eps"])
        # The same operations as PyTorch's denominator, then the first bias correction.
        denom = second.sqrt() / (1 - beta2**t) ** 0.5 + eps
        diagonal.append(((1 - beta1**t) * denom).detach().clone())
    return diagonal


def preconditioned_sharpness(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    loss: str = "cross_entropy",
    method: str = "lanczos",
    tol: float = 1e-4,
    iters: int = 100,
    dtype: torch.dtype | None = None,
    seed: int = 0,
    return_info: bool = False,
    *,
    mode: str | None = None,
    examples: int | None = None,
    weights: torch.Tensor | Sequence[torch.Tensor] | None = None,
    init: Sequence[torch.Tensor] | None = None,
):
    r"""Adam's preconditioned sharpness λ₁(P⁻¹H) of the mean loss over one batch.

    H is the Hessian of ``loss(model(inputs), targets)`` with respect to the parameters
    that require grad, P Adam's preconditioner (:func:`adam_preconditioner`). P⁻¹H is not
    symmetric but is similar to P^(−1/2) H P^(−1/2), whose top eigenvalue Lanczos finds from
    Hessian-vector products (:func:`lrlab.curvature.top_eigenvalue` with
    ``preconditioner=P``). Frozen P, Adam is heavy-ball momentum β₁ on the quadratic
    with curvature P⁻¹H and step (1 − β₁)η, stable while

    .. math::

        \lambda_1(P^{-1} H) < \frac{2 + 2\beta_1}{(1 - \beta_1)\,\eta},

    38/η at β₁ = 0.9; Cohen et al. (2022) found full-batch Adam hovering there.

    Everything else is as in :func:`lrlab.curvature.sharpness` (mode, examples, weights,
    dtype, warm start, no side effect on the model).

    Parameters
    ----------
    model : torch.nn.Module
    inputs, targets : torch.Tensor
    optimizer : torch.optim.Adam or torch.optim.AdamW
        Training ``model`` (every parameter that requires grad), after at least one step.
    loss, method, tol, iters, dtype, seed, return_info, mode, examples, weights, init
        See :func:`lrlab.curvature.sharpness`.

    Returns
    -------
    float, or (float, dict) with ``return_info``

    Raises
    ------
    TypeError
        If ``optimizer`` is not Adam or AdamW.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    >>> x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    >>> adam = torch.optim.Adam(net.parameters(), lr=0.01)
    >>> for _ in range(5):
    ...     adam.zero_grad()
    ...     nn.functional.cross_entropy(net(x), y).backward()
    ...     adam.step()
    >>> preconditioned_sharpness(net, x, y, adam) > 0
    True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = [p for p in model.parameters() if p.requires_grad]
    diagonal = adam_preconditioner(optimizer, params)
    return sharpness(
        model,
        inputs,
        targets,
        loss=loss,
        method=method,
        tol=tol,
        iters=iters,
        dtype=dtype,
        seed=seed,
        return_info=return_info,
        mode=mode,
        examples=examples,
        weights=weights,
        init=init,
        preconditioner=diagonal,
    )
