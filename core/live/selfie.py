"""MediaPipe selfie segmentation: a 256x256 RGB image in [0, 1] -> a 256x256 person probability.

The network's last layer is a sigmoid, so its output is already P(person) per pixel; MediaPipe's
graph stretches the whole frame to 256x256 (no letterbox) and stretches the answer back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from core.assets import AssetManager
from core.images import resize
from core.live.tflite import TFLiteModel

ASSET = "selfie-segmentation"
INPUT_SIZE = 256
THRESHOLD = 0.5


@dataclass(frozen=True)
class Segmentation:
    probability: np.ndarray  # (H, W) float32 in [0, 1] at the image's size
    raw: np.ndarray  # (256, 256) float32: the decoder's output before any resizing or threshold
    seconds: dict = field(default_factory=dict)

    def mask(self, threshold: float = THRESHOLD) -> np.ndarray:
        """(H, W) uint8: 255 = person, 0 = background."""
        return np.where(self.probability >= threshold, 255, 0).astype(np.uint8)

    def person_fraction(self, threshold: float = THRESHOLD) -> float:
        return float(np.mean(self.probability >= threshold))


class SelfieSegmenter:
    """One selfie-segmentation interpreter (one per stream: not thread-safe)."""

    def __init__(self, manager: AssetManager | None = None, num_threads: int = 2):
        manager = manager or AssetManager()
        self.model = TFLiteModel(manager.ensure(ASSET), num_threads=num_threads)

    def raw(self, image: np.ndarray) -> np.ndarray:
        """(256, 256) person probability for an RGB uint8 image of any size."""
        x = resize(np.asarray(image)[..., :3], INPUT_SIZE, INPUT_SIZE, "auto").astype(np.float32) / 255.0
        return self.model.run(x[None])[0][0, :, :, 0]

    def segment(self, image: np.ndarray) -> Segmentation:
        t0 = time.perf_counter()
        raw = self.raw(image)
        t1 = time.perf_counter()
        h, w = image.shape[:2]
        prob = np.clip(resize(raw[:, :, None], h, w, "bilinear")[..., 0] if (h, w) != raw.shape else raw, 0, 1)
        t2 = time.perf_counter()
        return Segmentation(prob.astype(np.float32), raw, {"network": t1 - t0, "resize back": t2 - t1})

    def close(self) -> None:
        self.model.close()
