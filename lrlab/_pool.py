"""Independent tasks over the cores of one machine: one process per core, one thread each.

A multi-seed experiment is many small trainings that do not talk to each other. On a CPU a
tiny network gains little from a second PyTorch thread (the threads mostly wait for each
other), but a second *process* doubles the work done. :func:`pmap` runs tasks in ``jobs``
spawned processes, each with one PyTorch thread, or in this process (one thread) when
``jobs`` is 1; either way every task computes the same numbers, because each is a function
of its own arguments (its seed among them) and runs on one thread.

>>> pmap(pow, [(2, 3), (3, 2)])
[8, 9]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from lrlab import _check

__all__ = ["cpu_seconds", "default_jobs", "pmap"]


def default_jobs() -> int:
    """The number of processes to use: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS and Windows have no affinity mask
        return max(1, os.cpu_count() or 1)


def cpu_seconds() -> float | None:
    """CPU seconds (user and system) spent so far by this process and by its child processes
    that have ended: the cost of a :func:`pmap`, whose workers are joined before it returns,
    is the difference of two readings around it, whatever the number of processes. None
    where the platform cannot tell (Windows).

    Examples
    --------
    >>> before = cpu_seconds()
    >>> _ = sum(i * i for i in range(100_000))
    >>> cpu_seconds() >= before
    True
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def pmap(
    fn: Callable[..., Any],
    tasks: Iterable[Sequence[Any]],
    *,
    jobs: int = 1,
    progress: bool = False,
    desc: str | None = None,
) -> list[Any]:
    """``[fn(*task) for task in tasks]``, in order, over ``jobs`` processes of one thread.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled by reference for the worker processes).
    tasks : iterable of sequences
        Positional arguments of each call; plain data (pickled to the workers).
    jobs : int
        Processes, >= 1. With 1 the tasks run here, one after the other, with PyTorch
        limited to one thread while they run.
    progress : bool
        A progress bar over the tasks done.
    desc : str, optional
        The bar's label.

    Returns
    -------
    list
        The results in the order of ``tasks``. The first task to raise stops the map and
        its exception is raised here.
    """
    import torch
    from tqdm.auto import tqdm

    jobs = _check.integer("jobs", jobs, minimum=1)
    tasks = [tuple(task) for task in tasks]
    bar = tqdm(total=len(tasks), disable=not progress, desc=desc, unit="run")
    try:
        if jobs == 1 or len(tasks) <= 1:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                out = []
                for task in tasks:
                    out.append(fn(*task))
                    bar.update()
                return out
            finally:
                torch.set_num_threads(threads)
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from multiprocessing import get_context

        workers = min(jobs, len(tasks))
        with ProcessPoolExecutor(
            workers, mp_context=get_context("spawn"), initializer=_one_thread
        ) as pool:
            futures = [pool.submit(fn, *task) for task in tasks]
            for future in as_completed(futures):
                future.result()  # the first failure stops the map
                bar.update()
            return [future.result() for future in futures]
    finally:
        bar.close()
