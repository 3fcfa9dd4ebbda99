"""RoI pooling (Fast R-CNN) against RoIAlign (Mask R-CNN), and Faster R-CNN's box loss.

Both crop a region of interest (RoI) from a feature map into a fixed ph x pw grid of bins. Boxes are
in continuous feature-map coordinates: cell (i, j) covers [j, j+1) x [i, i+1), its centre is at
(j + 0.5, i + 0.5); an image box becomes a feature-map box by dividing by the stride (16 for VGG's
conv5).

RoI pooling quantises twice: the box edges are rounded to whole cells (Fast R-CNN's
``round(x * spatial_scale)``), then each bin's edges to whole cells (floor of the start, ceil of the
end), and takes the max over the cells in the bin. The features read are therefore misaligned with
the RoI by up to half a cell (8 image pixels at stride 16) - harmless for classification, harmful for
pixel-accurate masks. (Fast R-CNN's Caffe layer also counts x1 as an inclusive pixel index, a +1 we
leave out so that both methods read the same box.)

RoIAlign (He et al., ICCV 2017) keeps the box and the bins exact: in every bin it samples
``sampling x sampling`` regularly spaced points, computes each by bilinear interpolation from the four
nearest cell centres, and averages them (Detectron's implementation, "aligned" pixel model: cell
centres at +0.5, as in torchvision's ``roi_align(..., aligned=True)``).

Faster R-CNN regresses a box relative to its anchor (x_a, y_a, w_a, h_a; centres and sizes):
    t_x = (x - x_a) / w_a    t_y = (y - y_a) / h_a    t_w = log(w / w_a)    t_h = log(h / h_a)
and penalises each of t - t* with the smooth L1 of Fast R-CNN:
    smooth_L1(d) = 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta     (beta = 1 in the paper).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAMBDA_COORD = 5.0  # YOLO's weight on the box terms (the same constant as core.detection.yolo)


@dataclass
class RoIPoolResult:
    output: np.ndarray  # (ph, pw) or (ph, pw, C)
    quantised_box: tuple[int, int, int, int]  # x0, y0, x1, y1 whole cells
    bins: np.ndarray  # (ph, pw, 4) integer y0, y1, x0, x1 (end exclusive) of the cells each bin reads
    argmax: np.ndarray  # (ph, pw, 2) the (row, col) the max came from (first channel); -1 for an empty bin


@dataclass
class RoIAlignResult:
    output: np.ndarray  # (ph, pw) or (ph, pw, C)
    bins: np.ndarray  # (ph, pw, 4) exact y0, y1, x0, x1 of each bin
    samples: np.ndarray  # (ph, pw, sampling * sampling, 2) the (x, y) points averaged in each bin


def _as_hwc(feature: np.ndarray) -> tuple[np.ndarray, bool]:
    feature = np.asarray(feature, np.float64)
    if feature.ndim == 2:
        return feature[..., None], True
    if feature.ndim != 3:
        raise ValueError(f"The feature map must be (H, W) or (H, W, C), got shape {feature.shape}.")
    return feature, False


def _check(box, out_size) -> tuple[np.ndarray, int, int]:
    box = np.asarray(box, np.float64).reshape(4)
    ph, pw = (int(v) for v in out_size)
    if ph < 1 or pw < 1:
        raise ValueError(f"The output grid must be at least 1 x 1, got {ph} x {pw}.")
    if not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"The box (x0, y0, x1, y1) = {tuple(box)} must have x1 > x0 and y1 > y0.")
    return box, ph, pw


def c_round(x: float) -> int:
    """C's round(): halves away from zero (Python's round() sends halves to the even number)."""
    return int(np.sign(x) * np.floor(abs(x) + 0.5))


def roi_pool(feature: np.ndarray, box, out_size=(2, 2), spatial_scale: float = 1.0) -> RoIPoolResult:
    """Fast R-CNN's RoI max pooling. ``box`` (x0, y0, x1, y1) in the coordinates ``spatial_scale``
    maps to feature cells (1.0: already in cells). Empty bins give 0, as in Caffe."""
    f, squeeze = _as_hwc(feature)
    box, ph, pw = _check(box, out_size)
    h, w = f.shape[:2]
    x0, y0, x1, y1 = (c_round(v * spatial_scale) for v in box)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)  # a RoI is at least one cell, as Caffe forces width >= 1
    bin_h, bin_w = (y1 - y0) / ph, (x1 - x0) / pw
    out = np.zeros((ph, pw, f.shape[2]))
    bins = np.zeros((ph, pw, 4), np.int64)
    argmax = np.full((ph, pw, 2), -1, np.int64)
    for i in range(ph):
        hs = min(max(int(np.floor(i * bin_h)) + y0, 0), h)
        he = min(max(int(np.ceil((i + 1) * bin_h)) + y0, 0), h)
        for j in range(pw):
            ws = min(max(int(np.floor(j * bin_w)) + x0, 0), w)
            we = min(max(int(np.ceil((j + 1) * bin_w)) + x0, 0), w)
            bins[i, j] = hs, he, ws, we
            if he > hs and we > ws:
                region = f[hs:he, ws:we]
                out[i, j] = region.reshape(-1, f.shape[2]).max(axis=0)
                r, c = np.unravel_index(int(np.argmax(region[..., 0])), region.shape[:2])
                argmax[i, j] = hs + r, ws + c
    return RoIPoolResult(out[..., 0] if squeeze else out, (x0, y0, x1, y1), bins, argmax)


def bilinear(feature: np.ndarray, x: float, y: float) -> np.ndarray:
    """The feature at continuous point (x, y), interpolated between the four nearest cell centres
    (cell (i, j)'s centre is (j + 0.5, i + 0.5)). Detectron's borders: 0 beyond one cell outside,
    clamped to the edge cells inside that margin. ``feature`` is (H, W, C); returns (C,)."""
    h, w = feature.shape[:2]
    x, y = x - 0.5, y - 0.5  # to cell-index coordinates, where centres are integers
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return np.zeros(feature.shape[2])
    y, x = max(y, 0.0), max(x, 0.0)
    y_lo, x_lo = int(y), int(x)
    if y_lo >= h - 1:
        y_lo = y_hi = h - 1
        y = float(y_lo)
    else:
        y_hi = y_lo + 1
    if x_lo >= w - 1:
        x_lo = x_hi = w - 1
        x = float(x_lo)
    else:
        x_hi = x_lo + 1
    ly, lx = y - y_lo, x - x_lo
    return ((1 - ly) * (1 - lx) * feature[y_lo, x_lo] + (1 - ly) * lx * feature[y_lo, x_hi]
            + ly * (1 - lx) * feature[y_hi, x_lo] + ly * lx * feature[y_hi, x_hi])


def roi_align(feature: np.ndarray, box, out_size=(2, 2), sampling: int = 2, spatial_scale: float = 1.0) -> RoIAlignResult:
    """Mask R-CNN's RoIAlign: no rounding anywhere; each bin is the average of ``sampling`` x
    ``sampling`` bilinear samples at the centres of a regular sub-grid of the bin."""
    f, squeeze = _as_hwc(feature)
    box, ph, pw = _check(box, out_size)
    if sampling < 1:
        raise ValueError(f"sampling must be at least 1, got {sampling}.")
    x0, y0, x1, y1 = box * spatial_scale
    bin_h, bin_w = (y1 - y0) / ph, (x1 - x0) / pw
    out = np.zeros((ph, pw, f.shape[2]))
    bins = np.zeros((ph, pw, 4))
    samples = np.zeros((ph, pw, sampling * sampling, 2))
    offsets = (np.arange(sampling) + 0.5) / sampling
    for i in range(ph):
        for j in range(pw):
            bins[i, j] = y0 + i * bin_h, y0 + (i + 1) * bin_h, x0 + j * bin_w, x0 + (j + 1) * bin_w
            points = [(x0 + (j + ox) * bin_w, y0 + (i + oy) * bin_h) for oy in offsets for ox in offsets]
            samples[i, j] = points
            out[i, j] = np.mean([bilinear(f, x, y) for x, y in points], axis=0)
    return RoIAlignResult(out[..., 0] if squeeze else out, bins, samples)


def misalignment(box, out_size=(2, 2), spatial_scale: float = 1.0) -> dict:
    """How far RoI pooling's cells are from the exact bins, in feature cells: the box edges after
    rounding, and every bin edge after rounding + floor/ceil. Multiply by the stride for image pixels."""
    box, ph, pw = _check(box, out_size)
    exact = box * spatial_scale
    pooled = roi_pool(np.zeros((1, 1)), box, out_size, spatial_scale)  # bins depend on the box only
    q = np.asarray(pooled.quantised_box, np.float64)
    x0, y0, x1, y1 = exact
    ys = np.linspace(y0, y1, ph + 1)
    xs = np.linspace(x0, x1, pw + 1)
    qy0, qx0, qy1, qx1 = q[1], q[0], q[3], q[2]
    qbin_h, qbin_w = (qy1 - qy0) / ph, (qx1 - qx0) / pw
    edges = []  # every bin edge, exact against quantised (before clipping to the map)
    for i in range(ph):
        edges += [abs(np.floor(i * qbin_h) + qy0 - ys[i]), abs(np.ceil((i + 1) * qbin_h) + qy0 - ys[i + 1])]
    for j in range(pw):
        edges += [abs(np.floor(j * qbin_w) + qx0 - xs[j]), abs(np.ceil((j + 1) * qbin_w) + qx0 - xs[j + 1])]
    return {"box_shift": (q - exact).tolist(), "box_max": float(np.max(np.abs(q - exact))),
            "bin_max": float(max(edges)), "bin_mean": float(np.mean(edges))}


# ----------------------------------------------------------------------------- box losses


def xyxy_to_cxcywh(box) -> np.ndarray:
    b = np.asarray(box, np.float64)
    return np.stack([(b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2, b[..., 2] - b[..., 0],
                     b[..., 3] - b[..., 1]], axis=-1)


def anchor_deltas(box, anchor) -> np.ndarray:
    """Faster R-CNN's regression targets (t_x, t_y, t_w, t_h) of ``box`` relative to ``anchor``
    (both x0, y0, x1, y1, any units): centre shift in anchor sizes, log of the size ratio."""
    b, a = xyxy_to_cxcywh(box), xyxy_to_cxcywh(anchor)
    if np.any(b[..., 2:] <= 0) or np.any(a[..., 2:] <= 0):
        raise ValueError("Boxes and anchors need a positive width and height.")
    return np.stack([(b[..., 0] - a[..., 0]) / a[..., 2], (b[..., 1] - a[..., 1]) / a[..., 3],
                     np.log(b[..., 2] / a[..., 2]), np.log(b[..., 3] / a[..., 3])], axis=-1)


def apply_deltas(t, anchor) -> np.ndarray:
    """The inverse of :func:`anchor_deltas`: (t_x, t_y, t_w, t_h) + anchor -> x0, y0, x1, y1."""
    t, a = np.asarray(t, np.float64), xyxy_to_cxcywh(anchor)
    cx, cy = a[..., 0] + t[..., 0] * a[..., 2], a[..., 1] + t[..., 1] * a[..., 3]
    w, h = a[..., 2] * np.exp(t[..., 2]), a[..., 3] * np.exp(t[..., 3])
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def smooth_l1(d, beta: float = 1.0) -> np.ndarray:
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta beyond: quadratic near 0, linear (robust to
    outliers) far away; beta = 1 in Fast/Faster R-CNN."""
    d = np.abs(np.asarray(d, np.float64))
    return np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)


def faster_rcnn_box_loss(pred_box, true_box, anchor, beta: float = 1.0) -> dict:
    """Faster R-CNN's L_reg for one positive anchor: sum over x, y, w, h of smooth_L1(t - t*), where
    t is the prediction's and t* the ground truth's deltas from the anchor."""
    t, t_star = anchor_deltas(pred_box, anchor), anchor_deltas(true_box, anchor)
    terms = smooth_l1(t - t_star, beta)
    return {"t": t.tolist(), "t_star": t_star.tolist(), "terms": terms.tolist(), "total": float(terms.sum())}


def yolo_box_loss(pred_box, true_box, image_size: float, grid: int) -> dict:
    """YOLO's box terms for one responsible predictor, as in :func:`core.detection.yolo.yolo_loss_terms`:
    lambda_coord [(x - x^)^2 + (y - y^)^2] on the centre's offset within its cell (in cell units),
    plus lambda_coord [(sqrt w - sqrt w^)^2 + (sqrt h - sqrt h^)^2] on sizes as fractions of the image."""
    p, g = xyxy_to_cxcywh(pred_box) / image_size, xyxy_to_cxcywh(true_box) / image_size
    if p[2] <= 0 or p[3] <= 0 or g[2] <= 0 or g[3] <= 0:
        raise ValueError("Boxes need a positive width and height.")
    cell = np.floor(np.clip(g[:2] * grid, 0, grid - 1))  # the cell holding the true centre is responsible
    xy = LAMBDA_COORD * float(np.sum((g[:2] * grid - cell - (p[:2] * grid - cell)) ** 2))
    wh = LAMBDA_COORD * float(np.sum((np.sqrt(g[2:]) - np.sqrt(p[2:])) ** 2))
    return {"coord_xy": xy, "coord_wh": wh, "total": xy + wh}
