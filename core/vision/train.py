"""Models the dashboard trains itself on synthetic data: seeded, trained once, cached as .keras.

Each trained model is saved next to a JSON card (recipe version, seed, held-out accuracy, training
time), and reloaded (safe_mode) while the card's recipe matches, so the first user pays the
training time once and everybody else loads in a fraction of a second.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import numpy as np

from core.assets import default_cache_dir
from core.device import import_keras, import_tensorflow
from core.progress import Progress, ensure
from core.vision.synthetic import SHAPES, shape_classification

SHAPES_RECIPE = {"version": 3, "seed": 0, "n_train": 6000, "n_test": 1000, "size": 48, "epochs": 7, "batch": 64}


def model_dir() -> Path:
    return default_cache_dir() / "models"


class _KerasProgress:
    """Adapter from Keras callbacks to the progress protocol (with loss and accuracy in the message)."""

    def __init__(self, progress: Progress, epochs: int, steps: int):
        keras = import_keras()
        outer = self

        class Callback(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                outer.done += 1
                if outer.done % 5 == 0:
                    logs = logs or {}
                    progress(min(0.999, outer.done / outer.total),
                             f"epoch {outer.epoch + 1}/{epochs}: loss {logs.get('loss', float('nan')):.3f}, "
                             f"accuracy {logs.get('accuracy', float('nan')):.3f}")

            def on_epoch_begin(self, epoch, logs=None):
                outer.epoch = epoch

        self.done, self.epoch, self.total = 0, 0, epochs * steps
        self.callback = Callback()


def compute_device() -> str:
    """For the training cards: where TensorFlow trained."""
    return "GPU" if import_tensorflow().config.list_physical_devices("GPU") else "CPU"


def cached_or_trained(path: Path, recipe: dict, child_args: list[str], train_here, progress: Progress,
                      subprocess_ok: bool = True) -> dict:
    """The card of the model saved at ``path``, training it first when it is missing or was trained
    from another recipe: in a child process (``python -m child_args...``, oneDNN on), else by
    ``train_here()`` in this process. Every self-trained model goes through here."""
    card_path = path.with_suffix(".json")

    def fresh() -> bool:
        try:
            return path.exists() and card_path.exists() and json.loads(card_path.read_text()).get("recipe") == recipe
        except (OSError, ValueError):
            return False

    if not fresh():
        # Several server workers (make classroom) may want the same model at once: one trains, the
        # others wait on the lock file and then load what it saved.
        with training_lock(path, progress):
            if not fresh() and not (subprocess_ok and train_in_child(child_args[0], child_args[1:], path, progress)):
                train_here()
    return json.loads(card_path.read_text())


@contextlib.contextmanager
def training_lock(path: Path, progress: Progress, poll: float = 0.5):
    """An exclusive ``flock`` on ``<model>.lock`` next to the model, shared by every process on this
    machine; while another process holds it, report that we wait (progress may cancel us)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a+") as handle:
        waited = 0.0
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                progress(0.0, f"another server process is training {path.stem}; waiting ({waited:.0f} s) ...")
                time.sleep(poll)
                waited += poll
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def save_trained(model, path: Path, card: dict) -> None:
    """Save atomically (temp file + rename: a reader never sees half a model), then the JSON card."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    tmp.replace(path)
    path.with_suffix(".json").write_text(json.dumps(card, indent=2))


def fit_classifier(model, images: np.ndarray, labels: np.ndarray, recipe: dict, progress: Progress,
                   callbacks: tuple = ()) -> float:
    """Adam(2e-3) on sparse cross-entropy from logits, images uint8 scaled to [0, 1], progress per
    batch; returns the training seconds. (Classifiers and the per-pixel FCN alike.)"""
    keras = import_keras()
    model.compile(optimizer=keras.optimizers.Adam(2e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    steps = int(np.ceil(len(images) / recipe["batch"]))
    cb = _KerasProgress(progress, recipe["epochs"], steps)
    start = time.perf_counter()
    model.fit(images.astype(np.float32) / 255.0, labels, batch_size=recipe["batch"], epochs=recipe["epochs"],
              verbose=0, callbacks=[cb.callback, *callbacks], shuffle=True)
    return time.perf_counter() - start


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
    """Train (or load) the shape classifier. Returns (model, card dict).

    Training runs in a child process with TensorFlow's oneDNN kernels on (2.5x faster on CPU; this
    process keeps them off, see core/__init__.py), streaming its progress back; if the child fails
    for any reason the model is trained here instead.
    """
    keras = import_keras()
    progress = ensure(progress)
    recipe = dict(SHAPES_RECIPE, **(recipe or {}))
    path = path or model_dir() / "shapes-cnn.keras"
    card = cached_or_trained(path, recipe, ["core.vision.train", json.dumps(recipe), str(path)],
                             lambda: _train_here(recipe, path, progress), progress, subprocess_ok)
    progress(1.0, f"shapes-cnn ready: held-out accuracy {card['accuracy']:.1%}")
    return keras.models.load_model(path, safe_mode=True), card


def train_in_child(module: str, args: list[str], path: Path, progress: Progress) -> bool:
    """Run ``python -m module *args`` with oneDNN on, relaying its PROGRESS lines; True when it wrote
    ``path`` and its JSON card. Any failure returns False so the caller trains in-process instead."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1")
    root = Path(__file__).resolve().parents[2]
    try:
        with subprocess.Popen([sys.executable, "-m", module, *args], cwd=root, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True) as proc:
            try:
                for line in proc.stdout:
                    if line.startswith("PROGRESS "):
                        _, fraction, message = line.rstrip("\n").split(" ", 2)
                        progress(float(fraction), message)  # raises when the waiting sessions cancelled
                proc.wait(timeout=900)
            except BaseException:
                proc.kill()  # cancelled, interrupted or hung: never leave a training child behind
                raise
        return proc.returncode == 0 and path.exists() and path.with_suffix(".json").exists()
    except (OSError, subprocess.SubprocessError, ValueError):
        return False


def print_progress(fraction: float, message: str) -> None:
    """The child's side of :func:`train_in_child`: one PROGRESS line per update."""
    print(f"PROGRESS {fraction:.4f} {message}", flush=True)


def _train_here(recipe: dict, path: Path, progress: Progress) -> dict:
    keras = import_keras()
    progress(0.0, "generating the synthetic shapes ...")
    keras.utils.set_random_seed(recipe["seed"])
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


if __name__ == "__main__":  # the child process of train_in_child
    import sys

    _train_here(json.loads(sys.argv[1]), Path(sys.argv[2]), print_progress)
