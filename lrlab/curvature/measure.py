"""The sharpness of a network: the top Hessian eigenvalue of its loss on a batch.

:func:`sharpness` measures λ_max of ``loss(model(inputs), targets)`` with respect to the
model's parameters, in the model's mode or in a chosen one, at its weights or at given
ones, on the whole batch or on its first examples, and leaves the model exactly as it was
(:func:`lrlab.models.preserved`). With a diagonal preconditioner P it measures λ₁(P⁻¹H)
instead (:func:`lrlab.curvature.preconditioned_sharpness` builds Adam's).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from lrlab import _check
from lrlab.curvature.hessian import top_eigenvalue
from lrlab.models import preserved
from lrlab.step import loss_function

__all__ = ["MODES", "sharpness"]

MODES = ("train", "eval")


def _check_batch(inputs, targets) -> None:
    if not isinstance(inputs, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise TypeError("inputs and targets must be tensors")
    if len(inputs) == 0 or len(inputs) != len(targets):
        raise ValueError(
            f"inputs and targets must hold the same number (>= 1) of examples, got "
            f"{len(inputs)} and {len(targets)}"
        )


def _weights_as_list(weights, model: nn.Module) -> list[torch.Tensor]:
    """``weights`` (flat over ``model.parameters()``, or one tensor each) as a list."""
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    if isinstance(weights, torch.Tensor):
        if weights.shape != (total,):
            raise ValueError(
                f"weights must have shape ({total},) when flat (all of model.parameters()), "
                f"got {tuple(weights.shape)}"
            )
        pieces = torch.split(weights.detach(), [p.numel() for p in params])
        return [piece.view_as(p) for piece, p in zip(pieces, params, strict=True)]
    weights = list(weights)
    if len(weights) != len(params) or any(
        not isinstance(w, torch.Tensor) or w.shape != p.shape
        for w, p in zip(weights, params, strict=False)
    ):
        raise ValueError(
            "weights must be a flat tensor or one tensor per parameter of model.parameters()"
        )
    return [w.detach() for w in weights]


def _active_dropout(model: nn.Module, mode: str | None) -> bool:
    """Whether some dropout layer would be random during the measurement."""
    return any(
        isinstance(m, nn.modules.dropout._DropoutNd)
        and m.p > 0
        and (m.training if mode is None else mode == "train")
        for m in model.modules()
    )


def sharpness(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
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
    preconditioner: Sequence[torch.Tensor] | None = None,
):
    """The sharpness λ_max: the top Hessian eigenvalue of the mean loss over one batch.

    Gradient descent with step η is stable near a minimum only if λ_max < 2/η; Cohen et al.
    (ICLR 2021) found that full-batch training drives λ_max up to 2/η and keeps it there
    (the edge of stability). The Hessian is never formed: :func:`top_eigenvalue` runs
    Lanczos (or power iteration) on Hessian-vector products of
    ``loss(model(inputs), targets)`` with respect to every parameter that requires grad.

    The model is measured in its current mode unless ``mode`` says otherwise (in
    ``train()`` mode BatchNorm uses the batch's statistics, as training does; in ``eval()``
    mode its running averages), at its current weights unless ``weights`` are given.
    Afterwards its parameters, buffers (BatchNorm's running averages) and mode are as they
    were (:func:`lrlab.models.preserved`), so the call has no side effect.

    Parameters
    ----------
    model : torch.nn.Module
        Without active dropout in the measuring mode (the loss must be a fixed function).
    inputs, targets : torch.Tensor
        The batch (moved to the model's device); integer class labels as targets.
    loss : {"cross_entropy", "mse"}
        Cross-entropy, or the square loss on one-hot targets
        (:func:`lrlab.step.square_loss`), both averaged over the batch.
    method : {"lanczos", "power"}
        See :func:`top_eigenvalue`.
    tol : float
        Relative residual at which the eigensolver stops.
    iters : int
        Maximum number of Hessian-vector products.
    dtype : torch.dtype, optional
        Measure on a copy of the model and the inputs in this dtype, e.g.
        ``torch.float64`` where rounding matters; by default the model's own.
    seed : int
        Seed of the eigensolver's start vector.
    return_info : bool
        Also return :func:`top_eigenvalue`'s info dict (``hvps``, ``converged``,
        ``estimates``) with ``eigenvector`` added (one tensor per parameter that requires
        grad), the vector to pass as ``init`` to the next measurement.
    mode : {"train", "eval"}, optional
        Measure with the whole model in this mode; by default in the mode it is in.
    examples : int, optional
        Use only the first ``examples`` examples of the batch (all if there are fewer).
    weights : torch.Tensor or sequence of torch.Tensor, optional
        Measure at these weights: one flat vector over ``model.parameters()`` (as
        :func:`torch.nn.utils.parameters_to_vector` makes) or one tensor per parameter.
    init : sequence of torch.Tensor, optional
        Warm start: the eigensolver's start vector (see :func:`top_eigenvalue`), e.g. the
        ``eigenvector`` of the previous measurement; ``seed`` is then unused.
    preconditioner : sequence of torch.Tensor, optional
        A positive diagonal P, one tensor per parameter that requires grad: measure
        λ₁(P⁻¹H) instead (see :func:`top_eigenvalue`).

    Returns
    -------
    float, or (float, dict) with ``return_info``

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    >>> x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    >>> value = sharpness(net, x, y, loss="mse", dtype=torch.float64)
    >>> value > 0
    True

    In eval mode, on the first 16 examples, then warm-started from the eigenvector found
    (at the same weights it is already converged: one product):

    >>> options = {"mode": "eval", "examples": 16, "dtype": torch.float64, "return_info": True}
    >>> value, info = sharpness(net, x, y, tol=1e-3, **options)
    >>> again, info = sharpness(net, x, y, tol=1e-3, init=info["eigenvector"], **options)
    >>> abs(again - value) <= 1e-3 * value, info["hvps"]
    (True, 1)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    criterion = loss_function(loss)
    _check.choice("method", method, ("lanczos", "power"))
    _check.integer("iters", iters, minimum=1)
    _check.number("tol", tol, low=0, low_open=True)
    _check_batch(inputs, targets)
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating torch.dtype or None, got {dtype!r}")
    if mode is not None:
        _check.choice("mode", mode, MODES)
    if examples is not None:
        examples = _check.integer("examples", examples, minimum=1)
        inputs, targets = inputs[:examples], targets[:examples]
    if _active_dropout(model, mode):
        raise ValueError('model must have no active dropout (measure with mode="eval", or set p=0)')
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model must have parameters that require grad, got none")
    new_weights = None if weights is None else _weights_as_list(weights, model)
    with preserved(model):
        if new_weights is not None:
            with torch.no_grad():
                for p, w in zip(model.parameters(), new_weights, strict=True):
                    p.copy_(w)
        if mode is not None:
            model.train(mode == "train")
        net = model
        params = [p for p in net.parameters() if p.requires_grad]
        if dtype is not None and dtype != params[0].dtype:
            net = copy.deepcopy(model).to(dtype)
            params = [p for p in net.parameters() if p.requires_grad]
        device, float_dtype = params[0].device, params[0].dtype
        x = inputs.to(device, float_dtype if inputs.is_floating_point() else inputs.dtype)
        y = targets.to(device)
        value, vector, info = top_eigenvalue(
            lambda: criterion(net(x), y),
            params,
            iters=iters,
            tol=tol,
            method=method,
            seed=seed,
            return_info=True,
            init=init,
            preconditioner=preconditioner,
        )
    if return_info:
        return value, {**info, "eigenvector": vector}
    return value
