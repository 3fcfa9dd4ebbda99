"""FCN skip fusion (Long, Shelhamer, Darrell 2015): FCN-32s, FCN-16s and FCN-8s, scaled to the synthetic scenes.

The paper's VGG encoder ends at stride 32. FCN-32s upsamples that coarse score map x32 in one step;
FCN-16s adds a 1x1 "score" layer on pool4 (stride 16), sums it with the coarse scores upsampled x2, and
upsamples the sum x16; FCN-8s does the same once more with pool3 (stride 8) and upsamples x8. The skips
are *summed score maps*, not the concatenated features of a U-Net.

Here the 48-px scenes allow an encoder of three 2x2 poolings (stride 8), so the same three nets are
built one level down: "32s" upsamples the stride-8 scores x8, "16s" fuses pool2's scores (stride 4) and
upsamples x4, "8s" fuses pool1's scores too (stride 2) and upsamples x2. The in-network x2 upsamplings
are transposed convolutions initialised to bilinear (learned, as in the paper), the final one fixed
bilinear. One network carries all three outputs and is trained on their summed losses (the paper trains
them one after the other, each initialised from the previous one): one training, three mean IoUs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.device import import_keras
from core.progress import Progress, ensure
from core.scenes import SEGMENT_CLASSES, segmentation_scenes
from core.train import cached_or_trained, model_dir, save_trained

VARIANTS = ("32s", "16s", "8s")  # the paper's names, in the order of the slides
VARIANT_TEXT = {
    "32s": "FCN-32s: coarse scores (stride 8 here, 32 in the paper) upsampled in one step",
    "16s": "FCN-16s: + pool2's scores (stride 4 here, pool4 in the paper), then upsampled",
    "8s": "FCN-8s: + pool1's scores too (stride 2 here, pool3 in the paper), then upsampled",
}
RECIPE = {"version": 2, "seed": 0, "n_train": 3000, "n_test": 300, "size": 48, "epochs": 12, "batch": 32}
MODEL_NAME = "shapes-fcn-skips"
SIZE_MULTIPLE = 8  # three 2x2 poolings


def _bilinear_up2(n: int) -> np.ndarray:
    """Weights of a 4 x 4, stride-2 transposed convolution that is bilinear upsampling, per channel."""
    f = np.array([0.25, 0.75, 0.75, 0.25])
    k = np.outer(f, f)
    w = np.zeros((4, 4, n, n), np.float32)
    for c in range(n):
        w[:, :, c, c] = k
    return w


def build_skip_fcn(n_classes: int = len(SEGMENT_CLASSES)):
    """One encoder (16, 32, 64 filters, three poolings) with the three FCN heads as outputs
    ``fcn32s``, ``fcn16s``, ``fcn8s``: (batch, H, W, n_classes) logits each, H and W divisible by 8."""
    keras = import_keras()
    layers = keras.layers
    inputs = keras.Input((None, None, 3), name="image")

    def block(x, filters, name):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_1")(x)
        return layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_2")(x)

    p1 = layers.MaxPooling2D(2, name="pool1")(block(inputs, 16, "enc1"))  # stride 2
    p2 = layers.MaxPooling2D(2, name="pool2")(block(p1, 32, "enc2"))  # stride 4
    p3 = layers.MaxPooling2D(2, name="pool3")(block(p2, 64, "enc3"))  # stride 8
    fc = layers.Conv2D(128, 3, padding="same", activation="relu", name="fc6")(p3)  # the "fully connected" as conv
    fc = layers.Conv2D(128, 1, activation="relu", name="fc7")(fc)
    score = layers.Conv2D(n_classes, 1, name="score_fr")(fc)  # stride 8

    def up2(x, name):
        return layers.Conv2DTranspose(n_classes, 4, strides=2, padding="same", use_bias=False, name=name,
                                      kernel_initializer=keras.initializers.Constant(_bilinear_up2(n_classes)))(x)

    # the paper zero-initialises the score layers of the skips, so 16s and 8s start as 32s
    score_p2 = layers.Conv2D(n_classes, 1, kernel_initializer="zeros", name="score_pool2")(p2)
    score_p1 = layers.Conv2D(n_classes, 1, kernel_initializer="zeros", name="score_pool1")(p1)
    fuse16 = layers.Add(name="fuse_pool2")([up2(score, "upscore2"), score_p2])  # stride 4
    fuse8 = layers.Add(name="fuse_pool1")([up2(fuse16, "upscore_pool2"), score_p1])  # stride 2
    out32 = layers.UpSampling2D(8, interpolation="bilinear", name="fcn32s")(score)
    out16 = layers.UpSampling2D(4, interpolation="bilinear", name="fcn16s")(fuse16)
    out8 = layers.UpSampling2D(2, interpolation="bilinear", name="fcn8s")(fuse8)
    return keras.Model(inputs, [out32, out16, out8], name="fcn_skips")


def predict_variants(model, images: np.ndarray, batch: int = 64) -> dict[str, np.ndarray]:
    """variant -> (n, h, w) class indices; h and w must be divisible by 8."""
    from core.fcn.segmentation import SegmentationError

    if images.shape[1] % SIZE_MULTIPLE or images.shape[2] % SIZE_MULTIPLE:
        raise SegmentationError(f"Height and width must be divisible by {SIZE_MULTIPLE} (three 2x2 poolings); "
                                f"got {images.shape[1:3]}.")
    out: dict[str, list] = {v: [] for v in VARIANTS}
    for start in range(0, len(images), batch):
        logits = model(images[start:start + batch].astype(np.float32) / 255.0, training=False)
        for v, lg in zip(VARIANTS, logits, strict=True):
            out[v].append(np.argmax(np.asarray(lg), axis=-1).astype(np.uint8))
    return {v: np.concatenate(parts) for v, parts in out.items()}


def evaluate_variants(model, data) -> dict[str, dict]:
    """variant -> {"mean_iou", "per_class_iou", "pixel_accuracy"} on ``data``."""
    from core.fcn.segmentation import confusion, iou_from_confusion

    result = {}
    for v, pred in predict_variants(model, data.images).items():
        cm = confusion(pred, data.masks, len(data.class_names))
        iou = iou_from_confusion(cm)
        result[v] = {"mean_iou": float(np.nanmean(iou)), "pixel_accuracy": float(np.trace(cm) / cm.sum()),
                     "per_class_iou": {n: float(x) for n, x in zip(data.class_names, iou, strict=True)}}
    return result


def train_skips_here(recipe: dict, path: Path, progress: Progress) -> dict:
    """The trainer (``python -m core.train shapes-fcn-skips``): the three heads on their summed losses."""
    import time

    from core.train import _KerasProgress

    keras = import_keras()
    progress(0.0, "generating segmentation scenes ...")
    train = segmentation_scenes(recipe["n_train"], recipe["size"], seed=recipe["seed"])
    test = segmentation_scenes(recipe["n_test"], recipe["size"], seed=recipe["seed"] + 1)
    model = build_skip_fcn()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss=[loss, loss, loss])
    steps = int(np.ceil(len(train.images) / recipe["batch"]))
    cb = _KerasProgress(progress, recipe["epochs"], steps)
    start = time.perf_counter()
    x = train.images.astype(np.float32) / 255.0
    model.fit(x, [train.masks] * 3, batch_size=recipe["batch"], epochs=recipe["epochs"], verbose=0,
              callbacks=[cb.callback], shuffle=True)
    seconds = time.perf_counter() - start
    card = {"recipe": recipe, "train_seconds": seconds, "params": int(model.count_params()),
            "variants": evaluate_variants(model, test)}
    save_trained(model, path, card)
    ious = ", ".join(f"{v} {card['variants'][v]['mean_iou']:.3f}" for v in VARIANTS)
    progress(1.0, f"FCN-32s/16s/8s trained in {seconds:.0f} s: mean IoU {ious}")
    return card


def model_path(folder: Path | None = None) -> Path:
    return (folder or model_dir()) / f"{MODEL_NAME}.keras"


def load_skip_fcn(progress: Progress | None = None, subprocess_ok: bool = True, folder: Path | None = None):
    """(model, card) of the three-headed FCN, trained once (in a child process) and cached on disk."""
    keras = import_keras()
    progress = ensure(progress)
    path = model_path(folder)
    card = cached_or_trained(MODEL_NAME, path, RECIPE, progress, subprocess_ok)
    return keras.models.load_model(path, safe_mode=True), card


def is_trained(folder: Path | None = None) -> bool:
    """Whether the cache holds the three-headed FCN for the current recipe (nothing is trained)."""
    import json

    try:
        card = json.loads(model_path(folder).with_suffix(".json").read_text())
    except (OSError, ValueError):
        return False
    return card.get("recipe") == RECIPE and model_path(folder).exists()
