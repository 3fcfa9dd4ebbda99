"""AppTest of the detection pages: defaults, every control, awkward inputs."""

from __future__ import annotations

import pytest

from dashboard import navigation
from tests.pages.test_embedding_pages import open_page


@pytest.mark.trained
def test_yolo_page_defaults_detect_and_explain_the_tensor(app):
    at = open_page(app, "det_yolo.py")
    assert not at.exception
    dets = at.dataframe[0].value
    assert len(dets) >= 1 and dets["score"].min() >= 0.5
    assert any("6 × 6 × 5·(5 + 3)" in m.value for m in at.markdown)
    assert any("7 × 7 × 30" in m.value for m in at.markdown)
    assert any("7 × 7 × (3·5 + 20) = 7 × 7 × 35" in m.value for m in at.markdown)  # the shipped v1 cfg, B = 3
    at.slider(key="det_conf").set_value(0.05).run()
    loose = at.dataframe[0].value
    assert len(loose) >= len(dets)
    at.toggle(key="det_agnostic").set_value(True).run()
    at.slider(key="det_row_0").set_value(0).run()
    at.slider(key="det_col_0").set_value(5).run()
    assert not at.exception


@pytest.mark.trained
def test_yolo_page_compose_a_scene_and_bad_rows(app):
    at = open_page(app, "det_yolo.py")
    at.radio(key="det_source").set_value("Compose a scene").run()
    assert not at.exception and any("Ground truth: 3 objects" in c.value for c in at.caption)
    at.radio(key="det_source").set_value("Upload or sample image").run()
    assert not at.exception  # a photo: few or no shapes, but no crash


@pytest.mark.trained
def test_yolo_page_darknet_inspector_and_online_models(app):
    at = open_page(app, "det_yolo.py")
    at.selectbox(key="det_cfg").set_value("yolov2-voc").run()
    assert not at.exception and any("13×13×125" in str(m.value) for m in at.metric)
    at.selectbox(key="det_cfg").set_value("yolov3").run()
    assert any("10,647" in str(m.value) for m in at.metric)
    at.selectbox(key="det_model").set_value("yolov3-tiny").run()  # weights not downloadable here
    assert not at.exception and any("one-time download" in w.value for w in at.warning)


@pytest.mark.trained
def test_anchors_and_loss_page(app):
    at = open_page(app, "det_anchors_loss.py")
    assert not at.exception
    assert any(m.label == "mAP@0.5 (held-out)" and float(m.value) >= 0.7 for m in at.metric)
    total = next(float(m.value) for m in at.metric if m.label == "total")
    parts = sum(float(m.value) for m in at.metric if m.label in ("coord_xy", "coord_wh", "obj", "noobj", "class"))
    assert abs(total - parts) < 1e-3
    at.slider(key="anc_k").set_value(9).run()
    at.radio(key="anc_update").set_value("mean").run()
    at.slider(key="loss_example").set_value(57).run()
    assert not at.exception and len(at.dataframe[0].value) == 9


@pytest.mark.trained
def test_anchors_page_scores_voc_and_coco_ap_and_links_the_ethics_pages(app):
    at = open_page(app, "det_anchors_loss.py")
    assert not at.exception
    table = next(d.value for d in at.dataframe if "COCO AP@[.5:.95]" in d.value.columns)
    assert list(table["class"]) == ["circle", "square", "triangle", "mean (mAP)", "global"]
    assert (table["COCO AP@[.5:.95]"] < table["VOC AP50"]).all()  # ten thresholds, the first of them 0.5
    per_image = next(float(m.value) for m in at.metric if m.label == "mean of per-image AP50")  # #23 d
    assert 0 < per_image <= 1
    assert any(c.value.startswith("The report's other proposal") for c in at.caption)
    assert any("military" in m.value for m in at.markdown)
    links = [e for e in at.get("page_link")]
    assert len(links) >= 7 and any("racist AI" in e.proto.label for e in links)


@pytest.mark.trained
def test_rcnn_page_timeline_and_instances(app):
    at = open_page(app, "det_rcnn.py")
    assert not at.exception
    timeline = at.dataframe[0].value
    assert list(timeline["model"][:3]) == ["R-CNN", "Fast R-CNN", "Faster R-CNN"]
    assert any("not Mask R-CNN" in m.value for m in at.markdown)
    assert any("198 ms" in c.value and "ICCV 2017" in c.value for c in at.caption)
    instances = next(d.value for d in at.dataframe if "pixels" in d.value.columns)
    assert len(instances) >= 2 and (instances["pixels"] > 0).all()
    assert instances["class"].duplicated().any()  # the default scene shows two instances of one class
    at.slider(key="inst_conf").set_value(1.0).run()  # nothing passes: an empty table, no crash
    assert not at.exception


@pytest.mark.trained
def test_rcnn_page_roi_pool_vs_align_and_box_losses(app):
    at = open_page(app, "det_rcnn.py")
    assert not at.exception
    shift = next(m for m in at.metric if m.label == "Box edges moved by rounding")
    assert shift.value == "0.40 cells"  # default box (2.3, 3.6, 7.7, 8.3): 7.7 rounds to 8, 8.3 to 8
    losses = next(d.value for d in at.dataframe if "Faster R-CNN L_reg" in d.value.columns)
    faster, yolo = losses["Faster R-CNN L_reg"], losses["YOLO total"]
    assert abs(faster[0] - faster[1]) < 1e-9 and yolo[1] > yolo[0]  # log deltas are scale-free, sqrt is not
    at.slider(key="roi_x0").set_value(10.0).run()  # the default width runs off the map: cut, with a warning
    assert not at.exception and any("leaves the" in w.value for w in at.warning)
    at.slider(key="roi_w").set_value(1.0).run()
    at.select_slider(key="roi_bins").set_value(7).run()
    at.slider(key="roi_sampling").set_value(4).run()
    at.slider(key="loss_ratio").set_value(0.5).run()
    assert not at.exception


def test_mask_rcnn_page_after_yolo_shows_keypoints_as_one_pixel_masks(app):
    """#23 f: Mask R-CNN follows YOLO as in the notes; its keypoints are pictures, not text only."""
    order = [s.url_path for s in navigation.PAGES]
    assert order.index("yolo-training") < order.index("mask-rcnn")
    at = open_page(app, "det_mask_rcnn.py")
    assert not at.exception, [e.value for e in at.exception]
    metric = {m.label: m.value for m in at.metric}
    assert metric["pixels on per target mask"] == "1"
    coarse = float(metric["mean keypoint error"].split()[0])
    at.select_slider(key="kp_m").set_value(56).run()
    fine = float({m.label: m.value for m in at.metric}["mean keypoint error"].split()[0])
    assert not at.exception and fine < coarse  # a finer map places the keypoints closer
    assert any("nEug0-pD0Ms" in m.value for m in at.markdown)  # the slide's real-time video
    assert any("Boxes are stupid" in m.value for m in at.markdown)
