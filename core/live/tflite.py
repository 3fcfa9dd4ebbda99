"""The one place that runs a ``.tflite`` file: TensorFlow's ``tf.lite.Interpreter``.

TensorFlow warns that ``tf.lite.Interpreter`` is deprecated in favour of ``ai-edge-litert``; the
warning is silenced here, for this message only, and moving to LiteRT is a change to this file.

An interpreter holds its tensors in place and is not thread-safe: one :class:`TFLiteModel` per
stream or request, :meth:`close` when done (or use it as a context manager).
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import numpy as np

from core.device import import_tensorflow

warnings.filterwarnings("ignore", message=r"(?s)\s*Warning: tf\.lite\.Interpreter is deprecated")


class TFLiteModel:
    """A ``.tflite`` file ready to run: float inputs in, copies of the float outputs out."""

    def __init__(self, path: str | Path, num_threads: int = 2):
        tf = import_tensorflow()
        self.path = Path(path)
        self._interpreter = tf.lite.Interpreter(model_path=str(self.path), num_threads=num_threads)
        self._interpreter.allocate_tensors()
        self.inputs = self._interpreter.get_input_details()
        self.outputs = self._interpreter.get_output_details()
        self._owner: int | None = None  # the thread running it now (a second one is a bug, said loudly)
        self._guard = threading.Lock()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.inputs[0]["shape"])

    def output_names(self) -> list[str]:
        return [d["name"] for d in self.outputs]

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """Outputs (copies, in the file's output order) for inputs of the file's shapes."""
        if self._interpreter is None:
            raise RuntimeError(f"The TFLite model {self.path.name} was closed.")
        if not self._guard.acquire(blocking=False):
            raise RuntimeError(f"The TFLite model {self.path.name} is already running in another thread; "
                               "make one per stream.")
        try:
            for detail, x in zip(self.inputs, arrays, strict=True):
                x = np.asarray(x, detail["dtype"])
                if tuple(x.shape) != tuple(detail["shape"]):
                    raise ValueError(f"{self.path.name} expects input shape {tuple(detail['shape'])}, got {x.shape}.")
                self._interpreter.set_tensor(detail["index"], x)
            self._interpreter.invoke()
            return [np.array(self._interpreter.get_tensor(d["index"])) for d in self.outputs]
        finally:
            self._guard.release()

    def close(self) -> None:
        """Drop the interpreter (and its tensor arena)."""
        self._interpreter = None

    @property
    def closed(self) -> bool:
        return self._interpreter is None

    def __enter__(self) -> TFLiteModel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
