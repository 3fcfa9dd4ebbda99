"""YOLO decode, NMS, loss, anchors and mAP against independent references; the tiny YOLO's mAP."""

from __future__ import annotations

import json

import numpy as np
import pytest

import core  # noqa: F401
from core import geometry as B
from core.detection import anchors as K
from core.detection import yolo as Y
from core.geometry import box_iou
from core.scenes import detection_scenes
from tests.core.test_cli import run


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize("kind", ["v2", "v3"])
def test_decode_matches_a_loop_over_cells(kind):
    rng = np.random.default_rng(0)
    head = Y.Head(np.array([[0.1, 0.2], [0.3, 0.25]], np.float32), 3, kind)
    raw = rng.normal(0, 1, (1, 3, 4, 2 * 8)).astype(np.float32)  # S_h = 3, S_w = 4
    d = {k: np.asarray(v) for k, v in Y.decode(raw, head).items()}
    for r in range(3):
        for c in range(4):
            for a in range(2):
                t = raw[0, r, c, a * 8:(a + 1) * 8]
                assert d["centre"][0, r, c, a, 0] == pytest.approx((sigmoid(t[0]) + c) / 4, abs=1e-6)
                assert d["centre"][0, r, c, a, 1] == pytest.approx((sigmoid(t[1]) + r) / 3, abs=1e-6)
                assert d["wh"][0, r, c, a] == pytest.approx(head.anchors[a] * np.exp(t[2:4]), rel=1e-5)
                assert d["objectness"][0, r, c, a] == pytest.approx(sigmoid(t[4]), abs=1e-6)
                p = np.exp(t[5:]) / np.exp(t[5:]).sum() if kind == "v2" else sigmoid(t[5:])
                assert d["classes"][0, r, c, a] == pytest.approx(p, abs=1e-6)


def test_nms_matches_tensorflow():
    import tensorflow as tf

    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 300, (400, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(10, 80, (400, 2))], axis=1)
    scores = rng.random(400)
    for thr in (0.3, 0.45, 0.7):
        ours = Y.nms(boxes, scores, thr)
        ref = tf.image.non_max_suppression(boxes[:, [1, 0, 3, 2]].astype(np.float32), scores.astype(np.float32),
                                           400, iou_threshold=thr).numpy()
        assert np.array_equal(ours, ref)


def test_letterbox_round_trip_and_inverse():
    image = np.zeros((300, 500, 3), np.uint8)
    boxed, box = B.letterbox(image, 416)
    assert boxed.shape == (416, 416, 3) and box.pad_x == 0 and box.pad_y == (416 - round(300 * 416 / 500)) // 2
    b = np.array([[10.0, 20.0, 200.0, 290.0]])
    assert np.allclose(box.to_original(box.to_input(b)), b)


def test_letterbox_inverse_is_exact_on_a_drawn_rectangle():
    """A white rectangle on a wide canvas: after letterboxing, its box in the network input mapped
    back with to_original lands on the rectangle drawn (within the resampling's pixel)."""
    for h, w, rect in ((300, 500, (120, 40, 310, 200)), (480, 200, (20, 300, 150, 470)), (96, 96, (10, 10, 50, 70))):
        canvas = np.zeros((h, w, 3), np.uint8)
        x0, y0, x1, y1 = rect
        canvas[y0:y1, x0:x1] = 255
        boxed, box = B.letterbox(canvas, 96, fill=0)
        ys, xs = np.nonzero(boxed[..., 0] > 127)
        found = box.to_original(np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], float))[0]
        assert np.allclose(found, rect, atol=1.5 / box.scale), (found, rect)


@pytest.mark.trained
def test_detections_map_back_to_the_original_image():
    """A 96-wide, 72-tall strip of held-out-style scenes: letterboxing keeps the scale (long side 96) and
    pads 12 gray rows above and below; the boxes must come back in the strip's own pixels."""
    from core.detection.detector import detect, load_detector
    from core.detection.train import detect_batch, load_shapes_yolo

    det = load_detector("shapes-yolo")
    data = detection_scenes(30, det.size, seed=4242)
    hits = total = same = 0
    for i in range(30):
        strip = data.images[i][12:84]
        inside = (data.boxes[i][:, 1] >= 12) & (data.boxes[i][:, 3] <= 84)
        gt = data.boxes[i][inside] - [0, 12, 0, 12]
        found = detect(det, strip, conf=0.3).detections
        total += len(gt)
        if found and len(gt):
            hits += int((box_iou(gt, np.array([d.box for d in found])).max(axis=1) >= 0.5).sum())
        # the same network input by hand (gray rows), its boxes shifted up 12 and clipped to the strip
        padded = np.full((96, 96, 3), 127, np.uint8)
        padded[12:84] = strip
        by_hand = sorted(detect_batch(load_shapes_yolo(), padded[None], conf=0.3)[0], key=lambda d: -d.score)
        expect = np.clip(np.array([d.box for d in by_hand]).reshape(-1, 4) - [0, 12, 0, 12], 0, [96, 72, 96, 72])
        got = np.array([d.box for d in sorted(found, key=lambda d: -d.score)]).reshape(-1, 4)
        same += got.shape == expect.shape and np.allclose(got, expect, atol=1e-3)
    assert hits >= 0.7 * total, (hits, total)
    assert same == 30, same


def test_iou_kmeans_matches_a_plain_loop():
    rng = np.random.default_rng(2)
    wh = rng.uniform(0.05, 0.5, (60, 2))
    ours = K._kmeans_once(wh, 3, seed=5, update="median", max_iter=100)
    # the reference: the same algorithm, one box at a time
    r = np.random.default_rng(5)
    cent = wh[r.choice(60, 3, replace=False)].copy()
    assign = [-1] * 60
    for _ in range(100):
        new = []
        for w, h in wh:
            ious = [min(w, cw) * min(h, ch) / (w * h + cw * ch - min(w, cw) * min(h, ch)) for cw, ch in cent]
            new.append(int(np.argmax(ious)))
        if new == assign:
            break
        assign = new
        for j in range(3):
            members = wh[np.array(assign) == j]
            if len(members):
                cent[j] = np.median(members, axis=0)
    cent = cent[np.argsort(cent[:, 0] * cent[:, 1])]
    assert np.allclose(ours.anchors, cent)
    # centred-box IoU equals the general box IoU of boxes sharing a centre
    boxes = np.concatenate([-wh / 2, wh / 2], axis=1)
    assert np.allclose(K.iou_wh(wh, cent), box_iou(boxes, np.concatenate([-cent / 2, cent / 2], axis=1)))


def test_iou_kmeans_on_tiny_data_finds_the_best_partition():
    """6 boxes, k = 2: no 2-partition (with each cluster's median as its anchor) scores higher."""
    import itertools

    wh = np.array([[1, 1], [1.2, 0.9], [0.9, 1.1], [5, 2], [4.5, 2.5], [5.5, 1.8]])
    best = 0.0
    for labels in itertools.product([0, 1], repeat=6):
        labels = np.array(labels)
        if labels.min() == labels.max():
            continue
        cents = np.array([np.median(wh[labels == j], axis=0) for j in (0, 1)])
        best = max(best, K.iou_wh(wh, cents).max(axis=1).mean())
    assert K.iou_kmeans(wh, 2).mean_iou == pytest.approx(best)
    with pytest.raises(ValueError):
        K.iou_kmeans(wh, 0)
    with pytest.raises(ValueError, match="positive"):
        K.iou_kmeans(-wh, 2)


def test_loss_terms_by_hand_on_a_2x2_grid():
    """One object in cell (row 0, col 1), B = 1, C = 2, every raw value chosen by hand."""
    head = Y.Head(np.array([[0.5, 0.5]], np.float32), 2, "v2")
    raw = np.zeros((1, 2, 2, 7), np.float32)  # t = 0 everywhere: sigma = 0.5, e^0 = 1, softmax = (0.5, 0.5)
    raw[0, 0, 1] = [1.0, -1.0, np.log(0.8), 0.0, 2.0, 1.0, 0.0]
    y = Y.encode_targets(np.array([[60.0, 10.0, 100.0, 30.0]]), np.array([0]), head, (2, 2), 100)
    # centre (80, 20) -> cell col 1, row 0; offsets (0.6, 0.4); w, h = 0.4, 0.2
    assert np.allclose(y[0, 1, 0, :5], [0.6, 0.4, 0.4, 0.2, 1.0]) and y[..., 4].sum() == 1
    terms = {k: float(v) for k, v in Y.yolo_loss_terms(y[None], raw, head).items()}
    s = sigmoid
    xy = (0.6 - s(1.0)) ** 2 + (0.4 - s(-1.0)) ** 2
    wh = (np.sqrt(0.4) - np.sqrt(0.5 * 0.8)) ** 2 + (np.sqrt(0.2) - np.sqrt(0.5)) ** 2
    p = np.exp([1.0, 0.0]) / np.exp([1.0, 0.0]).sum()
    assert terms["coord_xy"] == pytest.approx(5 * xy, rel=1e-5)
    assert terms["coord_wh"] == pytest.approx(5 * wh, rel=1e-5)
    assert terms["obj"] == pytest.approx((1 - s(2.0)) ** 2, rel=1e-5)
    assert terms["noobj"] == pytest.approx(0.5 * 3 * 0.5 ** 2, rel=1e-5)  # three empty cells, C^ = 0.5
    assert terms["class"] == pytest.approx((1 - p[0]) ** 2 + p[1] ** 2, rel=1e-5)


def test_map_on_hand_made_cases():
    gt_boxes = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)]
    gt_labels = [np.array([0, 0])]
    d = lambda box, score: Y.Detection(tuple(box), 0, "a", score, score)  # noqa: E731
    perfect = [[d((0, 0, 10, 10), 0.9), d((20, 20, 30, 30), 0.8)]]
    assert Y.mean_average_precision(perfect, gt_boxes, gt_labels, ["a"]).mean == pytest.approx(1.0)
    # a false positive ranked first: precision 0, 1/2, 2/3 at recalls 0, 0.5, 1 -> AP = 0.5*0.667 + 0.5*0.667
    fp_first = [[d((50, 50, 60, 60), 0.95), d((0, 0, 10, 10), 0.9), d((20, 20, 30, 30), 0.8)]]
    assert Y.mean_average_precision(fp_first, gt_boxes, gt_labels, ["a"]).mean == pytest.approx(2 / 3)
    duplicate = [[d((0, 0, 10, 10), 0.9), d((0, 0, 10, 10), 0.85)]]  # the second match of one box is a FP
    assert Y.mean_average_precision(duplicate, gt_boxes, gt_labels, ["a"]).mean == pytest.approx(0.5)


def voc_ap50_by_hand(dets, gt_boxes, gt_labels, n_classes: int) -> float:
    """VOC mAP@0.5 with all-point interpolation written out as plain loops (no core.detection code):
    the independent reference for the card's map50."""
    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
        return w * h / union if union > 0 else 0.0

    aps = []
    for k in range(n_classes):
        truths = {i: [tuple(b) for b, lab in zip(boxes, labels, strict=True) if lab == k]
                  for i, (boxes, labels) in enumerate(zip(gt_boxes, gt_labels, strict=True))}
        n_gt = sum(len(t) for t in truths.values())
        ranked = sorted(((d.score, i, d.box) for i, found in enumerate(dets) for d in found if d.class_id == k),
                        key=lambda s: -s[0])
        used, hits, points = set(), 0, []
        for rank, (_, i, box) in enumerate(ranked, start=1):
            overlaps = [iou(box, t) for t in truths[i]]
            best = max(range(len(overlaps)), key=overlaps.__getitem__) if overlaps else None
            if best is not None and overlaps[best] >= 0.5 and (i, best) not in used:
                used.add((i, best))
                hits += 1
            points.append((hits / n_gt, hits / rank))  # (recall, precision) after this detection
        ap, last_recall = 0.0, 0.0
        for recall in sorted({r for r, _ in points}):
            if recall > last_recall:
                ap += (recall - last_recall) * max(p for r, p in points if r >= recall)
                last_recall = recall
        aps.append(ap)
    return sum(aps) / len(aps)


@pytest.mark.trained
def test_the_tiny_yolo_reaches_its_map():
    from core.detection.train import detect_batch, held_out_set, load_shapes_yolo

    yolo = load_shapes_yolo()
    assert yolo.card["map50"] >= 0.7  # the quality threshold, checked once
    data = held_out_set()  # the card's number recounted with the independent loop above
    dets = detect_batch(yolo, data.images, 0.05)
    assert voc_ap50_by_hand(dets, data.boxes, data.labels, len(yolo.class_names)) == pytest.approx(yolo.card["map50"], abs=0.01)
    assert yolo.card["train_seconds"] > 0 and len(yolo.card["anchors"]) == 5


def test_coco_ap_averages_ten_iou_thresholds_and_global_ap_ranks_all_classes_together():
    gt_boxes = [np.array([[0, 0, 10, 10]], float)]
    gt_labels = [np.array([0])]
    shifted = [[Y.Detection((0, 0, 10, 8.3), 0, "a", 0.9, 0.9)]]  # IoU 0.83: a hit up to 0.80, a miss from 0.85
    coco = Y.coco_average_precision(shifted, gt_boxes, gt_labels, ["a"])
    assert Y.COCO_IOUS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
    assert coco["per_class_ap50"] == {"a": 1.0} and coco["by_threshold"][0.8] == 1.0 and coco["by_threshold"][0.85] == 0
    assert coco["per_class"]["a"] == pytest.approx(7 / 10) and coco["map"] == pytest.approx(0.7)
    # two classes: per class, b's false positive outranks its hit (AP_b = 0.5, mAP 0.75); ranked together,
    # the hit on a comes first: precision 1 at recall 1/2, 2/3 at recall 1 -> 0.5 + 0.5 * 2/3
    gt_boxes = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)]
    gt_labels = [np.array([0, 1])]
    d = lambda box, k, score: Y.Detection(tuple(box), k, "ab"[k], score, score)  # noqa: E731
    dets = [[d((0, 0, 10, 10), 0, 0.9), d((0, 0, 10, 10), 1, 0.8), d((20, 20, 30, 30), 1, 0.3)]]
    assert Y.mean_average_precision(dets, gt_boxes, gt_labels, ["a", "b"]).per_class == {"a": 1.0, "b": 0.5}
    assert Y.global_average_precision(dets, gt_boxes, gt_labels) == pytest.approx(0.5 + 0.5 * 2 / 3)


@pytest.mark.trained
def test_cli_detect_anchors_and_loss(tmp_path):
    out = tmp_path / "boxes.png"
    payload = json.loads(run("detect", "--model", "shapes-yolo", "--image", "scene:1", "--conf", "0.5", "--iou",
                             "0.45", "--out", str(out), "--json").stdout)
    assert out.stat().st_size > 500 and payload["detections"]
    assert {"class", "score", "box"} <= set(payload["detections"][0])
    anchors = json.loads(run("anchors", "--k", "1..6", "--scenes", "300", "--json").stdout)
    ious = [anchors["mean_iou"][str(k)] for k in range(1, 7)]
    assert ious == sorted(ious) and len(anchors["anchors"]["5"]) == 5
    assert {"yolov2-voc", "yolov3"} <= set(anchors["published"])
    assert all(0 < p["mean_iou_on_these_boxes"] < 1 for p in anchors["published"].values())
    loss = json.loads(run("yolo-loss", "--example", "3", "--json").stdout)
    assert loss["total"] == pytest.approx(sum(loss[k] for k in Y.LOSS_TERMS)) and loss["responsible"]
    csv = tmp_path / "wh.csv"
    csv.write_text("w,h\n10,20\n12,22\n50,40\n55,45\n")
    assert json.loads(run("anchors", "--k", "2", "--csv", str(csv), "--json").stdout)["mean_iou"]["2"] > 0.8
    bad = run("anchors", "--k", "9", "--csv", str(csv), "--json", check=False)
    assert bad.returncode != 0 and "k must be" in bad.stderr


def test_instances_split_one_class_blob_and_drop_empty_boxes():
    from core.detection.instances import box_restricted_masks

    mask = np.zeros((20, 40), np.uint8)
    mask[5:15, 2:18] = 1  # two circles touching: one blob of class 1 ("circle" = detection class 0)
    mask[5:15, 18:34] = 1
    d = lambda box, score: Y.Detection(box, 0, "circle", score, score)  # noqa: E731
    found = [d((2, 5, 18, 15), 0.9), d((18, 5, 34, 15), 0.8), d((3, 5, 17, 15), 0.7)]  # the last: a duplicate
    inst = box_restricted_masks(found, mask)
    assert [i.mask.sum() for i in inst] == [160, 160]
    assert len(box_restricted_masks(found, mask, drop_empty=False)) == 3


@pytest.mark.trained
def test_rethresholding_a_forward_pass_equals_detecting_again():
    from core.detection.detector import detect, forward, load_detector

    det = load_detector("shapes-yolo")
    image = detection_scenes(1, det.size, seed=99).images[0]
    passed = forward(det, image)
    for conf, iou in ((0.2, 0.45), (0.6, 0.3)):
        again = detect(det, image, conf, iou).detections
        reused = detect(det, image, conf, iou, passed=passed).detections
        assert [d.box for d in again] == [d.box for d in reused]


def test_per_image_ap_scores_each_image_on_its_own_and_differs_from_the_dataset_map():
    """The YOLOv3 report's proposal (notes N:927-929): AP per image, averaged, next to mAP over the dataset."""
    d = lambda box, k, score: Y.Detection(tuple(box), k, "ab"[k], score, score)  # noqa: E731
    gt_boxes = [np.array([[0, 0, 10, 10]], float), np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float),
                np.zeros((0, 4))]
    gt_labels = [np.array([0]), np.array([0, 1]), np.array([], int)]
    dets = [[d((0, 0, 10, 10), 0, 0.2)],  # a hit, but with a low score
            [d((50, 50, 60, 60), 0, 0.9), d((0, 0, 10, 10), 0, 0.8)],  # a confident false positive, one hit, one miss
            [d((0, 0, 5, 5), 1, 0.7)]]  # an image with nothing in it
    per_image = Y.per_image_average_precision(dets, gt_boxes, gt_labels)
    assert per_image[0] == 1.0  # alone in its image, the low score does not matter
    assert per_image[1] == pytest.approx(0.5 * 0.5)  # recall 1/2 reached at precision 1/2
    assert np.isnan(per_image[2])
    coco = Y.coco_average_precision(dets, gt_boxes, gt_labels, ["a", "b"])
    assert np.array_equal(coco["per_image"], per_image, equal_nan=True)
    assert coco["per_image_mean"] == pytest.approx((1.0 + 0.25) / 2)
    # over the dataset, image 0's low-scored hit ranks below image 1's false positive: class a's AP is lower
    assert coco["per_class_ap50"]["a"] < 1.0 and coco["per_image_mean"] != pytest.approx(coco["by_threshold"][0.5])
