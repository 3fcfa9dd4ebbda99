"""Seeded synthetic scenes: coloured shapes on textured backgrounds.

One set of drawing primitives serves every model the dashboard trains itself: the shape classifier
(one shape per image), and later the segmentation and detection sets (several shapes, per-pixel
labels, boxes). Everything is numpy + OpenCV and reproducible from a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

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
