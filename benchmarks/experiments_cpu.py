"""What each stored CPU experiment costs, against the budget of a chapter: 15 minutes on 2 cores.

Issue 21 asks that every chapter's stored (``cpu``) experiments together run in at most 15
minutes on two cores. The CPU time of a run, summed over its processes (the parent and
the ``lrlab._pool.pmap`` workers, read with ``getrusage``), is recorded in the provenance of
every result stored by ``lrlab reproduce NAME --scale cpu`` (``cpu_time_s``); on a machine
shared with others the wall time mostly measures the neighbours, so the table takes the
CPU time divided by two as the time on two cores, and sums it per chapter. Usage::

    python benchmarks/experiments_cpu.py                  # the stored results
    LRLAB_RESULTS=/tmp/results python benchmarks/experiments_cpu.py   # another folder
    python benchmarks/experiments_cpu.py --run catapult   # run one now (jobs=2), nothing stored

Measured for issue 21 (scratch runs of ``lrlab reproduce NAME --scale cpu --jobs 2`` on the
shared 2-core development machine, CPU time from the provenance; the stored results are
regenerated on a quiet machine and their own figures are printed by this script and by the
chapters): see the table in the report of branch ``ev-stability``.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from lrlab import experiments, results

BUDGET_MIN = 15.0  # minutes on two cores, per chapter (issue 21)


def _row(name: str, wall_s: float | None, cpu_s: float | None) -> tuple:
    two_cores = None if cpu_s is None else cpu_s / 2 / 60
    return name, wall_s, cpu_s, two_cores


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", nargs="*", default=None, help="run these experiments now")
    args = parser.parse_args()

    rows = defaultdict(list)  # chapter -> rows
    if args.run:
        for name in args.run:
            out = experiments.run(name, "cpu", jobs=2)
            rows[experiments.get(name).chapter].append(
                _row(name, out["wall_time_s"], out["cpu_time_s"])
            )
    else:
        stored = set(results.available())
        for name, exp in experiments.EXPERIMENTS.items():
            if "cpu" not in exp.stored or experiments.result_name(name, "cpu") not in stored:
                continue
            prov = experiments.load(name, "cpu")["provenance"]
            rows[exp.chapter].append(_row(name, prov.get("wall_time_s"), prov.get("cpu_time_s")))
    print(
        f"{'chapter / experiment':36}{'wall min':>10}{'CPU min':>10}{'2 cores min':>13}"
        f"{'budget':>8}"
    )
    for chapter, chapter_rows in rows.items():
        for name, wall_s, cpu_s, two in chapter_rows:
            wall = None if wall_s is None else wall_s / 60
            cpu = None if cpu_s is None else cpu_s / 60
            print(f"  {name:34}{_fmt(wall, '10.1f')}{_fmt(cpu, '10.1f')}{_fmt(two, '13.1f')}")
        known = [two for *_, two in chapter_rows if two is not None]
        total = sum(known) if len(known) == len(chapter_rows) else None
        verdict = "" if total is None else ("ok" if total <= BUDGET_MIN else "OVER")
        print(f"{chapter:36}{'':10}{'':10}{_fmt(total, '13.1f')}{BUDGET_MIN:>6.0f} {verdict}")


if __name__ == "__main__":
    main()
