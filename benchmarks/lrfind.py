"""The range test's overhead: lrlab.lrfind.range_test vs a plain training loop, and vs
torch-lr-finder, over the same steps of the same model on the same batches.

All three take ``--num-iter`` optimizer steps at the rates of one exponential sweep, on
batches drawn from :mod:`lrlab.data`'s device-resident loader (torch-lr-finder gets them
through its ``TrainDataLoaderIter`` interface, so that no side pays for a different input
pipeline). The sweep stays below the rates where the loss blows up and the divergence
checks are off, so every side takes every step. The times include what each side does
around the steps: lrlab and torch-lr-finder save the model's state before and restore it
after; the plain loop does neither. Each variant runs ``--repeats`` times, interleaved,
after one warm-up round; the table shows the fastest run of each. Usage::

    python benchmarks/lrfind.py                       # digits, MLP, 200 steps
    python benchmarks/lrfind.py --model small_cnn --num-iter 100

torch-lr-finder is a benchmark-only dependency (``pip install torch-lr-finder``); without
it the script says so and times the other two.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import math
import platform
import time

import torch
import torch.nn.functional as F

import lrlab
from lrlab import data, lrfind, models, results
from lrlab.step import make_train_step


def build(name: str, dataset, seed: int = 0):
    torch.manual_seed(seed)
    return models.build(name, dataset.num_classes, dataset.input_shape).to(dataset.device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop(model, dataset, lrs, batch_size: int) -> None:
    """The textbook loop: set the rate, forward, backward, step. Nothing saved or read."""
    opt = torch.optim.SGD(model.parameters(), lr=float(lrs[0]), momentum=0.9)
    batches = lrfind._train_batches(dataset, batch_size, seed=0)
    model.train()
    for lr, (x, y) in zip(lrs.tolist(), batches, strict=False):
        for group in opt.param_groups:
            group["lr"] = lr
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def shared_step_loop(model, dataset, lrs, batch_size: int) -> None:
    """The same loop through lrlab.step.make_train_step, the step range_test and fit share
    (it also computes the gradient norm and the number of correct predictions)."""

    opt = torch.optim.SGD(model.parameters(), lr=float(lrs[0]), momentum=0.9)
    step = make_train_step(model, opt)
    batches = lrfind._train_batches(dataset, batch_size, seed=0)
    model.train()
    for lr, (x, y) in zip(lrs.tolist(), batches, strict=False):
        step(x, y, lr)


def lrlab_test(model, dataset, lrs, batch_size: int) -> None:
    lrfind.range_test(
        model,
        dataset,
        float(lrs[0]),
        float(lrs[-1]),
        num_iter=len(lrs),
        diverge=math.inf,
        batch_size=batch_size,
        precision="fp32",
        channels_last=False,
    )


def torch_lr_finder_test(model, dataset, lrs, batch_size: int) -> None:
    import torch_lr_finder
    from tqdm.auto import tqdm

    # It draws a progress bar on every call; keep it from timing the terminal.
    torch_lr_finder.lr_finder.tqdm = functools.partial(tqdm, disable=True)

    class Batches:
        """Our batches behind torch-lr-finder's data-loader interface."""

        dataset = None

        def __iter__(self):
            return lrfind._train_batches(dataset, batch_size, seed=0)

    opt = torch.optim.SGD(model.parameters(), lr=float(lrs[0]), momentum=0.9)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per call
        finder = torch_lr_finder.LRFinder(model, opt, torch.nn.CrossEntropyLoss())
        finder.range_test(
            torch_lr_finder.lr_finder.TrainDataLoaderIter(Batches()),
            end_lr=float(lrs[-1]),
            num_iter=len(lrs),
            step_mode="exp",
            diverge_th=math.inf,
        )
        finder.reset()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", help="lrlab.data name (default: digits)")
    parser.add_argument("--model", default="mlp", help="lrlab.models name (default: mlp)")
    parser.add_argument("--num-iter", type=int, default=200, help="steps (default: 200)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch (default: 128)")
    parser.add_argument("--start-lr", type=float, default=1e-5, help="default: 1e-5")
    parser.add_argument(
        "--end-lr", type=float, default=0.05, help="below the blow-up (default: 0.05)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (default: 5)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default=None, help="default: lrlab.device()")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else lrlab.device()
    dataset = data.load(args.dataset, device=device)
    lrs = lrfind.lr_sweep(args.start_lr, args.end_lr, args.num_iter)

    variants = {
        "plain training loop": plain_loop,
        "same loop, lrlab.train's step": shared_step_loop,
        "lrlab.lrfind.range_test": lrlab_test,
    }
    try:
        import torch_lr_finder  # noqa: F401 - only to see whether it is installed

        variants["torch-lr-finder"] = torch_lr_finder_test
        missing = None
    except ImportError:
        missing = (
            "torch-lr-finder is not installed, so it is left out "
            "(pip install torch-lr-finder to compare with it)"
        )
    times: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(args.repeats + 1):  # round 0 warms up (imports, allocator, caches)
        for name, run in variants.items():
            model = build(args.model, dataset)
            sync(device)
            start = time.perf_counter()
            run(model, dataset, lrs, args.batch_size)
            sync(device)
            if round_ > 0:
                times[name].append(time.perf_counter() - start)

    print(
        f"range test benchmark: {args.model} on {args.dataset}, {args.num_iter} steps of "
        f"batch {args.batch_size}, SGD momentum 0.9, on {results.device_name(device)} "
        f"({platform.processor() or platform.machine()}, {torch.get_num_threads()} torch "
        f"threads), best of {args.repeats}"
    )
    if missing:
        print(missing)
    base = min(times["plain training loop"])
    width = max(len(name) for name in times)
    print(f"{'variant':<{width}}  {'total s':>8}  {'ms/step':>8}  {'vs plain':>8}")
    for name, values in times.items():
        best = min(values)
        print(
            f"{name:<{width}}  {best:>8.3f}  {1000 * best / args.num_iter:>8.2f}  "
            f"{best / base:>7.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
