"""``lrlab bench train``: training images per second fed by lrlab's device-resident loader and
by a torchvision DataLoader, with torch.compile off and on, side by side in one run, and the
model FLOPs utilisation (MFU) against the bf16 matmul peak measured in the same run and
against the datasheet peak of the GPU."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from lrlab.cli.options import (
    add_model_options,
    add_optimizer_options,
    build_model,
    device_option,
    positive_int,
    run_options,
)
from lrlab.options import RunOptions

__all__ = ["BF16_DATASHEET_PEAKS", "add_bench_command", "datasheet_peak", "run_bench_train"]


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
        help="training images/s and MFU: device-resident loader vs torchvision DataLoader, "
        "torch.compile off and on",
        description="Time training steps fed by lrlab's device-resident loader and by a "
        "torchvision DataLoader pipeline (PIL, RandomCrop, flip, ToTensor, Normalize on CPU "
        "workers) in the same run, each with torch.compile off and on, and on CUDA the model "
        "FLOPs utilisation against a bf16 matmul peak measured in the same run and against "
        "the GPU's datasheet dense bf16 peak. One table.",
        epilog="example: lrlab bench train --model resnet18 --batch-size 512",
    )
    add_model_options(parser)
    parser.set_defaults(model="resnet18")
    add_optimizer_options(parser, RunOptions(batch_size=512), warmup=False)
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
    group.add_argument(
        "--device",
        type=device_option,
        default=None,
        help="torch device (default: cuda if available)",
    )
    group.add_argument(
        "--steps", type=positive_int, default=50, help="timed steps per pipeline (default: 50)"
    )
    group.add_argument(
        "--warmup", type=int, default=5, help="untimed steps first per pipeline (default: 5)"
    )
    group.add_argument(
        "--workers", type=int, default=4, help="DataLoader worker processes (default: 4)"
    )
    group.add_argument(
        "--compile-modes",
        default="auto",
        choices=("auto", "off", "on", "both"),
        help="time the step without and/or with torch.compile; auto = both on CUDA, off on "
        "the CPU; --compile means on (default: %(default)s)",
    )
    group.add_argument(
        "--out",
        default=None,
        help="store the table with its config and provenance in this .json results file",
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


#: Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's datasheets, FLOP/s, by a name
#: fragment of ``torch.cuda.get_device_name()``; the first match wins (PCIe before SXM).
BF16_DATASHEET_PEAKS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756e12),
    ("H200", 989e12),
    ("H100", 989e12),
    ("A100", 312e12),
    ("L4", 121e12),
)


def datasheet_peak(device_name: str) -> float | None:
    """The datasheet dense bf16 peak of a GPU by name, or None when it is not listed.

    Examples
    --------
    >>> datasheet_peak("NVIDIA H200") / 1e12
    989.0
    >>> datasheet_peak("cpu") is None
    True
    """
    for fragment, peak in BF16_DATASHEET_PEAKS:
        if fragment in device_name:
            return peak
    return None


def _compile_modes(choice: str, device_type: str) -> list[bool]:
    if choice == "auto":
        # torch.compile on the CPU needs a C++ toolchain and minutes; time it on request.
        return [False, True] if device_type == "cuda" else [False]
    return {"off": [False], "on": [True], "both": [False, True]}[choice]


def run_bench_train(args: argparse.Namespace) -> int:
    """Run ``lrlab bench train`` and print its table (and store it with ``--out``)."""
    import torch

    import lrlab
    from lrlab import data as data_mod
    from lrlab import results
    from lrlab._io import writable_file
    from lrlab.speed import matmul_peak, throughput, training_flops
    from lrlab.step import prepare

    if args.out is not None and not args.out.endswith(".json"):
        raise ValueError(f"--out must name a .json file, got {args.out!r}")
    if args.out is not None:
        writable_file(args.out, "--out")
    device = torch.device(args.device) if args.device is not None else lrlab.device()
    if args.dataset == "synthetic":
        data = _synthetic(device, args.images)
    else:
        data = data_mod.load(args.dataset, root=args.data_root, device=device)
    model = build_model(args, data)
    modes = [True] if args.compile else _compile_modes(args.compile_modes, device.type)
    flops = training_flops(model, data.input_shape)
    name = lrlab.device_name(device)
    measured = matmul_peak(device) if device.type == "cuda" else None
    datasheet = datasheet_peak(name) if device.type == "cuda" else None
    loader = data_mod.torchvision_loader(data, "train", args.batch_size, num_workers=args.workers)

    def resident(epoch):
        return data.batches("train", args.batch_size, seed=epoch)

    def classic(epoch):
        for x, y in loader:
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)

    rows = []
    for compiled in modes:
        run = prepare(model, device, run_options(args), lr=0.01, compile=compiled)
        for pipeline, batches in (
            ("device-resident (lrlab.data)", _forever(resident)),
            (f"DataLoader (torchvision, {args.workers} workers)", _forever(classic)),
        ):
            speed = throughput(run.step, batches, args.steps, args.warmup)
            rows.append(
                {
                    "pipeline": pipeline,
                    "compile": compiled,
                    "images_per_s": speed,
                    "ms_per_step": 1000 * args.batch_size / speed,
                    "mfu_measured_peak": speed * flops / measured if measured else None,
                    "mfu_datasheet_peak": speed * flops / datasheet if datasheet else None,
                }
            )
    print(
        f"lrlab bench train: {args.model}, batch {args.batch_size}, {run.precision}, "
        f"channels_last={run.channels_last}, {args.steps} timed steps after {args.warmup} "
        f"untimed, on {name}"
    )
    peak_text = f"{measured / 1e12:.1f} TFLOP/s" if measured else "n/a (CPU)"
    sheet_text = f"{datasheet / 1e12:.0f} TFLOP/s" if datasheet else "n/a"
    print(
        f"training FLOPs per image (forward + backward): {flops / 1e9:.3f} GFLOP; "
        f"measured bf16 matmul peak: {peak_text}; datasheet dense bf16 peak: {sheet_text}"
    )
    print(_table(rows))
    for compiled in modes:
        mine = [r for r in rows if r["compile"] == compiled]
        ratio = mine[0]["images_per_s"] / mine[1]["images_per_s"]
        print(f"device-resident / DataLoader (compile {'on' if compiled else 'off'}): {ratio:.2f}x")
    if len(modes) == 2:
        ratio = rows[2]["images_per_s"] / rows[0]["images_per_s"]
        print(f"torch.compile on / off (device-resident): {ratio:.2f}x")
    if args.out is not None:
        from pathlib import Path

        out = Path(args.out)
        config = {
            "model": args.model,
            "dataset": args.dataset,
            "batch_size": args.batch_size,
            "precision": run.precision,
            "channels_last": run.channels_last,
            "steps": args.steps,
            "warmup": args.warmup,
            "workers": args.workers,
        }
        result = {
            "rows": rows,
            "training_flops_per_image": flops,
            "measured_bf16_peak": measured,
            "datasheet_bf16_peak": datasheet,
        }
        path = results.save(
            out.stem, result, config, command=args.command_line, device=name, root=out.parent
        )
        print(f"wrote {path}")
    return 0


def _pct(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "n/a"


def _table(rows: list[dict]) -> str:
    width = max(len(r["pipeline"]) for r in rows)
    lines = [
        f"{'pipeline':<{width}}  {'compile':>7}  {'images/s':>10}  {'ms/step':>8}  "
        f"{'MFU (measured peak)':>19}  {'MFU (datasheet)':>15}"
    ]
    for r in rows:
        lines.append(
            f"{r['pipeline']:<{width}}  {'on' if r['compile'] else 'off':>7}  "
            f"{r['images_per_s']:>10,.0f}  {r['ms_per_step']:>8.1f}  "
            f"{_pct(r['mfu_measured_peak']):>19}  {_pct(r['mfu_datasheet_peak']):>15}"
        )
    return "\n".join(lines)
