"""The system Chromium under Playwright, for the tests that open index.html in a real browser.

Playwright's Python package drives whatever Chromium `executable_path` names, so no browser is downloaded
(`playwright install` is never run; CI and this machine have Debian's `chromium` package, installed by .ci/run).
It replaced a hand-written driver over `--remote-debugging-pipe` (plus `--dump-dom` parsed with HTMLParser and
`--screenshot` runs): its locators and `expect` wait for the page instead of polling `document.readyState` or
sleeping through the filter's typing pause, and its clicks are real mouse clicks on visible elements rather than
`element.click()` in script. Checked with Playwright 1.65 and Debian's Chromium 156; Playwright talks to Chromium
over the DevTools protocol, so a Chromium far older than the Playwright release may refuse commands it sends.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.missing import missing

# What the old driver passed and containers need: /dev/shm is often 64 MB in Docker, and nothing is fetched.
FLAGS = ["--disable-dev-shm-usage", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]

# How long `expect` waits for the page to get there (Playwright's default is 5 s): a ceiling, not a timing check,
# raised because `make test` shares two cores with Axolotl runs and the page's script can be slow to answer.
expect.set_options(timeout=20_000)


def chromium_binary() -> str:
    """Debian's /usr/bin/chromium (apt-get install -y chromium), else a Chromium or Chrome on PATH.

    Skips the calling test where there is none, except in CI, which installs it and must not silently skip.
    """
    candidates = [os.environ.get("HAHA_CHROMIUM"), "/usr/bin/chromium",
                  *(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome"))]
    found = next((c for c in candidates if c and Path(c).is_file()), None)
    if found:
        return found
    missing("no Chromium here (/usr/bin/chromium missing); install it with `apt-get install -y chromium`")


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless system Chromium, closed (with Playwright's node driver) on the way out."""
    binary = chromium_binary()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def opened(browser: Browser, url: str, width: int = 1400, height: int = 1000) -> Iterator[Page]:
    """A fresh tab on `url` after its load event, so the page's script has run.

    Uncaught exceptions in the page's script fail the test on the way out: a broken script can leave the DOM
    looking plausible, and the tests' assertions would not notice.
    """
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(f"{error.name}: {error.message}"))
        page.goto(url)
        yield page
        assert errors == [], f"the page's script threw: {errors}"
    finally:
        context.close()


def screenshot_path(tmp_path: Path, name: str) -> Path:
    """Where a screenshot goes: $HAHA_ARTIFACTS (CI uploads it, a person looks at it), else the test's tmp dir."""
    artifacts = Path(os.environ.get("HAHA_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    return artifacts / name
