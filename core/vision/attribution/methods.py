"""Where does the network look? The CAM family and the gradient family, one signature for all.

Every method is ``method(loaded, x, target, layer=None, **options) -> Heatmap`` (like captum's
``attribute(inputs, target, ...)``): ``x`` a model input (1, H, W, C), ``target`` a class index,
``layer`` the target layer of the methods that use one (ignored by the others). The heatmap is
(H, W) float32 in [0, 1] at the model's input resolution. Class scores are pre-softmax logits.

    Grad-CAM:  alpha_k = mean_{i,j} d f_c / d A_{i,j,k};  S = ReLU(sum_k alpha_k A_k) / S_max
               (the ReLU is Selvaraju et al.'s; the slide's formula has none)
    CAM:       S = sum_k w_{k,c} A_k for a GAP -> dense head (or A_c when the last conv has one map per class)
    Guided backpropagation (Springenberg et al. 2015): d f_c / d x where every ReLU passes a gradient
               back only where its input was positive *and* the gradient arriving is positive
    Guided Grad-CAM (Selvaraju et al. 2017): guided backpropagation x the upsampled Grad-CAM map

:func:`attribute` takes an RGB image and a method name; :data:`METHOD_FUNCS` maps names to methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.device import import_keras
from core.numeric import softmax
from core.vision.attribution.base import (
    AttributionError,
    Heatmap,
    activation_gradients,
    check_input,
    default_layer,
    finish,
    grad_cam_map,
    input_gradients,
    layer_activations,
)
from core.vision.attribution.guided import guided_gradients, positive_map
from core.vision.attribution.rendering import gradient_image
from core.vision.zoo import LoadedModel

# ----------------------------------------------------------------------------- the CAM family


def grad_cam(loaded: LoadedModel, x: np.ndarray, target: int, layer: str | None = None) -> Heatmap:
    layer = layer or default_layer(loaded)
    x = check_input(loaded, x, target)
    acts, grads = activation_gradients(loaded, layer, x, target)
    return finish(grad_cam_map(acts, grads), x.shape[1:3], "gradcam", target, layer)


def grad_cam_pp(loaded: LoadedModel, x: np.ndarray, target: int, layer: str | None = None) -> Heatmap:
    """Grad-CAM++ (Chattopadhay et al. 2018) with the exp(score) closed form of the higher derivatives:
    alpha_ij^k = g^2 / (2 g^2 + sum_ab A_ab^k g^3), normalised to sum 1 over (i, j) per channel as the
    authors' code does (and tf-keras-vis), and w_k = sum_ij alpha_ij^k ReLU(g_ij^k)."""
    layer = layer or default_layer(loaded)
    x = check_input(loaded, x, target)
    acts, g = activation_gradients(loaded, layer, x, target)
    g2, g3 = g ** 2, g ** 3
    denom = 2.0 * g2 + acts.sum(axis=(1, 2), keepdims=True) * g3
    alpha = g2 / np.where(g2 != 0, denom, 1.0)
    total = alpha.sum(axis=(1, 2), keepdims=True)
    alpha = alpha / np.where(total != 0, total, 1.0)
    weights = (alpha * np.maximum(g, 0)).sum(axis=(1, 2))
    cam_map = np.einsum("bijk,bk->bij", acts, weights)[0]
    return finish(cam_map, x.shape[1:3], "gradcampp", target, layer)


# Gradient batches go backwards through the whole network: a batch of 64 EfficientNet inputs held several GB of
# activations per worker (a class asking for Integrated Gradients at once reached 6.8 GB). Batches are bounded
# by this many inputs, and the per-step gradients are summed as they come instead of kept.
GRADIENT_BATCH = 16
FORWARD_BATCH = 32


@dataclass(frozen=True)
class ScoreCamScores:
    """What Score-CAM's masked forward passes give for *every* class at once: the chosen channels'
    activations (h, w, k) and the softmax probabilities of each masked input (k, n_classes). A map for
    any class is ``acts @ probs[:, class]``: a room asking for different classes on one layer pays once."""
    layer: str
    acts: np.ndarray
    probs: np.ndarray


def score_cam_scores(loaded: LoadedModel, x: np.ndarray, layer: str | None = None, batch: int = FORWARD_BATCH,
                     max_channels: int = 256) -> ScoreCamScores:
    """Score-CAM's expensive part (one forward pass per channel), independent of the class."""
    from scipy.ndimage import zoom

    layer = layer or default_layer(loaded)
    x = check_input(loaded, x, 0)
    if max_channels < 1:
        raise AttributionError("Score-CAM needs at least one channel.")
    acts = layer_activations(loaded, x, layer)  # (h, w, K)
    k = acts.shape[-1]
    order = np.argsort(-acts.reshape(-1, k).max(axis=0), kind="stable")[:max_channels]  # the strongest channels
    h, w = x.shape[1:3]
    # upsampled corner to corner (as :func:`finish` upsamples the map), then each scaled to [0, 1]
    up = zoom(acts[:, :, order], (h / acts.shape[0], w / acts.shape[1], 1), order=1, mode="nearest")
    lo, hi = up.min(axis=(0, 1)), up.max(axis=(0, 1))
    masks = ((up - lo) / np.where(hi > lo, hi - lo, 1.0)).transpose(2, 0, 1)[..., None].astype(np.float32)
    probs = np.concatenate([softmax(loaded.predict_logits(x * masks[start:start + batch]).astype(np.float64))
                            for start in range(0, len(masks), batch)])
    return ScoreCamScores(layer, np.ascontiguousarray(acts[:, :, order]), probs)


def score_cam(loaded: LoadedModel, x: np.ndarray, target: int, layer: str | None = None, batch: int = FORWARD_BATCH,
              max_channels: int = 256, scores: ScoreCamScores | None = None) -> Heatmap:
    """Score-CAM (Wang et al. 2020): each activation map, upsampled and scaled to [0, 1], masks the
    input; the class's softmax probability on the masked input weights that map (the authors' code,
    and tf-keras-vis). All masked inputs go through the network in batches; beyond ``max_channels``
    only the strongest maps are used. ``scores`` (:func:`score_cam_scores` of this input and layer)
    skips the forward passes."""
    x = check_input(loaded, x, target)
    if scores is None:
        scores = score_cam_scores(loaded, x, layer, batch=batch, max_channels=max_channels)
    return finish(scores.acts @ scores.probs[:, int(target)], x.shape[1:3], "scorecam", target, scores.layer)


def cam(loaded: LoadedModel, x: np.ndarray, target: int, layer: str | None = None) -> Heatmap:
    """Class activation mapping (Zhou et al. 2016) for a conv -> global average pooling -> (dense)
    head. CAM's layer is fixed by the architecture (the one before the pooling): ``layer`` is ignored."""
    keras = import_keras()
    x = check_input(loaded, x, target)
    layers = loaded.model.layers
    gap = next((i for i in range(len(layers) - 1, -1, -1)
                if isinstance(layers[i], keras.layers.GlobalAveragePooling2D)), None)
    if gap is None:
        raise AttributionError(f"{loaded.name} has no global-average-pooling head: CAM needs conv -> GAP -> "
                               "(dense); use Grad-CAM instead.")
    feature_layer = layers[gap - 1] if gap > 0 else None
    after = [lyr for lyr in layers[gap + 1:] if isinstance(lyr, keras.layers.Dense)]
    acts = layer_activations(loaded, x, feature_layer.name)
    if after:
        w = after[0].get_weights()[0]  # (K, n_classes)
        if w.shape[0] != acts.shape[-1] or len(after) > 1:
            raise AttributionError("CAM needs exactly one dense layer right after the global pooling.")
        heat = acts @ w[:, int(target)]
        note_layer = f"{feature_layer.name} x {after[0].name} weights"
    else:  # the last conv already has one map per class (the emotion CNN's head)
        heat = acts[:, :, int(target)]
        note_layer = feature_layer.name
    return finish(heat, x.shape[1:3], "cam", target, note_layer)


# ----------------------------------------------------------------------------- the gradient family


def saliency(loaded: LoadedModel, x: np.ndarray, target: int, layer: str | None = None) -> Heatmap:
    """Vanilla gradient: max over channels of |d f_c / d x|."""
    x = check_input(loaded, x, target)
    g = input_gradients(loaded, x, target)[0]
    return finish(np.abs(g).max(axis=-1), x.shape[1:3], "saliency", target, None)


def smooth_grad(loaded: LoadedModel, x: np.ndarray, target: int, layer: str | None = None, samples: int = 20,
                noise: float = 0.2, seed: int = 0, batch: int = GRADIENT_BATCH) -> Heatmap:
    """SmoothGrad: |gradient| averaged over noisy copies (noise = share of the input's value range),
    all copies in batches; then the max over channels. Taking |.| per sample before averaging is
    tf-keras-vis's convention (its default gradient modifier) and converges faster than |mean|."""
    x = check_input(loaded, x, target)
    if samples < 1:
        raise AttributionError("SmoothGrad needs at least one sample.")
    rng = np.random.default_rng(seed)
    sigma = noise * float(x.max() - x.min() or 1.0)
    total = np.zeros(x.shape[1:], np.float32)
    for start in range(0, samples, batch):
        n = min(batch, samples - start)
        noisy = x + rng.normal(0, sigma, (n, *x.shape[1:])).astype(np.float32)
        total += np.abs(input_gradients(loaded, noisy, target)).sum(axis=0)
    return finish((total / samples).max(axis=-1), x.shape[1:3], "smoothgrad", target, None)


@dataclass(frozen=True)
class IGResult:
    heatmap: Heatmap
    attributions: np.ndarray  # (H, W, C) per input value
    score: float
    baseline_score: float


def _baseline(loaded: LoadedModel, x: np.ndarray, baseline: str | np.ndarray) -> np.ndarray:
    import cv2

    if isinstance(baseline, np.ndarray):
        return np.asarray(baseline, np.float32).reshape(x.shape)
    if baseline == "zeros":
        return np.zeros_like(x)
    if baseline == "black":
        from core.vision.zoo import preprocess_array

        return np.broadcast_to(preprocess_array(np.zeros((1, 1, x.shape[-1]), np.float32), loaded.preprocessing),
                               x.shape).astype(np.float32)
    if baseline == "blur":
        return cv2.GaussianBlur(x[0], (0, 0), max(x.shape[1:3]) / 10).reshape(x.shape).astype(np.float32)
    raise AttributionError(f"Unknown baseline '{baseline}'; choose zeros, black or blur.")


def integrated_gradients(loaded: LoadedModel, x: np.ndarray, target: int, baseline: str | np.ndarray = "zeros",
                         steps: int = 256, batch: int = GRADIENT_BATCH) -> IGResult:
    """IG with the trapezoidal rule: attributions sum to f(x) - f(baseline) (completeness). The gradients
    along the path go through the network ``batch`` at a time and are summed with the trapezoid's weights
    as they come (memory: one batch, not ``steps`` gradients)."""
    x = check_input(loaded, x, target)
    if steps < 2:
        raise AttributionError("Integrated Gradients needs at least 2 steps.")
    base = _baseline(loaded, x, baseline)
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
    weights = np.ones(steps + 1, np.float64)
    weights[[0, -1]] = 0.5  # trapezoid: (g_0 + 2 g_1 + ... + 2 g_{n-1} + g_n) / 2n
    total = np.zeros(x.shape[1:], np.float64)
    for s in range(0, len(alphas), max(1, int(batch))):
        g = input_gradients(loaded, base + alphas[s:s + batch, None, None, None] * (x - base), target)
        total += np.tensordot(weights[s:s + len(g)], g.astype(np.float64), axes=1)
    avg = total / steps
    attributions = ((x - base)[0] * avg).astype(np.float32)
    scores = loaded.predict_logits(np.concatenate([x, base]))[:, int(target)]
    heat = finish(np.abs(attributions).sum(axis=-1), x.shape[1:3], "ig", target, None)
    return IGResult(heat, attributions, float(scores[0]), float(scores[1]))


def integrated_gradients_map(loaded: LoadedModel, x: np.ndarray, target: int, layer: str | None = None,
                             **options) -> Heatmap:
    """Integrated Gradients' heatmap (|attribution| summed over channels), in the common signature."""
    return integrated_gradients(loaded, x, target, **options).heatmap


def guided_backprop(loaded: LoadedModel, x: np.ndarray, target: int, layer: str | None = None) -> Heatmap:
    """Guided backpropagation: fine, class-agnostic-looking edges (which is what the sanity check shows)."""
    x = check_input(loaded, x, target)
    g = guided_gradients(loaded, x, target)[0]
    heat = finish(positive_map(g), x.shape[1:3], "guided-backprop", target, None)
    return Heatmap(heat.values, heat.method, heat.target, heat.layer, heat.note, gradient_image(g))


def guided_grad_cam(loaded: LoadedModel, x: np.ndarray, target: int, layer: str | None = None) -> Heatmap:
    """Guided Grad-CAM: the guided gradient times Grad-CAM upsampled to the input (pixel by pixel)."""
    layer = layer or default_layer(loaded)
    x = check_input(loaded, x, target)
    cam_map = grad_cam(loaded, x, target, layer).values  # (H, W) in [0, 1]
    g = guided_gradients(loaded, x, target)[0] * cam_map[:, :, None]
    heat = finish(positive_map(g), x.shape[1:3], "guided-gradcam", target, layer)
    return Heatmap(heat.values, heat.method, heat.target, heat.layer, heat.note, gradient_image(g))


# ----------------------------------------------------------------------------- one entry for all

Method = Callable[..., Heatmap]  # (loaded, x, target, layer=None, **options) -> Heatmap

METHOD_FUNCS: dict[str, Method] = {
    "gradcam": grad_cam, "gradcampp": grad_cam_pp, "scorecam": score_cam, "cam": cam, "saliency": saliency,
    "smoothgrad": smooth_grad, "ig": integrated_gradients_map, "guided-backprop": guided_backprop,
    "guided-gradcam": guided_grad_cam,
}
METHODS = tuple(METHOD_FUNCS)
METHOD_TITLES = {"gradcam": "Grad-CAM", "gradcampp": "Grad-CAM++", "scorecam": "Score-CAM", "cam": "CAM",
                 "saliency": "Saliency (vanilla gradient)", "smoothgrad": "SmoothGrad", "ig": "Integrated Gradients",
                 "guided-backprop": "Guided backpropagation", "guided-gradcam": "Guided Grad-CAM"}
# The in-class settings of the heavy methods (what the dashboard draws by default): a class of 50 asking for
# 50 different heatmaps at once must be served in seconds, not minutes. The full settings stay one choice away.
# EfficientNet-Lite0 on the page's default picture (compiled passes, 1 core): Score-CAM over the 32 strongest
# channels 1.3 s (all 256: 8.4 s; maps correlate r = 0.988), IG with 16 steps 1.3 s (256 steps: 18 s; r = 0.989),
# SmoothGrad with 12 samples 0.8 s (50: 3.3 s; r = 0.88, the noise differs).
CLASS_OPTIONS = {"scorecam": {"max_channels": 32}, "smoothgrad": {"samples": 12}, "ig": {"steps": 16}}
SCORECAM_CHANNELS = (16, 32, 64, 128, 256, 512, 2048)  # the last: every channel of any layer here
LAYER_METHODS = ("gradcam", "gradcampp", "scorecam", "guided-gradcam")  # the methods that use ``layer``


def attribute(loaded: LoadedModel, image: np.ndarray, method: str, target: int, layer: str | None = None,
              **options) -> Heatmap:
    """Any method by name on an RGB uint8 image (preprocessed to the model's input here)."""
    if method not in METHOD_FUNCS:
        raise AttributionError(f"Unknown method '{method}'; choose one of {', '.join(METHODS)}.")
    return METHOD_FUNCS[method](loaded, loaded.preprocess(image)[None], target,
                                layer if method in LAYER_METHODS else None, **options)


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
            out[method] = attribute(loaded, image, method, target, layer=layer, **options.get(method, {}))
        except AttributionError as exc:
            out[method] = str(exc)
    progress(1.0, "done")
    return out
