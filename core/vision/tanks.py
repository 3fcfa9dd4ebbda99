""""Tanks in trees": a classifier that learns the background instead of the object.

The lecture's reliability story (a network that "recognised tanks" by the weather or the forest)
made real and small: tanks and trucks drawn on forest or sky, where a ``correlation`` share of tanks
stand in the forest and of trucks under the sky. A small CNN trained on the biased set scores well
on a test set drawn the same way and fails when the backgrounds are swapped; Grad-CAM shows where it
looked. Trained in a child process (oneDNN on), cached per correlation like the other models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.device import import_keras
from core.progress import Progress, ensure
from core.scenes import TANK_BACKGROUNDS, TANK_CLASSES, tanks_in_trees
from core.train import accuracy, cached_or_trained, compute_device, fit_classifier, model_dir, save_trained

TANKS_RECIPE = {"version": 2, "seed": 0, "n_train": 2400, "n_test": 600, "size": 64, "epochs": 10, "batch": 64}


@dataclass(frozen=True)
class TankResult:
    model: object  # keras.Model: (64, 64, 3) in [0, 1] -> 2 logits
    card: dict  # recipe, correlation, biased_accuracy, swapped_accuracy, balanced_accuracy, train_seconds


def build_tanks_cnn():
    keras = import_keras()
    layers = keras.layers
    inputs = keras.Input((TANKS_RECIPE["size"], TANKS_RECIPE["size"], 3), name="image")
    x = inputs
    for block, filters in enumerate((16, 32, 64), start=1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{block}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{block}")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv4")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(len(TANK_CLASSES), name="logits")(x), name="tanks_cnn")


def _check_correlation(correlation: float) -> float:
    c = round(float(correlation), 2)
    if not 0.5 <= c <= 1.0:
        raise ValueError("The spurious correlation must be between 0.5 (none) and 1.0 (every tank in the forest).")
    return c


def model_path(correlation: float) -> Path:
    return model_dir() / f"tanks-cnn-{round(_check_correlation(correlation) * 100):03d}.keras"


def held_out_sets(recipe: dict | None = None, correlation: float = 1.0):
    """The three held-out sets: drawn like the training set (biased), backgrounds swapped, and balanced."""
    recipe = dict(TANKS_RECIPE, **(recipe or {}))
    n, size, seed = recipe["n_test"], recipe["size"], recipe["seed"] + 1000
    return {"biased": tanks_in_trees(n, size, correlation, seed),
            "swapped": tanks_in_trees(n, size, 1.0 - correlation if correlation < 1 else 0.0, seed + 1),
            "balanced": tanks_in_trees(n, size, 0.5, seed + 2)}


def train_tanks_cnn(correlation: float = 1.0, progress: Progress | None = None, recipe: dict | None = None,
                    path: Path | None = None, subprocess_ok: bool = True) -> TankResult:
    """Train (or load from the cache) the tank/truck classifier for one spurious correlation."""
    keras = import_keras()
    progress = ensure(progress)
    correlation = _check_correlation(correlation)
    recipe = dict(TANKS_RECIPE, **(recipe or {}), correlation=correlation)
    path = path or model_path(correlation)
    card = cached_or_trained("tanks-cnn", path, recipe, progress, subprocess_ok)
    return TankResult(keras.models.load_model(path, safe_mode=True), card)


def train_tanks_here(recipe: dict, path: Path, progress: Progress) -> dict:
    """The trainer (``python -m core.train tanks-cnn``): train at the recipe's correlation, score the
    three held-out sets, save."""
    correlation = recipe["correlation"]
    progress(0.0, f"drawing {recipe['n_train']} tanks and trucks ({correlation:.0%} on their usual background) ...")
    train = tanks_in_trees(recipe["n_train"], recipe["size"], correlation, recipe["seed"])
    model = build_tanks_cnn()
    seconds = fit_classifier(model, train.images, train.labels, recipe, progress)
    card = {"recipe": recipe, "correlation": correlation, "train_seconds": seconds, "classes": list(TANK_CLASSES),
            "backgrounds": list(TANK_BACKGROUNDS), "device": compute_device()}
    for name, data in held_out_sets(recipe, correlation).items():
        card[f"{name}_accuracy"] = accuracy(model, data.images, data.labels)
    save_trained(model, path, card)
    progress(1.0, f"trained in {seconds:.0f} s: biased test {card['biased_accuracy']:.1%}, "
                  f"swapped backgrounds {card['swapped_accuracy']:.1%}")
    return card


def loaded(result: TankResult):
    """The trained model as a LoadedModel, so every attribution method works on it."""
    from core.vision.zoo import LoadedModel

    size = result.card["recipe"]["size"]
    return LoadedModel(f"tanks-cnn-{round(result.card['correlation'] * 100)}", "Tanks-in-trees CNN", result.model,
                       result.model, list(TANK_CLASSES), "unit", (size, size), 3,
                       note=f"{result.card['correlation']:.0%} of tanks in the forest, trucks under the sky.")


def object_share(heat: np.ndarray, mask: np.ndarray) -> float:
    """The share of a heatmap's mass on the object's pixels."""
    total = float(np.asarray(heat, np.float64).sum())
    return float(np.asarray(heat, np.float64)[np.asarray(mask, bool)].sum() / total) if total > 0 else float("nan")


def predicted_grad_cams(loaded_model, images: np.ndarray, layer: str | None = None) -> tuple[np.ndarray, list]:
    """Grad-CAM for the class the network *predicts*, per uint8 image (n, H, W, 3): (predicted classes
    (n,), heatmaps (h, w) in [0, 1])."""
    from core.vision.attribution import grad_cam

    x = np.asarray(images).astype(np.float32) / 255.0
    predicted = loaded_model.predict_logits(x).argmax(axis=1)
    return predicted, [grad_cam(loaded_model, x[i:i + 1], int(predicted[i]), layer).values for i in range(len(x))]


def heat_on_vehicle(loaded_model, data, n: int = 100, layer: str | None = None) -> dict:
    """Where Grad-CAM (for the *predicted* class) puts its mass over ``n`` images of a TankDataset:
    the mean share on the vehicle's pixels, the vehicle's mean share of the image, and their ratio
    (1 = no more attention on the vehicle than on any background pixel)."""
    n = min(n, len(data.images))
    _, heats = predicted_grad_cams(loaded_model, data.images[:n], layer)
    share = float(np.nanmean([object_share(heat, mask) for heat, mask in zip(heats, data.masks[:n], strict=True)]))
    area = float(data.masks[:n].mean())
    return {"vehicle_share_of_heat": share, "vehicle_share_of_image": area, "ratio": share / area if area else float("nan"),
            "images": n}
