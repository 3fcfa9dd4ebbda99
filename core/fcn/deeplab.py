"""Pretrained DeepLabV3+ (ResNet50, PASCAL VOC) through keras-hub, with a local-folder fallback.

keras-hub downloads its preset from Kaggle into its own cache on first use. Without internet, put
the preset's files (config.json, model.weights.h5, task.json, task.weights.h5, preprocessor.json,
image_converter.json, metadata.json) in ``local_preset_dir()`` and they are used instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.assets import default_cache_dir
from core.images import resize
from core.progress import Progress, ensure
from core.vision.zoo import ModelError

PRESET = "deeplab_v3_plus_resnet50_pascalvoc"
KAGGLE_HANDLE = "keras/deeplabv3plus/keras/deeplab_v3_plus_resnet50_pascalvoc"
VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")
PRESET_FILES = ("config.json", "model.weights.h5", "task.json", "task.weights.h5", "preprocessor.json",
                "image_converter.json", "metadata.json")


def local_preset_dir() -> Path:
    return default_cache_dir() / "deeplab" / PRESET


def load_deeplab(source: str | Path | None = None, progress: Progress | None = None):
    """A keras-hub DeepLabV3ImageSegmenter: from ``source`` (a preset folder), else the local copy in
    the dashboard cache, else the keras-hub preset (downloaded and cached by keras-hub)."""
    import core.device  # noqa: F401  (TensorFlow settings first)

    progress = ensure(progress)
    try:
        from keras_hub.models import DeepLabV3ImageSegmenter
    except ImportError:
        raise ModelError("keras-hub is not installed: run `make run` (it installs requirements.txt).") from None
    if source is not None:
        folder = Path(source)
        if not (folder / "config.json").exists():
            raise ModelError(f"No keras-hub preset in '{folder}' (config.json missing).")
        target = str(folder)
    elif (local_preset_dir() / "config.json").exists():
        target = str(local_preset_dir())
    else:
        target = PRESET
    progress(0.1, f"loading DeepLabV3+ from {target} (a first download is about 160 MB)")
    try:
        segmenter = DeepLabV3ImageSegmenter.from_preset(target)
    except Exception as exc:  # network, Kaggle or format errors all become one explanation
        raise ModelError(
            f"DeepLabV3+ could not be loaded from '{target}' ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}). "
            f"Without internet, download the Kaggle model '{KAGGLE_HANDLE}' elsewhere and place its files "
            f"({', '.join(PRESET_FILES)}) in '{local_preset_dir()}'.") from None
    progress(1.0, "DeepLabV3+ ready")
    return segmenter


def segment(segmenter, image: np.ndarray) -> np.ndarray:
    """(H, W) VOC class indices for an RGB uint8 image, at the image's own size (nearest resize)."""
    logits = segmenter.predict(np.asarray(image, np.float32)[None], verbose=0)
    mask = np.argmax(np.asarray(logits)[0], axis=-1).astype(np.uint8)
    if mask.shape != image.shape[:2]:
        mask = resize(mask, image.shape[0], image.shape[1], "nearest")
    return mask


def build_small_deeplab(image_size: int = 64, num_classes: int = len(VOC_CLASSES)):
    """A tiny DeepLabV3+ with the same classes, for tests and offline demos of the loader."""
    from keras_hub.layers import DeepLabV3ImageConverter
    from keras_hub.models import (
        DeepLabV3Backbone,
        DeepLabV3ImageSegmenter,
        DeepLabV3ImageSegmenterPreprocessor,
        ResNetBackbone,
    )

    encoder = ResNetBackbone(input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 32, 32],
                             stackwise_num_blocks=[1, 1, 1], stackwise_num_strides=[1, 2, 2], block_type="basic_block")
    backbone = DeepLabV3Backbone(image_encoder=encoder, spatial_pyramid_pooling_key="P4", upsampling_size=4,
                                 dilation_rates=[2, 4], low_level_feature_key="P2")
    converter = DeepLabV3ImageConverter(image_size=(image_size, image_size), scale=1 / 255.0)
    return DeepLabV3ImageSegmenter(backbone=backbone, num_classes=num_classes,
                                   preprocessor=DeepLabV3ImageSegmenterPreprocessor(image_converter=converter))
