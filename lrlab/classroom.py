"""For instructors: student copies of the chapters, with the worked solutions removed.

Each chapter's exercises are ``{exercise}`` directives; their solutions run from a
markdown cell opening ``{solution-start}`` to one holding ``{solution-end}``, with the
solution's own markdown and code cells in between. :func:`strip_solutions` drops every
cell of every solution (the exercises stay), and clears all outputs, so that a student
notebook shows the questions but none of the answers.

From the command line::

    lrlab student book/*.ipynb --out student/
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path

__all__ = ["strip_solutions", "write_student_notebooks"]

_START, _END = "{solution-start}", "{solution-end}"


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def strip_solutions(notebook: dict, name: str = "notebook") -> dict:
    """Return a copy of a notebook (nbformat 4 JSON) without solutions or outputs.

    Parameters
    ----------
    notebook : dict
        The notebook, as ``json.load`` reads it.
    name : str
        How to call the notebook in error messages.

    Returns
    -------
    dict
        The student version: every cell from a ``{solution-start}`` markdown cell to the
        next ``{solution-end}`` cell (both included) removed, code outputs and execution
        counts cleared.

    Raises
    ------
    ValueError
        If a solution is opened and never closed, or closed without being opened.

    Examples
    --------
    >>> nb = {"cells": [
    ...     {"cell_type": "markdown", "source": "```{exercise} Q\\n:label: q\\n```"},
    ...     {"cell_type": "markdown", "source": "```{solution-start} q\\n```"},
    ...     {"cell_type": "code", "source": "answer = 42", "outputs": []},
    ...     {"cell_type": "markdown", "source": "```{solution-end}\\n```"},
    ... ]}
    >>> [c["source"][:13] for c in strip_solutions(nb)["cells"]]
    ['```{exercise}']
    """
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise TypeError(
            f"notebook must be a notebook's JSON (a dict with 'cells'), got {notebook!r:.80}"
        )
    student = copy.deepcopy(notebook)
    kept, opened_at = [], None
    for index, cell in enumerate(student["cells"]):
        text = _source(cell) if cell.get("cell_type") == "markdown" else ""
        if _START in text:
            if opened_at is not None:
                raise ValueError(
                    f"{name}: cell {index} opens a solution inside the one opened "
                    f"at cell {opened_at}"
                )
            opened_at = index
        if opened_at is None:
            if _END in text:
                raise ValueError(f"{name}: cell {index} closes a solution that was never opened")
            if cell.get("cell_type") == "code":
                cell["outputs"], cell["execution_count"] = [], None
            kept.append(cell)
        elif _END in text:
            opened_at = None
    if opened_at is not None:
        raise ValueError(f"{name}: the solution opened at cell {opened_at} is never closed")
    student["cells"] = kept
    return student


def write_student_notebooks(paths: Iterable[str | Path], out_dir: str | Path) -> list[Path]:
    """Write the student version of each notebook into ``out_dir`` (same file names).

    Parameters
    ----------
    paths : iterable of path
        Chapter notebooks (``.ipynb``).
    out_dir : path
        Folder for the student copies; created if missing. It must not be the folder a
        notebook comes from, so that no chapter is overwritten.

    Returns
    -------
    list of Path
        The files written.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("paths must name at least one notebook, got none")
    out_dir = Path(out_dir)
    for path in paths:
        if path.suffix != ".ipynb" or not path.is_file():
            raise ValueError(f"paths must be existing .ipynb files, got {str(path)!r}")
        if path.resolve().parent == out_dir.resolve():
            raise ValueError(
                f"out_dir must differ from the notebooks' folder, got {str(out_dir)!r}"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        student = strip_solutions(json.loads(path.read_text()), name=str(path))
        target = out_dir / path.name
        target.write_text(json.dumps(student, indent=1, ensure_ascii=False) + "\n")
        written.append(target)
    return written
