"""Keypoints the Mask R-CNN way: one m x m "mask" per keypoint with a single pixel on.

Mask R-CNN (He, Gkioxari, Dollár, Girshick, ICCV 2017, §5) predicts keypoints with the same head that
predicts masks: for each of K keypoint types the RoI gets an m x m map (m = 56 in the paper, K = 17 on
COCO), and the training target is a one-hot mask whose only foreground pixel is the keypoint's cell.
The loss is a softmax cross-entropy over the m^2 positions of each map (one position wins), not the
per-pixel sigmoid of the object masks. At test time each map's arg-max cell, mapped back through the
RoI, is the keypoint; its error is at most half a cell.

Everything here is numpy on a synthetic stick figure, so the page can show the targets and the decoding
on any m without a trained keypoint model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import UserError

KEYPOINTS = ("head", "left hand", "right hand", "left foot", "right foot")  # the stick figure's K = 5
PAPER_M, PAPER_K = 56, 17  # the paper's keypoint head: 56 x 56 maps, COCO's 17 person keypoints


class KeypointError(UserError):
    """Bad input for the keypoint demo; ``str(exc)`` is one sentence for the user."""


@dataclass(frozen=True)
class Figure:
    image: np.ndarray  # (S, S, 3) uint8
    keypoints: np.ndarray  # (K, 2) float: x, y in image pixels, in the order of KEYPOINTS
    box: tuple[float, float, float, float]  # x0, y0, x1, y1: the figure's RoI


def stick_figure(size: int = 128, seed: int = 0) -> Figure:
    """A stick figure with its five keypoints (head, hands, feet) at slightly random places, and its box."""
    import cv2

    if not 32 <= size <= 1024:
        raise KeypointError(f"The image side must be 32 to 1024 pixels; got {size}.")
    rng = np.random.default_rng(seed)
    s = float(size)
    j = lambda: rng.uniform(-0.04, 0.04, 2) * s  # noqa: E731 - a small random offset per joint
    head = np.array([0.5, 0.2]) * s + j()
    neck, hip = np.array([0.5, 0.32]) * s + j(), np.array([0.5, 0.6]) * s + j()
    hands = [np.array([0.22, 0.42]) * s + j(), np.array([0.78, 0.38]) * s + j()]
    feet = [np.array([0.32, 0.88]) * s + j(), np.array([0.7, 0.9]) * s + j()]
    img = np.full((size, size, 3), 235, np.uint8)
    ink, width = (40, 40, 60), max(1, size // 40)
    pt = lambda p: (int(round(p[0])), int(round(p[1])))  # noqa: E731
    cv2.circle(img, pt(head), max(2, size // 14), ink, width, cv2.LINE_AA)
    for a, b in ((neck, hip), (neck, hands[0]), (neck, hands[1]), (hip, feet[0]), (hip, feet[1])):
        cv2.line(img, pt(a), pt(b), ink, width, cv2.LINE_AA)
    keypoints = np.stack([head, *hands, *feet])
    pad = 0.06 * s
    x0, y0 = np.maximum(keypoints.min(axis=0) - pad, 0)
    x1, y1 = np.minimum(keypoints.max(axis=0) + pad, s - 1)
    return Figure(img, keypoints, (float(x0), float(y0), float(x1), float(y1)))


def _check(box, m: int) -> tuple[float, float, float, float]:
    if not isinstance(m, (int, np.integer)) or not 2 <= m <= 256:
        raise KeypointError(f"The keypoint map side m must be a whole number from 2 to 256; got {m}.")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (np.isfinite([x0, y0, x1, y1]).all() and x1 > x0 and y1 > y0):
        raise KeypointError("The RoI must have a positive width and height.")
    return x0, y0, x1, y1


def keypoint_targets(keypoints: np.ndarray, box, m: int = PAPER_M) -> np.ndarray:
    """(K, m, m) uint8: for each keypoint, an m x m map of the RoI ``box`` with exactly one 1, at the cell
    the keypoint falls in (a keypoint outside the RoI gets an all-zero map: no target, as in the paper)."""
    x0, y0, x1, y1 = _check(box, m)
    kp = np.asarray(keypoints, np.float64).reshape(-1, 2)
    out = np.zeros((len(kp), m, m), np.uint8)
    for k, (x, y) in enumerate(kp):
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            continue
        col = min(m - 1, int((x - x0) / (x1 - x0) * m))
        row = min(m - 1, int((y - y0) / (y1 - y0) * m))
        out[k, row, col] = 1
    return out


def softmax_maps(logits: np.ndarray) -> np.ndarray:
    """Per map, the softmax over its m^2 positions (the keypoint head's output): (K, m, m), each map sums to 1."""
    z = np.asarray(logits, np.float64)
    flat = z.reshape(len(z), -1)
    flat = np.exp(flat - flat.max(axis=1, keepdims=True))
    return (flat / flat.sum(axis=1, keepdims=True)).reshape(z.shape)


def cross_entropy(probabilities: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The keypoint loss per map: -log p(target cell) (K,); NaN for a map without a target."""
    p = np.asarray(probabilities, np.float64).reshape(len(probabilities), -1)
    t = np.asarray(targets).reshape(len(targets), -1)
    out = np.full(len(p), np.nan)
    has = t.sum(axis=1) == 1
    out[has] = -np.log(np.maximum(p[has][t[has] == 1], 1e-12))
    return out


def decode(maps: np.ndarray, box) -> np.ndarray:
    """(K, 2): each map's arg-max cell, its centre mapped back through the RoI into image pixels (x, y)."""
    maps = np.asarray(maps)
    m = maps.shape[-1]
    x0, y0, x1, y1 = _check(box, m)
    idx = maps.reshape(len(maps), -1).argmax(axis=1)
    rows, cols = np.divmod(idx, m)
    return np.stack([x0 + (cols + 0.5) / m * (x1 - x0), y0 + (rows + 0.5) / m * (y1 - y0)], axis=1)


def blurred_prediction(targets: np.ndarray, spread: float = 1.5, seed: int = 0) -> np.ndarray:
    """What a trained head's softmax looks like, for the picture: logits peaked near each target cell
    (a Gaussian of ``spread`` cells, plus a little noise), through :func:`softmax_maps`. Not a model."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    t = np.asarray(targets, np.float64)
    logits = np.stack([gaussian_filter(tk, spread, mode="constant") for tk in t])
    logits = logits / np.maximum(logits.reshape(len(t), -1).max(axis=1), 1e-12)[:, None, None] * 8.0
    return softmax_maps(logits + rng.normal(0, 0.3, logits.shape))
