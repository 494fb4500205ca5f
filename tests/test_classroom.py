"""Student notebooks: the book's real chapters lose every solution cell, keep every exercise."""

import json
from pathlib import Path

import pytest

from lrlab import classroom, cli

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))


def _text(cell):
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else source


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapters_lose_their_solutions_and_keep_their_exercises(path):
    notebook = json.loads(path.read_text())
    student = classroom.strip_solutions(notebook, name=path.name)
    texts = [_text(c) for c in student["cells"]]
    assert not any("{solution-start}" in t or "{solution-end}" in t for t in texts)
    exercises = sum("{exercise}" in _text(c) for c in notebook["cells"])
    assert exercises >= 3
    assert sum("{exercise}" in t for t in texts) == exercises
    # Everything outside the solutions is kept, in order.
    assert len(student["cells"]) < len(notebook["cells"])
    assert texts[0] == _text(notebook["cells"][0])


def _cell(kind, text):
    return {
        "cell_type": kind,
        "source": text,
        "metadata": {},
        **({"outputs": ["x"], "execution_count": 3} if kind == "code" else {}),
    }


def test_outputs_are_cleared_and_the_input_is_not_modified():
    notebook = {"cells": [_cell("code", "print(1)")]}
    student = classroom.strip_solutions(notebook)
    assert student["cells"][0]["outputs"] == [] and student["cells"][0]["execution_count"] is None
    assert notebook["cells"][0]["outputs"] == ["x"]


@pytest.mark.parametrize(
    "cells, message",
    [
        ([_cell("markdown", "```{solution-start} a\n```")], "never closed"),
        ([_cell("markdown", "```{solution-end}\n```")], "never opened"),
        (
            [
                _cell("markdown", "```{solution-start} a\n```"),
                _cell("markdown", "```{solution-start} b\n```"),
            ],
            "inside the one opened at cell 0",
        ),
    ],
)
def test_unbalanced_solution_markers_are_reported_with_the_cell(cells, message):
    with pytest.raises(ValueError, match=message):
        classroom.strip_solutions({"cells": cells}, name="demo.ipynb")


def test_the_student_command_writes_copies(tmp_path, capsys):
    out = tmp_path / "student"
    assert cli.main(["student", str(CHAPTERS[0]), "--out", str(out)]) == 0
    written = json.loads((out / CHAPTERS[0].name).read_text())
    assert not any("{solution-start}" in _text(c) for c in written["cells"])
    assert "wrote" in capsys.readouterr().out


def test_the_student_command_refuses_to_overwrite_the_chapters(capsys):
    assert cli.main(["student", str(CHAPTERS[0]), "--out", str(BOOK)]) == 2
    assert "out_dir must differ" in capsys.readouterr().err
