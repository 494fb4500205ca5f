"""``lrlab bench train``: training images per second fed by lrlab's device-resident loader and
by a torchvision DataLoader, side by side in one run, and the model FLOPs utilisation."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from lrlab.cli.options import add_model_options, add_optimizer_options, build_model, positive_int

__all__ = ["add_bench_command", "run_bench_train"]


def add_bench_command(subparsers) -> None:
    """Register ``lrlab bench`` and its ``train`` benchmark."""
    bench = subparsers.add_parser(
        "bench",
        help="speed benchmarks",
        description="Speed benchmarks that print a table.",
    )
    kinds = bench.add_subparsers(dest="benchmark", required=True, metavar="benchmark")
    parser = kinds.add_parser(
        "train",
        help="training images/s: device-resident loader vs torchvision DataLoader, and MFU",
        description="Time training steps fed by lrlab's device-resident loader and by a "
        "torchvision DataLoader pipeline (PIL, RandomCrop, flip, ToTensor, Normalize on CPU "
        "workers) in the same run, and on CUDA the model FLOPs utilisation against a bf16 "
        "matmul peak measured in the same run.",
        epilog="example: lrlab bench train --model resnet18 --batch-size 512",
    )
    add_model_options(parser)
    parser.set_defaults(model="resnet18")
    add_optimizer_options(parser, batch_size=512)
    group = parser.add_argument_group("benchmark")
    group.add_argument(
        "--dataset",
        default="synthetic",
        choices=("synthetic", "cifar10", "cifar100"),
        help="synthetic = random 32x32 RGB images in memory, see --images (speed does not "
        "depend on pixel values; nothing to download) (default: %(default)s)",
    )
    group.add_argument(
        "--data-root",
        default="data/cache",
        help="folder of the CIFAR caches (default: %(default)s)",
    )
    group.add_argument(
        "--images",
        type=positive_int,
        default=50_000,
        help="number of synthetic training images (default: %(default)s, as CIFAR)",
    )
    group.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    group.add_argument(
        "--steps", type=positive_int, default=50, help="timed steps per pipeline (default: 50)"
    )
    group.add_argument(
        "--warmup", type=int, default=5, help="untimed steps first per pipeline (default: 5)"
    )
    group.add_argument(
        "--workers", type=int, default=4, help="DataLoader worker processes (default: 4)"
    )
    parser.set_defaults(func=run_bench_train)


def _synthetic(device, images: int):
    import torch

    from lrlab.data import Dataset

    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (images, 3, 32, 32), generator=gen, dtype=torch.uint8)
    y = torch.randint(0, 10, (images,), generator=gen)
    return Dataset("synthetic", (x, y), (x[:100], y[:100]), range(10), device=device)


def _forever(make_iterator: Callable[[int], object]):
    """Chain passes over the data (pass ``i`` from ``make_iterator(i)``) endlessly."""
    epoch = 0
    while True:
        yield from make_iterator(epoch)
        epoch += 1


def run_bench_train(args: argparse.Namespace) -> int:
    """Run ``lrlab bench train`` and print its table."""
    import torch

    import lrlab
    from lrlab import data as data_mod
    from lrlab.speed import matmul_peak, throughput, training_flops
    from lrlab.step import prepare

    device = torch.device(args.device) if args.device is not None else lrlab.device()
    if args.dataset == "synthetic":
        data = _synthetic(device, args.images)
    else:
        data = data_mod.load(args.dataset, root=args.data_root, device=device)
    model = build_model(args, data)
    run = prepare(
        model,
        device,
        lr=0.01,
        optimizer=args.optimizer,
        momentum=args.momentum,
        nesterov=args.nesterov,
        weight_decay=args.weight_decay,
        precision=args.precision,
        channels_last=args.channels_last,
        compile=args.compile,
    )
    flops = training_flops(model, data.input_shape)
    peak = matmul_peak(device) if device.type == "cuda" else None

    def resident(epoch):
        return data.batches("train", args.batch_size, seed=epoch)

    loader = data_mod.torchvision_loader(data, "train", args.batch_size, num_workers=args.workers)

    def classic(epoch):
        for x, y in loader:
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)

    rows = []
    for label, batches in (
        ("device-resident (lrlab.data)", _forever(resident)),
        (f"DataLoader (torchvision, {args.workers} workers)", _forever(classic)),
    ):
        speed = throughput(run.step, batches, args.steps, args.warmup)
        mfu = f"{speed * flops / peak:.1%}" if peak else "n/a"
        rows.append((label, speed, 1000 * args.batch_size / speed, mfu))
    peak_text = f"{peak / 1e12:.1f} TFLOP/s" if peak else "n/a (CPU)"
    print(
        f"lrlab bench train: {args.model}, batch {args.batch_size}, {run.precision}, "
        f"channels_last={run.channels_last}, compile={args.compile}, {args.steps} timed steps, "
        f"on {lrlab.device_name(device)}"
    )
    print(
        f"training FLOPs per image (forward + backward): {flops / 1e9:.3f} GFLOP; "
        f"measured bf16 matmul peak: {peak_text}"
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'pipeline':<{width}}  {'images/s':>10}  {'ms/step':>8}  {'MFU':>6}")
    for label, speed, ms, mfu in rows:
        print(f"{label:<{width}}  {speed:>10,.0f}  {ms:>8.1f}  {mfu:>6}")
    print(f"device-resident / DataLoader: {rows[0][1] / rows[1][1]:.2f}x")
    return 0
