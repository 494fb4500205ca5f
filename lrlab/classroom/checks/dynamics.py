"""Self-checks for the exercises of "Gradient descent as a dynamical system" (book/dynamics)."""

from __future__ import annotations

import numpy as np

from lrlab import dynamics
from lrlab.classroom.selfcheck import exercise


@exercise(
    "dynamics-ex-escape",
    asks="the largest step size for which runs of the double well from x0 = 0.5 stay "
    "bounded, one number",
    hint="Compare the largest value of g on [0, a] with a, or run dynamics.bifurcation on a "
    "fine grid of step sizes and keep the largest one whose run did not diverge.",
    rtol=0.01,
    close=0.1,
)
def _double_well_escape():
    grid = np.linspace(1.9, 2.1, 401)
    lr_points, _ = dynamics.bifurcation(lambda x: x**3 - x, grid, x0=0.5, burn_in=3000, keep=10)
    return lr_points.max()


@exercise(
    "dynamics-ex-target",
    asks="the step size above which no minimum of ½(4 - xy)² is stable, one number",
    hint="The flattest minimum is the balanced one, x = y; its sharpness is the top "
    "eigenvalue of the Hessian there.",
    rtol=0.02,
    close=0.2,
)
def _two_layer_limit():
    return 2 / dynamics.deep_linear_sharpness(4.0, 2)


@exercise(
    "dynamics-ex-depth",
    asks="the factor by which the largest stable step shrinks from 2 to 20 layers, one number",
    hint="The largest stable step is 2 / deep_linear_sharpness(r, L); divide the one for "
    "L = 2 by the one for L = 20.",
    rtol=0.01,
    close=0.1,
)
def _depth_factor():
    return dynamics.deep_linear_sharpness(2.0, 20) / dynamics.deep_linear_sharpness(2.0, 2)
