"""Provenance of a stored result: the command, the code version and whether its tree was
clean, the versions, the device and the time a result took (:func:`provenance`), and the
sentence a chapter prints about where its figures come from (:func:`source_note`). Both are
also :mod:`lrlab.results`' own (``results.provenance``, ``results.source_note``)."""

from __future__ import annotations

import datetime as _dt
import platform
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["provenance", "source_note"]

_SOURCE_ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=_SOURCE_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance(
    *,
    command: str | None = None,
    device: str | None = None,
    seed: int | None = None,
    wall_time_s: float | None = None,
    cpu_time_s: float | None = None,
) -> dict[str, Any]:
    """Describe how a result was produced: command, code version, machine, seed, time.

    Parameters
    ----------
    command : str, optional
        The command that produced the result; by default this process's ``sys.argv``.
    device : str, optional
        A readable device name (``"NVIDIA A100-SXM4-40GB"``, ``"cpu"``); by default the
        name of ``lrlab.device()`` (:func:`lrlab.device_name`).
    seed : int, optional
        The run's random seed.
    wall_time_s : float, optional
        How long the run took, in seconds.
    cpu_time_s : float, optional
        The CPU seconds it took, summed over its processes (on two cores busy all the
        time, twice the wall time).

    Returns
    -------
    dict
        Keys ``command, git_commit, git_dirty, lrlab_version, torch_version,
        python_version, platform, device, seed, wall_time_s, cpu_time_s, date``
        (``git_commit`` is ``None`` outside a git checkout; ``date`` is UTC in ISO 8601).

    Examples
    --------
    >>> p = provenance(command="lrlab train", device="cpu", seed=0)
    >>> p["command"], p["seed"], sorted(p)[:3]
    ('lrlab train', 0, ['command', 'cpu_time_s', 'date'])
    """
    import torch

    import lrlab

    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain") if commit else None
    return {
        "command": command if command is not None else shlex.join(sys.argv),
        "git_commit": commit,
        "git_dirty": bool(status) if status is not None else None,
        "lrlab_version": lrlab.__version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "device": device if device is not None else lrlab.device_name(),
        "seed": seed,
        "wall_time_s": wall_time_s,
        "cpu_time_s": cpu_time_s,
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def source_note(record: Mapping[str, Any]) -> str:
    """Where a chapter's numbers come from and what they cost, as one phrase for its page.

    For a stored record: its name, git commit, device and date, its wall time and its CPU
    time (summed over processes, and divided by two: the time on two busy cores). For a
    record of :func:`lrlab.experiments.load_or_run` that ran just now instead: the scale
    it ran at.

    Parameters
    ----------
    record : mapping
        A record of :func:`load` or :func:`lrlab.experiments.load_or_run` (``"source"``
        ``"stored"`` or ``"live run"``; a plain stored record has none).

    Returns
    -------
    str
        Markdown, without a final full stop.

    Examples
    --------
    >>> prov = {"git_commit": "0123456789abcdef", "device": "cpu", "date": "2026-12-07T10:00",
    ...         "wall_time_s": 450.0, "cpu_time_s": 840.0}
    >>> print(source_note({"name": "catapult", "provenance": prov}))
    the stored result `catapult` (git commit `0123456789`, cpu, 2026-12-07; 7.5 minutes of \
wall time, 14.0 minutes of CPU time, that is 7.0 minutes on two cores)
    >>> print(source_note({"source": "live run", "scale": "classroom", "provenance": prov}))
    a classroom-scale run made just now (no matching stored result was found)
    """
    if record.get("source", "stored") != "stored":
        return (
            f"a {record.get('scale', 'smaller')}-scale run made just now "
            "(no matching stored result was found)"
        )
    prov = record["provenance"]
    parts = [f"git commit `{str(prov.get('git_commit'))[:10]}`", str(prov.get("device"))]
    if prov.get("date"):
        parts.append(str(prov["date"])[:10])
    cost = []
    if prov.get("wall_time_s") is not None:
        cost.append(f"{prov['wall_time_s'] / 60:.1f} minutes of wall time")
    if prov.get("cpu_time_s") is not None:
        cpu = prov["cpu_time_s"] / 60
        cost.append(f"{cpu:.1f} minutes of CPU time, that is {cpu / 2:.1f} minutes on two cores")
    details = ", ".join(parts) + ("; " + ", ".join(cost) if cost else "")
    return f"the stored result `{record['name']}` ({details})"
