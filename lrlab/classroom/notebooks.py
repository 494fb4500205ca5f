"""Student copies of the chapters, with the worked solutions removed.

Each chapter's exercises are ``{exercise}`` directives; their solutions run from a
markdown cell opening ``{solution-start}`` to one holding ``{solution-end}``, with the
solution's own markdown and code cells in between (including the hidden ``assert`` cells
that check the solution's numbers). :func:`strip_solutions` drops every cell of every
solution (the exercises and their self-check cells stay), and clears all outputs, so that
a student notebook shows the questions but none of the answers. It refuses to write a
copy that could not run: a kept cell that uses a name only a solution defines would fail
with a ``NameError`` in the student's notebook.

From the command line::

    lrlab student book/*.ipynb --out student/
"""

from __future__ import annotations

import ast
import builtins
import copy
import json
from collections.abc import Iterable
from pathlib import Path

__all__ = ["solution_only_names", "strip_solutions", "write_student_notebooks"]

_START, _END = "{solution-start}", "{solution-end}"


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _python(cell: dict) -> ast.Module | None:
    """The cell's code as an AST, IPython magics and shell lines left out (None if invalid)."""
    lines = [
        line for line in _source(cell).splitlines() if not line.lstrip().startswith(("%", "!"))
    ]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Names a cell binds (assignments, imports, definitions, arguments) and names it reads."""
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound, read


def _solution_cells(notebook: dict, name: str) -> list[bool]:
    """For each cell, whether it belongs to a solution (markers included)."""
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise TypeError(
            f"notebook must be a notebook's JSON (a dict with 'cells'), got {notebook!r:.80}"
        )
    inside, opened_at = [], None
    for index, cell in enumerate(notebook["cells"]):
        text = _source(cell) if cell.get("cell_type") == "markdown" else ""
        if _START in text:
            if opened_at is not None:
                raise ValueError(
                    f"{name}: cell {index} opens a solution inside the one opened "
                    f"at cell {opened_at}"
                )
            opened_at = index
        if opened_at is None and _END in text:
            raise ValueError(f"{name}: cell {index} closes a solution that was never opened")
        inside.append(opened_at is not None)
        if opened_at is not None and _END in text:
            opened_at = None
    if opened_at is not None:
        raise ValueError(f"{name}: the solution opened at cell {opened_at} is never closed")
    return inside


def solution_only_names(notebook: dict, name: str = "notebook") -> dict[int, list[str]]:
    """The names each kept cell reads that only solution cells define.

    A student copy runs every cell outside the solutions. A kept cell that reads a name
    defined only inside a solution (a hidden ``assert`` left after its solution, say)
    fails there with a ``NameError``. Code is read statically (``ast``), so names made
    by ``exec`` or by IPython magics are not seen.

    Parameters
    ----------
    notebook : dict
        The notebook, as ``json.load`` reads it.
    name : str
        How to call the notebook in error messages.

    Returns
    -------
    dict
        ``{cell index: sorted names}`` for every kept code cell with such names; empty
        when the student copy has none.

    Examples
    --------
    >>> nb = {"cells": [
    ...     {"cell_type": "markdown", "source": "```{solution-start} q\\n```"},
    ...     {"cell_type": "code", "source": "answer = 42"},
    ...     {"cell_type": "markdown", "source": "```{solution-end}\\n```"},
    ...     {"cell_type": "code", "source": "assert answer == 42"},
    ... ]}
    >>> solution_only_names(nb)
    {3: ['answer']}
    """
    inside = _solution_cells(notebook, name)
    in_solutions, in_kept, reads = set(), set(), {}
    for index, (cell, removed) in enumerate(zip(notebook["cells"], inside, strict=True)):
        if cell.get("cell_type") != "code" or (tree := _python(cell)) is None:
            continue
        bound, read = _names(tree)
        if removed:
            in_solutions |= bound
        else:
            in_kept |= bound
            reads[index] = read
    missing = in_solutions - in_kept - set(dir(builtins))
    return {i: sorted(read & missing) for i, read in reads.items() if read & missing}


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
        If a solution is opened and never closed, or closed without being opened; or if
        a kept cell reads a name that only a solution defines (see
        :func:`solution_only_names`), so that the student copy would not run.

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
    inside = _solution_cells(notebook, name)
    broken = solution_only_names(notebook, name)
    if broken:
        where = "; ".join(f"cell {i}: {', '.join(names)}" for i, names in broken.items())
        raise ValueError(
            f"{name}: cells outside the solutions read names that only a solution defines "
            f"({where}); move those cells inside their solution block"
        )
    student = copy.deepcopy(notebook)
    kept = []
    for cell, removed in zip(student["cells"], inside, strict=True):
        if removed:
            continue
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        kept.append(cell)
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
