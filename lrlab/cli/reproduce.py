"""``lrlab reproduce``: list the book's experiments, or run one (or all) at a scale and store
the result with its provenance."""

from __future__ import annotations

import argparse

from lrlab.cli.options import device_option, positive_int
from lrlab.cli.sweep import RAY_SECURITY, parse_resources

__all__ = ["add_reproduce_command", "run_reproduce"]


def add_reproduce_command(subparsers) -> None:
    """Register ``lrlab reproduce``."""
    from lrlab.experiments import SCALES, names
    from lrlab.sweep import ENGINES

    parser = subparsers.add_parser(
        "reproduce",
        help="list or run the book's experiments (their stored CPU runs, or the papers' scale)",
        description="Run one of the book's experiments (lrlab.experiments) and store its "
        "result with provenance in the results folder (LRLAB_RESULTS, else the package folder "
        "lrlab/results_data), where the chapters find it. --scale cpu is the run a chapter "
        "shows (MNIST-1D or the digits, minutes on a laptop's cores); --scale paper the "
        "paper's data and networks, for a GPU; --scale classroom or smoke run a smaller "
        "version and store nothing. --all runs every experiment the book stores at the scale. "
        "--list describes them all.",
        epilog="example: lrlab reproduce sgdr --scale cpu",
    )
    parser.add_argument("name", nargs="?", choices=names(), help="experiment to run")
    parser.add_argument("--list", action="store_true", help="describe every experiment")
    parser.add_argument(
        "--all", action="store_true", help="run every experiment whose result the book stores"
    )
    parser.add_argument(
        "--scale",
        default="cpu",
        choices=SCALES,
        help="classroom (< 1 min, not stored), cpu (the stored run), paper (a GPU), smoke "
        "(seconds, not stored) (default: %(default)s)",
    )
    parser.add_argument(
        "--device",
        type=device_option,
        default=None,
        help="torch device (default: the CPU at the cpu and classroom scales, cuda if any at "
        "the paper's)",
    )
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=None,
        help="processes on the CPU, one thread each; results do not depend on it "
        "(default: every core on the CPU, 1 on a GPU)",
    )
    parser.add_argument(
        "--data-root", default="data/cache", help="data folder (default: %(default)s)"
    )
    parser.add_argument(
        "--results",
        default=None,
        help="results folder (default: LRLAB_RESULTS, else lrlab/results_data, else, where "
        "that is read-only, ~/.local/share/lrlab/results); checked before the run",
    )
    group = parser.add_argument_group("sweep experiments (the papers' protocols)")
    group.add_argument(
        "--engine", default=None, choices=ENGINES, help="local, ray or vmap (default: local)"
    )
    group.add_argument(
        "--cache",
        default=None,
        help="folder of cached sweep runs, for resuming (default: sweeps in --data-root)",
    )
    group.add_argument(
        "--address",
        default=None,
        help=f"Ray cluster address (--engine ray; nothing answering in 10 s is an error). "
        f"{RAY_SECURITY}",
    )
    group.add_argument(
        "--resources",
        type=parse_resources,
        default=None,
        help="per Ray trial, e.g. cpu=1,gpu=0.25 (default: cpu=1)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run_reproduce, on_interrupt=_interrupt_hint)


def _interrupt_hint(args) -> str:
    """After Ctrl-C: a sweep experiment resumes from its cache, another starts afresh."""
    from lrlab import experiments

    chosen = [args.name] if args.name else experiments.names()
    if any("cache" in experiments.get(name).options for name in chosen):
        return "rerun to resume (the finished runs of a sweep are cached)"
    return "rerun to start again"


def _summary(result: dict) -> str | None:
    """A short table of a result, where one reads naturally."""
    if "records" in result:
        from lrlab import sweep

        return sweep.table(result["records"])
    if "suggestions" in result:
        return "\n".join(
            f"{rule:<9} " + "  ".join(f"{lr:.3g}" for lr in lrs)
            for rule, lrs in result["suggestions"].items()
        )
    return None


def run_reproduce(args: argparse.Namespace) -> int:
    """Run ``lrlab reproduce``."""
    from lrlab import experiments, reproduce, results
    from lrlab._io import writable_folder

    if args.list:
        print(reproduce.describe())
        return 0
    if args.all == (args.name is not None):
        raise ValueError("name one experiment to run, or pass --all (or --list)")
    chosen = reproduce.stored_names(args.scale) if args.all else [args.name]
    if args.all and not chosen:
        raise ValueError(f"the book stores no result at scale {args.scale!r}")
    sweep_options = {
        key: value
        for key in ("engine", "cache", "address", "resources")
        if (value := getattr(args, key)) is not None
    }
    # Every output is checked before hours of work: the results folder, the sweep cache.
    root = None
    if args.scale in ("cpu", "paper"):
        root = writable_folder(results.writable_root(args.results), "--results")
        if root != results.results_root(args.results):
            print(f"the package's results folder is read-only: results go to {root}")
    if "cache" in sweep_options:
        writable_folder(sweep_options["cache"], "--cache")
    for name in chosen:
        exp = experiments.get(name)
        options = {k: v for k, v in sweep_options.items() if k in exp.options}
        if set(sweep_options) - set(options):
            raise ValueError(
                f"{name} is no sweep: --{'/--'.join(sorted(sweep_options))} do not apply to it"
            )
        common = {
            "device": args.device,
            "data_root": args.data_root,
            "progress": not args.no_progress,
            "jobs": args.jobs,
        }
        if args.scale in ("cpu", "paper"):
            out = experiments.store(name, args.scale, root=root, **common, **options)
        else:
            out = experiments.run(name, args.scale, **common, **options)
            took = out["wall_time_s"]
            print(f"{name} at the {args.scale} scale took {took:.0f} s: stored nowhere")
        table = _summary(out["result"])
        if table:
            print(table)
    return 0
