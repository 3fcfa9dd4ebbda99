"""Box geometry, the vocabulary every feature package shares: IoU of boxes and of centred
widths/heights, greedy non-max suppression, the letterbox and its inverse, enlarging small images.

Boxes are (x0, y0, x1, y1) in pixels, x1 and y1 exclusive, as float arrays of shape (n, 4). One
implementation of each, used by the synthetic scenes (core.scenes), the YOLO decoder, anchors and
mAP (core.detection), the zoo's face finder (core.vision) and BlazeFace (core.live). A base module:
numpy only, it imports nothing from core.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def box_area(boxes: np.ndarray) -> np.ndarray:
    """(n,) areas; a box with x1 < x0 or y1 < y0 has area 0."""
    b = np.asarray(boxes, np.float64)
    return np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)


def box_overlap(a: np.ndarray, b: np.ndarray, over: str = "union") -> np.ndarray:
    """(n, m) intersection of every box in ``a`` with every box in ``b``, divided by their union
    (``over="union"``: IoU) or by the smaller of the two areas (``over="smaller"``: how much of the
    smaller box the other covers, what the face finder merges on)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4)[:, None], np.asarray(b, np.float64).reshape(-1, 4)[None]
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    area_a, area_b = box_area(a), box_area(b)
    if over == "union":
        denominator = area_a + area_b - inter
    elif over == "smaller":
        denominator = np.minimum(area_a, area_b)
    else:
        raise ValueError("over must be 'union' or 'smaller'.")
    return inter / np.maximum(denominator, 1e-12)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) IoU of boxes (x0, y0, x1, y1)."""
    return box_overlap(a, b, "union")


def iou_wh(boxes: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(N, k) IoU of centred boxes: ``boxes`` (N, 2) and ``anchors`` (k, 2) as widths and heights
    (the YOLO9000 anchor distance)."""
    boxes, anchors = np.asarray(boxes, np.float64), np.asarray(anchors, np.float64)
    inter = np.minimum(boxes[:, None, 0], anchors[None, :, 0]) * np.minimum(boxes[:, None, 1], anchors[None, :, 1])
    union = (boxes[:, 0] * boxes[:, 1])[:, None] + (anchors[:, 0] * anchors[:, 1])[None] - inter
    return inter / np.maximum(union, 1e-12)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.45, max_out: int | None = None,
        over: str = "union") -> np.ndarray:
    """Greedy non-max suppression: indices kept, highest score first. The best remaining box is kept
    and every box overlapping it by more than ``iou_threshold`` is dropped, until none is left (the
    boxes ``tf.image.non_max_suppression`` keeps; ties in score keep the earlier box)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    keep = []
    while order.size and (max_out is None or len(keep) < max_out):
        i, rest = order[0], order[1:]
        keep.append(i)
        order = rest[box_overlap(boxes[i], boxes[rest], over)[0] <= iou_threshold]
    return np.array(keep, np.int64)


# ----------------------------------------------------------------------------- letterbox


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the square network input: x_in = x_orig * scale + pad."""

    scale: float
    pad_x: float
    pad_y: float
    size: int
    original: tuple[int, int]  # (H, W)

    def to_original(self, boxes_px: np.ndarray) -> np.ndarray:
        """Input-pixel boxes (x0, y0, x1, y1) -> original-image pixels, clipped to the image."""
        b = (np.asarray(boxes_px, np.float64) - [self.pad_x, self.pad_y, self.pad_x, self.pad_y]) / self.scale
        h, w = self.original
        return np.clip(b, 0, [w, h, w, h])

    def to_input(self, boxes_px: np.ndarray) -> np.ndarray:
        return np.asarray(boxes_px, np.float64) * self.scale + [self.pad_x, self.pad_y, self.pad_x, self.pad_y]

    @classmethod
    def identity(cls, size: int) -> Letterbox:
        """An image already at the network's size: nothing to undo."""
        return cls(1.0, 0, 0, size, (size, size))


def letterbox(image: np.ndarray, size: int, fill: int = 127) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping the aspect ratio so the long side is ``size``, centre on a gray square (darknet)."""
    import cv2

    h, w = image.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.full((size, size, 3), fill, np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top:top + nh, left:left + nw] = resized
    # the exact scale per axis (rounding) is folded into one scale: at most half a pixel off
    return out, Letterbox(nw / w, left, top, size, (h, w))


# ----------------------------------------------------------------------------- enlarge


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Every pixel repeated ``factor`` x ``factor`` times (nearest neighbour): small synthetic scenes
    and feature maps on a projector. A box (x0, y0, x1, y1) on the result is the box times ``factor``."""
    factor = int(factor)
    if factor < 1:
        raise ValueError("The enlargement factor must be a whole number >= 1.")
    image = np.asarray(image)
    return np.ascontiguousarray(np.repeat(np.repeat(image, factor, 0), factor, 1) if factor > 1 else image.copy())
