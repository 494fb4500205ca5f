"""The classroom scale of every experiment, timed: can a student regenerate each key figure
on a two-core laptop in under a minute?

Every experiment of :mod:`lrlab.experiments` has a ``classroom`` scale, the small version of
its key figure that ``lrlab reproduce NAME --scale classroom`` runs (and a chapter runs
itself when its stored result is missing). This script runs each one in a fresh process
(imports and data loading included, as a student's command would pay them), ``--repeats``
times, and prints a table: the fastest and slowest wall time, whether it stays under the
minute, and, beside it, how long the stored ``cpu`` run took (its provenance's wall time).
Run it on an otherwise idle machine. With ``--json PATH`` it also writes what it measured
(the machine, the date and every wall time) to a JSON file; the book's reproductions chapter
shows ``benchmarks/classroom.json`` beside the stored runs' costs when that file exists. Usage::

    python benchmarks/classroom.py                 # every experiment, 2 processes each
    python benchmarks/classroom.py sgdr clr --repeats 3
    python benchmarks/classroom.py --json benchmarks/classroom.json   # what the book shows
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

from lrlab import experiments

LIMIT_S = 60.0


def timed(name: str, jobs: int) -> float:
    """Wall time of ``lrlab reproduce NAME --scale classroom`` in a fresh process."""
    command = [sys.executable, "-m", "lrlab.cli", "reproduce", name, "--scale", "classroom"]
    command += ["--jobs", str(jobs), "--no-progress"]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def stored_minutes(name: str) -> str:
    try:
        prov = experiments.load(name)["provenance"]
    except FileNotFoundError:
        return "not stored"
    return f"{prov['wall_time_s'] / 60:.1f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="experiments (default: all)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2, help="processes per run (two cores)")
    parser.add_argument("--json", default=None, help="also write the measurements to this file")
    args = parser.parse_args()
    names = args.names or experiments.names()
    print(
        f"classroom scale, {args.repeats} run(s) each in a fresh process, --jobs {args.jobs}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    header = f"{'experiment':<30} {'chapter':<18} {'fastest':>8} {'slowest':>8}  <60s  stored run"
    print(header)
    print("-" * len(header))
    over, measured = [], {}
    for name in names:
        times = [timed(name, args.jobs) for _ in range(args.repeats)]
        measured[name] = times
        ok = max(times) < LIMIT_S
        over += [] if ok else [name]
        print(
            f"{name:<30} {experiments.get(name).chapter:<18} {min(times):7.1f}s {max(times):7.1f}s"
            f"  {'yes' if ok else 'NO ':<4} {stored_minutes(name)}"
        )
    print("every classroom run under a minute" if not over else f"over a minute: {', '.join(over)}")
    if args.json:
        record = {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": platform.processor() or platform.machine(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "jobs": args.jobs,
            "repeats": args.repeats,
            "limit_s": LIMIT_S,
            "wall_time_s": measured,
        }
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)
            f.write("\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
