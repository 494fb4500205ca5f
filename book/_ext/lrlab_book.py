"""Sphinx extension of the book build: pages that read offline.

- Explorers render as self-contained scrubbers: the build's kernels inherit
  ``LRLAB_EXPLORERS=static`` (see :func:`lrlab.widgets.explorer`), set here before any
  notebook runs, so a chapter cell needs no condition of its own.
- MathJax 3 comes with the book instead of from a CDN: the ``es5`` folder of the npm
  package ``mathjax`` (installed by ``make mathjax`` into ``.mathjax/``) is copied into
  ``_static/mathjax/``, and ``mathjax_path`` in ``_config.yml`` points at its
  ``tex-chtml.js``. A build without it fails and says how to get it.
- Fixes to the theme's HTML that the browser tests found: a darker link colour on the
  tinted background of admonitions (static/lrlab-book.css: contrast 4.5:1), and
  bibliography entries marked as the list items their list says they are
  (``role="listitem"``: docutils writes ``doc-biblioentry``, which DPUB-ARIA 1.1 deprecated
  in favour of ``listitem``, so the ``role="list"`` around them had no items).
- No page loads Thebe: this book runs live code on Colab, not Binder, yet sphinx-thebe
  (which jupyter-book always loads) puts its loader, with the address of its script on
  a CDN, into every page, twice, which is a JavaScript error ("Identifier
  'THEBE_JS_URL' has already been declared").
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sphinx.errors import ConfigError

from lrlab.scrubber import EXPLORERS_ENV

#: Where ``make mathjax`` puts the npm package, relative to the book's root.
MATHJAX_DIR = ".mathjax/node_modules/mathjax/es5"

#: What of MathJax's es5 folder the pages use: the TeX-to-CommonHTML component, the TeX
#: extensions it loads on demand, its fonts, and the menu's accessibility tools.
MATHJAX_PARTS = ("tex-chtml.js", "input/tex", "output/chtml", "a11y", "sre", "ui")


def _mathjax_source(app) -> Path:
    source = Path(app.confdir) / app.config.lrlab_mathjax_dir
    if not (source / "tex-chtml.js").is_file():
        raise ConfigError(
            f"MathJax is missing: {source / 'tex-chtml.js'} not found. The book ships its own "
            "MathJax so pages typeset math offline; install it with `make mathjax` "
            "(npm install --prefix .mathjax mathjax@3)."
        )
    return source


def _check_mathjax(app, config) -> None:
    if not config.mathjax_path.startswith("mathjax/"):
        raise ConfigError(
            f"mathjax_path must point into _static/mathjax/, got {config.mathjax_path!r}"
        )
    _mathjax_source(app)


def _fix_page(app, pagename, templatename, context, doctree) -> None:
    """Drop sphinx-thebe's scripts and mark bibliography entries as list items."""

    def is_thebe(script) -> bool:
        filename = str(getattr(script, "filename", None) or "")
        body = str(getattr(script, "attributes", {}).get("body", ""))
        return "sphinx-thebe" in filename or "THEBE_JS_URL" in body

    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not is_thebe(s)]
    if "body" in context:
        context["body"] = context["body"].replace('role="doc-biblioentry"', 'role="listitem"')


def _add_static(app, config) -> None:
    config.html_static_path = [*config.html_static_path, str(Path(__file__).parent / "static")]


def _copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source = _mathjax_source(app)
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)


def setup(app):
    os.environ[EXPLORERS_ENV] = "static"
    app.add_config_value("lrlab_mathjax_dir", MATHJAX_DIR, "html")
    app.connect("config-inited", _check_mathjax)
    app.connect("config-inited", _add_static)
    app.connect("html-page-context", _fix_page)
    app.add_css_file("lrlab-book.css")
    app.connect("build-finished", _copy_mathjax)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
