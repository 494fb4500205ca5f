"""Grids of training runs: schedules × rates × seeds × models, run once each and cached.

A *grid* is a mapping of run options in which every list is an axis; :func:`expand` turns
it into the list of *configs* (plain dicts, one per run) of the cross product, every
option filled in from :data:`DEFAULTS`. :func:`run_one` trains one config with
:func:`lrlab.train.fit` and returns its result (final and best test accuracy, losses,
wall time, provenance); it is a pure function of the config (on the CPU, bit for bit).
:func:`run` runs a whole grid, caching each result in a file named by a hash of its
config (:func:`config_key`, written atomically), so an interrupted sweep resumes where it
stopped and a finished one costs nothing. Engines:

- ``"local"`` (default): in this process, one run after the other, with a progress bar;
- ``"ray"``: `Ray Tune <https://docs.ray.io/en/latest/tune/>`_ (the ``lrlab[sweep]``
  extra). Without an address it starts a quiet local Ray instance; with ``address=`` or
  ``RAY_ADDRESS`` the same trials run on a cluster, each with ``resources`` such as
  ``{"cpu": 1, "gpu": 0.25}`` (four small runs share one GPU). Same results.

:func:`table` and :func:`plot` gather the records (accuracy against the rate, one line
per schedule, the seeds' spread as a band).

A schedule is named by a factory of :mod:`lrlab.schedules` with its parameters; the run's
``lr`` fills the factory's ``lr`` (or ``max_lr``), ``total_steps`` defaults to the run's
length, ``<rate>_ratio`` gives a rate parameter as a multiple of ``lr``
(``"min_lr_ratio": 0.01``) and ``"unit": "epoch"`` counts step parameters
(``milestones``, ``first_cycle``, ``step_size`` ...) in epochs.

>>> grid = {"data": "digits", "model": "mlp", "epochs": 1, "seed": [0, 1],
...         "lr": [0.03, 0.1], "schedule": ["constant", {"name": "cosine"}]}
>>> len(expand(grid))
8
>>> records = run({**grid, "seed": 0, "lr": 0.1}, cache=None, progress=False, device="cpu")
>>> len(records)
2
>>> 0 < records[0]["result"]["final_test_acc"] <= 1
True
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import itertools
import json
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULTS",
    "ENGINES",
    "config_key",
    "expand",
    "load_grid",
    "make_schedule",
    "normalize",
    "plot",
    "run",
    "run_one",
    "summary",
    "summary_table",
    "table",
]

#: Every option of a run and its default (the keys of a config).
DEFAULTS: dict[str, Any] = {
    "data": "digits",
    "model": "mlp",
    "model_options": {},
    "schedule": {"name": "constant"},
    "lr": 0.1,
    "epochs": 1,
    "batch_size": 128,
    "optimizer": "sgd",
    "momentum": 0.9,
    "nesterov": False,
    "weight_decay": 5e-4,
    "precision": "auto",
    "channels_last": "auto",
    "seed": 0,
}

ENGINES = ("local", "ray")

# Schedule parameters that count optimizer steps (scaled by "unit": "epoch").
_STEP_PARAMS = {"total_steps", "step_size", "milestones", "first_cycle", "step_size_up"}
_STEP_PARAMS |= {"step_size_down"}
_RESULT_METRICS = ("final_test_acc", "best_test_acc", "final_test_loss", "wall_time_s")


# --- grids and configs --------------------------------------------------------------------


def load_grid(path: str | os.PathLike) -> dict | list:
    """Read a grid from a ``.json`` or ``.yaml``/``.yml`` file (YAML needs PyYAML).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "grid.json"
    >>> _ = path.write_text('{"lr": [0.1, 0.3], "seed": [0, 1, 2]}')
    >>> len(expand(load_grid(path)))
    6
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:  # pragma: no cover - PyYAML comes with lrlab[sweep] and the book
            raise ImportError(
                "reading a YAML grid needs PyYAML: pip install 'lrlab[sweep]'"
            ) from None
        return yaml.safe_load(text)
    if path.suffix == ".json":
        return json.loads(text)
    raise ValueError(f"path must end in .json, .yaml or .yml, got {path.name!r}")


def _schedule_spec(spec) -> dict:
    from lrlab.schedules import FACTORIES

    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise ValueError(f"schedule must be a factory name or a mapping with 'name', got {spec!r}")
    if spec["name"] not in FACTORIES:
        raise ValueError(f"schedule name must be one of {sorted(FACTORIES)}, got {spec['name']!r}")
    if spec.get("unit", "step") not in ("step", "epoch"):
        raise ValueError(f"schedule unit must be 'step' or 'epoch', got {spec['unit']!r}")
    return dict(spec)


def normalize(config: Mapping[str, Any]) -> dict[str, Any]:
    """A complete config: defaults filled in, the schedule as a mapping, values checked.

    Examples
    --------
    >>> normalize({"lr": 0.3, "schedule": "cosine"})["schedule"]
    {'name': 'cosine'}
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping, got {type(config).__name__}")
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"config keys must be among {sorted(DEFAULTS)}, got unknown {unknown}")
    out = {**copy.deepcopy(DEFAULTS), **copy.deepcopy(dict(config))}
    for key, value in out.items():
        if isinstance(value, list):
            raise ValueError(f"{key} must be one value in a config (lists are grid axes)")
    out["schedule"] = _schedule_spec(out["schedule"])
    for key in ("epochs", "batch_size"):
        if isinstance(out[key], bool) or not isinstance(out[key], int) or out[key] < 1:
            raise ValueError(f"{key} must be an integer >= 1, got {out[key]!r}")
    if not (isinstance(out["lr"], (int, float)) and out["lr"] > 0):
        raise ValueError(f"lr must be a number > 0, got {out['lr']!r}")
    # JSON-plain (NumPy numbers become Python ones), so equal configs hash equally.
    return json.loads(json.dumps(out, default=_json_default))


def _json_default(value):
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    raise TypeError(f"config values must be JSON-serialisable, got {value!r}")


def expand(grid: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The configs of a grid: the cross product of its list-valued options, in order.

    Parameters
    ----------
    grid : mapping or sequence of mappings
        Options of :data:`DEFAULTS`; a list is an axis (the last key varies fastest). A
        sequence of grids expands to the concatenation of theirs.

    Returns
    -------
    list of dict
        Complete configs (see :func:`normalize`).

    Examples
    --------
    >>> [(c["lr"], c["seed"]) for c in expand({"lr": [0.1, 0.3], "seed": [0, 1]})]
    [(0.1, 0), (0.1, 1), (0.3, 0), (0.3, 1)]
    """
    if isinstance(grid, Sequence) and not isinstance(grid, (str, bytes)):
        return [config for part in grid for config in expand(part)]
    if not isinstance(grid, Mapping):
        raise TypeError(f"grid must be a mapping or a list of mappings, got {type(grid).__name__}")
    axes = [(k, v) for k, v in grid.items() if isinstance(v, list)]
    for key, values in axes:
        if not values:
            raise ValueError(f"grid axis {key} must list at least one value")
    fixed = {k: v for k, v in grid.items() if not isinstance(v, list)}
    return [
        normalize({**fixed, **dict(zip([k for k, _ in axes], values, strict=True))})
        for values in itertools.product(*(v for _, v in axes))
    ]


def config_key(config: Mapping[str, Any]) -> str:
    """A short hash naming a config (the cache file's name): equal configs, equal keys.

    Examples
    --------
    >>> config_key({"lr": 0.1}) == config_key({"lr": 0.1, "seed": 0})  # defaults filled in
    True
    """
    text = json.dumps(normalize(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def schedule_label(config: Mapping[str, Any]) -> str:
    """The name a schedule goes by in tables and legends: its ``label``, else its factory."""
    spec = _schedule_spec(config["schedule"])
    return str(spec.get("label", spec["name"]))


# --- one run ------------------------------------------------------------------------------


def make_schedule(spec, lr: float, steps_per_epoch: int, epochs: int):
    """Build the schedule a config's ``schedule`` entry describes for a run.

    Parameters
    ----------
    spec : str or mapping
        ``{"name": factory, **parameters}``; optional ``label`` (for display),
        ``unit`` (``"step"`` or ``"epoch"``: what step parameters count) and
        ``<rate>_ratio`` (that rate parameter as a multiple of ``lr``).
    lr : float
        Sets the factory's ``lr`` parameter, or ``max_lr`` where it has none.
    steps_per_epoch, epochs : int
        The run's length; ``total_steps`` defaults to their product.

    Examples
    --------
    >>> s = make_schedule({"name": "multistep", "milestones": [2], "unit": "epoch"}, 0.1, 10, 3)
    >>> round(s(19), 6), round(s(20), 6)
    (0.1, 0.01)
    """
    from lrlab.schedules import FACTORIES

    spec = _schedule_spec(spec)
    factory = FACTORIES[spec["name"]]
    signature = inspect.signature(factory).parameters
    scale = steps_per_epoch if spec.get("unit") == "epoch" else 1
    rate = "lr" if "lr" in signature else "max_lr"
    kwargs: dict[str, Any] = {rate: lr}
    for key, value in spec.items():
        if key in ("name", "label", "unit"):
            continue
        if key.endswith("_ratio") and key[: -len("_ratio")] in signature:
            kwargs[key[: -len("_ratio")]] = value * lr
        elif key == rate:
            raise ValueError(f"schedule {spec['name']}: {rate} is set by the run's lr, not here")
        elif key not in signature:
            raise ValueError(f"schedule {spec['name']} has no parameter {key!r}")
        elif key in _STEP_PARAMS and value is not None:
            kwargs[key] = (
                [int(v * scale) for v in value] if isinstance(value, list) else int(value * scale)
            )
        else:
            kwargs[key] = value
    if "total_steps" in signature and "total_steps" not in kwargs:
        kwargs["total_steps"] = steps_per_epoch * epochs
    return factory(**kwargs)


_DATASETS: dict[tuple, Any] = {}


def _dataset(name: str, root: str, device):
    """Data sets are read-only; load each once per process."""
    from lrlab import data

    key = (name, str(root), str(device))
    if key not in _DATASETS:
        _DATASETS[key] = data.load(name, root=root, device=device)
    return _DATASETS[key]


def run_one(
    config: Mapping[str, Any],
    *,
    device=None,
    data_root: str | os.PathLike = "data/cache",
    command: str | None = None,
    progress: bool = False,
    max_steps: int | None = None,
) -> dict[str, Any]:
    """Train one config with :func:`lrlab.train.fit` and summarise the run.

    The model's weights are seeded with the config's ``seed`` (so is the data order), so
    the result depends on the config alone (bit for bit on the CPU).

    Parameters
    ----------
    config : mapping
        Options of :data:`DEFAULTS` (missing ones take the default).
    device : torch.device or str, optional
        ``lrlab.device()`` by default.
    data_root : path
        Data folder for CIFAR and MNIST-1D.
    command : str, optional
        Recorded in the provenance; this process's command line by default.
    progress : bool
        Show fit's progress bar.
    max_steps : int, optional
        Stop after this many optimizer steps: a smoke test of the code path (its
        result is not the config's and must not be stored as such).

    Returns
    -------
    dict
        ``final_test_acc``, ``best_test_acc``, ``final_test_loss``, ``best_test_loss``,
        ``final_train_loss`` (``None`` if the run diverged before its first epoch ended),
        per-epoch ``test_acc`` and ``test_loss``, ``diverged``, ``steps``,
        ``wall_time_s`` and ``provenance`` (:func:`lrlab.results.provenance`).

    Examples
    --------
    >>> out = run_one({"data": "digits", "model": "mlp", "lr": 0.1}, device="cpu")
    >>> sorted(out)[:3], out["steps"]
    (['best_test_acc', 'best_test_loss', 'diverged'], 11)
    """
    import torch

    import lrlab
    from lrlab import models, results, train

    config = normalize(config)
    if max_steps is not None and (
        isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1
    ):
        raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")
    device = torch.device(device) if device is not None else lrlab.device()
    data = _dataset(config["data"], str(data_root), device)
    steps_per_epoch = data.num_batches("train", config["batch_size"])
    schedule = make_schedule(config["schedule"], config["lr"], steps_per_epoch, config["epochs"])
    torch.manual_seed(config["seed"])
    model = models.build(
        config["model"], data.num_classes, data.input_shape, **config["model_options"]
    )
    history = train.fit(
        model,
        data,
        schedule,
        config["epochs"],
        batch_size=config["batch_size"],
        optimizer=config["optimizer"],
        momentum=config["momentum"],
        nesterov=config["nesterov"],
        weight_decay=config["weight_decay"],
        precision=config["precision"],
        channels_last=config["channels_last"],
        seed=config["seed"],
        progress=progress,
        callbacks=[] if max_steps is None else [_StopAfter(max_steps)],
    )
    acc, loss = history.test_acc, history.test_loss
    return {
        "final_test_acc": acc[-1] if acc else None,
        "best_test_acc": max(acc) if acc else None,
        "final_test_loss": loss[-1] if loss else None,
        "best_test_loss": min(loss) if loss else None,
        "final_train_loss": history.train_loss[-1] if history.train_loss else None,
        "test_acc": list(acc),
        "test_loss": list(loss),
        "diverged": history.diverged,
        "steps": history.steps,
        "wall_time_s": history.wall_time,
        "provenance": results.provenance(
            command=command,
            device=history.device,
            seed=config["seed"],
            wall_time_s=history.wall_time,
        ),
    }


class _StopAfter:
    """A ``fit`` callback ending the run after ``steps`` optimizer steps."""

    def __init__(self, steps: int):
        self.steps = steps

    def __call__(self, model, step, history) -> None:
        from lrlab.train import StopTraining

        if step + 1 >= self.steps:
            raise StopTraining


# --- many runs ----------------------------------------------------------------------------


def _cached(cache: Path | None, key: str, config: dict) -> dict | None:
    if cache is None or not (cache / f"{key}.json").is_file():
        return None
    record = json.loads((cache / f"{key}.json").read_text(encoding="utf-8"))
    return record["result"] if record.get("config") == config else None


def _store(cache: Path | None, key: str, config: dict, result: dict) -> None:
    from lrlab._io import atomic_write

    if cache is not None:
        text = json.dumps({"key": key, "config": config, "result": result}, allow_nan=False)
        atomic_write(cache / f"{key}.json", text + "\n")


def run(
    grid: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    engine: str = "local",
    cache: str | os.PathLike | None = "data/cache/sweeps",
    device=None,
    data_root: str | os.PathLike = "data/cache",
    progress: bool = True,
    address: str | None = None,
    resources: Mapping[str, float] | None = None,
    max_steps: int | None = None,
) -> list[dict[str, Any]]:
    """Run every config of a grid (those not cached yet) and return all their records.

    Parameters
    ----------
    grid : mapping or sequence of mappings
        See :func:`expand`.
    engine : {"local", "ray"}
        ``"local"``: in this process, one after the other. ``"ray"``: trials of Ray Tune
        (``pip install 'lrlab[sweep]'``), same results.
    cache : path or None
        Folder of one ``<config_key>.json`` per finished run (written atomically as each
        run ends); runs found there are not run again. ``None`` caches nothing.
    device : torch.device or str, optional
        Device of the local engine (``lrlab.device()`` by default). Ray trials use the
        GPU Ray gives them when ``resources`` asks for one, else the CPU.
    data_root : path
        Data folder (CIFAR, MNIST-1D).
    progress : bool
        A progress bar over the grid (local engine).
    address : str, optional
        Ray cluster to connect to (``"ray://head:10001"``, ``"auto"``); by default
        ``RAY_ADDRESS`` if set, else a new local instance.
    resources : mapping, optional
        Per Ray trial, e.g. ``{"cpu": 1, "gpu": 0.25}``; default ``{"cpu": 1}``.
    max_steps : int, optional
        Smoke test: stop every run after this many steps (local engine only); nothing
        is read from or written to the cache.

    Returns
    -------
    list of dict
        One ``{"key", "config", "result"}`` per config, in grid order (``result`` as
        :func:`run_one` returns it).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    configs = expand(grid)
    keys = [config_key(c) for c in configs]
    if max_steps is not None:
        if engine != "local":
            raise ValueError("max_steps (a smoke test) runs with engine='local' only")
        cache = None  # a cut-short run is not the config's result
    cache = Path(cache) if cache is not None else None
    done = {k: r for k, c in zip(keys, configs, strict=True) if (r := _cached(cache, k, c))}
    todo = {k: c for k, c in zip(keys, configs, strict=True) if k not in done}
    command = shlex.join(sys.argv)
    if engine == "local":
        from tqdm.auto import tqdm

        bar = tqdm(total=len(keys), initial=len(keys) - len(todo), disable=not progress, unit="run")
        for key, config in todo.items():
            done[key] = run_one(
                config, device=device, data_root=data_root, command=command, max_steps=max_steps
            )
            _store(cache, key, config, done[key])
            acc = done[key]["final_test_acc"]
            bar.set_postfix(last_acc="diverged" if acc is None else f"{acc:.3f}", refresh=False)
            bar.update()
        bar.close()
    elif todo:
        for key, result in _run_ray(todo, address, resources, data_root, command).items():
            done[key] = result
            _store(cache, key, todo[key], result)
    return [{"key": k, "config": c, "result": done[k]} for k, c in zip(keys, configs, strict=True)]


def _ray_trial(space: dict) -> dict:
    """One Ray Tune trial: :func:`run_one` with as many threads as CPUs granted."""
    import torch

    params = space["trial"]
    torch.set_num_threads(params["threads"])
    result = run_one(params["config"], data_root=params["data_root"], command=params["command"])
    # One string metric: Tune keeps it as it is (it would flatten nested dicts).
    return {"result_json": json.dumps(result, allow_nan=False)}


def _run_ray(todo: dict, address, resources, data_root, command) -> dict[str, dict]:
    import logging
    import tempfile

    try:
        import ray
        from ray import tune
    except ImportError:
        raise ImportError("engine='ray' needs Ray Tune: pip install 'lrlab[sweep]'") from None
    resources = dict(resources or {"cpu": 1})
    unknown = sorted(set(resources) - {"cpu", "gpu"})
    if unknown or not all(v >= 0 for v in resources.values()):
        raise ValueError(f"resources must map 'cpu'/'gpu' to numbers >= 0, got {resources}")
    # Quiet: no dashboard, no worker output forwarded, no Tune progress tables.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=address or os.environ.get("RAY_ADDRESS") or None,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            configure_logging=True,
        )
    logging.getLogger("ray").setLevel(logging.ERROR)
    logging.getLogger("ray.tune").setLevel(logging.ERROR)
    params = [
        {
            "key": key,
            "config": config,
            "data_root": str(Path(data_root).resolve()),
            "command": command,
            "threads": max(1, int(resources.get("cpu", 1))),
        }
        for key, config in todo.items()
    ]
    try:
        with tempfile.TemporaryDirectory(prefix="lrlab-ray-") as storage:
            tuner = tune.Tuner(
                tune.with_resources(_ray_trial, resources),
                param_space={"trial": tune.grid_search(params)},
                run_config=tune.RunConfig(storage_path=storage, verbose=0),
            )
            grid = tuner.fit()
            out = {}
            for trial in grid:
                if trial.error is not None:
                    raise RuntimeError(f"a Ray trial failed: {trial.error}") from trial.error
                out[trial.config["trial"]["key"]] = json.loads(trial.metrics["result_json"])
    finally:
        if started_here:
            ray.shutdown()
    return out


# --- gathering ----------------------------------------------------------------------------


def _group(record: dict, several_models: bool) -> str:
    label = schedule_label(record["config"])
    return f"{record['config']['model']} {label}" if several_models else label


def summary(records: Sequence[dict], metric: str = "final_test_acc") -> list[dict[str, Any]]:
    """Per (schedule, rate): the metric's mean, min and max over seeds, and their number.

    Diverged runs (metric ``None``) count in ``n`` and as ``diverged``, not in the mean.

    Examples
    --------
    >>> recs = [{"config": normalize({"seed": s}), "result": {"final_test_acc": a}}
    ...         for s, a in [(0, 0.5), (1, 0.7)]]
    >>> row = summary(recs)[0]
    >>> row["label"], row["lr"], round(row["mean"], 3), row["n"]
    ('constant', 0.1, 0.6, 2)
    """
    several = len({r["config"]["model"] for r in records}) > 1
    groups: dict[tuple, list] = {}
    for record in records:
        key = (_group(record, several), record["config"]["lr"])
        groups.setdefault(key, []).append(record["result"][metric])
    rows = []
    for (label, lr), values in groups.items():
        finite = [v for v in values if v is not None]
        rows.append(
            {
                "label": label,
                "lr": lr,
                "mean": sum(finite) / len(finite) if finite else None,
                "min": min(finite) if finite else None,
                "max": max(finite) if finite else None,
                "n": len(values),
                "diverged": len(values) - len(finite),
            }
        )
    return rows


def summary_table(records: Sequence[dict], metric: str = "final_test_acc") -> str:
    """A Markdown table of the metric over seeds: one row per schedule, one column per rate.

    Each cell is the mean over seeds with the range ``[min, max]`` (accuracies in %), and
    the number of diverged seeds where there are any.

    Examples
    --------
    >>> recs = [{"config": normalize({"seed": s}), "result": {"final_test_acc": a}}
    ...         for s, a in [(0, 0.5), (1, 0.7)]]
    >>> print(summary_table(recs))
    | schedule | lr 0.1 |
    |---|---|
    | constant | 60.0% [50.0, 70.0] |
    """
    rows = summary(records, metric)
    rates = sorted({r["lr"] for r in rows})
    percent = metric.endswith("_acc")
    scale = 100.0 if percent else 1.0
    lines = [
        "| schedule | " + " | ".join(f"lr {lr:g}" for lr in rates) + " |",
        "|---" * (len(rates) + 1) + "|",
    ]
    for label in dict.fromkeys(r["label"] for r in rows):
        cells = []
        for lr in rates:
            row = next((r for r in rows if r["label"] == label and r["lr"] == lr), None)
            if row is None:
                cells.append("")
            elif row["mean"] is None:
                cells.append(f"diverged ({row['diverged']} of {row['n']})")
            else:
                unit = "%" if percent else ""
                text = f"{scale * row['mean']:.1f}{unit} [{scale * row['min']:.1f}, "
                text += f"{scale * row['max']:.1f}]"
                if row["diverged"]:
                    text += f", {row['diverged']} of {row['n']} diverged"
                cells.append(text)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table(records: Sequence[dict], metrics: Sequence[str] = _RESULT_METRICS) -> str:
    """One line per run: model, schedule, rate, seed, then the metrics.

    Examples
    --------
    >>> rec = {"config": normalize({}), "result": {"final_test_acc": 0.5, "best_test_acc": 0.6,
    ...        "final_test_loss": 1.2, "wall_time_s": 3.0}}
    >>> print(table([rec]))
    model  schedule  lr   seed  final_test_acc  best_test_acc  final_test_loss  wall_time_s
    mlp    constant  0.1     0          0.5000         0.6000           1.2000         3.00
    """
    head = ["model", "schedule", "lr", "seed", *metrics]
    rows = []
    for record in records:
        config, result = record["config"], record["result"]
        cells = [
            config["model"],
            schedule_label(config),
            f"{config['lr']:.4g}",
            str(config["seed"]),
        ]
        for metric in metrics:
            value = result[metric]
            if value is None:
                cells.append("diverged")
            else:
                cells.append(f"{value:.2f}" if metric == "wall_time_s" else f"{value:.4f}")
        rows.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    numeric = [False, False, False, True] + [True] * len(metrics)

    def line(cells):
        return "  ".join(
            c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(head), *(line(r) for r in rows)])


def plot(records: Sequence[dict], metric: str = "final_test_acc", ax=None):
    """The metric against the rate (log axis), one line per schedule, seeds as a band.

    The line is the mean over seeds, the band spans their minimum and maximum; diverged
    runs are left out (a rate where every seed diverged has no point).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> recs = [{"config": normalize({"lr": lr, "seed": s}), "result": {"final_test_acc": a}}
    ...         for lr, s, a in [(0.1, 0, 0.5), (0.1, 1, 0.7), (0.3, 0, 0.8), (0.3, 1, 0.9)]]
    >>> ax = plot(recs)
    >>> ax.get_xscale(), ax.get_ylabel()
    ('log', 'final test accuracy')
    """
    from lrlab import plots

    if not records:
        raise ValueError("records must hold at least one run")
    if ax is None:
        _, ax = plots.subplots()
    rows = [r for r in summary(records, metric) if r["mean"] is not None]
    for i, label in enumerate(dict.fromkeys(r["label"] for r in rows)):
        mine = sorted((r for r in rows if r["label"] == label), key=lambda r: r["lr"])
        lrs = [r["lr"] for r in mine]
        color = plots.COLORS[i % len(plots.COLORS)]
        ax.plot(lrs, [r["mean"] for r in mine], marker="o", color=color, label=label)
        ax.fill_between(
            lrs, [r["min"] for r in mine], [r["max"] for r in mine], color=color, alpha=0.2
        )
    plots.lr_axis(ax, "x", label="peak learning rate")
    ax.set_ylabel(metric.replace("_", " ").replace("acc", "accuracy"))
    ax.legend()
    return ax
