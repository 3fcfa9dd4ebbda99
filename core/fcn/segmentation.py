"""Semantic segmentation trained live: one encoder, three decoders (the lecture's upsampling choices).

* ``transpose``: Conv2DTranspose (k=3, s=2) — learned upsampling, prone to checkerboards
* ``bilinear``: UpSampling2D(bilinear) then a 3x3 convolution
* ``unpool``: max unpooling into the encoder's pooling switches, then a 3x3 convolution

U-Net style skips concatenate encoder features at each scale. Each model is trained once (in a
child process, like the shapes CNN), cached as .keras with a card holding its held-out IoUs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.device import import_keras, import_tensorflow
from core.progress import Progress, ensure
from core.train import cached_or_trained, fit_classifier, model_dir, save_trained
from core.vision.synthetic import SEGMENT_CLASSES, segmentation_scenes

DECODERS = ("transpose", "bilinear", "unpool")
DEFAULT_DECODER = "transpose"
RECIPE = {"version": 3, "seed": 0, "n_train": 3000, "n_test": 300, "size": 48, "epochs": 8, "batch": 32}
MODEL_NAMES = {d: f"shapes-fcn-{d}" for d in DECODERS}
SIZE_MULTIPLE = 4  # two 2x2 poolings: height and width must be divisible by 4


class SegmentationError(ValueError):
    pass


def _layers():
    """Custom layers for max pooling with switches and max unpooling (serialisable, safe to reload)."""
    keras = import_keras()
    tf = import_tensorflow()

    @keras.saving.register_keras_serializable(package="cnnvis")
    class MaxPoolWithArgmax(keras.layers.Layer):
        def call(self, x):
            pooled, argmax = tf.nn.max_pool_with_argmax(x, 2, 2, "VALID", include_batch_in_index=True)
            return pooled, tf.cast(argmax, tf.int32)

        def compute_output_shape(self, shape):
            out = (shape[0], None if shape[1] is None else shape[1] // 2, None if shape[2] is None else shape[2] // 2,
                   shape[3])
            return out, out

    @keras.saving.register_keras_serializable(package="cnnvis")
    class MaxUnpool(keras.layers.Layer):
        """Scatter each value to the position its switch recorded; zeros elsewhere (size doubles)."""

        def call(self, inputs):
            values, argmax, like = inputs
            flat = tf.scatter_nd(tf.reshape(tf.cast(argmax, tf.int64), [-1, 1]), tf.reshape(values, [-1]),
                                 [tf.cast(tf.size(like), tf.int64)])
            return tf.reshape(flat, tf.shape(like))

        def compute_output_shape(self, shapes):
            return shapes[2]

    return MaxPoolWithArgmax, MaxUnpool


def build_fcn(decoder: str, n_classes: int = len(SEGMENT_CLASSES)):
    """Encoder (2 pooling stages with switches) + the chosen decoder; any input size divisible by 4."""
    _check_decoder(decoder)
    keras = import_keras()
    layers = keras.layers
    pool_layer, unpool_layer = _layers()
    inputs = keras.Input((None, None, 3), name="image")

    def block(x, filters, name):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_1")(x)
        return layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_2")(x)

    e1 = block(inputs, 16, "enc1")
    p1, a1 = pool_layer(name="pool1")(e1)
    e2 = block(p1, 32, "enc2")
    p2, a2 = pool_layer(name="pool2")(e2)
    bottleneck = block(p2, 64, "bottleneck")
    x = bottleneck
    for level, (skip, argmax, filters) in enumerate(((e2, a2, 32), (e1, a1, 16)), start=1):
        if decoder == "transpose":
            x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu", name=f"up{level}")(x)
        elif decoder == "bilinear":
            x = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{level}_resize")(x)
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"up{level}")(x)
        else:
            x = layers.Conv2D(skip.shape[-1], 1, name=f"up{level}_match")(x)  # channels of the pooled map
            x = unpool_layer(name=f"up{level}_unpool")([x, argmax, skip])
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skip])
        x = block(x, filters, f"dec{level}")
    logits = layers.Conv2D(n_classes, 1, name="logits")(x)
    return keras.Model(inputs, logits, name=f"fcn_{decoder}")


def confusion(pred: np.ndarray, truth: np.ndarray, n_classes: int) -> np.ndarray:
    """(true, predicted) pixel counts."""
    idx = truth.reshape(-1).astype(np.int64) * n_classes + pred.reshape(-1).astype(np.int64)
    return np.bincount(idx, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def iou_from_confusion(cm: np.ndarray) -> np.ndarray:
    tp = np.diag(cm).astype(float)
    denom = cm.sum(axis=0) + cm.sum(axis=1) - tp
    return np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)


def predict_masks(model, images: np.ndarray, batch: int = 64) -> np.ndarray:
    """(n, h, w) class indices; h and w must be divisible by 4."""
    if images.shape[1] % SIZE_MULTIPLE or images.shape[2] % SIZE_MULTIPLE:
        raise SegmentationError(f"Height and width must be divisible by {SIZE_MULTIPLE} (two 2x2 poolings); "
                                f"got {images.shape[1:3]}.")
    out = []
    for start in range(0, len(images), batch):
        logits = model(images[start:start + batch].astype(np.float32) / 255.0, training=False)
        out.append(np.argmax(np.asarray(logits), axis=-1).astype(np.uint8))
    return np.concatenate(out)


def evaluate(model, data) -> dict:
    pred = predict_masks(model, data.images)
    cm = confusion(pred, data.masks, len(data.class_names))
    iou = iou_from_confusion(cm)
    return {"per_class_iou": {n: float(v) for n, v in zip(data.class_names, iou, strict=True)},
            "mean_iou": float(np.nanmean(iou)), "pixel_accuracy": float(np.trace(cm) / cm.sum()),
            "confusion": cm.tolist()}


def train_fcn_here(recipe: dict, path: Path, progress: Progress, decoder: str = DEFAULT_DECODER) -> dict:
    """The trainer (``python -m core.train shapes-fcn --options '{"decoder": ...}'``): train with a live
    mean IoU on a small watch set, measure on the held-out scenes, save."""
    keras = import_keras()
    progress(0.0, "generating segmentation scenes ...")
    train = segmentation_scenes(recipe["n_train"], recipe["size"], seed=recipe["seed"])
    test = segmentation_scenes(recipe["n_test"], recipe["size"], seed=recipe["seed"] + 1)
    model = build_fcn(decoder)
    watch = segmentation_scenes(64, recipe["size"], seed=recipe["seed"] + 2)  # a small set for the live IoU
    state = {"iou": float("nan")}

    def report(fraction: float, message: str) -> None:
        progress(fraction, f"{message}, mean IoU {state['iou']:.3f}" if np.isfinite(state["iou"]) else message)

    class LiveIoU(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            cm = confusion(predict_masks(self.model, watch.images), watch.masks, len(watch.class_names))
            state["iou"] = float(np.nanmean(iou_from_confusion(cm)))
            report((epoch + 1) / recipe["epochs"] * 0.999, f"epoch {epoch + 1}/{recipe['epochs']} done")

    seconds = fit_classifier(model, train.images, train.masks, recipe, report, callbacks=(LiveIoU(),))
    card = {"recipe": recipe, "decoder": decoder, "train_seconds": seconds, "params": int(model.count_params()),
            **evaluate(model, test)}
    save_trained(model, path, card)
    progress(1.0, f"{decoder} decoder trained in {seconds:.0f} s: mean IoU {card['mean_iou']:.3f}")
    return card


def model_path(decoder: str, folder: Path | None = None) -> Path:
    return (folder or model_dir()) / f"{MODEL_NAMES[_check_decoder(decoder)]}.keras"


def _check_decoder(decoder: str) -> str:
    if decoder not in DECODERS:
        raise SegmentationError(f"Unknown decoder '{decoder}'; choose one of {', '.join(DECODERS)}.")
    return decoder


def load_fcn(decoder: str = DEFAULT_DECODER, progress: Progress | None = None, subprocess_ok: bool = True,
             folder: Path | None = None):
    """The trained FCN for ``decoder`` (training it first if ``folder``, default the model cache, has
    none for this recipe): (model, card)."""
    keras = import_keras()
    _layers()  # register the custom layers before loading
    progress = ensure(progress)
    path = model_path(decoder, folder)
    card = cached_or_trained("shapes-fcn", path, RECIPE, progress, subprocess_ok, options={"decoder": decoder})
    progress(1.0, f"{MODEL_NAMES[decoder]} ready: mean IoU {card['mean_iou']:.3f}")
    return keras.models.load_model(path, safe_mode=True), card


def trained_cards(folder: Path | None = None) -> dict[str, dict]:
    """decoder -> card, for the decoders already trained with the current recipe (nothing is trained)."""
    cards = {}
    for decoder in DECODERS:
        try:
            card = json.loads(model_path(decoder, folder).with_suffix(".json").read_text())
        except (OSError, ValueError):
            continue
        if card.get("recipe") == RECIPE:
            cards[decoder] = card
    return cards


def input_size(height: int, width: int, max_side: int | None = None, grow: bool = False,
               multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """An input size the FCN takes for an (height, width) image: each side rounded down to a multiple
    of ``multiple`` (two 2x2 poolings: 4), after scaling so the long side is at most ``max_side``
    (exactly ``max_side`` with ``grow``)."""
    scale = 1.0
    if max_side and (grow or max(height, width) > max_side):
        scale = max_side / max(height, width)
    return (max(multiple, int(height * scale) // multiple * multiple),
            max(multiple, int(width * scale) // multiple * multiple))
