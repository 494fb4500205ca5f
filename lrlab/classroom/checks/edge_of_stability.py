"""Self-checks for the exercises of "Sharpness during training" (book/edge-of-stability)."""

from __future__ import annotations

import functools

from lrlab import curvature, dynamics
from lrlab.classroom.selfcheck import exercise

WIDTHS = (100, 1000, 10000)


@exercise(
    "eos-ex-width",
    asks="the peak loss at ηλ0 = 3 for n = 100, 1000 and 10000, a list of three numbers",
    hint="Run dynamics.catapult_gd(3.0 / 2.0, n, f0=1.0, lam0=2.0, steps=2000) for each "
    "width and take the largest entry of its loss series.",
    rtol=1e-4,
    close=0.2,
)
def _catapult_peaks():
    return [
        dynamics.catapult_gd(3.0 / 2.0, n, f0=1.0, lam0=2.0, steps=2000)["loss"].max()
        for n in WIDTHS
    ]


@exercise(
    "eos-ex-nesterov",
    asks="the stability threshold on λ for η = 0.01, β = 0.9: heavy ball, then Nesterov, "
    "a list of two numbers",
    hint="curvature.stability_threshold takes the momentum and a nesterov flag; Nesterov's "
    "look-ahead puts its edge below heavy ball's.",
    rtol=1e-6,
    close=0.05,
)
def _momentum_thresholds():
    return [
        curvature.stability_threshold(0.01, momentum=0.9, nesterov=nesterov)
        for nesterov in (False, True)
    ]


@exercise(
    "eos-ex-precision",
    asks="λ_max of the chapter's first network (60 full-batch steps at η = 0.2), one number "
    "(any of the four measurements)",
    hint="curvature.sharpness(net, x, y, loss='mse', tol=1e-4, iters=3000) on the 500 "
    "training digits; the four measurements should agree to about 1e-4.",
    rtol=1e-3,
    close=0.05,
)
@functools.cache  # trains a network: once per process
def _first_network_sharpness():
    import torch

    from lrlab import data, models, train

    digits = data.subset(data.load("digits", device="cpu"), train=500, test=200)
    x, y = digits.tensors("train")
    net = models.build("mlp", digits.num_classes, digits.input_shape, seed=0, hidden=(64, 64))
    train.fit(
        net,
        digits,
        0.2,
        epochs=60,
        batch_size=digits.size("train"),
        momentum=0.0,
        weight_decay=0.0,
        loss="mse",
        progress=False,
    )
    return curvature.sharpness(net, x, y, loss="mse", tol=1e-4, iters=3000, dtype=torch.float64)


@exercise(
    "eos-ex-beta",
    asks="the largest measured λ_max of the run as a fraction of (2 + 2β)/η, one number",
    hint="run_one returns 'sharpness' and 'threshold' at the same steps; divide the largest "
    "sharpness by the threshold.",
    rtol=1e-3,
    close=0.1,
)
@functools.cache  # trains a network: once per process
def _heavy_ball_fraction():
    from lrlab.experiments import edge_of_stability

    run = edge_of_stability.run_one({"lr": 0.3, "momentum": 0.9, "steps": 120, "every": 20})
    return max(run["sharpness"]) / run["threshold"][0]
