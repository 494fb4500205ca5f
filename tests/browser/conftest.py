"""The built book, served on 127.0.0.1 and read in headless Chromium with no network.

Run by ``make browser`` after the book build (``pytest -m browser tests/browser``; a
plain ``pytest`` deselects these tests). The browser is, in order: ``$LRLAB_CHROMIUM``,
a system Chromium on the PATH (``chromium``, ``chromium-browser``, ``google-chrome``),
else Playwright's own if ``playwright install chromium`` fetched it. Without one the run
stops and says how to get one.

Every request that does not go to the local server is blocked and recorded, so a page
that needs a CDN fails. Each page is opened once per run (the tests share it), after
which its full-page screenshot is written to ``_build/screenshots/`` (or
``$LRLAB_SCREENSHOTS``).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from book_pages import HTML, SCREENSHOTS, screenshot_path

#: Chromium switches for a reader with no network: no background downloads, no QUIC,
#: every host name unresolvable except the local server's address.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]

HOW_TO_GET_A_BROWSER = (
    "The browser tests need Chromium and found none. Install one: on Debian/Ubuntu "
    "`sudo apt-get install chromium` (what .ci/run does), or with internet "
    "`.venv/bin/python -m playwright install chromium`; or point LRLAB_CHROMIUM at a "
    "Chromium/Chrome binary. To skip these tests on purpose: `make test BROWSER=0`."
)


def find_chromium() -> str | None:
    """A Chromium executable, or None to use Playwright's own; exits if there is neither."""
    named = os.environ.get("LRLAB_CHROMIUM")
    if named:
        if not Path(named).is_file():
            pytest.exit(f"LRLAB_CHROMIUM={named} does not exist. {HOW_TO_GET_A_BROWSER}", 1)
        return named
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        if Path(playwright.chromium.executable_path).is_file():
            return None
    pytest.exit(HOW_TO_GET_A_BROWSER, 1)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch arguments, with the system Chromium and offline switches."""
    executable = find_chromium()
    args = {**browser_type_launch_args, "args": CHROMIUM_ARGS}
    if executable is not None:
        args["executable_path"] = executable
    return args


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="session")
def site():
    """The base URL of _build/html served on 127.0.0.1 (an ephemeral port)."""
    if not (HTML / "index.html").is_file():
        pytest.exit(f"No built book at {HTML}: run `make build-book` first.", 1)
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


@dataclass
class Visit:
    """One page as a reader opened it, with what went wrong while it loaded."""

    doc: str
    page: object
    console_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def reader(browser, site):
    """``reader(doc)``: the page of document ``doc``, loaded once, typeset and screenshotted."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    # Generous: the API page is long, and CI machines are small and shared.
    context.set_default_timeout(120_000)
    visits: dict[str, Visit] = {}

    def open_page(doc: str) -> Visit:
        if doc in visits:
            return visits[doc]
        page = context.new_page()
        visit = Visit(doc, page)

        def route(route_):
            if route_.request.url.startswith(site):
                route_.continue_()
            else:
                visit.blocked.append(route_.request.url)
                route_.abort()

        page.route("**/*", route)
        page.on(
            "console",
            lambda message: message.type == "error" and visit.console_errors.append(message.text),
        )
        page.on("pageerror", lambda error: visit.console_errors.append(f"uncaught: {error}"))
        page.on(
            "response",
            lambda response: (
                response.status >= 400 and visit.failed.append(f"{response.status} {response.url}")
            ),
        )
        page.on(
            "requestfailed",
            lambda request: (
                request.url.startswith(site)
                and visit.failed.append(f"{request.failure} {request.url}")
            ),
        )
        page.goto(site + doc + ".html", wait_until="load")
        wait_for_math(page)
        wait_for_images(page)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=screenshot_path(doc), full_page=True, timeout=180_000)
        visits[doc] = visit
        return visit

    yield open_page
    context.close()


def wait_for_math(page) -> None:
    """Wait until MathJax has typeset the page (pages without math do not load it)."""
    if page.locator(".math").count() == 0:
        return
    page.wait_for_function(
        "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=120_000
    )
    page.evaluate("() => MathJax.startup.promise.then(() => true)")


def wait_for_images(page) -> None:
    """Load every image now, lazy ones too, and wait until each has decoded or failed."""
    page.evaluate(
        """() => Promise.all(Array.from(document.images).map((img) => {
            img.loading = "eager";
            return img.decode().catch(() => null);
        }))"""
    )
