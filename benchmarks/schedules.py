"""Evaluate every schedule over many steps: lrlab (vectorised) vs stepping PyTorch's scheduler.

Both sides compute the same learning rates (the tests check they agree to 1e-9, and wsd
to 1e-12 against HF transformers' ``get_wsd_schedule``, a ``LambdaLR``); this measures how
long each takes. Usage::

    python benchmarks/schedules.py            # 10**6 steps per family
    python benchmarks/schedules.py --steps 100000
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
from torch.optim import lr_scheduler as S

from lrlab import schedules


def families(steps: int):
    """(name, lrlab schedule, PyTorch scheduler factory) for every family with a PyTorch
    scheduler (``LambdaLR`` for inverse time, HF transformers' for wsd)."""
    from transformers import get_wsd_schedule

    return [
        ("constant", schedules.constant(0.1), lambda o: S.LambdaLR(o, lambda t: 1.0)),
        (
            "step_decay",
            schedules.step_decay(0.1, steps // 4, 0.5),
            lambda o: S.StepLR(o, steps // 4, 0.5),
        ),
        (
            "multistep",
            schedules.multistep(0.1, [steps // 2, 3 * steps // 4]),
            lambda o: S.MultiStepLR(o, [steps // 2, 3 * steps // 4]),
        ),
        (
            "exponential",
            schedules.exponential(0.1, 0.999999),
            lambda o: S.ExponentialLR(o, 0.999999),
        ),
        (
            "inverse_time",
            schedules.inverse_time(0.1, 1e-4),
            lambda o: S.LambdaLR(o, lambda t: 1.0 / (1.0 + 1e-4 * t)),
        ),
        ("polynomial", schedules.polynomial(0.1, steps), lambda o: S.PolynomialLR(o, steps, 1.0)),
        ("cosine", schedules.cosine(0.1, steps), lambda o: S.CosineAnnealingLR(o, steps)),
        (
            "sgdr",
            schedules.sgdr(0.1, steps // 31, cycle_mult=2),
            lambda o: S.CosineAnnealingWarmRestarts(o, steps // 31, 2),
        ),
        (
            "cyclic",
            schedules.cyclic(0.001, 0.1, steps // 20),
            lambda o: S.CyclicLR(o, 0.001, 0.1, steps // 20, cycle_momentum=False),
        ),
        (
            "one_cycle",
            schedules.one_cycle(0.1, steps),
            lambda o: S.OneCycleLR(o, 0.1, total_steps=steps, cycle_momentum=False),
        ),
        (
            "wsd",
            schedules.wsd(
                0.1,
                steps,
                decay_steps=steps // 5,
                warmup_steps=steps // 100,
                cooldown="1-sqrt",
                end_lr=1e-3,
            ),
            lambda o: get_wsd_schedule(
                o,
                steps // 100,
                steps // 5,
                num_training_steps=steps,
                decay_type="1-sqrt",
                min_lr_ratio=1e-2,
            ),
        ),  # fmt: skip
    ]


def time_lrlab(schedule, steps: int, repeats: int = 5) -> float:
    """Median wall time of one vectorised evaluation over all steps."""
    t = np.arange(steps)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        schedule(t)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def time_torch(make_scheduler, steps: int) -> float:
    """Wall time of stepping a PyTorch scheduler once per step, reading get_last_lr() each time."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    optimizer._opt_called = True  # we step only the scheduler: silence the order warning
    scheduler = make_scheduler(optimizer)
    out = np.empty(steps)
    start = time.perf_counter()
    for i in range(steps):
        out[i] = scheduler.get_last_lr()[0]
        scheduler.step()
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10**6, help="steps per family (default 10**6)")
    args = parser.parse_args(argv)
    print(
        f"{args.steps:,} steps per family; {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}"
    )
    print(f"{'family':<12} {'lrlab vectorised':>17} {'PyTorch loop':>14} {'ratio':>9}")
    rows = families(args.steps)  # imports transformers before any timing
    for name, ours, make in rows:
        mine = time_lrlab(ours, args.steps)
        theirs = time_torch(make, args.steps)
        print(f"{name:<12} {mine * 1e3:>14.1f} ms {theirs:>12.2f} s {theirs / mine:>8.0f}x")


if __name__ == "__main__":
    main()
