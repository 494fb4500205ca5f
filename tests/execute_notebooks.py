"""Execute notebooks top to bottom, two at a time, and keep what they computed.

``make test`` runs every chapter once with this script (and every student copy once), the
way nbval's lax mode did: a notebook passes when every cell runs without an error, the
hidden assert cells included; nothing is compared against stored outputs (the chapters
are committed without any). With ``--cache DIR`` each chapter is executed as the book build
would execute it (explorers as static scrubbers) and stored in a jupyter-cache at DIR, keyed
by its code cells, where the book build (``execute_notebooks: cache`` with that folder) finds
it instead of running the chapter a second time. The cache is made afresh by every ``make
test``, so the book shows what the current code computed, never a stale run.

Usage::

    python tests/execute_notebooks.py book/*.ipynb --jobs 2 --cache _build/.jupyter_cache
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

#: The longest a chapter may run, in seconds (the book build's own limit, _config.yml).
TIMEOUT = 300


def execute(path: str, timeout: int = TIMEOUT) -> dict:
    """Run the notebook at ``path`` in a fresh kernel, in its own folder.

    Returns
    -------
    dict
        ``path``, ``seconds``, ``notebook`` (executed, as a dict) and ``error``: None, or
        the failing cell's index, source and the error's traceback, as text.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(Path(path).parent)}},
    )
    started = time.perf_counter()
    error = None
    try:
        client.execute()
    except CellExecutionError as err:
        error = str(err)
    except Exception as err:  # a dead kernel, a timeout: report it as the notebook's failure
        error = f"{type(err).__name__}: {err}"
    return {
        "path": path,
        "seconds": time.perf_counter() - started,
        "notebook": notebook,
        "error": error,
    }


def store(cache_dir: str, result: dict) -> None:
    """Put an executed notebook into the jupyter-cache at ``cache_dir``.

    What is stored is the source notebook as read, with the executed cells' outputs and
    execution counts: the cache matches a notebook by its code cells and their metadata,
    which the execution itself annotates (timings), so the annotated copy would never
    match the chapter the book build reads.
    """
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    source = nbformat.read(result["path"], as_version=4)
    executed = result["notebook"]
    for cell, done in zip(source.cells, executed.cells, strict=True):
        if cell.cell_type == "code":
            cell.outputs = done.outputs
            cell.execution_count = done.execution_count
    get_cache(cache_dir).cache_notebook_bundle(
        CacheBundleIn(
            source,
            str(Path(result["path"]).resolve()),
            data={"execution_seconds": result["seconds"]},
        ),
        check_validity=False,
        overwrite=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", help="notebooks to execute")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks at a time (default: 2)")
    parser.add_argument("--cache", default=None, help="jupyter-cache folder to store them in")
    parser.add_argument("--timeout", type=int, default=TIMEOUT, help="seconds per cell")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per kernel: two kernels, two cores
    if args.cache:
        # Executions stored for the book build run as the build's own would: explorers as
        # static scrubbers (book/_ext/lrlab_book.py sets the same for its kernels). Without
        # --cache (the student copies) the explorers run as live widgets.
        from lrlab.scrubber import EXPLORERS_ENV

        os.environ[EXPLORERS_ENV] = "static"
    started, failed = time.perf_counter(), []
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(execute, path, args.timeout) for path in args.notebooks]
        for future in as_completed(futures):
            result = future.result()
            status = "FAILED" if result["error"] else "passed"
            print(f"{result['path']}: {status} ({result['seconds']:.0f} s)", flush=True)
            if result["error"]:
                failed.append(result)
            elif args.cache:
                store(args.cache, result)
    for result in failed:
        print(f"\n=== {result['path']} ===\n{result['error']}", file=sys.stderr)
    total = time.perf_counter() - started
    print(f"{len(args.notebooks) - len(failed)} passed, {len(failed)} failed in {total:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
