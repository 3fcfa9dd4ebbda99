"""How good is a heatmap? Faithfulness (deletion and insertion curves, their AUCs, per method with a
random pixel order as the floor, and for Grad-CAM at each candidate layer) and Adebayo et al.'s
sanity check (cascading randomisation). The page and ``python -m core report`` both call
:func:`faithfulness_table` and :func:`layer_table`, so the README's figures are the page's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.device import import_keras, import_tensorflow
from core.numeric import softmax
from core.vision.attribution.base import (
    AttributionError,
    Heatmap,
    activation_gradient_fn,
    check_input,
    default_layer,
    finish,
    grad_cam_map,
    input_gradient_fn,
)
from core.vision.attribution.guided import clone_guided, positive_map
from core.vision.attribution.methods import LAYER_METHODS, METHOD_TITLES, METHODS, attribute, grad_cam
from core.vision.zoo import LoadedModel

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

    x = check_input(loaded, x, target)
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


RANDOM = "random order"
# what the faithfulness comparison runs each method with (the costly ones at a lighter setting)
TABLE_OPTIONS = {"smoothgrad": {"samples": 20}, "ig": {"steps": 64}}


def random_heatmap(shape: tuple[int, int], target: int, seed: int = 0) -> Heatmap:
    """The floor every method must beat: pixels in a seeded random order."""
    return Heatmap(np.random.default_rng(seed).random(shape).astype(np.float32), "random", int(target), None)


def _row(label: str, f: Faithfulness) -> dict:
    return {"method": label, "deletion AUC ↓": f.deletion_auc, "insertion AUC ↑": f.insertion_auc,
            "insertion − deletion": f.insertion_auc - f.deletion_auc}


def faithfulness_table(loaded: LoadedModel, image: np.ndarray, target: int, layer: str | None = None,
                       steps: int = 32, methods: tuple[str, ...] = METHODS, progress=None) -> tuple[list[dict], dict]:
    """Every method's deletion/insertion AUCs on one RGB image, plus the random order: (rows, curves)
    with rows {method, deletion AUC ↓, insertion AUC ↑, insertion − deletion} and curves
    {title: (fractions, deletion, insertion)}. Methods that cannot run on this model are left out."""
    from core.progress import ensure

    progress = ensure(progress)
    layer = layer or default_layer(loaded)
    x = loaded.preprocess(image)[None]
    maps: dict[str, Heatmap] = {}
    for m in methods:
        try:
            maps[METHOD_TITLES[m]] = attribute(loaded, image, m, target, layer=layer if m in LAYER_METHODS else None,
                                               **TABLE_OPTIONS.get(m, {}))
        except AttributionError:
            continue
    maps[RANDOM] = random_heatmap(x.shape[1:3], target)
    rows, curves = [], {}
    for i, (label, hm) in enumerate(maps.items()):
        progress(i / len(maps), f"deleting and inserting pixels: {label}")
        f = faithfulness(loaded, x, hm.values, target, steps=steps)
        curves[label] = (f.fractions, f.deletion, f.insertion)
        rows.append(_row(label, f))
    progress(1.0, "done")
    return rows, curves


def layer_table(loaded: LoadedModel, image: np.ndarray, target: int, layers: list[str], steps: int = 32,
                progress=None) -> list[dict]:
    """Grad-CAM's faithfulness at each layer: rows {layer, map (h x w), the three AUC columns}."""
    from core.progress import ensure

    progress = ensure(progress)
    x = loaded.preprocess(image)[None]
    out = []
    for i, name in enumerate(layers):
        progress(i / max(1, len(layers)), f"Grad-CAM at {name}")
        f = faithfulness(loaded, x, grad_cam(loaded, x, target, name).values, target, steps=steps)
        shape = loaded.layer(name).output.shape
        row = _row(name, f)
        row.pop("method")
        out.append({"layer": name, "map": f"{shape[1]}x{shape[2]}", **row})
    progress(1.0, "done")
    return out


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


class _SanityMaps:
    """The four maps of the sanity check, computed on a private copy of the network (and its guided
    twin) whose weights the check overwrites."""

    def __init__(self, name: str, copy, twin, layer: str, x: np.ndarray, target: int, methods: tuple[str, ...]):
        keras, tf = import_keras(), import_tensorflow()
        try:
            act_out = copy.get_layer(layer).output
        except ValueError:
            raise AttributionError(f"{name} has no layer '{layer}'.") from None
        if len(act_out.shape) != 4:
            raise AttributionError(f"Layer '{layer}' has no spatial output; choose a convolutional layer.")
        self.act_grad = activation_gradient_fn(keras.Model(copy.inputs[0], [act_out, copy.outputs[0]]))
        self.plain_grad = input_gradient_fn(copy)
        self.guided_grad = input_gradient_fn(twin)
        self.xt, self.cls = tf.constant(x), tf.constant(int(target), tf.int32)
        self.size, self.target, self.layer, self.methods = x.shape[1:3], int(target), layer, methods

    def __call__(self) -> dict:
        methods, size, target, layer = self.methods, self.size, self.target, self.layer
        out = {}
        if "gradcam" in methods or "guided-gradcam" in methods:
            acts, grads = (t.numpy() for t in self.act_grad(self.xt, self.cls))
            cam_map = finish(grad_cam_map(acts, grads), size, "gradcam", target, layer).values
            out["gradcam"] = cam_map
        if "saliency" in methods:
            g = self.plain_grad(self.xt, self.cls).numpy()[0]
            out["saliency"] = finish(np.abs(g).max(axis=-1), size, "saliency", target, None).values
        if "guided-backprop" in methods or "guided-gradcam" in methods:
            g = self.guided_grad(self.xt, self.cls).numpy()[0]
            out["guided-backprop"] = finish(positive_map(g), size, "guided-backprop", target, None).values
            if "guided-gradcam" in methods:
                out["guided-gradcam"] = finish(positive_map(g * cam_map[:, :, None]), size, "guided-gradcam",
                                               target, layer).values
        return {m: out[m] for m in methods}


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

    keras = import_keras()
    progress = ensure(progress)
    unknown = [m for m in methods if m not in SANITY_METHODS]
    if unknown:
        raise AttributionError(f"The sanity check runs {', '.join(SANITY_METHODS)}; not '{unknown[0]}'.")
    layer = layer or default_layer(loaded)
    x = check_input(loaded, x, target)
    progress(0.0, "copying the network ...")
    copy = keras.models.clone_model(loaded.logits)
    copy.set_weights(loaded.logits.get_weights())
    twin = clone_guided(copy)
    maps = _SanityMaps(loaded.name, copy, twin, layer, x, target, methods)
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
