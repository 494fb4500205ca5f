"""Self-checks for the exercises of "Gradient descent on a quadratic" (book/quadratic)."""

from __future__ import annotations

import numpy as np

from lrlab import dynamics
from lrlab.classroom.selfcheck import exercise

NESTEROV_MOMENTA = (0.5, 0.9, 0.99)


def _steps_below(path: np.ndarray, tol: float = 1e-6) -> int:
    """The first step at which every coordinate of a trajectory is below ``tol``."""
    return int(np.argmax(np.abs(path).max(axis=1) < tol))


@exercise(
    "quadratic-ex-kappa",
    asks="the measured steps for κ = 10, 100 and 1000, a list of three integers",
    hint="At the best step both directions shrink by (κ - 1)/(κ + 1) per step; run "
    "dynamics.gd_quadratic long enough and find the first step where both |w| < 1e-6.",
    rtol=0.0,
    atol=0.5,
    close=0.1,
)
def _kappa_steps():
    return [
        _steps_below(dynamics.gd_quadratic([1.0, k], 2 / (1 + k), [1.0, 1.0], steps=10_000))
        for k in (10, 100, 1000)
    ]


@exercise(
    "quadratic-ex-polyak",
    asks="the steps to shrink the error by 1e6 for heavy ball and for plain GD at its best "
    "step, a list of two numbers",
    hint="A factor r per step needs ln(1e-6) / ln(r) steps; take r as the largest factor "
    "over the spectrum [1, 100].",
    rtol=0.02,
    close=0.2,
)
def _polyak_steps():
    h_min, h_max = 1.0, 100.0
    root_kappa = np.sqrt(h_max / h_min)
    momentum = ((root_kappa - 1) / (root_kappa + 1)) ** 2
    lr = 4 / (np.sqrt(h_max) + np.sqrt(h_min)) ** 2
    spectrum = np.linspace(h_min, h_max, 1000)
    heavy_ball = dynamics.contraction_factor(lr, spectrum, momentum=momentum).max()
    plain = dynamics.contraction_factor(2 / (h_min + h_max), spectrum).max()
    return np.log(1e-6) / np.log([heavy_ball, plain])


@exercise(
    "quadratic-ex-nesterov",
    asks="the largest converging step size for μ = 0.5, 0.9 and 0.99, a list of three numbers",
    hint="Use a fine grid (thousands of step sizes) and enough steps that runs just below "
    "the boundary have time to converge.",
    rtol=0.005,
    close=0.05,
)
def _nesterov_cliffs():
    return [dynamics.max_stable_lr(4.0, m, nesterov=True) for m in NESTEROV_MOMENTA]


@exercise(
    "quadratic-ex-seong",
    asks="the learning rate above which runs stop ending in the sharp well, one number",
    hint="A minimum can only hold gradient descent while its curvature is below 2/γ.",
    rtol=0.03,
    close=0.25,
)
def _sharp_well_cliff():
    return dynamics.max_stable_lr(50.0)
