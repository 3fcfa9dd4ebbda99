"""Anchor boxes from k-means on box shapes with the distance d = 1 - IoU (YOLO9000, section 2).

Only widths and heights matter: every box and centroid is placed at the same centre, so IoU is
min(w) min(h) / (w h + w' h' - min(w) min(h)). Shapes: boxes (N, 2), anchors (k, 2), same units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.geometry import iou_wh  # noqa: F401  (re-exported: anchors.iou_wh)
from core.limits import MAX_BOX_SIDE, MAX_CLUSTER_BOXES  # noqa: F401

# The published anchors the pages compare with: cfg -> (title, the side their numbers are measured in).
# YOLOv2's region anchors are in grid cells of its 13 x 13 output, YOLOv3's in pixels of a 416 px input.
PUBLISHED_ANCHORS = {"yolov2-voc": ("YOLOv2 VOC", 13), "yolov3": ("YOLOv3 COCO", 416)}


def published_anchors() -> dict[str, np.ndarray]:
    """cfg name -> (k, 2) anchors as fractions of the image side, read from the shipped cfg's last head."""
    from core.detection.darknet import bundled_cfg, read_cfg

    out = {}
    for name, (_, side) in PUBLISHED_ANCHORS.items():
        head = [s for s in read_cfg(bundled_cfg(name)) if s.kind in ("region", "yolo")][-1]
        out[name] = np.array(head.floats("anchors")).reshape(-1, 2) / side
    return out


def mean_best_iou(boxes: np.ndarray, anchors: np.ndarray) -> float:
    """Mean over boxes of the IoU with their best-matching anchor (the y-axis of YOLO9000 Fig. 2)."""
    return float(iou_wh(boxes, anchors).max(axis=1).mean())


@dataclass(frozen=True)
class KMeansResult:
    anchors: np.ndarray  # (k, 2) sorted by area
    assignment: np.ndarray  # (N,) index into anchors
    mean_iou: float  # mean over boxes of the IoU with their anchor
    iterations: int


def iou_kmeans(boxes: np.ndarray, k: int, seed: int = 0, update: str = "median", max_iter: int = 300,
               restarts: int = 5) -> KMeansResult:
    """Lloyd's k-means with 1 - IoU: assign each box to its highest-IoU centroid, move each centroid to
    the median (or mean) shape of its boxes, until no assignment changes. Seeded random init from the
    boxes; the best of ``restarts`` runs (seeds seed, seed + 1, ...) by mean IoU."""
    runs = [_kmeans_once(boxes, k, seed + r, update, max_iter) for r in range(max(1, restarts))]
    return max(runs, key=lambda r: r.mean_iou)


def _kmeans_once(boxes: np.ndarray, k: int, seed: int, update: str, max_iter: int) -> KMeansResult:
    boxes = np.asarray(boxes, np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 2 or not len(boxes):
        raise ValueError("Give box shapes as an (N, 2) array of widths and heights.")
    if np.any(boxes <= 0) or not np.all(np.isfinite(boxes)):
        raise ValueError("Box widths and heights must be positive numbers.")
    if not 1 <= k <= len(boxes):
        raise ValueError(f"k must be between 1 and the number of boxes ({len(boxes)}).")
    if update not in ("median", "mean"):
        raise ValueError("update must be 'median' or 'mean'.")
    reduce = np.median if update == "median" else np.mean
    rng = np.random.default_rng(seed)
    centroids = boxes[rng.choice(len(boxes), k, replace=False)].copy()
    assignment = np.full(len(boxes), -1)
    for iteration in range(1, max_iter + 1):  # noqa: B007  (reported after the loop)
        new = np.argmax(iou_wh(boxes, centroids), axis=1)
        if np.array_equal(new, assignment):
            break
        assignment = new
        for j in range(k):
            members = boxes[assignment == j]
            if len(members):
                centroids[j] = reduce(members, axis=0)
    order = np.argsort(centroids[:, 0] * centroids[:, 1])
    centroids = centroids[order]
    assignment = np.argsort(order)[assignment]
    best = iou_wh(boxes, centroids)[np.arange(len(boxes)), assignment]
    return KMeansResult(centroids, assignment, float(best.mean()), iteration)


def iou_curve(boxes: np.ndarray, ks=range(1, 11), seed: int = 0, update: str = "median") -> dict[int, KMeansResult]:
    """k -> result, for the average-IoU-vs-k plot (YOLO9000 Figure 2)."""
    return {k: iou_kmeans(boxes, k, seed, update) for k in ks if k <= len(boxes)}




def _line_excerpt(line: str) -> str:
    line = " ".join(line.split())
    return repr(line if len(line) <= 60 else line[:57] + "...")


def read_wh_csv(text: str, max_side: float = MAX_BOX_SIDE) -> np.ndarray:
    """Parse 'w,h' lines (an optional header line is skipped) into (N, 2) floats, with a clear error:
    the line that is not 'w,h', that holds NaN or infinity, a side <= 0, or a side above ``max_side``
    pixels (no image the pages accept is that large)."""
    rows = []
    for number, line in enumerate(text.strip().splitlines(), start=1):
        parts = [p.strip() for p in line.replace(";", ",").split(",") if p.strip()]
        if not parts:
            continue
        try:
            w, h = float(parts[0]), float(parts[1])
        except (ValueError, IndexError):
            if number == 1:
                continue  # a header
            raise ValueError(f"Line {number} is not 'w,h': {_line_excerpt(line)}.") from None
        if not (np.isfinite(w) and np.isfinite(h)):
            raise ValueError(f"Line {number} holds NaN or infinity ({_line_excerpt(line)}): widths and heights "
                             "must be finite numbers.")
        if w <= 0 or h <= 0:
            raise ValueError(f"Line {number}: widths and heights must be positive ({_line_excerpt(line)}).")
        if max(w, h) > max_side:
            raise ValueError(f"Line {number}: a side of {max(w, h):,.6g} px is larger than any image this page "
                             f"accepts ({max_side:,.0f} px): {_line_excerpt(line)}.")
        rows.append((w, h))
    if not rows:
        raise ValueError("No 'w,h' rows found.")
    return np.array(rows)


def sample_boxes(wh: np.ndarray, limit: int = MAX_CLUSTER_BOXES, seed: int = 0) -> tuple[np.ndarray, str]:
    """At most ``limit`` boxes, drawn uniformly without replacement (seeded), and a sentence saying so
    ("" when nothing was dropped). k-means on a uniform sample finds the same anchors to within the
    sampling noise, in bounded time."""
    wh = np.asarray(wh)
    if len(wh) <= limit:
        return wh, ""
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(wh), limit, replace=False))
    return wh[keep], (f"{len(wh):,} boxes: clustering a random sample of {limit:,} of them (seed {seed}); "
                      "anchors from a uniform sample match the full set's to within sampling noise.")
