"""Gradient descent as a dynamical system: quadratics, 1-D/N-D maps, orbits, deep linear nets.

Everything here is NumPy and vectorised over step sizes: pass an array of learning rates
and get one trajectory per learning rate along a leading axis.

On a quadratic f(w) = ½ wᵀHw, gradient descent multiplies the component of w along an
eigenvector of H with eigenvalue h by (1 − γh) at every step, so it converges exactly
when abs(1 − γh) < 1 in every direction, i.e. γ < 2/h_max (Seong et al., UAI 2018,
eqs. 10–13). With momentum the same question is answered by the 2×2 companion matrix of
each direction. Nar & Sastry (NeurIPS 2018) read gradient descent on a non-quadratic loss as a
nonlinear map: the step size decides which minima are stable fixed points, and the map
can settle on periodic orbits instead.

The package holds one idea per module: :mod:`~lrlab.dynamics.quadratic` (quadratics, with
and without momentum), :mod:`~lrlab.dynamics.maps` (any gradient map: iteration, orbits,
bifurcation diagrams), :mod:`~lrlab.dynamics.deep_linear` (deep linear networks) and
:mod:`~lrlab.dynamics.toy_losses` (the small losses the chapters study, each as a pair of
NumPy functions ``loss, grad``), :mod:`~lrlab.dynamics.catapult` (the two-layer model of
Lewkowycz et al.'s catapult phase, in closed form) and :mod:`~lrlab.dynamics.river_valley`
(Wen et al.'s river valley: noisy SGD under any schedule, with its exact moments); every
name is importable from ``lrlab.dynamics``.

>>> from lrlab import dynamics
>>> loss, grad = dynamics.two_wells()
>>> dynamics.iterate(grad, -0.5, [0.05, 0.5], steps=300)[:, -1].round(6).tolist()
[-1.0, 2.0]
"""

from __future__ import annotations

from lrlab.dynamics.catapult import catapult_gd, catapult_init, catapult_step, catapult_summary
from lrlab.dynamics.deep_linear import (
    deep_linear_gd,
    deep_linear_grad,
    deep_linear_loss,
    deep_linear_sharpness,
)
from lrlab.dynamics.maps import bifurcation, iterate, orbit_period
from lrlab.dynamics.quadratic import contraction_factor, gd_quadratic, max_stable_lr
from lrlab.dynamics.river_valley import (
    river_loss,
    river_valley_loss,
    river_valley_moments,
    river_valley_sgd,
    stationary_spread,
    valley_loss,
)
from lrlab.dynamics.toy_losses import double_well, power_well, product_loss, two_wells

__all__ = [
    "gd_quadratic",
    "contraction_factor",
    "max_stable_lr",
    "iterate",
    "orbit_period",
    "bifurcation",
    "deep_linear_sharpness",
    "deep_linear_gd",
    "deep_linear_loss",
    "deep_linear_grad",
    "two_wells",
    "product_loss",
    "double_well",
    "power_well",
    "catapult_step",
    "catapult_init",
    "catapult_gd",
    "catapult_summary",
    "river_valley_sgd",
    "river_valley_moments",
    "river_valley_loss",
    "valley_loss",
    "river_loss",
    "stationary_spread",
]
