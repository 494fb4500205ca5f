"""The prose of a chapter, for the hidden checks of what its text says.

A chapter's hidden ``assert`` cells check its numbers; some defects are in the words (a
claim without its source, a phrase the data do not support). :func:`chapter_text` reads
the chapter's own markdown from the book's sources, and :func:`sentences` picks the
sentences that mention something, so that a hidden cell can check, say, that every
sentence about self-stabilisation cites its paper. Where the book's sources are not at
hand (an installed ``lrlab`` on Colab) :func:`chapter_text` returns None and the check is
left to the book's own build and tests.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

__all__ = ["chapter_text", "sentences"]

#: A sentence ends at ., ! or ? followed by white space and a capital, a digit, or markup.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9$`*({\[])")
#: A block ends at a blank line or where a list item starts.
_BLOCK_END = re.compile(r"\n\s*\n|\n(?=[ \t]*(?:[-*+]|\d+\.)[ \t])")


def _candidates(name: str, root) -> list[Path]:
    if root is not None:
        return [Path(root) / f"{name}.ipynb"]
    import lrlab

    package_book = Path(lrlab.__file__).resolve().parents[1] / "book"
    return [package_book / f"{name}.ipynb", Path(os.getcwd()) / f"{name}.ipynb"]


def chapter_text(name: str, root: str | os.PathLike | None = None) -> str | None:
    """The markdown of chapter ``name`` (``book/<name>.ipynb``), its cells joined.

    Parameters
    ----------
    name : str
        The chapter's file stem, e.g. ``"edge-of-stability"``.
    root : path, optional
        The folder holding the chapters; by default the ``book`` folder beside the
        ``lrlab`` package (a checkout of the book), then the working directory (where the
        book's build runs a chapter).

    Returns
    -------
    str or None
        The markdown cells' sources separated by blank lines, or None if the chapter's
        file is not found.

    Examples
    --------
    >>> chapter_text("no-such-chapter") is None
    True
    """
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"name must be a chapter's file stem such as 'dynamics', got {name!r}")
    for path in _candidates(name, root):
        if path.is_file():
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            return "\n\n".join(
                "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                for c in cells
                if c["cell_type"] == "markdown"
            )
    return None


def sentences(text: str, pattern: str | None = None) -> list[str]:
    """The sentences of ``text`` (line breaks within a sentence made spaces), those that
    match the regular expression ``pattern`` (case-insensitive) if one is given. A blank
    line and the start of a list item end a sentence too.

    Examples
    --------
    >>> sentences("It rises.\\nThen it\\nfalls, see Damian. It stops!", "then")
    ['Then it falls, see Damian.']
    >>> len(sentences("One. Two. $x$ three."))
    3
    >>> sentences("Notice:\\n- a rises,\\n  then falls;\\n- b stays.")
    ['Notice:', '- a rises, then falls;', '- b stays.']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    parts = [
        " ".join(p.split()) for block in _BLOCK_END.split(text) for p in _SENTENCE_END.split(block)
    ]
    parts = [p for p in parts if p]
    if pattern is None:
        return parts
    found = re.compile(pattern, re.IGNORECASE)
    return [p for p in parts if found.search(p)]
