"""``lrlab sweep GRID_FILE``: run a grid of training runs (:mod:`lrlab.sweep`), print the table."""

from __future__ import annotations

import argparse
import json

__all__ = ["add_sweep_command", "parse_resources", "run_sweep"]


def parse_resources(text: str) -> dict[str, float]:
    """``"cpu=1,gpu=0.25"`` -> ``{"cpu": 1.0, "gpu": 0.25}`` (the resources of one Ray trial).

    Examples
    --------
    >>> parse_resources("cpu=2,gpu=0.25")
    {'cpu': 2.0, 'gpu': 0.25}
    """
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key not in ("cpu", "gpu"):
            raise argparse.ArgumentTypeError(f"expected cpu=N,gpu=M, got {text!r}")
        try:
            out[key] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{key} must be a number, got {value!r}") from None
        if out[key] < 0:
            raise argparse.ArgumentTypeError(f"{key} must be >= 0, got {value}")
    return out


def add_sweep_command(subparsers) -> None:
    """Register ``lrlab sweep``."""
    from lrlab.sweep import ENGINES

    parser = subparsers.add_parser(
        "sweep",
        help="run a grid of training runs (schedules x rates x seeds x models), cached",
        description="Expand a grid file (JSON or YAML: options of lrlab.sweep.DEFAULTS, "
        "every list an axis) into runs, train those not cached yet, and print one line per "
        "run. Each finished run is cached under --cache by a hash of its config, so an "
        "interrupted sweep resumes and a finished one is free. With --engine ray the runs "
        "are Ray Tune trials: a local Ray instance, or the cluster at --address / "
        "RAY_ADDRESS (pip install 'lrlab[sweep]'). With --engine vmap the runs that differ "
        "only in seed, lr and schedule train at once as one stack of models (torch.func; "
        "SGD, fp32, no BatchNorm or dropout; same results up to float rounding).",
        epilog='example grid: {"data": "mnist1d", "model": "cnn1d", "epochs": 10, '
        '"lr": [0.05, 0.1, 0.2], "seed": [0, 1, 2], "schedule": ["cosine", '
        '{"name": "multistep", "milestones": [5, 8], "unit": "epoch"}]}',
    )
    parser.add_argument("grid", help="grid file (.json, .yaml or .yml)")
    parser.add_argument(
        "--engine", default="local", choices=ENGINES, help="where runs execute (default: local)"
    )
    parser.add_argument(
        "--address",
        default=None,
        help="Ray cluster address (ray://host:10001 or auto); default RAY_ADDRESS, else a "
        "local instance",
    )
    parser.add_argument(
        "--resources",
        type=parse_resources,
        default=None,
        help="per Ray trial, e.g. cpu=1,gpu=0.25 (four runs share a GPU) (default: cpu=1)",
    )
    parser.add_argument(
        "--cache",
        default="data/cache/sweeps",
        help="folder of the per-run result files (default: %(default)s)",
    )
    parser.add_argument(
        "--data-root", default="data/cache", help="data folder (default: %(default)s)"
    )
    parser.add_argument("--device", default=None, help="torch device of the local engine")
    parser.add_argument(
        "--out", default=None, help="also write every record (config and result) to this JSON"
    )
    parser.add_argument("--plot", default=None, help="save accuracy against the rate here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_sweep)


def run_sweep(args: argparse.Namespace) -> int:
    """Run ``lrlab sweep``."""
    from lrlab import sweep
    from lrlab._io import atomic_write

    records = sweep.run(
        sweep.load_grid(args.grid),
        engine=args.engine,
        cache=args.cache,
        device=args.device,
        data_root=args.data_root,
        progress=not args.no_progress,
        address=args.address,
        resources=args.resources,
    )
    print(sweep.table(records))
    if args.out is not None:
        atomic_write(args.out, json.dumps(records, indent=1, allow_nan=False) + "\n")
        print(f"wrote {args.out}")
    if args.plot is not None:
        import matplotlib.pyplot as plt

        ax = sweep.plot(records)
        ax.figure.savefig(args.plot)
        plt.close(ax.figure)
        print(f"wrote {args.plot}")
    return 0
