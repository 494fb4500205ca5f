"""Grids and configs of :mod:`lrlab.sweep`: a grid's list-valued options are axes; a config is
one run's complete options, named by a hash (:func:`config_key`)."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lrlab import _check
from lrlab.options import RunOptions
from lrlab.schedules import from_spec, normalize_spec

__all__ = [
    "DEFAULTS",
    "config_key",
    "dataset",
    "expand",
    "load_grid",
    "make_schedule",
    "normalize",
    "run_options",
    "schedule_label",
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
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:  # pragma: no cover - PyYAML comes with lrlab[sweep] and the book
            raise ImportError(
                "reading a YAML grid needs PyYAML: pip install 'lrlab[sweep]'"
            ) from None
        return yaml.safe_load(text)
    return json.loads(text)


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
    out["epochs"] = _check.integer("epochs", out["epochs"], minimum=1)
    out["lr"] = _check.number("lr", out["lr"], low=0, low_open=True)
    out.update(run_options(out).to_dict())
    # JSON-plain (NumPy numbers become Python ones), so equal configs hash equally.
    return json.loads(json.dumps(out, default=_json_default))


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


def config_key(config: Mapping[str, Any]) -> str:
    """A short hash naming a config (the cache file's name): equal configs, equal keys.

    Examples
    --------
    >>> config_key({"lr": 0.1}) == config_key({"lr": 0.1, "seed": 0})  # defaults filled in
    True
    """
    text = json.dumps(normalize(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


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
