"""Fully Convolutional Learning, after YOLO: Mask R-CNN, "boxes are stupid anyway", keypoints as one-pixel masks."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core.detection import keypoints as KP
from dashboard import components, figures, navigation, resources
from dashboard import lecture as lecture_path

st.title("Mask R-CNN: masks, and keypoints as masks")
stage = lecture_path.stage()  # lecture mode: the keypoint picture first, under the title
st.markdown("> *Boxes are stupid anyway though, I'm probably a true believer in masks except I can't get YOLO to "
            "learn them.* — the YOLOv3 report's last line, and the slides' bridge to **Mask R-CNN**: Faster R-CNN "
            "plus a small FCN per RoI that predicts a **mask** for each object. Still pretty fast (**5 FPS**), "
            "excellent results.")
st.caption("Mask R-CNN is He, Gkioxari, Dollár and Girshick, **ICCV 2017** (the slide's \"Ren et al., 2018\": Ren is "
           "Faster R-CNN's first author; 2018 is the journal version's year).")

# ----------------------------------------------------------------------------- keypoints
st.header("Keypoints from the same features: one m × m mask per keypoint")
st.markdown("The same head that predicts a mask per RoI predicts **keypoints** (the slide: *\"key point detection "
            "from same FCN features, not real time, post processed\"*). Each of the K keypoint types gets its own "
            "m × m map of the RoI, and its training target is a **mask with exactly one pixel on**: the cell the "
            "keypoint falls in. The loss is a softmax over the m² cells of each map (one cell wins, a cross-entropy), "
            "not the per-pixel sigmoid of object masks; at test time the arg-max cell, mapped back through the RoI, "
            f"is the keypoint. The paper uses m = {KP.PAPER_M} and COCO's K = {KP.PAPER_K} person keypoints; here a "
            f"stick figure with K = {len(KP.KEYPOINTS)}.")
with components.controls("Keypoint maps"):
    c1, c2 = st.columns(2)
    m = c1.select_slider("Map side m", [4, 7, 14, 28, 56], 14, key="kp_m",
                         help="Mask R-CNN: 56. Smaller maps are coarser: the keypoint can only be placed at a cell centre.")
    seed = c2.number_input("Figure", 0, 999, 0, key="kp_seed", help="Another stick figure (random joints).")

@resources.cached("views", "Drawing the keypoint maps ...")
def keypoint_view(m: int, seed: int):
    """The stick figure, its K one-pixel target masks, the illustrative prediction and its decoding: one
    per (m, figure) in this worker, shared by every student."""
    fig_ = KP.stick_figure(192, seed)
    targets = KP.keypoint_targets(fig_.keypoints, fig_.box, m)
    pred = KP.blurred_prediction(targets, seed=seed)
    decoded = KP.decode(pred, fig_.box)
    loss = KP.cross_entropy(pred, targets)
    error = np.linalg.norm(decoded - fig_.keypoints, axis=1)
    return fig_, targets, pred, decoded, loss, error


fig_, targets, pred, decoded, loss, error = keypoint_view(int(m), int(seed))


def figure_picture() -> np.ndarray:
    import cv2

    img = fig_.image.copy()
    x0, y0, x1, y1 = (int(round(v)) for v in fig_.box)
    cv2.rectangle(img, (x0, y0), (x1, y1), (255, 150, 0), 1)  # RGB: orange
    for (x, y) in fig_.keypoints:
        cv2.circle(img, (int(round(x)), int(round(y))), 4, (220, 30, 160), -1, cv2.LINE_AA)
    for (x, y) in decoded:
        cv2.drawMarker(img, (int(round(x)), int(round(y))), (20, 160, 60), cv2.MARKER_CROSS, 10, 2)
    return img


def maps_figure(maps: np.ndarray, title: str, colorscale: str) -> go.Figure:
    fig = make_subplots(rows=1, cols=len(maps), subplot_titles=list(KP.KEYPOINTS), horizontal_spacing=0.02)
    for k, mk in enumerate(maps):
        fig.add_trace(go.Heatmap(z=mk, colorscale=colorscale, showscale=False,
                                 hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>"), row=1, col=k + 1)
        fig.update_yaxes(autorange="reversed", showticklabels=False, scaleanchor=f"x{k + 1}" if k else "x",
                         row=1, col=k + 1)
        fig.update_xaxes(showticklabels=False, row=1, col=k + 1)
    fig.update_layout(title=dict(text=title, y=0.98), height=280, margin=dict(l=0, r=0, t=80, b=0), font=figures.FONT)
    return fig


def pictures_section() -> None:
    p1, p2 = st.columns([1, 3])
    p1.image(figure_picture(), width="stretch",
             caption="RoI (orange), true keypoints (magenta), decoded from the maps (green +)")
    with p2:
        st.plotly_chart(maps_figure(targets, f"training targets: {len(targets)} masks of {m} × {m}, one pixel each",
                                    [[0, "#ececec"], [1, "#111111"]]), width="stretch")
        st.plotly_chart(maps_figure(pred, "what a trained head outputs: a softmax over each map's cells "
                                          "(illustration, not a trained model)", "Viridis"), width="stretch")


def numbers_section() -> None:
    cols = st.columns(3)
    cols[0].metric("pixels on per target mask", f"{int(targets.reshape(len(targets), -1).sum(axis=1).max())}")
    cols[1].metric("mean keypoint error", f"{error.mean():.1f} px",
                   help="Arg-max cell centre vs the true keypoint: at most half a cell of the RoI.")
    cols[2].metric("mean cross-entropy", f"{np.nanmean(loss):.2f}", help=f"uniform guess: ln(m²) = {np.log(m * m):.2f}")
    cell = ((fig_.box[2] - fig_.box[0]) / m, (fig_.box[3] - fig_.box[1]) / m)
    st.caption(f"One cell of the {m} × {m} map is {cell[0]:.1f} × {cell[1]:.1f} px of this RoI, so a decoded keypoint "
               f"is off by at most half of that. Try m = 4 and m = 56: the paper's 56 × 56 keeps the error to a pixel "
               "or two on a person-sized box. The 'trained head' maps are the targets blurred and put through the "
               "softmax, to show the shape of the output; no keypoint model is trained here.")


# drawn once per (m, figure) in this worker and replayed for every other student (the two subplot grids
# cost ~0.2 s of CPU to build and serialise)
with lecture_path.place(stage):
    components.replay("maskrcnn.keypoints", (int(m), int(seed), stage is None), pictures_section, pictures=True)
components.replay("maskrcnn.numbers", (int(m), int(seed)), numbers_section)

# ----------------------------------------------------------------------------- real time, and the masks themselves
st.header("Real-time Mask R-CNN")
st.markdown("The slide's video: [Real-time Mask R-CNN (YouTube)](https://www.youtube.com/watch?v=nEug0-pD0Ms) "
            "(online). Keypoints that *are* real time run on the **live page**: BlazeFace predicts six face keypoints "
            "from the same anchor features as its boxes, at camera speed on a CPU.")
for url_path, label in (("rcnn", "Instance segmentation offline and RoIAlign (the R-CNN page)"),
                        ("live-camera", "Live camera: BlazeFace boxes + six keypoints")):
    spec = next((s for s in navigation.PAGES if s.url_path == url_path and s.path.exists()), None)
    if spec is not None:
        st.page_link(navigation.page_link_target(spec), label=label, icon=":material/arrow_forward:")
