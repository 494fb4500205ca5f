"""Self-checks for the exercises of "Why warming up lets a larger rate work" (book/warmup)."""

from __future__ import annotations

import numpy as np

from lrlab.classroom.selfcheck import exercise

#: The initialisation scales of the first exercise.
SCALES = (0.5, 1.0, 2.0, 4.0)
#: The Adam run of the third exercise (keys of lrlab.experiments.warmup.RUN_DEFAULTS).
ADAM_RUN = {
    "examples": 200,
    "batch_size": None,
    "epochs": 200,
    "optimizer": "adam",
    "momentum": 0.9,
    "lr": 0.01,
    "warmup_steps": 100,
    "every": 10,
}


def _lam0(scale: float) -> float:
    """λ₀ of the chapter's digits MLP (seed 0) on the whole training set, square loss."""
    from lrlab import curvature, data, models

    digits = data.load("digits", device="cpu")
    x, y = digits.tensors("train")
    net = models.build("mlp", 10, digits.input_shape, seed=0, hidden=(64, 64), init_scale=scale)
    return curvature.sharpness(net, x, y, loss="mse")


@exercise(
    "warmup-ex-edge",
    asks="λ₀ of the digits MLP (seed 0, square loss, all 1,347 training digits) at "
    "init_scale 0.5, 1, 2 and 4, a list of four numbers",
    hint="Build each network with models.build('mlp', 10, (1, 8, 8), seed=0, "
    "hidden=(64, 64), init_scale=c) and measure curvature.sharpness(net, x, y, loss='mse').",
    rtol=2e-3,
    close=0.1,
)
def _edges():
    return [_lam0(scale) for scale in SCALES]


@exercise(
    "warmup-ex-ramp",
    asks="the fraction of a linear warm-up from 0 to 1.0 that the sharp start (seed 0) "
    "spends below its edge 2/λ₀, one number",
    hint="A linear ramp from 0 to η over W steps is below a rate r for the first W·r/η "
    "steps; r is 2/λ₀ of the network built with init_scale=2.",
    rtol=2e-3,
    close=0.1,
)
def _ramp_fraction():
    return 2.0 / _lam0(2.0) / 1.0


@exercise(
    "warmup-ex-adam",
    asks="the median, over the measurements after the warm-up, of Adam's preconditioned "
    "sharpness divided by its threshold 38/η, one number",
    hint="Run lrlab.experiments.warmup.run_one with the exercise's settings; its "
    "'sharpness' and 'threshold' lists are measured at 'sharpness_steps'.",
    rtol=1e-2,
    close=0.1,
)
def _adam_edge():
    from lrlab.experiments import warmup

    out = warmup.run_one(ADAM_RUN)
    steps = np.array(out["sharpness_steps"])
    ratio = np.array(out["sharpness"]) / np.array(out["threshold"])
    return float(np.median(ratio[steps >= ADAM_RUN["warmup_steps"]]))
