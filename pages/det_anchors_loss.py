"""Fully Convolutional Learning, part two: anchors from IoU k-means, the YOLO loss term by term, and the
tiny YOLO trained here on synthetic scenes."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.detection import anchors as K
from core.detection import train as T
from core.detection import yolo as Y
from core.scenes import DETECT_CLASSES
from dashboard import components, figures, resources
from dashboard import lecture as lecture_path

st.title("YOLO: anchors, loss and training")
stage = lecture_path.stage()  # lecture mode: the step's picture first, above the text (default: the anchors' IoU curve)
# the slides about the loss and about mAP put those sections' pictures on the stage instead
focus = lecture_path.focus("yolo-training", {"Training the YOLO Architecture": "loss",
                                             "Update bounding box, confidence, class loss": "loss",
                                             "mAP, and what are we going to do with these detectors?": "ap"}, "anchors")

yolo = resources.model("shapes-yolo-trainer", lambda p: T.load_shapes_yolo(p),
                       "Training the tiny YOLO (about 1.5 minutes, once; cached afterwards) ...")
resources.note_loaded("shapes-yolo")
card = yolo.card
recipe = card["recipe"]



@resources.cached("datasets", "Drawing 1000 training scenes ...")
def training_box_sizes(recipe: dict, n_train: int):
    """(N, 2) widths and heights (fractions of the side) of every box in ``n_train`` training scenes: once
    per worker, as a read-only array that carries its sha256 (the clustering and the section below are
    keyed by it, so no run hashes it again), without keeping the scenes themselves."""
    from core.cache import digested

    return digested(T.training_set(dict(recipe, n_train=n_train)).all_wh())


# ----------------------------------------------------------------------------- anchors
st.header("1. Anchors: good shape priors, found by clustering")
st.markdown("YOLOv2 clusters the training boxes' **(w, h)** with k-means, using the distance "
            "**d = 1 − IoU(box, centroid)** (boxes centred on each other) rather than Euclidean distance, so big "
            "boxes do not dominate. More clusters → higher average IoU with the nearest prior, but more outputs.")
with components.controls("Boxes and clustering", expanded=True):
    a1, a2, a3 = st.columns(3)
    k = a1.slider("k (anchors to show)", 1, 10, 5, key="anc_k")
    update = a2.radio("Centroid update", ["median", "mean"], horizontal=True, key="anc_update")
    seed = a3.number_input("Seed", 0, 10_000, 0, key="anc_seed")
    upload = st.file_uploader("Or your own boxes: a CSV of w,h per line (pixels or fractions)", type=["csv", "txt"],
                              key="anc_csv")
    image_side = None
    if upload is not None:
        name = upload.name if len(upload.name) <= 60 else upload.name[:57] + "..."
        try:  # NaN, infinity, sides above the widget's maximum: one sentence naming the line
            wh = K.read_wh_csv(upload.getvalue().decode("utf-8", errors="replace"), max_side=K.MAX_BOX_SIDE)
        except ValueError as exc:
            st.error(f"{name}: {exc}")
            st.stop()
        wh, sampled = K.sample_boxes(wh, seed=int(seed))  # bounded k-means time, said in a sentence
        if sampled:
            st.info(sampled)
        if wh.max() > 1.0:
            image_side = st.number_input("Image side in pixels (to turn w,h into fractions)", 1, K.MAX_BOX_SIDE,
                                         int(min(K.MAX_BOX_SIDE, max(416, np.ceil(wh.max())))), key="anc_side")
            wh = wh / image_side
        source = f"{len(wh)} boxes from {name}"
    else:
        wh = training_box_sizes(recipe, 1000)
        source = f"{len(wh)} boxes from 1000 synthetic training scenes"

ks = [v for v in range(1, 11) if v <= len(wh)]
if k > len(wh):
    st.warning(f"Only {len(wh)} boxes: k is limited to {len(wh)}.")
    k = len(wh)
curve = resources.compute("anchors", (update, int(seed), resources.content_key(wh)),
                          lambda p: K.iou_curve(wh, ks, int(seed), update), "Clustering for k = 1 ... 10 ...",
                          heavy=len(wh) > 5000)


def anchors_section() -> None:
    """Drawn once per (boxes, clustering, k) in this worker, replayed for everyone else."""
    published = K.published_anchors()
    fig = figures.anchor_iou_curve({kk: r.mean_iou for kk, r in curve.items()},
                                   {f"{K.PUBLISHED_ANCHORS[name][0]} anchors on these boxes": (len(a), K.mean_best_iou(wh, a))
                                    for name, a in published.items()}, source)
    c1, c2 = st.columns([3, 2])
    c1.plotly_chart(fig, width="stretch")
    chosen = curve[k]
    side = 240
    canvas = np.full((side, side, 3), 255, np.uint8)
    boxes = [(side / 2 - w * side / 2, side / 2 - h * side / 2, side / 2 + w * side / 2, side / 2 + h * side / 2, "")
             for w, h in chosen.anchors]
    c2.image(Y.draw_grid(canvas, (1, 1), boxes=boxes, scale=1), width="stretch",
             caption=f"the {k} anchors, centred (the square is the whole image); mean IoU {chosen.mean_iou:.3f}")
    st.dataframe(pd.DataFrame({"anchor": range(k), "w (fraction)": chosen.anchors[:, 0], "h (fraction)": chosen.anchors[:, 1],
                               "boxes assigned": np.bincount(chosen.assignment, minlength=k)}).round(4), hide_index=True)
    st.caption("YOLO9000 Figure 2 has the same shape: average IoU rises quickly, then flattens; the authors chose k = 5. "
               "The published VOC/COCO anchors were fitted to real photos, so on these synthetic shapes they score lower.")


with lecture_path.at(stage, focus, "anchors"):
    components.replay("anchors.curve", (update, int(seed), wh, k, source), anchors_section, pictures=True)
components.download_json(lambda: {"source": source, "update": update,
                                  "anchors": {str(kk): r.anchors.tolist() for kk, r in curve.items()},
                                  "mean_iou": {str(kk): r.mean_iou for kk, r in curve.items()}}, "anchors.json",
                         key="dl_anchors")

# ----------------------------------------------------------------------------- loss
st.header("2. The loss, term by term")
st.latex(r"\lambda_{coord}\sum_{i,j} 1^{obj}_{ij}\big[(x_i-\hat x_{ij})^2+(y_i-\hat y_{ij})^2\big]")
st.latex(r"+\lambda_{coord}\sum_{i,j} 1^{obj}_{ij}\big[(\sqrt{w_i}-\sqrt{\hat w_{ij}})^2+(\sqrt{h_i}-\sqrt{\hat h_{ij}})^2\big]")
st.latex(r"+\sum_{i,j} 1^{obj}_{ij}(C_i-\hat C_{ij})^2+\lambda_{noobj}\sum_{i,j} 1^{noobj}_{ij}(C_i-\hat C_{ij})^2")
st.latex(r"+\sum_{i,j} 1^{obj}_{ij}\sum_c (p_i(c)-\hat p_{ij}(c))^2")
st.caption("λ_coord = 5, λ_noobj = 0.5. 1^obj_ij marks anchor j of the cell holding an object's centre, the anchor "
           "whose shape matches the box best; C_i = 1 there and 0 elsewhere. With anchors, each responsible anchor "
           "carries its own class probabilities.")
st.markdown("**The slide's (YOLOv1) terms**, where they differ from the per-anchor version computed here: one set of "
            "class probabilities **per cell**, and the confidence target is the **IoU** of the predicted box with the "
            "truth (not 1):")
st.latex(r"+\sum_{i=0}^{S^2} 1^{obj}_{i}\sum_{c\in classes}(p_i(c)-\hat p_i(c))^2,\qquad "
         r"C_i=\mathrm{IoU}(	ext{box}_{ij},	ext{truth})")
example = st.slider("Training example", 0, 199, 3, key="loss_example")
scene = resources.compute("datasets", "loss_scenes", lambda p: T.training_set(dict(recipe, n_train=200)),
                          "Drawing training scenes ...")


@resources.cached("detections", "Computing the loss ...")
def loss_on(trained: dict, example: int):
    """(y_true, raw output, loss terms) of the tiny YOLO of this training ``card`` on one example."""
    return yolo.loss_on(scene.images[example], scene.boxes[example], scene.labels[example])


SIDE = 460 if stage is not None else "stretch"  # on the projector two square pictures as wide as their columns pass the fold


def loss_section() -> None:
    """One training example's loss terms and pictures: a forward pass once per example in this worker."""
    x = scene.images[example:example + 1]
    y_true, raw, terms = loss_on(card, example)
    cols = st.columns(len(terms) + 1)
    for col, (t, v) in zip(cols, terms.items(), strict=False):
        col.metric(t, f"{v:.4f}")
    cols[-1].metric("total", f"{sum(terms.values()):.4f}")
    obj = y_true[0, ..., 4]
    responsible = yolo.responsible(y_true, raw)
    grid = yolo.grid
    pred_boxes = [(*r["box"], f"pred {r['anchor']}") for r in responsible]
    rows = [{"cell (row, col)": f"({r['row']}, {r['col']})", "anchor": r["anchor"], "class": r["class"],
             "x": r["x"], "x̂": r["x_pred"], "y": r["y"], "ŷ": r["y_pred"], "w": r["w"], "ŵ": r["w_pred"],
             "h": r["h"], "ĥ": r["h_pred"], "Ĉ": r["objectness"], "p̂(class)": r["class_prob"]} for r in responsible]
    truth_boxes = [(*b, f"true {DETECT_CLASSES[lab]}") for b, lab in zip(scene.boxes[example], scene.labels[example],
                                                                         strict=True)]
    v1, v2 = st.columns(2)
    v1.image(Y.draw_grid(x[0], (grid, grid), heat=obj.max(axis=-1), alpha=0.35,
                         highlight=[(r["row"], r["col"]) for r in responsible], boxes=truth_boxes, scale=4),
             caption="1^obj: the cells responsible for an object (outlined), ground-truth boxes", width=SIDE)
    v2.image(Y.draw_grid(x[0], (grid, grid), heat=Y.objectness_grid(raw, yolo.head), scale=4, boxes=pred_boxes),
             caption="what the trained network predicts: max objectness per cell, the responsible anchors' boxes",
             width=SIDE)
    st.dataframe(pd.DataFrame(rows).round(3), hide_index=True, width="stretch")
    st.caption(f"The other {grid * grid * yolo.head.boxes_per_cell - len(responsible)} (cell, anchor) pairs are 1^noobj: "
               "only their confidence is pushed towards 0, with weight λ_noobj.")


with lecture_path.at(stage, focus, "loss"):
    components.replay("anchors.loss", (card, example), loss_section, pictures=True)

# ----------------------------------------------------------------------------- training
st.header("3. The tiny YOLO trained here")


def training_section() -> None:
    m = st.columns(4)
    m[0].metric("mAP@0.5 (held-out)", f"{card['map50']:.3f}", help=f"{recipe['n_test']} held-out scenes, VOC all-point AP")
    m[1].metric("Training time", f"{card['train_seconds']:.0f} s", help=f"{recipe['epochs']} epochs on {card['device']}")
    m[2].metric("Input / grid", f"{recipe['size']} px / {recipe['size'] // recipe['stride']}×{recipe['size'] // recipe['stride']}")
    m[3].metric("Anchors (k-means)", f"{len(card['anchors'])}, IoU {card['anchor_mean_iou']:.3f}")
    st.caption("Per-class AP@0.5: " + ", ".join(f"{c} {v:.3f}" for c, v in card["ap50"].items()) +
               f". Trained on {recipe['n_train']} synthetic scenes with the loss above (Adam, cosine decay, flips).")
    hist = figures.loss_history(card["history"])
    st.plotly_chart(hist, width="stretch")


components.replay("anchors.training", card, training_section)
components.download_json(lambda: card, "shapes_yolo_card.json", key="dl_yolo_card")

# ----------------------------------------------------------------------------- the mAP critique (YOLOv3 report)
from dashboard import navigation  # noqa: E402

st.header("4. What mAP rewards: VOC's AP50 against COCO's AP@[.5:.95]")
st.markdown("The same detections of the tiny YOLO on the held-out scenes, scored two ways by one AP implementation. "
            "**VOC AP50** counts a box as found when it overlaps the object with IoU ≥ 0.5: it rewards *finding and "
            "naming* objects. **COCO's AP@[.5:.95]** averages the AP over ten thresholds 0.50, 0.55, …, 0.95: it also "
            "rewards *pixel-tight* boxes — a box at IoU 0.7 counts at only 5 of the 10 thresholds. The YOLOv3 report "
            "argues the old metric is closer to what people need (Russakovsky et al.: humans barely tell IoU 0.3 "
            "from 0.5), and proposes one **global** AP over all classes ranked together instead of a mean of "
            "per-class APs.")
coco = resources.compute("detections", ("shapes_yolo_coco_ap", card.get("train_seconds")),
                         lambda p: T.evaluate(yolo, T.held_out_set(recipe)),
                         f"Scoring {recipe['n_test']} held-out scenes at ten IoU thresholds ...")


def ap_section() -> None:
    ap_rows = [{"class": name, "VOC AP50": coco["ap50"][name], "COCO AP@[.5:.95]": coco["ap50_95"][name]}
               for name in coco["ap50"]]
    ap_rows.append({"class": "mean (mAP)", "VOC AP50": coco["map50"], "COCO AP@[.5:.95]": coco["map50_95"]})
    ap_rows.append({"class": "global", "VOC AP50": coco["global_ap50"], "COCO AP@[.5:.95]": coco["global_ap50_95"]})
    q1, q2 = st.columns([1, 1])
    q1.dataframe(pd.DataFrame(ap_rows).round(3), hide_index=True, width="stretch")
    q1.metric("mAP@0.5 → mAP@[.5:.95]", f"{coco['map50']:.3f} → {coco['map50_95']:.3f}")
    fig_ap = figures.ap_by_iou(coco["map_by_iou"], "the same detections, stricter IoU for a hit")
    q2.plotly_chart(fig_ap, width="stretch")
    st.caption("The drop from the first bar to the mean is the localisation the detector lacks: at 96 px a 6 × 6 grid "
               "finds the shapes but rarely places their edges within a pixel or two. Which number is 'better' depends "
               "on the use: counting objects needs AP50; cutting them out needs the tight boxes COCO rewards (or masks).")
    st.caption("'mean (mAP)': the mean of the per-class APs, as VOC and COCO report it; 'global': every detection of "
               "every class in one ranking (a hit must still name the right class), the YOLOv3 report's proposal.")
    per_image = np.asarray(coco.get("per_image_ap50") or [], float)
    scored = per_image[np.isfinite(per_image)]
    if len(scored):
        st.subheader("AP per image, then averaged")
        i1, i2 = st.columns([1, 2])
        i1.metric("mean of per-image AP50", f"{np.mean(scored):.3f}",
                  help=f"{len(scored)} held-out scenes with objects, each scored alone")
        i1.metric("dataset mAP@0.5", f"{coco['map50']:.3f}")
        i1.metric("scenes with AP50 = 1", f"{int((scored >= 1 - 1e-9).sum())} of {len(scored)}")
        hist = go.Figure(go.Histogram(x=scored, xbins=dict(start=0, end=1.0001, size=0.1),
                                      hovertemplate="AP50 %{x}: %{y} scenes<extra></extra>"))
        hist.update_layout(title="AP50 of each held-out scene", xaxis_title="AP50 of one scene",
                           yaxis_title="scenes", height=320, margin=dict(l=0, r=0, t=40, b=0), bargap=0.05)
        i2.plotly_chart(hist, width="stretch")
        st.caption("The report's other proposal: *\"doing an AP calculation per-image and averaging over that\"*. Each "
                   "scene's detections are ranked only against each other (every class together, a hit must name "
                   "the right class), so the question becomes the user's: given this image, how well are its objects "
                   "found? mAP ranks every detection of the dataset together per class: a correct box with a low "
                   "score in an easy scene is outranked by confident mistakes in other scenes, and one bad scene "
                   "cannot be told from many slightly wrong ones.")


with lecture_path.at(stage, focus, "ap"):
    components.replay("anchors.ap", (card, coco), ap_section)
components.download_figure(lambda: figures.ap_by_iou(coco["map_by_iou"], "the same detections, stricter IoU for a hit"),
                           "ap_by_iou.html", key="dl_ap_iou")
components.download_json(coco, "shapes_yolo_ap.json", key="dl_ap_json")

st.subheader("The report's closing thought")
st.markdown(
    "> But maybe a better question is: “What are we going to do with these detectors now that we have them?” A lot "
    "of the people doing this research are at Google and Facebook. I guess at least we know the technology is in "
    "good hands and definitely won’t be used to harvest your personal information and sell it to.... wait, you’re "
    "saying that’s exactly what it will be used for?? Oh.\n>\n"
    "> Well the other people heavily funding vision research are the military and they’ve never done anything "
    "horrible like killing lots of people with new technology oh wait.....\n>\n"
    "> […] computer vision is already being put to questionable use and as researchers we have a responsibility to "
    "at least consider the harm our work might be doing and think of ways to mitigate it. We owe the world that much.\n\n"
    "— Redmon & Farhadi, *YOLOv3: An Incremental Improvement* (2018); in 2020 Redmon announced he had stopped "
    "computer-vision research because of its military uses and privacy concerns. The same question — who is "
    "harmed by what a model learned, and who uses it — opens the first lecture's ethics demo:")
for spec in navigation.PAGES:
    if spec.section == "Ethics: biased embeddings" and spec.path.exists():
        st.page_link(navigation.page_link_target(spec), label=spec.title, icon=spec.icon)
