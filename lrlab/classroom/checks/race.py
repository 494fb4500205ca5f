"""Self-checks for the exercises of "Which schedule wins? A fair race" (book/race)."""

from __future__ import annotations

import math

import numpy as np

from lrlab import schedules, stats
from lrlab.classroom.selfcheck import exercise
from lrlab.experiments import race

#: The exercise's table: steps to the target of three schedules on four workloads.
PROFILE_TIMES = {
    "cosine": {"a": 400, "b": 90, "c": 1200, "d": 300},
    "linear": {"a": 500, "b": 60, "c": 900, "d": math.inf},
    "constant": {"a": 200, "b": 180, "c": math.inf, "d": 250},
}


@exercise(
    "race-ex-profile",
    asks="the performance profile of linear at tau = 1, 1.5, 2 and 4: four fractions of the "
    "four workloads",
    hint="Divide each of linear's times by the best time on that workload, then count the "
    "workloads whose ratio is at most tau. A workload it never solves counts at no tau.",
    rtol=1e-9,
    atol=1e-9,
    close=0.3,
)
def _profile():
    return stats.performance_profile(PROFILE_TIMES, [1, 1.5, 2, 4])["linear"]


@exercise(
    "race-ex-budget",
    asks="with 8 trials over [s/4, 4s]: how many rates a shape value of a two-valued shape "
    "parameter gets, the ratio between two neighbouring rates of one shape value, and the ratio "
    "between neighbouring rates of a family without a shape parameter (three numbers)",
    hint="race.trial_points spreads the 8 rates log-evenly; a family with a shape parameter "
    "hands them out to its values in turn.",
    rtol=1e-6,
    close=0.1,
)
def _budget():
    search = {"trials": 8, "factor": 4.0}
    shaped = race.trial_points({"shape": {"gamma": [0.1, 0.3]}}, 1.0, search)
    plain = race.trial_points({}, 1.0, search)
    first = [lr for lr, shape in shaped if shape["gamma"] == 0.1]
    return [len(first), first[1] / first[0], plain[1][0] / plain[0][0]]


def _last_iterate_loss(schedule, steps: int, curvature: float, noise: float) -> float:
    """E f(x_T) of SGD on f(x) = h x^2 / 2 with gradient noise of variance noise^2, from
    x_0 = 1: E x_{t+1}^2 = (1 - lr_t h)^2 E x_t^2 + lr_t^2 noise^2."""
    second_moment = 1.0
    for lr in schedule(np.arange(steps)):
        second_moment = (1 - lr * curvature) ** 2 * second_moment + lr**2 * noise**2
    return curvature * second_moment / 2


@exercise(
    "race-ex-convex",
    asks="the lowest expected final loss E f(x_T) over the grid of peak rates, for the constant "
    "rate and for linear decay to zero (two numbers, constant first)",
    hint="Iterate the second moment E x_t^2 exactly, step by step, for each peak rate of the "
    "grid; keep each schedule's best final loss.",
    rtol=1e-6,
    close=0.05,
)
def _convex():
    steps, grid = 200, np.geomspace(0.001, 1.0, 61)
    best = []
    for make in (
        schedules.constant,
        lambda lr: schedules.polynomial(lr, steps, power=1.0, end_lr=0.0),
    ):
        best.append(min(_last_iterate_loss(make(lr), steps, 1.0, 1.0) for lr in grid))
    return best
