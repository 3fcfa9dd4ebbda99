"""Intermediate activations: every channel of a layer, and statistics across the whole network.

The lecture's claims to see: early layers are larger and fewer, later ones smaller and more
numerous; deeper activations are increasingly sparse (a rising fraction of exact zeros after ReLU).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.vision.zoo import LoadedModel, ModelError


@dataclass(frozen=True)
class LayerStats:
    name: str
    kind: str
    height: int
    width: int
    channels: int
    zero_fraction: float  # share of activations that are exactly 0 (or below 1e-6 in magnitude)
    mean: float
    mean_abs: float


def activation_maps(loaded: LoadedModel, image: np.ndarray, layer: str) -> np.ndarray:
    """(h, w, channels) activations of ``layer`` for one RGB image."""
    x = loaded.preprocess(image)[None]
    out = loaded.extractor((layer,))(x, training=False)
    return np.asarray(out[0] if isinstance(out, (list, tuple)) else out)[0]


def network_stats(loaded: LoadedModel, image: np.ndarray, layers: list[str] | None = None) -> list[LayerStats]:
    """Size, channels, sparsity and mean activation of every spatial layer, in network order."""
    layers = layers or loaded.spatial_layers
    if not layers:
        raise ModelError(f"{loaded.name} has no layer with a spatial (h, w, c) output.")
    outs = loaded.extractor(tuple(layers))(loaded.preprocess(image)[None], training=False)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    stats = []
    for name, out in zip(layers, outs, strict=True):
        a = np.asarray(out)[0]
        stats.append(LayerStats(name, type(loaded.layer(name)).__name__, a.shape[0], a.shape[1], a.shape[2],
                                float(np.mean(np.abs(a) < 1e-6)), float(a.mean()), float(np.abs(a).mean())))
    return stats


def standardize_channels(maps: np.ndarray) -> np.ndarray:
    """Each channel scaled to zero mean, unit std (constant channels become 0), for display."""
    m = maps.mean(axis=(0, 1), keepdims=True)
    s = maps.std(axis=(0, 1), keepdims=True)
    return np.where(s > 1e-8, (maps - m) / np.maximum(s, 1e-8), 0.0)


def tile_channels(maps: np.ndarray, columns: int | None = None, pad: int = 1, standardize: bool = True,
                  max_channels: int | None = None) -> tuple[np.ndarray, int]:
    """All channels of (h, w, c) as one grid image in [0, 1] (NaN in the padding); returns (grid, columns)."""
    c = maps.shape[2] if max_channels is None else min(maps.shape[2], max_channels)
    maps = maps[:, :, :c].astype(np.float32)
    shown = standardize_channels(maps) if standardize else maps
    if standardize:
        shown = np.clip(shown / 3.0 + 0.5, 0.0, 1.0)  # +-3 std to [0, 1]
    else:
        lo, hi = float(shown.min()), float(shown.max())
        shown = (shown - lo) / max(hi - lo, 1e-8)
    columns = columns or int(np.ceil(np.sqrt(c)))
    rows = int(np.ceil(c / columns))
    h, w = maps.shape[:2]
    grid = np.full((rows * (h + pad) - pad, columns * (w + pad) - pad), np.nan, np.float32)
    for k in range(c):
        r, q = divmod(k, columns)
        grid[r * (h + pad): r * (h + pad) + h, q * (w + pad): q * (w + pad) + w] = shown[:, :, k]
    return grid, columns
