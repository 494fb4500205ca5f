"""Self-checks for the exercises of the network-stability chapter (book/network-stability)."""

from __future__ import annotations

import numpy as np

from lrlab import stability
from lrlab.classroom.selfcheck import exercise


@exercise(
    "network-stability-ex-gradient-size",
    asks="the simulated mean of g² over 20,000 steps (seed=1) for ηh = 1.9 and ηh = 1.99, "
    "a list of two numbers",
    hint="stability.noisy_quadratic_gradients(1.0, eta_h, 20000, seed=1) returns the gradients; "
    "average their squares. Another seed lands within sampling error of the formula.",
    rtol=1e-6,
    close=0.3,  # other seeds: the sampling error near the edge is of order 20 %
)
def _mean_squared_gradients():
    return [
        np.mean(stability.noisy_quadratic_gradients(1.0, eta_h, 20000, seed=1) ** 2)
        for eta_h in (1.9, 1.99)
    ]
