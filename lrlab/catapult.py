"""The catapult phase (Lewkowycz et al., 2020): a large step throws the loss up, then lands flat.

The model is the smallest network with the effect: one example x with ‖x‖ = 1 and the
two-layer linear network f = vᵀu·x/√n of width n, trained by gradient descent on the square
loss L = ½(f − y)². Its neural tangent kernel is λ = (‖u‖² + ‖v‖²)/n, which is also the
loss's sharpness at a minimum. Writing g = f − y, one step of rate η maps (f, λ) exactly to

.. math::

    f' = f - \\eta\\lambda g + \\frac{\\eta^2 g^2 f}{n}, \\qquad
    \\lambda' = \\lambda + \\frac{\\eta g}{n}\\,(\\eta\\lambda g - 4 f)

(Lewkowycz et al., 2020, eq. 3 with y = 0). With λ₀ the kernel at initialisation there are
three regimes as n → ∞: below 2/λ₀ training is *lazy* (λ stays at λ₀ and the loss falls
monotonically); between 2/λ₀ and 4/λ₀ it *catapults* (the loss grows until λ has fallen
below 2/η, then converges to a flatter minimum); above 4/λ₀ λ grows and training diverges.

:func:`relu_catapult` runs the same experiment on a wide two-layer ReLU network
(:class:`TwoLayerReLU`) with :func:`lrlab.train.fit`, full-batch, on the square loss;
Lewkowycz et al. found the upper edge of the catapult phase near 12/λ₀ for ReLU networks.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from lrlab import _check

__all__ = [
    "TwoLayerReLU",
    "gd",
    "init",
    "relu_catapult",
    "step",
    "summary",
    "training_examples",
]


def _check_width(width) -> int:
    return _check.integer("width", width, minimum=1)


def step(f, lam, lr, width: int, target: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """One gradient-descent step of the catapult model in closed form.

    Parameters
    ----------
    f, lam : float or array_like
        The network's output and its kernel λ = (‖u‖² + ‖v‖²)/n (broadcast together).
    lr : float or array_like
        Step size(s) η > 0.
    width : int
        n, the number of hidden units.
    target : float
        y, the label of the example.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        f and λ after the step.

    Examples
    --------
    >>> f, lam = step(1.0, 2.0, 0.5, width=100)
    >>> round(float(f), 6), round(float(lam), 6)  # f·(1 − ηλ + η²f²/n), λ + ηf²(ηλ − 4)/n
    (0.0025, 1.985)
    """
    width = _check_width(width)
    eta = np.asarray(lr, dtype=float)
    if not np.all(np.isfinite(eta)) or np.any(eta <= 0):
        raise ValueError(f"lr must be finite and > 0, got {lr!r}")
    f, lam = np.asarray(f, dtype=float), np.asarray(lam, dtype=float)
    g = f - float(target)
    with np.errstate(all="ignore"):
        f_next = f - eta * lam * g + eta**2 * g**2 * f / width
        lam_next = lam + eta * g * (eta * lam * g - 4.0 * f) / width
    return f_next, lam_next


def init(width: int, seed: int = 0) -> tuple[float, float]:
    """f₀ and λ₀ of the catapult model with u, v ~ N(0, I_n) and ‖x‖ = 1.

    Then f₀ = vᵀu/√n is about N(0, 1) and λ₀ = (‖u‖² + ‖v‖²)/n is about 2.

    Examples
    --------
    >>> f0, lam0 = init(10_000, seed=0)
    >>> abs(lam0 - 2) < 0.1
    True
    """
    width = _check_width(width)
    seed = _check.integer("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal(width), rng.standard_normal(width)
    return float(u @ v / np.sqrt(width)), float((u @ u + v @ v) / width)


def gd(lr, width: int, f0: float, lam0: float, steps: int, target: float = 0.0) -> dict:
    """Run the catapult model for ``steps`` steps, vectorised over the step sizes.

    Parameters
    ----------
    lr : float or 1-D array_like
        Step size(s) η > 0.
    width : int
        n.
    f0, lam0 : float
        Initial output and kernel (see :func:`init`); ``lam0 > 0``.
    steps : int
        Number of updates, >= 1.
    target : float
        The label y.

    Returns
    -------
    dict
        ``"f"``, ``"lam"`` and ``"loss"`` (½(f − y)²), each of shape ``(steps + 1,)``, or
        ``(len(lr), steps + 1)`` for an array of rates. Once a run overflows its entries
        are NaN.

    Examples
    --------
    >>> run = gd([0.5, 1.5], width=1000, f0=1.0, lam0=2.0, steps=200)
    >>> (0.5 * run["lam"][:, -1] < 2).tolist()  # lazy stays at λ₀; the catapult lands below 2/η
    [True, True]
    """
    lrs = np.asarray(lr, dtype=float)
    if lrs.ndim > 1 or lrs.size == 0:
        raise ValueError(f"lr must be a scalar or a non-empty 1-D array, got shape {lrs.shape}")
    if not np.all(np.isfinite(lrs)) or np.any(lrs <= 0):
        raise ValueError(f"lr must be finite and > 0, got {lr!r}")
    width = _check_width(width)
    steps = _check.integer("steps", steps, minimum=1)
    f0 = _check.number("f0", f0)
    lam0 = _check.number("lam0", lam0, low=0, low_open=True)
    target = _check.number("target", target)
    eta = np.atleast_1d(lrs)
    f = np.full((eta.size, steps + 1), np.nan)
    lam = np.full_like(f, np.nan)
    f[:, 0], lam[:, 0] = f0, lam0
    for t in range(steps):
        f[:, t + 1], lam[:, t + 1] = step(f[:, t], lam[:, t], eta, width, target)
    overflowed = ~(np.isfinite(f) & np.isfinite(lam))
    # Everything after the first overflow is NaN, so a diverged run never looks converged.
    overflowed = np.logical_or.accumulate(overflowed, axis=1)
    f[overflowed], lam[overflowed] = np.nan, np.nan
    with np.errstate(over="ignore"):
        out = {"f": f, "lam": lam, "loss": 0.5 * (f - target) ** 2}
    return {k: v[0] for k, v in out.items()} if lrs.ndim == 0 else out


def summary(loss, final_lam, lr) -> dict:
    """The phase-diagram numbers of runs: peak loss ratio, final η·λ, divergence.

    Parameters
    ----------
    loss : array_like
        Loss per step, shape ``(steps + 1,)`` for one run or ``(runs, steps + 1)``.
    final_lam : float or array_like
        Sharpness (or kernel) at the end of each run.
    lr : float or array_like
        The runs' step sizes.

    Returns
    -------
    dict
        ``"peak_ratio"``: max over steps of loss / initial loss (> 1 means the loss rose:
        a catapult; infinite once a run overflows); ``"final_lr_lam"``: η·λ at the end (NaN
        where diverged); ``"diverged"``: the final loss is not finite or not below the
        initial one. Floats for one run, arrays of length ``runs`` otherwise.

    Examples
    --------
    >>> summary([1.0, 4.0, 0.5], 0.9, 2.0)
    {'peak_ratio': 4.0, 'final_lr_lam': 1.8, 'diverged': False}
    """
    losses = np.atleast_2d(np.asarray(loss, dtype=float))
    runs = len(losses)
    final_lam = np.broadcast_to(np.asarray(final_lam, dtype=float).reshape(-1), (runs,))
    eta = np.broadcast_to(np.asarray(lr, dtype=float).reshape(-1), (runs,))
    peak = np.where(np.isfinite(losses), losses, np.inf).max(axis=1) / losses[:, 0]
    diverged = ~(losses[:, -1] < losses[:, 0])
    final = np.where(diverged, np.nan, eta * final_lam)
    out = {"peak_ratio": peak, "final_lr_lam": final, "diverged": diverged}
    if np.ndim(loss) == 1:
        return {k: v[0].item() for k, v in out.items()}
    return out


class TwoLayerReLU(nn.Module):
    """f(x) = V relu(U x/√d)/√n in the NTK parametrisation, U and V drawn from N(0, 1).

    With this scaling the tangent kernel, and so the sharpness at initialisation, stays of
    order one as the width n grows, as in the catapult model (Lewkowycz et al., 2020, §3).

    Examples
    --------
    >>> net = TwoLayerReLU(40, 512, 2)
    >>> net(torch.randn(8, 40)).shape
    torch.Size([8, 2])
    """

    def __init__(self, input_dim: int, width: int, outputs: int = 1):
        super().__init__()
        self.input_dim = _check.integer("input_dim", input_dim, minimum=1)
        self.width = _check_width(width)
        outputs = _check.integer("outputs", outputs, minimum=1)
        self.hidden = nn.Parameter(torch.randn(self.width, self.input_dim))
        self.readout = nn.Parameter(torch.randn(outputs, self.width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        features = torch.relu(x @ self.hidden.T / self.input_dim**0.5)
        return features @ self.readout.T / self.width**0.5


#: The configuration of the book's ReLU phase diagram, stored as
#: ``lrlab/results_data/relu_catapult.json`` (a few minutes on one CPU core; see
#: :func:`relu_catapult`).
RELU_CATAPULT = {
    "data": "digits",
    "classes": [0, 1],
    "examples": 64,
    "width": 1024,
    "ratios": [
        0.5,
        1.0,
        1.5,
        1.9,
        2.2,
        2.6,
        3.0,
        4.0,
        6.0,
        8.0,
        12.0,
        16.0,
        24.0,
        32.0,
        48.0,
        64.0,
    ],
    "seeds": [0, 1, 2],
    "steps": 60,
}
#: A variant that runs in seconds, shown when the stored result is missing.
RELU_CATAPULT_CPU = {**RELU_CATAPULT, "width": 256, "ratios": [1.0, 3.0, 12.0], "seeds": [0]}


def _two_class_subset(name: str, classes, examples: int, device, root):
    """The first ``examples`` training images of two classes (labels 0 and 1)."""
    from lrlab import data

    full = data.load(name, root=root, device="cpu")
    splits = []
    for split, count in (("train", examples), ("test", examples)):
        x, y = full.raw(split)
        keep = (y == classes[0]) | (y == classes[1])
        x, y = x[keep][:count], y[keep][:count]
        splits.append((x, (y == classes[1]).long()))
    return data.Dataset(
        f"{name}-{classes[0]}v{classes[1]}-{examples}",
        splits[0],
        splits[1],
        [str(c) for c in classes],
        scale=full.scale,
        augment_crop_flip=False,
        device=device,
    )


def relu_catapult(
    config: dict | None = None,
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
) -> dict:
    """The catapult experiment on a wide two-layer ReLU network, full-batch GD on the square loss.

    For each seed a :class:`TwoLayerReLU` of the given width is initialised, its sharpness
    λ₀ (top Hessian eigenvalue of the square loss on the training examples,
    :func:`lrlab.curvature.sharpness`) measured, and a copy trained by
    :func:`lrlab.train.fit` for ``steps`` full-batch steps at η = ratio/λ₀ for every ratio,
    with no momentum and no weight decay; the sharpness is measured again at the end.

    Parameters
    ----------
    config : dict, optional
        Keys ``data`` (a data-set name), ``classes`` (two labels), ``examples`` (training
        examples kept), ``width``, ``ratios`` (values of η·λ₀), ``seeds``, ``steps``;
        :data:`RELU_CATAPULT` by default. Also the ``run`` of
        :func:`lrlab.results.load_or_run`, whose result this is.
    device : torch.device or str
        Where the data and the networks live: the CPU for the chapter's stored runs, a GPU
        for the paper's width (``lrlab reproduce catapult --scale paper``).
    data_root : path
        Data folder (CIFAR's archives).

    Returns
    -------
    dict
        ``"lam0"`` (per seed), and per seed and ratio (nested lists, seeds first):
        ``"loss"`` (per step, None after a divergence), ``"final_sharpness"``,
        ``"peak_ratio"``, ``"final_lr_lam"``, ``"diverged"`` (see :func:`summary`; None
        stands for NaN, so the result is plain JSON).

    Examples
    --------
    >>> small = {**RELU_CATAPULT_CPU, "examples": 16, "width": 64, "ratios": [1.0],
    ...          "seeds": [0], "steps": 3}
    >>> out = relu_catapult(small)
    >>> len(out["loss"][0][0])
    3
    """
    from lrlab import curvature, train

    config = {**RELU_CATAPULT, **(config or {})}
    if len(config["classes"]) != 2:
        raise ValueError(f"classes must name two labels, got {config['classes']!r}")
    examples = _check.integer("examples", config["examples"], minimum=1)
    width = _check_width(config["width"])
    steps = _check.integer("steps", config["steps"], minimum=1)
    ratios = [_check.number("ratios", r, low=0, low_open=True) for r in config["ratios"]]
    subset = _two_class_subset(config["data"], config["classes"], examples, device, data_root)
    x, y = subset.tensors("train")
    out = {key: [] for key in ("lam0", "loss", "final_sharpness")}
    for seed in config["seeds"]:
        torch.manual_seed(_check.integer("seeds", seed, minimum=0))
        # Drawn on the CPU, so that a seed gives the same network on every device.
        start = TwoLayerReLU(int(np.prod(subset.input_shape)), width, 2).to(subset.device)
        lam0 = curvature.sharpness(start, x, y, loss="mse")
        out["lam0"].append(lam0)
        losses, finals = [], []
        for ratio in ratios:
            net = TwoLayerReLU(start.input_dim, width, 2)
            net.load_state_dict(start.state_dict())
            history = train.fit(
                net,
                subset,
                ratio / lam0,
                epochs=steps,
                batch_size=len(y),
                momentum=0.0,
                weight_decay=0.0,
                loss="mse",
                seed=int(seed),
                progress=False,
            )
            losses.append(history.loss + [float("nan")] * (steps - len(history.loss)))
            finals.append(
                float("nan") if history.diverged else curvature.sharpness(net, x, y, loss="mse")
            )
        out["loss"].append(losses)
        out["final_sharpness"].append(finals)
    numbers = summary(
        np.reshape(out["loss"], (-1, steps)),
        np.reshape(out["final_sharpness"], -1),
        np.outer(1 / np.asarray(out["lam0"]), ratios).reshape(-1),
    )
    shape = (len(config["seeds"]), len(ratios))
    for key, value in numbers.items():
        out[key] = np.reshape(value, shape).tolist()
    return _nan_to_none(out)


def training_examples(config: dict, sizes: dict[str, int]) -> int:
    """Training examples :func:`relu_catapult` processes at most (a diverging run stops
    early; the sharpness measurements aside): ``steps`` full-batch steps on ``examples``
    examples per seed and ratio.

    Parameters
    ----------
    config : dict
        As :func:`relu_catapult` takes it (its two classes are assumed to hold at least
        ``examples`` training examples).
    sizes : dict
        Training-set size of each data set by name.

    Examples
    --------
    >>> training_examples(RELU_CATAPULT_CPU, {"digits": 1347}) == 1 * 3 * 60 * 64
    True
    """
    config = {**RELU_CATAPULT, **config}
    examples = min(config["examples"], sizes[config["data"]])
    return len(config["seeds"]) * len(config["ratios"]) * config["steps"] * examples


def _nan_to_none(value):
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    return None if isinstance(value, float) and not np.isfinite(value) else value
