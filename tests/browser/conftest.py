"""Starts `streamlit run` on a free loopback port and a headless Debian Chromium via Playwright.

Missing Chromium or Playwright: a visible skip on a developer machine, a failure under CI=true.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "cnnvis-screenshots")


def _missing(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run; `make test` installs chromium as root)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def server(dashboard_server):
    return dashboard_server  # the one shared server (tests/conftest.py)


@pytest.fixture(scope="session")
def playwright():
    """One Playwright driver for the session: its sync API runs an event loop for as long as it is open,
    so a second sync_playwright() while the first is open fails ("inside the asyncio loop")."""
    if not Path(CHROMIUM).exists():
        _missing("Debian chromium is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield b
    b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 2600})
    pg = context.new_page()
    yield pg
    context.close()


# Resolves once the page's DOM has not changed for ``quietMs`` (or after ``maxMs`` whatever happens): a rerun
# that starts, a chart or data grid that draws after the script finished, all change the DOM.
_QUIET = """([quietMs, maxMs]) => new Promise(resolve => {
  let timer = null, cap = null;
  const obs = new MutationObserver(() => { clearTimeout(timer); timer = setTimeout(done, quietMs); });
  function done() { obs.disconnect(); clearTimeout(timer); clearTimeout(cap); resolve(); }
  obs.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  timer = setTimeout(done, quietMs);
  cap = setTimeout(done, maxMs);
})"""
_NOT_RUNNING = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def wait_for_app(pg, timeout_ms: int = 300_000) -> None:  # first use may train a model (~90 s)
    """Wait until the script has run to the end, nothing is still 'running' and the page has stopped changing
    (conditions, not fixed sleeps: a click's rerun may start a moment after it, charts draw after the script)."""
    for _ in range(5):
        pg.wait_for_selector(_NOT_RUNNING, timeout=timeout_ms)
        pg.evaluate(_QUIET, [500, 10_000])
        if pg.locator(_NOT_RUNNING).count():
            break
    pg.wait_for_load_state("networkidle")


def screenshot(pg, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path
