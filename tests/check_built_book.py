"""Check the built book as a reader would see it: run after `jupyter-book build`.

For every chapter (notebook) in _toc.yml, its HTML page must exist and show:
- the image of every code cell that drew a figure (each cell, not one image per page),
  matched cell by cell against the executed notebook in _build/jupyter_execute/;
- the scrubber of every explorer cell (a cell calling ``...explorer(``), within the
  frame budget (at most lrlab.scrubber.MAX_FRAMES frames);
- no traceback and no stderr output (warnings, progress bars);
and stay within PAGE_BUDGET bytes (its HTML with the frames inline, plus its images).
No page may embed widget state or load RequireJS or the widget manager, load a script or
stylesheet from outside the book (a CDN), or show an absolute path of the machine that built
it (the project's folder, the Python environment, the temporary folder), or link to a
chapter's .ipynb, which the book does not serve.
Usage: python tests/check_built_book.py [_build/html]
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

import yaml
from bs4 import BeautifulSoup

from lrlab.scrubber import MAX_FRAMES

ROOT = Path(__file__).resolve().parents[1]

#: The most a chapter page may weigh: its HTML (scrubber frames are inline) and its images.
PAGE_BUDGET = 3_000_000

#: Folders of the building machine that a page must never show.
_MACHINE_FOLDERS = tuple(
    {str(ROOT), str(Path(sys.prefix).resolve()), str(Path(tempfile.gettempdir()).resolve())}
)

_EXPLORER_CALL = re.compile(r"^[^#\n]*\b\w*explorer\(", re.MULTILINE)
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
_WIDGET_TRACES = (
    "application/vnd.jupyter.widget-state+json",
    "application/vnd.jupyter.widget-view+json",
    "require.min.js",
    "embed-amd.js",
)


def toc_pages() -> list[str]:
    """Every page of the book, as its document name ("book/quadratic"), in _toc.yml order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            found.append(chapter["file"])
            found += [section["file"] for section in chapter.get("sections", [])]
    return found


def _tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def visible_code_cells(notebook: dict) -> list[dict]:
    """The code cells the page shows, in order (cells tagged remove-cell are not shown)."""
    return [
        cell
        for cell in notebook["cells"]
        if cell["cell_type"] == "code" and "remove-cell" not in _tags(cell)
    ]


def explorer_cells(notebook: dict) -> list[dict]:
    """The visible code cells that show an explorer (call ``widgets.<...>explorer(``)."""
    return [cell for cell in visible_code_cells(notebook) if _EXPLORER_CALL.search(_source(cell))]


def _figures(cell: dict) -> int:
    """How many figures the executed cell displayed."""
    return sum(
        1
        for output in cell.get("outputs", [])
        if any(kind in output.get("data", {}) for kind in _IMAGE_TYPES)
    )


def chapter_problems(page: Path, executed: dict) -> list[str]:
    """What a reader would miss on one chapter's page, given its executed notebook."""
    html = page.read_text()
    soup = BeautifulSoup(html, "html.parser")
    found = []
    if "Traceback (most recent call last)" in html or "output traceback" in html:
        found.append(f"{page}: shows a traceback")
    if "output stderr" in html:
        found.append(f"{page}: shows stderr output (a warning or a progress bar)")

    cells = visible_code_cells(executed)
    shown = soup.select("div.cell")
    if len(cells) != len(shown):
        found.append(f"{page}: {len(cells)} code cells in the notebook, {len(shown)} on the page")
        return found
    explorers = [id(cell) for cell in explorer_cells(executed)]
    for number, (cell, div) in enumerate(zip(cells, shown, strict=True), start=1):
        where = f"{page}: code cell {number} ({_source(cell).strip().splitlines()[0][:60]!r})"
        drawn = 0 if "remove-output" in _tags(cell) else _figures(cell)
        images = [
            path
            for path in _image_files(page, div.select("div.cell_output img[src]"))
            if path.stat().st_size > 0
        ]
        if len(images) < drawn:
            found.append(f"{where}: drew {drawn} figure(s), the page shows {len(images)}")
        if id(cell) in explorers:
            found += _scrubber_problems(where, div)
    return found


def _scrubber_problems(where: str, div) -> list[str]:
    scrubbers = div.select("figure.lrlab-scrubber")
    if not scrubbers:
        return [f"{where}: an explorer without its scrubber"]
    found = []
    for scrubber in scrubbers:
        frames = int(scrubber.get("data-frames", 0))
        script = scrubber.find_next_sibling("script")
        inline = script.string.count("data:image/png;base64,") if script and script.string else 0
        if not 2 <= frames <= MAX_FRAMES:
            found.append(f"{where}: a scrubber with {frames} frames (budget 2 to {MAX_FRAMES})")
        if inline != frames:
            found.append(f"{where}: a scrubber says {frames} frames and holds {inline}")
    return found


def _image_files(page: Path, imgs) -> list[Path]:
    """The image files that ``<img>`` tags of the page show (inline data URIs are not files)."""
    paths = [page.parent / img["src"] for img in imgs if not img["src"].startswith("data:")]
    return [path for path in paths if path.is_file()]


def page_weight(page: Path) -> int:
    """Bytes a reader downloads for the page's content: its HTML and its local images."""
    soup = BeautifulSoup(page.read_text(), "html.parser")
    images = {path.resolve() for path in _image_files(page, soup.select("img[src]"))}
    return page.stat().st_size + sum(path.stat().st_size for path in images)


def _links_to_notebook(href: str) -> bool:
    """Whether ``href`` is a link within the book to a notebook file (not its _sources/ copy)."""
    path = href.split("#")[0].split("?")[0]
    return path.endswith(".ipynb") and "//" not in path and "_sources/" not in path


def site_problems(page: Path) -> list[str]:
    """Problems any page can have: widget machinery, or scripts and styles from a CDN."""
    html = page.read_text()
    soup = BeautifulSoup(html, "html.parser")
    found = [f"{page}: embeds or loads {trace}" for trace in _WIDGET_TRACES if trace in html]
    outside = [tag.get("src") for tag in soup.select("script[src]")]
    outside += [tag.get("href") for tag in soup.select('link[rel~="stylesheet"][href]')]
    found += [f"{page}: loads {url} from outside the book" for url in outside if "//" in url]
    # A Markdown link to a chapter inside a cell's output stays a link to the .ipynb, which
    # the book does not serve (only its _sources/ copy and the Colab button link there).
    notebooks = [tag["href"] for tag in soup.select("a[href]") if _links_to_notebook(tag["href"])]
    found += [f"{page}: links to {href}, a notebook the book does not serve" for href in notebooks]
    text = soup.get_text()
    shown = [folder for folder in _MACHINE_FOLDERS if folder + "/" in text]
    # one report per path: the project in /tmp/x is named, not /tmp as well
    found += [
        f"{page}: shows the absolute path {folder}... of the machine that built it"
        for folder in shown
        if not any(other.startswith(folder + "/") for other in shown)
    ]
    # A Markdown table in a cell's output that the build did not turn into a <table> reads as
    # a paragraph of pipes (myst-nb renders outputs as CommonMark, without tables, unless
    # nb_render_markdown_format says otherwise).
    for paragraph in soup.select("p"):
        # (the typographer may have turned the rule's "---" into a dash)
        if re.search(r"\|\s*:?(-{3,}|[\u2013\u2014]+):?\s*\|", paragraph.get_text()):
            found.append(f"{page}: a Markdown table shown as text: {paragraph.get_text()[:60]!r}")
            break
    return found


def problems(html_root: Path) -> list[str]:
    executed_root = html_root.parent / "jupyter_execute"
    found = []
    for name in toc_pages():
        page = html_root / f"{name}.html"
        if not page.exists():
            found.append(f"{page}: missing")
            continue
        found += site_problems(page)
        if not (ROOT / f"{name}.ipynb").exists():
            continue
        executed = executed_root / f"{name}.ipynb"
        if not executed.exists():
            found.append(f"{executed}: the executed notebook is missing")
            continue
        found += chapter_problems(page, json.loads(executed.read_text()))
        weight = page_weight(page)
        if weight > PAGE_BUDGET:
            found.append(f"{page}: weighs {weight:,} bytes, over the budget of {PAGE_BUDGET:,}")
    return found


if __name__ == "__main__":
    html_root = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "_build" / "html")
    issues = problems(html_root)
    print("\n".join(issues) or f"built book OK: {html_root}")
    sys.exit(1 if issues else 0)
