"""TensorFlow set-up in one place: quiet logs, GPU memory growth, and a description of the device.

Import TensorFlow/Keras through :func:`import_tensorflow` / :func:`import_keras` so the settings
below are applied before the first GPU is touched. TensorFlow places ops on the GPU by itself when
it sees one; this module only makes sure it will not grab all of the GPU's memory at start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_CONFIGURED = False


def import_tensorflow():
    """Import TensorFlow with quiet logs and memory growth on every visible GPU."""
    global _CONFIGURED
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    if not _CONFIGURED:
        for gpu in tf.config.list_physical_devices("GPU"):
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:  # GPUs already initialised by someone else: keep their settings
                pass
        _CONFIGURED = True
    return tf


def import_keras():
    import_tensorflow()
    import keras

    return keras


@dataclass(frozen=True)
class DeviceInfo:
    kind: str  # "GPU" or "CPU"
    name: str  # e.g. "NVIDIA H100 80GB HBM3" or "CPU"
    count: int
    tensorflow: str

    @property
    def label(self) -> str:
        if self.kind == "GPU":
            extra = f" (x{self.count})" if self.count > 1 else ""
            return f"GPU: {self.name}{extra}"
        return "CPU"


def describe_device() -> DeviceInfo:
    """Which device TensorFlow computes on: the first GPU's name, else "CPU"."""
    tf = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return DeviceInfo("CPU", "CPU", 0, tf.__version__)
    try:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name") or gpus[0].name
    except Exception:  # details are best effort; the device itself works
        name = gpus[0].name
    return DeviceInfo("GPU", name, len(gpus), tf.__version__)
