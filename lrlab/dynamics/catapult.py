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

The book's experiment on a wide two-layer ReLU network (``lrlab.models.build(
"two_layer_relu")``, trained by :func:`lrlab.train.fit`) is
:mod:`lrlab.experiments.edge_of_stability`; Lewkowycz et al. found the upper edge of the
catapult phase near 12/λ₀ for ReLU networks.
"""

from __future__ import annotations

import numpy as np

from lrlab import _check

__all__ = ["catapult_gd", "catapult_init", "catapult_step", "catapult_summary"]


def _check_width(width) -> int:
    return _check.integer("width", width, minimum=1)


def catapult_step(f, lam, lr, width: int, target: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
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
    >>> f, lam = catapult_step(1.0, 2.0, 0.5, width=100)
    >>> round(float(f), 6), round(float(lam), 6)  # f·(1 − ηλ + η²f²/n), λ + ηf²(ηλ − 4)/n
    (0.0025, 1.985)
    """
    width = _check_width(width)
    eta, scalar = _check.rates("lr", lr)
    eta = eta[0] if scalar else eta
    f, lam = np.asarray(f, dtype=float), np.asarray(lam, dtype=float)
    g = f - float(target)
    with np.errstate(all="ignore"):
        f_next = f - eta * lam * g + eta**2 * g**2 * f / width
        lam_next = lam + eta * g * (eta * lam * g - 4.0 * f) / width
    return f_next, lam_next


def catapult_init(width: int, seed: int = 0) -> tuple[float, float]:
    """f₀ and λ₀ of the catapult model with u, v ~ N(0, I_n) and ‖x‖ = 1.

    Then f₀ = vᵀu/√n is about N(0, 1) and λ₀ = (‖u‖² + ‖v‖²)/n is about 2.

    Examples
    --------
    >>> f0, lam0 = catapult_init(10_000, seed=0)
    >>> abs(lam0 - 2) < 0.1
    True
    """
    width = _check_width(width)
    seed = _check.integer("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal(width), rng.standard_normal(width)
    return float(u @ v / np.sqrt(width)), float((u @ u + v @ v) / width)


def catapult_gd(lr, width: int, f0: float, lam0: float, steps: int, target: float = 0.0) -> dict:
    """Run the catapult model for ``steps`` steps, vectorised over the step sizes.

    Parameters
    ----------
    lr : float or 1-D array_like
        Step size(s) η > 0.
    width : int
        n.
    f0, lam0 : float
        Initial output and kernel (see :func:`catapult_init`); ``lam0 > 0``.
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
    >>> run = catapult_gd([0.5, 1.5], width=1000, f0=1.0, lam0=2.0, steps=200)
    >>> (0.5 * run["lam"][:, -1] < 2).tolist()  # lazy stays at λ₀; the catapult lands below 2/η
    [True, True]
    """
    eta, scalar = _check.rates("lr", lr)
    width = _check_width(width)
    steps = _check.integer("steps", steps, minimum=1)
    f0 = _check.number("f0", f0)
    lam0 = _check.number("lam0", lam0, low=0, low_open=True)
    target = _check.number("target", target)
    f = np.full((eta.size, steps + 1), np.nan)
    lam = np.full_like(f, np.nan)
    f[:, 0], lam[:, 0] = f0, lam0
    for t in range(steps):
        f[:, t + 1], lam[:, t + 1] = catapult_step(f[:, t], lam[:, t], eta, width, target)
    overflowed = ~(np.isfinite(f) & np.isfinite(lam))
    # Everything after the first overflow is NaN, so a diverged run never looks converged.
    overflowed = np.logical_or.accumulate(overflowed, axis=1)
    f[overflowed], lam[overflowed] = np.nan, np.nan
    with np.errstate(over="ignore"):
        out = {"f": f, "lam": lam, "loss": 0.5 * (f - target) ** 2}
    return {k: v[0] for k, v in out.items()} if scalar else out


def catapult_summary(loss, final_lam, lr) -> dict:
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
    >>> catapult_summary([1.0, 4.0, 0.5], 0.9, 2.0)
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
