"""BlazeFace short-range (MediaPipe): a single-shot anchor detector for faces, decoded by hand.

The network sees a 128x128 letterboxed RGB image scaled to [-1, 1] and answers, for each of 896
anchors, one face score (a logit) and 16 regressors: the box (dx, dy, w, h) and six keypoints
(x, y) - right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion.

Anchors (MediaPipe's ``SsdAnchorsCalculator`` with the short-range options): stride 8 gives a 16x16
grid with 2 anchors per cell; strides 16, 16, 16 share one 8x8 grid with 2 anchors each, 6 per cell.
16*16*2 + 8*8*6 = 512 + 384 = 896. Every anchor has a fixed size 1x1 (``fixed_anchor_size``), so a
regressor is an offset from the anchor's centre in units of the 128-pixel input:

    x = dx / 128 + anchor_x      y = dy / 128 + anchor_y      w = w / 128      h = h / 128

(YOLO instead predicts sigmoid offsets inside its grid cell and multiplies learned anchor sizes by
exp(t).) Overlapping detections are merged by *weighted* non-max suppression: the best box absorbs
every box with IoU above 0.3, and the output is their score-weighted average (YOLO's greedy NMS keeps
the best box as is).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from core.assets import AssetManager
from core.geometry import Letterbox, box_iou, letterbox
from core.live.tflite import TFLiteModel

ASSET = "blazeface-short-range"
INPUT_SIZE = 128
NUM_LAYERS = 4
STRIDES = (8, 16, 16, 16)
MIN_SCALE, MAX_SCALE = 0.1484375, 0.75
ANCHOR_OFFSET = 0.5
SCORE_CLIP = 100.0
MIN_SCORE = 0.5  # MediaPipe's min_score_thresh for this model
NMS_IOU = 0.3  # MediaPipe's min_suppression_threshold (IoU, weighted)
KEYPOINT_NAMES = ("right eye", "left eye", "nose tip", "mouth centre", "right ear tragion", "left ear tragion")


@dataclass(frozen=True)
class Anchors:
    """The 896 anchors in the network's output order."""

    centers: np.ndarray  # (896, 2) x, y in [0, 1] of the 128x128 input
    grid: np.ndarray  # (896,) side of the anchor's grid: 16 or 8
    stride: np.ndarray  # (896,) pixels of the input per grid cell: 8 or 16
    scale: np.ndarray  # (896,) the SSD scale of the anchor (unused by the decoding: anchors are 1x1)

    def __len__(self) -> int:
        return len(self.centers)


def _scale(index: int) -> float:
    return MIN_SCALE + (MAX_SCALE - MIN_SCALE) * index / (NUM_LAYERS - 1)


def ssd_anchors(input_size: int = INPUT_SIZE, strides: tuple[int, ...] = STRIDES) -> Anchors:
    """MediaPipe's SSD anchor layout: consecutive layers with the same stride share one grid; each
    layer adds one anchor of its scale and one of the interpolated scale (aspect ratio 1 both)."""
    centers, grids, stride_of, scales = [], [], [], []
    layer = 0
    while layer < len(strides):
        layer_scales = []
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            s = _scale(last)
            s_next = 1.0 if last == len(strides) - 1 else _scale(last + 1)
            layer_scales += [s, float(np.sqrt(s * s_next))]
            last += 1
        side = int(np.ceil(input_size / strides[layer]))
        for y in range(side):
            for x in range(side):
                for s in layer_scales:
                    centers.append(((x + ANCHOR_OFFSET) / side, (y + ANCHOR_OFFSET) / side))
                    grids.append(side)
                    stride_of.append(strides[layer])
                    scales.append(s)
        layer = last
    return Anchors(np.array(centers, np.float32), np.array(grids, np.int32), np.array(stride_of, np.int32),
                   np.array(scales, np.float32))


ANCHORS = ssd_anchors()


def decode(raw: np.ndarray, anchors: Anchors = ANCHORS, input_size: int = INPUT_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(896, 16) regressors -> boxes (896, 4) x0, y0, x1, y1 and keypoints (896, 6, 2), in [0, 1] of the input."""
    raw = np.asarray(raw, np.float32).reshape(len(anchors), -1)
    cx = raw[:, 0] / input_size + anchors.centers[:, 0]
    cy = raw[:, 1] / input_size + anchors.centers[:, 1]
    w, h = raw[:, 2] / input_size, raw[:, 3] / input_size
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kp = raw[:, 4:].reshape(len(anchors), -1, 2) / input_size + anchors.centers[:, None, :]
    return boxes, kp


def scores_from_logits(logits: np.ndarray) -> np.ndarray:
    """Sigmoid of the clipped logits (MediaPipe's ``score_clipping_thresh`` = 100)."""
    z = np.clip(np.asarray(logits, np.float64).reshape(-1), -SCORE_CLIP, SCORE_CLIP)
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


@dataclass(frozen=True)
class Merged:
    box: np.ndarray  # (4,)
    keypoints: np.ndarray  # (6, 2)
    score: float  # the best member's score
    members: np.ndarray  # anchor indices averaged into this detection, best first


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray,
                 iou_threshold: float = NMS_IOU) -> list[Merged]:
    """MediaPipe's weighted NMS: the best remaining box takes every remaining box with IoU above
    ``iou_threshold`` (itself included) and the output is their score-weighted mean box and
    keypoints, with the best score. Repeats on what is left."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if not len(boxes):
        return []
    keypoints = np.asarray(keypoints, np.float64).reshape(len(boxes), -1, 2)
    order = np.argsort(-scores, kind="stable")
    out = []
    while order.size:
        best = order[0]
        overlap = box_iou(boxes[best], boxes[order])[0] > iou_threshold
        overlap[0] = True  # a degenerate (zero-area) best box still absorbs itself
        members, order = order[overlap], order[~overlap]
        w = scores[members][:, None]
        out.append(Merged(box=(boxes[members] * w).sum(0) / w.sum(),
                          keypoints=(keypoints[members] * w[:, :, None]).sum(0) / w.sum(),
                          score=float(scores[best]), members=members))
    return out


@dataclass(frozen=True)
class Face:
    box: np.ndarray  # (4,) x0, y0, x1, y1 in the image's pixels
    score: float
    keypoints: np.ndarray  # (6, 2) x, y in the image's pixels
    members: np.ndarray  # the anchors merged into it

    def to_json(self) -> dict:
        return {"box": [round(float(v), 2) for v in self.box], "score": round(self.score, 4),
                "keypoints": {name: [round(float(x), 2), round(float(y), 2)]
                              for name, (x, y) in zip(KEYPOINT_NAMES, self.keypoints, strict=True)},
                "anchors": [int(i) for i in self.members]}


@dataclass(frozen=True)
class FaceDetections:
    faces: list[Face]
    scores: np.ndarray  # (896,) every anchor's score
    boxes: np.ndarray  # (896, 4) every anchor's decoded box in the image's pixels
    fired: np.ndarray  # indices of anchors with score >= min_score (before NMS), best first
    letterbox: Letterbox
    network_input: np.ndarray  # (128, 128, 3) uint8, what the network saw
    seconds: dict = field(default_factory=dict)  # per stage


def _to_image(lb: Letterbox, points01: np.ndarray) -> np.ndarray:
    """[0, 1] input coordinates (..., 2k) -> image pixels."""
    p = np.asarray(points01, np.float64) * lb.size
    flat = p.reshape(-1, 2)
    h, w = lb.original
    xy = (flat - [lb.pad_x, lb.pad_y]) / lb.scale
    return np.clip(xy, 0, [w, h]).reshape(p.shape)


class BlazeFace:
    """One BlazeFace interpreter (one per stream: not thread-safe)."""

    def __init__(self, manager: AssetManager | None = None, num_threads: int = 2):
        manager = manager or AssetManager()
        self.model = TFLiteModel(manager.ensure(ASSET), num_threads=num_threads)
        self._regressors, self._scores = self._output_order()

    def _output_order(self) -> tuple[int, int]:
        names = self.model.output_names()
        shapes = [tuple(d["shape"]) for d in self.model.outputs]
        reg = next(i for i, s in enumerate(shapes) if s[-1] == 16)
        return reg, 1 - reg if len(names) == 2 else next(i for i, s in enumerate(shapes) if s[-1] == 1)

    def raw(self, network_input: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(128, 128, 3) uint8 -> regressors (896, 16) and logits (896,)."""
        x = np.asarray(network_input, np.float32)[None] / 127.5 - 1.0
        outs = self.model.run(x)
        return outs[self._regressors][0], outs[self._scores][0, :, 0]

    def detect(self, image: np.ndarray, min_score: float = MIN_SCORE, iou_threshold: float = NMS_IOU) -> FaceDetections:
        """Faces in an RGB uint8 image (H, W, 3), in the image's pixels."""
        t0 = time.perf_counter()
        net_in, lb = letterbox(np.asarray(image)[..., :3], INPUT_SIZE, fill=0)
        t1 = time.perf_counter()
        reg, logits = self.raw(net_in)
        t2 = time.perf_counter()
        scores = scores_from_logits(logits)
        boxes01, kp01 = decode(reg)
        fired = np.flatnonzero(scores >= min_score)
        fired = fired[np.argsort(-scores[fired], kind="stable")]
        merged = weighted_nms(boxes01[fired], scores[fired], kp01[fired], iou_threshold)
        faces = [Face(box=_to_image(lb, m.box.reshape(2, 2)).reshape(4), score=m.score,
                      keypoints=_to_image(lb, m.keypoints), members=fired[m.members]) for m in merged]
        t3 = time.perf_counter()
        return FaceDetections(faces, scores, _to_image(lb, boxes01.reshape(-1, 2, 2)).reshape(-1, 4), fired, lb,
                              net_in, {"resize": t1 - t0, "network": t2 - t1, "decode + NMS": t3 - t2})

    def close(self) -> None:
        self.model.close()
