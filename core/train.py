"""The models the dashboard trains itself, and the one way they are trained and cached.

``python -m core.train NAME --out PATH --recipe JSON [--options JSON]`` trains one of
:data:`TRAINERS` (the shapes CNN, the tanks-in-trees CNN, the segmentation FCN, the tiny YOLO) and
saves it as ``PATH`` (.keras) with a JSON card next to it (recipe, held-out scores, training time).
The dashboard, the CLI and the tests do not call it directly: :func:`cached_or_trained` returns a
model's card, training it first when the cache has none for this recipe --

* under a file lock (``<model>.lock``), so several server workers train a model once;
* in a child process with TensorFlow's oneDNN kernels on (2.5x faster on CPU; this process keeps them
  off, see core/__init__.py), relaying its PROGRESS lines; a child that runs past ``timeout`` is
  killed and reported, its stderr is kept in ``<model>.log`` and every error names that file;
* if the child fails, in this process instead -- without seeding the process-wide random generators
  (other sessions share them): only the child, which is its own process, calls
  ``keras.utils.set_random_seed``.

A trainer is ``function(recipe, path, progress, **options) -> card`` and saves with
:func:`save_trained`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import queue
import threading
import time
from pathlib import Path

import numpy as np

from core.assets import default_cache_dir
from core.device import import_keras, import_tensorflow
from core.progress import Progress

TRAINERS = {  # NAME -> "module:function"
    "shapes-cnn": "core.vision.train:train_shapes_here",
    "tanks-cnn": "core.vision.tanks:train_tanks_here",
    "shapes-fcn": "core.fcn.segmentation:train_fcn_here",
    "shapes-fcn-skips": "core.fcn.skips:train_skips_here",
    "shapes-yolo": "core.detection.train:train_yolo_here",
}
# Every self-trained model the pages, the report and the tests load: (name, "module:loader", loader kwargs).
# ``python -m core train --all`` goes through this list once (the Dockerfile, a warm start, the test fixtures);
# each loader trains its model only when the cache has none for the current recipe.
SELF_TRAINED = (
    ("shapes-cnn", "core.vision.train:train_shapes_cnn", {}),
    ("shapes-yolo", "core.detection.train:load_shapes_yolo", {}),
    *((f"shapes-fcn-{d}", "core.fcn.segmentation:load_fcn", {"decoder": d})
      for d in ("transpose", "bilinear", "unpool", "aspp", "pyramid")),
    ("shapes-fcn-skips", "core.fcn.skips:load_skip_fcn", {}),  # FCN-32s/16s/8s, one network with three heads
    ("tanks-cnn-1.0", "core.vision.tanks:train_tanks_cnn", {"correlation": 1.0}),
    ("tanks-cnn-0.5", "core.vision.tanks:train_tanks_cnn", {"correlation": 0.5}),
)
CHILD_TIMEOUT = 1800.0  # seconds; the slowest model trains in about 95 s on 2 free cores
ROOT = Path(__file__).resolve().parents[1]

logger = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Training could not finish; ``str(exc)`` is one sentence naming the log file."""


class ChildFailed(TrainingError):
    """The child process exited without saving the model (this process may train it instead)."""


def model_dir() -> Path:
    return default_cache_dir() / "models"


def compute_device() -> str:
    """For the training cards: where TensorFlow trained."""
    return "GPU" if import_tensorflow().config.list_physical_devices("GPU") else "CPU"


def trainer(name: str):
    """The training function registered as ``name``."""
    try:
        module, function = TRAINERS[name].split(":")
    except KeyError:
        raise ValueError(f"Unknown trainer '{name}'; choose one of {', '.join(TRAINERS)}.") from None
    return getattr(importlib.import_module(module), function)


# ----------------------------------------------------------------------------- the cache


def cached_or_trained(name: str, path: Path, recipe: dict, progress: Progress, subprocess_ok: bool = True,
                      options: dict | None = None, timeout: float = CHILD_TIMEOUT) -> dict:
    """The card of the model saved at ``path``, training it with trainer ``name`` first when it is
    missing or was trained from another recipe. Every self-trained model goes through here."""
    options = options or {}
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
            if not fresh():
                _train(name, path, recipe, options, progress, subprocess_ok, timeout)
    return json.loads(card_path.read_text())


def _train(name: str, path: Path, recipe: dict, options: dict, progress: Progress, subprocess_ok: bool,
           timeout: float) -> None:
    if subprocess_ok:
        try:
            train_in_child(name, path, recipe, options, progress, timeout)
            return
        except ChildFailed as exc:
            logger.warning("%s Training in this process instead.", exc)
            progress(0.0, f"{exc} Training in this process instead ...")
    trainer(name)(recipe, path, progress, **options)


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


# ----------------------------------------------------------------------------- the child process


def child_command(name: str, path: Path, recipe: dict, options: dict) -> list[str]:
    import sys

    return [sys.executable, "-m", "core.train", name, "--out", str(path), "--recipe", json.dumps(recipe),
            "--options", json.dumps(options)]


def train_in_child(name: str, path: Path, recipe: dict, options: dict, progress: Progress,
                   timeout: float = CHILD_TIMEOUT) -> None:
    """Run the trainer in ``python -m core.train`` with oneDNN on, relaying its PROGRESS lines, its
    stderr in ``<model>.log``. Raises :class:`ChildFailed` when it exits without saving the model, and
    :class:`TrainingError` when it runs past ``timeout`` seconds (it is killed first). Whatever
    interrupts the wait (the progress callback raising when the waiting sessions cancelled, Ctrl-C)
    kills the child too: a training child is never left behind."""
    import os
    import subprocess

    log = path.with_suffix(".log")
    path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1")
    try:
        with open(log, "w") as err:
            proc = subprocess.Popen(child_command(name, path, recipe, options), cwd=ROOT, env=env,
                                    stdout=subprocess.PIPE, stderr=err, text=True)
    except OSError as exc:
        raise ChildFailed(f"The training process for {name} could not start ({exc}).") from None
    try:
        finished = _relay_progress(proc, progress, time.monotonic() + timeout)
    except BaseException:
        _stop(proc)
        raise
    if not finished:
        _stop(proc)
        raise TrainingError(f"Training {name} took longer than {timeout:.0f} s; the training process was stopped. "
                            f"Its error output is in {log}.")
    proc.stdout.close()
    if proc.returncode != 0 or not (path.exists() and path.with_suffix(".json").exists()):
        raise ChildFailed(f"The training process for {name} failed (exit code {proc.returncode}); its error output "
                          f"is in {log}.")


def _relay_progress(proc, progress: Progress, deadline: float) -> bool:
    """Pass the child's PROGRESS lines to ``progress`` until it exits (True) or the deadline (False).
    A thread reads the pipe, so a child that prints nothing cannot block the wait past the deadline."""
    import subprocess

    lines: queue.Queue = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True, name="training-child-stdout").start()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            return False
        if line is None:
            break
        parts = line.rstrip("\n").split(" ", 2)
        if len(parts) == 3 and parts[0] == "PROGRESS":
            try:
                fraction = float(parts[1])
            except ValueError:
                continue  # not ours: a library printing to stdout
            progress(fraction, parts[2])  # raises when the waiting sessions cancelled
    try:
        proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return False
    return True


def _stop(proc) -> None:
    proc.kill()
    proc.wait()
    if proc.stdout:
        proc.stdout.close()


def print_progress(fraction: float, message: str) -> None:
    """The child's side of :func:`train_in_child`: one PROGRESS line per update."""
    print(f"PROGRESS {fraction:.4f} {message}", flush=True)


# ----------------------------------------------------------------------------- shared training loop


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


def accuracy(model, images: np.ndarray, labels: np.ndarray) -> float:
    """Share of uint8 images (scaled to [0, 1] like in training) whose highest logit is the label."""
    logits = np.asarray(model.predict(images.astype(np.float32) / 255.0, batch_size=200, verbose=0))
    return float((logits.argmax(axis=1) == labels).mean())


# ----------------------------------------------------------------------------- every model, once


def train_all(names: list[str] | None = None, progress: Progress | None = None) -> list[dict]:
    """Load (training first where the cache has none) each model of :data:`SELF_TRAINED`, or those named:
    one row per model with its name, whether it was trained now, and the seconds it took."""
    from core.progress import ensure, scaled

    progress = ensure(progress)
    known = [name for name, _, _ in SELF_TRAINED]
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        from core.errors import UserError, quote

        raise UserError(f"Unknown model '{quote(unknown[0], 40)}'; choose from {', '.join(known)}.")
    todo = [row for row in SELF_TRAINED if not names or row[0] in names]
    rows = []
    for i, (name, target, kwargs) in enumerate(todo):
        module, function = target.split(":")
        part = scaled(progress, i / len(todo), (i + 1) / len(todo))
        part(0.0, f"{name} ({i + 1}/{len(todo)}) ...")
        before = _saved_models()
        start = time.perf_counter()
        getattr(importlib.import_module(module), function)(
            progress=lambda f, m, part=part, name=name: part(f, f"{name}: {m}"), **kwargs)
        rows.append({"name": name, "trained_now": _saved_models() != before,
                     "seconds": round(time.perf_counter() - start, 1)})
    progress(1.0, f"{len(rows)} self-trained models ready in {model_dir()}")
    return rows


def _saved_models() -> dict[str, float]:
    """Model file -> modification time, to tell a model trained just now from one found in the cache."""
    return {str(p): p.stat().st_mtime for p in model_dir().glob("*.keras")} if model_dir().is_dir() else {}


# ----------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=list(TRAINERS))
    parser.add_argument("--out", type=Path, required=True, help="where to save the .keras model (card: .json)")
    parser.add_argument("--recipe", required=True, help="the recipe as JSON (its 'seed' seeds this process)")
    parser.add_argument("--options", default="{}", help="trainer options as JSON (e.g. the FCN's decoder)")
    args = parser.parse_args(argv)
    recipe, options = json.loads(args.recipe), json.loads(args.options)
    train = trainer(args.name)
    import_keras().utils.set_random_seed(int(recipe.get("seed", 0)))  # this process is ours alone
    train(recipe, args.out, print_progress, **options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
