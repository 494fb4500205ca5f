"""The book's experiments in one registry, each at a CPU scale and at the paper's scale.

Every :class:`Experiment` has two configurations: ``"cpu"`` (MNIST-1D or the digits,
minutes on two cores) and ``"paper"`` (CIFAR-10/100 with the paper's network, schedule
and epochs, for a GPU). :func:`run` runs one and stores its result with provenance as
``<results folder>/<result_name(name, scale)>.json`` (:mod:`lrlab.results`), where a
chapter finds it with :func:`load` or :func:`lrlab.results.load_or_run`
(:func:`load_or_run` here passes the right file stem and configs).
``lrlab reproduce --list`` prints :func:`describe`;
``lrlab reproduce NAME --scale cpu|paper [--engine ray]`` calls :func:`run`.

One CPU-scale result per experiment: where a chapter runs an experiment itself (an entry
with a :class:`Chapter`), the CPU scale *is* the chapter module's experiment function on the
chapter's configuration, stored under the chapter's results name (:func:`result_name`), so
``lrlab reproduce sgdr --scale cpu`` rewrites exactly the file ``book/restarts.ipynb``
loads. The paper scale runs one of three ways (:attr:`Experiment.kind`):

- ``"sweep"``: a grid of training runs (:mod:`lrlab.sweep`; any engine); the result holds
  every run's record and the per-(schedule, rate) summary over seeds;
- ``"range_test"``: the LR range test over seeds (:func:`lrlab.lrfind.run_config`);
- ``"chapter"``: the chapter's experiment function on the paper's data and network.

>>> "seong-peak" in names()
True
>>> result_name("sgdr", "cpu"), get("sgdr").config("cpu")["dataset"]
('restarts_sgdr_mnist1d', 'mnist1d')
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from lrlab.reproduce.registry import (
    REGISTRY,
    SCALES,
    TRAIN_EXAMPLES,
    Chapter,
    Experiment,
    check_scale,
    resolve,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "REGISTRY",
    "SCALES",
    "TRAIN_EXAMPLES",
    "Chapter",
    "Experiment",
    "cost_note",
    "describe",
    "get",
    "load",
    "load_or_run",
    "names",
    "resolve",
    "result_name",
    "run",
    "smoke_config",
    "stored",
]

# Smoke tests (smoke_config): few steps on small batches, one run per distinct setting.
_SMOKE_STEPS = 2
_SMOKE_BATCH = 2


def names() -> list[str]:
    """The registered experiments' names, in the book's order."""
    return list(REGISTRY)


def get(name: str) -> Experiment:
    """The experiment called ``name``; a ValueError lists the known ones."""
    if name not in REGISTRY:
        raise ValueError(f"experiment must be one of {names()}, got {name!r}")
    return REGISTRY[name]


def describe() -> str:
    """A readable list of the experiments: claim, both scales' size, what each needs.

    Examples
    --------
    >>> print(describe().splitlines()[0])
    seong-peak: Step decay vs Gaussian and Laplacian peak schedules (Seong et al. 2018)
    """
    blocks = []
    for exp in REGISTRY.values():
        lines = [f"{exp.name}: {exp.title}", f"  claim: {exp.claim}"]
        for scale in SCALES:
            if exp.delegated(scale):
                what = "the chapter's experiment" if scale == "cpu" else "the same experiment"
                work = exp.work(scale)
                size = "" if work is None else f", {work:,} training examples processed"
                lines.append(
                    f"  {scale}: {what}, {exp.chapter.runner}, "
                    f"stored as {result_name(exp.name, scale)}.json{size}"
                )
                continue
            cfg = exp.config(scale)
            data = _data_names(exp, cfg)
            lines.append(
                f"  {scale}: {exp.runs(scale)} runs on {data}, "
                f"{exp.work(scale):,} training examples processed"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _data_names(exp: Experiment, config: dict) -> str:
    if exp.kind == "sweep":
        from lrlab import sweep

        return "/".join(dict.fromkeys(c["data"] for c in sweep.expand(config["grid"])))
    return config["test"]["dataset"]


def cost_note(name: str, images_per_s: float | None = None) -> str:
    """How to run an experiment at the paper's scale and what it costs, in one sentence.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    images_per_s : float, optional
        Training throughput of the GPU (``lrlab bench train`` measures it); with it the
        sentence adds the GPU time, ``work / images_per_s``.

    Examples
    --------
    >>> print(cost_note("clr", images_per_s=50_000))  # doctest: +NORMALIZE_WHITESPACE
    `lrlab reproduce clr --scale paper`: 6 runs, 28,500,000 training images;
    at 50,000 images/s, 0.2 GPU-hours.
    """
    exp = get(name)
    work = exp.work("paper")
    if exp.delegated("paper"):
        text = (
            f"`lrlab reproduce {name} --scale paper`: {exp.chapter.runner} on the paper's "
            f"setting, on the GPU when there is one; {work:,} training images, the "
            "experiment's measurements on top"
        )
    else:
        text = (
            f"`lrlab reproduce {name} --scale paper`: {exp.runs('paper')} runs, "
            f"{work:,} training images"
        )
    if images_per_s is not None:
        if not images_per_s > 0:
            raise ValueError(f"images_per_s must be > 0, got {images_per_s}")
        hours = work / images_per_s / 3600
        text += f"; at {images_per_s:,.0f} images/s, {hours:.1f} GPU-hours"
        if exp.delegated("paper"):
            text += " for the training alone"
    return text + "."


def result_name(name: str, scale: str) -> str:
    """The results file stem of an experiment at a scale: the chapter's own at the CPU
    scale of an entry a chapter runs, else ``"<name>_<scale>"``.

    Examples
    --------
    >>> result_name("sgdr", "cpu"), result_name("sgdr", "paper")
    ('restarts_sgdr_mnist1d', 'sgdr_paper')
    """
    exp = get(name)
    check_scale(scale)
    if scale == "cpu" and exp.chapter is not None:
        return exp.chapter.result
    return f"{name}_{scale}"


# --- running ------------------------------------------------------------------------------


def smoke_config(name: str, scale: str) -> dict[str, Any]:
    """The scale's configuration cut down to a smoke test of its code path.

    One run per distinct (data, model, schedule), batches of 2, at most
    ``_SMOKE_STEPS`` steps each (:func:`run` with ``smoke=True`` applies the step limit
    and stores nothing). Where a chapter's experiment function runs the scale, its
    configuration with the entry's :attr:`Chapter.smoke` overrides (one seed, one epoch
    or a few steps). The data, download, checksum, model and schedule code is the real one.

    Examples
    --------
    >>> smoke_config("sgdr", "cpu")["range_test"]["num_iter"]
    30
    """
    exp = get(name)
    config = exp.config(scale)
    if exp.delegated(scale):
        for key, value in exp.chapter.smoke.get(scale, {}).items():
            merge = isinstance(value, Mapping) and isinstance(config.get(key), Mapping)
            config[key] = {**config[key], **value} if merge else copy.deepcopy(value)
        return config
    if exp.kind == "sweep":
        from lrlab import sweep

        seen: dict[tuple, dict] = {}
        for c in sweep.expand(config["grid"]):
            key = (c["data"], c["model"], sweep.schedule_label(c))
            seen.setdefault(key, {**c, "batch_size": _SMOKE_BATCH})
        return {"grid": list(seen.values())}
    test = {**config["test"], "num_iter": _SMOKE_STEPS, "batch_size": _SMOKE_BATCH}
    return {"test": test, "seeds": config["seeds"][:1]}


def _run_sweep(config, *, engine, device, data_root, cache, progress, address, resources, smoke):
    from lrlab import sweep

    records = sweep.run(
        config["grid"],
        engine=engine,
        cache=cache,
        device=device,
        data_root=data_root,
        progress=progress,
        address=address,
        resources=resources,
        max_steps=_SMOKE_STEPS if smoke else None,
    )
    return {"records": records, "summary": sweep.summary(records)}


def _run_range_test(config, *, engine, device, data_root, smoke, **_):
    from lrlab import lrfind

    if engine != "local":
        raise ValueError(f"a range test runs in-process (engine 'local'), got engine={engine!r}")
    runs, suggestions = [], {}
    for seed in config["seeds"]:
        out = lrfind.run_config({**config["test"], "seed": seed}, device=device, root=data_root)
        runs.append(out)
        for method, lr in lrfind.RangeTestResult.from_dict(out).suggestions().items():
            suggestions.setdefault(method, []).append(lr)
    return {"runs": runs, "suggestions": suggestions}


def _run_chapter(exp: Experiment, config, *, engine, device, data_root, **_):
    """The chapter module's own experiment function, in-process on ``device``; on the CPU
    with one thread, as the chapter ran it (its results then do not depend on the
    machine's core count)."""
    import torch

    if engine != "local":
        raise ValueError(f"{exp.name} runs in-process (engine 'local'), got engine={engine!r}")
    threads = torch.get_num_threads()
    if torch.device(device).type == "cpu":
        torch.set_num_threads(1)
    try:
        return resolve(exp.chapter.runner)(config, device=device, data_root=data_root)
    finally:
        torch.set_num_threads(threads)


def _device(exp: Experiment, scale: str, device) -> torch.device:
    """The device a run uses: the one asked for, else the CPU where the chapter's own
    experiment runs its CPU scale (so that ``lrlab reproduce NAME --scale cpu`` rewrites the
    chapter's result as the chapter computed it), else :func:`lrlab.device`."""
    import torch

    import lrlab

    if device is not None:
        return torch.device(device)
    return torch.device("cpu") if exp.delegated(scale) and scale == "cpu" else lrlab.device()


def _runner(exp: Experiment, scale: str) -> Callable[..., dict]:
    if exp.delegated(scale):
        return lambda config, **options: _run_chapter(exp, config, **options)
    return _run_sweep if exp.kind == "sweep" else _run_range_test


def _devices(result: dict, fallback: str) -> str:
    """The devices the runs of a result ran on (each sweep record names its own)."""
    found = {
        r["result"]["provenance"]["device"]
        for r in result.get("records", [])
        if r["result"].get("provenance")
    }
    return ", ".join(sorted(found)) if found else fallback


def run(
    name: str,
    scale: str = "cpu",
    *,
    engine: str = "local",
    device=None,
    data_root: str | os.PathLike = "data/cache",
    cache: str | os.PathLike | None = "data/cache/sweeps",
    root: str | os.PathLike | None = None,
    progress: bool = True,
    address: str | None = None,
    resources: Mapping[str, float] | None = None,
    command: str | None = None,
    smoke: bool = False,
) -> dict[str, Any]:
    """Run an experiment at a scale and store its result with provenance.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    scale : {"cpu", "paper"}
    engine : {"local", "ray"}
        For sweep experiments (see :func:`lrlab.sweep.run`); the others run in-process.
    device : torch.device or str, optional
        Where the runs train. By default :func:`lrlab.device` (a GPU when there is one),
        except at the CPU scale of an entry whose chapter runs it (:meth:`Experiment.delegated`):
        that runs on the CPU with one thread, as the chapter did, and is stored under the
        chapter's results name (:func:`result_name`), where the chapter loads it.
    data_root, cache, progress, address, resources
        As in :func:`lrlab.sweep.run` (the chapter's experiment functions take ``data_root``
        and ignore the rest).
    root : path, optional
        Results folder (:func:`lrlab.results.results_root` by default).
    command : str, optional
        Recorded in the provenance (the ``lrlab reproduce`` command line).
    smoke : bool
        Run :func:`smoke_config` for a few steps instead, and store nothing: a test that
        the code path works end to end (a smoke run's numbers are no result).

    Returns
    -------
    dict
        The stored record (:func:`lrlab.results.load`); with ``smoke``, the unstored
        ``{"name", "config", "result", "smoke": True}``.
    """
    import lrlab
    from lrlab import results

    exp = get(name)
    check_scale(scale)
    config = smoke_config(name, scale) if smoke else exp.config(scale)
    device = _device(exp, scale, device)
    start = time.perf_counter()
    result = _runner(exp, scale)(
        config,
        engine=engine,
        device=device,
        data_root=data_root,
        cache=cache,
        progress=progress,
        address=address,
        resources=resources,
        smoke=smoke,
    )
    wall = time.perf_counter() - start
    if smoke:
        return {"name": name, "config": config, "result": result, "smoke": True}
    local = lrlab.device_name(device)
    path = results.save(
        result_name(name, scale),
        result,
        config,
        command=command,
        device=_devices(result, local),
        wall_time_s=wall,
        root=root,
    )
    print(f"wrote {path} ({wall:.0f} s)")
    return results.load(result_name(name, scale), root=root)


def load(name: str, scale: str = "cpu", *, root=None) -> dict[str, Any]:
    """The stored result of an experiment at a scale (see :func:`lrlab.results.load`)."""
    from lrlab import results

    return results.load(result_name(name, scale), root=root)


def stored(name: str, scale: str, *, root=None) -> dict[str, Any] | None:
    """The stored result if one exists for exactly the registry's configuration, else None.

    Examples
    --------
    >>> import tempfile
    >>> stored("sgdr", "paper", root=tempfile.mkdtemp()) is None
    True
    """
    try:
        record = load(name, scale, root=root)
    except FileNotFoundError:
        return None
    # As the config reads back from JSON (tuples become lists).
    wanted = json.loads(json.dumps(get(name).config(scale)))
    return record if record["config"] == wanted else None


def load_or_run(name: str, scale: str = "cpu", *, root=None, **options) -> dict[str, Any]:
    """:func:`lrlab.results.load_or_run` for a registry entry, as its chapter calls it.

    At the CPU scale: the stored result if one matches the configuration, else a run of
    the small variant (the chapter's own, where a chapter runs the entry), not stored.
    At the paper scale: the stored paper-scale result if one matches, else (said so) the
    CPU scale's.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    scale : {"cpu", "paper"}
    root : path, optional
        Results folder (:func:`lrlab.results.results_root` by default).
    **options
        Passed to the runner of a fallback run (``device``, ``data_root`` ...).

    Returns
    -------
    dict
        As :func:`lrlab.results.load_or_run`, with ``"scale"``: the scale of the result.
    """
    from lrlab import results

    exp = get(name)
    check_scale(scale)
    if scale == "paper":
        record = stored(name, "paper", root=root)
        if record is not None:
            print(f"Loaded the stored paper-scale result of {name}.")
            return {**record, "source": "stored", "scale": "paper"}
        print(f"No stored paper-scale result of {name}: the CPU scale instead.")
        return load_or_run(name, "cpu", root=root, **options)
    runner = _runner(exp, "cpu")
    defaults = {
        "engine": "local",
        "device": None,
        "data_root": "data/cache",
        "cache": None,
        "progress": False,
        "address": None,
        "resources": None,
        "smoke": False,
        **options,
    }
    defaults["device"] = _device(exp, "cpu", defaults["device"])
    small = resolve(exp.chapter.small) if exp.chapter is not None else exp.config("cpu")
    record = results.load_or_run(
        result_name(name, "cpu"),
        exp.config("cpu"),
        lambda config: runner(config, **defaults),
        small,
        root=root,
    )
    return {**record, "scale": "cpu"}
