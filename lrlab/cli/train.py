"""``lrlab train``: train a model with a learning-rate schedule, print the epochs, store the
History with provenance."""

from __future__ import annotations

import argparse
from pathlib import Path

from lrlab.cli.options import (
    add_data_options,
    add_model_options,
    add_optimizer_options,
    build_model,
    load_data,
    positive_int,
    run_options,
)
from lrlab.cli.schedule_options import add_schedule_options, schedule_from_args

__all__ = ["add_train_command", "run_train"]


def add_train_command(subparsers) -> None:
    """Register ``lrlab train``."""
    parser = subparsers.add_parser(
        "train",
        help="train a model with a learning-rate schedule",
        description="Train a model on a data set with a per-step learning-rate schedule, "
        "print a table of the epochs and optionally store the History with provenance.",
        epilog="example: lrlab train --dataset digits --model mlp --schedule cosine "
        "--lr 0.1 --epochs 5 --out run.json",
    )
    add_data_options(parser)
    add_model_options(parser)
    add_optimizer_options(parser)
    group = parser.add_argument_group("run")
    group.add_argument(
        "--epochs", type=positive_int, default=5, help="passes over the data (default: 5)"
    )
    group.add_argument(
        "--out",
        default=None,
        help="write the results file (JSON: History, config, provenance) to this path",
    )
    group.add_argument(
        "--checkpoint", default=None, help="write a checkpoint here after every epoch"
    )
    group.add_argument(
        "--resume", action="store_true", help="continue from --checkpoint if it exists"
    )
    group.add_argument("--no-progress", action="store_true", help="no progress bar")
    group.add_argument(
        "--snapshots",
        type=_snapshot_steps,
        default=None,
        metavar="cycle-ends|STEP,STEP,...",
        help="keep snapshots of the weights at the cycle ends of an sgdr or cyclic schedule, "
        "or after the given optimizer steps (0-based), and report the test accuracy and loss "
        "of the ensembles of the first k snapshots, k = 1..M (lrlab.ensembles)",
    )
    add_schedule_options(parser)
    parser.set_defaults(func=run_train)


def _snapshot_steps(text: str):
    """``cycle-ends`` or a comma-separated list of optimizer steps."""
    if text == "cycle-ends":
        return text
    try:
        return [int(step) for step in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be 'cycle-ends' or comma-separated steps such as 99,199, got {text!r}"
        ) from None


def _snapshots(args, schedule, total_steps: int):
    """The Snapshots callback asked for by ``--snapshots``, or None."""
    from lrlab import ensembles

    if args.snapshots is None:
        return None
    if args.resume:
        raise ValueError(
            "--snapshots cannot be combined with --resume: checkpoints hold no snapshots"
        )
    if args.snapshots == "cycle-ends" and getattr(schedule, "name", None) not in ("sgdr", "cyclic"):
        raise ValueError(
            "--snapshots cycle-ends needs --schedule sgdr or cyclic (without --warmup-steps), "
            f"got {schedule!r}"
        )
    where = schedule if args.snapshots == "cycle-ends" else args.snapshots
    try:
        return ensembles.Snapshots(ensembles.cycle_ends(where, total_steps))
    except (ValueError, TypeError) as err:
        raise ValueError(f"--snapshots: {err}") from None


def _report_snapshots(snapshots, data, model, history) -> None:
    """Print the ensembles' scores and record them in the History (``snapshot_ensemble``)."""
    from lrlab import ensembles

    if not len(snapshots):
        print("snapshot ensemble: no snapshot was taken (the run ended before the first step)")
        return
    scores = ensembles.evaluate(snapshots, data, model=model)
    print(f"snapshot ensemble on the test set ({len(snapshots)} snapshots):")
    print(scores.table(steps=snapshots.taken))
    rows = scores.to_dict()
    for i, step in enumerate(snapshots.taken):
        history.record("snapshot_ensemble", step, {key: rows[key][i] for key in rows})


def run_train(args: argparse.Namespace) -> int:
    """Run ``lrlab train``."""
    from lrlab import results, train

    if args.out is not None and not args.out.endswith(".json"):
        raise ValueError(f"--out must name a .json file, got {args.out!r}")
    options = run_options(args)  # checked before the data are loaded
    data = load_data(args)
    steps_per_epoch = data.num_batches("train", args.batch_size)
    schedule = schedule_from_args(args, total_steps=args.epochs * steps_per_epoch)
    snapshots = _snapshots(args, schedule, args.epochs * steps_per_epoch)
    model = build_model(args, data)
    history = train.fit(
        model,
        data,
        schedule,
        args.epochs,
        options,
        checkpoint=args.checkpoint,
        resume=args.resume,
        progress=not args.no_progress,
        callbacks=[snapshots] if snapshots is not None else [],
    )
    print(
        f"{args.model} on {data.name}, {schedule!r}, batch {args.batch_size}, "
        f"{history.config['precision']} on {history.device}"
    )
    print(history.table())
    if snapshots is not None:
        _report_snapshots(snapshots, data, model, history)
    if args.out is not None:
        config = {
            "dataset": args.dataset,
            "model": args.model,
            "schedule": args.schedule,
            "schedule_params": getattr(schedule, "params", repr(schedule)),
            **{k: v for k, v in history.config.items() if k not in ("model", "data", "schedule")},
        }
        if snapshots is not None:
            config["snapshots"] = list(snapshots.steps)
        out = Path(args.out)
        path = results.save(out.stem, history, config, command=args.command_line, root=out.parent)
        print(f"wrote {path}")
    return 0
