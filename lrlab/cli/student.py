"""``lrlab student``: student copies of chapter notebooks, with the solutions removed."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_student_command", "run_student"]


def add_student_command(subparsers) -> None:
    """Register ``lrlab student``: student copies of chapters, solutions removed."""
    parser = subparsers.add_parser(
        "student",
        help="write student copies of chapter notebooks, with the solutions removed",
        description="Write a copy of each chapter notebook without its worked solutions "
        "(every cell from {solution-start} to {solution-end}) and without outputs, for "
        "handing out in a class. The exercises stay.",
    )
    parser.add_argument("notebooks", nargs="+", type=Path, help="chapter notebooks (.ipynb)")
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for the student copies (created)"
    )
    parser.set_defaults(func=run_student)


def run_student(args: argparse.Namespace) -> int:
    """Run ``lrlab student``: write each student copy and say where."""
    from lrlab import classroom

    for path in classroom.write_student_notebooks(args.notebooks, args.out):
        print(f"wrote {path}")
    return 0
