"""Instances from two models we already have: the detector's boxes and the segmentation model's
per-pixel classes. Each detection keeps the pixels inside its box that the FCN labels with the
detection's class. This is *not* Mask R-CNN (which predicts a mask per RoI with its own head);
it shows what "instance" adds to "semantic": two touching circles become two objects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.detection.yolo import Detection


@dataclass(frozen=True)
class Instance:
    detection: Detection
    mask: np.ndarray  # (H, W) bool


def box_restricted_masks(detections: list[Detection], class_mask: np.ndarray, background: int = 0,
                         drop_empty: bool = True) -> list[Instance]:
    """``class_mask`` (H, W) holds class indices with ``background`` first, so detection class k is
    mask value k + 1 (the segmentation classes are background + the detector's classes). Pixels claimed
    by two boxes go to the higher-scoring detection; a detection left with no pixel (a duplicate box
    that NMS kept, or a box the FCN disagrees with) is dropped unless ``drop_empty`` is False."""
    h, w = class_mask.shape
    taken = np.zeros((h, w), bool)
    out = []
    for det in sorted(detections, key=lambda d: -d.score):
        x0, y0, x1, y1 = (int(round(v)) for v in det.box)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        mask = np.zeros((h, w), bool)
        mask[y0:y1, x0:x1] = class_mask[y0:y1, x0:x1] == det.class_id + 1 + background
        mask &= ~taken
        taken |= mask
        if mask.any() or not drop_empty:
            out.append(Instance(det, mask))
    return out


def colour_instances(image: np.ndarray, instances: list[Instance], alpha: float = 0.55) -> np.ndarray:
    out = image.astype(np.float32).copy()
    rng = np.random.default_rng(7)
    for inst in instances:
        colour = rng.integers(60, 256, 3).astype(np.float32)
        out[inst.mask] = (1 - alpha) * out[inst.mask] + alpha * colour
    return np.clip(out, 0, 255).astype(np.uint8)


def showcase_scene(images: np.ndarray, detect, segment, limit: int = 100) -> int:
    """The first scene (of ``limit``) where two instances of one class come out — the picture that
    shows what "instance" adds; 0 when none does. ``detect(image)`` -> detections,
    ``segment(image)`` -> class mask."""
    for i, image in enumerate(images[:limit]):
        found = box_restricted_masks(detect(image), segment(image))
        classes = [inst.detection.class_id for inst in found]
        if len(classes) != len(set(classes)):
            return i
    return 0
