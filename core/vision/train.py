"""The shapes CNN: a small classifier trained here on seeded synthetic shapes (``shapes-cnn``).

Trained once through :func:`core.train.cached_or_trained` (a child process, cached as .keras with a
JSON card holding the recipe, held-out accuracy and training time), reloaded with safe_mode after.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.device import import_keras
from core.progress import Progress, ensure
from core.scenes import SHAPES, shape_classification
from core.train import (
    cached_or_trained,
    compute_device,
    fit_classifier,
    model_dir,
    save_trained,
)

SHAPES_RECIPE = {"version": 3, "seed": 0, "n_train": 6000, "n_test": 1000, "size": 48, "epochs": 7, "batch": 64}


def build_shapes_cnn(n_classes: int = len(SHAPES)):
    """Conv blocks, global average pooling, linear logits (softmax is applied outside)."""
    keras = import_keras()
    layers = keras.layers
    # Any input size: the network is fully convolutional up to the global pooling (Deep Dream needs it).
    inputs = keras.Input((None, None, 3), name="image")
    x = inputs
    for block, filters in enumerate((16, 32, 64), start=1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{block}_1")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{block}_2")(x)
        x = layers.MaxPooling2D(2, name=f"pool{block}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    logits = layers.Dense(n_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="shapes_cnn")


def train_shapes_cnn(progress: Progress | None = None, recipe: dict | None = None, path: Path | None = None,
                     subprocess_ok: bool = True):
    """Train (or load) the shape classifier. Returns (model, card dict)."""
    keras = import_keras()
    progress = ensure(progress)
    recipe = dict(SHAPES_RECIPE, **(recipe or {}))
    path = path or model_dir() / "shapes-cnn.keras"
    card = cached_or_trained("shapes-cnn", path, recipe, progress, subprocess_ok)
    progress(1.0, f"shapes-cnn ready: held-out accuracy {card['accuracy']:.1%}")
    return keras.models.load_model(path, safe_mode=True), card


def train_shapes_here(recipe: dict, path: Path, progress: Progress) -> dict:
    """The trainer (``python -m core.train shapes-cnn``): train, measure on held-out shapes, save."""
    progress(0.0, "generating the synthetic shapes ...")
    train = shape_classification(recipe["n_train"], recipe["size"], seed=recipe["seed"])
    test = shape_classification(recipe["n_test"], recipe["size"], seed=recipe["seed"] + 1)
    model = build_shapes_cnn()
    seconds = fit_classifier(model, train.images, train.labels, recipe, progress)
    _, accuracy = model.evaluate(test.images.astype(np.float32) / 255.0, test.labels, verbose=0)
    card = {"recipe": recipe, "accuracy": float(accuracy), "train_seconds": seconds, "classes": list(SHAPES),
            "device": compute_device()}
    save_trained(model, path, card)
    progress(1.0, f"shapes-cnn trained in {seconds:.0f} s: held-out accuracy {accuracy:.1%}")
    return card
