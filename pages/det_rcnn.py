"""Fully Convolutional Learning, part two: the R-CNN family (five papers, one change each), YOLO's
alternative, and instance segmentation."""

import numpy as np
import pandas as pd
import streamlit as st

from core.detection import detector as detectors
from core.detection import instances as I
from core.detection.history import MILESTONES
from core.fcn import segmentation as seg
from core.scenes import SEGMENT_PALETTE
from dashboard import components, figures, resources
from dashboard import lecture as lecture_path

st.title("The R-CNN family, YOLO, and instances")
stage = lecture_path.stage()  # lecture mode: the step's picture first, above the text (default: the timeline)
# the slides that are about a section further down put that section's picture on the stage instead
focus = lecture_path.focus("rcnn", {"RoI pooling": "roi", "The slide's loss": "losses"}, "timeline")
st.markdown("From R-CNN to Faster R-CNN, detection got **~350× faster** (50 s → 140 ms per image) in about a year "
            "and a half, by removing repeated work; YOLO then made it real-time. Each paper changed one thing.")
st.caption("Where the numbers come from: the lecture's 140 ms (7 FPS) for Faster R-CNN is the YOLO paper's Table 1 "
           "entry; the Faster R-CNN paper itself reports **198 ms** per image (5 FPS) for VGG-16. RetinaNet and "
           "Mask R-CNN are both **ICCV 2017** papers (the slides' \"2018\" heading is the YOLOv3 report's year). "
           "The slide's \"YOLO: slightly more accurate than Faster R-CNN\" holds for **YOLOv2** (76.8 VOC07 mAP at "
           "67 FPS, 78.6 at 40 FPS, vs 73.2); YOLOv1 was less accurate (63.4 at 45 FPS) — both are in the table.")


def timeline_section() -> None:
    table = pd.DataFrame([{"year": m.year, "model": m.name, "speed (lecture)": m.speed_text,
                           "s / image": m.seconds_per_image, "accuracy": m.accuracy, "metric": m.metric,
                           "what changed": m.change} for m in MILESTONES])
    st.plotly_chart(figures.detection_timeline(MILESTONES), width="stretch")
    st.caption("Speeds as in the lecture (GPUs of the day); accuracies are the papers' headline numbers on the "
               "dataset named — VOC 2007 mAP and COCO numbers are not comparable with each other, hence the colours. "
               "Not measured here.")
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"what changed": st.column_config.TextColumn(width="large")})


with lecture_path.at(stage, focus, "timeline"):
    components.replay("rcnn.timeline", tuple(MILESTONES), timeline_section)  # drawn once per worker, then replayed
components.download_figure(lambda: figures.detection_timeline(MILESTONES), "detection_timeline.html",
                           key="dl_timeline")

# ----------------------------------------------------------------------------- RoI pooling vs RoIAlign
from core.detection import roi as R  # noqa: E402
from core.images import resize  # noqa: E402

st.header("RoI pooling versus RoIAlign: the quantisation Mask R-CNN removed")
st.markdown("Fast R-CNN crops each proposal from the shared feature map with **RoI pooling**: the box is rounded to "
            "whole cells, the bins are rounded again (floor / ceil), and each bin keeps its **max**. Mask R-CNN's "
            "**RoIAlign** rounds nothing: every bin averages a few **bilinearly interpolated** sampling points at "
            "exact positions. The rounding moves the features by up to half a cell — at stride 16, 8 image pixels: "
            "harmless for a class label, visible in a pixel mask.")
FEATURE_SIDE = 12
with components.controls("RoI on the feature map", expanded=True):
    r1, r2, r3, r4 = st.columns(4)
    bx0 = r1.slider("x0 (cells)", 0.0, FEATURE_SIDE - 1.0, 2.3, 0.05, key="roi_x0")
    by0 = r2.slider("y0 (cells)", 0.0, FEATURE_SIDE - 1.0, 3.6, 0.05, key="roi_y0")
    bw = r3.slider("width (cells)", 0.5, float(FEATURE_SIDE), 5.4, 0.05, key="roi_w")
    bh = r4.slider("height (cells)", 0.5, float(FEATURE_SIDE), 4.7, 0.05, key="roi_h")
    r5, r6, r7 = st.columns(3)
    bins = r5.select_slider("Output bins (per side)", [1, 2, 3, 4, 7], 3, key="roi_bins",
                            help="Fast R-CNN and Mask R-CNN's box head use 7 x 7; 3 x 3 is easier to read")
    sampling = r6.slider("RoIAlign samples per bin side", 1, 4, 2, key="roi_sampling",
                         help="Mask R-CNN samples 2 x 2 points per bin")
    stride = r7.select_slider("Feature stride (image px per cell)", [4, 8, 16, 32], 16, key="roi_stride")
if bx0 + bw > FEATURE_SIDE or by0 + bh > FEATURE_SIDE:
    st.warning(f"The box leaves the {FEATURE_SIDE} × {FEATURE_SIDE} map: it is cut at the edge.")
    bw, bh = min(bw, FEATURE_SIDE - bx0), min(bh, FEATURE_SIDE - by0)
roi_box = (bx0, by0, bx0 + bw, by0 + bh)

scenes = resources.detection_test_set()


def roi_feature() -> np.ndarray:
    return resize(scenes.images[0], FEATURE_SIDE, FEATURE_SIDE, "area").astype(np.float64).mean(axis=-1) / 255.0


def roi_figure():
    feature = roi_feature()
    pooled, aligned = R.roi_pool(feature, roi_box, (bins, bins)), R.roi_align(feature, roi_box, (bins, bins), sampling)
    return figures.roi_pool_vs_align(feature, roi_box, pooled.bins, aligned.bins, aligned.samples, pooled.argmax)


def roi_section() -> None:
    """Everything here follows from the sliders: drawn once per setting in this worker, replayed for the others."""
    feature = roi_feature()
    pooled = R.roi_pool(feature, roi_box, (bins, bins))
    aligned = R.roi_align(feature, roi_box, (bins, bins), sampling)
    shift = R.misalignment(roi_box, (bins, bins))
    f1, f2 = st.columns([3, 2])
    f1.plotly_chart(roi_figure(), width="stretch")
    with f2:
        lo, hi = float(feature.min()), float(feature.max())
        st.plotly_chart(figures.small_grid(pooled.output, "RoI pooling (max, quantised)", zmin=lo, zmax=hi), width="stretch")
        st.plotly_chart(figures.small_grid(aligned.output, "RoIAlign (mean of bilinear samples)", zmin=lo, zmax=hi),
                        width="stretch")
    m1, m2, m3 = st.columns(3)
    m1.metric("Box edges moved by rounding", f"{shift['box_max']:.2f} cells",
              help=f"= {shift['box_max'] * stride:.1f} image pixels at stride {stride}; per edge (x0, y0, x1, y1): "
              + ", ".join(f"{v:+.2f}" for v in shift["box_shift"]))
    m2.metric("Worst bin edge misalignment", f"{shift['bin_max'] * stride:.1f} px",
              help=f"{shift['bin_max']:.2f} cells (mean {shift['bin_mean']:.2f}): box rounding plus floor/ceil of the bins")
    m3.metric("Mean |RoI pool − RoIAlign|", f"{float(np.abs(pooled.output - aligned.output).mean()):.3f}")
    st.caption(f"The map: held-out scene 0 averaged over {96 // FEATURE_SIDE} × {96 // FEATURE_SIDE}-pixel blocks "
               f"(gray level, {FEATURE_SIDE} × {FEATURE_SIDE} cells), standing in for one channel of a conv feature map. "
               "Black: the RoI as proposed; red: the cells RoI pooling reads (× its max); blue dashed: RoIAlign's exact "
               "bins, dots: its sampling points, each interpolated from the four nearest cell centres.")


with lecture_path.at(stage, focus, "roi"):
    components.replay("rcnn.roi", (roi_box, bins, sampling, stride), roi_section)
components.download_figure(roi_figure, "roi_pool_vs_align.html", key="dl_roi")

# ----------------------------------------------------------------------------- box losses
st.header("Box losses: Faster R-CNN's anchor deltas with smooth L1, next to YOLO's")
st.markdown("**The slide's version** (2015: Faster R-CNN, Training): squared errors on the centre and on the "
            "log of the size, and a cross-entropy per class —")
st.latex(r"l_{box}=\sum_i \mathbf 1_i\Big[(x-\hat x_i)^2+(y-\hat y_i)^2+(\log w-\log\hat w_i)^2+(\log h-\log\hat h_i)^2\Big],"
         r"\qquad l_{class}=\sum_c \mathrm{entropy}(c,\hat c)")
st.caption("The paper's version, below, writes the same four quantities relative to the anchor (t_x, t_y, t_w, t_h) "
           "and replaces the square by smooth L1 (quadratic near 0, linear beyond 1: an outlier box pulls less). "
           "Both score the size by its logarithm, so a box twice too wide costs the same as one half as wide.")
st.latex(r"t_x=\frac{x-x_a}{w_a},\quad t_y=\frac{y-y_a}{h_a},\quad t_w=\log\frac{w}{w_a},\quad t_h=\log\frac{h}{h_a}")
st.latex(r"L_{reg}=\sum_{i\in\{x,y,w,h\}}\mathrm{smooth}_{L1}(t_i-t_i^*),\qquad "
         r"\mathrm{smooth}_{L1}(d)=\begin{cases}0.5\,d^2 & |d|<1\\ |d|-0.5 & \text{otherwise}\end{cases}")
st.latex(r"\text{YOLO: }\lambda_{coord}\big[(x-\hat x)^2+(y-\hat y)^2\big]"
         r"+\lambda_{coord}\big[(\sqrt w-\sqrt{\hat w})^2+(\sqrt h-\sqrt{\hat h})^2\big]")
l1, l2 = st.columns(2)
ratio = l1.slider("Predicted width ÷ true width", 0.5, 2.0, 1.3, 0.05, key="loss_ratio")
offset = l2.slider("Centre shift (fraction of the box width)", 0.0, 0.5, 0.1, 0.05, key="loss_shift")
IMAGE, GRID = 416, 13
sizes = {"small box (24 px)": 24.0, "big box (192 px)": 192.0}


def _boxes(side: float, r: float, dx: float):
    true = np.array([208 - side / 2, 208 - side / 2, 208 + side / 2, 208 + side / 2])
    cx = 208 + dx * side
    pred = np.array([cx - r * side / 2, 208 - side / 2, cx + r * side / 2, 208 + side / 2])
    return pred, true


def loss_figure_and_rows(ratio: float, offset: float):
    ratios = np.linspace(0.5, 2.0, 61)
    curves, rows = {}, []
    for label, side in sizes.items():
        curves[f"Faster R-CNN, {label}"] = [R.faster_rcnn_box_loss(*_boxes(side, r, offset), _boxes(side, 1, 0)[1])["total"]
                                            for r in ratios]
        curves[f"YOLO, {label}"] = [R.yolo_box_loss(*_boxes(side, r, offset), IMAGE, GRID)["total"] for r in ratios]
    for label, side in sizes.items():
        pred, true = _boxes(side, ratio, offset)
        faster, yolo_terms = R.faster_rcnn_box_loss(pred, true, true), R.yolo_box_loss(pred, true, IMAGE, GRID)
        rows.append({"box": label, "t (pred)": ", ".join(f"{v:.3f}" for v in faster["t"]),
                     "t* (true)": ", ".join(f"{v:.3f}" for v in faster["t_star"]), "Faster R-CNN L_reg": faster["total"],
                     "YOLO coord_xy": yolo_terms["coord_xy"], "YOLO coord_wh": yolo_terms["coord_wh"],
                     "YOLO total": yolo_terms["total"]})
    order = [f"{m}, {label}" for label in sizes for m in ("Faster R-CNN", "YOLO")]
    fig_loss = figures.box_loss_curves(ratios, {k: curves[k] for k in order}, "predicted width ÷ true width", ratio)
    return fig_loss, rows


def loss_section() -> None:
    fig_loss, rows = loss_figure_and_rows(ratio, offset)
    st.plotly_chart(fig_loss, width="stretch")
    st.dataframe(pd.DataFrame(rows).round(4), hide_index=True, width="stretch")
    st.caption(f"The anchor is the true box's own shape at its centre (a well-matched anchor, t* = 0); YOLO at "
               f"{IMAGE} px with a {GRID} × {GRID} grid, λ_coord = 5. Faster R-CNN's deltas are relative to the anchor "
               "and its w, h are logarithms, so the same *relative* error costs the same on a small and a big box (the "
               "two Faster R-CNN curves coincide); YOLO's square roots only dampen the size effect — the big box pays "
               "more for the same relative error. Smooth L1 grows linearly beyond |d| = 1, so one bad box cannot "
               "dominate the gradient the way a square does.")


with lecture_path.at(stage, focus, "losses"):
    components.replay("rcnn.losses", (ratio, offset), loss_section)
components.download_figure(lambda: loss_figure_and_rows(ratio, offset)[0], "box_losses.html", key="dl_box_loss")

st.header("Instance segmentation, offline")
st.markdown("Mask R-CNN adds a small FCN *mask head* to Faster R-CNN: one mask per detected box. Here is the idea "
            "with two models the dashboard trains itself: the **tiny YOLO's boxes** and the **segmentation FCN's "
            "per-pixel classes**, each box keeping the pixels of its own class. Honestly: this is **not Mask R-CNN** — "
            "no RoIAlign, no learned per-box mask — and no maintained pretrained Mask R-CNN for Keras 3 exists to "
            "download (keras-hub ships RetinaNet and D-FINE detectors, but no Mask R-CNN), so none is wired.")
st.caption("The lecture's three Mask R-CNN slides (taught after YOLO; the lecture path opens this section then): "
           "still pretty fast (**5 FPS**) with excellent results (He, Gkioxari, Dollár, Girshick, ICCV 2017 — the "
           "slide's \"Ren et al.\" is a slip); **key points** from the same FCN features (not real time, "
           "post-processed; the live page's BlazeFace finds six face key points the same way, from shared features); "
           "[real-time Mask R-CNN (video)](https://www.youtube.com/watch?v=nEug0-pD0Ms). Redmon's YOLOv3 report: "
           "\"boxes are stupid anyway though, I'm probably a true believer in masks\" — which is why masks close "
           "the lecture.")
det = resources.detector("shapes-yolo")
fcn, fcn_card = resources.fcn(seg.DEFAULT_DECODER)
c1, c2 = st.columns(2)
# default: the first scene where two instances of one class come out (what instances add over classes)
showcase = resources.compute("detections", "inst_showcase", lambda p: I.showcase_scene(
    scenes.images, lambda im: detectors.detect(det, im, 0.5, 0.45).detections,
    lambda im: seg.predict_masks(fcn, im[None])[0]), "Choosing a scene ...")
n = c1.slider("Held-out scene", 0, len(scenes.images) - 1, showcase, key="inst_scene")
conf = c2.slider("Detection confidence", 0.05, 1.0, 0.5, 0.05, key="inst_conf")


@resources.cached("detections", "Finding instances ...")
def instances_of(n: int, conf: float):
    """(boxes found, FCN class mask, instances) on held-out scene ``n``: once per (scene, threshold) per worker."""
    image = scenes.images[n]
    found = detectors.detect(det, image, conf, 0.45).detections
    class_mask = seg.predict_masks(fcn, image[None])[0]
    return found, class_mask, I.box_restricted_masks(found, class_mask)


def instances_section() -> None:
    image = scenes.images[n]
    found, class_mask, instances = instances_of(n, conf)
    palette = np.array(SEGMENT_PALETTE, np.uint8)  # the segmentation page's class colours
    from core.detection.yolo import draw_detections
    from core.geometry import enlarge

    i1, i2, i3 = st.columns(3)
    i1.image(draw_detections(image, found, enlarge=4), caption=f"tiny YOLO: {len(found)} boxes", width="stretch")
    i2.image(enlarge(palette[class_mask], 4), caption="FCN: one class per pixel (semantic)", width="stretch")
    i3.image(enlarge(I.colour_instances(image, instances), 4), caption=f"{len(instances)} instances: box ∩ class pixels",
             width="stretch")
    st.dataframe(pd.DataFrame([{"instance": i, "class": inst.detection.class_name, "score": inst.detection.score,
                                "pixels": int(inst.mask.sum())} for i, inst in enumerate(instances)]).round(3),
                 hide_index=True)
    dropped = len(found) - len(instances)
    st.caption("Two shapes of the same class are one blob to the FCN; the boxes split them. Where a box misses part of "
               "its object, the mask is cut off too — one reason Mask R-CNN predicts masks per RoI."
               + (f" {dropped} box(es) got no pixel of their class (a duplicate box, or the FCN disagrees) and are not "
                  "instances." if dropped else ""))


# the key holds what the models are: the cards say which training run each comes from
components.replay("rcnn.instances", (n, conf, det.note, fcn_card), instances_section, pictures=True)
