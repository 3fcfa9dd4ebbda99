"""Fully Convolutional Learning, part two: the R-CNN family (five papers, one change each), YOLO's
alternative, and instance segmentation."""

import numpy as np
import pandas as pd
import streamlit as st

from core.detection import detector as detectors
from core.detection import instances as I
from core.detection.history import MILESTONES
from core.fcn import segmentation as seg
from dashboard import components, figures, resources

st.title("The R-CNN family, YOLO, and instances")
st.markdown("From R-CNN to Faster R-CNN, detection got **~350× faster** (50 s → 140 ms per image) in about a year "
            "and a half, by removing repeated work; YOLO then made it real-time. Each paper changed one thing.")

table = pd.DataFrame([{"year": m.year, "model": m.name, "speed (lecture)": m.speed_text,
                       "s / image": m.seconds_per_image, "accuracy": m.accuracy, "metric": m.metric,
                       "what changed": m.change} for m in MILESTONES])
fig = figures.detection_timeline(MILESTONES)
st.plotly_chart(fig, width="stretch")
st.caption("Speeds as in the lecture (GPUs of the day); accuracies are the papers' headline numbers on the dataset "
           "named — VOC 2007 mAP and COCO numbers are not comparable with each other, hence the colours. Not measured here.")
st.dataframe(table, hide_index=True, width="stretch",
             column_config={"what changed": st.column_config.TextColumn(width="large")})
components.download_figure(fig, "detection_timeline.html", key="dl_timeline")

st.header("Instance segmentation, offline")
st.markdown("Mask R-CNN adds a small FCN *mask head* to Faster R-CNN: one mask per detected box. Here is the idea "
            "with two models the dashboard trains itself: the **tiny YOLO's boxes** and the **segmentation FCN's "
            "per-pixel classes**, each box keeping the pixels of its own class. Honestly: this is **not Mask R-CNN** — "
            "no RoIAlign, no learned per-box mask — and no maintained pretrained Mask R-CNN for Keras 3 exists to "
            "download (keras-hub ships RetinaNet and D-FINE detectors, but no Mask R-CNN), so none is wired.")
det = resources.detector("shapes-yolo")
fcn, fcn_card = resources.fcn(seg.DEFAULT_DECODER)
from core.detection.train import held_out_set  # noqa: E402

scenes = resources.compute("datasets", "det_test_set", lambda p: held_out_set(), "Drawing held-out scenes ...")
c1, c2 = st.columns(2)
# default: the first scene where two instances of one class come out (what instances add over classes)
showcase = resources.compute("detections", "inst_showcase", lambda p: I.showcase_scene(
    scenes.images, lambda im: detectors.detect(det, im, 0.5, 0.45).detections,
    lambda im: seg.predict_masks(fcn, im[None])[0]), "Choosing a scene ...")
n = c1.slider("Held-out scene", 0, len(scenes.images) - 1, showcase, key="inst_scene")
conf = c2.slider("Detection confidence", 0.05, 1.0, 0.5, 0.05, key="inst_conf")
image = scenes.images[n]
found = detectors.detect(det, image, conf, 0.45).detections
class_mask = seg.predict_masks(fcn, image[None])[0]
instances = I.box_restricted_masks(found, class_mask)
palette = np.array([[0, 0, 0], [230, 80, 80], [80, 160, 240], [90, 210, 110]], np.uint8)
from core.detection.boxes import enlarge  # noqa: E402
from core.detection.yolo import draw_detections  # noqa: E402

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
