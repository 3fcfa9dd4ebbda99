"""What every attribution method shares: the result type, the error, the choice of target layer,
input checks, the final ReLU + normalisation, and the two compiled gradients (of a class score with
respect to a layer's activations, and with respect to the input).

Activations come from the model's one layer extractor (:meth:`LoadedModel.extractor`, here with the
logits as a last output), the same sub-model the activations, ascent and Deep Dream pages use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from core.cache import MISSING
from core.device import import_tensorflow
from core.vision.compiled import cache as compiled_cache
from core.vision.compiled import compiled
from core.vision.zoo import LoadedModel, ModelError, page_defaults


class AttributionError(ModelError):
    pass


@dataclass(frozen=True)
class Heatmap:
    values: np.ndarray  # (H, W) float32 in [0, 1]
    method: str
    target: int
    layer: str | None
    note: str = ""
    rgb: np.ndarray | None = None  # (H, W, 3) uint8: the signed gradient as an image (guided methods)


def activations_and_logits(loaded: LoadedModel, layer: str):
    """The cached model input -> (layer activations, class logits): the model's layer extractor with
    the logits as a second output (built once per model and layer)."""
    try:
        return loaded.extractor((layer,), logits=True)
    except ModelError as exc:
        if "no spatial output" in str(exc):
            raise AttributionError(f"Layer '{layer}' has no spatial output; choose a convolutional layer (the "
                                   "layers after Flatten/pooling to a vector cannot be mapped back to pixels).") from None
        raise


def layer_activations(loaded: LoadedModel, x: np.ndarray, layer: str) -> np.ndarray:
    """(h, w, K) activations of a spatial layer for one model input (1, H, W, C)."""
    tf = import_tensorflow()
    return np.asarray(activations_and_logits(loaded, layer)(tf.constant(np.asarray(x, np.float32)),
                                                            training=False)[0])[0]


# ----------------------------------------------------------------------------- target layers


def _has_layer(loaded: LoadedModel, name: str) -> bool:
    return any(layer.name == name for layer in loaded.model.layers)


def default_layer(loaded: LoadedModel) -> str:
    """The model's own choice when it has one (EfficientNet-Lite0: ``head_activation``, the 7x7x1280
    map after the head's BN and ReLU6, which is what the classifier pools), else the last convolution."""
    preferred = page_defaults(loaded.name, "attribution").get("layer")
    if preferred and _has_layer(loaded, preferred):
        return preferred
    convs = loaded.conv_layers
    if not convs:
        raise AttributionError(f"{loaded.name} has no convolutional layer: Grad-CAM and CAM need one.")
    return convs[-1]


def target_layers(loaded: LoadedModel) -> list[str]:
    """Layers the CAM family may use, in network order: convolutions plus the model's default layer
    (e.g. an activation after the last convolution) and its listed candidates."""
    named = set(loaded.conv_layers) | set(candidate_layers(loaded))
    try:
        named.add(default_layer(loaded))
    except AttributionError:
        pass
    return [n for n in loaded.spatial_layers if n in named]


def candidate_layers(loaded: LoadedModel) -> list[str]:
    """Where to compare Grad-CAM layer by layer (faithfulness per layer, the suggested target layer):
    the model's listed candidates (one per resolution), else its last five convolutions."""
    listed = [n for n in page_defaults(loaded.name, "attribution").get("layers", ()) if _has_layer(loaded, n)]
    return listed or loaded.conv_layers[-5:]


# ----------------------------------------------------------------------------- inputs and outputs


def check_input(loaded: LoadedModel, x: np.ndarray, target: int) -> np.ndarray:
    """A (1, H, W, C) float32 model input and a class index in range, or :class:`AttributionError`."""
    x = np.asarray(x, np.float32)
    if x.ndim == 3:
        x = x[None]
    if not np.all(np.isfinite(x)):
        raise AttributionError("The input contains NaN or infinite values.")
    n = int(loaded.logits.outputs[0].shape[-1])
    if not 0 <= int(target) < n:
        raise AttributionError(f"Class index {target} is out of range: {loaded.name} has {n} classes.")
    return x


def finish(cam: np.ndarray, size: tuple[int, int], method: str, target: int, layer: str | None) -> Heatmap:
    """ReLU, divide by the maximum, resize to the model input: the heatmap every method returns."""
    cam = np.maximum(np.asarray(cam, np.float32), 0.0)
    peak = float(cam.max())
    note = ""
    if peak <= 0 or not np.isfinite(peak):
        note = "All values are zero (the gradients vanish for this image and class): nothing to show."
        cam = np.zeros_like(cam)
    else:
        cam = cam / peak
    if cam.shape != size:
        # linear interpolation mapping corner to corner (scipy's zoom, the convention tf-keras-vis uses)
        from scipy.ndimage import zoom

        cam = zoom(cam, (size[0] / cam.shape[0], size[1] / cam.shape[1]), order=1)
    return Heatmap(np.clip(cam, 0, 1).astype(np.float32), method, int(target), layer, note)


# ----------------------------------------------------------------------------- compiled gradients


def activation_gradient_fn(model, eager: bool = False):
    """(batch, class) -> (A, dA) for a model: input -> (activations, logits); a tf.function, or with
    ``eager`` a plain function whose calls run eagerly (no tracing)."""
    tf = import_tensorflow()

    def fn(batch, cls):
        with tf.GradientTape() as tape:
            acts, logits = model(batch, training=False)
            score = tf.reduce_sum(logits * tf.one_hot(cls, tf.shape(logits)[-1]))
        return acts, tape.gradient(score, acts)

    return fn if eager else tf.function(fn, reduce_retracing=True)


# Tracing the gradient function of one layer costs about 1.2 s of CPU on EfficientNet-Lite0 (a compiled call
# then 0.07 s); an eager call costs about 0.35 s. A class spreading over the 55 target layers asks for most
# layers once or twice: those calls run eagerly, and a layer is compiled on its COMPILE_AFTER + 1st call.
COMPILE_AFTER = 2
_USES: dict[tuple, int] = {}
_USES_LOCK = threading.Lock()


def _first_uses(loaded: LoadedModel, key: tuple) -> bool:
    """Whether this call of ``key`` on ``loaded`` is one of its first COMPILE_AFTER (counted per model)."""
    with _USES_LOCK:
        if len(_USES) > 4096:  # bounded: a long-running server forgets old counts (worst case: one more trace)
            _USES.clear()
        n = _USES[(loaded.uid,) + key] = _USES.get((loaded.uid,) + key, 0) + 1
    return n <= COMPILE_AFTER


def activation_gradients(loaded: LoadedModel, layer: str, x: np.ndarray, target: int):
    """(A, dA) for one class score: a tf.function compiled once per layer and reused (no model clone,
    no retracing per class: the class index is a tensor argument); a layer's first calls run eagerly
    (see COMPILE_AFTER)."""
    tf = import_tensorflow()
    key = ("activation_gradients", layer)
    if compiled_cache().lookup((loaded.uid,) + key) is MISSING and _first_uses(loaded, key):
        fn = activation_gradient_fn(activations_and_logits(loaded, layer), eager=True)
    else:
        fn = compiled(loaded, key, lambda: activation_gradient_fn(activations_and_logits(loaded, layer)))
    acts, grads = fn(tf.constant(x), tf.constant(int(target), tf.int32))
    return acts.numpy(), grads.numpy()


def input_gradient_fn(logits_model):
    """A tf.function (batch, class) -> d f_c / d x for a model: input -> logits."""
    tf = import_tensorflow()

    @tf.function(reduce_retracing=True)
    def fn(xt, cls):
        with tf.GradientTape() as tape:
            tape.watch(xt)
            logits = logits_model(xt, training=False)
            score = tf.reduce_sum(logits * tf.one_hot(cls, tf.shape(logits)[-1]))
        return tape.gradient(score, xt)

    return fn


def input_gradients(loaded: LoadedModel, batch: np.ndarray, target: int) -> np.ndarray:
    """d f_c / d x for a batch, through one compiled function per model (batch size may vary)."""
    tf = import_tensorflow()
    fn = compiled(loaded, ("input_gradients",), lambda: input_gradient_fn(loaded.logits))
    return fn(tf.constant(np.asarray(batch, np.float32)), tf.constant(int(target), tf.int32)).numpy()


def grad_cam_map(acts: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """(h, w) sum_k alpha_k A_k with alpha_k = mean_ij dA (before the ReLU of :func:`finish`)."""
    alpha = grads.mean(axis=(1, 2))  # (1, K): the lecture's alpha_k^c
    return np.einsum("bijk,bk->bij", acts, alpha)[0]
