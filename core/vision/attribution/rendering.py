"""Turning heatmaps and gradients into pictures: colormaps, the overlay on the photo, and the signed
gradient as a gray image."""

from __future__ import annotations

import numpy as np

from core.vision.attribution.base import AttributionError

COLORMAPS = ("jet", "turbo", "inferno", "viridis", "magma", "hot")


def colorize(heat: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """(H, W) in [0, 1] -> (H, W, 3) uint8 RGB through an OpenCV colormap."""
    import cv2

    if colormap not in COLORMAPS:
        raise AttributionError(f"Unknown colormap '{colormap}'; choose one of {', '.join(COLORMAPS)}.")
    code = getattr(cv2, f"COLORMAP_{colormap.upper()}")
    u8 = np.clip(np.asarray(heat, np.float32) * 255.0, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(u8, code), cv2.COLOR_BGR2RGB)


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5, colormap: str = "jet") -> np.ndarray:
    """The heatmap, resized to the image (bilinear), blended over it: (1 - alpha) image + alpha colour."""
    import cv2

    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    h, w = img.shape[:2]
    heat = np.asarray(heat, np.float32)
    if heat.shape != (h, w):
        heat = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    colour = colorize(heat, colormap).astype(np.float32)
    alpha = float(np.clip(alpha, 0.0, 1.0))
    return np.clip((1 - alpha) * img.astype(np.float32) + alpha * colour, 0, 255).astype(np.uint8)


def gradient_image(g: np.ndarray) -> np.ndarray:
    """(H, W, C) signed gradient -> (H, W, 3) uint8 for display: gray is 0, brighter/darker is +/-
    (centred, 0.25 of the range per standard deviation: enough contrast for a projector)."""
    g = np.asarray(g, np.float32)
    if g.ndim == 2:
        g = g[:, :, None]
    g = g - g.mean()
    g = g / (g.std() + 1e-8) * 0.25 + 0.5
    out = (np.clip(g, 0, 1) * 255).round().astype(np.uint8)
    return np.repeat(out, 3, axis=2) if out.shape[2] == 1 else out[:, :, :3]
