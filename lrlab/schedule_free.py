r"""Schedule-free training (Defazio et al. 2024) with the ``schedulefree`` package.

Schedule-free SGD replaces momentum by interpolation and averaging. With
:math:`\gamma_t` the rate and :math:`\beta` the interpolation weight it keeps two
sequences and takes its gradients at a third (Defazio et al., 2024, *The Road Less
Scheduled*, NeurIPS; the package's README):

.. math::

    y_t &= (1 - \beta)\, z_t + \beta\, x_t, \\
    z_{t+1} &= z_t - \gamma_t \nabla f(y_t), \\
    x_{t+1} &= (1 - c_{t+1})\, x_t + c_{t+1} z_{t+1},
    \qquad c_{t+1} = \frac{\gamma_{\max,t}^2}{\sum_{i \le t} \gamma_{\max,i}^2},

where :math:`\gamma_{\max,t}` is the largest rate so far: :math:`x` is a weighted average
of the plain SGD iterates :math:`z` (with a constant rate, the uniform average).
Schedule-free AdamW takes the :math:`z` step with Adam's second-moment normalisation. The
average :math:`x` is the point to evaluate; the paper's claim is that its accuracy along
one run matches what tuned decaying schedules reach at their planned ends, without the
end having to be known.

The package (``schedulefree.SGDScheduleFree``, ``AdamWScheduleFree``) stores :math:`y`
in the model's parameters and :math:`z` in its state, and computes :math:`x` when asked:
``optimizer.eval()`` puts :math:`x` into the parameters, ``optimizer.train()`` puts
:math:`y` back. :func:`lrlab.train.fit` calls :func:`train_mode` before training and
:func:`eval_mode` before every evaluation and checkpoint; the rate a schedule sets each
step is the package's ``lr`` (a schedule-free run uses a constant rate, after the
optimizer's own ``warmup_steps``). BatchNorm's running statistics were gathered at
:math:`y`; the package's README asks for them to be re-estimated at :math:`x` before
evaluating, which :func:`recalibrate_batchnorm` does.

>>> import torch
>>> from torch import nn
>>> net = nn.Linear(3, 1)
>>> sgd = make_optimizer(net.parameters(), "sgd_schedulefree", lr=0.5, warmup_steps=10)
>>> is_schedule_free(sgd), type(sgd).__name__, sgd.defaults["warmup_steps"]
(True, 'SGDScheduleFree', 10)
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from lrlab import _check
from lrlab.options import SCHEDULE_FREE

__all__ = [
    "eval_mode",
    "is_schedule_free",
    "make_optimizer",
    "recalibrate_batchnorm",
    "train_mode",
]

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def make_optimizer(
    params: Iterable,
    name: str,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
) -> torch.optim.Optimizer:
    """A schedule-free optimizer of the ``schedulefree`` package over ``params``.

    Parameters
    ----------
    params : iterable
        Parameters or parameter groups.
    name : {"sgd_schedulefree", "adamw_schedulefree"}
        ``SGDScheduleFree`` (weight decay as an L2 term added to the gradient, as
        ``torch.optim.SGD``) or ``AdamWScheduleFree`` (β1 = ``momentum``, β2 = 0.999;
        weight decay decoupled, scaled by the rate, as ``torch.optim.AdamW``).
    lr : float
        The rate γ (> 0) after the warm-up.
    momentum : float
        The interpolation weight β, in (0, 1); 0.9 is the package's default.
    weight_decay : float
        >= 0.
    warmup_steps : int
        The package's linear warm-up: step ``k`` uses ``lr * (k + 1) / warmup_steps``.

    Returns
    -------
    torch.optim.Optimizer
        The package's ``r`` (0) and ``weight_lr_power`` (2) are its defaults: the average
        weighs step ``t`` by the largest rate so far, squared.

    Examples
    --------
    >>> adamw = make_optimizer(nn.Linear(2, 1).parameters(), "adamw_schedulefree", lr=0.01)
    >>> type(adamw).__name__, adamw.defaults["betas"]
    ('AdamWScheduleFree', (0.9, 0.999))
    """
    import schedulefree

    name = _check.choice("name", name, SCHEDULE_FREE)
    lr = _check.number("lr", lr, low=0, low_open=True)
    momentum = _check.number("momentum", momentum, 0, 1, low_open=True, high_open=True)
    weight_decay = _check.number("weight_decay", weight_decay, low=0)
    warmup_steps = _check.integer("warmup_steps", warmup_steps, minimum=0)
    if name == "sgd_schedulefree":
        return schedulefree.SGDScheduleFree(
            params, lr=lr, momentum=momentum, weight_decay=weight_decay, warmup_steps=warmup_steps
        )
    return schedulefree.AdamWScheduleFree(
        params,
        lr=lr,
        betas=(momentum, 0.999),
        weight_decay=weight_decay,
        warmup_steps=warmup_steps,
    )


def is_schedule_free(optimizer) -> bool:
    """Whether ``optimizer`` is a schedule-free one: it has ``train()`` and ``eval()``
    and its parameter groups carry the package's ``train_mode`` flag.

    Examples
    --------
    >>> is_schedule_free(torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1))
    False
    """
    return (
        isinstance(optimizer, torch.optim.Optimizer)
        and callable(getattr(optimizer, "train", None))
        and callable(getattr(optimizer, "eval", None))
        and bool(optimizer.param_groups)
        and "train_mode" in optimizer.param_groups[0]
    )


def train_mode(optimizer) -> bool:
    """Put a schedule-free optimizer's parameters at the gradient point y (``train()``).

    Nothing happens for another optimizer, or one already in train mode.

    Returns
    -------
    bool
        Whether the parameters were moved.

    Examples
    --------
    >>> opt = make_optimizer(nn.Linear(2, 1).parameters(), "sgd_schedulefree", lr=0.1)
    >>> train_mode(opt), train_mode(opt)
    (True, False)
    """
    if not is_schedule_free(optimizer) or optimizer.param_groups[0]["train_mode"]:
        return False
    optimizer.train()
    return True


def eval_mode(optimizer, model: nn.Module | None = None, data=None, batch_size: int = 128) -> bool:
    """Put a schedule-free optimizer's parameters at the evaluated point x (``eval()``) and,
    given the model and data, re-estimate its BatchNorm statistics there.

    Nothing happens for another optimizer, or one already in eval mode.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    model : torch.nn.Module, optional
        The model the optimizer trains, for :func:`recalibrate_batchnorm`.
    data : lrlab.data.Dataset, optional
        Its training split is what the statistics are re-estimated on.
    batch_size : int
        Batch size of that pass (the training batch size: BatchNorm's statistics are
        batch statistics).

    Returns
    -------
    bool
        Whether the parameters were moved.

    Examples
    --------
    >>> net = nn.Linear(2, 1)
    >>> opt = make_optimizer(net.parameters(), "sgd_schedulefree", lr=0.1)
    >>> _ = train_mode(opt)
    >>> eval_mode(opt, net), opt.param_groups[0]["train_mode"]
    (True, False)
    """
    if not is_schedule_free(optimizer) or not optimizer.param_groups[0]["train_mode"]:
        return False
    optimizer.eval()
    if model is not None and data is not None:
        recalibrate_batchnorm(model, data, batch_size)
    return True


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, data, batch_size: int = 128) -> int:
    """Re-estimate BatchNorm's running statistics at the model's current weights.

    The schedule-free package's README recipe (forward passes over training batches in
    train mode under ``no_grad``, after ``optimizer.eval()``), made exact in the way of
    PreciseBN (Wu & Johnson 2021, *Rethinking "Batch" in BatchNorm*): every BatchNorm
    layer's statistics are reset and averaged with equal weights over one pass of the
    training split (in order, unaugmented, in batches of ``batch_size``), with only the
    BatchNorm layers in train mode, so that dropout and the like stay off. The modules'
    modes and momenta are restored; nothing else changes (no gradient, no random draw).

    Parameters
    ----------
    model : torch.nn.Module
    data : lrlab.data.Dataset
    batch_size : int
        >= 1.

    Returns
    -------
    int
        The number of BatchNorm layers re-estimated (those tracking running statistics).

    Examples
    --------
    >>> from lrlab import data, models
    >>> digits = data.load("digits", device="cpu")
    >>> net = models.build("small_cnn", 10, digits.input_shape, seed=0, width=4)
    >>> recalibrate_batchnorm(net, digits), net.training
    (3, True)
    """
    batch_size = _check.integer("batch_size", batch_size, minimum=1)
    norms = [m for m in model.modules() if isinstance(m, _BATCH_NORMS) and m.track_running_stats]
    if not norms:
        return 0
    modes = [(m, m.training) for m in model.modules()]
    momenta = [m.momentum for m in norms]
    model.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative (equal-weight) average over the batches
        norm.train()
    try:
        for x, _ in data.batches("train", batch_size, shuffle=False, augment=False):
            model(x)
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
        for module, training in modes:
            module.training = training
    return len(norms)
