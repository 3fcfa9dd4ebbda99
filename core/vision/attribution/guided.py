"""Guided backpropagation's plumbing (Springenberg et al. 2015): a ReLU whose gradient passes back
only where its input was positive *and* the gradient arriving is positive, and a copy of a network
with that rule in every ReLU. The shared model is never touched: the copy is built once per model
through :func:`core.vision.compiled.compiled`."""

from __future__ import annotations

import numpy as np

from core.device import import_keras, import_tensorflow
from core.vision.attribution.base import input_gradient_fn
from core.vision.compiled import compiled
from core.vision.zoo import LoadedModel

RELU_ACTIVATIONS = {"relu": None, "relu6": 6.0}  # activation name -> upper clip of the ReLU


def guided_relu(max_value: float | None = None):
    """ReLU (or ReLU6 with ``max_value=6``) whose gradient follows Springenberg et al.'s guided rule:
    pass ``dy`` back only where the input was in the ReLU's linear range *and* ``dy > 0``."""
    tf = import_tensorflow()

    @tf.custom_gradient
    def guided(x):
        y = tf.nn.relu(x) if max_value is None else tf.clip_by_value(x, 0.0, float(max_value))

        def grad(dy):
            gate = tf.cast(x > 0, dy.dtype) * tf.cast(dy > 0, dy.dtype)
            if max_value is not None:
                gate = gate * tf.cast(x < float(max_value), dy.dtype)
            return dy * gate

        return y, grad

    guided.__name__ = "guided_relu" if max_value is None else f"guided_relu{max_value:g}"
    return guided


def _relu_kind(layer) -> tuple[bool, float | None]:
    """(is a plain ReLU, its upper clip) for a ReLU layer, an Activation('relu'/'relu6') or a layer
    with a built-in relu activation; leaky or thresholded ReLUs are left alone."""
    keras = import_keras()
    if isinstance(layer, keras.layers.ReLU):
        cfg = layer.get_config()
        if float(cfg.get("negative_slope") or 0) == 0 and float(cfg.get("threshold") or 0) == 0:
            return True, (None if cfg.get("max_value") is None else float(cfg["max_value"]))
        return False, None
    name = getattr(getattr(layer, "activation", None), "__name__", "")
    if name in RELU_ACTIVATIONS:
        return True, RELU_ACTIVATIONS[name]
    return False, None


def clone_guided(model):
    """A copy of ``model`` (same weights) whose ReLUs backpropagate by the guided rule. ``model``
    itself is only read: its layers are re-created from their configs."""
    keras = import_keras()

    def clone(layer):
        is_relu, max_value = _relu_kind(layer)
        if is_relu and isinstance(layer, (keras.layers.ReLU, keras.layers.Activation)):
            return keras.layers.Activation(guided_relu(max_value), name=layer.name)
        new = layer.__class__.from_config(layer.get_config())
        if is_relu:  # e.g. Conv2D(activation="relu"): the copy's activation, not the original's
            new.activation = guided_relu(max_value)
        return new

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def guided_model(loaded: LoadedModel):
    """The guided copy of the model's logits (built once per model; the cached model is not changed)."""
    return compiled(loaded, ("guided",), lambda: clone_guided(loaded.logits))


def guided_gradients(loaded: LoadedModel, x: np.ndarray, target: int) -> np.ndarray:
    """(1, H, W, C) guided-backpropagation gradient of the class score with respect to the input."""
    tf = import_tensorflow()
    fn = compiled(loaded, ("guided_gradients",), lambda: input_gradient_fn(guided_model(loaded)))
    return fn(tf.constant(np.asarray(x, np.float32)), tf.constant(int(target), tf.int32)).numpy()


def positive_map(g: np.ndarray) -> np.ndarray:
    """(H, W) heat of a guided gradient: its positive part, the max over channels."""
    return np.maximum(np.asarray(g, np.float32), 0.0).max(axis=-1)
