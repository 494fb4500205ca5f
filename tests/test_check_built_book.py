"""tests/check_built_book.py catches what a reader would miss, on small hand-made pages."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "check_built_book", Path(__file__).with_name("check_built_book.py")
)
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)

FIGURE = {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=", "text/plain": ""}}
SCRUBBER_OUTPUT = {"output_type": "execute_result", "data": {"text/html": "<figure>"}}


def code(source, outputs=(), tags=()):
    return {
        "cell_type": "code",
        "source": source,
        "metadata": {"tags": list(tags)},
        "outputs": list(outputs),
    }


NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "source": "# A chapter", "metadata": {}},
        code("fig, ax = plots.subplots()", [FIGURE]),
        code("assert True", tags=["remove-cell"]),
        code("widgets.quadratic_explorer(steps=20)", [SCRUBBER_OUTPUT]),
        code("print(1)"),
    ]
}


def scrubber_html(frames: int, inline: int | None = None) -> str:
    uri = "data:image/png;base64,AAAA"
    uris = ", ".join(f'"{uri}"' for _ in range(frames if inline is None else inline))
    return (
        f'<figure class="lrlab-scrubber" data-frames="{frames}"><img src="{uri}"></figure>\n'
        f"<script>var data = {{frames: [{uris}]}};</script>"
    )


def cell(output: str = "") -> str:
    body = f'<div class="cell_output docutils container">{output}</div>' if output else ""
    return f'<div class="cell docutils container"><div class="cell_input">code</div>{body}</div>'


def write_page(tmp_path, cells: list[str], head: str = "") -> Path:
    images = tmp_path / "_images"
    images.mkdir(exist_ok=True)
    (images / "figure.png").write_bytes(b"\x89PNG" + b"0" * 100)
    page = tmp_path / "book" / "chapter.html"
    page.parent.mkdir(exist_ok=True)
    page.write_text(f"<html><head>{head}</head><body><main>{''.join(cells)}</main></body></html>")
    return page


def complete_cells(scrubber: str | None = None) -> list[str]:
    return [
        cell('<img src="../_images/figure.png">'),
        cell(scrubber if scrubber is not None else scrubber_html(25)),
        cell("<pre>1</pre>"),
    ]


def test_a_complete_page_has_no_problems(tmp_path):
    page = write_page(tmp_path, complete_cells())
    assert check.chapter_problems(page, NOTEBOOK) == []
    assert check.site_problems(page) == []


def test_a_cell_whose_figure_is_missing_from_the_page_is_reported(tmp_path):
    cells = complete_cells()
    cells[0] = cell("<pre>&lt;Figure size 640x360&gt;</pre>")
    (problem,) = check.chapter_problems(write_page(tmp_path, cells), NOTEBOOK)
    assert "code cell 1" in problem and "drew 1 figure(s), the page shows 0" in problem


def test_an_image_whose_file_is_missing_does_not_count(tmp_path):
    cells = complete_cells()
    cells[0] = cell('<img src="../_images/gone.png">')
    assert len(check.chapter_problems(write_page(tmp_path, cells), NOTEBOOK)) == 1


def test_an_explorer_without_its_scrubber_is_reported(tmp_path):
    page = write_page(tmp_path, complete_cells(scrubber="<p>widget</p>"))
    (problem,) = check.chapter_problems(page, NOTEBOOK)
    assert "code cell 2" in problem and "an explorer without its scrubber" in problem


@pytest.mark.parametrize(
    ("scrubber", "message"),
    [
        (scrubber_html(41), "a scrubber with 41 frames"),
        (scrubber_html(25, inline=24), "a scrubber says 25 frames and holds 24"),
    ],
)
def test_scrubbers_over_budget_or_inconsistent_are_reported(tmp_path, scrubber, message):
    page = write_page(tmp_path, complete_cells(scrubber=scrubber))
    assert any(message in problem for problem in check.chapter_problems(page, NOTEBOOK))


def test_cells_that_do_not_line_up_with_the_notebook_are_reported(tmp_path):
    page = write_page(tmp_path, complete_cells()[:2])
    (problem,) = check.chapter_problems(page, NOTEBOOK)
    assert "3 code cells in the notebook, 2 on the page" in problem


@pytest.mark.parametrize(
    ("head", "message"),
    [
        ('<script src="https://cdn.example/require.min.js"></script>', "require.min.js"),
        ('<script type="application/vnd.jupyter.widget-state+json">{}</script>', "widget-state"),
        ('<link rel="stylesheet" href="https://cdn.example/x.css">', "from outside the book"),
        ('<script src="//cdn.example/tex-chtml.js"></script>', "from outside the book"),
    ],
)
def test_widget_machinery_and_cdn_assets_are_reported(tmp_path, head, message):
    page = write_page(tmp_path, complete_cells(), head=head)
    assert any(message in problem for problem in check.site_problems(page))


def test_a_markdown_table_left_as_text_is_reported(tmp_path):
    cells = complete_cells()
    cells.append(cell("<p>| schedule | error |\n|---|---|\n| step | 5.6 |</p>"))
    (problem,) = check.site_problems(write_page(tmp_path, cells))
    assert "a Markdown table shown as text" in problem
    dashed = complete_cells() + [cell("<p>| a | b |\n|\u2014|\u2014|\n| 1 | 2 |</p>")]
    assert len(check.site_problems(write_page(tmp_path, dashed))) == 1
    rendered = complete_cells() + [cell("<table><tr><td>step</td></tr></table>")]
    assert check.site_problems(write_page(tmp_path, rendered)) == []


def test_page_weight_counts_the_html_and_each_image_once(tmp_path):
    cells = complete_cells()
    cells.append(cell('<img src="../_images/figure.png">'))
    page = write_page(tmp_path, cells)
    assert check.page_weight(page) == page.stat().st_size + 104


def test_explorer_cells_are_found_by_their_call_not_by_a_comment():
    notebook = {
        "cells": [
            code("widgets.explorer(draw, values, label='r')"),
            code("# no widgets.quadratic_explorer( here"),
            code("widgets.schedule_explorer()", tags=["remove-cell"]),
        ]
    }
    assert [c["source"] for c in check.explorer_cells(notebook)] == [
        "widgets.explorer(draw, values, label='r')"
    ]


def test_a_page_that_shows_an_absolute_path_of_the_building_machine_is_reported(tmp_path):
    """A result loaded from `<build folder>/lrlab/results_data/x.json` must be shown as
    `lrlab/results_data/x.json`: the reader's machine has no such folder (issue 21)."""
    where = f"{check.ROOT}/lrlab/results_data/sgdr.json"
    cells = complete_cells() + [cell(f"<pre>Loaded the stored result {where}</pre>")]
    (problem,) = check.site_problems(write_page(tmp_path, cells))
    assert "shows the absolute path" in problem and str(check.ROOT) in problem
    shown = complete_cells() + [cell("<pre>Loaded the stored result lrlab/results_data/sgdr.json")]
    assert check.site_problems(write_page(tmp_path, shown)) == []


def test_a_link_to_a_notebook_the_book_does_not_serve_is_reported(tmp_path):
    """A Markdown link in a cell's output stays `chapter.ipynb`: a 404 in the built book. The
    download link to the _sources/ copy and the Colab button are fine."""
    link = cell('<p>see the <a href="edge-of-stability.ipynb">chapter</a></p>')
    (problem,) = check.site_problems(write_page(tmp_path, complete_cells() + [link]))
    assert "edge-of-stability.ipynb" in problem and "does not serve" in problem
    fine = cell(
        '<a href="../_sources/book/chapter.ipynb">download</a>'
        '<a href="https://colab.research.google.com/github/x/y/blob/main/book/a.ipynb">Colab</a>'
        '<a href="edge-of-stability.html#top">chapter</a>'
    )
    assert check.site_problems(write_page(tmp_path, complete_cells() + [fine])) == []
