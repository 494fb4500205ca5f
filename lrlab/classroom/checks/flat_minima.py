"""Self-checks for the exercises of "Flat minima and peak schedules" (book/flat-minima)."""

from __future__ import annotations

from lrlab import dynamics
from lrlab.classroom.selfcheck import exercise


@exercise(
    "flat-minima-ex-cliff",
    asks="the largest rate at which gradient descent from x0 = -1.05 still ends in the sharp "
    "minimum, for h_sharp = 20 and 50, a list of two numbers",
    hint="Sweep a fine grid of rates around the value where |1 - γ h_sharp| reaches one, "
    "with enough steps that rates just below it have time to arrive.",
    rtol=3e-3,  # a sweep on a grid of 0.05 % steps lands within a few steps of the cliff
    close=0.1,
)
def _sharp_well_cliffs():
    return [dynamics.max_stable_lr(h) for h in (20.0, 50.0)]
