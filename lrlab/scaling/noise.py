"""The gradient noise scale: how large a batch is worth taking, measured from gradients.

McCandlish et al. (2018, *An Empirical Model of Large-Batch Training*) show that the batch
size beyond which larger batches stop buying proportionally fewer steps is predicted by the
*simple noise scale*

.. math::

    B_\\text{simple} = \\frac{\\operatorname{tr}\\Sigma}{\\lvert G\\rvert^2},

with :math:`G` the full-batch gradient and :math:`\\Sigma` the covariance of one example's
gradient. Neither part is observed directly; both follow, without bias, from the squared
norms of minibatch gradients at two batch sizes, since
:math:`\\mathbb E\\lvert G_B\\rvert^2 = \\lvert G\\rvert^2 + \\operatorname{tr}\\Sigma / B`
for a batch of :math:`B` examples drawn independently (their Appendix A).
:func:`simple_noise_scale` is that estimator, :func:`noise_scale` measures a model with it,
and :class:`NoiseScaleTracker` records it during :func:`lrlab.train.fit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lrlab import _check
from lrlab.step import choose_loss, loss_function

__all__ = ["NoiseScale", "NoiseScaleTracker", "noise_scale", "simple_noise_scale"]


@dataclass(frozen=True)
class NoiseScale:
    """The simple noise scale and its two parts, as :func:`simple_noise_scale` estimates them.

    Attributes
    ----------
    b_simple : float
        ``trace_sigma / grad_sq``; ``inf`` when the estimate of ``grad_sq`` is not positive
        (the gradient is lost in the noise).
    trace_sigma : float
        Estimate of tr Σ, the summed variance of one example's gradient.
    grad_sq : float
        Estimate of ``|G|²``, the squared norm of the full-batch gradient.
    trace_sigma_se, grad_sq_se : float
        Their standard errors over the draws (NaN with one draw).
    small_sq, big_sq : float
        The averages of ``|G_B|²`` over the draws at the two batch sizes.
    small_batch, big_batch, batches : int
        The batch sizes and the number of draws.
    """

    b_simple: float
    trace_sigma: float
    grad_sq: float
    trace_sigma_se: float
    grad_sq_se: float
    small_sq: float
    big_sq: float
    small_batch: int
    big_batch: int
    batches: int


def simple_noise_scale(small_sq, big_sq, small_batch: int, big_batch: int) -> NoiseScale:
    """Unbiased estimates of ``|G|²`` and tr Σ from gradient norms at two batch sizes.

    With :math:`b = ` ``small_batch`` and :math:`B = ` ``big_batch`` (McCandlish et al.
    2018, Appendix A, eqs. A.2 and A.3):

    .. math::

        \\lvert\\mathcal G\\rvert^2 = \\frac{B\\lvert G_B\\rvert^2 - b\\lvert G_b\\rvert^2}{B - b},
        \\qquad
        \\mathcal S = \\frac{\\lvert G_b\\rvert^2 - \\lvert G_B\\rvert^2}{1/b - 1/B},

    each averaged over the draws before their ratio :math:`\\mathcal S / \\lvert\\mathcal
    G\\rvert^2` is taken (the ratio of averages is the stable choice; the ratio itself is
    biased, the parts are not).

    Parameters
    ----------
    small_sq, big_sq : float or array of float
        ``|G_b|²`` and ``|G_B|²``, one per draw (the same number of each).
    small_batch, big_batch : int
        ``1 <= small_batch < big_batch``.

    Returns
    -------
    NoiseScale

    Examples
    --------
    >>> # Expected norms for |G|^2 = 1 and tr(Sigma) = 50: 1 + 50/B.
    >>> est = simple_noise_scale(1 + 50 / 10, 1 + 50 / 100, 10, 100)
    >>> round(est.grad_sq, 12), round(est.trace_sigma, 12), round(est.b_simple, 12)
    (1.0, 50.0, 50.0)
    """
    b = _check.integer("small_batch", small_batch, minimum=1)
    big = _check.integer("big_batch", big_batch, minimum=b + 1)
    small = np.atleast_1d(np.asarray(small_sq, dtype=float))
    large = np.atleast_1d(np.asarray(big_sq, dtype=float))
    if small.ndim != 1 or small.shape != large.shape or len(small) == 0:
        raise ValueError(
            f"small_sq and big_sq must hold one value per draw, as many of each (>= 1), "
            f"got shapes {small.shape} and {large.shape}"
        )
    grad_sq = (big * large - b * small) / (big - b)
    trace_sigma = (small - large) / (1.0 / b - 1.0 / big)
    n = len(small)

    def standard_error(values: np.ndarray) -> float:
        return float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan

    g, s = float(grad_sq.mean()), float(trace_sigma.mean())
    return NoiseScale(
        b_simple=s / g if g > 0 else math.inf,
        trace_sigma=s,
        grad_sq=g,
        trace_sigma_se=standard_error(trace_sigma),
        grad_sq_se=standard_error(grad_sq),
        small_sq=float(small.mean()),
        big_sq=float(large.mean()),
        small_batch=b,
        big_batch=big,
        batches=n,
    )


def _squared_norms(model, params, criterion, x, y, pieces: int) -> tuple[torch.Tensor, ...]:
    """Mean over ``pieces`` equal chunks of ``|grad|²`` per chunk, and ``|mean grad|²``."""
    total = [torch.zeros_like(p, dtype=torch.float64) for p in params]
    small = torch.zeros((), dtype=torch.float64, device=x.device)
    for xc, yc in zip(x.chunk(pieces), y.chunk(pieces), strict=True):
        grads = torch.autograd.grad(criterion(model(xc), yc), params, allow_unused=True)
        for acc, g in zip(total, grads, strict=True):
            if g is not None:
                g = g.detach().double()
                small += g.square().sum()
                acc += g
    big = sum((acc / pieces).square().sum() for acc in total)
    return small / pieces, big


def noise_scale(
    model: nn.Module,
    data,
    *,
    small_batch: int,
    big_batch: int,
    batches: int = 10,
    loss: str | None = None,
    seed: int = 0,
) -> NoiseScale:
    """Measure the simple noise scale of ``model``'s loss on ``data``'s training split.

    Each of ``batches`` draws takes ``big_batch`` training examples uniformly at random
    *with replacement* (independent draws, as the estimator assumes: then it is unbiased
    for the training set's own ``|G|²`` and tr Σ, the covariance taken over the set) and
    splits them into ``big_batch / small_batch`` batches of ``small_batch``; the squared
    norms of their gradients, averaged, give ``|G_b|²``, and that of their mean gives
    ``|G_B|²`` (as data-parallel training measures both for free, McCandlish et al. 2018,
    Appendix A). :func:`simple_noise_scale` turns them into estimates. The inputs are not
    augmented.

    The model is measured in its current mode (with BatchNorm in train mode, each small
    batch is normalised by its own statistics). Nothing is left changed: the gradients are
    taken with ``torch.autograd.grad`` (``.grad`` is untouched), buffers such as BatchNorm's
    running statistics are restored, and PyTorch's global random generators are put back
    (the draws come from a private generator seeded by ``seed``).

    Parameters
    ----------
    model : torch.nn.Module
        Its parameters' device and dtype are the measurement's (a float64 model measures
        in float64).
    data : lrlab.data.Dataset
    small_batch : int
        >= 1.
    big_batch : int
        A multiple of ``small_batch``, at least twice it.
    batches : int
        Draws to average over, >= 1 (>= 2 for standard errors).
    loss : {"cross_entropy", "mse"}, optional
        By default cross-entropy for class labels, the square loss for regression targets
        (:func:`lrlab.step.choose_loss`).
    seed : int
        Seed of the draws, >= 0.

    Returns
    -------
    NoiseScale

    Examples
    --------
    >>> from lrlab import data, models
    >>> digits = data.load("digits", device="cpu")
    >>> net = models.build("mlp", 10, digits.input_shape, hidden=(32,), seed=0)
    >>> est = noise_scale(net, digits, small_batch=8, big_batch=64, batches=4)
    >>> est.batches, est.trace_sigma > 0
    (4, True)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    b = _check.integer("small_batch", small_batch, minimum=1)
    big = _check.integer("big_batch", big_batch, minimum=2 * b)
    if big % b:
        raise ValueError(f"big_batch must be a multiple of small_batch ({b}), got {big}")
    batches = _check.integer("batches", batches, minimum=1)
    criterion = loss_function(choose_loss(loss, getattr(data, "task", "classification")))
    seed = _check.integer("seed", seed, minimum=0)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model must have parameters that require grad, got none")
    images, labels = data.raw("train")
    gen = torch.Generator().manual_seed(seed)
    device, dtype = params[0].device, params[0].dtype
    saved = {name: t.detach().clone() for name, t in model.named_buffers()}
    norms = []
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            for _ in range(batches):
                idx = torch.randint(0, len(labels), (big,), generator=gen).to(images.device)
                x, y = data.normalize(images[idx]).to(device, dtype), labels[idx].to(device)
                norms.append(torch.stack(_squared_norms(model, params, criterion, x, y, big // b)))
    finally:
        with torch.no_grad():
            for name, buffer in model.named_buffers():
                if name in saved:
                    buffer.copy_(saved[name])
    small_sq, big_sq = torch.stack(norms).cpu().numpy().T
    return simple_noise_scale(small_sq, big_sq, b, big)


class NoiseScaleTracker:
    """A :func:`lrlab.train.fit` callback recording the simple noise scale during training.

    Every ``every`` steps it calls :func:`noise_scale` on the model after the step and
    records three series in the History: ``"noise_scale"`` (:math:`B_\\text{simple}`),
    ``"noise_trace_sigma"`` and ``"noise_grad_sq"`` (its parts). The loss is the run's
    (``history.config["loss"]``) unless given. The draws of step ``t`` are seeded by
    ``(seed, t)``, so a measurement does not depend on the ones before it, and the run is
    left exactly as it was: weights, ``.grad`` (the step's gradient), buffers, and fit's
    random generators.

    Parameters
    ----------
    data : lrlab.data.Dataset
        Usually the data set the run trains on.
    small_batch, big_batch, batches, loss
        See :func:`noise_scale`.
    every : int
        Measure at steps ``step % every == 0``, >= 1.
    seed : int
        Seed of the draws, >= 0.

    Examples
    --------
    >>> from lrlab import data, models, train
    >>> digits = data.load("digits", device="cpu")
    >>> net = models.build("mlp", 10, digits.input_shape, hidden=(32,), seed=0)
    >>> tracker = NoiseScaleTracker(digits, small_batch=8, big_batch=32, batches=2, every=5)
    >>> history = train.fit(net, digits, 0.05, epochs=1, progress=False, callbacks=[tracker])
    >>> [step for step, _ in history.extras["noise_scale"]]
    [0, 5, 10]
    """

    def __init__(
        self,
        data,
        *,
        small_batch: int,
        big_batch: int,
        batches: int = 10,
        every: int = 100,
        loss: str | None = None,
        seed: int = 0,
    ):
        b = _check.integer("small_batch", small_batch, minimum=1)
        big = _check.integer("big_batch", big_batch, minimum=2 * b)
        if big % b:
            raise ValueError(f"big_batch must be a multiple of small_batch ({b}), got {big}")
        self.small_batch, self.big_batch = b, big
        self.batches = _check.integer("batches", batches, minimum=1)
        self.every = _check.integer("every", every, minimum=1)
        if loss is not None:
            choose_loss(loss, getattr(data, "task", "classification"))
        self.data, self.loss = data, loss
        self.seed = _check.integer("seed", seed, minimum=0)

    def wants(self, step: int) -> bool:
        """Whether the tracker measures at ``step`` (``step % every == 0``)."""
        return step % self.every == 0

    def __call__(self, model: nn.Module, step: int, history) -> None:
        if not self.wants(step):
            return
        result = noise_scale(
            model,
            self.data,
            small_batch=self.small_batch,
            big_batch=self.big_batch,
            batches=self.batches,
            loss=self.loss or history.config.get("loss"),
            seed=int(np.random.SeedSequence([self.seed, step]).generate_state(1)[0]),
        )
        history.record("noise_scale", step, result.b_simple)
        history.record("noise_trace_sigma", step, result.trace_sigma)
        history.record("noise_grad_sq", step, result.grad_sq)
