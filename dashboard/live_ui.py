"""The live camera page's parts, and the real-photo sections of the segmentation and YOLO pages.

A stream gets its own :class:`core.live.modes.LiveSession` (its own TFLite interpreters), driven by a
:class:`core.live.frames.LatestFrameProcessor` (latest frame wins); both end when the stream stops.
Only the zoo's Keras classifiers (read-only) are shared with other sessions.
"""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np
import streamlit as st

from core import images
from core.live import modes as live_modes
from dashboard import components, resources
from serving import patches

# Localhost needs no STUN/TURN: the browser and the server are on the same machine (host candidates).
RTC_CONFIGURATION = {"iceServers": []}
# A frame is converted to RGB at most this large (full HD): a peer may send up to 16383 x 16383, and an
# 8K frame converted at full size cost ~1.5 GB and 4 s in the selfie and channel modes.
MAX_FRAME_PIXELS = 1920 * 1080
# A WebRTC connection that has not connected this long after its offer (or has failed) is stopped: offers
# that never finish ICE kept 2 threads and 5 file handles each, for as long as the server ran.
CONNECT_TIMEOUT_S = 30.0
MEDIA_CONSTRAINTS = {"video": {"width": {"ideal": 640}, "height": {"ideal": 480}, "frameRate": {"ideal": 30}},
                     "audio": False}


# ----------------------------------------------------------------------------- models


def zoo_model(name: str):
    """A zoo classifier from the process-wide model cache (the same entry the CNN pages use), without
    the CNN pages' warm-up: the live page needs the forward pass and Grad-CAM only."""
    from core.vision import zoo

    model = resources.model(name, lambda p: zoo.load_model(name, resources.asset_manager(), progress=p))
    resources.note_loaded(name)
    return model


# ----------------------------------------------------------------------------- the stream's processor


def import_webrtc():
    """``streamlit_webrtc``, imported so that it survives TensorFlow in the same process.

    TensorFlow exports its BoringSSL symbols process-wide; libsrtp inside ``pylibsrtp`` (aiortc's SRTP)
    then binds to them instead of its own OpenSSL and ``srtp_init`` crashes the process (a segfault
    on import). Loading it with RTLD_DEEPBIND makes it use its own symbols first.
    """
    if "pylibsrtp" not in sys.modules:
        old = sys.getdlopenflags()
        sys.setdlopenflags(old | os.RTLD_DEEPBIND)
        try:
            import pylibsrtp  # noqa: F401
        finally:
            sys.setdlopenflags(old)
    import streamlit_webrtc

    return streamlit_webrtc


def processor_class():
    """The streamlit-webrtc processor class (imported lazily: aiortc/av load only on this page)."""
    import_webrtc()
    import av
    from streamlit_webrtc import VideoProcessorBase

    from core.live.frames import LatestFrameProcessor

    class LiveProcessor(VideoProcessorBase):
        """One per stream: the camera thread submits frames and gets back the newest processed one."""

        def __init__(self, settings: live_modes.LiveSettings, emotion_model, cnn_model):
            self.session = live_modes.LiveSession(settings, emotion_model, cnn_model, resources.asset_manager())
            self.frames = LatestFrameProcessor(self.session.process, on_stop=self.session.close)

        def recv(self, frame: av.VideoFrame) -> av.VideoFrame:
            image = frame_to_rgb(frame)
            out = self.frames.submit(image)
            if out is None:  # the first frame is still in the model: show the camera as it is
                out = image
            return av.VideoFrame.from_ndarray(out, format="rgb24")

        def on_ended(self) -> None:
            self.frames.stop()

    return LiveProcessor


def frame_size(width: int, height: int, max_pixels: int = MAX_FRAME_PIXELS) -> tuple[int, int]:
    """(width, height) scaled down (aspect kept, even sides for YUV) to at most ``max_pixels``."""
    import math

    width, height = max(1, int(width)), max(1, int(height))
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def frame_to_rgb(frame) -> np.ndarray:
    """An ``av.VideoFrame`` as (H, W, 3) RGB uint8, scaled by the decoder's converter to at most
    :data:`MAX_FRAME_PIXELS` *before* the RGB copy exists (never a full 8K RGB array)."""
    width, height = frame_size(frame.width, frame.height)
    if (width, height) == (frame.width, frame.height):
        return frame.to_ndarray(format="rgb24")
    return frame.to_ndarray(format="rgb24", width=width, height=height)


SIGNALLING_SENTENCE = ("The camera connection could not be set up: the browser sent a connection offer this server "
                       "cannot use. Press Stop, reload the page and press Start again.")


def frontend_key(key: str) -> str:
    """Where streamlit-webrtc keeps what the browser sent for the streamer ``key`` (``key`` itself holds its
    context object); ``key`` on a version without that helper."""
    try:
        from streamlit_webrtc.component import generate_frontend_component_key
    except ImportError:
        return key
    return generate_frontend_component_key(key)


def signalling_problem(value: object) -> str | None:
    """Why the live component's value (what the browser sent) cannot be used, or None. streamlit-webrtc
    raised ValueError/TypeError/KeyError/AttributeError/InvalidStateError into the page for 7 of 8 such values."""
    if value is None:
        return None
    if not isinstance(value, dict):
        return SIGNALLING_SENTENCE
    offer = value.get("sdpOffer")
    if offer is not None:
        if not (isinstance(offer, dict) and offer.get("type") == "offer" and isinstance(offer.get("sdp"), str)
                and offer["sdp"].startswith("v=0") and "m=" in offer["sdp"]):
            return SIGNALLING_SENTENCE
    candidates = value.get("iceCandidates")
    if candidates is not None and not isinstance(candidates, dict):
        return SIGNALLING_SENTENCE
    return None


_WORKERS: dict[int, tuple[object, float]] = {}  # id -> (streamlit-webrtc worker, first seen)
_WATCHDOG: list = []


def _watch(worker) -> None:
    """Remember ``worker``; a daemon thread stops it when it has not connected within
    :data:`CONNECT_TIMEOUT_S` or its connection failed/closed (a student who left mid-handshake)."""
    import threading
    import time

    if worker is None:
        return
    _WORKERS.setdefault(id(worker), (worker, time.monotonic()))
    if not _WATCHDOG:
        thread = threading.Thread(target=_watchdog_loop, name="webrtc-watchdog", daemon=True)
        _WATCHDOG.append(thread)
        thread.start()


def reap_workers(now: float | None = None) -> int:
    """Stop the watched workers whose connection never completed (or ended); returns how many."""
    import time

    now = time.monotonic() if now is None else now
    stopped = 0
    for key, (worker, seen) in list(_WORKERS.items()):
        pc = getattr(worker, "pc", None)
        state = getattr(pc, "connectionState", "closed") if pc is not None else "closed"
        if state == "connected":
            continue
        if state in ("failed", "closed") or now - seen >= CONNECT_TIMEOUT_S:
            try:
                worker.stop(timeout=1.0)
            except Exception:  # noqa: BLE001 - already stopped or half-built
                pass
            _WORKERS.pop(key, None)
            stopped += 1
    return stopped


def _watchdog_loop() -> None:
    import time

    while True:
        time.sleep(5.0)
        try:
            reap_workers()
        except Exception:  # noqa: BLE001 - the watchdog must survive anything a worker does
            pass


def sample_clip_track():
    """A looping video track made from the sample images (core.live.clip), for a browser without a camera."""
    import_webrtc()
    import av
    from aiortc import VideoStreamTrack

    from core.live import clip

    class SampleClipTrack(VideoStreamTrack):
        def __init__(self):
            super().__init__()
            self.index = 0

        async def recv(self):
            pts, time_base = await self.next_timestamp()
            frame = av.VideoFrame.from_ndarray(clip.clip_frame(self.index // 2), format="rgb24")  # 30 -> 15 fps
            frame.pts, frame.time_base = pts, time_base
            self.index += 1
            return frame

    return SampleClipTrack()


def settings_controls(mode: str, cnn) -> live_modes.LiveSettings:
    """The widgets of ``mode`` -> the settings read on every frame."""
    s = live_modes.LiveSettings(mode=mode)
    if mode == "selfie":
        c1, c2 = st.columns(2)
        s.selfie_view = c1.radio("Show", live_modes.SELFIE_VIEWS, horizontal=True, key="live_selfie_view",
                                 help="cut-out: the person kept, the background dimmed (the raw 256x256 output is "
                                      "inset bottom right); mask: 255 = person; raw: the decoder's 256x256 output.")
        s.threshold = c2.slider("Mask threshold P(person)", 0.05, 0.95, 0.5, 0.05, key="live_threshold")
    elif mode in ("faces", "emotion"):
        c1, c2 = st.columns(2)
        s.min_score = c1.slider("Face score threshold", 0.05, 0.95, 0.5, 0.05, key="live_min_score",
                                help="Anchors scoring at least this fire; weighted NMS merges them into faces.")
        if mode == "faces":
            s.show_anchors = c2.toggle("Show the anchors that fired", True, key="live_show_anchors")
    elif mode == "channel" and cnn is not None:
        layers = [n for n in cnn.spatial_layers if n.endswith(("_activation", "_add"))]
        default = live_modes.DEFAULT_CHANNEL_LAYER if live_modes.DEFAULT_CHANNEL_LAYER in layers else layers[0]
        c1, c2 = st.columns(2)
        s.layer = c1.selectbox("Layer", layers, index=layers.index(default), key="live_layer")
        channels = int(cnn.layer(s.layer).output.shape[-1])
        s.channel = int(c2.number_input(f"Channel (0-{channels - 1})", 0, channels - 1, 0, key="live_channel"))
    return s


def webrtc_available() -> bool:
    """True in a real server session; False under ``streamlit.testing`` (no session manager, no WebRTC)."""
    return patches.serving_sessions()


def still_preview(settings: live_modes.LiveSettings, emotion_model, cnn_model) -> np.ndarray:
    """The mode applied to one frame of the sample clip, with a session of its own (closed after)."""
    from core.live import clip

    session = live_modes.LiveSession(settings, emotion_model, cnn_model, resources.asset_manager())
    try:
        return session.process(clip.clip_frame(0))
    finally:
        session.close()


def live_stream(settings: live_modes.LiveSettings, emotion_model, cnn_model, source: str):
    """The webrtc_streamer of this page; the running stream's settings follow the widgets."""
    import_webrtc()
    from streamlit_webrtc import WebRtcMode, webrtc_streamer

    LiveProcessor = processor_class()

    def factory():
        return LiveProcessor(settings, emotion_model, cnn_model)

    key = "live-clip" if source == "clip" else "live-camera"
    problem = signalling_problem(st.session_state.get(frontend_key(key)))
    try:
        if source == "clip":
            track = st.session_state.get("_live_clip_track")
            if track is None or track.readyState != "live":
                track = st.session_state["_live_clip_track"] = sample_clip_track()
            ctx = webrtc_streamer(key=key, mode=WebRtcMode.RECVONLY, source_video_track=track,
                                  video_processor_factory=factory, rtc_configuration=RTC_CONFIGURATION,
                                  media_stream_constraints={"video": True, "audio": False}, async_processing=True)
        else:
            ctx = webrtc_streamer(key=key, mode=WebRtcMode.SENDRECV, video_processor_factory=factory,
                                  rtc_configuration=RTC_CONFIGURATION, media_stream_constraints=MEDIA_CONSTRAINTS,
                                  async_processing=True)
    except Exception:  # noqa: BLE001 - whatever the signalling library raises about what the browser sent
        st.warning(problem or SIGNALLING_SENTENCE)
        return None
    with contextlib.suppress(Exception):
        _watch(ctx._get_worker())  # private API: a version without it simply is not watched
    processor = ctx.video_processor
    if processor is not None:
        processor.session.settings = settings  # read on the next frame: no restart
        processor.session.emotion_model = emotion_model or processor.session.emotion_model
        processor.session.cnn_model = cnn_model or processor.session.cnn_model
    return ctx


def stream_status(ctx) -> None:
    """Frames in, processed and dropped, and the processor's error if any (one sentence)."""
    processor = ctx.video_processor if ctx is not None else None
    if processor is None:
        return
    frames = processor.frames
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Model FPS", f"{frames.fps:.1f}")
    c2.metric("Frames in", f"{frames.submitted:,}")
    c3.metric("Processed", f"{frames.processed:,}")
    c4.metric("Dropped (latest frame wins)", f"{frames.dropped:,}")
    if frames.error is not None:
        st.warning(f"The model could not process a frame: {str(frames.error)[:200]}")


# ----------------------------------------------------------------------------- still images




@resources.cached("detections", "Running selfie segmentation ...")
def _selfie_still(image: np.ndarray):
    """(Segmentation) for one still image with a fresh interpreter, closed after (thread-safe); once per
    image in this worker."""
    from core.live.selfie import SelfieSegmenter

    seg = SelfieSegmenter(resources.asset_manager())
    try:
        return seg.segment(image)
    finally:
        seg.close()


@resources.cached("detections", "Running BlazeFace ...")
def _blazeface_still(image: np.ndarray, min_score: float, iou: float):
    """BlazeFace on one still image, once per (image, thresholds) in this worker."""
    from core.live.blazeface import BlazeFace

    det = BlazeFace(resources.asset_manager())
    try:
        return det.detect(image, min_score=min_score, iou_threshold=iou)
    finally:
        det.close()


def _photo(key: str, input_size: tuple[int, int]) -> np.ndarray | None:
    """The picked photo (a sample, an upload or the camera), or None after a sentence when the network
    cannot see it (too thin, or too elongated for its square input)."""
    loaded = components.image_picker(key, default="astronaut", camera=True, label="Photo")
    if loaded is None:
        return None
    problem = images.model_view_problem(loaded.array, input_size)
    if problem is not None:
        st.warning(problem)
        return None
    return loaded.array


def real_photo_segmentation() -> None:
    """Segmentation page: MediaPipe's selfie segmentation on a real photo (sample or upload)."""
    st.divider()
    st.header("A real photo: MediaPipe selfie segmentation")
    st.markdown(
        "A pretrained segmentation network in production use (video calls' background blur): an encoder-decoder "
        "that maps a **256×256** RGB image to a **256×256** map of P(person). Thresholding the decoder's output gives "
        "the mask; the network never sees more than 256×256 pixels, so the mask is stretched back to the photo.")
    image = _photo("seg_real", (256, 256))
    if image is None:
        return
    threshold = st.slider("Threshold on P(person)", 0.05, 0.95, 0.5, 0.05, key="seg_real_threshold")
    seg = _selfie_still(image)
    _selfie_section(image, threshold)  # drawn once per (photo, threshold) in this worker, then replayed
    components.download_image(lambda: seg.mask(threshold), "selfie_mask.png", "Download the mask (PNG)",
                              key="seg_real_dl")
    st.caption("The same from a terminal: `python -m core segment --model selfie --image astronaut --out mask.png "
               "--json`. Live on a webcam: the Live camera page.")


def real_anchor_detector() -> None:
    """YOLO page: BlazeFace, a real single-shot anchor detector, next to YOLO's decoding."""
    from core.live import blazeface as bf

    st.divider()
    st.header("A real single-shot anchor detector: BlazeFace")
    st.markdown(
        "MediaPipe's face detector is a single-shot detector like YOLO: one pass of a 128×128 letterboxed image, "
        "then a fixed set of **896 anchors** = 16×16 cells × 2 anchors (stride 8) + 8×8 cells × 6 anchors "
        "(stride 16). Each anchor predicts one face score and 16 numbers: a box and six keypoints.")
    st.markdown(
        "| | YOLO (v2/v3) | BlazeFace |\n|---|---|---|\n"
        "| centre | σ(t_x) + cell column, in cells | dx / 128 + anchor x, offsets in input pixels |\n"
        "| size | anchor prior × exp(t_w) | w / 128 (all anchors are 1×1: size is regressed directly) |\n"
        "| score | objectness × class probability | σ(logit), one class |\n"
        "| extra outputs | C class scores | 6 keypoints (eyes, nose, mouth, ears) |\n"
        "| NMS | greedy: keep the best box, drop overlaps | weighted: the best box absorbs overlaps (IoU > 0.3), "
        "the output is their score-weighted average |")
    image = _photo("yolo_blazeface", (128, 128))
    if image is None:
        return
    c1, c2 = st.columns(2)
    min_score = c1.slider("Score threshold", 0.05, 0.95, 0.5, 0.05, key="yolo_bf_score")
    iou = c2.slider("Weighted-NMS IoU", 0.05, 0.95, bf.NMS_IOU, 0.05, key="yolo_bf_iou")
    det = _blazeface_still(image, min_score, iou)
    _blazeface_section(image, min_score, iou)  # drawn once per (photo, thresholds) in this worker, then replayed
    components.download_figure(lambda: anchor_figure(det), "blazeface_anchors.html", key="yolo_bf_fig_dl")
    components.download_image(lambda: live_modes.draw_faces(image, det, True), "blazeface.png",
                              "Download the picture (PNG)", key="yolo_bf_dl")
    st.caption("From a terminal: `python -m core detect --model blazeface --image astronaut --json`.")


@components.replayed("live.selfie", pictures=True)
def _selfie_section(image: np.ndarray, threshold: float) -> None:
    seg = _selfie_still(image)
    mask = seg.mask(threshold)
    overlay = image.copy()
    overlay[mask == 0] = (0.35 * overlay[mask == 0]).astype(np.uint8)
    c1, c2, c3 = st.columns(3)
    c1.image(overlay, caption=f"person kept, background dimmed ({mask.mean() / 255:.0%} person)", width="stretch")
    c2.image(mask, caption=f"mask at {threshold:.2f}: 255 = person", width="stretch")
    c3.image((seg.raw * 255).astype(np.uint8), caption="decoder output before thresholding (256×256)",
             width="stretch", clamp=True)


@components.replayed("live.blazeface", pictures=True)
def _blazeface_section(image: np.ndarray, min_score: float, iou: float) -> None:
    """The detection, its anchors and faces: everything from (photo, thresholds), so it is replayed."""
    det = _blazeface_still(image, min_score, iou)
    m1, m2, m3 = st.columns(3)
    m1.metric("Anchors", f"{len(det.scores)}")
    m2.metric(f"Fired (score ≥ {min_score:.2f})", f"{len(det.fired)}")
    m3.metric("Faces after weighted NMS", f"{len(det.faces)}")
    d1, d2 = st.columns(2)
    d1.image(live_modes.draw_faces(image, det, True),
             caption="faces (green), keypoints (magenta), anchors that fired (dots) and their decoded boxes",
             width="stretch")
    d2.plotly_chart(anchor_figure(det), width="stretch")
    if det.faces:
        import pandas as pd

        rows = [{"face": i, "score": round(f.score, 3), "anchors merged": len(f.members),
                 "box [x0, y0, x1, y1]": [round(float(v), 1) for v in f.box]} for i, f in enumerate(det.faces)]
        st.dataframe(pd.DataFrame(rows), hide_index=True)


def anchor_figure(det):
    """The 896 anchor centres on the 128x128 network input, coloured by score (fired ones outlined)."""
    import plotly.graph_objects as go

    from core.live.blazeface import ANCHORS

    c = ANCHORS.centers * 128
    fig = go.Figure()
    fig.add_trace(go.Image(z=det.network_input))
    for grid, symbol in ((16, "circle"), (8, "diamond")):
        sel = ANCHORS.grid == grid
        fig.add_trace(go.Scatter(
            x=c[sel, 0], y=c[sel, 1], mode="markers", name=f"{grid}x{grid} grid ({int(sel.sum())} anchors)",
            marker=dict(symbol=symbol, size=5 if grid == 16 else 8, color=det.scores[sel], cmin=0, cmax=1,
                        colorscale="Viridis", opacity=0.55, line=dict(width=0),
                        colorbar=dict(title="score", len=0.6) if grid == 16 else None),
            text=[f"anchor {i}: score {det.scores[i]:.3f}" for i in np.flatnonzero(sel)], hoverinfo="text"))
    fired = det.fired
    if len(fired):
        fig.add_trace(go.Scatter(x=c[fired, 0], y=c[fired, 1], mode="markers", name="fired",
                                 marker=dict(size=14, color="rgba(0,0,0,0)", line=dict(color="red", width=2))))
    fig.update_layout(title="896 anchors on the 128×128 input", height=480,
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x")
    return fig
