"""A tiny YOLOv2-style detector trained here on synthetic scenes ("shapes-yolo").

Anchors come from IoU k-means on the training boxes (k = 5, as YOLOv2); the network is darknet-
flavoured (3x3 conv + batch norm + leaky ReLU, 2x2 max pooling, a 1x1 head); the loss is
:func:`core.detection.yolo.yolo_loss_terms`, each term reported during training. Trained in a child
process (oneDNN on), cached as .keras with a JSON card (anchors, mAP@0.5, training time).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.detection.anchors import iou_kmeans
from core.detection.yolo import LOSS_TERMS, Head, encode_targets, raw_outputs, responsible_anchors, yolo_loss_terms
from core.device import import_keras, import_tensorflow
from core.progress import Progress, ensure
from core.scenes import DETECT_CLASSES, detection_scenes
from core.train import cached_or_trained, compute_device, model_dir, save_trained

YOLO_RECIPE = {"version": 1, "seed": 0, "n_train": 3000, "n_test": 300, "size": 96, "stride": 16, "anchors": 5,
               "epochs": 8, "batch": 32, "lr": 0.003}


@dataclass(frozen=True)
class ShapesYolo:
    model: object  # keras.Model: (size, size, 3) in [0, 1] -> (S, S, B * (5 + C))
    head: Head
    size: int
    class_names: list
    card: dict

    @property
    def grid(self) -> int:
        return self.size // self.card["recipe"]["stride"]

    def raw(self, batch: np.ndarray) -> np.ndarray:
        return raw_outputs(self.model, batch)[0]

    def loss_on(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        """One training example through the loss: (targets (1, S, S, B, 5 + C), raw output, each term)."""
        s = self.grid
        y = encode_targets(boxes, labels, self.head, (s, s), self.size)[None]
        raw = self.raw(np.asarray(image)[None])
        return y, raw, {k: float(v) for k, v in yolo_loss_terms(y, raw, self.head).items()}

    def responsible(self, y: np.ndarray, raw: np.ndarray) -> list[dict]:
        """The targets' 1^obj anchors next to the network's predictions there (see loss_on)."""
        return responsible_anchors(y, raw, self.head, self.size, self.class_names)


def build_tiny_yolo(n_anchors: int, n_classes: int = len(DETECT_CLASSES), filters=(16, 32, 64, 128)):
    keras = import_keras()
    layers = keras.layers
    inputs = keras.Input((None, None, 3), name="image")
    x = inputs
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.LeakyReLU(0.1, name=f"leaky{i}")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"pool{i}")(x)
    x = layers.Conv2D(256, 3, padding="same", use_bias=False, name="conv5")(x)
    x = layers.BatchNormalization(name="bn5")(x)
    x = layers.LeakyReLU(0.1, name="leaky5")(x)
    out = layers.Conv2D(n_anchors * (5 + n_classes), 1, name="yolo_head")(x)
    return keras.Model(inputs, out, name="shapes_yolo")


def model_path() -> Path:
    return model_dir() / "shapes-yolo.keras"


def load_shapes_yolo(progress: Progress | None = None, recipe: dict | None = None, path: Path | None = None,
                     subprocess_ok: bool = True) -> ShapesYolo:
    keras = import_keras()
    progress = ensure(progress)
    recipe = dict(YOLO_RECIPE, **(recipe or {}))
    path = path or model_path()
    card = cached_or_trained("shapes-yolo", path, recipe, progress, subprocess_ok)
    model = keras.models.load_model(path, safe_mode=True)
    head = Head(np.array(card["anchors"], np.float32), len(DETECT_CLASSES), "v2")
    return ShapesYolo(model, head, recipe["size"], list(DETECT_CLASSES), card)


def training_set(recipe: dict):
    return detection_scenes(recipe["n_train"], recipe["size"], seed=recipe["seed"])


def held_out_set(recipe: dict | None = None):
    """The scenes mAP is measured on (seeded apart from the training scenes)."""
    recipe = dict(YOLO_RECIPE, **(recipe or {}))
    return detection_scenes(recipe["n_test"], recipe["size"], seed=recipe["seed"] + 1000)


def targets_for(data, head: Head, recipe: dict) -> np.ndarray:
    s = recipe["size"] // recipe["stride"]
    return np.stack([encode_targets(b, lab, head, (s, s), recipe["size"])
                     for b, lab in zip(data.boxes, data.labels, strict=True)])


def detect_batch(yolo: ShapesYolo, images: np.ndarray, conf: float = 0.25, iou: float = 0.45):
    """Detections for a batch of images already at the network size (no letterbox needed)."""
    from core.detection.yolo import postprocess
    from core.geometry import Letterbox

    raw = yolo.raw(images)
    box = Letterbox.identity(yolo.size)
    return [postprocess([raw[i:i + 1]], [yolo.head], box, yolo.class_names, conf, iou) for i in range(len(images))]


def evaluate(yolo: ShapesYolo, data, conf: float = 0.05) -> dict:
    """VOC's mAP@0.5 (``map50``, per class ``ap50``) and, from the same detections and the same AP
    code, COCO's AP@[.5:.95] (``map50_95``, ``ap50_95``) and the YOLOv3 report's global APs and per-image APs
    (``per_image_ap50``: one AP50 per held-out scene, ``mean_per_image_ap50`` their mean)."""
    from core.detection.yolo import coco_average_precision

    dets = detect_batch(yolo, data.images, conf)
    coco = coco_average_precision(dets, data.boxes, data.labels, yolo.class_names)
    return {"map50": coco["by_threshold"][0.5], "ap50": coco["per_class_ap50"], "map50_95": coco["map"],
            "ap50_95": coco["per_class"], "map_by_iou": coco["by_threshold"], "global_ap50": coco["global_ap50"],
            "global_ap50_95": coco["global_ap50_95"], "per_image_ap50": coco["per_image"],
            "mean_per_image_ap50": coco["per_image_mean"]}


def shrink_scenes(images: np.ndarray, boxes: list, scale: float, fill: int = 127) -> tuple[np.ndarray, list]:
    """Every scene shrunk to ``scale`` of its side (area averaging) and centred on gray (the
    letterbox's fill), its boxes mapped the same way: smaller objects at the same network size."""
    from core.images import resize

    n, size = images.shape[:2]
    side = max(1, round(size * scale))
    offset = (size - side) // 2
    out = np.full_like(images, fill)
    for i in range(n):
        out[i, offset:offset + side, offset:offset + side] = resize(images[i], side, side, "area")
    return out, [np.asarray(b, np.float64) * (side / size) + offset for b in boxes]


def recall(yolo: ShapesYolo, images: np.ndarray, boxes: list, conf: float = 0.25, iou: float = 0.5) -> float:
    """The share of ground-truth boxes that some detection (score >= conf, any class) overlaps with
    IoU >= ``iou``: how many objects the detector finds at all."""
    from core.geometry import box_iou

    found = total = 0
    for dets, truth in zip(detect_batch(yolo, images, conf), boxes, strict=True):
        total += len(truth)
        if dets and len(truth):
            found += int((box_iou(truth, np.array([d.box for d in dets])).max(axis=1) >= iou).sum())
    return found / total if total else float("nan")


def recall_at_scales(yolo: ShapesYolo, data, scales=(1.0, 0.75), conf: float = 0.25) -> dict[float, float]:
    """scale -> recall on the held-out scenes shrunk to that scale (1.0: as trained)."""
    return {s: recall(yolo, *shrink_scenes(data.images, data.boxes, s), conf=conf) for s in scales}


def train_yolo_here(recipe: dict, path: Path, progress: Progress) -> dict:
    """The trainer (``python -m core.train shapes-yolo``): k-means anchors on the training boxes, the
    lecture's loss with Adam and cosine decay, mAP@0.5 on the held-out scenes, save."""
    keras = import_keras()
    tf = import_tensorflow()
    progress(0.0, f"drawing {recipe['n_train']} synthetic scenes ...")
    data = training_set(recipe)
    kmeans = iou_kmeans(data.all_wh(), recipe["anchors"], seed=recipe["seed"])
    head = Head(kmeans.anchors.astype(np.float32), len(DETECT_CLASSES), "v2")
    y = targets_for(data, head, recipe)
    x = data.images.astype(np.float32) / 255.0
    model = build_tiny_yolo(recipe["anchors"])
    steps_per_epoch = int(np.ceil(len(x) / recipe["batch"]))
    total_steps = recipe["epochs"] * steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(recipe["lr"], total_steps, alpha=0.05)
    optimizer = keras.optimizers.Adam(schedule)

    @tf.function(reduce_retracing=True)
    def step(xb, yb):
        with tf.GradientTape() as tape:
            terms = yolo_loss_terms(yb, model(xb, training=True), head)
            loss = tf.add_n(list(terms.values()))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return terms

    rng = np.random.default_rng(recipe["seed"])
    start = time.perf_counter()
    done = 0
    history = []
    for epoch in range(recipe["epochs"]):
        order = rng.permutation(len(x))
        sums = dict.fromkeys(LOSS_TERMS, 0.0)
        for b in range(steps_per_epoch):
            idx = order[b * recipe["batch"]:(b + 1) * recipe["batch"]]
            xb, yb = x[idx], y[idx]
            if rng.random() < 0.5:  # horizontal flip: mirror images and the x offsets and cells
                xb, yb = xb[:, :, ::-1], yb[:, :, ::-1].copy()
                yb[..., 0] = np.where(yb[..., 4] > 0, 1.0 - yb[..., 0], 0.0)
            terms = {k: float(v) for k, v in step(tf.constant(xb), tf.constant(yb)).items()}
            for k in LOSS_TERMS:
                sums[k] += terms[k]
            done += 1
            if done % 10 == 0:
                text = ", ".join(f"{k} {terms[k]:.2f}" for k in LOSS_TERMS)
                progress(min(0.95, done / total_steps), f"epoch {epoch + 1}/{recipe['epochs']}: {text}")
        history.append({k: v / steps_per_epoch for k, v in sums.items()})
    seconds = time.perf_counter() - start
    progress(0.96, "measuring mAP@0.5 on held-out scenes ...")
    yolo = ShapesYolo(model, head, recipe["size"], list(DETECT_CLASSES), {"recipe": recipe})
    scores = evaluate(yolo, held_out_set(recipe))
    card = {"recipe": recipe, "anchors": kmeans.anchors.tolist(), "anchor_mean_iou": kmeans.mean_iou,
            "train_seconds": seconds, "history": history, "classes": list(DETECT_CLASSES),
            "device": compute_device(), **scores}
    save_trained(model, path, card)
    progress(1.0, f"shapes-yolo trained in {seconds:.0f} s: mAP@0.5 {card['map50']:.3f}")
    return card
