"""Self-checks for the exercises of "Restarts, cycles and snapshot ensembles" (book/restarts)."""

from __future__ import annotations

import numpy as np

from lrlab import ensembles, schedules
from lrlab.classroom.selfcheck import exercise


@exercise(
    "restarts-ex-ends",
    asks="the epochs at which the cycles end within 150 epochs, SGDR's followed by the cyclic "
    "schedule's, one list of numbers",
    hint="ensembles.cycle_ends returns the last step of each cycle: the cycle ends after step "
    "e, at epoch (e + 1) / 32. Count only complete cycles.",
    rtol=0.0,
    atol=1e-6,
    close=0.1,
)
def _cycle_end_epochs():
    steps_per_epoch, total = 32, 150 * 32
    warm = schedules.sgdr(0.3, first_cycle=10 * steps_per_epoch, cycle_mult=2)
    cyclic = schedules.cyclic(
        0.04, 0.3, step_size_up=3 * steps_per_epoch, step_size_down=5 * steps_per_epoch
    )
    ends = ensembles.cycle_ends(warm, total) + ensembles.cycle_ends(cyclic, total)
    return (np.array(ends) + 1) / steps_per_epoch
