"""Self-checks for the exercises of "Warmup-stable-decay and the river valley" (book/wsd)."""

from __future__ import annotations

import numpy as np

from lrlab import dynamics, schedules
from lrlab.classroom.selfcheck import exercise

#: The rates of the stationary-loss exercise (valley curvature 10, noise 1).
VALLEY_RATES = (0.05, 0.1, 0.15, 0.19)


@exercise(
    "wsd-ex-plateau",
    asks="the valley's stationary expected loss ½ a v∞ for η = 0.05, 0.1, 0.15 and 0.19 "
    "(a = 10, σ = 1), a list of four numbers",
    hint="The variance across the valley settles where v = (1 - ηa)² v + η²σ²; the valley's "
    "loss is ½ a v. Check your formula against a simulation of many replicas.",
    rtol=1e-3,
    close=0.1,
)
def _plateau():
    return 0.5 * 10.0 * dynamics.stationary_spread(np.array(VALLEY_RATES), 10.0, 1.0)


@exercise(
    "wsd-ex-area",
    asks="the area under a WSD schedule over 1,000 steps with a 20% cooldown, as a fraction "
    "of the constant rate's, for the linear, 1-sqrt and cosine cooldowns: three numbers",
    hint="Sum schedules.wsd(1.0, 1000, decay_steps=200, cooldown=...) over the steps 0 to "
    "999 and divide by 1,000. In the limit of many steps the cooldown keeps the integral of "
    "its shape from 0 to 1.",
    rtol=1e-6,
    close=0.01,
)
def _area():
    steps = np.arange(1000)
    return [
        schedules.wsd(1.0, 1000, decay_steps=200, cooldown=shape)(steps).mean()
        for shape in ("linear", "1-sqrt", "cosine")
    ]


@exercise(
    "wsd-ex-cost",
    asks="the epochs of training that models for horizons of 10, 20, ..., 100 epochs cost, "
    "first by branching 20% cooldowns from one stable run, then by a cosine run each: two "
    "numbers",
    hint="The stable run goes as far as the last branch point; each branch adds its "
    "cooldown. Separate runs cost the sum of the horizons.",
    rtol=0.0,
    atol=0.5,
    close=0.1,
)
def _cost():
    horizons = np.arange(10, 101, 10)
    cooldowns = np.round(0.2 * horizons)
    return [float((horizons - cooldowns).max() + cooldowns.sum()), float(horizons.sum())]
