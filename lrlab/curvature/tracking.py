"""Tracking sharpness during training, against the optimizer's stability threshold.

:func:`stability_threshold` is the sharpness above which the optimizer in use is unstable
on a quadratic: 2/η for gradient descent, (2 + 2β)/η with heavy-ball momentum, and
(2 + 2β₁)/((1 − β₁)η) for Adam's *preconditioned* sharpness. :class:`SharpnessTracker`
records the sharpness (:func:`lrlab.curvature.sharpness`), or with Adam the preconditioned
sharpness (:func:`lrlab.curvature.preconditioned_sharpness`), during
:func:`lrlab.train.fit` next to that threshold, each measurement warm-started from the
previous one's eigenvector.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lrlab import _check
from lrlab.curvature.measure import MODES, sharpness
from lrlab.curvature.preconditioned import adam_preconditioner
from lrlab.options import LOSSES

__all__ = ["OPTIMIZERS", "SharpnessTracker", "stability_threshold"]

#: The optimizer families :func:`stability_threshold` knows.
OPTIMIZERS = ("sgd", "adam", "adamw")
_ADAM = (torch.optim.Adam, torch.optim.AdamW)


def stability_threshold(
    lr,
    momentum: float = 0.0,
    nesterov: bool = False,
    *,
    optimizer: str = "sgd",
    beta1: float = 0.9,
) -> float:
    r"""The sharpness above which the optimizer with rate ``lr`` is unstable on a quadratic.

    For SGD (``optimizer="sgd"``), the inverse of :func:`lrlab.dynamics.max_stable_lr`:
    gradient descent with step η converges along a direction of curvature λ exactly when λ
    is below

    - plain GD: 2/η;
    - heavy ball, ``torch.optim.SGD(momentum=β)``: (2 + 2β)/η;
    - PyTorch's Nesterov: 2(1 + β)/((1 + 2β)η).

    Cohen et al. (ICLR 2021) found full-batch training hovering at exactly this level
    (for momentum, at (2 + 2β)/η, their eq. 1), the edge of stability.

    For Adam and AdamW (``optimizer="adam"`` or ``"adamw"``) the threshold is on the
    *preconditioned* sharpness λ₁(P⁻¹H) (:func:`lrlab.curvature.preconditioned_sharpness`):
    with P frozen, the update m ← β₁m + (1 − β₁)g, θ ← θ − ηP⁻¹m is heavy-ball momentum β₁
    with step (1 − β₁)η on the curvature P⁻¹H, stable below

    .. math::

        \frac{2 + 2\beta_1}{(1 - \beta_1)\,\eta},

    38/η at β₁ = 0.9 (Cohen et al., 2022, *Adaptive Gradient Methods at the Edge of
    Stability*, §2, where full-batch Adam's preconditioned sharpness hovers).

    Parameters
    ----------
    lr : float
        The step size η > 0.
    momentum : float
        SGD's β in [0, 1) (for Adam, give ``beta1``).
    nesterov : bool
        SGD's Nesterov flag.
    optimizer : {"sgd", "adam", "adamw"}
    beta1 : float
        Adam's β₁ in [0, 1) (``betas[0]``; :func:`lrlab.train.fit`'s ``momentum`` with Adam).

    Returns
    -------
    float

    Examples
    --------
    >>> stability_threshold(0.1)
    20.0
    >>> round(stability_threshold(0.1, momentum=0.9), 6)
    38.0
    >>> round(stability_threshold(0.1, optimizer="adam", beta1=0.9), 6)
    380.0
    """
    lr = _check.number("lr", lr, low=0, low_open=True)
    momentum = _check.number("momentum", momentum, 0, 1, high_open=True)
    nesterov = _check.flag("nesterov", nesterov)
    _check.choice("optimizer", optimizer, OPTIMIZERS)
    beta1 = _check.number("beta1", beta1, 0, 1, high_open=True)
    if optimizer != "sgd":
        if momentum != 0 or nesterov:
            raise ValueError(
                f"momentum and nesterov are SGD's; for optimizer={optimizer!r} give beta1, "
                f"got momentum={momentum}, nesterov={nesterov}"
            )
        return (2.0 + 2.0 * beta1) / ((1.0 - beta1) * lr)
    if nesterov and momentum == 0:
        raise ValueError("nesterov=True needs momentum > 0, got momentum=0.0")
    if nesterov:
        return 2.0 * (1.0 + momentum) / ((1.0 + 2.0 * momentum) * lr)
    return (2.0 + 2.0 * momentum) / lr


class SharpnessTracker:
    """A :func:`lrlab.train.fit` callback recording the sharpness and the stability threshold.

    Every ``every`` optimizer steps it measures the curvature of the loss on a fixed batch
    (the training set itself for full-batch gradient descent) and records two series in the
    History:

    - with SGD, ``"sharpness"`` (λ_max after the step, :func:`lrlab.curvature.sharpness`)
      and ``"stability_threshold"`` (:func:`stability_threshold` of the optimizer in use at
      that step's rate ``history.lr[step]``: 2/η, (2 + 2β)/η, or Nesterov's);
    - with Adam or AdamW, ``"preconditioned_sharpness"`` (λ₁(P⁻¹H),
      :func:`lrlab.curvature.preconditioned_sharpness`) and ``"stability_threshold"``
      ((2 + 2β₁)/((1 − β₁)η), 38/η at β₁ = 0.9; Cohen et al., 2022).

    The optimizer is the one :func:`lrlab.train.fit` trains with (it hands it over through
    :meth:`on_fit_start`); in a loop of your own pass it as ``optimizer``. Without an
    optimizer object the tracker reads the optimizer's name, momentum and Nesterov flag
    from ``history.config`` (as fit writes it) and, for Adam, can only record
    ``"sharpness"`` (no threshold applies to it). ``preconditioned=False`` records the
    plain ``"sharpness"`` under Adam too (without a threshold); two trackers give both.

    **Warm start** (issue 26). The sharpness changes little between measurements, so each
    measurement after the first starts the eigensolver from the previous top eigenvector
    and stops on the same residual test (‖Hv − λv‖ ≤ tol·abs(λ), :func:`top_eigenvalue`), so
    the values agree with cold measurements to the solver's tolerance while using far
    fewer Hessian-vector products (``benchmarks/curvature.py``). A warm start cannot see an
    eigenvalue that overtakes the tracked one from far away in the spectrum until the
    residual grows; ``warm_start=False`` makes every measurement a fresh one from a random
    vector. ``hvps`` counts the products spent, ``counts`` them per measurement.

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
        SGD's, if not read from the optimizer or ``history.config``.
    optimizer : torch.optim.Optimizer, optional
        The optimizer training the model, for a loop other than fit's.
    preconditioned : bool, optional
        Measure λ₁(P⁻¹H) (needs Adam or AdamW); by default exactly when the optimizer is
        Adam or AdamW.
    mode : {"train", "eval"}, optional
        Measure in this mode (see :func:`lrlab.curvature.sharpness`); by default in the
        model's (train mode, under fit).
    examples : int, optional
        Measure on the first ``examples`` examples of the batch.
    warm_start : bool
        Start each measurement from the previous eigenvector.
    seed : int
        Seed of the first (cold) start vector.
    threshold : bool
        Also record ``"stability_threshold"``.

    Attributes
    ----------
    hvps : int
        Hessian-vector products spent so far.
    counts : list of int
        Hessian-vector products of each measurement.

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

    With Adam, the preconditioned sharpness against 38/η:

    >>> _ = torch.manual_seed(0)
    >>> net = models.build("mlp", 10, digits.input_shape, hidden=(32,))
    >>> tracker = SharpnessTracker(x[:256], y[:256], every=5, tol=1e-3)
    >>> history = train.fit(
    ...     net, digits, 1e-3, epochs=1, optimizer="adam", progress=False, callbacks=[tracker]
    ... )
    >>> sorted(history.extras)
    ['preconditioned_sharpness', 'stability_threshold']
    >>> round(history.extras["stability_threshold"][0][1])  # 38/η
    38000
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
        *,
        optimizer: torch.optim.Optimizer | None = None,
        preconditioned: bool | None = None,
        mode: str | None = None,
        examples: int | None = None,
        warm_start: bool = True,
        seed: int = 0,
        threshold: bool = True,
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
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
        if preconditioned is not None:
            _check.flag("preconditioned", preconditioned)
            if preconditioned and optimizer is not None and not isinstance(optimizer, _ADAM):
                raise ValueError(
                    "preconditioned=True needs optimizer to be Adam or AdamW, got "
                    f"{type(optimizer).__name__}"
                )
        if mode is not None:
            _check.choice("mode", mode, MODES)
        if examples is not None:
            examples = _check.integer("examples", examples, minimum=1)
        self.inputs, self.targets = inputs, targets
        self.loss, self.method, self.tol, self.iters, self.dtype = loss, method, tol, iters, dtype
        self.momentum, self.nesterov = momentum, nesterov
        self.optimizer, self.preconditioned = optimizer, preconditioned
        self.mode, self.examples = mode, examples
        self.warm_start = _check.flag("warm_start", warm_start)
        self.seed = _check.integer("seed", seed, minimum=0)
        self.threshold = _check.flag("threshold", threshold)
        self.hvps = 0  # Hessian-vector products spent so far, for cost accounting
        self.counts: list[int] = []
        self._vector: list[torch.Tensor] | None = None  # the last top eigenvector

    def wants(self, step: int) -> bool:
        """Whether the tracker measures at ``step`` (``step % every == 0``)."""
        return step % self.every == 0

    def on_fit_start(self, model: nn.Module, optimizer: torch.optim.Optimizer, history) -> None:
        """Take the optimizer that :func:`lrlab.train.fit` trains with; forget the last vector."""
        self.optimizer = optimizer
        self._vector = None

    def _uses_preconditioner(self) -> bool:
        if self.preconditioned is False:
            return False
        if self.optimizer is None:
            if self.preconditioned:
                raise ValueError(
                    "preconditioned=True needs the optimizer: pass optimizer= or run the "
                    "tracker under lrlab.train.fit"
                )
            return False
        return self.preconditioned or isinstance(self.optimizer, _ADAM)

    def _threshold(self, lr: float, config: dict, preconditioned: bool) -> float | None:
        group = self.optimizer.param_groups[0] if self.optimizer is not None else {}
        if preconditioned:
            beta1 = float(group["betas"][0])
            return stability_threshold(lr, optimizer="adam", beta1=beta1) if lr > 0 else math.inf
        if self.optimizer is not None:
            kind = "sgd" if isinstance(self.optimizer, torch.optim.SGD) else None
        else:
            kind = config.get("optimizer", "sgd")
        if self.momentum is None and kind != "sgd":
            return None
        momentum = next(
            v
            for v in (self.momentum, group.get("momentum"), config.get("momentum", 0.0))
            if v is not None
        )
        nesterov = next(
            v
            for v in (self.nesterov, group.get("nesterov"), config.get("nesterov", False))
            if v is not None
        )
        return stability_threshold(lr, momentum, nesterov) if lr > 0 else math.inf

    def _start(self, model: nn.Module) -> list[torch.Tensor] | None:
        """The previous eigenvector, if there is a usable one for this model."""
        if not self.warm_start or self._vector is None:
            return None
        shapes = [p.shape for p in model.parameters() if p.requires_grad]
        if shapes != [v.shape for v in self._vector]:
            return None
        return self._vector

    def __call__(self, model: nn.Module, step: int, history) -> None:
        if not self.wants(step):
            return
        preconditioned = self._uses_preconditioner()
        options = {
            "loss": self.loss or history.config.get("loss", "cross_entropy"),
            "method": self.method,
            "tol": self.tol,
            "iters": self.iters,
            "dtype": self.dtype,
            "seed": self.seed,
            "mode": self.mode,
            "examples": self.examples,
            "init": self._start(model),
            "return_info": True,
        }
        if preconditioned:
            params = [p for p in model.parameters() if p.requires_grad]
            options["preconditioner"] = adam_preconditioner(self.optimizer, params)
        value, info = sharpness(model, self.inputs, self.targets, **options)
        self.hvps += info["hvps"]
        self.counts.append(info["hvps"])
        self._vector = info["eigenvector"] if math.isfinite(value) else None
        history.record("preconditioned_sharpness" if preconditioned else "sharpness", step, value)
        if not self.threshold:
            return
        threshold = self._threshold(history.lr[step], history.config, preconditioned)
        if threshold is not None:
            history.record("stability_threshold", step, threshold)
