"""Fully Convolutional Learning, part two: YOLO detections and the output tensor, cell by cell."""


import numpy as np
import pandas as pd
import streamlit as st

from core import images
from core.detection import detector as detectors
from core.detection import yolo as Y
from core.scenes import BACKGROUNDS, DETECT_CLASSES, compose_scene
from dashboard import components, figures, resources
from dashboard import lecture as lecture_path

st.title("YOLO: one network pass, every box at once")
stage = lecture_path.stage()  # lecture mode: thresholds and detections first, above the text and the controls
# the slides about the output tensor, its scales and darknet put those sections on the stage instead
focus = lecture_path.focus("yolo", {"The output tensor, cell by cell": "cell", "Three scales": "cell",
                                    "DarkNet": "darknet", "Darknet models in Keras": "darknet"}, "detections")
st.markdown(
    "YOLO splits the image into an **S × S grid**; every cell predicts **B boxes** (each relative to a prior "
    "shape, the *anchor*), an **objectness** per box and **class probabilities**. Thresholding and non-max "
    "suppression turn those S·S·B guesses into detections.")


def thresholds(cols):
    """The confidence and NMS controls, drawn in three columns."""
    conf = cols[0].slider("Confidence threshold", 0.0, 1.0, 0.5, 0.01, key="det_conf",
                          help="objectness x class probability")
    iou = cols[1].slider("NMS IoU threshold", 0.05, 1.0, 0.45, 0.05, key="det_iou",
                         help="a box is dropped when it overlaps a higher-scoring one by more than this")
    agnostic = cols[2].toggle("Class-agnostic NMS", False, key="det_agnostic")
    return conf, iou, agnostic


lecture = components.lecture_mode()
with components.controls("Detector and image"):
    name = st.selectbox("Detector", list(detectors.DETECTORS), format_func=detectors.DETECTORS.get, key="det_model")
    if name in detectors.DARKNET_WEIGHTS and not components.offer_download(
            resources.asset_manager(), detectors.DARKNET_WEIGHTS[name], f"{name} (darknet COCO weights)",
            f"fetch_{name}"):
        st.info("The darknet architecture itself is built offline: see 'Inside the darknet model' below, or pick "
                "the tiny YOLO trained here.")
        st.stop()
    try:
        det = resources.detector(name)
    except Exception as exc:  # a failed load (asset, training) is one sentence, never a traceback
        st.error(f"{name} could not be loaded: {exc}")
        st.stop()
    st.caption(det.note)
    sources = ["Held-out synthetic scene", "Compose a scene", "Upload or sample image"]
    source = st.radio("Image", sources, horizontal=True, key="det_source",
                      index=0 if name == "shapes-yolo" else 2)
    truth = None
    if source == "Held-out synthetic scene":
        scenes = resources.detection_test_set()
        n = st.slider("Scene", 0, len(scenes.images) - 1, 7, key="det_scene")
        image, truth = scenes.images[n], (scenes.boxes[n], scenes.labels[n])
    elif source == "Compose a scene":
        st.caption("Edit the table: one row per shape (x, y, size as fractions of the side; angle in degrees).")
        default = pd.DataFrame([{"shape": "circle", "x": 0.3, "y": 0.35, "size": 0.15, "angle": 0},
                                {"shape": "square", "x": 0.7, "y": 0.3, "size": 0.12, "angle": 20},
                                {"shape": "triangle", "x": 0.5, "y": 0.72, "size": 0.18, "angle": 0}])
        table = st.data_editor(default, num_rows="dynamic", key="det_compose", column_config={
            "shape": st.column_config.SelectboxColumn(options=list(DETECT_CLASSES), required=True)})
        bg = st.selectbox("Background", BACKGROUNDS, index=BACKGROUNDS.index("blobs"), key="det_bg")
        try:
            image, boxes, labels = compose_scene(table.dropna().to_dict("records"), 96, bg)
        except ValueError as exc:
            st.error(str(exc))
            st.stop()
        truth = (boxes, labels)
    else:
        loaded = components.image_picker("det_image", default="coffee", camera=False)
        if loaded is None:
            st.stop()
        image = loaded.array
        problem = images.model_view_problem(image, (det.size, det.size))
        if problem is not None:  # a 2048 x 1 strip letterboxes to a 0-pixel-high picture: say why, stop
            st.error(problem)
            st.stop()
    if not lecture:
        conf, iou, agnostic = thresholds(st.columns(3))



@resources.cached("detections", lambda name, image, *a: f"Running {name} ...")
def detections(name: str, image: np.ndarray, conf: float, iou: float, agnostic: bool):
    """The detector's result: one network pass per (detector, image), shared by every threshold (the
    sliders re-threshold it), and the thresholded result once per setting in this worker."""
    return detectors.detect(det, image, conf, iou, agnostic, passed=forward(name, image))


@resources.cached("detections", lambda name, image: f"Running {name} ...")
def forward(name: str, image: np.ndarray):
    """One network pass per (detector, image), shared by every threshold."""
    return detectors.forward(resources.detector(name), image)


if lecture:  # on the projector the thresholds sit right above the picture, not in the collapsed panel
    with lecture_path.at(stage, focus, "detections"):
        conf, iou, agnostic = thresholds(st.columns(3))
result = detections(name, image, conf, iou, agnostic)
grids = [tuple(int(v) for v in r.shape[1:3]) for r in result.raw]
setting = (name, det.note, image, conf, iou, agnostic)  # what every section below is drawn from


def detections_section() -> None:
    c1, c2 = st.columns([3, 2])
    with c1:
        # on the projector a square picture as wide as the column (~1000 px) would run past the 1080-px fold
        st.image(drawn_detections(), caption=f"{len(result.detections)} detections (conf ≥ {conf:.2f}, NMS IoU {iou:.2f}"
                 + (", class-agnostic)" if agnostic else ", per class)"), width=520 if lecture else "stretch")
    with c2:
        st.markdown("**Detections**")
        if result.detections:
            st.dataframe(pd.DataFrame([{"class": d.class_name, "score": d.score, "objectness": d.objectness,
                                        "x0": d.box[0], "y0": d.box[1], "x1": d.box[2], "y1": d.box[3],
                                        "scale": d.scale, "cell (row, col)": str(d.cell), "anchor": d.anchor}
                                       for d in result.detections]).round(3), hide_index=True, width="stretch")
        else:
            st.info("Nothing above the confidence threshold: lower it to see the weaker guesses.")
        if truth is not None:
            st.caption(f"Ground truth: {len(truth[0])} objects (" +
                       ", ".join(DETECT_CLASSES[k] for k in truth[1]) + ").")
        st.metric("Boxes predicted before thresholding", f"{Y.boxes_per_image(det.heads, grids):,}")


def drawn_detections() -> np.ndarray:
    return Y.draw_detections(image, result.detections, enlarge=max(1, 384 // max(image.shape[:2])))


with lecture_path.at(stage, focus, "detections"):
    components.replay("yolo.detections", (setting, truth), detections_section, pictures=True)
components.download_image(drawn_detections, f"{name}_detections.png", "Download (PNG)", key="dl_det")

# ----------------------------------------------------------------------------- output tensor
st.header("The output tensor, cell by cell")
scale_names = [f"scale {i}: {g[0]}x{g[1]} grid" for i, g in enumerate(grids)]
s_idx = st.radio("Head", range(len(grids)), format_func=lambda i: scale_names[i], horizontal=True,
                 key="det_head") if len(grids) > 1 else 0
head, (sh, sw) = det.heads[s_idx], grids[s_idx]
B, C = head.boxes_per_cell, head.n_classes
n_boxes = Y.boxes_per_image([head], [(sh, sw)])
st.markdown(f"Shape arithmetic, live: **S × S × B·(5 + C) = {sh} × {sw} × {B}·(5 + {C}) = {sh} × {sw} × "
            f"{B * (5 + C)}** = {n_boxes * (5 + C):,} numbers for {n_boxes:,} boxes. For comparison, "
            "YOLOv1 on VOC: 7 × 7 × (2·5 + 20) = **7 × 7 × 30** — two boxes per cell but *one* class "
            "distribution per cell; from YOLOv2 on, every anchor has its own classes.")
raw = result.raw[s_idx]


@resources.cached("views", "Decoding the output tensor ...")
def objectness_grid(raw: np.ndarray, head: Y.Head) -> np.ndarray:
    """The decoded grid once per (output tensor, head) in this worker, not per student run (a TF decode)."""
    return Y.objectness_grid(raw, head)


@resources.cached("views", "Decoding the cell ...")
def cell_table(raw: np.ndarray, head: Y.Head, row: int, col: int, size: int, class_names: list[str]) -> list[dict]:
    return Y.cell_table(raw, head, row, col, size, class_names)


heat = objectness_grid(raw, head)
best = np.unravel_index(int(np.argmax(heat)), heat.shape)
r1, r2 = st.columns(2)
row = r1.slider("Cell row", 0, sh - 1, int(best[0]), key=f"det_row_{s_idx}")
col = r2.slider("Cell column", 0, sw - 1, int(best[1]), key=f"det_col_{s_idx}")
cells = cell_table(raw, head, row, col, det.size, det.class_names)


SIDE = 480 if lecture else "stretch"  # on the projector two square pictures as wide as their columns pass the fold


def cell_section() -> None:
    g1, g2 = st.columns(2)
    view_scale = max(1, 384 // det.size)
    g1.image(Y.draw_grid(result.boxed, (sh, sw), heat=heat, highlight=[(row, col)], scale=view_scale),
             caption="max objectness per cell (inferno), the selected cell outlined", width=SIDE)
    g2.image(Y.draw_grid(result.boxed, (sh, sw), highlight=[(row, col)], scale=view_scale,
                         boxes=[(c["x0"], c["y0"], c["x1"], c["y1"], f"{c['anchor']}:{c['objectness']:.2f}") for c in cells]),
             caption=f"the {B} boxes cell ({row}, {col}) predicts: anchor:objectness", width=SIDE)
    table = pd.DataFrame([{k: v for k, v in c.items() if k != "probs"} for c in cells])
    st.dataframe(table.round(3), hide_index=True, width="stretch")
    with st.expander("Class probabilities of each anchor in this cell"):
        st.dataframe(pd.DataFrame([c["probs"] for c in cells]).round(4), width="stretch")
    st.caption("b_x = (σ(t_x) + c_x)/S, b_y = (σ(t_y) + c_y)/S, b_w = p_w e^{t_w}, b_h = p_h e^{t_h}, objectness σ(t_o); "
               + ("classes by softmax (YOLOv2)." if head.kind == "v2" else "classes by independent sigmoids (YOLOv3)."))


with lecture_path.at(stage, focus, "cell"):
    components.replay("yolo.cell", (setting, s_idx, row, col), cell_section, pictures=True)
components.download_json(lambda: {"cell": [row, col], "head": s_idx, "anchors": cells}, "yolo_cell.json", key="dl_cell")

# ----------------------------------------------------------------------------- YOLO v1 (slides): one class distribution per cell
st.header("YOLO v1: one class distribution per cell")
from core.detection import darknet as D1  # noqa: E402

v1_head = next(sec for sec in D1.read_cfg(D1.bundled_cfg("yolov1")) if sec.kind == "detection")
v1_s, v1_b, v1_c = v1_head.get("side", 7, int), v1_head.get("num", 2, int), v1_head.get("classes", 20, int)
st.markdown(
    f"The slides' YOLO (v1) has **no anchors**: each of the S × S cells predicts B boxes — x, y within the cell, "
    f"√w, √h of the image, and a confidence Pr(object)·IoU — but **one** set of C class probabilities "
    f"Pr(class | object) that its B boxes share: **S × S × (B·5 + C)**. The shipped `yolov1.cfg` has B = {v1_b}: "
    f"**{v1_s} × {v1_s} × ({v1_b}·5 + {v1_c}) = {v1_s} × {v1_s} × {v1_b * 5 + v1_c}** (the paper's B = 2 gives "
    f"7 × 7 × 30). From v2 on, every anchor carries its own classes: S × S × B·(5 + C) — here "
    f"{sh} × {sw} × {B}·(5 + {C}). So two objects of different classes whose centres fall in one v1 cell cannot "
    "both be named; with anchors they can.")
layout_rows = {
    f"v1 cell ({v1_b * 5 + v1_c} ch.)": [(f"box {b}", 5, b) for b in range(v1_b)]
    + [(f"{v1_c} classes, shared", v1_c, 7)],
    f"v2/v3 cell, same B and C ({v1_b * (5 + v1_c)} ch.)": [(f"anchor {b}: 5 + {v1_c} classes", 5 + v1_c, b)
                                                            for b in range(v1_b)],
}
components.replay("yolo.v1_layout", layout_rows, lambda: st.plotly_chart(
    figures.cell_layouts(layout_rows, "one cell's output vector"), width="stretch"))
st.caption("v1 box b: x, y, √w, √h, confidence (5 channels); v2/v3 anchor b: t_x, t_y, t_w, t_h, t_o and its own "
           f"{v1_c} class scores. Class-specific score of box b in a v1 cell: Pr(class | object) × conf_b — the same class column "
           "multiplies every box of the cell. darknet stores v1's output flat (all cells' classes, then all "
           "confidences, then all boxes); the Keras model built here regathers it into this per-cell layout.")
components.download_figure(lambda: figures.cell_layouts(layout_rows, "one cell's output vector"),
                           "yolo_cell_layouts.html", key="dl_v1_layout")
if st.button("Build yolov1.cfg in Keras (≈ 790 MB of weights in memory, about 15 s)", key="det_v1_build"):
    v1 = resources.compute("detections", "yolov1_summary", lambda p: D1.summary(D1.load_darknet("yolov1", size=448)),
                           "Building YOLO v1 (locally connected + fully connected layers) ...", heavy=True)
    k1, k2, k3 = st.columns(3)
    k1.metric("Output", " × ".join(map(str, v1["output_grid"][0])))
    k2.metric("Parameters", f"{v1['params']:,}")
    k3.metric("Weights file", f"{v1['weights_bytes']:,} bytes", help=f"{D1.HEADER_BYTES}-byte header + 4 bytes "
              "per parameter")
    st.dataframe(pd.DataFrame(v1["layers"]), hide_index=True, width="stretch", height=300)
    st.caption("The [local] layer is locally connected: a 3 × 3 × 1024 filter bank of its own at each of the 7 × 7 "
               "positions (Keras 3 has no LocallyConnected2D, so it is computed as patches × per-position kernels) "
               "— most of v1's parameters, with the [connected] layer that makes the 7 × 7 × 35 numbers.")

# ----------------------------------------------------------------------------- darknet
st.header("Inside a darknet model")
st.markdown("OpenCV 5 has no Darknet reader, so the dashboard parses the published `.cfg` files into Keras "
            "itself. The architecture needs no download; the weights do.")
st.caption("How it is trained (the slide \"The YOLO Architecture\"): the DarkNet backbone is first trained as a "
           "classifier on a traditional image dataset — **ImageNet** — and only the last layers are then trained on "
           "images with bounding boxes. YOLOv3's final layers are trained on **multiple scales** (three heads). "
           "Redmon's CVPR 2016 talk: the slide's link, youtube.com/watch?v=NM6lrxy0bxS. In Keras: "
           "[qqwweee/keras-yolo3](https://github.com/qqwweee/keras-yolo3) (the slide writes \"qzwweeee\").")
from core.detection import darknet as D  # noqa: E402

cfg_names = sorted(p.stem for p in D.CFG_DIR.glob("*.cfg") if p.stem != "yolov1")
d1, d2 = st.columns(2)
cfg = d1.selectbox("cfg", cfg_names, index=cfg_names.index("yolov3-tiny"), key="det_cfg")
size = d2.select_slider("Input size", [320, 416, 608], 416, key="det_cfg_size")
try:
    net = resources.model(("darknet", cfg, size), lambda p: D.load_darknet(cfg, size=size), f"Building {cfg} ...")
except D.DarknetError as exc:
    st.error(str(exc))
    st.stop()


def darknet_section() -> None:
    m1, m2, m3 = st.columns(3)
    m1.metric("Outputs", " + ".join(f"{s[1]}×{s[2]}×{s[3]}" for s in net.output_shapes))
    m2.metric("Boxes per image", f"{net.boxes_per_image:,}")
    m3.metric("Parameters", f"{net.params:,}", help=f"= the weights file: {D.HEADER_BYTES}-byte header + 4 bytes each = "
              f"{net.weights_bytes():,} bytes")
    st.dataframe(pd.DataFrame([{"layer": i.index, "type": i.kind, "detail": i.detail,
                                "output": " x ".join(map(str, i.output_shape)), "params": i.params} for i in net.layers]),
                 hide_index=True, width="stretch", height=320)


with lecture_path.at(stage, focus, "darknet"):
    components.replay("yolo.darknet", (cfg, size), darknet_section)  # the architecture follows from (cfg, size)

from dashboard import live_ui  # noqa: E402 (issue #17: a real single-shot anchor detector, after YOLO)

live_ui.real_anchor_detector()
