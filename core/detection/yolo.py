"""YOLO heads: decoding, post-processing (threshold + NMS from core.geometry), the loss, and mAP.

One decoder and one loss serve the darknet models (v2 region head, v3 yolo heads) and the tiny
YOLO trained here. A head's raw output is (n, S_h, S_w, B * (5 + C)); per anchor the channels are
(t_x, t_y, t_w, t_h, t_o, class scores ...), darknet's order. Anchors are given as a fraction of
the network input's side, so v2 (grid-cell units) and v3 (pixels) anchors both convert once:

    b_x = (sigma(t_x) + c_x) / S_w     b_w = p_w e^{t_w}      objectness = sigma(t_o)
    b_y = (sigma(t_y) + c_y) / S_h     b_h = p_h e^{t_h}      classes: softmax (v2) / sigmoid (v3)

Boxes come out as (cx, cy, w, h) fractions of the input, then x0, y0, x1, y1 pixels of the
original image after undoing the letterbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.device import import_tensorflow
from core.geometry import Letterbox, box_iou, iou_wh, nms
from core.geometry import enlarge as enlarge_image

LAMBDA_COORD = 5.0
LAMBDA_NOOBJ = 0.5
LOSS_TERMS = ("coord_xy", "coord_wh", "obj", "noobj", "class")


@dataclass(frozen=True)
class Head:
    """One output scale: its anchors (B, 2) as fractions of the input side, classes, and kind."""

    anchors: np.ndarray
    n_classes: int
    kind: str = "v3"  # "v2": softmax classes (region layer); "v3": sigmoid classes (yolo layer)

    @property
    def boxes_per_cell(self) -> int:
        return len(self.anchors)


def boxes_per_image(heads: list[Head], grids: list[tuple[int, int]]) -> int:
    """S_h * S_w * B summed over the heads: how many boxes one image yields before thresholding
    (YOLOv3 at 416: 13*13*3 + 26*26*3 + 52*52*3 = 10,647)."""
    return sum(h.boxes_per_cell * int(g[0]) * int(g[1]) for h, g in zip(heads, grids, strict=True))


# ----------------------------------------------------------------------------- decode


def split_raw(raw, head: Head):
    """(n, S_h, S_w, B(5+C)) -> (n, S_h, S_w, B, 5+C)."""
    tf = import_tensorflow()
    raw = tf.convert_to_tensor(raw, tf.float32)
    shape = tf.shape(raw)
    expected = head.boxes_per_cell * (5 + head.n_classes)
    if raw.shape[-1] is not None and raw.shape[-1] != expected:
        raise ValueError(f"The head has {raw.shape[-1]} channels, but {head.boxes_per_cell} anchors x (5 + "
                         f"{head.n_classes} classes) = {expected}.")
    return tf.reshape(raw, [shape[0], shape[1], shape[2], head.boxes_per_cell, 5 + head.n_classes])


def decode(raw, head: Head) -> dict:
    """Decode a head (TensorFlow ops, so the loss can differentiate through it). Returns tensors:
    xy (n,S,S,B,2) cell-relative offsets sigma(t), centre (n,S,S,B,2) and wh (n,S,S,B,2) as fractions
    of the input, objectness (n,S,S,B), classes (n,S,S,B,C), t (the raw values, n,S,S,B,5+C)."""
    tf = import_tensorflow()
    t = split_raw(raw, head)
    shape = tf.shape(t)
    sh, sw = shape[1], shape[2]
    cy, cx = tf.meshgrid(tf.range(sh), tf.range(sw), indexing="ij")
    grid = tf.cast(tf.stack([cx, cy], axis=-1), tf.float32)[None, :, :, None, :]  # (1,S,S,1,2) as (c_x, c_y)
    offset = tf.sigmoid(t[..., 0:2])
    centre = (offset + grid) / tf.cast(tf.stack([sw, sh]), tf.float32)
    anchors = tf.constant(np.asarray(head.anchors, np.float32))[None, None, None]
    wh = anchors * tf.exp(tf.clip_by_value(t[..., 2:4], -10.0, 6.0))
    objectness = tf.sigmoid(t[..., 4])
    scores = t[..., 5:]
    classes = tf.nn.softmax(scores, axis=-1) if head.kind == "v2" else tf.sigmoid(scores)
    return {"t": t, "xy": offset, "centre": centre, "wh": wh, "objectness": objectness, "classes": classes}


# ----------------------------------------------------------------------------- detections


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in original-image pixels
    class_id: int
    class_name: str
    score: float  # objectness x class probability
    objectness: float
    scale: int = 0  # which head
    cell: tuple[int, int] = (0, 0)  # (row, col)
    anchor: int = 0


def candidates(outputs: list, heads: list[Head], input_size: int) -> dict:
    """Flatten every head's boxes: xyxy (N, 4) input pixels, objectness (N,), classes (N, C), and
    where each came from (scale, row, col, anchor). Batch size 1."""
    boxes, obj, cls, where = [], [], [], []
    for s, (raw, head) in enumerate(zip(outputs, heads, strict=True)):
        d = {k: np.asarray(v)[0] for k, v in decode(np.asarray(raw, np.float32)[:1], head).items()}
        sh, sw, b = d["objectness"].shape
        c, wh = d["centre"].reshape(-1, 2), d["wh"].reshape(-1, 2)
        boxes.append(np.concatenate([c - wh / 2, c + wh / 2], axis=1) * input_size)
        obj.append(d["objectness"].reshape(-1))
        cls.append(d["classes"].reshape(-1, head.n_classes))
        rr, cc, aa = np.meshgrid(np.arange(sh), np.arange(sw), np.arange(b), indexing="ij")
        where.append(np.stack([np.full(rr.size, s), rr.ravel(), cc.ravel(), aa.ravel()], axis=1))
    return {"boxes": np.concatenate(boxes), "objectness": np.concatenate(obj), "classes": np.concatenate(cls),
            "where": np.concatenate(where)}


def postprocess(outputs: list, heads: list[Head], box: Letterbox, class_names: list[str], conf: float = 0.5,
                iou: float = 0.45, agnostic: bool = False, max_detections: int = 300) -> list[Detection]:
    """Decode, threshold (objectness x class probability >= conf), NMS per class (or class-agnostic)."""
    c = candidates(outputs, heads, box.size)
    scores_all = c["objectness"][:, None] * c["classes"]
    class_id = scores_all.argmax(axis=1)
    scores = scores_all[np.arange(len(class_id)), class_id]
    idx = np.nonzero(scores >= conf)[0]
    if agnostic:
        kept = idx[nms(c["boxes"][idx], scores[idx], iou, max_detections)]
    else:
        kept = np.concatenate([idx[class_id[idx] == k][nms(c["boxes"][idx][class_id[idx] == k],
                                                           scores[idx][class_id[idx] == k], iou)]
                               for k in np.unique(class_id[idx])] or [np.zeros(0, np.int64)])
        kept = kept[np.argsort(-scores[kept])][:max_detections]
    boxes = box.to_original(c["boxes"][kept]) if len(kept) else np.zeros((0, 4))
    out = []
    for j, i in enumerate(kept):
        s, r, col, a = (int(v) for v in c["where"][i])
        out.append(Detection(tuple(float(v) for v in boxes[j]), int(class_id[i]), class_names[class_id[i]],
                             float(scores[i]), float(c["objectness"][i]), s, (r, col), a))
    return out


def raw_outputs(model, images: np.ndarray) -> list[np.ndarray]:
    """Every head's raw output for uint8 images (n, H, W, 3) (scaled to [0, 1] here), as a list."""
    out = model(np.asarray(images, np.float32) / 255.0, training=False)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def draw_detections(image: np.ndarray, detections: list[Detection], thickness: int = 2, enlarge: int = 1) -> np.ndarray:
    """Boxes with 'class score' labels, one colour per class; ``enlarge`` repeats each pixel (small
    synthetic scenes on a projector) and scales the boxes with it."""
    import cv2

    out = enlarge_image(image, enlarge)
    scale = max(0.35, min(out.shape[:2]) / 800)
    for d in detections:
        hue = (d.class_id * 47) % 180
        colour = tuple(int(v) for v in cv2.cvtColor(np.uint8([[[hue, 220, 235]]]), cv2.COLOR_HSV2RGB)[0, 0])
        x0, y0, x1, y1 = (round(v * enlarge) for v in d.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, thickness)
        label = f"{d.class_name} {d.score:.2f}"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.rectangle(out, (x0, max(0, y0 - th - 4)), (x0 + tw + 2, max(th + 4, y0)), colour, -1)
        cv2.putText(out, label, (x0 + 1, max(th + 1, y0 - 3)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return out


# ----------------------------------------------------------------------------- training targets and loss


def encode_targets(boxes_px: np.ndarray, labels: np.ndarray, head: Head, grid: tuple[int, int],
                   input_size: int) -> np.ndarray:
    """Ground truth -> (S_h, S_w, B, 5 + C): (x offset in the cell, y offset, w, h as fractions of the
    input, 1, one-hot class) at the responsible (cell, anchor): the cell holding the box centre and
    the anchor whose shape has the highest IoU with the box. Other entries are zero (1^noobj)."""
    sh, sw = grid
    y = np.zeros((sh, sw, head.boxes_per_cell, 5 + head.n_classes), np.float32)
    for box, label in zip(np.asarray(boxes_px, np.float64).reshape(-1, 4), np.asarray(labels).reshape(-1), strict=True):
        cx, cy = (box[0] + box[2]) / 2 / input_size, (box[1] + box[3]) / 2 / input_size
        w, h = (box[2] - box[0]) / input_size, (box[3] - box[1]) / input_size
        if w <= 0 or h <= 0:
            continue
        col, row = min(int(cx * sw), sw - 1), min(int(cy * sh), sh - 1)
        a = int(np.argmax(iou_wh(np.array([[w, h]]), head.anchors)[0]))
        y[row, col, a, :5] = (cx * sw - col, cy * sh - row, w, h, 1.0)
        y[row, col, a, 5:] = 0.0
        y[row, col, a, 5 + int(label)] = 1.0
    return y


def yolo_loss_terms(y_true, raw, head: Head) -> dict:
    """The lecture's YOLO loss, term by term, summed over cells and anchors and averaged over the batch:

        coord_xy = l_coord sum 1obj [(x - x^)^2 + (y - y^)^2]
        coord_wh = l_coord sum 1obj [(sqrt w - sqrt w^)^2 + (sqrt h - sqrt h^)^2]
        obj      =         sum 1obj (1 - C^)^2            (target confidence C = 1)
        noobj    = l_noobj sum 1noobj (0 - C^)^2
        class    =         sum 1obj sum_c (p(c) - p^(c))^2  (per responsible anchor)
    with l_coord = 5, l_noobj = 0.5. Tensors in, tensors out (differentiable)."""
    tf = import_tensorflow()
    y_true = tf.convert_to_tensor(y_true, tf.float32)
    d = decode(raw, head)
    obj = y_true[..., 4]
    noobj = 1.0 - obj
    n = tf.cast(tf.shape(y_true)[0], tf.float32)

    def total(x):
        return tf.reduce_sum(x) / n

    xy = tf.reduce_sum(tf.square(y_true[..., 0:2] - d["xy"]), axis=-1)
    wh = tf.reduce_sum(tf.square(tf.sqrt(y_true[..., 2:4]) - tf.sqrt(d["wh"])), axis=-1)
    cls = tf.reduce_sum(tf.square(y_true[..., 5:] - d["classes"]), axis=-1)
    return {"coord_xy": LAMBDA_COORD * total(obj * xy), "coord_wh": LAMBDA_COORD * total(obj * wh),
            "obj": total(obj * tf.square(1.0 - d["objectness"])),
            "noobj": LAMBDA_NOOBJ * total(noobj * tf.square(d["objectness"])), "class": total(obj * cls)}


# ----------------------------------------------------------------------------- evaluation


@dataclass
class APResult:
    per_class: dict = field(default_factory=dict)  # name -> AP
    mean: float = 0.0


COCO_IOUS = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2))  # COCO's AP@[.5:.95]: ten IoU thresholds


def average_precision(scored: list, truths: dict, iou_threshold: float = 0.5) -> float:
    """VOC all-point interpolated AP of one ranked list. ``scored``: (score, image, box) of every
    detection; ``truths``: image -> (n, 4) ground-truth boxes. In score order, a detection is a true
    positive when its best-overlapping box in its image has IoU >= threshold and is not yet matched."""
    n_gt = sum(len(t) for t in truths.values())
    if n_gt == 0:
        return float("nan")
    scored = sorted(scored, key=lambda s: -s[0])
    matched = {i: np.zeros(len(t), bool) for i, t in truths.items()}
    tp = np.zeros(len(scored))
    for j, (_, i, box) in enumerate(scored):
        gts = truths.get(i, np.zeros((0, 4)))
        if not len(gts):
            continue
        ious = box_iou(np.array([box]), gts)[0]
        best = int(np.argmax(ious))
        if ious[best] >= iou_threshold and not matched[i][best]:
            matched[i][best] = True
            tp[j] = 1
    cum_tp = np.cumsum(tp)
    recall = cum_tp / n_gt
    precision = cum_tp / np.arange(1, len(scored) + 1)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def _class_lists(detections, gt_boxes, gt_labels, k: int | None):
    """(scored, truths) for class k, or for all classes at once (k None) with each class's boxes
    moved far apart so that a detection can only match a box of its own class (one global ranking)."""
    scored, truths = [], {}
    for i, (dets, boxes, labels) in enumerate(zip(detections, gt_boxes, gt_labels, strict=True)):
        boxes, labels = np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(labels).reshape(-1)
        if k is None:
            truths[i] = boxes + (labels * 1e6)[:, None]
            scored += [(d.score, i, tuple(np.asarray(d.box) + d.class_id * 1e6)) for d in dets]
        else:
            truths[i] = boxes[labels == k]
            scored += [(d.score, i, d.box) for d in dets if d.class_id == k]
    return scored, truths


def mean_average_precision(detections: list[list[Detection]], gt_boxes: list, gt_labels: list, class_names,
                           iou_threshold: float = 0.5) -> APResult:
    """VOC-style mAP (all-point interpolation) over a dataset: :func:`average_precision` per class
    (classes with no ground truth are left out), then the mean over classes."""
    result = APResult()
    for k, name in enumerate(class_names):
        scored, truths = _class_lists(detections, gt_boxes, gt_labels, k)
        if sum(len(t) for t in truths.values()):
            result.per_class[name] = average_precision(scored, truths, iou_threshold)
    result.mean = float(np.mean(list(result.per_class.values()))) if result.per_class else 0.0
    return result


def global_average_precision(detections: list[list[Detection]], gt_boxes: list, gt_labels: list,
                             iou_threshold: float = 0.5) -> float:
    """The YOLOv3 report's proposal: one AP over every detection of every class ranked together
    (a detection still has to name the right class), instead of a mean of per-class APs."""
    return average_precision(*_class_lists(detections, gt_boxes, gt_labels, None), iou_threshold)


def per_image_average_precision(detections: list[list[Detection]], gt_boxes: list, gt_labels: list,
                                iou_threshold: float = 0.5) -> list[float]:
    """The YOLOv3 report's other proposal ("an AP calculation per-image and averaging over that"): for each
    image, one AP over its own detections of every class ranked together (a hit must name the right class).
    NaN for an image with no object (its AP is undefined); average with ``np.nanmean``."""
    return [average_precision(*_class_lists([dets], [boxes], [labels], None), iou_threshold)
            for dets, boxes, labels in zip(detections, gt_boxes, gt_labels, strict=True)]


def coco_average_precision(detections: list[list[Detection]], gt_boxes: list, gt_labels: list, class_names,
                           thresholds=COCO_IOUS) -> dict:
    """COCO's AP@[.5:.95] next to VOC's AP50, from the same :func:`average_precision`: per class the
    mean of its AP over the IoU thresholds 0.50, 0.55, ..., 0.95; ``map`` the mean over classes;
    ``by_threshold`` the mAP at each threshold; ``global_*`` the single-ranking APs."""
    runs = {t: mean_average_precision(detections, gt_boxes, gt_labels, class_names, t) for t in thresholds}
    names = list(runs[thresholds[0]].per_class)
    per_class = {n: float(np.mean([runs[t].per_class[n] for t in thresholds])) for n in names}
    glob = {t: global_average_precision(detections, gt_boxes, gt_labels, t) for t in thresholds}
    per_image = per_image_average_precision(detections, gt_boxes, gt_labels, thresholds[0])
    return {"per_class": per_class, "map": float(np.mean(list(per_class.values()))) if per_class else 0.0,
            "by_threshold": {float(t): runs[t].mean for t in thresholds},
            "per_class_ap50": runs[thresholds[0]].per_class if thresholds[0] == 0.5 else None,
            "global_ap50": glob.get(0.5), "global_ap50_95": float(np.mean(list(glob.values()))),
            "per_image": per_image,  # at the first threshold (0.5): one AP per image, NaN without objects
            "per_image_mean": float(np.nanmean(per_image)) if np.isfinite(per_image).any() else float("nan")}


# ----------------------------------------------------------------------------- teaching views


def objectness_grid(raw, head: Head) -> np.ndarray:
    """(S_h, S_w) the highest objectness among each cell's anchors (batch item 0)."""
    return np.asarray(decode(np.asarray(raw, np.float32)[:1], head)["objectness"])[0].max(axis=-1)


def cell_table(raw, head: Head, row: int, col: int, input_size: int, class_names: list[str]) -> list[dict]:
    """Everything one cell predicts: per anchor the raw t-values, the anchor, the decoded box (input
    pixels), objectness and the class probabilities."""
    d = {k: np.asarray(v)[0] for k, v in decode(np.asarray(raw, np.float32)[:1], head).items()}
    sh, sw = d["objectness"].shape[:2]
    if not (0 <= row < sh and 0 <= col < sw):
        raise ValueError(f"Cell ({row}, {col}) is outside the {sh}x{sw} grid.")
    rows = []
    for a in range(head.boxes_per_cell):
        t = d["t"][row, col, a]
        c, wh = d["centre"][row, col, a] * input_size, d["wh"][row, col, a] * input_size
        probs = d["classes"][row, col, a]
        best = int(np.argmax(probs))
        rows.append({"anchor": a, "anchor_w": float(head.anchors[a, 0] * input_size),
                     "anchor_h": float(head.anchors[a, 1] * input_size), "t_x": float(t[0]), "t_y": float(t[1]),
                     "t_w": float(t[2]), "t_h": float(t[3]), "t_o": float(t[4]),
                     "x0": float(c[0] - wh[0] / 2), "y0": float(c[1] - wh[1] / 2), "x1": float(c[0] + wh[0] / 2),
                     "y1": float(c[1] + wh[1] / 2), "objectness": float(d["objectness"][row, col, a]),
                     "class": class_names[best], "class_prob": float(probs[best]),
                     "score": float(d["objectness"][row, col, a] * probs[best]),
                     "probs": {class_names[k]: float(p) for k, p in enumerate(probs)}})
    return rows


def responsible_anchors(y_true: np.ndarray, raw, head: Head, input_size: int, class_names: list[str]) -> list[dict]:
    """The 1^obj entries of one example's targets (1, S, S, B, 5 + C), each next to what the network
    predicts at that (cell, anchor): the loss's x, y, w, h and their predictions (x_pred ...), the
    predicted objectness and probability of the true class, and the predicted box in input pixels."""
    d = {k: np.asarray(v)[0] for k, v in decode(np.asarray(raw, np.float32)[:1], head).items()}
    y = np.asarray(y_true)[0]
    rows = []
    for r, c, a in zip(*np.nonzero(y[..., 4]), strict=True):
        target = y[r, c, a]
        k = int(np.argmax(target[5:]))
        centre, wh = d["centre"][r, c, a] * input_size, d["wh"][r, c, a] * input_size
        rows.append({"row": int(r), "col": int(c), "anchor": int(a), "class": class_names[k],
                     "x": float(target[0]), "x_pred": float(d["xy"][r, c, a, 0]),
                     "y": float(target[1]), "y_pred": float(d["xy"][r, c, a, 1]),
                     "w": float(target[2]), "w_pred": float(d["wh"][r, c, a, 0]),
                     "h": float(target[3]), "h_pred": float(d["wh"][r, c, a, 1]),
                     "objectness": float(d["objectness"][r, c, a]), "class_prob": float(d["classes"][r, c, a, k]),
                     "box": tuple(float(v) for v in np.concatenate([centre - wh / 2, centre + wh / 2]))})
    return rows


def draw_grid(image: np.ndarray, grid: tuple[int, int], heat: np.ndarray | None = None, alpha: float = 0.45,
              highlight: list[tuple[int, int]] = (), boxes: list[tuple] = (), scale: int = 1) -> np.ndarray:
    """The S x S grid over an image (enlarged ``scale`` times, nearest), optionally tinted by a per-cell
    heat in [0, 1], with highlighted cells and (x0, y0, x1, y1, label) boxes in input pixels."""
    import cv2

    out = enlarge_image(np.asarray(image)[..., :3], scale).astype(np.float32)
    h, w = out.shape[:2]
    sh, sw = grid
    if heat is not None:
        cell = cv2.resize(np.asarray(heat, np.float32), (w, h), interpolation=cv2.INTER_NEAREST)
        tint = cv2.cvtColor(cv2.applyColorMap((np.clip(cell, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_INFERNO),
                            cv2.COLOR_BGR2RGB).astype(np.float32)
        out = (1 - alpha) * out + alpha * tint
    out = np.clip(out, 0, 255).astype(np.uint8)
    for r in range(1, sh):
        cv2.line(out, (0, round(r * h / sh)), (w, round(r * h / sh)), (255, 255, 255), 1)
    for c in range(1, sw):
        cv2.line(out, (round(c * w / sw), 0), (round(c * w / sw), h), (255, 255, 255), 1)
    for r, c in highlight:
        cv2.rectangle(out, (round(c * w / sw), round(r * h / sh)), (round((c + 1) * w / sw), round((r + 1) * h / sh)),
                      (0, 255, 255), 2)
    for i, (x0, y0, x1, y1, label) in enumerate(boxes):
        colour = [(255, 80, 80), (80, 200, 255), (120, 255, 120), (255, 160, 0), (220, 120, 255)][i % 5]
        p0, p1 = (round(x0 * scale), round(y0 * scale)), (round(x1 * scale), round(y1 * scale))
        cv2.rectangle(out, p0, p1, colour, 1 if scale < 3 else 2)
        if label:
            cv2.putText(out, str(label), (p0[0] + 2, max(10, p0[1] + 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1,
                        cv2.LINE_AA)
    return out
