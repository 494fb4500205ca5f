"""The vmap engine of lrlab.sweep against the sequential engine: 16 MNIST-1D CNNs, same numbers.

One grid (by default 4 seeds × 2 rates × 2 schedules of ``cnn1d`` on MNIST-1D, SGD with
momentum, fp32, no cache) runs through ``lrlab.sweep.run`` with ``engine="local"`` (one
``run_one`` after the other) and with ``engine="vmap"`` (all 16 as one stack of models
under ``torch.func.vmap``), interleaved, ``--repeats`` times after a warm-up round that
absorbs one-time costs (importing ``torch.func`` pulls in ``torch._dynamo``, about two
seconds once per process; loading the data). The table shows the fastest round of each,
the speed-up, and the largest difference between the two engines' final test accuracy
and loss over the grid: the same runs, so the differences are float rounding carried
through training. Usage::

    python benchmarks/sweep_vmap.py                   # CPU, one thread
    python benchmarks/sweep_vmap.py --threads 2
    python benchmarks/sweep_vmap.py --device cuda --epochs 10
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from lrlab import results, sweep


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(grid, engine: str, device: torch.device, data_root: str) -> tuple[float, list[dict]]:
    sync(device)
    start = time.perf_counter()
    records = sweep.run(
        grid, engine=engine, cache=None, device=device, data_root=data_root, progress=False
    )
    sync(device)
    return time.perf_counter() - start, records


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist1d", help="lrlab.data name (default: mnist1d)")
    parser.add_argument("--model", default="cnn1d", help="lrlab.models name (default: cnn1d)")
    parser.add_argument("--seeds", type=int, default=4, help="seeds 0..N-1 (default: 4)")
    parser.add_argument(
        "--lrs", type=float, nargs="+", default=[0.05, 0.1], help="rates (default: 0.05 0.1)"
    )
    parser.add_argument(
        "--schedules",
        nargs="+",
        default=["constant", "cosine"],
        help="lrlab.schedules factories (default: constant cosine)",
    )
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (default: 3)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch (default: 128)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (default: 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--data-root", default="data/cache", help="default: data/cache")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    grid = {
        "data": args.data,
        "model": args.model,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "precision": "fp32",  # the vmap engine's only precision, for both sides
        "seed": list(range(args.seeds)),
        "lr": args.lrs,
        "schedule": args.schedules,
    }
    runs = len(sweep.expand(grid))
    warm_up = {**grid, "epochs": 1, "seed": 0, "lr": args.lrs[0], "schedule": args.schedules[0]}
    for engine in ("local", "vmap"):
        timed(warm_up, engine, device, args.data_root)
    times: dict[str, list[float]] = {"local": [], "vmap": []}
    records: dict[str, list[dict]] = {}
    for _ in range(args.repeats):
        for engine in times:
            seconds, records[engine] = timed(grid, engine, device, args.data_root)
            times[engine].append(seconds)

    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"sweep engines: {runs} runs of {args.model} on {args.data} ({args.seeds} seeds x "
        f"{len(args.lrs)} rates x {len(args.schedules)} schedules), {args.epochs} epochs of "
        f"batch {args.batch_size}, SGD momentum 0.9, fp32, on {results.device_name(device)} "
        f"({platform.processor() or platform.machine()}, {torch.get_num_threads()} torch "
        f"threads, load average {load}), best of {args.repeats}"
    )
    base = min(times["local"])
    print(f"{'engine':<28}  {'total s':>8}  {'s/run':>7}  {'speed-up':>8}")
    labels = {"local": "local (run_one, sequential)", "vmap": f"vmap ({runs} models stacked)"}
    for engine, values in times.items():
        best = min(values)
        print(f"{labels[engine]:<28}  {best:>8.3f}  {best / runs:>7.3f}  {base / best:>7.2f}x")
    pairs = list(zip(records["local"], records["vmap"], strict=True))
    assert all(a["key"] == b["key"] for a, b in pairs)
    finished = [(a["result"], b["result"]) for a, b in pairs if not a["result"]["diverged"]]
    diverged = [(a["result"]["diverged"], b["result"]["diverged"]) for a, b in pairs]
    acc = max(abs(a["final_test_acc"] - b["final_test_acc"]) for a, b in finished)
    loss = max(
        abs(a["final_test_loss"] - b["final_test_loss"]) / a["final_test_loss"] for a, b in finished
    )
    print(
        f"same numbers: largest |difference| of final test accuracy {acc:.4f} "
        f"({acc * sweep.grid.dataset(args.data, args.data_root, device).size('test'):.0f} "
        f"test examples), largest relative difference of final test loss {loss:.2e}; "
        f"diverged runs agree: {all(a == b for a, b in diverged)} "
        f"({sum(a for a, _ in diverged)} of {runs})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
