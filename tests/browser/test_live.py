"""The live camera page in a real Chromium with a fake camera playing a clip made from the sample images.

Chromium plays a .y4m file as its camera (--use-file-for-fake-video-capture) and grants the camera
without asking (--use-fake-ui-for-media-stream). The test starts the stream, checks that processed
frames arrive (the overlay changes the pixels the camera sent), reads the FPS, screenshots every mode,
and stops the stream.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from core.live import clip
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, screenshot, wait_for_app

pytestmark = pytest.mark.browser

LIVE_URL = "/live-camera"
IFRAME = 'iframe[title*="webrtc"]'


@pytest.fixture(scope="module")
def camera_page(playwright, tmp_path_factory):
    y4m = clip.write_y4m(tmp_path_factory.mktemp("camera") / "clip.y4m", frames=2 * clip.FPS)  # Chromium loops it
    args = CHROMIUM_ARGS + ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                            f"--use-file-for-fake-video-capture={y4m}", "--autoplay-policy=no-user-gesture-required"]
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    yield context.new_page()
    context.close()
    browser.close()


def video_pixels(pg) -> np.ndarray:
    """The frame the <video> inside the component shows now, as (H, W, 3) uint8 (drawn on a canvas and sent
    as one PNG: a JS array of every byte took seconds per frame to serialise)."""
    import base64
    import io

    from PIL import Image

    frame = pg.frame_locator(IFRAME).first
    url = frame.locator("video").first.evaluate(
        """v => { const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
                  c.getContext('2d').drawImage(v, 0, 0); return c.toDataURL('image/png'); }""")
    png = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def wait_for_frame(pg, condition, timeout_s: float = 60.0) -> np.ndarray:
    """The first video frame for which ``condition(frame)`` holds, polled every 200 ms (a condition on
    the pixels, not a fixed sleep); after ``timeout_s`` the last frame, for the caller's assertion to judge."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        frame = video_pixels(pg)
        if condition(frame) or time.monotonic() > deadline:
            return frame
        pg.wait_for_timeout(200)


def wait_for_new_frames(pg, count: int = 3, timeout_s: float = 10.0) -> int:
    """Wait until the video has shown ``count`` frames that differ from the one before it (the clip pans,
    so a new processed frame differs; the same output sent again differs only by codec noise): after a
    settings change, the third such frame was processed with the new settings (one may already have
    been in the model). Polled every 100 ms; returns how many were seen when ``timeout_s`` ran out."""
    import time

    def small(img: np.ndarray) -> np.ndarray:
        return img[::4, ::4].astype(np.float32).mean(axis=2)

    deadline = time.monotonic() + timeout_s
    last, seen = small(video_pixels(pg)), 0
    while seen < count and time.monotonic() < deadline:
        pg.wait_for_timeout(100)
        now = small(video_pixels(pg))
        if np.abs(now - last).mean() > 2.0:
            seen, last = seen + 1, now
    return seen


def overlay_band(img: np.ndarray) -> np.ndarray:
    """Where the FPS line is drawn: the first 22 rows, 120 columns (scaled to the frame's size)."""
    h, w = img.shape[:2]
    return img[int(4 * h / 480):int(22 * h / 480), :int(120 * w / 640)]


def dark_fraction(img: np.ndarray) -> float:
    return float(np.mean(img.max(axis=2) < 25))


def metric(pg, label: str) -> float:
    box = pg.locator('[data-testid="stMetric"]', has_text=label).first
    text = box.locator('[data-testid="stMetricValue"]').inner_text()
    return float(re.sub(r"[^0-9.]", "", text) or "nan")


def test_live_camera_streams_processed_frames_in_every_mode(server, camera_page):
    pg = camera_page
    pg.goto(server + LIVE_URL)
    wait_for_app(pg)
    assert pg.locator('[data-testid="stException"]').count() == 0
    pg.frame_locator(IFRAME).first.get_by_role("button", name=re.compile("start", re.I)).click()
    video = pg.frame_locator(IFRAME).first.locator("video").first
    video.wait_for(state="visible", timeout=60_000)
    pg.wait_for_function(
        """() => { const f = document.querySelector('iframe[title*="webrtc"]');
                   const v = f && f.contentDocument && f.contentDocument.querySelector('video');
                   return v && v.readyState >= 2 && v.videoWidth > 0; }""", timeout=60_000)
    # processed frames arrive: the FPS line's dark box is drawn over the camera's picture
    source_dark = max(dark_fraction(overlay_band(clip.clip_frame(i))) for i in range(0, 2 * clip.FPS, 3))
    shown = wait_for_frame(pg, lambda f: dark_fraction(overlay_band(f)) > source_dark + 0.2)
    assert dark_fraction(overlay_band(shown)) > source_dark + 0.2, "no overlay: frames are not processed"

    shots = {}
    for mode, label in [("faces", "BlazeFace"), ("selfie", "Selfie"), ("emotion", "Emotion"),
                        ("channel", "One channel")]:
        pg.locator('[data-testid="stRadio"]', has_text="On each frame").first.get_by_text(label, exact=False) \
            .first.click()
        wait_for_app(pg)
        wait_for_new_frames(pg)  # the running stream picks the new mode up on its next frame
        assert pg.locator('[data-testid="stException"]').count() == 0
        shots[mode] = video_pixels(pg)
        screenshot(pg, f"live-camera-{mode}")
    # each mode draws something else on the same clip
    means = {m: s.reshape(-1, 3).mean(0) for m, s in shots.items()}
    assert np.abs(means["selfie"] - means["channel"]).sum() > 10

    # the FPS and frame counts (drawn by the last rerun, while the stream ran)
    assert metric(pg, "Model FPS") > 0
    assert metric(pg, "Processed") > 0

    pg.frame_locator(IFRAME).first.get_by_role("button", name=re.compile("stop", re.I)).click()
    wait_for_app(pg)
    pg.locator('[data-testid="stMetric"]', has_text="Model FPS").first.wait_for(state="detached", timeout=60_000)
    assert pg.locator('[data-testid="stMetric"]', has_text="Model FPS").count() == 0
    assert pg.locator('[data-testid="stException"]').count() == 0


def test_sample_clip_streams_without_a_camera(server, camera_page):
    """The 'Sample clip' source: the server streams the clip itself (no camera involved)."""
    pg = camera_page
    pg.goto(server + LIVE_URL)
    wait_for_app(pg)
    pg.locator('[data-testid="stRadio"]', has_text="Video source").first.get_by_text("Sample clip").click()
    wait_for_app(pg)
    pg.frame_locator(IFRAME).first.get_by_role("button", name=re.compile("start", re.I)).click()
    pg.wait_for_function(
        """() => { const f = document.querySelector('iframe[title*="webrtc"]');
                   const v = f && f.contentDocument && f.contentDocument.querySelector('video');
                   return v && v.readyState >= 2 && v.videoWidth > 0; }""", timeout=60_000)
    shown = wait_for_frame(pg, lambda f: dark_fraction(overlay_band(f)) > 0.2)
    assert shown.shape[:2] == (clip.HEIGHT, clip.WIDTH)
    assert dark_fraction(overlay_band(shown)) > 0.2  # processed: the FPS line is drawn
    screenshot(pg, "live-camera-sample-clip")
    pg.frame_locator(IFRAME).first.get_by_role("button", name=re.compile("stop", re.I)).click()
    wait_for_app(pg)
    assert pg.locator('[data-testid="stException"]').count() == 0
