"""The cost of tracking sharpness during training: cold against warm-started eigensolvers.

Full-batch gradient descent on the square loss (the edge-of-stability setting of Cohen et
al., 2021): an MLP on a subset of the digits, ``lrlab.train.fit`` with batch size = training
set, no momentum, no weight decay. The same run (same seed, same rate) is timed

- without any callback (the reference), and
- with ``curvature.SharpnessTracker`` measuring λ_max on the training set every k steps
  (k = 10 by default; ``--every 1 10 100`` for more), by Lanczos and by power iteration,
  each started cold (a fixed random vector every time) and warm (from the previous
  measurement's eigenvector), all to the same relative residual ``--tol``.

For each it prints the wall time, the slowdown against training without tracking, the
number of measurements, the Hessian-vector products (HVPs) per measurement (mean and
largest), and, for a warm row, the largest difference between its sharpness and the cold
row's at the same steps, in units of tol·λ_max (the solver's tolerance). The training
trajectory does not depend on the tracker (it restores the model exactly), so the two rows
measure the same networks. Times are wall-clock and CPU time of this process (the latter
less sensitive to other work on a shared machine), each the least of ``--repeats`` rounds
that run every row once. One table, all rows from one run of this script.

Run: ``.venv/bin/python benchmarks/curvature.py`` (a minute or two on a busy 2-core CPU;
``--steps``, ``--examples``, ``--every``, ``--methods`` and ``--repeats`` make it shorter
or longer).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lrlab import curvature, data, models, train


def digits_subset(examples: int) -> data.Dataset:
    digits = data.load("digits", device="cpu")
    x, y = digits.raw("train")
    xt, yt = digits.raw("test")
    return data.Dataset(
        f"digits-{examples}",
        (x[:examples], y[:examples]),
        (xt[:200], yt[:200]),
        digits.classes,
        scale=digits.scale,
        augment_crop_flip=False,
        device="cpu",
    )


def train_once(subset, steps: int, lr: float, hidden, tracker=None):
    """One full-batch run; returns (wall seconds, CPU seconds of this process, History)."""
    torch.manual_seed(0)
    net = models.build("mlp", subset.num_classes, subset.input_shape, hidden=hidden)
    wall, cpu = time.perf_counter(), time.process_time()
    history = train.fit(
        net,
        subset,
        lr,
        epochs=steps,
        batch_size=subset.size("train"),
        momentum=0.0,
        weight_decay=0.0,
        loss="mse",
        progress=False,
        callbacks=[tracker] if tracker is not None else [],
    )
    return time.perf_counter() - wall, time.process_time() - cpu, history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--lr", type=float, default=0.2)
    parser.add_argument("--tol", type=float, default=1e-3)
    parser.add_argument("--every", type=int, nargs="+", default=[10])
    parser.add_argument("--methods", nargs="+", default=["lanczos", "power"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hidden = (64, 64)
    subset = digits_subset(args.examples)
    x, y = subset.tensors("train")
    train_once(subset, 2, args.lr, hidden)  # untimed: the first run pays one-time imports

    rows = [None] + [
        (every, method, start)
        for every in args.every
        for method in args.methods
        for start in ("cold", "warm")
    ]

    def tracker_for(row):
        if row is None:
            return None
        every, method, start = row
        return curvature.SharpnessTracker(
            x, y, every=every, method=method, tol=args.tol, iters=1000, warm_start=start == "warm"
        )

    # Every configuration once per round, rounds repeated: a change in the machine's load
    # then hits all rows alike, and the least time of each row is kept.
    wall = {row: np.inf for row in rows}
    cpu = {row: np.inf for row in rows}
    results = {}
    for _ in range(args.repeats):
        for row in rows:
            tracker = tracker_for(row)
            seconds, cpu_seconds, history = train_once(subset, args.steps, args.lr, hidden, tracker)
            wall[row], cpu[row] = min(wall[row], seconds), min(cpu[row], cpu_seconds)
            results[row] = (history, tracker)
    parameters = results[None][0].config["parameters"]
    print(
        f"Full-batch GD, square loss, MLP 64-{hidden[0]}-{hidden[1]}-10 ({parameters:,} "
        f"parameters), {args.examples} digits, lr {args.lr}, {args.steps} steps, "
        f"{args.threads} thread(s), least time of {args.repeats} interleaved run(s)"
    )
    print(f"eigensolver stops at residual <= {args.tol:g} * lambda_max (at most 1000 HVPs)")
    print(
        f"{'tracking':<26}{'wall (s)':>9}{'slowdown':>9}{'CPU (s)':>9}{'slowdown':>9}"
        f"{'measured':>9}{'HVPs/meas.':>11}{'max HVPs':>9}{'final lambda':>13}"
        f"{'|warm-cold|/tol':>16}"
    )
    base_wall, base_cpu = wall[None], cpu[None]
    for row in rows:
        name = "none" if row is None else f"every {row[0]}, {row[1]}, {row[2]}"
        timing = (
            f"{name:<26}{wall[row]:>9.2f}{wall[row] / base_wall:>8.2f}x"
            f"{cpu[row]:>9.2f}{cpu[row] / base_cpu:>8.2f}x"
        )
        if row is None:
            print(timing)
            continue
        history, tracker = results[row]
        series = np.array(history.extras["sharpness"])
        difference = ""
        if row[2] == "warm":
            cold = np.array(results[(row[0], row[1], "cold")][0].extras["sharpness"])
            relative = np.abs(series[:, 1] - cold[:, 1]) / np.abs(cold[:, 1])
            difference = f"{relative.max() / args.tol:.3f}"
        print(
            f"{timing}{len(series):>9}{tracker.hvps / len(series):>11.1f}"
            f"{max(tracker.counts):>9}{series[-1, 1]:>13.4g}{difference:>16}"
        )


if __name__ == "__main__":
    main()
