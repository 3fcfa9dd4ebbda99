"""The 2026-12-04 sweep's live-camera rows (Table 2 G): malformed signalling values are one sentence
(N70-N77), connections that never complete are stopped (N79), and an 8K frame is scaled by the decoder's
converter before any RGB copy exists (N80-N81: +1.5 GB per frame before)."""

from __future__ import annotations

import pytest

from dashboard import live_ui
from tests.hostile.test_uploads_memory import CEILING_MB, peak_extra_mb_each

GOOD_SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"

SIGNALLING = [
    ("N70-garbage-sdp", {"playing": True, "sdpOffer": {"type": "offer", "sdp": "v=0 garbage"}}, True),
    ("N71-offer-a-string", {"playing": True, "sdpOffer": "x"}, True),
    ("N72-offer-without-sdp", {"playing": True, "sdpOffer": {"type": "offer"}}, True),
    ("N73-type-answer", {"playing": True, "sdpOffer": {"type": "answer", "sdp": GOOD_SDP}}, True),
    ("N75-ice-candidates-a-list", {"playing": True, "sdpOffer": {"type": "offer", "sdp": GOOD_SDP},
                                   "iceCandidates": [1, 2]}, True),
    ("N76-value-a-list", [1, 2, 3], True),
    ("N77-value-a-number", 7, True),
    ("valid-offer", {"playing": True, "sdpOffer": {"type": "offer", "sdp": GOOD_SDP}, "iceCandidates": {}}, False),
    ("no-value-yet", None, False),
]


@pytest.mark.parametrize("case, value, refused", SIGNALLING, ids=[s[0] for s in SIGNALLING])
def test_malformed_signalling_values_are_one_sentence(case, value, refused):
    problem = live_ui.signalling_problem(value)
    assert (problem == live_ui.SIGNALLING_SENTENCE) if refused else problem is None


class FakeWorker:
    def __init__(self, state):
        self.pc = type("PC", (), {"connectionState": state})()
        self.stopped = False

    def stop(self, timeout=1.0):
        self.stopped = True


def test_connections_that_never_complete_are_stopped(monkeypatch):
    monkeypatch.setattr(live_ui, "_WORKERS", {})
    monkeypatch.setattr(live_ui, "_WATCHDOG", [object()])  # no thread: reap_workers is called by hand
    half_open, live, failed = FakeWorker("connecting"), FakeWorker("connected"), FakeWorker("failed")
    for w in (half_open, live, failed):
        live_ui._watch(w)
    assert live_ui.reap_workers() == 1 and failed.stopped and not half_open.stopped
    assert live_ui.reap_workers(now=1e12) == 1 and half_open.stopped and not live.stopped


@pytest.mark.parametrize("size, expected", [((640, 480), (640, 480)), ((7680, 4320), (1920, 1080)),
                                            ((16383, 16383), (1440, 1440)), ((16000, 16), (16000, 16))])
def test_frame_size_is_capped_keeping_the_aspect(size, expected):
    assert live_ui.frame_size(*size) == expected


def test_an_8k_frame_costs_under_200MB():
    measured = peak_extra_mb_each(
        "import av, numpy as np; from dashboard.live_ui import frame_to_rgb; "
        "F = av.VideoFrame(7680, 4320, 'yuv420p')",
        {"N80-N81-8k-frame-to-rgb": "_r = frame_to_rgb(F); assert _r.shape == (1080, 1920, 3), _r.shape"})
    extra, said = measured["N80-N81-8k-frame-to-rgb"]
    print(f"N80-N81-8k-frame: +{extra:.0f} MB peak RSS ({said})")
    assert said == "accepted" and extra < CEILING_MB


# ----------------------------------------------------------------------------- through streamlit-webrtc itself
# AppTest has no session manager, so streamlit-webrtc's session lookup is answered with None (what it does
# itself outside a server); everything else is the real library: the page's live_stream() and its
# webrtc_streamer(), fed the value the browser would send through the component's own session-state key.

def _live_script():
    import streamlit as st

    from core.live import modes
    from dashboard import live_ui as ui

    ctx = ui.live_stream(modes.LiveSettings(mode="faces"), None, None, "camera")
    worker = ctx._get_worker() if ctx is not None else None
    st.write(f"ctx={ctx is not None} worker={worker is not None}")


def _live_app(monkeypatch):
    live_ui.import_webrtc()  # first: its libsrtp must not bind to TensorFlow's BoringSSL (a segfault on import)
    import streamlit_webrtc.component as component
    import streamlit_webrtc.shutdown as shutdown
    from streamlit.testing.v1 import AppTest

    for module in (component, shutdown):  # no session to observe: its end stops nothing, only the watchdog does
        monkeypatch.setattr(module, "get_this_session_info", lambda: None)
    at = AppTest.from_function(_live_script, default_timeout=60).run()
    assert not at.exception and "ctx=True" in at.markdown[0].value  # the real component, no value yet
    return at, component.generate_frontend_component_key("live-camera")


@pytest.mark.parametrize("case, value, refused", SIGNALLING[:7], ids=[s[0] for s in SIGNALLING[:7]])
def test_malformed_signalling_through_streamlit_webrtc_is_one_sentence(case, value, refused, monkeypatch):
    """N70-N77 on the real library: each value raised ValueError/TypeError/KeyError/InvalidStateError/
    AttributeError out of streamlit-webrtc into the page; now the page shows one sentence."""
    monkeypatch.setattr(live_ui, "_WATCHDOG", [object()])  # no watchdog thread in a test
    monkeypatch.setattr(live_ui, "_WORKERS", {})
    at, frontend = _live_app(monkeypatch)
    at.session_state[frontend] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [w.value for w in at.warning] == [live_ui.SIGNALLING_SENTENCE]
    for worker, _ in live_ui._WORKERS.values():  # a half-built worker is not left behind
        worker.stop(timeout=1.0)
