"""A chapter's own prose for hidden checks: lrlab.classroom.chapter_text and sentences."""

from __future__ import annotations

import json

import pytest

from lrlab import classroom


def _notebook(path, *cells):
    cells = [
        {"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True)}
        for kind, source in cells
    ]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4}))


def test_chapter_text_is_the_markdown_cells_and_nothing_else(tmp_path):
    """Catches code (or outputs) read as prose: a check of the words would then pass on a
    comment in a code cell."""
    _notebook(
        tmp_path / "ch.ipynb",
        ("markdown", "# Title\nFirst line,\nsecond line."),
        ("code", "# self-stabilisation in a comment\nx = 1"),
        ("markdown", "Last words."),
    )
    assert classroom.chapter_text("ch", root=tmp_path) == (
        "# Title\nFirst line,\nsecond line.\n\nLast words."
    )
    assert classroom.chapter_text("other", root=tmp_path) is None


def test_the_books_chapters_are_found_beside_the_package():
    text = classroom.chapter_text("dynamics")
    assert text is not None and "gradient descent" in text


def test_sentences_join_lines_and_pick_by_pattern():
    text = "It rises to\n$2/\\eta$. Then it hovers (see\n{cite:p}`x`).\n\n## Next\nDone."
    assert classroom.sentences(text) == [
        "It rises to $2/\\eta$.",
        "Then it hovers (see {cite:p}`x`).",
        "## Next Done.",
    ]
    assert classroom.sentences(text, r"HOVERS") == ["Then it hovers (see {cite:p}`x`)."]


@pytest.mark.parametrize("name", ["", "book/dynamics", None])
def test_bad_names_are_refused(name):
    with pytest.raises(ValueError, match="^name"):
        classroom.chapter_text(name)
