"""Live demo: pretrained networks on the class's own webcam, frame by frame."""

import streamlit as st

from core.assets import AssetError
from core.live import modes as live_modes
from dashboard import live_ui

st.title("Live camera: the networks on you")
st.markdown(
    "Every frame of the webcam goes through a real pretrained network and comes back drawn on. Frames the "
    "model cannot keep up with are **dropped, never queued** (the latest frame wins), so what you see is "
    "never behind what you do. Frames per second and the milliseconds of every stage are drawn on the video.")

mode = st.radio("On each frame", list(live_modes.MODES), format_func=live_modes.MODES.get, horizontal=True,
                key="live_mode")
source = st.radio("Video source", ["camera", "clip"], horizontal=True, key="live_source",
                  format_func={"camera": "Webcam", "clip": "Sample clip (no camera needed)"}.get)
st.caption("No camera, or the browser refused access? Choose 'Sample clip': a looping clip made from the sample "
           "images streams instead." if source == "camera" else "A looping clip made from the sample images.")

# Fixed slots: whatever the mode draws while it loads its model stays inside `controls`, so the video
# component keeps its place in the page and the running stream is not remounted (and stopped).
controls, stream_box = st.container(), st.container()
with controls:
    emotion_model = cnn_model = None
    try:
        if mode == "emotion":
            emotion_model = live_ui.zoo_model("emotion-cnn")
        if mode == "channel":
            cnn_model = live_ui.zoo_model("efficientnet-lite0")
    except AssetError as exc:
        st.error(str(exc))
        st.stop()
    settings = live_ui.settings_controls(mode, cnn_model)
with stream_box:
    if live_ui.webrtc_available():
        ctx = live_ui.live_stream(settings, emotion_model, cnn_model, source)
        live_ui.stream_status(ctx)
    else:
        st.info("This session has no WebRTC connection (a test or script run): here is the mode on one frame of "
                "the sample clip instead.")
        st.image(live_ui.still_preview(settings, emotion_model, cnn_model), caption=live_modes.MODES[mode],
                 width="stretch")

with st.expander("What each mode shows"):
    st.markdown(
        "- **Emotion CNN + Grad-CAM**: BlazeFace finds the faces; each face (a square crop 25 % larger than the "
        "box) goes through the mini-Xception emotion CNN (64×64 gray, FER-2013); Grad-CAM of its top class is "
        "laid over the face and the seven class probabilities are drawn as bars.\n"
        "- **Selfie segmentation**: MediaPipe's 256×256 person segmenter; the cut-out keeps pixels with "
        "P(person) above the threshold and shows the raw 256×256 output in the corner.\n"
        "- **BlazeFace**: the anchors that fired (yellow: the 16×16 grid, cyan: the 8×8 grid) with their decoded "
        "boxes (orange), and the faces left after weighted NMS (green) with six keypoints (magenta); the count "
        "before → after NMS is at the top.\n"
        "- **One CNN channel**: the chosen channel of the chosen layer of EfficientNet-Lite0 (ImageNet), scaled "
        "by its maximum on this frame, over the video; its own grid bottom right.\n\n"
        "Each stream has its own TFLite interpreters (they are not thread-safe), released when it stops. "
        "On a laptop (`localhost`) no STUN/TURN server is needed; for a room, see the README (cameras need HTTPS "
        "on any other address).")
