"""Self-checks for the exercises of "Sharpness during training" (book/edge-of-stability)."""

from __future__ import annotations

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
