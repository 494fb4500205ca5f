"""Self-checks for the exercises of "Flat minima and peak schedules" (book/flat-minima).

The exercise ``flat-minima-ex-filter`` has none: its answer is an observation (two curves
coincide with filter normalisation and differ without it), not a number; the exercise says so.
"""

from __future__ import annotations

import numpy as np

from lrlab import dynamics
from lrlab.classroom.selfcheck import exercise

#: The two wells of the chapter's section 1, and the escape exercise's start and rates.
SHARP, FLAT = 20.0, 2.0
ESCAPE_START, ESCAPE_BASE, ESCAPE_PEAKS = -1.05, 0.05, (0.12, 0.15)


def peak_steps_to_escape(peak_lr: float, max_steps: int = 200) -> int:
    """The fewest steps at ``peak_lr`` (before and after: 0.05) after which gradient descent
    from -1.05 ends in the flat well of ``dynamics.two_wells(20, 2, -1, 2)``."""
    _, grad = dynamics.two_wells(SHARP, FLAT, sharp_min=-1.0, flat_min=2.0)
    for steps in range(max_steps + 1):
        x = dynamics.iterate(grad, ESCAPE_START, peak_lr, steps=steps)[-1]
        end = dynamics.iterate(grad, x, ESCAPE_BASE, steps=2000)[-1]
        if abs(end - 2.0) < 1e-6:
            return steps
    raise ValueError(f"no escape within {max_steps} steps at rate {peak_lr}")


@exercise(
    "flat-minima-ex-escape",
    asks="the fewest steps at the peak rate that leave the sharp well for good, for peak "
    "rates 0.12 and 0.15, a list of two integers",
    hint="Above 2/h_sharp the distance to the sharp minimum grows by |1 - γ h_sharp| per "
    "step; the iterate has left when it is past the ridge between the wells and the rate "
    "drops back. Loop over the number of peak steps and run each to the end.",
    rtol=0.0,
    atol=0.5,
    close=0.3,
)
def _escape_steps():
    return [peak_steps_to_escape(lr) for lr in ESCAPE_PEAKS]


def first_layer_matrix():
    """The first convolution of ``models.build("cnn1d", 10, (1, 40), seed=0)`` as the
    608 × 40 matrix it applies to an MNIST-1D sequence (float64)."""
    import torch

    from lrlab import models

    conv = models.build("cnn1d", 10, (1, 40), seed=0)[0].double()
    return torch.autograd.functional.jacobian(
        lambda v: conv(v.view(1, 1, -1)).flatten(), torch.zeros(40, dtype=torch.float64)
    )


@exercise(
    "flat-minima-ex-bound",
    asks="‖δW‖_F over Proposition 1's bound along the top right singular vector, and its "
    "root mean square over random directions of δx, a list of two numbers",
    hint="‖δW‖_F = ‖W δx‖/‖x‖ and the bound is σ_max ‖δx‖/‖x‖; for a random unit direction "
    "u in n dimensions the mean of ‖W u‖² is ‖W‖_F² / n.",
    rtol=0.05,  # 200 random directions estimate the root mean square to a few per cent
    close=0.2,
)
def _bound_ratios():
    import torch

    singular = torch.linalg.svdvals(first_layer_matrix()).numpy()
    return [1.0, float(np.sqrt(np.mean(singular**2)) / singular[0])]
