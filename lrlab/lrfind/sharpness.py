"""The range test seen through curvature: where the loss blows up, against the stability
limit 2/λ_max of gradient descent on a quadratic, with λ_max (the top eigenvalue of the loss's
Hessian) measured before the test and along it.
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F
from torch import nn

from lrlab import _check
from lrlab.lrfind.result import RangeTestResult, loss_limits
from lrlab.lrfind.run import range_test, restore_state, save_state
from lrlab.lrfind.sweep import smooth_losses

__all__ = ["blowup_lr", "initial_sharpness", "plot_blowup", "sharpness_along_test"]


def blowup_lr(result: RangeTestResult, smooth: float | None = None) -> float:
    """The rate from which the smoothed loss climbs for good: the rate at its minimum.

    After its lowest point a curve never comes back down to it, so the minimum is where
    the climb that ends the test begins. The losses are re-smoothed with β = ``smooth``
    (:func:`smooth_losses`); the moving average lags by about β/(1 − β) steps, so a smaller
    β (or 0, the raw losses) puts the point closer to where the loss really turned.

    Parameters
    ----------
    result : RangeTestResult
    smooth : float, optional
        β in [0, 1); ``result.smooth`` by default.

    Returns
    -------
    float

    Examples
    --------
    >>> r = RangeTestResult(np.array([0.1, 0.2, 0.4, 0.8]), np.array([2.0, 1.0, 1.5, 9.0]),
    ...                     np.zeros(4), True, "diverged", 4, "exp", 0.1, 0.8, 0.98, 4.0)
    >>> blowup_lr(r, smooth=0.0)
    0.2
    """
    smooth = result.smooth if smooth is None else smooth
    curve = smooth_losses(result.losses, smooth)
    ok = np.flatnonzero(np.isfinite(curve))
    if len(ok) == 0:
        raise ValueError("result has no finite loss")
    return float(result.lrs[ok[np.argmin(curve[ok])]])


def initial_sharpness(
    model: nn.Module,
    data,
    batch_size: int = 1024,
    seed: int = 0,
    iters: int = 100,
    tol: float = 1e-3,
) -> float:
    """λ_max of the training loss's Hessian at the model's current weights, on a large batch.

    The loss is the mean cross-entropy over ``batch_size`` training examples drawn with
    ``seed`` (all of them if there are fewer), the model in train mode as the range test
    runs it; :func:`lrlab.curvature.top_eigenvalue` (Lanczos) finds the eigenvalue. Gradient
    descent on a quadratic with this curvature is stable for rates below 2/λ_max, and heavy
    ball momentum β for rates below 2(1 + β)/λ_max (Polyak, 1964). The model is left exactly
    as it was (BatchNorm statistics included).

    Parameters
    ----------
    model : torch.nn.Module
    data : lrlab.data.Dataset
    batch_size : int
        Examples in the batch, >= 1.
    seed : int
        Which examples.
    iters, tol : int, float
        Passed to :func:`lrlab.curvature.top_eigenvalue`.

    Returns
    -------
    float

    Examples
    --------
    >>> from lrlab import data
    >>> digits = data.load("digits", device="cpu")
    >>> softmax_regression = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    >>> initial_sharpness(softmax_regression, digits, batch_size=100) > 0
    True
    """
    from lrlab.curvature import top_eigenvalue

    batch_size = _check.integer("batch_size", batch_size, minimum=1)
    seed = _check.integer("seed", seed, minimum=0)
    saved = save_state(model, None)
    try:
        model.to(data.device).train()
        n = min(batch_size, data.size("train"))
        x, y = next(data.batches("train", n, augment=False, seed=seed))
        params = [p for p in model.parameters() if p.requires_grad]
        value, _ = top_eigenvalue(lambda: F.cross_entropy(model(x), y), params, iters, tol)
    finally:
        restore_state(model, None, saved)
    return float(value)


def sharpness_along_test(
    model: nn.Module,
    data,
    every: int = 10,
    batch_size: int = 512,
    iters: int = 100,
    tol: float = 1e-3,
    **options,
) -> tuple[RangeTestResult, np.ndarray, np.ndarray]:
    """Run :func:`range_test` and measure λ_max of the training loss every few steps of it.

    After step ``t`` (for ``t = 0, every, 2 every, ...``) the weights have been trained with
    the rates ``lrs[0..t]``; :func:`lrlab.curvature.top_eigenvalue` measures λ_max there on
    one fixed batch of ``batch_size`` training examples (train mode, as the steps see the
    net). Gradient descent at that point is stable for the next rate only if
    ``lrs[t+1] < 2/λ_max`` (2(1 + β)/λ_max with heavy-ball momentum β), so the stability
    limit moves during the test as the network's curvature changes.

    Parameters
    ----------
    model : torch.nn.Module
    data : lrlab.data.Dataset
    every : int
        Steps between measurements, >= 1.
    batch_size : int
        Examples in the measuring batch.
    iters, tol
        Passed to :func:`lrlab.curvature.top_eigenvalue`.
    **options
        Passed to :func:`range_test`.

    Returns
    -------
    result : RangeTestResult
    steps : numpy.ndarray
        The steps after which λ_max was measured.
    sharpness : numpy.ndarray
        λ_max after each of those steps.

    Examples
    --------
    >>> from lrlab import data, models
    >>> digits = data.load("digits", device="cpu")
    >>> net = models.build("mlp", 10, digits.input_shape, hidden=(16,))
    >>> result, steps, sharpness = sharpness_along_test(net, digits, every=5, num_iter=10)
    >>> steps.tolist(), bool(np.all(sharpness > 0))
    ([0, 5], True)
    """
    from lrlab.curvature import top_eigenvalue

    every = _check.integer("every", every, minimum=1)
    batch_size = _check.integer("batch_size", batch_size, minimum=1)
    n = min(batch_size, data.size("train"))
    x, y = next(data.batches("train", n, augment=False, seed=options.get("seed", 0)))
    steps: list[int] = []
    values: list[float] = []

    def measure(net: nn.Module, step: int) -> None:
        if step % every == 0:
            params = [p for p in net.parameters() if p.requires_grad]
            value, _ = top_eigenvalue(lambda: F.cross_entropy(net(x), y), params, iters, tol)
            steps.append(step)
            values.append(value)

    result = range_test(model, data, callback=measure, **options)
    return result, np.array(steps), np.array(values)


def plot_blowup(result: RangeTestResult, sharpness: float, smooth: float | None = None, ax=None):
    """The range test's curve with :func:`blowup_lr` and the stability limits 2/λ_max.

    Draws the re-smoothed loss (β = ``smooth``), a solid line at :func:`blowup_lr`, a
    dashed one at 2/λ_max and, for SGD with momentum β > 0, a dotted one at 2(1 + β)/λ_max.

    Parameters
    ----------
    result : RangeTestResult
    sharpness : float
        λ_max, e.g. from :func:`initial_sharpness`; > 0.
    smooth : float, optional
        β for the curve and :func:`blowup_lr`; ``result.smooth`` by default.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from lrlab.lrfind import lr_sweep
    >>> lrs = lr_sweep(1e-3, 1.0, 30)
    >>> r = RangeTestResult(lrs, 1 + (lrs - 0.3) ** 2, lrs, True, "diverged", 30, "exp",
    ...                     1e-3, 1.0, 0.0, 4.0, config={"optimizer": "sgd", "momentum": 0.9})
    >>> [line.get_label() for line in plot_blowup(r, sharpness=10.0).get_lines()][1:]
    ['loss turns up: 0.304', '2/λ_max: 0.2', '2(1+β)/λ_max: 0.38']
    """
    from lrlab import plots

    sharpness = _check.number("sharpness", sharpness, low=0, low_open=True)
    smooth = result.smooth if smooth is None else smooth
    curve = smooth_losses(result.losses, smooth)
    if ax is None:
        _, ax = plots.subplots()
    ax.plot(result.lrs, curve, color=plots.COLORS[0], label=f"loss smoothed (β = {smooth:g})")
    blowup = blowup_lr(result, smooth)
    ax.axvline(blowup, color=plots.COLORS[1], label=f"loss turns up: {blowup:.3g}")
    ax.axvline(2 / sharpness, color=plots.COLORS[6], ls="--", label=f"2/λ_max: {2 / sharpness:.3g}")
    momentum = result.config.get("momentum") or 0.0
    if result.config.get("optimizer") in ("sgd", "SGD") and momentum > 0:
        limit = 2 * (1 + momentum) / sharpness
        ax.axvline(limit, color=plots.COLORS[6], ls=":", label=f"2(1+β)/λ_max: {limit:.3g}")
    plots.lr_axis(ax, "x")
    ax.set_ylabel("training loss")
    ax.set_ylim(*loss_limits(curve))
    ax.legend()
    return ax
