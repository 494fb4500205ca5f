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
measure the same networks. Each time is the least of ``--repeats`` runs. One table, all
rows from one run of this script.

Run: ``.venv/bin/python benchmarks/curvature.py`` (about a minute on a busy 2-core CPU;
``--steps``, ``--examples``, ``--every`` and ``--repeats`` make it shorter or longer).
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
    parser.add_argument("--every", type=int, nargs="+", default=[10])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hidden = (64, 64)
    subset = digits_subset(args.examples)
    x, y = subset.tensors("train")
    train_once(subset, 2, args.lr, hidden)  # untimed: the first run pays one-time imports

    def timed(make_tracker=None):
        """The least time of ``repeats`` runs, with the last run's History and tracker."""
        best = np.inf
        for _ in range(args.repeats):
            tracker = make_tracker() if make_tracker is not None else None
            seconds, history = train_once(subset, args.steps, args.lr, hidden, tracker)
            best = min(best, seconds)
        return best, history, tracker

    base, history, _ = timed()
    parameters = history.config["parameters"]
    print(
        f"Full-batch GD, square loss, MLP 64-{hidden[0]}-{hidden[1]}-10 ({parameters:,} "
        f"parameters), {args.examples} digits, lr {args.lr}, {args.steps} steps, "
        f"{args.threads} thread(s), least time of {args.repeats} run(s)"
    )
    print(f"eigensolver stops at residual <= {args.tol:g} * lambda_max (at most 1000 HVPs)")
    header = (
        f"{'tracking':<28}{'time (s)':>10}{'slowdown':>10}{'measured':>10}"
        f"{'HVPs/meas.':>12}{'max HVPs':>10}{'final lambda':>14}{'|warm-cold|/tol':>17}"
    )
    print(header)
    print(f"{'none':<28}{base:>10.2f}{1.0:>9.2f}x{0:>10}{'':>12}{'':>10}{'':>14}{'':>17}")
    for every in args.every:
        for method in ("lanczos", "power"):
            cold_series = None
            for start in ("cold", "warm"):

                def make_tracker(every=every, method=method, start=start):
                    return curvature.SharpnessTracker(
                        x,
                        y,
                        every=every,
                        method=method,
                        tol=args.tol,
                        iters=1000,
                        warm_start=start == "warm",
                    )

                seconds, history, tracker = timed(make_tracker)
                series = np.array(history.extras["sharpness"])
                count = len(series)
                difference = ""
                if start == "cold":
                    cold_series = series
                else:
                    relative = np.abs(series[:, 1] - cold_series[:, 1]) / np.abs(cold_series[:, 1])
                    difference = f"{relative.max() / args.tol:.3f}"
                print(
                    f"{f'every {every}, {method}, {start}':<28}{seconds:>10.2f}"
                    f"{seconds / base:>9.2f}x{count:>10}{tracker.hvps / count:>12.1f}"
                    f"{max(tracker.counts):>10}{series[-1, 1]:>14.4g}{difference:>17}"
                )


if __name__ == "__main__":
    main()
