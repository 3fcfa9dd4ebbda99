"""Where does the network look? CAM, Grad-CAM and the gradient family, on one shared plumbing.

Every method returns an (H, W) float32 heatmap in [0, 1] at the model's input resolution for one
image (model-input array) and one class. Class scores are pre-softmax logits.

    Grad-CAM:  alpha_k = mean_{i,j} d f_c / d A_{i,j,k};  S = ReLU(sum_k alpha_k A_k) / S_max
    CAM:       S = sum_k w_{k,c} A_k for a GAP -> dense head (or A_c when the last conv has one map per class)
    Guided backpropagation (Springenberg et al. 2015): d f_c / d x where every ReLU passes a gradient
               back only where its input was positive *and* the gradient arriving is positive
    Guided Grad-CAM (Selvaraju et al. 2017): guided backpropagation x the upsampled Grad-CAM map

Guided backpropagation runs on a copy of the network whose ReLUs have that backward rule (built
once per model through :func:`core.vision.compiled.compiled`); the shared model is never touched.
:func:`cascading_randomization` is Adebayo et al.'s (2018) sanity check: a map that does not
change when the weights are randomised from the top down does not explain the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.device import import_keras, import_tensorflow
from core.vision.compiled import compiled
from core.vision.zoo import LoadedModel, ModelError, page_defaults

METHODS = ("gradcam", "gradcampp", "scorecam", "cam", "saliency", "smoothgrad", "ig", "guided-backprop",
           "guided-gradcam")


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


def _combined(loaded: LoadedModel, layer: str):
    """A cached model: input -> (layer activations, class logits)."""
    keras = import_keras()

    def build():
        act = loaded._connected_output(loaded.layer(layer))
        if len(act.shape) != 4:
            raise AttributionError(f"Layer '{layer}' has no spatial output; choose a convolutional layer "
                                   "(the layers after Flatten/pooling to a vector cannot be mapped back to pixels).")
        return keras.Model(loaded.model.inputs[0], [act, loaded.logits.outputs[0]])

    return compiled(loaded, ("attribution", layer), build)


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


def _check(loaded: LoadedModel, x: np.ndarray, target: int) -> np.ndarray:
    x = np.asarray(x, np.float32)
    if x.ndim == 3:
        x = x[None]
    if not np.all(np.isfinite(x)):
        raise AttributionError("The input contains NaN or infinite values.")
    n = int(loaded.logits.outputs[0].shape[-1])
    if not 0 <= int(target) < n:
        raise AttributionError(f"Class index {target} is out of range: {loaded.name} has {n} classes.")
    return x


def _finish(cam: np.ndarray, size: tuple[int, int], method: str, target: int, layer: str | None) -> Heatmap:
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


def _activation_gradient_fn(model):
    """A tf.function (batch, class) -> (A, dA) for a model: input -> (activations, logits)."""
    tf = import_tensorflow()

    @tf.function(reduce_retracing=True)
    def fn(batch, cls):
        with tf.GradientTape() as tape:
            acts, logits = model(batch, training=False)
            score = tf.reduce_sum(logits * tf.one_hot(cls, tf.shape(logits)[-1]))
        return acts, tape.gradient(score, acts)

    return fn


def _activation_gradients(loaded: LoadedModel, layer: str, x: np.ndarray, target: int):
    """(A, dA) for one class score: a tf.function compiled once per layer and reused (no model clone,
    no retracing per class: the class index is a tensor argument)."""
    tf = import_tensorflow()
    fn = compiled(loaded, ("activation_gradients", layer), lambda: _activation_gradient_fn(_combined(loaded, layer)))
    acts, grads = fn(tf.constant(x), tf.constant(int(target), tf.int32))
    return acts.numpy(), grads.numpy()


def _grad_cam_map(acts: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """(h, w) sum_k alpha_k A_k with alpha_k = mean_ij dA (before the ReLU of :func:`_finish`)."""
    alpha = grads.mean(axis=(1, 2))  # (1, K): the lecture's alpha_k^c
    return np.einsum("bijk,bk->bij", acts, alpha)[0]


def grad_cam(loaded: LoadedModel, x: np.ndarray, target: int, layer: str | None = None) -> Heatmap:
    layer = layer or default_layer(loaded)
    x = _check(loaded, x, target)
    acts, grads = _activation_gradients(loaded, layer, x, target)
    return _finish(_grad_cam_map(acts, grads), x.shape[1:3], "gradcam", target, layer)


def grad_cam_pp(loaded: LoadedModel, x: np.ndarray, target: int, layer: str | None = None) -> Heatmap:
    """Grad-CAM++ (Chattopadhay et al.), with the usual exp(score) closed form of the higher derivatives."""
    layer = layer or default_layer(loaded)
    x = _check(loaded, x, target)
    acts, g = _activation_gradients(loaded, layer, x, target)
    g2, g3 = g ** 2, g ** 3
    denom = 2.0 * g2 + acts.sum(axis=(1, 2), keepdims=True) * g3
    alpha = g2 / np.where(np.abs(denom) > 1e-12, denom, 1.0)
    weights = (alpha * np.maximum(g, 0)).sum(axis=(1, 2))
    cam = np.einsum("bijk,bk->bij", acts, weights)[0]
    return _finish(cam, x.shape[1:3], "gradcampp", target, layer)


def score_cam(loaded: LoadedModel, x: np.ndarray, target: int, layer: str | None = None, batch: int = 32,
              max_channels: int = 256) -> Heatmap:
    """Score-CAM (Wang et al.): each upsampled, normalised activation map masks the input; the class
    score of the masked input weights that map. All masked inputs go through the network in batches."""
    import cv2

    tf = import_tensorflow()
    layer = layer or default_layer(loaded)
    x = _check(loaded, x, target)
    model = _combined(loaded, layer)
    acts = np.asarray(model(tf.constant(x), training=False)[0])[0]  # (h, w, K)
    k = acts.shape[-1]
    order = np.argsort(-acts.reshape(-1, k).max(axis=0))[:max_channels]  # the strongest channels
    h, w = x.shape[1:3]
    masks = []
    for c in order:
        m = cv2.resize(acts[:, :, c], (w, h), interpolation=cv2.INTER_LINEAR)
        lo, hi = float(m.min()), float(m.max())
        masks.append((m - lo) / (hi - lo) if hi > lo else np.zeros_like(m))
    masks = np.stack(masks)[..., None].astype(np.float32)  # (K', H, W, 1)
    scores = []
    for start in range(0, len(masks), batch):
        masked = x * masks[start:start + batch]
        scores.append(np.asarray(loaded.logits(masked, training=False))[:, int(target)])
    scores = np.concatenate(scores)
    weights = np.exp(scores - scores.max())
    weights /= weights.sum()
    cam = np.tensordot(weights, masks[..., 0], axes=1)
    return _finish(cam, (h, w), "scorecam", target, layer)


def cam(loaded: LoadedModel, x: np.ndarray, target: int) -> Heatmap:
    """Class activation mapping for a conv -> global average pooling -> (dense) head."""
    keras = import_keras()
    tf = import_tensorflow()
    x = _check(loaded, x, target)
    layers = loaded.model.layers
    gap = next((i for i in range(len(layers) - 1, -1, -1)
                if isinstance(layers[i], keras.layers.GlobalAveragePooling2D)), None)
    if gap is None:
        raise AttributionError(f"{loaded.name} has no global-average-pooling head: CAM needs conv -> GAP -> "
                               "(dense); use Grad-CAM instead.")
    feature_layer = layers[gap - 1] if gap > 0 else None
    after = [lyr for lyr in layers[gap + 1:] if isinstance(lyr, keras.layers.Dense)]
    model = _combined(loaded, feature_layer.name)
    acts = np.asarray(model(tf.constant(x), training=False)[0])[0]
    if after:
        w = after[0].get_weights()[0]  # (K, n_classes)
        if w.shape[0] != acts.shape[-1] or len(after) > 1:
            raise AttributionError("CAM needs exactly one dense layer right after the global pooling.")
        heat = acts @ w[:, int(target)]
        note_layer = f"{feature_layer.name} x {after[0].name} weights"
    else:  # the last conv already has one map per class (the emotion CNN's head)
        heat = acts[:, :, int(target)]
        note_layer = feature_layer.name
    return _finish(heat, x.shape[1:3], "cam", target, note_layer)


def _input_gradient_fn(logits_model):
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


def _input_gradients(loaded: LoadedModel, batch: np.ndarray, target: int) -> np.ndarray:
    """d f_c / d x for a batch, through one compiled function per model (batch size may vary)."""
    tf = import_tensorflow()
    fn = compiled(loaded, ("input_gradients",), lambda: _input_gradient_fn(loaded.logits))
    return fn(tf.constant(np.asarray(batch, np.float32)), tf.constant(int(target), tf.int32)).numpy()


def saliency(loaded: LoadedModel, x: np.ndarray, target: int) -> Heatmap:
    """Vanilla gradient: max over channels of |d f_c / d x|."""
    x = _check(loaded, x, target)
    g = _input_gradients(loaded, x, target)[0]
    return _finish(np.abs(g).max(axis=-1), x.shape[1:3], "saliency", target, None)


def smooth_grad(loaded: LoadedModel, x: np.ndarray, target: int, samples: int = 20, noise: float = 0.2,
                seed: int = 0, batch: int = 32) -> Heatmap:
    """SmoothGrad: |gradient| averaged over noisy copies (noise = share of the input's value range),
    all copies in batches; then the max over channels. Taking |.| per sample before averaging is
    tf-keras-vis's convention (its default gradient modifier) and converges faster than |mean|."""
    x = _check(loaded, x, target)
    if samples < 1:
        raise AttributionError("SmoothGrad needs at least one sample.")
    rng = np.random.default_rng(seed)
    sigma = noise * float(x.max() - x.min() or 1.0)
    total = np.zeros(x.shape[1:], np.float32)
    for start in range(0, samples, batch):
        n = min(batch, samples - start)
        noisy = x + rng.normal(0, sigma, (n, *x.shape[1:])).astype(np.float32)
        total += np.abs(_input_gradients(loaded, noisy, target)).sum(axis=0)
    return _finish((total / samples).max(axis=-1), x.shape[1:3], "smoothgrad", target, None)


@dataclass(frozen=True)
class IGResult:
    heatmap: Heatmap
    attributions: np.ndarray  # (H, W, C) per input value
    score: float
    baseline_score: float


def integrated_gradients(loaded: LoadedModel, x: np.ndarray, target: int, baseline: str | np.ndarray = "zeros",
                         steps: int = 256, batch: int = 64) -> IGResult:
    """IG with the trapezoidal rule: attributions sum to f(x) - f(baseline) (completeness)."""
    import cv2

    x = _check(loaded, x, target)
    if steps < 2:
        raise AttributionError("Integrated Gradients needs at least 2 steps.")
    if isinstance(baseline, np.ndarray):
        base = np.asarray(baseline, np.float32).reshape(x.shape)
    elif baseline == "zeros":
        base = np.zeros_like(x)
    elif baseline == "black":
        from core.vision.zoo import preprocess_array

        base = np.broadcast_to(preprocess_array(np.zeros((1, 1, x.shape[-1]), np.float32), loaded.preprocessing),
                               x.shape).astype(np.float32)
    elif baseline == "blur":
        base = cv2.GaussianBlur(x[0], (0, 0), max(x.shape[1:3]) / 10).reshape(x.shape).astype(np.float32)
    else:
        raise AttributionError(f"Unknown baseline '{baseline}'; choose zeros, black or blur.")
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
    grads = []
    for start in range(0, len(alphas), batch):
        a = alphas[start:start + batch][:, None, None, None]
        grads.append(_input_gradients(loaded, base + a * (x - base), target))
    grads = np.concatenate(grads)
    avg = (grads[:-1] + grads[1:]).mean(axis=0) / 2.0  # trapezoid
    attributions = ((x - base)[0] * avg).astype(np.float32)
    scores = np.asarray(loaded.logits(np.concatenate([x, base]), training=False))[:, int(target)]
    heat = _finish(np.abs(attributions).sum(axis=-1), x.shape[1:3], "ig", target, None)
    return IGResult(heat, attributions, float(scores[0]), float(scores[1]))


# ----------------------------------------------------------------------------- guided backpropagation

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
    fn = compiled(loaded, ("guided_gradients",), lambda: _input_gradient_fn(guided_model(loaded)))
    return fn(tf.constant(np.asarray(x, np.float32)), tf.constant(int(target), tf.int32)).numpy()


def gradient_image(g: np.ndarray) -> np.ndarray:
    """(H, W, C) signed gradient -> (H, W, 3) uint8 for display: gray is 0, brighter/darker is +/-
    (centred, 0.25 of the range per standard deviation: enough contrast for a projector)."""
    g = np.asarray(g, np.float32)
    if g.ndim == 2:
        g = g[:, :, None]
    g = g - g.mean()
    g = g / (g.std() + 1e-8) * 0.25 + 0.5
    out = (np.clip(g, 0, 1) * 255).round().astype(np.uint8)
    return np.repeat(out, 3, axis=2) if out.shape[2] == 1 else out[:, :, :3]


def _positive_map(g: np.ndarray) -> np.ndarray:
    """(H, W) heat of a guided gradient: its positive part, the max over channels."""
    return np.maximum(np.asarray(g, np.float32), 0.0).max(axis=-1)


def guided_backprop(loaded: LoadedModel, x: np.ndarray, target: int) -> Heatmap:
    """Guided backpropagation: fine, class-agnostic-looking edges (which is what the sanity check shows)."""
    x = _check(loaded, x, target)
    g = guided_gradients(loaded, x, target)[0]
    heat = _finish(_positive_map(g), x.shape[1:3], "guided-backprop", target, None)
    return Heatmap(heat.values, heat.method, heat.target, heat.layer, heat.note, gradient_image(g))


def guided_grad_cam(loaded: LoadedModel, x: np.ndarray, target: int, layer: str | None = None) -> Heatmap:
    """Guided Grad-CAM: the guided gradient times Grad-CAM upsampled to the input (pixel by pixel)."""
    layer = layer or default_layer(loaded)
    x = _check(loaded, x, target)
    cam_map = grad_cam(loaded, x, target, layer).values  # (H, W) in [0, 1]
    g = guided_gradients(loaded, x, target)[0] * cam_map[:, :, None]
    heat = _finish(_positive_map(g), x.shape[1:3], "guided-gradcam", target, layer)
    return Heatmap(heat.values, heat.method, heat.target, heat.layer, heat.note, gradient_image(g))


# ----------------------------------------------------------------------------- sanity check (Adebayo et al.)

SANITY_METHODS = ("gradcam", "saliency", "guided-backprop", "guided-gradcam")


@dataclass(frozen=True)
class SanityStep:
    """The maps after randomising the weights of ``randomized`` (top layer first; empty: the original)."""

    label: str
    randomized: tuple[str, ...]
    maps: dict  # method -> (H, W) float32 in [0, 1]
    spearman: dict  # method -> Spearman rank correlation with the original map (nan when a map is flat)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps (average ranks for ties); nan when either is constant."""
    from scipy.stats import rankdata

    ra, rb = rankdata(np.ravel(a)), rankdata(np.ravel(b))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def weighted_layers(model) -> list[str]:
    """Layers with a kernel (convolutions, depthwise convolutions, dense), from the top down."""
    return [layer.name for layer in model.layers[::-1]
            if any("kernel" in w.path.split("/")[-1] for w in layer.weights)]


def _checkpoints(n: int, stops: int) -> list[int]:
    """How many layers are randomised at each stop: 1, 2, 4, ... up to all (denser at the top,
    where the maps that depend on the class change first)."""
    counts = np.unique(np.round(np.geomspace(1, n, max(2, stops))).astype(int))
    return [int(c) for c in counts]


def cascading_randomization(loaded: LoadedModel, x: np.ndarray, target: int, layer: str | None = None,
                            methods: tuple[str, ...] = SANITY_METHODS, stops: int = 8, seed: int = 0,
                            progress=None) -> list[SanityStep]:
    """Adebayo et al.'s cascading randomisation: on a private copy of the network, replace the weights
    of each layer with a kernel by Gaussian noise of the same mean and spread, from the logits down,
    and recompute each method's map at ``stops`` points along the way.

    The original model (shared, cached) is never changed: the copy and its guided twin are built
    here and dropped afterwards. Batch norm statistics are kept (randomising them can overflow).
    """
    from core.progress import ensure

    tf = import_tensorflow()
    keras = import_keras()
    progress = ensure(progress)
    unknown = [m for m in methods if m not in SANITY_METHODS]
    if unknown:
        raise AttributionError(f"The sanity check runs {', '.join(SANITY_METHODS)}; not '{unknown[0]}'.")
    layer = layer or default_layer(loaded)
    x = _check(loaded, x, target)
    progress(0.0, "copying the network ...")
    copy = keras.models.clone_model(loaded.logits)
    copy.set_weights(loaded.logits.get_weights())
    twin = clone_guided(copy)
    try:
        act_out = copy.get_layer(layer).output
    except ValueError:
        raise AttributionError(f"{loaded.name} has no layer '{layer}'.") from None
    if len(act_out.shape) != 4:
        raise AttributionError(f"Layer '{layer}' has no spatial output; choose a convolutional layer.")
    act_grad = _activation_gradient_fn(keras.Model(copy.inputs[0], [act_out, copy.outputs[0]]))
    plain_grad = _input_gradient_fn(copy)
    guided_grad = _input_gradient_fn(twin)
    xt, cls = tf.constant(x), tf.constant(int(target), tf.int32)
    size = x.shape[1:3]

    def maps() -> dict:
        out = {}
        if "gradcam" in methods or "guided-gradcam" in methods:
            acts, grads = (t.numpy() for t in act_grad(xt, cls))
            cam_map = _finish(_grad_cam_map(acts, grads), size, "gradcam", target, layer).values
            if "gradcam" in methods:
                out["gradcam"] = cam_map
        if "saliency" in methods:
            out["saliency"] = _finish(np.abs(plain_grad(xt, cls).numpy()[0]).max(axis=-1), size, "saliency",
                                      target, None).values
        if "guided-backprop" in methods or "guided-gradcam" in methods:
            g = guided_grad(xt, cls).numpy()[0]
            if "guided-backprop" in methods:
                out["guided-backprop"] = _finish(_positive_map(g), size, "guided-backprop", target, None).values
            if "guided-gradcam" in methods:
                out["guided-gradcam"] = _finish(_positive_map(g * cam_map[:, :, None]), size, "guided-gradcam",
                                                target, layer).values
        return {m: out[m] for m in methods}

    original = maps()
    steps = [SanityStep("original", (), original, {m: 1.0 for m in methods})]
    order = weighted_layers(copy)
    if not order:
        raise AttributionError(f"{loaded.name} has no layer with weights to randomise.")
    rng = np.random.default_rng(seed)
    done = 0
    counts = _checkpoints(len(order), stops)
    for i, count in enumerate(counts):
        for name in order[done:count]:
            new = [(rng.normal(float(w.mean()), float(w.std()) or 1e-3, w.shape)).astype(w.dtype)
                   for w in copy.get_layer(name).get_weights()]
            copy.get_layer(name).set_weights(new)
            twin.get_layer(name).set_weights(new)
        done = count
        now = maps()
        steps.append(SanityStep(f"up to {order[count - 1]}", tuple(order[:count]), now,
                                {m: spearman(original[m], now[m]) for m in methods}))
        progress((i + 1) / len(counts), f"randomised {count}/{len(order)} layers (down to {order[count - 1]})")
    return steps


def attribute(loaded: LoadedModel, image: np.ndarray, method: str, target: int, layer: str | None = None,
              **kwargs) -> Heatmap:
    """Dispatch by method name on an RGB uint8 image (preprocessed to the model's input here)."""
    if method not in METHODS:
        raise AttributionError(f"Unknown method '{method}'; choose one of {', '.join(METHODS)}.")
    x = loaded.preprocess(image)[None]
    if method == "gradcam":
        return grad_cam(loaded, x, target, layer)
    if method == "gradcampp":
        return grad_cam_pp(loaded, x, target, layer)
    if method == "scorecam":
        return score_cam(loaded, x, target, layer)
    if method == "cam":
        return cam(loaded, x, target)
    if method == "saliency":
        return saliency(loaded, x, target)
    if method == "smoothgrad":
        return smooth_grad(loaded, x, target, **kwargs)
    if method == "guided-backprop":
        return guided_backprop(loaded, x, target)
    if method == "guided-gradcam":
        return guided_grad_cam(loaded, x, target, layer)
    return integrated_gradients(loaded, x, target, **kwargs).heatmap


def attribute_all(loaded: LoadedModel, image: np.ndarray, target: int, layer: str | None = None,
                  methods: tuple[str, ...] = METHODS, progress=None, **options) -> dict[str, Heatmap | str]:
    """Every method for one image and class: {method: Heatmap, or the sentence saying why it cannot run}.

    ``options`` may hold per-method keyword arguments, e.g. ``smoothgrad={"samples": 20}``.
    """
    from core.progress import ensure

    progress = ensure(progress)
    out: dict[str, Heatmap | str] = {}
    for i, method in enumerate(methods):
        progress(i / len(methods), f"{METHOD_TITLES[method]} ...")
        try:
            out[method] = attribute(loaded, image, method, target, layer=layer if method in LAYER_METHODS else None,
                                    **options.get(method, {}))
        except AttributionError as exc:
            out[method] = str(exc)
    progress(1.0, "done")
    return out


METHOD_TITLES = {"gradcam": "Grad-CAM", "gradcampp": "Grad-CAM++", "scorecam": "Score-CAM", "cam": "CAM",
                 "saliency": "Saliency (vanilla gradient)", "smoothgrad": "SmoothGrad", "ig": "Integrated Gradients",
                 "guided-backprop": "Guided backpropagation", "guided-gradcam": "Guided Grad-CAM"}
LAYER_METHODS = ("gradcam", "gradcampp", "scorecam", "guided-gradcam")

COLORMAPS = ("jet", "turbo", "inferno", "viridis", "magma", "hot")


def colorize(heat: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """(H, W) in [0, 1] -> (H, W, 3) uint8 RGB through an OpenCV colormap."""
    import cv2

    if colormap not in COLORMAPS:
        raise AttributionError(f"Unknown colormap '{colormap}'; choose one of {', '.join(COLORMAPS)}.")
    code = getattr(cv2, f"COLORMAP_{colormap.upper()}")
    u8 = np.clip(np.asarray(heat, np.float32) * 255.0, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(u8, code), cv2.COLOR_BGR2RGB)


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5, colormap: str = "jet") -> np.ndarray:
    """The heatmap, resized to the image (bilinear), blended over it: (1 - alpha) image + alpha colour."""
    import cv2

    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    h, w = img.shape[:2]
    heat = np.asarray(heat, np.float32)
    if heat.shape != (h, w):
        heat = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    colour = colorize(heat, colormap).astype(np.float32)
    alpha = float(np.clip(alpha, 0.0, 1.0))
    return np.clip((1 - alpha) * img.astype(np.float32) + alpha * colour, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- faithfulness


@dataclass(frozen=True)
class Faithfulness:
    """Deletion and insertion curves (Petsiuk et al., RISE): the class probability as the most
    attributed pixels are removed from the image (to black), or inserted into a blurred copy."""

    fractions: np.ndarray  # (steps + 1,) share of pixels removed / inserted
    deletion: np.ndarray  # class probability after deleting that share (lower AUC = more faithful)
    insertion: np.ndarray  # class probability after inserting that share (higher AUC = more faithful)

    @property
    def deletion_auc(self) -> float:
        return float(np.trapezoid(self.deletion, self.fractions))

    @property
    def insertion_auc(self) -> float:
        return float(np.trapezoid(self.insertion, self.fractions))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def pixel_order(heat: np.ndarray, seed: int = 0) -> np.ndarray:
    """Flat pixel indices from most to least attributed; ties (e.g. zeros) in a seeded random order,
    not raster order, so a flat heatmap does not delete the image top to bottom."""
    rng = np.random.default_rng(seed)
    tiebreak = rng.random(heat.size)
    return np.lexsort((tiebreak, -np.asarray(heat, np.float64).ravel()))


def faithfulness(loaded: LoadedModel, x: np.ndarray, heat: np.ndarray, target: int, steps: int = 32,
                 batch: int = 33, seed: int = 0) -> Faithfulness:
    """Deletion/insertion curves for one heatmap (H, W) at the model input ``x`` (1, H, W, C)."""
    import cv2

    x = _check(loaded, x, target)
    h, w = x.shape[1:3]
    heat = np.asarray(heat, np.float32)
    if heat.shape != (h, w):
        raise AttributionError(f"The heatmap is {heat.shape}, the model input {h}x{w}.")
    if steps < 2:
        raise AttributionError("Faithfulness needs at least 2 steps.")
    from core.vision.zoo import preprocess_array

    black = np.broadcast_to(preprocess_array(np.zeros((1, 1, x.shape[-1]), np.float32), loaded.preprocessing),
                            x.shape[1:]).astype(np.float32)
    blurred = cv2.GaussianBlur(x[0], (0, 0), max(h, w) / 10).reshape(x.shape[1:]).astype(np.float32)
    order = pixel_order(heat, seed)
    fractions = np.linspace(0, 1, steps + 1)
    rank = np.empty(h * w, np.int64)
    rank[order] = np.arange(h * w)
    rank = rank.reshape(h, w)
    counts = np.round(fractions * h * w).astype(np.int64)
    chosen = (rank[None] < counts[:, None, None])[..., None]  # (steps + 1, H, W, 1): the top pixels
    deleted = np.where(chosen, black[None], x)
    inserted = np.where(chosen, x, blurred[None])
    both = np.concatenate([deleted, inserted]).astype(np.float32)
    logits = np.concatenate([loaded.predict_logits(both[i:i + batch]) for i in range(0, len(both), batch)])
    p = softmax(logits)[:, int(target)]
    return Faithfulness(fractions, p[:steps + 1], p[steps + 1:])


# ----------------------------------------------------------------------------- influence (Leino et al.)


@dataclass(frozen=True)
class Influence:
    layer: str
    target: int
    channels: np.ndarray  # (K,) distributional influence of each channel: E_x [sum_ij d f_c / d A_ijk]
    n_images: int

    def top(self, n: int = 8) -> np.ndarray:
        return np.argsort(-self.channels)[:n]


def distributional_influence(loaded: LoadedModel, xs: np.ndarray, target: int, layer: str | None = None,
                             batch: int = 64, progress=None) -> Influence:
    """Leino et al.'s distributional influence of each channel of ``layer`` on class ``target``:
    the gradient of the class score w.r.t. the channel's activations, summed over positions and
    averaged over the images ``xs`` (n, H, W, C) — a property of the model on a distribution, not of
    one image. (Per image, this sum is |I x J| times Grad-CAM's alpha_k^c.)"""
    from core.progress import ensure

    progress = ensure(progress)
    layer = layer or default_layer(loaded)
    xs = np.asarray(xs, np.float32)
    if xs.ndim != 4 or not len(xs):
        raise AttributionError("Distributional influence needs a non-empty batch of images (n, H, W, C).")
    _check(loaded, xs[:1], target)
    total = None
    for start in range(0, len(xs), batch):
        _, grads = _activation_gradients(loaded, layer, xs[start:start + batch], target)
        part = grads.sum(axis=(0, 1, 2))
        total = part if total is None else total + part
        progress(min(1.0, (start + batch) / len(xs)), f"influence over {min(len(xs), start + batch)}/{len(xs)} images")
    return Influence(layer, int(target), (total / len(xs)).astype(np.float32), len(xs))


def influence_map(loaded: LoadedModel, x: np.ndarray, influence: Influence) -> Heatmap:
    """One image's activations of the layer weighted by the distribution's influence (ReLU, /max)."""
    tf = import_tensorflow()
    x = _check(loaded, x, influence.target)
    acts = np.asarray(_combined(loaded, influence.layer)(tf.constant(x), training=False)[0])[0]
    return _finish(acts @ influence.channels, x.shape[1:3], "influence", influence.target, influence.layer)


def layer_activations(loaded: LoadedModel, x: np.ndarray, layer: str) -> np.ndarray:
    """(h, w, K) activations of a spatial layer for one model input (1, H, W, C)."""
    tf = import_tensorflow()
    return np.asarray(_combined(loaded, layer)(tf.constant(np.asarray(x, np.float32)), training=False)[0])[0]
