"""Check the built book as a reader would see it: run after `jupyter-book build`.

For every chapter (notebook) in _toc.yml, its HTML page must exist, show at least one
executed figure, and show no traceback and no stderr output (warnings, progress bars).
Usage: python tests/check_built_book.py [_build/html]
"""

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files(toc: dict) -> list[str]:
    found = []
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            found.append(chapter["file"])
            found += [section["file"] for section in chapter.get("sections", [])]
    return found


def problems(html_root: Path) -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found = []
    for name in toc_files(toc):
        if not (ROOT / f"{name}.ipynb").exists():
            continue
        page = html_root / f"{name}.html"
        if not page.exists():
            found.append(f"{page}: missing")
            continue
        html = page.read_text()
        if not re.search(r'<img[^>]+src="[^"]*_images/', html):
            found.append(f"{page}: no executed figure")
        if "Traceback (most recent call last)" in html or "output traceback" in html:
            found.append(f"{page}: shows a traceback")
        if "output stderr" in html:
            found.append(f"{page}: shows stderr output (a warning or a progress bar)")
    return found


if __name__ == "__main__":
    html_root = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "_build" / "html")
    issues = problems(html_root)
    print("\n".join(issues) or f"built book OK: {html_root}")
    sys.exit(1 if issues else 0)
