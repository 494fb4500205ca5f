"""The ``lrlab`` command: ``train``, ``lr-find``, ``bench train``, ``student``, ``sweep``,
``reproduce``.

Each subcommand is one function ``add_<name>_command(subparsers)`` that registers its
parser and sets ``func`` (called with the parsed arguments, returns an exit code).
:data:`COMMANDS` lists them; to add a subcommand, write such a function and append it.
Option groups that several subcommands share (data, model, optimizer, schedule) are the
``add_*_options`` functions, with :func:`load_data`, :func:`build_model` and
:func:`schedule_from_args` to turn the parsed options into objects.

Every factory in ``lrlab.schedules.FACTORIES`` is available as ``--schedule NAME``; its
parameters become options (``--lr``, ``--min-lr``, ``--milestones 100,200``), found by
reading the factory's signature and docstring, so a new factory needs no change here.

The package holds one file per subcommand (:mod:`~lrlab.cli.train`,
:mod:`~lrlab.cli.lr_find`, :mod:`~lrlab.cli.bench`, :mod:`~lrlab.cli.student`,
:mod:`~lrlab.cli.sweep`, :mod:`~lrlab.cli.reproduce`), the shared
option groups (:mod:`~lrlab.cli.options`) and the schedule options
(:mod:`~lrlab.cli.schedule_options`); every name is importable from ``lrlab.cli``.
"""

from __future__ import annotations

import argparse
import functools
import shlex
import sys
import warnings
from collections.abc import Callable, Sequence

from lrlab.cli.bench import add_bench_command
from lrlab.cli.lr_find import add_lr_find_command, config_from_args, run_lr_find
from lrlab.cli.options import (
    add_data_options,
    add_model_options,
    add_optimizer_options,
    build_model,
    load_data,
)
from lrlab.cli.reproduce import add_reproduce_command
from lrlab.cli.schedule_options import (
    add_schedule_options,
    schedule_factories,
    schedule_from_args,
)
from lrlab.cli.student import add_student_command
from lrlab.cli.sweep import add_sweep_command
from lrlab.cli.train import add_train_command

__all__ = [
    "COMMANDS",
    "add_bench_command",
    "add_data_options",
    "add_lr_find_command",
    "add_model_options",
    "add_optimizer_options",
    "add_reproduce_command",
    "add_schedule_options",
    "add_student_command",
    "add_sweep_command",
    "add_train_command",
    "build_model",
    "build_parser",
    "config_from_args",
    "describe_error",
    "load_data",
    "main",
    "run_lr_find",
    "schedule_factories",
    "schedule_from_args",
]

#: Functions registering one subcommand each (``add_x_command(subparsers)``).
COMMANDS: list[Callable] = [
    add_train_command,
    add_lr_find_command,
    add_bench_command,
    add_student_command,
    add_sweep_command,
    add_reproduce_command,
]


def build_parser() -> argparse.ArgumentParser:
    """The ``lrlab`` argument parser with every subcommand of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="lrlab",
        description="Learning-Rate Lab: train with learning-rate schedules, benchmark.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="command")
    for register in COMMANDS:
        register(subparsers)
    return parser


#: Exit codes: bad input (options, grid files, damaged files: fix and rerun), a failure of
#: the machine or the network (a full disk, an offline download), and Ctrl-C (as shells
#: count a SIGINT: 128 + 2).
EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_INTERRUPTED = 2, 1, 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lrlab`` command; return its exit code.

    0 on success; 2 on bad options or input (``lrlab CMD: error: <what>: <why>`` on
    stderr, no traceback); 1 when the machine fails it (a file system error, an offline
    download, a missing extra); 130 on Ctrl-C, saying whether rerunning resumes. Warnings
    print as ``lrlab CMD: warning: <what>``.

    Examples
    --------
    >>> main(["train", "--epochs", "0"])  # usage and error on stderr
    2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or argparse's own usage errors
        return int(exit_.code or 0)
    args.command_line = shlex.join(["lrlab", *argv])
    name = f"lrlab {args.command}"
    try:
        with warnings.catch_warnings():
            warnings.showwarning = functools.partial(_show_warning, name)
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        resume = getattr(args, "on_interrupt", None)
        hint = resume(args) if resume is not None else None
        print(f"{name}: interrupted" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, TypeError) as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (OSError, ImportError) as err:
        print(f"{name}: error: {describe_error(err)}", file=sys.stderr)
        return EXIT_FAILURE


def describe_error(err: BaseException) -> str:
    """An error in one line, ``<what>: <why>``: an ``OSError`` by its file and reason.

    Examples
    --------
    >>> describe_error(FileNotFoundError(2, "No such file or directory", "grid.yaml"))
    'grid.yaml: No such file or directory'
    >>> describe_error(ConnectionError("no Ray cluster answers at 10.0.0.1:6379"))
    'no Ray cluster answers at 10.0.0.1:6379'
    """
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err) or type(err).__name__


def _show_warning(name, message, category, filename, lineno, file=None, line=None) -> None:
    print(f"{name}: warning: {message}", file=sys.stderr if file is None else file)
