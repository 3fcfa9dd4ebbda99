"""Distributional influence (Leino et al. 2018), as the slide defines it: the influence of an internal
unit on an output *towards a distribution of inputs* (an expectation over images), where attribution
is to one neuron for one input and has no regions of its own."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.vision.attribution.base import (
    AttributionError,
    Heatmap,
    activation_gradients,
    check_input,
    default_layer,
    finish,
    layer_activations,
)
from core.vision.zoo import LoadedModel


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
    check_input(loaded, xs[:1], target)
    total = None
    for start in range(0, len(xs), batch):
        _, grads = activation_gradients(loaded, layer, xs[start:start + batch], target)
        part = grads.sum(axis=(0, 1, 2))
        total = part if total is None else total + part
        progress(min(1.0, (start + batch) / len(xs)), f"influence over {min(len(xs), start + batch)}/{len(xs)} images")
    return Influence(layer, int(target), (total / len(xs)).astype(np.float32), len(xs))


def influence_map(loaded: LoadedModel, x: np.ndarray, influence: Influence) -> Heatmap:
    """One image's activations of the layer weighted by the distribution's influence (ReLU, /max)."""
    x = check_input(loaded, x, influence.target)
    acts = layer_activations(loaded, x, influence.layer)
    return finish(acts @ influence.channels, x.shape[1:3], "influence", influence.target, influence.layer)
