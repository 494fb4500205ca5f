"""Student copies of the chapters, with the worked solutions removed.

Each chapter's exercises are ``{exercise}`` directives; their solutions run from a
``{solution-start}`` directive to a ``{solution-end}`` one, with the solution's own
markdown and code cells in between (including the hidden ``assert`` cells that check the
solution's numbers). :func:`strip_solutions` drops every solution (the exercises and their
self-check cells stay; markdown that shares a cell with a marker, such as the next
exercise after a ``{solution-end}``, is kept), and clears all outputs, so that a student
notebook shows the questions but none of the answers. It refuses to write a
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
import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["solution_only_names", "strip_solutions", "write_student_notebooks"]

_START, _END = "{solution-start}", "{solution-end}"
#: A marker directive's opening line: a fence of backticks or colons, then the marker.
_MARKER = re.compile(
    r"^[ \t]*(?P<fence>`{3,}|:{3,})\{(?P<kind>solution-start|solution-end)\}.*$", re.M
)


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


def _partition(notebook: dict, name: str) -> list[dict | None]:
    """Each cell as the student copy has it: unchanged, without its solution text, or None.

    A code cell is kept or dropped whole; a markdown cell keeps the text outside solutions
    (before a ``{solution-start}`` directive, after a ``{solution-end}`` directive's fence).
    """
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise TypeError(
            f"{name}: notebook must be a notebook's JSON (a dict with 'cells'), "
            f"got {notebook!r:.80}"
        )
    for index, cell in enumerate(notebook["cells"]):
        source = cell.get("source", "") if isinstance(cell, dict) else None
        text = isinstance(source, str) or (
            isinstance(source, list) and all(isinstance(line, str) for line in source)
        )
        if not text or not isinstance(cell.get("cell_type"), str):
            raise ValueError(
                f"{name}: cell {index} is not a notebook cell (a mapping with a "
                f"'cell_type' and a text 'source'), got {cell!r:.80}"
            )
    parts, opened_at = [], None
    for index, cell in enumerate(notebook["cells"]):
        if cell.get("cell_type") != "markdown":
            parts.append(cell if opened_at is None else None)
            continue
        text, kept, position = _source(cell), [], 0
        for marker in _MARKER.finditer(text):
            fence = re.compile(rf"^[ \t]*{re.escape(marker['fence'])}[ \t]*$", re.M)
            closing = fence.search(text, marker.end())
            end = closing.end() if closing else len(text)
            if marker["kind"] == "solution-start":
                if opened_at is not None:
                    raise ValueError(
                        f"{name}: cell {index} opens a solution inside the one opened "
                        f"at cell {opened_at}"
                    )
                kept.append(text[position : marker.start()])
                opened_at = index
            else:
                if opened_at is None:
                    raise ValueError(
                        f"{name}: cell {index} closes a solution that was never opened"
                    )
                opened_at = None
            position = end
        if opened_at is None:
            kept.append(text[position:])
        outside = "".join(kept).strip("\n")
        if position == 0:  # no marker: the cell is kept or dropped whole
            parts.append(cell if opened_at is None else None)
        else:
            parts.append({**cell, "source": outside} if outside.strip() else None)
    if opened_at is not None:
        raise ValueError(f"{name}: the solution opened at cell {opened_at} is never closed")
    return parts


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
    parts = _partition(notebook, name)
    in_solutions, in_kept, reads = set(), set(), {}
    for index, (cell, part) in enumerate(zip(notebook["cells"], parts, strict=True)):
        if cell.get("cell_type") != "code" or (tree := _python(cell)) is None:
            continue
        bound, read = _names(tree)
        if part is None:
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
        The student version: everything from a ``{solution-start}`` directive to the next
        ``{solution-end}`` directive (both included) removed, cells that are left empty
        dropped, code outputs and execution counts cleared.

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
    parts = _partition(notebook, name)
    broken = solution_only_names(notebook, name)
    if broken:
        where = "; ".join(f"cell {i}: {', '.join(names)}" for i, names in broken.items())
        raise ValueError(
            f"{name}: cells outside the solutions read names that only a solution defines "
            f"({where}); move those cells inside their solution block"
        )
    student = copy.deepcopy({**notebook, "cells": [p for p in parts if p is not None]})
    for cell in student["cells"]:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return student


def write_student_notebooks(paths: Iterable[str | Path], out_dir: str | Path) -> list[Path]:
    """Write the student version of each notebook into ``out_dir`` (same file names).

    Every notebook is read and stripped before any is written, so that one that fails
    (not JSON, not a notebook, a solution left open) leaves ``out_dir`` as it was; each
    copy is then written atomically. Every error names the file.

    Parameters
    ----------
    paths : iterable of path
        Chapter notebooks (``.ipynb``), with distinct file names.
    out_dir : path
        Folder for the student copies; created if missing. It must not be the folder a
        notebook comes from, so that no chapter is overwritten.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    ValueError
        For a path that is no ``.ipynb`` file, two notebooks of one file name (their
        copies would overwrite each other), ``out_dir`` among the notebooks' folders, a
        file that is not a notebook, or a notebook :func:`strip_solutions` refuses.
    """
    from lrlab._io import atomic_write, writable_folder

    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("paths must name at least one notebook, got none")
    out_dir = Path(out_dir)
    by_name: dict[str, Path] = {}
    for path in paths:
        if path.suffix != ".ipynb" or not path.is_file():
            raise ValueError(f"paths must be existing .ipynb files, got {str(path)!r}")
        if path.resolve().parent == out_dir.resolve():
            raise ValueError(
                f"out_dir must differ from the notebooks' folder, got {str(out_dir)!r}"
            )
        if path.name in by_name:
            raise ValueError(
                f"{by_name[path.name]} and {path} would both be written to "
                f"{out_dir / path.name}: give notebooks distinct file names"
            )
        by_name[path.name] = path
    students = [strip_solutions(_read(path), name=str(path)) for path in paths]
    writable_folder(out_dir, "out_dir")
    written = []
    for path, student in zip(paths, students, strict=True):
        target = out_dir / path.name
        atomic_write(target, json.dumps(student, indent=1, ensure_ascii=False) + "\n")
        written.append(target)
    return written


def _read(path: Path) -> dict:
    """A notebook's JSON; a file that is not JSON raises a ValueError naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{path}: not a notebook (not JSON text: {err})") from None
