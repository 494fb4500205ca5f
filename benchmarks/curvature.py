"""The cost of tracking sharpness during training; Lanczos against power iteration.

Full-batch gradient descent on the square loss (the edge-of-stability setting of Cohen et
al., 2021): an MLP on a subset of the digits, ``lrlab.train.fit`` with batch size = training
set, no momentum, no weight decay. The same run (same seed, same rate) is timed

- without any callback (the reference), and
- with ``curvature.SharpnessTracker`` measuring λ_max on the training set every k steps,
  k = 1, 10, 100, by Lanczos and by power iteration (both to the same relative residual).

For each it prints the wall time, the slowdown against training without tracking, the
number of measurements, and the Hessian-vector products (HVPs) spent in total and per
measurement. One table, all rows from one run of this script.

Run: ``.venv/bin/python benchmarks/curvature.py`` (about six minutes on a busy 2-core CPU;
``--steps`` and ``--examples`` make it shorter or longer).
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
    """One full-batch run; returns (seconds, History)."""
    torch.manual_seed(0)
    net = models.build("mlp", subset.num_classes, subset.input_shape, hidden=hidden)
    start = time.perf_counter()
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
    return time.perf_counter() - start, history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--lr", type=float, default=0.2)
    parser.add_argument("--tol", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hidden = (64, 64)
    subset = digits_subset(args.examples)
    x, y = subset.tensors("train")
    train_once(subset, 2, args.lr, hidden)  # untimed: the first run pays one-time imports
    base, history = train_once(subset, args.steps, args.lr, hidden)
    parameters = history.config["parameters"]
    print(
        f"Full-batch GD, square loss, MLP 64-{hidden[0]}-{hidden[1]}-10 ({parameters:,} "
        f"parameters), {args.examples} digits, lr {args.lr}, {args.steps} steps, "
        f"{args.threads} thread(s)"
    )
    print(f"eigensolver stops at residual <= {args.tol:g} * lambda_max (at most 1000 HVPs)")
    header = (
        f"{'tracking':<22}{'time (s)':>10}{'slowdown':>10}{'measured':>10}"
        f"{'HVPs':>8}{'HVPs/meas.':>12}{'final lambda':>14}"
    )
    print(header)
    print(f"{'none':<22}{base:>10.2f}{1.0:>9.2f}x{0:>10}{0:>8}{'':>12}{'':>14}")
    for every in (1, 10, 100):
        for method in ("lanczos", "power"):
            tracker = curvature.SharpnessTracker(
                x, y, every=every, method=method, tol=args.tol, iters=1000
            )
            seconds, history = train_once(subset, args.steps, args.lr, hidden, tracker)
            series = np.array(history.extras["sharpness"])
            count = len(series)
            print(
                f"{f'every {every}, {method}':<22}{seconds:>10.2f}{seconds / base:>9.2f}x"
                f"{count:>10}{tracker.hvps:>8}{tracker.hvps / count:>12.1f}"
                f"{series[-1, 1]:>14.4g}"
            )


if __name__ == "__main__":
    main()
