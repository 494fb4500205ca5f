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
  ``{"cpu": 1, "gpu": 0.25}`` (four small runs share one GPU). Same results;
- ``"vmap"``: in this process, the configs that differ only in seed, rate and schedule
  trained at once, their models stacked with ``torch.func`` (:mod:`~lrlab.sweep.vmap`:
  SGD in fp32, models without BatchNorm or dropout, digits and MNIST-1D; anything else
  is refused before any work). The same results up to float rounding; it pays where one
  tiny model leaves the device idle (``benchmarks/sweep_vmap.py`` measures it).

:func:`table` and :func:`plot` gather the records (accuracy against the rate, one line
per schedule, the seeds' spread as a band). The package holds one file per idea:
:mod:`~lrlab.sweep.grid` (grids, configs, schedules), :mod:`~lrlab.sweep.engines` (running),
:mod:`~lrlab.sweep.vmap` (the stacked engine) and :mod:`~lrlab.sweep.gather` (tables and plots).

A schedule is named by a factory of :mod:`lrlab.schedules` with its parameters, and
built by :func:`lrlab.schedules.from_spec`, as on the command line: the run's ``lr`` fills
the factory's ``lr`` (or ``max_lr``), ``total_steps`` defaults to the run's length,
``<rate>_ratio`` gives a rate parameter as a multiple of ``lr`` (``"min_lr_ratio": 0.01``),
``"unit": "epoch"`` counts step parameters (``milestones``, ``first_cycle``,
``step_size`` ...) in epochs, and ``warmup_steps`` prepends a linear warm-up to a schedule
without one of its own (``{"name": "cosine", "warmup_steps": 2, "unit": "epoch"}``).

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

from lrlab.sweep.engines import ENGINES, run, run_one
from lrlab.sweep.gather import plot, summary, summary_table, table
from lrlab.sweep.grid import (
    DEFAULTS,
    config_key,
    expand,
    load_grid,
    make_schedule,
    normalize,
    schedule_label,
)

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
    "schedule_label",
    "summary",
    "summary_table",
    "table",
]
