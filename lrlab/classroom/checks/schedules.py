"""Self-checks for the exercises of "A gallery of learning-rate schedules" (book/schedules)."""

from __future__ import annotations

import numpy as np

from lrlab import schedules
from lrlab.classroom.selfcheck import exercise

PEAK_STARTS = (1e-3, 1e-2, 5e-2)


@exercise(
    "schedules-ex-resnet",
    asks="the learning rate at steps 1,000, 20,000 and 35,000, a list of three numbers",
    hint="warmup restarts the clock of the schedule it wraps: count the milestones from the "
    "end of the warm-up (5 × 391 steps).",
    rtol=1e-4,
    close=0.1,
)
def _resnet_recipe_rates():
    steps_per_epoch, epochs, warm_epochs = 391, 100, 5
    rest = (epochs - warm_epochs) * steps_per_epoch
    recipe = schedules.warmup(
        schedules.multistep(0.1, [rest // 2, (3 * rest) // 4]), warm_epochs * steps_per_epoch
    )
    return recipe(np.array([1_000, 20_000, 35_000]))


@exercise(
    "schedules-ex-restarts",
    asks="the first four steps at which sgdr(0.1, first_cycle=50, cycle_mult=3) restarts, "
    "a list of four integers",
    hint="Cycle k lasts T0·m^k steps, so restart k comes after the first k cycles: sum them.",
    rtol=0.0,
    atol=0.5,
    close=0.1,
)
def _sgdr_restarts():
    lr = schedules.sgdr(0.1, first_cycle=50, cycle_mult=3)(np.arange(3000))
    return (np.flatnonzero(np.diff(lr) > 0) + 1)[:4]


@exercise(
    "schedules-ex-per-epoch",
    asks="the largest gap to the per-step cosine, as a fraction of the peak, for E = 5, 10, "
    "30 and 100, a list of four numbers",
    hint="Evaluate cosine(1.0, E) at step // 100 for the staircase and cosine(1.0, 100 E) at "
    "every step, and take the largest absolute difference.",
    rtol=0.01,
    close=0.2,
)
def _per_epoch_gaps():
    gaps = []
    for epochs in (5, 10, 30, 100):
        t = np.arange(epochs * 100)
        exact = schedules.cosine(1.0, epochs * 100)(t)
        staircase = schedules.cosine(1.0, epochs)(t // 100)
        gaps.append(np.max(np.abs(exact - staircase)))
    return gaps


@exercise(
    "schedules-ex-peak",
    asks="the step of the peak for start_lr = 1e-3, 1e-2 and 5e-2, a list of three numbers",
    hint="Solve u = 0.5 for t with u = t0 + (1 - t0) t / (T - 1), where t0 is where the curve "
    "equals start_lr.",
    rtol=0.0,
    atol=1.0,
    close=0.05,
)
def _peak_steps():
    return [
        int(
            np.argmax(schedules.gaussian_peak(0.1, 1000, min_lr=1e-4, start_lr=s0)(np.arange(1000)))
        )
        for s0 in PEAK_STARTS
    ]
