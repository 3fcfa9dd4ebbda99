"""Semantic segmentation trained live: five decoders (the lecture's upsampling choices, DeepLab, PSPNet).

* ``transpose``: Conv2DTranspose (k=3, s=2) — learned upsampling, prone to checkerboards
* ``bilinear``: UpSampling2D(bilinear) then a 3x3 convolution
* ``unpool``: max unpooling into the encoder's pooling switches, then a 3x3 convolution
* ``aspp``: DeepLab style -- a dilated encoder (the bottleneck's convolutions at rates
  :data:`BOTTLENECK_RATES`, where a third pooling would have been) and atrous spatial pyramid
  pooling (parallel 1x1, 3x3 at rates :data:`ASPP_RATES` and image-level pooling), then the
  ``bilinear`` decoder
* ``pyramid``: PSPNet style -- the same dilated encoder and a pyramid pooling module (average pooling
  into :data:`PYRAMID_BINS` bins per side, 1x1 conv, bilinear back, concatenated), then the
  ``bilinear`` decoder

All have U-Net style skips that concatenate encoder features at each scale; ``aspp`` and ``pyramid``
differ from ``bilinear`` only in the encoder's bottleneck and the context head, so the comparison
isolates what context adds. Each model is trained once (in a child process, like the shapes CNN),
cached as .keras with a card holding its held-out IoUs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.device import import_keras, import_tensorflow
from core.errors import UserError
from core.progress import Progress, ensure
from core.scenes import SEGMENT_CLASSES, segmentation_scenes
from core.train import cached_or_trained, fit_classifier, model_dir, save_trained

DECODERS = ("transpose", "bilinear", "unpool", "aspp", "pyramid")
CONTEXT_DECODERS = ("aspp", "pyramid")  # dilated encoder + a context head; the decoder and its U-Net skips are bilinear's
BOTTLENECK_RATES = (1, 2)  # the dilated encoder's last block (DeepLab v3's multi-grid)
ASPP_RATES = (2, 4, 6)  # on the 1/4 feature map: 3x3 kernels reading every 8, 16, 24 input pixels
PYRAMID_BINS = (1, 2, 3, 6)  # PSPNet's bins per side
DEFAULT_DECODER = "transpose"
RECIPE = {"version": 3, "seed": 0, "n_train": 3000, "n_test": 300, "size": 48, "epochs": 8, "batch": 32}
MODEL_NAMES = {d: f"shapes-fcn-{d}" for d in DECODERS}
SIZE_MULTIPLE = 4  # two 2x2 poolings: height and width must be divisible by 4


class SegmentationError(UserError):
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


def _context_layers():
    """Custom layers of the context heads: PSPNet's adaptive average pooling into b x b bins, and a
    bilinear resize to another tensor's height and width (any input size; serialisable)."""
    keras = import_keras()
    tf = import_tensorflow()

    @keras.saving.register_keras_serializable(package="cnnvis")
    class AdaptiveAvgPool(keras.layers.Layer):
        """(n, H, W, C) -> (n, bins, bins, C): bin i averages rows floor(i H / b) .. ceil((i + 1) H / b) - 1
        (PyTorch's AdaptiveAvgPool2d), as two pooling matrices so any H, W works and gradients flow."""

        def __init__(self, bins: int, **kwargs):
            super().__init__(**kwargs)
            self.bins = int(bins)

        def _matrix(self, length):
            i = tf.range(self.bins)
            start, end = (i * length) // self.bins, -((-(i + 1) * length) // self.bins)
            pos = tf.range(length)[None, :]
            inside = tf.cast((pos >= start[:, None]) & (pos < end[:, None]), self.compute_dtype)
            return inside / tf.reduce_sum(inside, axis=1, keepdims=True)

        def call(self, x):
            shape = tf.shape(x)
            return tf.einsum("ih,nhwc,jw->nijc", self._matrix(shape[1]), x, self._matrix(shape[2]))

        def compute_output_shape(self, shape):
            return shape[0], self.bins, self.bins, shape[3]

        def get_config(self):
            return {**super().get_config(), "bins": self.bins}

    @keras.saving.register_keras_serializable(package="cnnvis")
    class ResizeLike(keras.layers.Layer):
        """Bilinear resize of ``x`` to the height and width of ``like`` (a 1 x 1 map is broadcast)."""

        def call(self, inputs):
            x, like = inputs
            return tf.image.resize(x, tf.shape(like)[1:3], method="bilinear")

        def compute_output_shape(self, shapes):
            x, like = shapes
            return x[0], like[1], like[2], x[3]

    return AdaptiveAvgPool, ResizeLike


def _context_head(decoder: str, features, layers):
    """ASPP (DeepLab v3) or the pyramid pooling module (PSPNet) on the dilated encoder's features;
    like both papers, every convolution of the head is followed by batch normalisation. The head's
    output is added to the features (a residual: with 8 epochs of training, the head can only add
    context; without it both heads trained to a mean IoU of 0.61-0.70)."""
    adaptive_pool, resize_like = _context_layers()

    def conv(x, filters, kernel, name, rate=1):
        x = layers.Conv2D(filters, kernel, padding="same", dilation_rate=rate, use_bias=False, name=name)(x)
        return layers.ReLU(name=f"{name}_relu")(layers.BatchNormalization(name=f"{name}_bn")(x))

    if decoder == "aspp":
        branches = [conv(features, 32, 1, "aspp_1x1")]
        branches += [conv(features, 32, 3, f"aspp_rate{r}", rate=r) for r in ASPP_RATES]
        image = layers.GlobalAveragePooling2D(keepdims=True, name="aspp_image_pool")(features)
        image = layers.Conv2D(32, 1, activation="relu", name="aspp_image_conv")(image)  # 1 x 1: no batch statistics
        branches.append(resize_like(name="aspp_image_up")([image, features]))
        head = conv(layers.Concatenate(name="aspp_concat")(branches), features.shape[-1], 1, "aspp_project")
        return layers.Add(name="aspp_residual")([features, head])
    branches = [features]
    for bins in PYRAMID_BINS:
        pooled = adaptive_pool(bins, name=f"psp_pool{bins}")(features)
        pooled = layers.Conv2D(16, 1, activation="relu", name=f"psp_conv{bins}")(pooled)
        branches.append(resize_like(name=f"psp_up{bins}")([pooled, features]))
    head = conv(layers.Concatenate(name="psp_concat")(branches), features.shape[-1], 3, "psp_fuse")
    return layers.Add(name="psp_residual")([features, head])


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
    if decoder in CONTEXT_DECODERS:
        # DeepLab's dilated encoder: instead of a third pooling (a 1/8 map), stay at 1/4 and dilate.
        # Multi-grid rates (1, 2), not (2, 2): two rate-2 layers (and the even ASPP rates after them)
        # would never mix neighbouring features -- the gridding the atrous picture shows.
        x = p2
        for i, rate in enumerate(BOTTLENECK_RATES, start=1):
            x = layers.Conv2D(64, 3, padding="same", dilation_rate=rate, activation="relu", name=f"bottleneck_{i}")(x)
        x = _context_head(decoder, x, layers)
    else:
        x = block(p2, 64, "bottleneck")
    for level, (skip, argmax, filters) in enumerate(((e2, a2, 32), (e1, a1, 16)), start=1):
        if decoder == "transpose":
            x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu", name=f"up{level}")(x)
        elif decoder == "bilinear" or decoder in CONTEXT_DECODERS:  # the same decoder: the head is what differs
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
    _layers(), _context_layers()  # register the custom layers before loading
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


RF_PROBE = {"size": 128, "n": 8, "seed": 77}  # scenes larger than any field except the global branches


def receptive_field(model):
    """Where the centre output pixel of ``model`` looks, measured by back-propagating its logit over
    :data:`RF_PROBE` scenes (:func:`core.fcn.atrous.model_receptive_field`)."""
    from core.fcn.atrous import model_receptive_field

    scenes = segmentation_scenes(RF_PROBE["n"], RF_PROBE["size"], seed=RF_PROBE["seed"])
    return model_receptive_field(model, scenes.images)


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
