"""AppTest of the live camera page (no WebRTC under AppTest: each mode on one clip frame) and of the
real-photo sections that the segmentation and YOLO pages call."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.pages.test_embedding_pages import open_page


def test_live_page_every_mode_on_a_clip_frame(app):
    at = open_page(app, "live_camera.py")
    assert not at.exception
    assert any("no WebRTC connection" in i.value for i in at.info)
    for mode in ("selfie", "emotion", "channel", "faces"):
        at.radio(key="live_mode").set_value(mode).run()
        assert not at.exception, mode
    at.radio(key="live_mode").set_value("channel").run()
    at.number_input(key="live_channel").set_value(5).run()
    at.selectbox(key="live_layer").set_value("stem_activation").run()
    assert not at.exception
    at.radio(key="live_mode").set_value("selfie").run()
    for view in ("mask", "raw", "cut-out"):
        at.radio(key="live_selfie_view").set_value(view).run()
        assert not at.exception, view
    at.radio(key="live_source").set_value("clip").run()
    assert not at.exception


def _sections():
    from dashboard import live_ui

    live_ui.real_photo_segmentation()
    live_ui.real_anchor_detector()


def test_real_photo_sections_on_the_astronaut():
    at = AppTest.from_function(_sections, default_timeout=180)
    at.run()
    assert not at.exception
    headers = [h.value for h in at.header]
    assert any("selfie segmentation" in h for h in headers) and any("BlazeFace" in h for h in headers)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Anchors"] == "896" and metrics["Faces after weighted NMS"] == "1"
    fired = int(next(v for k, v in metrics.items() if k.startswith("Fired")))
    at.slider(key="yolo_bf_score").set_value(0.05).run()
    loose = {m.label: m.value for m in at.metric}
    assert int(next(v for k, v in loose.items() if k.startswith("Fired"))) > fired
    at.slider(key="seg_real_threshold").set_value(0.9).run()
    assert not at.exception
    at.radio(key="seg_real_source").set_value("Upload a file").run()
    assert not at.exception and any("Upload an image" in i.value for i in at.info)
