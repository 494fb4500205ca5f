"""Self-checks for the exercises of "Scale invariance and the exponential learning rate"."""

from __future__ import annotations

import numpy as np

from lrlab import scale, schedules
from lrlab.classroom.selfcheck import exercise


@exercise(
    "scale-invariance-ex-no-momentum",
    asks="α for η = 0.1, λ = 0.01 and no momentum, one number",
    hint="Without momentum the quadratic for α has one positive root; or call scale.explr_alpha.",
    rtol=1e-9,
    close=0.01,
)
def _alpha_without_momentum():
    return scale.explr_alpha(0.1, 0.01)


@exercise(
    "scale-invariance-ex-zero-buffer",
    asks="the factor by which the gap a_t - α shrinks per step (η = 0.05, λ = 5e-3, "
    "γ = 0.9), one number",
    hint="Near its fixed point the map a -> 1 - ηλ + γ(1 - 1/a) multiplies the gap by its "
    "slope there; or divide successive gaps a_t - α.",
    rtol=0.01,
    close=0.1,
)
def _gap_factor():
    alpha = scale.explr_alpha(0.05, 5e-3, 0.9)
    return 0.9 / alpha**2


@exercise(
    "scale-invariance-ex-how-large",
    asks="the TEXP learning rate at the last step and the factor by which the weights have "
    "grown, a list of two numbers",
    hint="The weights grow by 1/α per step, with α of the phase's rate (scale.explr_alpha); "
    "sum the logarithms over the three phases of 150,000 steps.",
    rtol=0.02,
    close=0.5,
)
def _imagenet_texp():
    epoch, phases = 5000, 3
    total = 30 * epoch * phases
    recipe = schedules.step_decay(0.1, step_size=30 * epoch, gamma=0.1)
    last_rate = scale.texp(recipe, 1e-4, 0.9, total)(total - 1)
    log_growth = sum(
        -30 * epoch * np.log(scale.explr_alpha(0.1 * 0.1**k, 1e-4, 0.9)) for k in range(phases)
    )
    return [last_rate, np.exp(log_growth)]
