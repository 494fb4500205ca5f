"""Every page of the built book as a reader sees it, offline, in headless Chromium.

Per page: no JavaScript error and nothing requested from outside 127.0.0.1; the math
typeset by the bundled MathJax, every display equation within its column; every image
loaded; every scrubber moves, by keyboard and by mouse, and shows a different frame for
each value; no serious or critical axe violation in the main content; a full-page
screenshot written. For the whole site: every
internal link and anchor resolves (an offline crawl).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from book_pages import CHAPTERS, PAGES, ROOT, check_built_book, screenshot_path

pytestmark = pytest.mark.browser


def short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


@pytest.mark.parametrize("doc", PAGES)
def test_page_loads_offline_without_errors(reader, doc):
    visit = reader(doc)
    assert visit.console_errors == [], "JavaScript errors in the console"
    assert visit.blocked == [], "the page asked for something outside the book"
    assert visit.failed == [], "requests to the book that failed"
    assert screenshot_path(doc).stat().st_size > 0


@pytest.mark.parametrize("doc", PAGES)
def test_math_is_typeset(reader, doc):
    report = reader(doc).page.evaluate(
        r"""() => {
        const math = Array.from(document.querySelectorAll(".math"));
        const skip = "pre, code, script, style, mjx-container, .highlight";
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        const raw = [];
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            if (/\\\(|\\\[/.test(node.textContent) && !node.parentElement.closest(skip)) {
                raw.push(node.textContent.trim().slice(0, 90));
            }
        }
        return {
            untypeset: math.filter((m) => !m.querySelector("mjx-container"))
                           .map((m) => m.textContent.trim().slice(0, 90)),
            errors: Array.from(document.querySelectorAll("mjx-merror"))
                         .map((e) => e.getAttribute("data-mjx-error") || e.textContent),
            raw: raw,
        };
    }"""
    )
    assert report["untypeset"] == [], "math left to MathJax that it did not typeset"
    assert report["errors"] == [], "TeX errors in typeset math"
    assert report["raw"] == [], r"raw \( or \[ shown as text"


@pytest.mark.parametrize("doc", PAGES)
def test_display_math_fits_its_column(reader, doc):
    """At a desktop width no display equation is wider than the column (where it would be
    clipped or need a sideways scroll); narrower screens scroll it (lrlab-book.css)."""
    report = reader(doc).page.evaluate(
        """() => Array.from(document.querySelectorAll('mjx-container[display="true"]'))
            .map((m, i) => ({index: i, overflow: m.scrollWidth - m.clientWidth,
                             scrolls: getComputedStyle(m).overflowX}))"""
    )
    assert {r["scrolls"] for r in report} <= {"auto"}, "display math that cannot scroll"
    assert [r for r in report if r["overflow"] > 1] == [], "display math wider than its column"


@pytest.mark.parametrize("doc", PAGES)
def test_every_image_loads(reader, doc):
    broken = reader(doc).page.evaluate(
        """() => Array.from(document.images)
            .filter((img) => !(img.complete && img.naturalWidth > 0))
            .map((img) => img.currentSrc || img.src)"""
    )
    assert [short(src) for src in broken] == []


@pytest.mark.parametrize("doc", CHAPTERS)
def test_scrubbers_move_and_change_their_frame(reader, doc):
    """Each explorer cell has a scrubber; keys and the mouse move it; each value its frame."""
    visit = reader(doc)
    page = visit.page
    scrubbers = page.locator("figure.lrlab-scrubber")
    explorers = check_built_book.explorer_cells(json.loads((ROOT / f"{doc}.ipynb").read_text()))
    assert scrubbers.count() == len(explorers)
    for i in range(scrubbers.count()):
        figure = scrubbers.nth(i)
        slider = figure.locator("input[type=range]")
        frame = figure.locator("img")
        shown = figure.locator("output")
        frames = int(figure.get_attribute("data-frames"))
        figure.scroll_into_view_if_needed()

        slider.focus()
        page.keyboard.press("Home")
        seen = []
        for step in range(frames):
            if step:
                page.keyboard.press("ArrowRight")
            seen.append((slider.input_value(), shown.text_content(), frame.get_attribute("src")))
        assert [value for value, _, _ in seen] == [str(k) for k in range(frames)]
        assert len({text for _, text, _ in seen}) == frames, "the value shown did not follow"
        assert len({src for _, _, src in seen}) == frames, "a value without its own frame"

        box = slider.bounding_box()
        middle = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] - 1, middle)
        page.mouse.down()
        page.mouse.move(box["x"] + 1, middle, steps=8)
        page.mouse.up()
        assert slider.input_value() == "0", "dragging to the left end did not reach frame 0"
        assert frame.get_attribute("src") == seen[0][2]
        assert shown.text_content() == seen[0][1]
        assert frame.evaluate("(img) => img.decode().then(() => img.naturalWidth)") > 0
    assert visit.console_errors == []


@pytest.mark.parametrize("doc", PAGES)
def test_no_serious_accessibility_violations_in_the_main_content(reader, doc):
    results = Axe().run(reader(doc).page, context="main", options={"resultTypes": ["violations"]})
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []


class _Links(HTMLParser):
    """The ids a page defines and the local URLs it refers to."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh":
            # A redirecting page (the site's index.html): "0; url=book/intro.html".
            self.refs.append((attrs.get("content") or "").partition("url=")[2].strip())
        for name in ("id", "name"):
            if attrs.get(name):
                self.ids.add(attrs[name])
        for name in ("href", "src"):
            if attrs.get(name) and not (tag == "a" and attrs.get(name, "").startswith("mailto")):
                self.refs.append(attrs[name])


def test_internal_links_and_anchors_resolve(site):
    """Crawl the built site from its front page: every local link and anchor exists."""
    pages: dict[str, _Links] = {}
    status: dict[str, int] = {}
    anchors: list[tuple[str, str, str]] = []  # (page, target page, fragment)
    queue = [site + "index.html"]
    while queue:
        url = queue.pop()
        if url in pages:
            continue
        with urllib.request.urlopen(url) as response:
            links = _Links()
            links.feed(response.read().decode("utf-8"))
        pages[url] = links
        for ref in links.refs:
            target = urljoin(url, ref)
            if not target.startswith(site):
                continue  # an outside link (Colab, the repository): never requested
            parts = urlsplit(target)
            path = f"{parts.scheme}://{parts.netloc}{parts.path}"
            if path not in status:
                try:
                    with urllib.request.urlopen(path) as response:
                        status[path] = response.status
                except urllib.error.HTTPError as error:
                    status[path] = error.code
            if parts.path.endswith(".html") and status[path] == 200:
                queue.append(path)
                if parts.fragment:
                    anchors.append((url, path, unquote(parts.fragment)))
    missing = sorted(path for path, code in status.items() if code != 200)
    assert missing == [], "links to files that are not in the built book"
    dangling = sorted(
        f"{page} -> {target}#{fragment}"
        for page, target, fragment in anchors
        if fragment not in pages[target].ids
    )
    assert dangling == [], "links to anchors that do not exist"
    assert len(pages) >= len(PAGES)
