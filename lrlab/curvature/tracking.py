"""Sharpness of a network and its tracking during training, against the stability threshold.

:func:`sharpness` is the top Hessian eigenvalue of a model's loss on a batch;
:class:`SharpnessTracker` records it during :func:`lrlab.train.fit` next to
:func:`stability_threshold`, the sharpness above which the optimizer in use is unstable.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from lrlab import _check
from lrlab.curvature.hessian import top_eigenvalue
from lrlab.options import LOSSES
from lrlab.step import loss_function

__all__ = ["SharpnessTracker", "sharpness", "stability_threshold"]


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
):
    """The sharpness λ_max: the top Hessian eigenvalue of the mean loss over one batch.

    Gradient descent with step η is stable near a minimum only if λ_max < 2/η; Cohen et al.
    (ICLR 2021) found that full-batch training drives λ_max up to 2/η and keeps it there
    (the edge of stability). The Hessian is never formed: :func:`top_eigenvalue` runs
    Lanczos (or power iteration) on Hessian-vector products of
    ``loss(model(inputs), targets)`` with respect to every parameter that requires grad.

    The model is measured in its current mode (in ``train()`` mode BatchNorm uses the
    batch's statistics, as training does); buffers such as BatchNorm's running averages are
    restored afterwards, so the call has no side effect.

    Parameters
    ----------
    model : torch.nn.Module
        Without active dropout (the loss must be a fixed function).
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
        Also return :func:`top_eigenvalue`'s info dict (``hvps``, ``converged``, ...).

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
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    criterion = loss_function(loss)
    _check.choice("method", method, ("lanczos", "power"))
    _check.integer("iters", iters, minimum=1)
    _check.number("tol", tol, low=0, low_open=True)
    if not isinstance(inputs, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise TypeError("inputs and targets must be tensors")
    if len(inputs) == 0 or len(inputs) != len(targets):
        raise ValueError(
            f"inputs and targets must hold the same number (>= 1) of examples, got "
            f"{len(inputs)} and {len(targets)}"
        )
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating torch.dtype or None, got {dtype!r}")
    if model.training and any(
        isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in model.modules()
    ):
        raise ValueError("model must have no active dropout (call model.eval() or set p=0)")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model must have parameters that require grad, got none")
    net = model
    if dtype is not None and dtype != params[0].dtype:
        net = copy.deepcopy(model).to(dtype)
        params = [p for p in net.parameters() if p.requires_grad]
    device, float_dtype = params[0].device, params[0].dtype
    x = inputs.to(device, float_dtype if inputs.is_floating_point() else inputs.dtype)
    y = targets.to(device)
    saved = {name: b.clone() for name, b in net.named_buffers()} if net is model else {}
    try:
        result = top_eigenvalue(
            lambda: criterion(net(x), y),
            params,
            iters=iters,
            tol=tol,
            method=method,
            seed=seed,
            return_info=return_info,
        )
    finally:
        with torch.no_grad():
            for name, b in net.named_buffers():
                if name in saved:
                    b.copy_(saved[name])
    if return_info:
        value, _, info = result
        return value, info
    return result[0]


def stability_threshold(lr, momentum: float = 0.0, nesterov: bool = False) -> float:
    r"""The sharpness above which SGD with rate ``lr`` is unstable on a quadratic.

    The inverse of :func:`lrlab.dynamics.max_stable_lr`: gradient descent with step η
    converges along a direction of curvature λ exactly when λ is below

    - plain GD: 2/η;
    - heavy ball, ``torch.optim.SGD(momentum=β)``: (2 + 2β)/η;
    - PyTorch's Nesterov: 2(1 + β)/((1 + 2β)η).

    Cohen et al. (ICLR 2021) found full-batch training hovering at exactly this level
    (for momentum, at (2 + 2β)/η, their eq. 1), the edge of stability.

    Parameters
    ----------
    lr : float
        The step size η > 0.
    momentum : float
        β in [0, 1).
    nesterov : bool

    Returns
    -------
    float

    Examples
    --------
    >>> stability_threshold(0.1)
    20.0
    >>> round(stability_threshold(0.1, momentum=0.9), 6)
    38.0
    """
    lr = _check.number("lr", lr, low=0, low_open=True)
    momentum = _check.number("momentum", momentum, 0, 1, high_open=True)
    nesterov = _check.flag("nesterov", nesterov)
    if nesterov and momentum == 0:
        raise ValueError("nesterov=True needs momentum > 0, got momentum=0.0")
    if nesterov:
        return 2.0 * (1.0 + momentum) / ((1.0 + 2.0 * momentum) * lr)
    return (2.0 + 2.0 * momentum) / lr


class SharpnessTracker:
    """A :func:`lrlab.train.fit` callback recording λ_max and the stability threshold.

    Every ``every`` optimizer steps it measures the sharpness of the loss on a fixed batch
    (:func:`lrlab.curvature.sharpness`; the training set itself for full-batch gradient
    descent) and records two series in the History: ``"sharpness"`` (λ_max after the step)
    and ``"stability_threshold"`` (:func:`stability_threshold` of the optimizer in use at
    that step's rate ``history.lr[step]``). The optimizer's momentum and Nesterov flag are
    read from ``history.config`` (as :func:`~lrlab.train.fit` writes it) unless given. For
    Adam and AdamW there is no such threshold (their step is preconditioned; Cohen et al.
    2022 treat that case) and only ``"sharpness"`` is recorded.

    The Lanczos iteration starts from a fixed random vector every time, so each value is a
    fresh measurement, not a continuation of the last.

    Parameters
    ----------
    inputs, targets : torch.Tensor
        The batch the sharpness is measured on.
    every : int
        Measure at steps ``step % every == 0`` (fit calls the tracker only then).
    loss : {"cross_entropy", "mse"}, optional
        The loss to measure; by default the one the run trains with (``history.config``).
    method, tol, iters, dtype
        Passed to :func:`lrlab.curvature.sharpness`.
    momentum : float, optional
    nesterov : bool, optional
        The optimizer's, if not read from ``history.config``.

    Examples
    --------
    >>> from lrlab import data, models, train
    >>> digits = data.load("digits", device="cpu")
    >>> _ = torch.manual_seed(0)
    >>> net = models.build("mlp", 10, digits.input_shape, hidden=(32,))
    >>> x, y = digits.tensors("train")
    >>> tracker = SharpnessTracker(x[:256], y[:256], every=5)
    >>> history = train.fit(net, digits, 0.05, epochs=1, progress=False, callbacks=[tracker])
    >>> [step for step, _ in history.extras["sharpness"]]
    [0, 5, 10]
    >>> history.extras["stability_threshold"][0][1] == (2 + 2 * 0.9) / 0.05
    True
    """

    def __init__(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        every: int = 1,
        loss: str | None = None,
        method: str = "lanczos",
        tol: float = 1e-4,
        iters: int = 100,
        dtype: torch.dtype | None = None,
        momentum: float | None = None,
        nesterov: bool | None = None,
    ):
        if not isinstance(inputs, torch.Tensor) or not isinstance(targets, torch.Tensor):
            raise TypeError("inputs and targets must be tensors")
        if len(inputs) == 0 or len(inputs) != len(targets):
            raise ValueError(
                f"inputs and targets must hold the same number (>= 1) of examples, got "
                f"{len(inputs)} and {len(targets)}"
            )
        self.every = _check.integer("every", every, minimum=1)
        if loss is not None:
            _check.choice("loss", loss, LOSSES)
        _check.choice("method", method, ("lanczos", "power"))
        _check.integer("iters", iters, minimum=1)
        _check.number("tol", tol, low=0, low_open=True)
        if momentum is not None:
            _check.number("momentum", momentum, 0, 1, high_open=True)
        if nesterov is not None:
            _check.flag("nesterov", nesterov)
        self.inputs, self.targets = inputs, targets
        self.loss, self.method, self.tol, self.iters, self.dtype = loss, method, tol, iters, dtype
        self.momentum, self.nesterov = momentum, nesterov
        self.hvps = 0  # Hessian-vector products spent so far, for cost accounting

    def wants(self, step: int) -> bool:
        """Whether the tracker measures at ``step`` (``step % every == 0``)."""
        return step % self.every == 0

    def _threshold(self, lr: float, config: dict) -> float | None:
        if self.momentum is None and config.get("optimizer", "sgd") != "sgd":
            return None
        momentum = self.momentum if self.momentum is not None else config.get("momentum", 0.0)
        nesterov = self.nesterov if self.nesterov is not None else config.get("nesterov", False)
        return stability_threshold(lr, momentum, nesterov) if lr > 0 else math.inf

    def __call__(self, model: nn.Module, step: int, history) -> None:
        if not self.wants(step):
            return
        loss = self.loss or history.config.get("loss", "cross_entropy")
        value, info = sharpness(
            model,
            self.inputs,
            self.targets,
            loss=loss,
            method=self.method,
            tol=self.tol,
            iters=self.iters,
            dtype=self.dtype,
            return_info=True,
        )
        self.hvps += info["hvps"]
        history.record("sharpness", step, value)
        threshold = self._threshold(history.lr[step], history.config)
        if threshold is not None:
            history.record("stability_threshold", step, threshold)
