"""The StabilityTracker's cost: lrlab.train.fit alone vs fit with the tracker every k steps.

Every variant trains the same model from the same initial weights with the same data
order for ``--epochs`` epochs; the tracker probes a fixed batch of ``--probe`` training
examples twice per record (before and after the tracked step: a forward and a backward
pass each), so its cost per record is about two probe passes plus copying the parameters,
and its overhead falls like 1/k. Each variant runs ``--repeats`` times, interleaved, after
one warm-up round; the table shows the fastest run of each, in CPU seconds of the process
(on a shared machine wall time mostly measures the neighbours; on a GPU the two agree
only roughly, since CPU time there excludes waiting for kernels). Note that any callback makes
``fit`` read the loss back every step, which costs nothing on the CPU but a sync per step
on a GPU. Usage::

    python benchmarks/stability.py                     # MNIST-1D, the 1-D CNN, 10 epochs
    python benchmarks/stability.py --data digits --model mlp --epochs 10
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

import lrlab
from lrlab import data, models, results, stability, train


def run_once(dataset, model_name: str, epochs: int, every: int | None, probe: int) -> float:
    torch.manual_seed(0)
    net = models.build(model_name, dataset.num_classes, dataset.input_shape)
    callbacks = []
    if every is not None:
        x, y = dataset.tensors("train")
        callbacks.append(stability.StabilityTracker(x[:probe], y[:probe], every=every))
    # CPU time of this process: on a shared machine, wall time mostly measures the neighbours
    start = time.process_time()
    train.fit(net, dataset, 0.05, epochs=epochs, progress=False, callbacks=callbacks)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist1d")
    parser.add_argument("--model", default="cnn1d")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--probe", type=int, default=256, help="probe batch size")
    parser.add_argument("--every", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dataset = data.load(args.data, device=lrlab.device())
    variants = [None, *args.every]
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(args.repeats + 1):  # the first round warms up and is discarded
        times = {k: run_once(dataset, args.model, args.epochs, k, args.probe) for k in variants}
        if _ == 0:
            continue
        for k, t in times.items():
            best[k] = min(best[k], t)

    steps = args.epochs * dataset.num_batches("train", 128)
    print(
        f"{args.model} on {args.data}, {args.epochs} epochs ({steps} steps, batch 128), "
        f"probe batch {args.probe}, {args.threads} thread(s), "
        f"{results.device_name(dataset.device)}, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}; fastest of {args.repeats} runs"
    )
    print(f"{'variant':24}{'CPU s':>9}{'vs plain fit':>14}{'records':>9}")
    for k in variants:
        label = "fit (no callback)" if k is None else f"fit + tracker, every={k}"
        records = 0 if k is None else (steps - 1) // k  # at steps k, 2k, ... < steps
        print(f"{label:24}{best[k]:9.2f}{best[k] / best[None]:13.2f}x{records:9d}")


if __name__ == "__main__":
    main()
