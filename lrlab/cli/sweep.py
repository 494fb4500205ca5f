"""``lrlab sweep GRID_FILE``: run a grid of training runs (:mod:`lrlab.sweep`), print the table."""

from __future__ import annotations

import argparse
import json

from lrlab.cli.options import check_plot, device_option

__all__ = [
    "MAX_EXAMPLES_UNASKED",
    "MAX_RUNS_UNASKED",
    "RAY_SECURITY",
    "add_sweep_command",
    "confirm_plan",
    "parse_resources",
    "run_sweep",
]

#: A grid of more runs than this is expanded only with ``--yes`` (expanding a million
#: configs takes minutes and gigabytes before anything trains).
MAX_RUNS_UNASKED = 10_000
#: A sweep whose runs still to do go through more training examples than this (two
#: thousand CIFAR epochs; hours on a GPU) starts only with ``--yes``.
MAX_EXAMPLES_UNASKED = 10**8
#: What ``--help`` and the docs say about the security of a Ray instance.
RAY_SECURITY = (
    "Ray runs any code a client sends it and has no authentication: a local instance "
    "started by lrlab listens on 127.0.0.1 only (Ray's single-machine mode), but anyone "
    "who can reach a cluster's ports can run code on it; keep clusters on a private "
    "network (https://docs.ray.io/en/latest/ray-security/index.html)."
)


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
        "SGD, fp32, no BatchNorm or dropout; same results up to float rounding). Every "
        "config is checked before the first run; the sweep says how many runs it has, how "
        f"many are cached and how many training examples the others take, and asks for "
        f"--yes above {MAX_RUNS_UNASKED:,} runs or {MAX_EXAMPLES_UNASKED:.0e} examples. A run "
        "that diverges is a result (cached, shown as 'diverged'); a damaged cache entry is "
        f"run again, with a warning naming it. Security: {RAY_SECURITY}",
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
        help="Ray cluster address (ray://host:10001, host:6379 or auto); default RAY_ADDRESS, "
        "else a local instance on 127.0.0.1; an address where nothing answers within "
        "10 s is an error",
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
    parser.add_argument(
        "--device", type=device_option, default=None, help="torch device of the local engine"
    )
    parser.add_argument(
        "--out", default=None, help="also write every record (config and result) to this JSON"
    )
    parser.add_argument("--plot", default=None, help="save accuracy against the rate here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--yes",
        action="store_true",
        help=f"run a grid of more than {MAX_RUNS_UNASKED:,} runs or "
        f"{MAX_EXAMPLES_UNASKED:.0e} training examples",
    )
    parser.set_defaults(func=run_sweep, on_interrupt=lambda args: "rerun to resume")


def confirm_plan(plan, yes: bool) -> None:
    """Print a sweep's plan (``N runs, M cached, about X training examples``) and refuse,
    without ``yes``, one whose runs take more than :data:`MAX_EXAMPLES_UNASKED` examples.

    Examples
    --------
    >>> from lrlab.sweep import Plan
    >>> confirm_plan(Plan(runs=4, cached=1, examples=4041), yes=False)
    4 runs, 1 cached, about 4,041 training examples
    """
    print(plan, flush=True)
    if plan.examples > MAX_EXAMPLES_UNASKED and not yes:
        raise ValueError(
            f"the sweep's runs go through about {plan.examples:,} training examples "
            f"(more than {MAX_EXAMPLES_UNASKED:.0e}): pass --yes to run them"
        )


def run_sweep(args: argparse.Namespace) -> int:
    """Run ``lrlab sweep``."""
    from lrlab import sweep
    from lrlab._io import atomic_write, encode, writable_file, writable_folder

    # Everything that could fail after hours is checked before the first run.
    if args.out is not None:
        writable_file(args.out, "--out")
    if args.plot is not None:
        check_plot(args.plot)
    writable_folder(args.cache, "--cache")
    grid = sweep.load_grid(args.grid)
    runs = sweep.size(grid)
    if runs > MAX_RUNS_UNASKED and not args.yes:
        raise ValueError(
            f"the grid has {runs:,} runs (more than {MAX_RUNS_UNASKED:,}): pass --yes to "
            "expand and run it"
        )
    records = sweep.run(
        grid,
        engine=args.engine,
        cache=args.cache,
        device=args.device,
        data_root=args.data_root,
        progress=not args.no_progress,
        address=args.address,
        resources=args.resources,
        confirm=lambda plan: confirm_plan(plan, args.yes),
    )
    print(sweep.table(records))
    if args.out is not None:
        atomic_write(args.out, json.dumps(encode(records), indent=1, allow_nan=False) + "\n")
        print(f"wrote {args.out}")
    if args.plot is not None:
        import matplotlib.pyplot as plt

        ax = sweep.plot(records)
        ax.figure.savefig(args.plot)
        plt.close(ax.figure)
        print(f"wrote {args.plot}")
    return 0
