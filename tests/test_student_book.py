"""The instructors' path: `make student-book` builds the book from the student notebooks.

sphinx-exercise's ``hide_solutions`` crashes the build with gated solutions (the
``{solution-start}``/``{solution-end}`` pairs the chapters use), so book/instructors.md
must not send instructors there; it sends them to ``make student-book``. The build test
runs the target's own staging step (``make student-sources``) and builds that book without
executing it (``make student-notebooks``, part of ``make test``, executes the same copies).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_instructors_are_not_sent_to_hide_solutions():
    page = (ROOT / "book" / "instructors.md").read_text()
    assert "hide_solutions: true" not in page
    assert "make student-book" in page and "_build/student-html" in page


def test_make_test_runs_the_student_copies_of_every_chapter():
    makefile = (ROOT / "Makefile").read_text()
    test_target = re.search(r"^test: (.*)$", makefile, re.M).group(1).split()
    assert "student-notebooks" in test_target
    recipe = re.search(r"^student-sources:\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "lrlab student book/*.ipynb --out $(STUDENT)/book" in recipe
    notebooks = re.search(r"^student-notebooks: .*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "$(EXECUTE) $(STUDENT)/book/*.ipynb" in notebooks
    assert re.search(r"^EXECUTE := .*tests/execute_notebooks.py", makefile, re.M)


@pytest.mark.slow
def test_the_student_book_builds_without_solutions(tmp_path):
    student = tmp_path / "student"
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        # the book bundles MathJax (book/_ext/lrlab_book.py): `make mathjax` if it is missing
        [
            "make",
            "-s",
            "-C",
            ROOT,
            "mathjax",
            "student-sources",
            f"BIN={bin_dir}",
            f"STUDENT={student}",
        ],
        check=True,
        capture_output=True,
    )
    config = yaml.safe_load((student / "_config.yml").read_text())
    assert config["title"].endswith("(student edition)")
    chapters = sorted((ROOT / "book").glob("*.ipynb"))
    for path in chapters:
        cells = json.loads((student / "book" / path.name).read_text())["cells"]
        text = "".join("".join(c["source"]) for c in cells)
        assert "{exercise}" in text and "{solution-start}" not in text, path.name
    # The build itself, minus execution (`make test` executes the same copies).
    config["execute"]["execute_notebooks"] = "off"
    (student / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    build = subprocess.run(
        [bin_dir / "jupyter-book", "build", student, "--warningiserror", "--keep-going", "--all"],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    html = student / "_build" / "html"
    for path in chapters:
        page = (html / "book" / f"{path.stem}.html").read_text()
        # sphinx-exercise renders class="exercise admonition", class="solution dropdown ..."
        assert 'class="exercise admonition"' in page and 'class="solution' not in page, path.name
    assert "(student edition)" in (html / "book" / "intro.html").read_text()
