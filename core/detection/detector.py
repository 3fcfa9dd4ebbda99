"""Named detectors behind one interface: the tiny YOLO trained here, and darknet YOLOv3 / v3-tiny.

``load_detector(name)`` -> :class:`Detector`; ``detect(detector, image, conf, iou)`` letterboxes the
image, runs the network, decodes every head, thresholds and applies NMS, and maps boxes back to the
original image's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.assets import AssetManager
from core.detection.yolo import Detection, Head, postprocess, raw_outputs
from core.geometry import Letterbox, letterbox
from core.progress import Progress, ensure

DETECTORS = {
    "shapes-yolo": "Tiny YOLO trained here on synthetic shapes (offline)",
    "yolov3-tiny": "YOLOv3-tiny, darknet COCO weights (online, 34 MiB)",
    "yolov3": "YOLOv3, darknet COCO weights (online, 237 MiB)",
}
DARKNET_WEIGHTS = {"yolov3": "yolov3-weights", "yolov3-tiny": "yolov3-tiny-weights"}


@dataclass(eq=False)
class Detector:
    name: str
    model: object  # keras.Model: (size, size, 3) in [0, 1] -> raw head outputs
    heads: list[Head]
    size: int
    class_names: list[str]
    note: str = ""
    darknet: object | None = None  # DarknetModel for the darknet detectors (layer table)
    card: dict | None = None  # the training card for shapes-yolo

    def raw(self, images: np.ndarray) -> list[np.ndarray]:
        return raw_outputs(self.model, images)


def load_detector(name: str, manager: AssetManager | None = None, progress: Progress | None = None,
                  size: int = 416) -> Detector:
    progress = ensure(progress)
    if name == "shapes-yolo":
        from core.detection.train import load_shapes_yolo

        y = load_shapes_yolo(progress)
        return Detector(name, y.model, [y.head], y.size, y.class_names, card=y.card,
                        note=f"Trained here on synthetic scenes: mAP@0.5 {y.card['map50']:.3f} on held-out scenes.")
    if name not in DARKNET_WEIGHTS:
        raise ValueError(f"Unknown detector '{name}'. Known: {', '.join(DETECTORS)}.")
    from core.detection.darknet import class_names, load_darknet

    manager = manager or AssetManager()
    weights = manager.ensure(DARKNET_WEIGHTS[name], progress=progress)  # AssetUnavailable offline, naming the file
    progress(0.9, f"building {name} from its cfg ...")
    net = load_darknet(name, weights, size=size)
    return Detector(name, net.model, net.heads, net.size, class_names(net.n_classes), darknet=net,
                    note=f"{name}: darknet weights, {net.params:,} parameters, input {size}x{size}.")


@dataclass(frozen=True)
class Forward:
    """One network pass: what the thresholds and NMS then work on (cache this, not the detections)."""

    raw: list[np.ndarray]  # each head's raw output (1, S, S, B(5+C))
    boxed: np.ndarray  # the letterboxed network input (size, size, 3) uint8
    letterbox: Letterbox


@dataclass(frozen=True)
class DetectionResult:
    detections: list[Detection]
    raw: list[np.ndarray]
    boxed: np.ndarray
    letterbox: Letterbox


def forward(detector: Detector, image: np.ndarray) -> Forward:
    boxed, box = letterbox(np.asarray(image)[..., :3], detector.size)
    return Forward(detector.raw(boxed[None]), boxed, box)


def detect(detector: Detector, image: np.ndarray, conf: float = 0.5, iou: float = 0.45,
           agnostic: bool = False, passed: Forward | None = None) -> DetectionResult:
    """Detections for an image; give ``passed`` (from :func:`forward`) to re-threshold without
    running the network again (a slider move on YOLOv3 would otherwise cost a whole forward pass)."""
    if not 0.0 <= conf <= 1.0 or not 0.0 <= iou <= 1.0:
        raise ValueError("Confidence and IoU thresholds must be between 0 and 1.")
    f = passed or forward(detector, image)
    dets = postprocess(f.raw, detector.heads, f.letterbox, detector.class_names, conf, iou, agnostic)
    return DetectionResult(dets, f.raw, f.boxed, f.letterbox)
