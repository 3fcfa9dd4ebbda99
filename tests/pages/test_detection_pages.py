"""AppTest of the detection pages: defaults, every control, awkward inputs."""

from __future__ import annotations

from tests.pages.test_embedding_pages import open_page


def test_yolo_page_defaults_detect_and_explain_the_tensor(app):
    at = open_page(app, "det_yolo.py")
    assert not at.exception
    dets = at.dataframe[0].value
    assert len(dets) >= 1 and dets["score"].min() >= 0.5
    assert any("6 × 6 × 5·(5 + 3)" in m.value for m in at.markdown)
    assert any("7 × 7 × 30" in m.value for m in at.markdown)
    at.slider(key="det_conf").set_value(0.05).run()
    loose = at.dataframe[0].value
    assert len(loose) >= len(dets)
    at.toggle(key="det_agnostic").set_value(True).run()
    at.slider(key="det_row_0").set_value(0).run()
    at.slider(key="det_col_0").set_value(5).run()
    assert not at.exception


def test_yolo_page_compose_a_scene_and_bad_rows(app):
    at = open_page(app, "det_yolo.py")
    at.radio(key="det_source").set_value("Compose a scene").run()
    assert not at.exception and any("Ground truth: 3 objects" in c.value for c in at.caption)
    at.radio(key="det_source").set_value("Upload or sample image").run()
    assert not at.exception  # a photo: few or no shapes, but no crash


def test_yolo_page_darknet_inspector_and_online_models(app):
    at = open_page(app, "det_yolo.py")
    at.selectbox(key="det_cfg").set_value("yolov2-voc").run()
    assert not at.exception and any("13×13×125" in str(m.value) for m in at.metric)
    at.selectbox(key="det_cfg").set_value("yolov3").run()
    assert any("10,647" in str(m.value) for m in at.metric)
    at.selectbox(key="det_model").set_value("yolov3-tiny").run()  # weights not downloadable here
    assert not at.exception and any("one-time download" in w.value for w in at.warning)


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


def test_rcnn_page_timeline_and_instances(app):
    at = open_page(app, "det_rcnn.py")
    assert not at.exception
    timeline = at.dataframe[0].value
    assert list(timeline["model"][:3]) == ["R-CNN", "Fast R-CNN", "Faster R-CNN"]
    assert any("not Mask R-CNN" in m.value for m in at.markdown)
    instances = at.dataframe[1].value
    assert len(instances) >= 2 and (instances["pixels"] > 0).all()
    assert instances["class"].duplicated().any()  # the default scene shows two instances of one class
    at.slider(key="inst_conf").set_value(1.0).run()  # nothing passes: an empty table, no crash
    assert not at.exception
