"""Where the built book is and what it holds, for the browser tests (no browser needed here)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("LRLAB_BOOK_HTML", ROOT / "_build" / "html"))
SCREENSHOTS = Path(os.environ.get("LRLAB_SCREENSHOTS", ROOT / "_build" / "screenshots"))

# tests/check_built_book.py is a script, not a package module: load it by path.
_script = ROOT / "tests" / "check_built_book.py"
_spec = importlib.util.spec_from_file_location("check_built_book", _script)
check_built_book = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_built_book)

#: Every page of the book, as its document name ("book/quadratic"), in _toc.yml order.
PAGES: list[str] = check_built_book.toc_pages()

#: The pages that are chapters (notebooks).
CHAPTERS: list[str] = [doc for doc in PAGES if (ROOT / f"{doc}.ipynb").exists()]


def screenshot_path(doc: str) -> Path:
    return SCREENSHOTS / f"{doc.replace('/', '-')}.png"
