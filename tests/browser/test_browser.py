"""Every page in a real headless Chromium: renders, no stException, screenshot saved."""

from __future__ import annotations

import pytest

from dashboard import navigation
from tests.browser.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.browser

ALL_PAGES = [spec for specs in navigation.pages_by_section().values() for spec in specs]


@pytest.mark.parametrize("spec", ALL_PAGES, ids=lambda s: s.url_path)
def test_page_renders_without_exception(server, page, spec):
    url = server + "/" + ("" if spec.default else spec.url_path)
    page.goto(url)
    wait_for_app(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator("h1").count() >= 1
    shot = screenshot(page, spec.url_path)
    assert shot.stat().st_size > 10_000


def test_lecture_mode_in_url_survives_navigation(server, page):
    page.goto(server + "/?lecture=1")
    wait_for_app(page)
    screenshot(page, "home-lecture-mode")
    page.goto(server + "/setup?lecture=1")
    wait_for_app(page)
    assert "lecture=1" in page.url
    assert page.locator('[data-testid="stException"]').count() == 0


def test_hostile_upload_gives_a_sentence_not_a_traceback(server, page, tmp_path):
    bad = tmp_path / "holiday.png"
    bad.write_text("definitely not a PNG")
    page.goto(server + "/setup")
    wait_for_app(page)
    page.get_by_text("Upload a file").first.click()
    wait_for_app(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
    wait_for_app(page)
    page.wait_for_selector('[data-testid="stAlertContentError"]', timeout=30_000)
    assert "not an image we can read" in page.locator('[data-testid="stAlertContentError"]').first.inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "setup-bad-upload")
