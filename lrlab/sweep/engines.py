"""Running configs: :func:`run_one` (one run, pure), :func:`run` (a grid, cached, in-process,
on Ray Tune, or stacked with ``torch.func`` by :mod:`lrlab.sweep.vmap`)."""

from __future__ import annotations

import json
import os
import shlex
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrlab import _check
from lrlab._io import atomic_write, decode, encode, read_json
from lrlab.sweep.grid import (
    check,
    config_key,
    dataset,
    expand,
    identity,
    make_schedule,
    normalize,
    run_options,
    train_examples,
)

__all__ = ["ENGINES", "Plan", "StopAfter", "run", "run_one"]

ENGINES = ("local", "ray", "vmap")


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
    if max_steps is not None:
        max_steps = _check.integer("max_steps", max_steps, minimum=1)
    device = torch.device(device) if device is not None else lrlab.device()
    data = dataset(config["data"], data_root, device)
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
        run_options(config),
        progress=progress,
        callbacks=[] if max_steps is None else [StopAfter(max_steps)],
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


def _device(device):
    """The device the local engines train on: ``device``, else :func:`lrlab.device`."""
    import torch

    import lrlab

    return torch.device(device) if device is not None else lrlab.device()


class StopAfter:
    """A ``fit`` callback ending the run after ``steps`` optimizer steps."""

    def __init__(self, steps: int):
        self.steps = steps

    def __call__(self, model, step, history) -> None:
        from lrlab.train import StopTraining

        if step + 1 >= self.steps:
            raise StopTraining


# --- many runs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What a sweep is about to do, known before its first run (see ``confirm`` of
    :func:`run`): its runs, those already cached, and the training examples the others
    will go through (epochs times the training split, :func:`~lrlab.sweep.grid.train_examples`).

    Examples
    --------
    >>> str(Plan(runs=60, cached=12, examples=64_656))
    '60 runs, 12 cached, about 64,656 training examples'
    """

    runs: int
    cached: int
    examples: int

    def __str__(self) -> str:
        return f"{self.runs} runs, {self.cached} cached, about {self.examples:,} training examples"


def _cached(cache: Path | None, key: str, config: dict) -> dict | None:
    """The cached result of ``config``, or None; a damaged entry, or one made by another
    lrlab version, is a miss (with a warning naming the file): its config runs again."""
    import lrlab

    path = cache / f"{key}.json" if cache is not None else None
    if path is None or not path.is_file():
        return None
    try:
        record = read_json(path, "cache entry")
        result = record["result"]
        stored, version = record["config"], result["provenance"]["lrlab_version"]
    except (ValueError, KeyError, TypeError) as err:
        # Entries are written atomically: a damaged one is foreign, or its disk failed.
        if isinstance(err, ValueError):
            reason = str(err)
        elif isinstance(err, KeyError):
            reason = f"{path}: cache entry is damaged: it lacks {err}"
        else:
            reason = f"{path}: cache entry is damaged: it is no record"
        warnings.warn(f"{reason}; running its config again", RuntimeWarning, stacklevel=3)
        return None
    if not isinstance(stored, dict) or identity(stored) != identity(config):
        return None  # another config's entry under this name: not trusted
    if version != lrlab.__version__:
        warnings.warn(
            f"{path}: cache entry made by lrlab {version}, this is lrlab "
            f"{lrlab.__version__}; running its config again",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return result


def _store(cache: Path | None, key: str, config: dict, result: dict) -> None:
    if cache is not None:
        text = json.dumps(encode({"key": key, "config": config, "result": result}), allow_nan=False)
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
    confirm: Callable[[Plan], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every config of a grid (those not cached yet) and return all their records.

    Parameters
    ----------
    grid : mapping or sequence of mappings
        See :func:`expand`.
    engine : {"local", "ray", "vmap"}
        ``"local"``: in this process, one after the other. ``"ray"``: trials of Ray Tune
        (``pip install 'lrlab[sweep]'``), same results. ``"vmap"``: in this process, the
        configs that differ only in seed, lr and schedule trained at once as one stack
        of models with ``torch.func`` (:mod:`lrlab.sweep.vmap`; SGD, fp32, models
        without BatchNorm or dropout, digits and MNIST-1D); same results up to float
        rounding, ``wall_time_s`` is the stack's time divided by its size.
    cache : path or None
        Folder of one ``<config_key>.json`` per finished run (written atomically as each
        run ends); runs found there are not run again. ``None`` caches nothing.
    device : torch.device or str, optional
        Device of the local engine (``lrlab.device()`` by default). Ray trials use the
        GPU Ray gives them when ``resources`` asks for one, else the CPU.
    data_root : path
        Data folder (CIFAR, MNIST-1D).
    progress : bool
        A progress bar over the grid (local engine) or the stacks' epochs (vmap engine).
    address : str, optional
        Ray cluster to connect to (``"ray://head:10001"``, ``"auto"``); by default
        ``RAY_ADDRESS`` if set, else a new local instance.
    resources : mapping, optional
        Per Ray trial, e.g. ``{"cpu": 1, "gpu": 0.25}``; default ``{"cpu": 1}``.
    max_steps : int, optional
        Smoke test: stop every run after this many steps (local and vmap engines); nothing
        is read from or written to the cache.
    confirm : callable, optional
        ``confirm(plan)`` with the sweep's :class:`Plan`, called after every config is
        checked (:func:`~lrlab.sweep.grid.check`) and the cache read, before the first run;
        it may raise to stop the sweep (the command line asks for ``--yes`` there).

    Returns
    -------
    list of dict
        One ``{"key", "config", "result"}`` per config, in grid order (``result`` as
        :func:`run_one` returns it).

    Notes
    -----
    A run that diverges is a result (``diverged`` true, its final metrics those of its
    last finished epoch, ``None`` if it diverged in its first), cached like any other. A
    cache entry that cannot be read (truncated, empty, not JSON), or that another lrlab
    version made, is run again, with a warning naming the file. Every record is stored
    with non-finite numbers as the strings ``"nan"``, ``"inf"``, ``"-inf"``
    (:mod:`lrlab.results`' codec) and read back as floats.
    """
    _check.choice("engine", engine, ENGINES)
    configs = expand(grid)
    if max_steps is not None:
        if engine == "ray":
            raise ValueError("max_steps (a smoke test) runs with engine='local' or 'vmap' only")
        cache = None  # a cut-short run is not the config's result
    check(configs, device=None if engine == "ray" else _device(device))
    keys = [config_key(c) for c in configs]
    cache = Path(cache) if cache is not None else None
    done = {k: r for k, c in zip(keys, configs, strict=True) if (r := _cached(cache, k, c))}
    todo = {k: c for k, c in zip(keys, configs, strict=True) if k not in done}
    if confirm is not None:
        confirm(Plan(len(keys), len(done), sum(train_examples(c) for c in todo.values())))
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
    elif engine == "vmap" and todo:
        from lrlab.sweep.vmap import run_stacks

        stacked = run_stacks(
            todo,
            device=device,
            data_root=data_root,
            command=command,
            progress=progress,
            max_steps=max_steps,
        )
        for key, result in stacked:
            done[key] = result
            _store(cache, key, todo[key], result)
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
    return {"result_json": json.dumps(encode(result), allow_nan=False)}


#: Seconds to wait for a Ray cluster's address to accept a connection.
RAY_CONNECT_TIMEOUT_S = 10.0
#: Ray reads this when it is imported: "0" is its single-machine mode (as on macOS and
#: Windows), in which every process of a local instance listens on 127.0.0.1 only
#: (measured with Ray 2.60: without it, its servers listen on every interface).
_RAY_SINGLE_MACHINE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _ray_endpoint(address: str) -> tuple[str, int] | None:
    """The host and port an address names (``ray://host:port``, ``host:port``,
    ``[v6]:port``), or None for ``auto``/``local`` and addresses without a port."""
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def _check_reachable(address: str, timeout: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """Raise ConnectionError unless something accepts a TCP connection at ``address``
    within ``timeout`` seconds (Ray's own connect waits minutes)."""
    import socket

    endpoint = _ray_endpoint(address)
    if endpoint is None:
        return
    try:
        socket.create_connection(endpoint, timeout=timeout).close()
    except OSError as err:
        raise ConnectionError(
            f"no Ray cluster answers at {address} (waited {timeout:g} s: "
            f"{getattr(err, 'strerror', None) or err}); start one with `ray start --head`, "
            "or check the address and the firewall"
        ) from None


def _run_ray(todo: dict, address, resources, data_root, command) -> dict[str, dict]:
    import logging
    import tempfile

    resources = dict(resources or {"cpu": 1})
    unknown = sorted(set(resources) - {"cpu", "gpu"})
    if unknown or not all(v >= 0 for v in resources.values()):
        raise ValueError(f"resources must map 'cpu'/'gpu' to numbers >= 0, got {resources}")
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is not None:
        _check_reachable(address)
    elif "ray" not in sys.modules:
        os.environ.setdefault(_RAY_SINGLE_MACHINE, "0")  # a local instance on 127.0.0.1
    try:
        import ray
        from ray import tune
    except ImportError:
        raise ImportError("engine='ray' needs Ray Tune: pip install 'lrlab[sweep]'") from None
    # Quiet: no dashboard, no worker output forwarded, no Tune progress tables.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            configure_logging=True,
        )
        if address is None and ray.util.get_node_ip_address() not in ("127.0.0.1", "::1"):
            warnings.warn(
                "the local Ray instance listens on every network interface (Ray was "
                f"imported before lrlab could set {_RAY_SINGLE_MACHINE}=0); Ray has no "
                "authentication: see https://docs.ray.io/en/latest/ray-security/index.html",
                RuntimeWarning,
                stacklevel=3,
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
                out[trial.config["trial"]["key"]] = decode(json.loads(trial.metrics["result_json"]))
    finally:
        if started_here:
            ray.shutdown()
    return out
