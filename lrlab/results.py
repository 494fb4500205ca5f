"""Results files with provenance, and ``load_or_run`` for experiments too long for the book.

A long experiment (hundreds of CIFAR epochs on a GPU) is run once, by hand, and its
outcome stored as ``<name>.json`` together with how it was produced::

    {"name": ..., "config": {...}, "result": {...}, "result_type": "History" or "json",
     "provenance": {"command", "git_commit", "git_dirty", "lrlab_version", "torch_version",
                    "python_version", "device", "seed", "wall_time_s", "cpu_time_s", "date"}}

A chapter then calls :func:`load_or_run`: it shows the stored result when one exists for
exactly the chapter's configuration, and otherwise runs a CPU-sized variant and says so.

Stored results live inside the package, in ``lrlab/results_data/``, and are shipped in its
wheel: a clone and an installed ``lrlab`` (``pip install``, Colab) read the same folder, in
the same place relative to this module. The folder is, in order of precedence, the
``root`` argument, the environment variable ``LRLAB_RESULTS``, or that package folder.
Where the package folder is read-only (a system or container install), :func:`save`
writes to a user folder instead (:func:`writable_root`), and the caller says where.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lrlab import device_name
from lrlab._io import atomic_write, decode, dumps, encode, plain, read_json
from lrlab.history import History
from lrlab.provenance import provenance, source_note

__all__ = [
    "atomic_write",
    "as_stored",
    "available",
    "device_name",
    "load",
    "load_or_run",
    "provenance",
    "results_root",
    "save",
    "shown_path",
    "source_note",
    "stack",
    "user_results_root",
    "writable_root",
]

#: Environment variable that overrides the results folder.
ROOT_ENV = "LRLAB_RESULTS"


#: The stored results shipped with the package (package data, included in the wheel).
PACKAGE_RESULTS = Path(__file__).resolve().parent / "results_data"


def results_root(root: str | os.PathLike | None = None) -> Path:
    """The folder results files live in: ``root``, else ``$LRLAB_RESULTS``, else the package's.

    Examples
    --------
    >>> results_root("/tmp/some-results").as_posix()
    '/tmp/some-results'
    >>> import os
    >>> results_root() == PACKAGE_RESULTS or bool(os.environ.get(ROOT_ENV))
    True
    """
    if root is not None:
        return Path(root)
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV])
    return PACKAGE_RESULTS


def user_results_root() -> Path:
    """A results folder of the user's own: ``$XDG_DATA_HOME/lrlab/results``, by default
    ``~/.local/share/lrlab/results``.

    Examples
    --------
    >>> user_results_root().parts[-2:]
    ('lrlab', 'results')
    """
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "lrlab" / "results"


def writable_root(root: str | os.PathLike | None = None) -> Path:
    """The folder :func:`save` writes to: :func:`results_root`, unless that is the package's
    own folder and it cannot be written (a system or container install), then
    :func:`user_results_root` (set ``LRLAB_RESULTS`` to it for :func:`load` to read there).

    Examples
    --------
    >>> writable_root("/tmp/some-results").as_posix()
    '/tmp/some-results'
    """
    folder = results_root(root)
    if folder.resolve() != PACKAGE_RESULTS.resolve() or _can_write(folder):
        return folder
    return user_results_root()


def _can_write(folder: Path) -> bool:
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def available(root: str | os.PathLike | None = None) -> list[str]:
    """The names of the stored results in the results folder, sorted.

    Parameters
    ----------
    root : path, optional
        Results folder (see :func:`results_root`).

    Returns
    -------
    list of str
        File stems of the ``.json`` files there; empty if there are none (or no folder).

    Examples
    --------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> path = save("demo", {"acc": 0.9}, {"lr": 0.1}, device="cpu", root=root)
    >>> available(root)
    ['demo']
    """
    folder = results_root(root)
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def _is_history(result) -> bool:
    return isinstance(result, History)


def as_stored(value) -> Any:
    """``value`` as it reads back from a results file: tuples become lists, keys strings,
    NumPy numbers and tensors Python ones; NaN and infinities stay (:func:`save` stores them
    as the strings ``"nan"``, ``"inf"``, ``"-inf"``, which :func:`load` turns back)."""
    return decode(json.loads(json.dumps(encode(plain(value)))))


def shown_path(name: str, root: str | os.PathLike | None = None) -> str:
    """Where the result ``name`` lives, as a reader should see it: a stored result of the
    package as ``lrlab/results_data/<name>.json`` (wherever lrlab is installed), any other
    folder relative to the working directory. Pages print this, never an absolute path.

    Examples
    --------
    >>> shown_path("sgdr")
    'lrlab/results_data/sgdr.json'
    """
    return _shown(_path(name, root))


def _shown(path: Path) -> str:
    """The path as a reader should see it: a stored result of the package as
    ``lrlab/results_data/<name>.json`` (wherever lrlab is installed), any other path
    relative to the working directory."""
    path = Path(path).resolve()
    if path.parent == PACKAGE_RESULTS.resolve():
        return f"lrlab/results_data/{path.name}"
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def _path(name: str, root) -> Path:
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name[0] == ".":
        raise ValueError(f"name must be a plain file stem such as 'cifar10_resnet18', got {name!r}")
    return results_root(root) / f"{name}.json"


def save(
    name: str,
    result,
    config: Mapping[str, Any],
    *,
    command: str | None = None,
    device: str | None = None,
    seed: int | None = None,
    wall_time_s: float | None = None,
    cpu_time_s: float | None = None,
    root: str | os.PathLike | None = None,
) -> Path:
    """Store a result with its configuration and provenance as ``<root>/<name>.json``.

    Parameters
    ----------
    name : str
        File stem, e.g. ``"cifar10_resnet18_step_vs_peak"``.
    result : lrlab.history.History or JSON-serialisable object
        What the run produced. A ``History`` is stored as its dict and comes back as a
        ``History`` from :func:`load`.
    config : mapping
        The run's configuration (JSON-serialisable). :func:`load_or_run` compares it.
    command, device, seed, wall_time_s, cpu_time_s
        Provenance (see :func:`provenance`). For a ``History`` result, ``device``,
        ``seed`` and ``wall_time_s`` default to the History's own.
    root : path, optional
        Results folder (see :func:`results_root`; a read-only package folder falls back
        to :func:`user_results_root`, see :func:`writable_root`).

    Returns
    -------
    pathlib.Path
        The file written (atomically).

    Examples
    --------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> path = save("demo", {"acc": 0.9}, {"lr": 0.1}, device="cpu", root=root)
    >>> load("demo", root=root)["result"]
    {'acc': 0.9}
    """
    path = writable_root(root) / _path(name, root).name
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping, got {type(config).__name__}")
    is_history = _is_history(result)
    if is_history:
        device = device if device is not None else result.device
        seed = seed if seed is not None else result.seed
        wall_time_s = wall_time_s if wall_time_s is not None else result.wall_time
        result = result.to_dict()
    record = {
        "name": name,
        "config": as_stored(dict(config)),
        "result_type": "History" if is_history else "json",
        "result": as_stored(result),
        "provenance": provenance(
            command=command,
            device=device,
            seed=seed,
            wall_time_s=wall_time_s,
            cpu_time_s=cpu_time_s,
        ),
    }
    return atomic_write(path, dumps(encode(record)) + "\n")


def load(name: str, *, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Read ``<root>/<name>.json`` written by :func:`save`.

    Returns
    -------
    dict
        ``{"name", "config", "result", "result_type", "provenance"}``; ``result`` is a
        :class:`lrlab.history.History` when one was saved.

    Raises
    ------
    FileNotFoundError
        Naming the folder looked in and the results that are there.
    ValueError
        For a file that is not a results file (empty, truncated, not JSON, keys
        missing), naming it.
    """
    path = _path(name, root)
    if not path.is_file():
        import lrlab

        there = available(root)
        listed = ", ".join(there) if there else "none"
        raise FileNotFoundError(
            f"no stored result {name!r} in {path.parent} (lrlab {lrlab.__version__}; stored "
            f"results there: {listed}). Results of long runs are stored with "
            f"lrlab.results.save (or `lrlab lr-find --out`) and shipped inside the package; "
            f"a newer lrlab may have this one, or set {ROOT_ENV} to a folder that has it."
        )
    record = read_json(path, "results file")
    missing = [
        k
        for k in ("config", "result", "provenance")
        if not isinstance(record, dict) or k not in record
    ]
    if missing:
        raise ValueError(f"{path}: results file is damaged: it lacks {', '.join(missing)}")
    if record.get("result_type") == "History":
        try:
            record["result"] = History.from_dict(record["result"])
        except (TypeError, ValueError, AttributeError) as err:
            raise ValueError(f"{path}: results file is damaged: its History: {err}") from err
    return record


def load_or_run(
    name: str,
    config: Mapping[str, Any],
    run: Callable[[dict], Any],
    cpu_config: Mapping[str, Any],
    *,
    root: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Load the stored result for ``config``, or run the CPU-scale variant and say so.

    If ``<root>/<name>.json`` exists and its config equals ``config`` (compared as JSON),
    it is loaded and a line naming the file, device and date is printed. Otherwise
    ``run(cpu_config)`` is called, a line saying so (and why) is printed, and nothing is
    written: stored results come only from full runs saved with :func:`save`.

    Parameters
    ----------
    name : str
        Results file stem.
    config : mapping
        The configuration the stored result must have been produced with.
    run : callable
        ``run(config) -> result`` (a History or a JSON-serialisable object).
    cpu_config : mapping
        The small configuration to run when no stored result matches.
    root : path, optional
        Results folder (see :func:`results_root`).

    Returns
    -------
    dict
        As :func:`load`, plus ``"source"``: ``"stored"`` or ``"cpu run"``.

    Examples
    --------
    >>> import tempfile
    >>> rec = load_or_run("demo", {"epochs": 200}, lambda c: {"epochs": c["epochs"]},
    ...                   {"epochs": 1}, root=tempfile.mkdtemp())  # doctest: +ELLIPSIS
    No stored result ... running the CPU-scale configuration instead.
    >>> rec["source"], rec["result"]
    ('cpu run', {'epochs': 1})
    """
    path = _path(name, root)
    if not callable(run):
        raise TypeError(f"run must be callable, got {run!r}")
    for label, value in (("config", config), ("cpu_config", cpu_config)):
        if not isinstance(value, Mapping):
            raise TypeError(f"{label} must be a mapping, got {type(value).__name__}")
    wanted = as_stored(dict(config))
    if path.is_file():
        record = load(name, root=root)
        if record["config"] == wanted:
            prov = record["provenance"]
            print(
                f"Loaded the stored result {_shown(path)} "
                f"(run on {prov['device']}, {prov['date'][:10]})."
            )
            return {**record, "source": "stored"}
        differ = sorted(
            k
            for k in set(wanted) | set(record["config"])
            if wanted.get(k) != record["config"].get(k)
        )
        reason = f"{_shown(path)} was produced with a different config (keys {', '.join(differ)})"
    else:
        reason = f"No stored result {_shown(path)}"
    print(f"{reason}: running the CPU-scale configuration instead.")
    start = time.perf_counter()
    result = run(dict(cpu_config))
    wall = time.perf_counter() - start
    is_history = _is_history(result)
    return {
        "name": name,
        "config": as_stored(dict(cpu_config)),
        "result_type": "History" if is_history else "json",
        "result": result,
        "provenance": provenance(
            device=result.device if is_history else None,
            seed=result.seed if is_history else None,
            wall_time_s=wall,
        ),
        "source": "cpu run",
    }


def stack(runs: list[Mapping[str, Any]], key: str):
    """One series of several stored runs (one per seed) as a float array, a row per run.

    Missing values (``None``: a step after a divergence, an undefined cosine) become NaN,
    and rows of different lengths are padded with NaN at the end, so that NumPy's
    ``nanmean`` and friends (and :func:`lrlab.plots.seed_band`) read them directly.

    Parameters
    ----------
    runs : list of mappings
        Runs as an experiment stores them, each with the series ``key``.
    key : str

    Returns
    -------
    numpy.ndarray
        Shape ``(len(runs), longest series)``.

    Examples
    --------
    >>> stack([{"loss": [1.0, 0.5]}, {"loss": [2.0, None]}, {"loss": [3.0]}], "loss").tolist()
    [[1.0, 0.5], [2.0, nan], [3.0, nan]]
    """
    import numpy as np

    if not runs:
        raise ValueError("runs must hold at least one run, got none")
    if any(key not in r for r in runs):
        raise ValueError(f"key must name a series of every run, got {key!r}")
    length = max(len(r[key]) for r in runs)
    out = np.full((len(runs), length), np.nan)
    for row, r in zip(out, runs, strict=True):
        row[: len(r[key])] = np.array([np.nan if v is None else v for v in r[key]], dtype=float)
    return out
