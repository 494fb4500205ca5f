"""Self-checks for the exercises of "Finding a learning rate: the range test"."""

from __future__ import annotations

import numpy as np

from lrlab import lrfind
from lrlab.classroom.selfcheck import exercise


@exercise(
    "range-test-ex-sweep",
    asks="the steps spent below 1e-2 by the exponential and by the linear sweep, a list of "
    "two integers",
    hint="Both sweeps go from 1e-4 to 1 in 100 steps; count the rates below 1e-2 in "
    "result.lrs (or in lrfind.lr_sweep).",
    rtol=0.0,
    atol=0.5,
    close=0.1,
)
def _steps_below_one_hundredth():
    return [int(np.sum(lrfind.lr_sweep(1e-4, 1.0, 100, mode) < 1e-2)) for mode in ("exp", "linear")]
