"""The book's experiments, one module per chapter, one protocol, one way to store and load.

Every experiment is an :class:`~lrlab.experiments.experiment.Experiment`: its claim, a run
function that calls the tools of :mod:`lrlab`, one base configuration and its named scales
(``classroom`` under a minute, ``cpu`` the stored run, ``paper`` the paper's data and
networks for a GPU, ``smoke`` seconds for tests) written as overrides of it.
:data:`EXPERIMENTS` holds them all, by name, as real references.

- :func:`store` runs an experiment at a scale and saves its result with provenance as
  ``lrlab/results_data/<result_name>.json``; ``lrlab reproduce NAME --scale S`` calls it,
  and the provenance records exactly that command.
- :func:`load_or_run` is what a chapter calls: the stored result when one exists for
  exactly the scale's configuration, else (said on the page) a live run of a smaller scale.

The modules: :mod:`~lrlab.experiments.edge_of_stability`,
:mod:`~lrlab.experiments.range_test`, :mod:`~lrlab.experiments.restarts`,
:mod:`~lrlab.experiments.flat_minima`, :mod:`~lrlab.experiments.network_stability`,
:mod:`~lrlab.experiments.reproductions` (the papers' own protocols as sweeps); for
Part V, :mod:`~lrlab.experiments.warmup` with :mod:`~lrlab.experiments.warmup_choice`,
:mod:`~lrlab.experiments.adaptive` and :mod:`~lrlab.experiments.no_schedule` (Adam's edge
of stability, schedule-free training), :mod:`~lrlab.experiments.wsd`
(warmup-stable-decay: cooldowns and branching), :mod:`~lrlab.experiments.race` (schedule
families at an equal tuning budget) and :mod:`~lrlab.experiments.scaling` (the rate against
the batch and the width).

>>> "sgdr" in names()
True
>>> result_name("sgdr", "cpu"), result_name("sgdr", "paper")
('sgdr', 'sgdr.paper')
"""

from __future__ import annotations

import os
import time
from typing import Any

from lrlab import _check
from lrlab._pool import cpu_seconds, default_jobs
from lrlab.experiments import (
    adaptive,
    edge_of_stability,
    flat_minima,
    network_stability,
    no_schedule,
    race,
    range_test,
    reproductions,
    restarts,
    scaling,
    warmup,
    warmup_choice,
    wsd,
)
from lrlab.experiments.experiment import (
    SCALES,
    TRAIN_EXAMPLES,
    Experiment,
    Replace,
    check_scale,
    merge,
)

__all__ = [
    "EXPERIMENTS",
    "SCALES",
    "TRAIN_EXAMPLES",
    "Experiment",
    "Replace",
    "command",
    "get",
    "load",
    "load_or_run",
    "merge",
    "names",
    "result_name",
    "run",
    "store",
    "stored",
]

#: Every experiment of the book, by name, in the book's order.
EXPERIMENTS: dict[str, Experiment] = {
    exp.name: exp
    for module in (
        edge_of_stability,
        range_test,
        restarts,
        flat_minima,
        network_stability,
        reproductions,
        warmup,
        warmup_choice,
        adaptive,
        no_schedule,
        wsd,
        race,
        scaling,
    )
    for exp in module.EXPERIMENTS
}


def names() -> list[str]:
    """The experiments' names, in the book's order."""
    return list(EXPERIMENTS)


def get(name: str) -> Experiment:
    """The experiment called ``name``; a ValueError lists the known ones."""
    return EXPERIMENTS[_check.choice("experiment", name, names())]


def result_name(name: str, scale: str = "cpu") -> str:
    """The results-file stem of an experiment's stored result at a scale: its name at the
    ``cpu`` scale, ``"<name>.<scale>"`` at another.

    Examples
    --------
    >>> result_name("catapult"), result_name("catapult", "paper")
    ('catapult', 'catapult.paper')
    """
    get(name)
    check_scale(scale)
    return name if scale == "cpu" else f"{name}.{scale}"


def command(name: str, scale: str = "cpu", **options) -> str:
    """The ``lrlab reproduce`` command line that stores ``name`` at ``scale`` with the given
    non-default options (what the provenance records).

    Examples
    --------
    >>> command("sgdr")
    'lrlab reproduce sgdr --scale cpu'
    >>> command("sgdr", "paper", device="cuda")
    'lrlab reproduce sgdr --scale paper --device cuda'
    """
    get(name)
    check_scale(scale)
    words = ["lrlab", "reproduce", name, "--scale", scale]
    for key, value in options.items():
        if value is not None:
            words += [f"--{key.replace('_', '-')}", str(value)]
    return " ".join(words)


def _device(scale: str, device):
    """The device a run uses: the one asked for, else the CPU at the CPU-sized scales (the
    book's stored runs are CPU runs), else :func:`lrlab.device`."""
    import torch

    import lrlab

    if device is not None:
        return torch.device(device)
    return lrlab.device() if scale == "paper" else torch.device("cpu")


def run(
    name: str,
    scale: str = "cpu",
    *,
    device=None,
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int | None = None,
    smoke: bool = False,
    **options,
) -> dict[str, Any]:
    """Run an experiment at a scale and return its result (nothing is stored).

    Parameters
    ----------
    name : str
        One of :func:`names`.
    scale : {"classroom", "cpu", "paper", "smoke"}
    device : torch.device or str, optional
        The CPU at the CPU-sized scales, :func:`lrlab.device` at the paper's, by default.
    data_root : path
        Data folder (MNIST-1D's cache, CIFAR's archives).
    progress : bool
        Progress bars.
    jobs : int, optional
        Processes, one thread each (results do not depend on it); by default every core on
        the CPU, one process on a GPU.
    smoke : bool
        The ``smoke`` overrides on top of ``scale``'s configuration: seconds, to check the
        code path of that scale end to end (a smoke run's numbers are no result).
    **options
        Further keywords the experiment's run takes (:attr:`Experiment.options`).

    Returns
    -------
    dict
        ``{"name", "scale", "config", "result", "device", "wall_time_s", "cpu_time_s"}``
        (``cpu_time_s`` summed over the processes that ran it; ``device`` the
        ``torch.device`` it ran on).
    """
    exp = get(name)
    config = exp.config(scale, smoke=smoke)
    unknown = sorted(set(options) - set(exp.options))
    if unknown:
        raise ValueError(f"experiment {name} takes no options {unknown}; it takes {exp.options}")
    device = _device(scale, device)
    if jobs is None:
        jobs = default_jobs() if device.type == "cpu" else 1
    started, cpu_started = time.perf_counter(), cpu_seconds()
    result = exp.run(
        config, device=device, data_root=data_root, progress=progress, jobs=jobs, **options
    )
    return {
        "name": name,
        "scale": scale,
        "config": config,
        "result": result,
        "device": device,
        "wall_time_s": time.perf_counter() - started,
        "cpu_time_s": None if cpu_started is None else cpu_seconds() - cpu_started,
    }


def store(
    name: str,
    scale: str = "cpu",
    *,
    root: str | os.PathLike | None = None,
    device=None,
    data_root: str | os.PathLike = "data/cache",
    progress: bool = True,
    jobs: int | None = None,
    **options,
) -> dict[str, Any]:
    """Run an experiment at a scale and store its result with provenance.

    The file is ``<root>/<result_name(name, scale)>.json`` (:mod:`lrlab.results`); its
    provenance command is ``lrlab reproduce NAME --scale SCALE`` with the options given
    here, the command that reruns it (:func:`command`).

    Parameters
    ----------
    name, scale, device, data_root, progress, jobs, **options
        As in :func:`run` (``classroom`` and ``smoke`` runs are never stored).
    root : path, optional
        Results folder (:func:`lrlab.results.results_root` by default).

    Returns
    -------
    dict
        The stored record, as :func:`load` reads it back.

    Notes
    -----
    The results folder is checked to be writable before the run, and the result is saved
    the moment the run returns, before anything else that could fail. Where the package's
    own folder is read-only (a system or container install), the result goes to a user
    folder (:func:`lrlab.results.writable_root`), and a line says where and how the
    chapters find it (``LRLAB_RESULTS``).
    """
    import lrlab
    from lrlab import results
    from lrlab._io import writable_folder

    check_scale(scale)
    if scale not in ("cpu", "paper"):
        raise ValueError(f"scale must be 'cpu' or 'paper' to store a result, got {scale!r}")
    stem = result_name(name, scale)
    folder = writable_folder(results.writable_root(root), "results folder")
    provenance_command = command(name, scale, device=device, **options)
    out = run(
        name,
        scale,
        device=device,
        data_root=data_root,
        progress=progress,
        jobs=jobs,
        **options,
    )
    path = results.save(
        stem,
        out["result"],
        out["config"],
        command=provenance_command,
        device=lrlab.device_name(out["device"]),
        seed=None,
        wall_time_s=out["wall_time_s"],
        cpu_time_s=out.get("cpu_time_s"),
        root=folder,
    )
    cpu = "" if out.get("cpu_time_s") is None else f", {out['cpu_time_s']:.0f} s of CPU time"
    print(f"wrote {path} ({out['wall_time_s']:.0f} s{cpu})")
    if folder != results.results_root(root):
        print(
            f"(the package's results folder {results.results_root(root)} is read-only; "
            f"set LRLAB_RESULTS={folder} for the chapters to read this result)"
        )
    return results.load(stem, root=folder)


def load(name: str, scale: str = "cpu", *, root=None) -> dict[str, Any]:
    """The stored result of an experiment at a scale (see :func:`lrlab.results.load`)."""
    from lrlab import results

    return results.load(result_name(name, scale), root=root)


def stored(name: str, scale: str = "cpu", *, root=None) -> dict[str, Any] | None:
    """The stored result if one exists for exactly the scale's configuration, else None.

    Examples
    --------
    >>> import tempfile
    >>> stored("sgdr", "paper", root=tempfile.mkdtemp()) is None
    True
    """
    from lrlab import results

    try:
        record = load(name, scale, root=root)
    except FileNotFoundError:
        return None
    wanted = results.as_stored(get(name).config(scale))
    return record if record["config"] == wanted else None


def load_or_run(
    name: str,
    scale: str = "cpu",
    *,
    fallback: str = "classroom",
    root=None,
    **options,
) -> dict[str, Any]:
    """What a chapter calls: the stored result of ``name`` at ``scale``, else a live run.

    The stored result is used when one exists for exactly the scale's configuration (a
    line names it: file, device, date). Otherwise the ``fallback`` scale stands in, said so
    on the page: the stored ``cpu`` result if the fallback is ``"cpu"`` (and one matches),
    else a run of the fallback scale (``classroom`` when ``cpu`` has none) here and now;
    nothing is stored.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    scale : {"cpu", "paper"}
        The scale the chapter shows.
    fallback : {"classroom", "cpu", "smoke"}
        What stands in when nothing matching is stored at ``scale``.
    root : path, optional
        Results folder.
    **options
        Passed to :func:`run` for a live run (``device``, ``data_root``, ``jobs`` ...).

    Returns
    -------
    dict
        The record (``name``, ``config``, ``result``, ``provenance``) with ``"source"``
        (``"stored"`` or ``"live run"``) and ``"scale"`` (the scale it shows).
    """
    from lrlab import results

    check_scale(scale)
    check_scale(fallback)
    record = stored(name, scale, root=root)
    if record is not None:
        prov = record["provenance"]
        print(
            f"Loaded the stored result {results.shown_path(result_name(name, scale), root)} "
            f"(run on {prov['device']}, {prov['date'][:10]})."
        )
        return {**record, "source": "stored", "scale": scale}
    if fallback == "cpu" and scale != "cpu" and stored(name, "cpu", root=root) is not None:
        print(f"No stored {scale}-scale result of {name}: the stored CPU-scale result instead.")
        return load_or_run(name, "cpu", root=root, **options)
    if fallback in ("cpu", "paper"):
        fallback = "classroom"
    print(
        f"No stored {scale}-scale result of {name} matches its configuration: running the "
        f"{fallback} scale now (nothing is stored)."
    )
    options.setdefault("jobs", 1)  # a chapter's kernel: one process
    out = run(name, fallback, **options)
    import lrlab

    return {
        "name": result_name(name, scale),
        "config": out["config"],
        "result": results.as_stored(out["result"]),
        "provenance": results.provenance(
            device=lrlab.device_name(out["device"]),
            wall_time_s=out["wall_time_s"],
            cpu_time_s=out.get("cpu_time_s"),
        ),
        "source": "live run",
        "scale": fallback,
    }
