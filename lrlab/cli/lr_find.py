"""``lrlab lr-find``: Smith's learning-rate range test from the command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from lrlab.cli.options import (
    add_data_options,
    add_model_options,
    add_optimizer_options,
    build_model,
    check_plot,
    load_data,
    positive_int,
    run_options,
)

__all__ = ["add_lr_find_command", "config_from_args", "run_lr_find"]

_RULE_NAMES = {
    "valley": "fastai: middle of the longest valley",
    "slide": "fastai: interval slide rule",
    "minimum": "fastai: lowest loss / 10",
    "steep": "fastai: steepest forward slope",
    "steepest": "torch-lr-finder: steepest gradient",
}


def _method_list(text: str) -> tuple[str, ...]:
    from lrlab.lrfind.rules import check_methods

    try:
        return check_methods([m.strip() for m in text.split(",") if m.strip()])
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_lr_find_command(subparsers):
    """Register ``lrlab lr-find`` on an argparse ``subparsers`` object; returns its parser.

    The data and model options are those of ``lrlab train``; the command runs
    :func:`run_lr_find`, which calls :func:`lrlab.lrfind.range_test`.

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="lrlab")
    >>> _ = add_lr_find_command(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["lr-find", "--num-iter", "30", "--mode", "linear"])
    >>> args.num_iter, args.mode, config_from_args(args)["end_lr"]
    (30, 'linear', 10.0)
    """
    from lrlab.lrfind import METHODS, MODES

    parser = subparsers.add_parser(
        "lr-find",
        help="learning-rate range test: sweep the rate, suggest one",
        description="Smith's learning-rate range test: train one step per rate while the "
        "rate grows from --start-lr to --end-lr, stop when the smoothed loss blows up, "
        "print the rates the rules of fastai and torch-lr-finder suggest, and restore the "
        "model. With --seeds N the test runs N times (fresh weights and batch order each) "
        "and the table shows how far each suggestion moves.",
        epilog="example: lrlab lr-find --dataset digits --model mlp --seeds 5 --plot lr.png",
    )
    add_data_options(parser)
    add_model_options(parser)
    sweep = parser.add_argument_group("range test")
    sweep.add_argument(
        "--mode",
        default="exp",
        choices=MODES,
        help="exp: rates spaced evenly on a log scale; linear: evenly (default: %(default)s)",
    )
    sweep.add_argument(
        "--start-lr", type=float, default=1e-7, help="first rate, > 0 (default: %(default)s)"
    )
    sweep.add_argument(
        "--end-lr",
        type=float,
        default=10.0,
        help="last rate, reached exactly at the last step (default: %(default)s)",
    )
    sweep.add_argument(
        "--num-iter",
        type=positive_int,
        default=100,
        help="optimizer steps, one per rate, >= 2 (default: %(default)s)",
    )
    sweep.add_argument(
        "--smooth",
        type=float,
        default=0.98,
        help="beta of the bias-corrected moving average of the loss, in [0, 1) "
        "(default: %(default)s)",
    )
    sweep.add_argument(
        "--diverge",
        type=float,
        default=4.0,
        help="stop once the smoothed loss exceeds this times its best, > 1 (default: %(default)s)",
    )
    sweep.add_argument(
        "--seeds",
        type=positive_int,
        default=1,
        help="run the test for seeds --seed .. --seed+N-1 and show each suggestion's "
        "spread (default: %(default)s)",
    )
    sweep.add_argument(
        "--methods",
        type=_method_list,
        default=METHODS,
        help=f"comma-separated suggestion rules from {','.join(METHODS)} (default: all)",
    )
    sweep.add_argument("--plot", default=None, help="save the figure to this file (PNG, PDF, SVG)")
    sweep.add_argument(
        "--out",
        default=None,
        help="store the test (one seed) as a results file with its config and provenance "
        "(a .json path; lrlab.results.load_or_run finds it by its config)",
    )
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    from lrlab.lrfind import OPTIONS

    add_optimizer_options(parser, OPTIONS, nesterov=False, compile=False, warmup=False)
    parser.set_defaults(func=run_lr_find)
    return parser


def config_from_args(args) -> dict:
    """The :func:`lrlab.lrfind.run_config` config of parsed ``lrlab lr-find`` arguments
    (what ``--out`` stores), with every key of :data:`lrlab.lrfind.CONFIG_KEYS`."""
    from lrlab.lrfind import OPTIONS

    return {
        "dataset": args.dataset,
        "model": args.model,
        "model_options": {},
        "start_lr": args.start_lr,
        "end_lr": args.end_lr,
        "num_iter": args.num_iter,
        "mode": args.mode,
        "smooth": args.smooth,
        "diverge": args.diverge,
        **run_options(args, base=OPTIONS).to_dict(),
    }


def _suggestion_table(result, methods: Sequence[str]) -> str:
    lines = [f"{'method':<9} {'lr':>9}  rule"]
    for method, lr in result.suggestions(methods).items():
        lines.append(f"{method:<9} {lr:>9.3g}  {_RULE_NAMES[method]}")
    return "\n".join(lines)


def run_lr_find(args) -> int:
    """Run ``lrlab lr-find`` from parsed arguments: print the table, save plot and results.

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="lrlab")
    >>> _ = add_lr_find_command(parser.add_subparsers(dest="command"))
    >>> run_lr_find(parser.parse_args(["lr-find", "--num-iter", "40", "--no-progress"]))
    lr-find: mlp on digits, sgd (momentum 0.9), batch 128, exp sweep 1e-07 -> 10 in 40 steps, ...
    ...
    0
    """
    import matplotlib.pyplot as plt
    import torch

    import lrlab
    from lrlab import lrfind, models, results
    from lrlab._io import writable_file
    from lrlab.lrfind import range_test, range_test_seeds

    if args.out is not None and (args.seeds > 1 or not args.out.endswith(".json")):
        raise ValueError(f"--out needs a .json path and --seeds 1, got {args.out!r}")
    config = config_from_args(args)  # every option checked before the data are loaded
    if args.plot is not None:
        check_plot(args.plot)
    if args.out is not None:
        writable_file(args.out, "--out")
    data = load_data(args)
    test = {k: config[k] for k in ("start_lr", "end_lr", "num_iter", "mode", "smooth", "diverge")}
    options = run_options(args, base=lrfind.OPTIONS)
    print(
        f"lr-find: {args.model} on {data.name}, {args.optimizer} (momentum {args.momentum}), "
        f"batch {args.batch_size}, {args.mode} sweep {args.start_lr:g} -> {args.end_lr:g} "
        f"in {args.num_iter} steps, on {lrlab.device_name(data.device)}"
    )
    if args.seeds == 1:
        model = build_model(args, data)
        result = range_test(model, data, **test, options=options, progress=not args.no_progress)
        taken = f"{len(result.lrs)} of {args.num_iter} steps"
        print(
            f"stopped early after {taken} ({result.stop_reason})" if result.stopped_early else taken
        )
        print(_suggestion_table(result, args.methods))
        ax = result.plot(args.methods)
    else:

        def build(seed: int):
            torch.manual_seed(seed)
            return models.build(args.model, data.num_classes, data.input_shape)

        seeds = list(range(args.seed, args.seed + args.seeds))
        sweep = range_test_seeds(
            build, data, seeds=seeds, **test, options=options, progress=not args.no_progress
        )
        print(f"suggestions over seeds {seeds[0]}..{seeds[-1]}:")
        print(sweep.table(args.methods))
        ax = sweep.plot(args.methods)
    if args.plot is not None:
        ax.figure.savefig(args.plot)
        print(f"wrote {args.plot}")
    plt.close(ax.figure)
    if args.out is not None:
        out = Path(args.out)
        path = results.save(
            out.stem,
            result.to_dict(),
            config,
            command=getattr(args, "command_line", None),
            device=lrlab.device_name(data.device),
            seed=args.seed,
            wall_time_s=result.wall_time_s,
            root=out.parent,
        )
        print(f"wrote {path}")
    return 0
