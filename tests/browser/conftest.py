"""Browser tests: the local server in a subprocess, Debian's Chromium driven by Playwright.

Playwright never downloads a browser here: it launches /usr/bin/chromium (installed by
`make chromium`). Screenshots go to test-output/screenshots/.
"""
import os
import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

# Auto-waiting assertions: generous for a loaded CI machine, still fast when things work.
expect.set_options(timeout=10_000)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-output" / "screenshots"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's Chromium (`make chromium`, i.e. "
                    "`apt-get install chromium`). Playwright's own browser download is not used.")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


class Pages:
    """Opens pages in fresh browser contexts (separate sessionStorage, like separate people),
    collecting console errors and uncaught exceptions so tests can assert there were none."""

    def __init__(self, browser, base_url):
        self.browser = browser
        self.base_url = base_url
        self.contexts = []
        self.errors = []

    def new(self, width=1440, height=900):
        context = self.browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(f"console: {msg.text}"))
        page.goto(self.base_url + "/")
        return page

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser, server):
    opened = Pages(browser, server)
    yield opened
    opened.close()
    # A failed WebSocket handshake or a refused request during a deliberate drop is expected;
    # script errors are not.
    unexpected = [error for error in opened.errors if not re.search(r"WebSocket|ERR_|Failed to load resource", error)]
    assert not unexpected, unexpected


@pytest.fixture
def unique():
    """A short unique suffix: the server's data lives for the whole session."""
    return lambda prefix: f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def screenshots_dir():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
