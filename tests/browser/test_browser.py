"""Every page in a real headless Chromium: renders, no stException, screenshot saved."""

from __future__ import annotations

import re

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
    # every number the page shows in a metric is a number (no NaN, None or empty value drawn)
    values = [v.strip() for v in page.locator('[data-testid="stMetricValue"]').all_inner_texts()]
    assert all(v and not re.search(r"\b(nan|None|inf)\b", v, re.IGNORECASE) for v in values), values
    shot = screenshot(page, spec.url_path)
    assert shot.stat().st_size > 10_000


def test_home_is_also_served_at_slash_home(server, page):
    """#23 (6): a link to /home said "Page not found" (Streamlit drops the default page's url_path)."""
    page.goto(server + "/")
    wait_for_app(page)
    title = page.locator("h1").first.inner_text()
    page.goto(server + "/home")
    wait_for_app(page)
    assert page.get_by_text("Page not found").count() == 0
    assert page.locator("h1").first.inner_text() == title
    assert page.locator('[data-testid="stException"]').count() == 0


def root_font_size(page) -> str:
    return page.evaluate("getComputedStyle(document.documentElement).fontSize")


def test_lecture_mode_survives_a_click_on_a_sidebar_link(server, page):
    """Lecture mode switched on by the URL stays on when the lecturer moves on by clicking a link in
    the sidebar (not by typing ?lecture=1 again): larger type, the toggle on, the URL shareable."""
    page.goto(server + "/")
    wait_for_app(page)
    normal = root_font_size(page)
    page.goto(server + "/?lecture=1")
    wait_for_app(page)
    screenshot(page, "home-lecture-mode")
    assert root_font_size(page) == "21px" != normal
    expand = page.locator('[data-testid="stExpandSidebarButton"]')  # lecture mode starts with it collapsed
    if expand.count():
        expand.first.click()
    setup = next(spec for spec in ALL_PAGES if spec.url_path == "setup")
    page.locator('[data-testid="stSidebarNavLink"]', has_text=setup.title).first.click()
    wait_for_app(page)
    assert page.url.split("?")[0].rstrip("/").endswith("/setup")
    assert "lecture=1" in page.url
    assert root_font_size(page) == "21px"
    assert page.locator('[data-testid="stSidebar"] [data-testid="stCheckbox"] input').first.is_checked()
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


def test_gallery_mosaic_picture_loads_and_a_click_on_a_tile_selects_its_channel(server, page):
    """The clickable mosaic's picture comes by URL from the session's worker (not inside the chart): the
    browser gets it (HTTP 200, an image), and a click on tile 5 selects channel 5."""
    page.goto(server + "/neuron-gallery")
    wait_for_app(page)
    picture = page.locator(".js-plotly-plot .imagelayer image").first
    href = picture.evaluate("e => e.getAttribute('xlink:href') || e.getAttribute('href')")
    assert href and not href.startswith("data:")
    status, kind = page.evaluate("async h => { const r = await fetch(h); return [r.status, r.headers.get('content-type')]; }",
                                 href)
    assert status == 200 and kind.startswith("image/"), (status, kind)
    box = picture.bounding_box()
    tile = box["width"] / (8 * 98 - 2)  # screen pixels per mosaic pixel
    page.mouse.click(box["x"] + (5 * 98 + 48) * tile, box["y"] + 48 * tile)
    wait_for_app(page)
    channel = page.get_by_label(re.compile(r"Channel \(0-\d+\)")).input_value()
    assert channel == "5", channel
