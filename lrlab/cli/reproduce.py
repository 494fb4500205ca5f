"""``lrlab reproduce``: list the book's experiments, or run one at CPU or paper scale."""

from __future__ import annotations

import argparse

from lrlab.cli.sweep import parse_resources

__all__ = ["add_reproduce_command", "run_reproduce"]


def add_reproduce_command(subparsers) -> None:
    """Register ``lrlab reproduce``."""
    from lrlab.reproduce import SCALES, names
    from lrlab.sweep import ENGINES

    parser = subparsers.add_parser(
        "reproduce",
        help="list or run the book's experiments (CPU scale or the papers' scale)",
        description="Run one of the book's experiments (lrlab.reproduce) and store its result "
        "with provenance in the results folder (LRLAB_RESULTS, else the package folder "
        "lrlab/results_data), where the chapters find it. --scale cpu runs on MNIST-1D or "
        "the digits in minutes; --scale paper runs the paper's CIFAR setting, for a GPU. "
        "--list describes them.",
        epilog="example: lrlab reproduce sgdr --scale cpu",
    )
    parser.add_argument("name", nargs="?", choices=names(), help="experiment to run")
    parser.add_argument("--list", action="store_true", help="describe every experiment")
    parser.add_argument(
        "--scale", default="cpu", choices=SCALES, help="cpu or paper (default: %(default)s)"
    )
    parser.add_argument(
        "--engine",
        default="local",
        choices=ENGINES,
        help="for sweep experiments: local or ray (default: local)",
    )
    parser.add_argument("--address", default=None, help="Ray cluster address (--engine ray)")
    parser.add_argument(
        "--resources",
        type=parse_resources,
        default=None,
        help="per Ray trial, e.g. cpu=1,gpu=0.25 (default: cpu=1)",
    )
    parser.add_argument(
        "--device",
        default=None,
        help="torch device (default: cuda if any; the CPU for the CPU scale of an "
        "experiment a chapter runs, as the chapter did)",
    )
    parser.add_argument(
        "--data-root", default="data/cache", help="data folder (default: %(default)s)"
    )
    parser.add_argument(
        "--cache",
        default="data/cache/sweeps",
        help="folder of cached sweep runs, for resuming (default: %(default)s)",
    )
    parser.add_argument(
        "--results",
        default=None,
        help="results folder (default: LRLAB_RESULTS or lrlab/results_data)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a few steps per distinct run, stored nowhere: checks the code path end to end",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_reproduce)


def run_reproduce(args: argparse.Namespace) -> int:
    """Run ``lrlab reproduce``."""
    from lrlab import reproduce

    if args.list:
        print(reproduce.describe())
        return 0
    if args.name is None:
        raise ValueError("name an experiment to run, or pass --list")
    out = reproduce.run(
        args.name,
        args.scale,
        engine=args.engine,
        device=args.device,
        data_root=args.data_root,
        cache=args.cache,
        root=args.results,
        progress=not args.no_progress,
        address=args.address,
        resources=args.resources,
        command=getattr(args, "command_line", None),
        smoke=args.smoke,
    )
    result = out["result"]
    if "records" in result:
        from lrlab import sweep

        print(sweep.table(result["records"]))
    elif "suggestions" in result:
        for method, lrs in result["suggestions"].items():
            print(f"{method:<9} " + "  ".join(f"{lr:.3g}" for lr in lrs))
    if args.smoke:
        print("smoke run: nothing stored")
    return 0
