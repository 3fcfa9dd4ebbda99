"""Seeded synthetic scenes: coloured shapes on textured backgrounds.

One set of drawing primitives serves every model the dashboard trains itself: the shape classifier
(one shape per image), and later the segmentation and detection sets (several shapes, per-pixel
labels, boxes). Everything is numpy + OpenCV and reproducible from a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.geometry import box_iou

SHAPES = ("circle", "square", "triangle", "star", "cross", "ring")
BACKGROUNDS = ("noise", "stripes", "checker", "gradient", "blobs")


def background(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """An (size, size, 3) uint8 texture in muted colours, so shapes stay the salient thing."""
    base = rng.uniform(60, 190, 3)
    other = np.clip(base + rng.uniform(-60, 60, 3), 0, 255)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == "stripes":
        angle = rng.uniform(0, np.pi)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(3, 8) * (xx * np.cos(angle) + yy * np.sin(angle)))
    elif kind == "checker":
        n = int(rng.integers(3, 8))
        t = ((np.floor(xx * n) + np.floor(yy * n)) % 2).astype(np.float32)
    elif kind == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        t = np.clip(0.5 + (xx - 0.5) * np.cos(angle) + (yy - 0.5) * np.sin(angle), 0, 1)
    elif kind == "blobs":
        t = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), size / 10)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    else:  # noise
        t = rng.random((size, size)).astype(np.float32)
    img = base[None, None, :] * (1 - t[..., None]) + other[None, None, :] * t[..., None]
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def shape_mask(kind: str, size: int, center: tuple[float, float], radius: float, angle: float) -> np.ndarray:
    """A boolean (size, size) mask of one shape."""
    mask = np.zeros((size, size), np.uint8)
    cx, cy = center
    if kind == "circle":
        cv2.circle(mask, (round(cx), round(cy)), max(2, round(radius)), 1, -1, lineType=cv2.LINE_8)
    elif kind == "ring":
        cv2.circle(mask, (round(cx), round(cy)), max(3, round(radius)), 1, max(2, round(radius * 0.35)))
    else:
        if kind == "square":
            pts = [(np.cos(a), np.sin(a)) for a in np.pi / 4 + np.arange(4) * np.pi / 2]
        elif kind == "triangle":
            pts = [(np.cos(a), np.sin(a)) for a in -np.pi / 2 + np.arange(3) * 2 * np.pi / 3]
        elif kind == "star":
            pts = [((1.0 if i % 2 == 0 else 0.45) * np.cos(a), (1.0 if i % 2 == 0 else 0.45) * np.sin(a))
                   for i, a in enumerate(-np.pi / 2 + np.arange(10) * np.pi / 5)]
        elif kind == "cross":
            w = 0.33
            pts = [(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w),
                   (-w, -w)]
        else:
            raise ValueError(f"Unknown shape '{kind}'; choose one of {', '.join(SHAPES)}.")
        c, s = np.cos(angle), np.sin(angle)
        poly = np.array([(cx + radius * (x * c - y * s), cy + radius * (x * s + y * c)) for x, y in pts])
        cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    return mask.astype(bool)


def random_colour(rng: np.random.Generator, avoid: np.ndarray | None = None) -> np.ndarray:
    """A saturated colour, far from ``avoid`` (the local background) so the shape is visible."""
    for _ in range(20):
        hue = rng.uniform(0, 180)
        hsv = np.uint8([[[hue, rng.uniform(170, 255), rng.uniform(170, 255)]]])
        colour = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
        if avoid is None or np.linalg.norm(colour - avoid) > 90:
            return colour
    return colour


@dataclass(frozen=True)
class ShapeDataset:
    images: np.ndarray  # (n, size, size, 3) uint8
    labels: np.ndarray  # (n,) int, index into SHAPES
    class_names: tuple[str, ...] = SHAPES


def shape_classification(n: int, size: int = 64, seed: int = 0) -> ShapeDataset:
    """One shape per image (random kind, colour, size, position, rotation) on a random texture."""
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.uint8)
    labels = rng.integers(0, len(SHAPES), n)
    for i in range(n):
        img = background(BACKGROUNDS[rng.integers(len(BACKGROUNDS))], size, rng).astype(np.float32)
        radius = rng.uniform(0.2, 0.38) * size
        center = (rng.uniform(radius, size - radius), rng.uniform(radius, size - radius))
        mask = shape_mask(SHAPES[labels[i]], size, center, radius, rng.uniform(0, 2 * np.pi))
        colour = random_colour(rng, img[mask].mean(axis=0) if mask.any() else None)
        shade = 1.0 + 0.15 * (np.mgrid[0:size, 0:size][0] / size - 0.5)  # a little lighting
        img[mask] = np.clip(colour[None, :] * shade[mask][:, None], 0, 255)
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
    return ShapeDataset(images, labels.astype(np.int64))


SEGMENT_CLASSES = ("background", "circle", "square", "triangle")
# One colour per class wherever a page draws these classes (segmentation masks, the R-CNN instance panel).
SEGMENT_PALETTE = ((40, 40, 40), (230, 80, 80), (80, 200, 80), (80, 120, 240))


@dataclass(frozen=True)
class SegmentationDataset:
    images: np.ndarray  # (n, size, size, 3) uint8
    masks: np.ndarray  # (n, size, size) uint8 class index per pixel (0 = background)
    class_names: tuple[str, ...] = SEGMENT_CLASSES


def segmentation_scenes(n: int, size: int = 64, seed: int = 0, max_shapes: int = 3) -> SegmentationDataset:
    """Several (possibly overlapping) shapes per textured scene, with per-pixel labels.

    Later shapes are drawn on top, and the mask records whatever is visible, as a camera would.
    """
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    kinds = SEGMENT_CLASSES[1:]
    for i in range(n):
        img = background(BACKGROUNDS[rng.integers(len(BACKGROUNDS))], size, rng).astype(np.float32)
        mask = np.zeros((size, size), np.uint8)
        for _ in range(int(rng.integers(1, max_shapes + 1))):
            k = int(rng.integers(len(kinds)))
            radius = rng.uniform(0.13, 0.28) * size
            center = (rng.uniform(0, size), rng.uniform(0, size))
            m = shape_mask(kinds[k], size, center, radius, rng.uniform(0, 2 * np.pi))
            if not m.any():
                continue
            colour = random_colour(rng, img[m].mean(axis=0))
            img[m] = colour
            mask[m] = k + 1
        img += rng.normal(0, 4, img.shape)  # sensor noise over everything
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
        masks[i] = mask
    return SegmentationDataset(images, masks)


# ----------------------------------------------------------------------------- tanks in trees

TANK_CLASSES = ("tank", "truck")
TANK_BACKGROUNDS = ("forest", "sky")


def forest(size: int, rng: np.random.Generator) -> np.ndarray:
    """Dark, blotchy green foliage with a few vertical trunks."""
    t = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), size / 24)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    dark, light = np.array([20, 55, 20]) + rng.uniform(-8, 8, 3), np.array([70, 130, 50]) + rng.uniform(-15, 15, 3)
    img = dark[None, None] * (1 - t[..., None]) + light[None, None] * t[..., None]
    for _ in range(int(rng.integers(2, 5))):
        x0, width = int(rng.integers(0, size)), int(rng.integers(1, max(2, size // 16)))
        img[:, x0:x0 + width] = img[:, x0:x0 + width] * 0.4 + np.array([70, 50, 30]) * 0.6
    return np.clip(img + rng.normal(0, 8, img.shape), 0, 255)


def sky(size: int, rng: np.random.Generator) -> np.ndarray:
    """A blue gradient (lighter towards the horizon) with soft white clouds."""
    yy = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
    top, bottom = np.array([60, 120, 210]) + rng.uniform(-15, 15, 3), np.array([170, 205, 240]) + rng.uniform(-10, 10, 3)
    img = np.broadcast_to(top * (1 - yy) + bottom * yy, (size, size, 3)).copy()
    clouds = cv2.GaussianBlur((rng.random((size, size)) > 0.985).astype(np.float32), (0, 0), size / 14)
    clouds = np.clip(clouds / max(float(clouds.max()), 1e-6) * rng.uniform(0.4, 1.0), 0, 1)[..., None]
    img = img * (1 - clouds) + 245 * clouds
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255)


def vehicle_mask(kind: str, size: int, center: tuple[float, float], length: float, facing: int) -> np.ndarray:
    """A side-view silhouette: a tank (tracks, hull, turret, long gun) or a truck (cab, cargo box,
    two round wheels). ``facing`` is +1 (right) or -1 (left)."""
    mask = np.zeros((size, size), np.uint8)
    cx, cy = center
    u = length / 10.0  # the unit: the vehicle is 10 units long

    def box(x0, y0, x1, y1):  # in units, x along the facing direction, y down, relative to the centre
        xs = sorted((cx + facing * x0 * u, cx + facing * x1 * u))
        cv2.rectangle(mask, (round(xs[0]), round(cy + y0 * u)), (round(xs[1]), round(cy + y1 * u)), 1, -1)

    if kind == "tank":
        cv2.ellipse(mask, (round(cx), round(cy + 1.5 * u)), (round(5 * u), max(1, round(1.2 * u))), 0, 0, 360, 1, -1)
        box(-4.5, -0.5, 4.5, 1.2)  # hull
        box(-2.0, -2.2, 1.5, -0.4)  # turret
        box(1.5, -1.7, 6.0, -1.2)  # gun
    elif kind == "truck":
        box(-5.0, -2.5, 1.5, 1.0)  # cargo box
        box(1.8, -1.5, 4.8, 1.0)  # cab
        for wx in (-3.0, 3.2):
            cv2.circle(mask, (round(cx + facing * wx * u), round(cy + 1.4 * u)), max(1, round(1.1 * u)), 1, -1)
    else:
        raise ValueError(f"Unknown vehicle '{kind}'; choose one of {', '.join(TANK_CLASSES)}.")
    return mask.astype(bool)


@dataclass(frozen=True)
class TankDataset:
    images: np.ndarray  # (n, size, size, 3) uint8
    labels: np.ndarray  # (n,) 0 = tank, 1 = truck
    backgrounds: np.ndarray  # (n,) 0 = forest, 1 = sky
    masks: np.ndarray  # (n, size, size) bool: the vehicle's pixels
    class_names: tuple[str, ...] = TANK_CLASSES


def tanks_in_trees(n: int, size: int = 64, correlation: float = 1.0, seed: int = 0) -> TankDataset:
    """Tanks and trucks; with probability ``correlation`` a tank stands in the forest and a truck
    under the sky, otherwise the other way round. correlation = 0.5: background carries no
    information; 1.0: background alone predicts the class; 0.0: the swapped world."""
    if not 0.0 <= correlation <= 1.0:
        raise ValueError("correlation must be between 0 and 1.")
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    usual = rng.random(n) < correlation
    backgrounds = np.where(usual, labels, 1 - labels)  # tank(0) -> forest(0), truck(1) -> sky(1)
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.zeros((n, size, size), bool)
    for i in range(n):
        img = forest(size, rng) if backgrounds[i] == 0 else sky(size, rng)
        length = rng.uniform(0.45, 0.62) * size
        center = (rng.uniform(length / 2 + 2, size - length / 2 - 2), rng.uniform(0.45, 0.75) * size)
        mask = vehicle_mask(TANK_CLASSES[labels[i]], size, center, length, int(rng.choice([-1, 1])))
        drab = np.array([120, 118, 90]) + rng.uniform(-25, 25, 3)  # the same olive-grey palette for both
        img[mask] = drab * (0.85 + 0.3 * rng.random((int(mask.sum()), 1)))
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
        masks[i] = mask
    return TankDataset(images, labels.astype(np.int64), backgrounds.astype(np.int64), masks)


# ----------------------------------------------------------------------------- detection scenes

DETECT_CLASSES = SEGMENT_CLASSES[1:]  # circle, square, triangle: the segmentation model knows them too


@dataclass(frozen=True)
class DetectionDataset:
    images: np.ndarray  # (n, size, size, 3) uint8
    boxes: list  # per image: (m, 4) float32 x0, y0, x1, y1 in pixels (x1, y1 exclusive)
    labels: list  # per image: (m,) int64 index into DETECT_CLASSES
    masks: np.ndarray  # (n, size, size) uint8: 0 = background, k + 1 = class k (as segmentation)
    class_names: tuple[str, ...] = DETECT_CLASSES

    def all_wh(self) -> np.ndarray:
        """(N, 2) widths and heights of every box, as a fraction of the image side."""
        size = self.images.shape[1]
        return np.concatenate([np.stack([b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1) for b in self.boxes
                               if len(b)]) / size


def detection_scenes(n: int, size: int = 128, seed: int = 0, max_objects: int = 4,
                     radius: tuple[float, float] = (0.06, 0.2), max_overlap: float = 0.15) -> DetectionDataset:
    """1..max_objects shapes of varied size per textured scene, with tight boxes (of the drawn pixels),
    class labels and per-pixel masks. Shapes overlap by at most ``max_overlap`` IoU, so every box
    is a fair target."""
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    all_boxes, all_labels = [], []
    for i in range(n):
        img = background(BACKGROUNDS[rng.integers(len(BACKGROUNDS))], size, rng).astype(np.float32)
        boxes, labels, mask = [], [], np.zeros((size, size), np.uint8)
        for _ in range(int(rng.integers(1, max_objects + 1))):
            for _attempt in range(20):
                k = int(rng.integers(len(DETECT_CLASSES)))
                r = rng.uniform(*radius) * size
                center = (rng.uniform(r, size - r), rng.uniform(r, size - r))
                m = shape_mask(DETECT_CLASSES[k], size, center, r, rng.uniform(0, 2 * np.pi))
                ys, xs = np.nonzero(m)
                if len(xs) < 12:
                    continue
                box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
                if boxes and box_iou(box[None], np.array(boxes)).max() > max_overlap:
                    continue
                img[m] = random_colour(rng, img[m].mean(axis=0))
                mask[m] = k + 1
                boxes.append(box)
                labels.append(k)
                break
        img += rng.normal(0, 4, img.shape)
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
        masks[i] = mask
        all_boxes.append(np.array(boxes, np.float32).reshape(-1, 4))
        all_labels.append(np.array(labels, np.int64))
    return DetectionDataset(images, all_boxes, all_labels, masks)


def compose_scene(objects: list[dict], size: int = 96, background_kind: str = "blobs", seed: int = 0):
    """A scene from a list of {"shape", "x", "y", "size", "angle"} (x, y, size as fractions of the side,
    angle in degrees), drawn in order with the same primitives as the training scenes.
    Returns (image (size, size, 3) uint8, boxes (m, 4) pixels, labels (m,))."""
    rng = np.random.default_rng(seed)
    if background_kind not in BACKGROUNDS:
        raise ValueError(f"Unknown background '{background_kind}'; choose one of {', '.join(BACKGROUNDS)}.")
    img = background(background_kind, size, rng).astype(np.float32)
    boxes, labels = [], []
    for obj in objects:
        kind = str(obj.get("shape", "")).strip().lower()
        if kind not in DETECT_CLASSES:
            raise ValueError(f"Unknown shape '{obj.get('shape')}'; choose one of {', '.join(DETECT_CLASSES)}.")
        try:
            x, y, s, angle = (float(obj.get(k, d)) for k, d in (("x", 0.5), ("y", 0.5), ("size", 0.15), ("angle", 0)))
        except (TypeError, ValueError):
            raise ValueError(f"Shape {kind}: x, y, size and angle must be numbers.") from None
        if not (0 <= x <= 1 and 0 <= y <= 1 and 0.02 <= s <= 0.5):
            raise ValueError(f"Shape {kind}: x and y must be in [0, 1] and size in [0.02, 0.5].")
        m = shape_mask(kind, size, (x * size, y * size), s * size, np.deg2rad(angle))
        if not m.any():
            continue
        img[m] = random_colour(rng, img[m].mean(axis=0))
        ys, xs = np.nonzero(m)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        labels.append(DETECT_CLASSES.index(kind))
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64)
