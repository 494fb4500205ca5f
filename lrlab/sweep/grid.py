"""Grids and configs of :mod:`lrlab.sweep`: a grid's list-valued options are axes; a config is
one run's complete options, named by a hash (:func:`config_key`). :func:`size` counts a
grid's runs without expanding it; :func:`check` builds every config's schedule, model (on
the meta device) and optimizer, so a bad value anywhere fails before the first run."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lrlab import _check
from lrlab.options import RunOptions
from lrlab.schedules import from_spec, normalize_spec

__all__ = [
    "DEFAULTS",
    "DISPLAY_KEYS",
    "check",
    "config_key",
    "dataset",
    "expand",
    "identity",
    "load_grid",
    "make_schedule",
    "normalize",
    "run_options",
    "schedule_label",
    "size",
    "train_examples",
]

#: Every option of a run and its default (the keys of a config): what to train, its
#: schedule and length, and the run options of :class:`lrlab.options.RunOptions`.
DEFAULTS: dict[str, Any] = {
    "data": "digits",
    "model": "mlp",
    "model_options": {},
    "schedule": {"name": "constant"},
    "lr": 0.1,
    "epochs": 1,
    **RunOptions().to_dict(),
}

#: Keys of a config's schedule that only name it in tables and legends: no result
#: depends on them, so they are no part of a config's :func:`identity` or key.
DISPLAY_KEYS = ("label",)

_DATASETS: dict[tuple, Any] = {}


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
    if path.suffix not in (".json", ".yaml", ".yml"):
        raise ValueError(f"path must end in .json, .yaml or .yml, got {path.name!r}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: the grid is not UTF-8 text: {err}") from None
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except ValueError as err:
            raise ValueError(f"{path}: the grid is not valid JSON: {err}") from None
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML comes with lrlab[sweep] and the book
        raise ImportError("reading a YAML grid needs PyYAML: pip install 'lrlab[sweep]'") from None
    try:
        return yaml.safe_load(text)  # plain data only: tags that build objects are refused
    except yaml.YAMLError as err:
        reason = " ".join(str(err).split())
        raise ValueError(f"{path}: the grid is not plain YAML data: {reason}") from None


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
    out["schedule"] = normalize_spec(out["schedule"])
    _check.choice("data", out["data"], _data_names())
    if not isinstance(out["model_options"], Mapping):
        raise TypeError(f"model_options must be a mapping, got {out['model_options']!r}")
    out["epochs"] = _check.integer("epochs", out["epochs"], minimum=1)
    out["lr"] = _check.number("lr", out["lr"], low=0, low_open=True)
    out.update(run_options(out).to_dict())
    # JSON-plain (NumPy numbers become Python ones), so equal configs hash equally.
    return json.loads(json.dumps(out, default=_json_default))


def _data_names() -> tuple[str, ...]:
    from lrlab.data import NAMES

    return NAMES


def run_options(config: Mapping[str, Any]) -> RunOptions:
    """The :class:`lrlab.options.RunOptions` of a config (its run-option keys, checked).

    Examples
    --------
    >>> run_options({"lr": 0.1, "momentum": 0.0}).momentum
    0.0
    """
    return RunOptions.from_dict({k: config[k] for k in RunOptions.names() if k in config})


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


def size(grid: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> int:
    """How many configs :func:`expand` makes of a grid, counted without making them.

    Examples
    --------
    >>> size({"lr": [0.1, 0.3], "seed": list(range(1000)), "schedule": ["constant", "cosine"]})
    4000
    >>> size([{"seed": [0, 1]}, {"seed": [2, 3, 4]}])
    5
    """
    if isinstance(grid, Sequence) and not isinstance(grid, (str, bytes)):
        return sum(size(part) for part in grid)
    if not isinstance(grid, Mapping):
        raise TypeError(f"grid must be a mapping or a list of mappings, got {type(grid).__name__}")
    return math.prod(len(v) for v in grid.values() if isinstance(v, list))


def identity(config: Mapping[str, Any]) -> dict[str, Any]:
    """What a run's result depends on: the complete config (:func:`normalize`) without the
    schedule's display-only keys (:data:`DISPLAY_KEYS`).

    Examples
    --------
    >>> identity({"schedule": {"name": "cosine", "label": "cosine, to zero"}})["schedule"]
    {'name': 'cosine'}
    """
    out = normalize(config)
    out["schedule"] = {k: v for k, v in out["schedule"].items() if k not in DISPLAY_KEYS}
    return out


def config_key(config: Mapping[str, Any]) -> str:
    """A short hash naming a config (the cache file's name): equal configs, equal keys.

    It hashes the config's :func:`identity`: its defaults filled in, numbers spelled one
    way (``1`` and ``1.0`` for a rate), display-only keys (a schedule's ``label``) left out.

    Examples
    --------
    >>> config_key({"lr": 0.1}) == config_key({"lr": 0.1, "seed": 0})  # defaults filled in
    True
    >>> config_key({"lr": 1}) == config_key({"lr": 1.0})
    True
    """
    text = json.dumps(identity(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def train_examples(config: Mapping[str, Any]) -> int:
    """The training examples a config's run goes through: its epochs times its data set's
    training split (:data:`lrlab.data.INFO`), to size a sweep before it runs.

    Examples
    --------
    >>> train_examples({"data": "digits", "epochs": 3})
    4041
    """
    from lrlab.data import INFO

    config = _complete(config)
    return config["epochs"] * INFO[config["data"]].train


def _complete(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """``config`` if it has every key (as :func:`expand` makes them), else normalized."""
    return config if set(config) == set(DEFAULTS) else normalize(config)


def check(configs: Sequence[Mapping[str, Any]], device=None) -> None:
    """Build every config's schedule, model and optimizer once, before any run trains.

    A bad value anywhere in a grid (a schedule parameter out of range, a model option the
    model does not take, a precision the device lacks) fails here, naming the config,
    rather than after every earlier run has trained. Models are built on PyTorch's meta
    device (shapes, no memory, no arithmetic), from the sizes and shapes in
    :data:`lrlab.data.INFO`, so no data is loaded; equal pieces are built once.

    Parameters
    ----------
    configs : sequence of mappings
        Configs (:func:`normalize` fills in the defaults).
    device : torch.device or str, optional
        Where the runs will train, for the precision; not checked when ``None``.

    Raises
    ------
    ValueError, TypeError
        ``config I of N (lr ..., schedule ...): <what is wrong>``.

    Examples
    --------
    >>> check(expand({"lr": [0.1, 0.3], "schedule": ["cosine", "constant"]}))
    >>> check(expand({"lr": [0.1, 0.3], "model_options": {"widht": 64}}))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: config 1 of 2 (lr 0.1, schedule constant): ...widht...
    """
    import torch

    from lrlab import models
    from lrlab.data import INFO
    from lrlab.step import bf16_supported, choose_precision, make_optimizer

    device = torch.device(device) if device is not None else None
    seen_schedules, seen_models = set(), set()
    seen_options: dict[tuple, RunOptions] = {}
    for index, config in enumerate(configs):
        config = _complete(config)  # each value is checked below, complete or not
        try:
            info = INFO[_check.choice("data", config["data"], _data_names())]
            epochs = _check.integer("epochs", config["epochs"], minimum=1)
            lr = _check.number("lr", config["lr"], low=0, low_open=True)
            option_id = tuple(repr(config[k]) for k in RunOptions.names())
            if option_id not in seen_options:
                seen_options[option_id] = run_options(config)
            options = seen_options[option_id]
            steps_per_epoch = -(-info.train // options.batch_size)
            spec = json.dumps(config["schedule"], sort_keys=True)
            schedule_id = (spec, lr, steps_per_epoch, epochs)
            if schedule_id not in seen_schedules:
                make_schedule(config["schedule"], lr, steps_per_epoch, epochs)
                seen_schedules.add(schedule_id)
            model_id = json.dumps(
                [config["data"], config["model"], config["model_options"], options.optimizer],
                sort_keys=True,
            )
            if model_id not in seen_models:
                with torch.device("meta"):
                    model = models.build(
                        config["model"],
                        info.num_classes,
                        info.input_shape,
                        **config["model_options"],
                    )
                    make_optimizer(
                        model,
                        options.optimizer,
                        lr,
                        options.momentum,
                        options.nesterov,
                        options.weight_decay,
                    )
                seen_models.add(model_id)
            if device is not None:
                choose_precision(options.precision, device.type, bf16_supported(device))
        except (ValueError, TypeError) as err:
            where = f"config {index + 1} of {len(configs)} (lr {config['lr']!r}, "
            where += f"schedule {schedule_label(config)})"
            raise type(err)(f"{where}: {err}") from err


def dataset(name: str, root: str | os.PathLike, device):
    """The data set a config's ``data`` names, loaded once per process (it is read-only).

    Examples
    --------
    >>> dataset("digits", "data/cache", "cpu") is dataset("digits", "data/cache", "cpu")
    True
    """
    from lrlab import data

    key = (name, str(root), str(device))
    if key not in _DATASETS:
        _DATASETS[key] = data.load(name, root=root, device=device)
    return _DATASETS[key]


def schedule_label(config: Mapping[str, Any]) -> str:
    """The name a schedule goes by in tables and legends: its ``label``, else its factory."""
    spec = normalize_spec(config["schedule"])
    return str(spec.get("label", spec["name"]))


def make_schedule(spec, lr: float, steps_per_epoch: int, epochs: int):
    """Build the schedule a config's ``schedule`` entry describes for a run.

    :func:`lrlab.schedules.from_spec` with the run's rate and length.

    Parameters
    ----------
    spec : str or mapping
        ``{"name": factory, **parameters}``; optional ``label`` (for display),
        ``unit`` (``"step"`` or ``"epoch"``: what step parameters count),
        ``<rate>_ratio`` (that rate parameter as a multiple of ``lr``) and ``warmup_steps``
        (see :func:`~lrlab.schedules.from_spec`).
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
    return from_spec(
        spec, lr=lr, total_steps=steps_per_epoch * epochs, steps_per_epoch=steps_per_epoch
    )
