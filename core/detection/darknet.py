"""Darknet -> Keras: parse a .cfg, build the functional model, load a .weights file.

OpenCV 5 dropped its Darknet reader; building the network ourselves also makes every layer of a
YOLO inspectable in class. Supported sections: [net], [convolutional] (batch_normalize; leaky,
linear, mish, relu, logistic; groups), [maxpool] (incl. stride-1 size-2), [route] (one or more
layers, negative = relative; groups/group_id as in YOLOv4-tiny), [shortcut], [upsample], [reorg]
(darknet's own channel order), [dropout], [yolo] (v3/v4) and [region] (v2) heads, and YOLO v1's
[local] (locally connected: a 3x3 filter bank of its own at every output position), [connected]
(fully connected, on darknet's (C, H, W) flattening) and [detection] head (S x S x (B*5 + C)).

Weights file: int32 major, minor, revision; then ``seen`` as int64 when major*10 + minor >= 2 (and
both < 1000), else int32; then float32 per convolution, in cfg order: with batch norm beta, gamma,
rolling mean, rolling variance (filters each), else the biases; then the kernel in (out, in, h, w)
order, which becomes Keras's (h, w, in, out). A [local] layer stores its biases (filters, out_h,
out_w), then per output position (row-major) a (filters, in, h, w) kernel; a [connected] layer its
biases (outputs), then weights (outputs, inputs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.detection.yolo import Head, boxes_per_image, raw_outputs
from core.device import import_keras, import_tensorflow
from core.errors import UserError

CFG_DIR = Path(__file__).resolve().parents[2] / "assets" / "darknet"
BN_EPSILON = 1e-6  # darknet normalises with sqrt(var) + .000001
HEADER_BYTES = 20  # major, minor, revision (int32) and seen (int64): every weights file since darknet 0.2


MAX_LAYER_WEIGHTS = 64 * 2 ** 20  # one layer's weights (256 MiB of float32); darknet's largest are ~5 M


class DarknetError(UserError):
    pass


@dataclass
class Section:
    kind: str  # "convolutional", "route", ...
    options: dict
    line: int

    def get(self, key: str, default=None, cast=str):
        if key not in self.options:
            return default
        try:
            return cast(self.options[key])
        except ValueError:
            raise DarknetError(f"[{self.kind}] at line {self.line}: {key}={self.options[key]!r} is not "
                               f"{'a number' if cast in (int, float) else 'valid'}.") from None

    def ints(self, key: str, default: str = "") -> list[int]:
        return [int(float(v)) for v in str(self.options.get(key, default)).split(",") if v.strip()]

    def floats(self, key: str) -> list[float]:
        return [float(v) for v in str(self.options.get(key, "")).split(",") if v.strip()]


def parse_cfg(text: str) -> list[Section]:
    """Sections in file order (names may repeat). Comments (# or ;) and blank lines are ignored."""
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.split(r"[#;]", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise DarknetError(f"Line {number}: a section header must look like [name], got {line!r}.")
            sections.append(Section(line[1:-1].strip().lower(), {}, number))
        elif "=" in line:
            if not sections:
                raise DarknetError(f"Line {number}: an option before the first [section].")
            key, value = line.split("=", 1)
            sections[-1].options[key.strip()] = value.strip()
        else:
            raise DarknetError(f"Line {number}: expected key=value, got {line!r}.")
    if not sections or sections[0].kind not in ("net", "network"):
        raise DarknetError("A darknet .cfg starts with a [net] section.")
    return sections


CFG_MAX_BYTES = 4 * 2 ** 20  # yolov4's cfg is 12 KB


def read_cfg(path: str | Path) -> list[Section]:
    from core.userfiles import NotARegularFile, read_regular_text

    try:
        return parse_cfg(read_regular_text(path, "a darknet .cfg file", CFG_MAX_BYTES))
    except NotARegularFile as exc:
        raise DarknetError(str(exc)) from None


def bundled_cfg(name: str) -> Path:
    """A cfg shipped in assets/darknet (e.g. 'yolov3' or 'yolov3.cfg')."""
    path = CFG_DIR / (name if name.endswith(".cfg") else f"{name}.cfg")
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in CFG_DIR.glob("*.cfg")))
        raise DarknetError(f"No bundled cfg '{name}'. Shipped: {known}.")
    return path


def class_names(count: int) -> list[str]:
    """COCO (80) or VOC (20) names from assets/darknet, else 'class i'."""
    for file in ("coco.names", "voc.names"):
        names = [n.strip() for n in (CFG_DIR / file).read_text().splitlines() if n.strip()]
        if len(names) == count:
            return names
    return [f"class {i}" for i in range(count)]


# ----------------------------------------------------------------------------- reorg (darknet's order)


def reorg_index(c: int, h: int, w: int, stride: int) -> np.ndarray:
    """Darknet's forward reorg is reorg_cpu(..., forward=0) on the input dims: a fixed permutation of
    the flat (C, H, W) buffer: out[in_index] = x[out_index] (see darknet src/blas.c)."""
    out_c = c // (stride * stride)
    k, j, i = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    c2, offset = k % out_c, k // out_c
    w2, h2 = i * stride + offset % stride, j * stride + offset // stride
    in_index = i + w * (j + h * k)
    out_index = w2 + w * stride * (h2 + h * stride * c2)
    index = np.empty(c * h * w, np.int64)
    index[in_index.ravel()] = out_index.ravel()
    return index


def _reorg_layer():
    keras = import_keras()

    class DarknetReorg(keras.layers.Layer):
        def __init__(self, stride: int = 2, **kwargs):
            super().__init__(**kwargs)
            self.stride = stride

        def build(self, input_shape):
            _, h, w, c = input_shape
            self.index = reorg_index(int(c), int(h), int(w), self.stride)

        def call(self, x):
            tf = import_tensorflow()
            s = self.stride
            n, h, w, c = tf.shape(x)[0], x.shape[1], x.shape[2], x.shape[3]
            flat = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n, -1])  # NCHW, flattened as darknet stores it
            out = tf.reshape(tf.gather(flat, self.index, axis=1), [n, c * s * s, h // s, w // s])
            return tf.transpose(out, [0, 2, 3, 1])

        def compute_output_shape(self, input_shape):
            n, h, w, c = input_shape
            s = self.stride
            return (n, h // s, w // s, c * s * s)

        def get_config(self):
            return {**super().get_config(), "stride": self.stride}

    return DarknetReorg


# ----------------------------------------------------------------------------- building


@dataclass
class LayerInfo:
    index: int  # darknet's layer number (the [net] section excluded)
    kind: str
    output_shape: tuple
    params: int
    detail: str = ""


@dataclass
class DarknetModel:
    model: object  # keras.Model: image (size, size, 3) in [0, 1] -> the heads' raw outputs (a list)
    heads: list[Head]
    size: int
    layers: list[LayerInfo]
    conv_layers: list[tuple]  # (keras Conv2D, keras BatchNormalization or None), cfg order
    n_classes: int
    kind: str  # "v1", "v2" or "v3"
    weights_report: dict = field(default_factory=dict)
    weighted: list = field(default_factory=list)  # (kind, layer, batch norm or None) in cfg order = file order

    @property
    def output_shapes(self) -> list[tuple]:
        return [tuple(int(d) if d is not None else 1 for d in out.shape) for out in self.model.outputs]

    @property
    def params(self) -> int:
        return int(self.model.count_params())

    def expected_floats(self) -> int:
        """How many float32 the weights file holds: every weighted layer's parameters, with a batch
        norm's beta, gamma, mean and variance in place of the bias."""
        total = 0
        for kind, layer, bn in self.weighted or [("convolutional", c, b) for c, b in self.conv_layers]:
            if kind == "convolutional":
                total += int(np.prod(layer.kernel.shape)) + (4 if bn is not None else 1) * layer.filters
            else:  # local, connected: kernel and bias, as many as Keras counts
                total += int(layer.count_params())
        return total

    def weights_bytes(self) -> int:
        """The size of this cfg's weights file: the header and 4 bytes per float."""
        return HEADER_BYTES + 4 * self.expected_floats()

    @property
    def boxes_per_image(self) -> int:
        return boxes_per_image(self.heads, [s[1:3] for s in self.output_shapes])

    def raw(self, images: np.ndarray) -> list[np.ndarray]:
        return raw_outputs(self.model, images)


def _activation(x, name: str, prefix: str, section: Section):
    keras = import_keras()
    layers = keras.layers
    if name == "leaky":
        return layers.LeakyReLU(negative_slope=0.1, name=f"{prefix}_leaky")(x)
    if name == "linear":
        return x
    if name == "relu":
        return layers.ReLU(name=f"{prefix}_relu")(x)
    if name == "logistic":
        return layers.Activation("sigmoid", name=f"{prefix}_logistic")(x)
    if name == "mish":
        return layers.Activation("mish", name=f"{prefix}_mish")(x)
    raise DarknetError(f"[{section.kind}] at line {section.line}: activation '{name}' is not supported "
                       "(leaky, linear, relu, logistic, mish).")


@dataclass
class _Build:
    """What the section handlers share while the network is built."""

    size: int
    outputs: list = field(default_factory=list)  # every layer's output tensor, by darknet index
    convs: list = field(default_factory=list)  # (Conv2D, BatchNormalization or None), cfg order
    weighted: list = field(default_factory=list)  # (kind, layer, BatchNormalization or None), cfg order
    heads: list = field(default_factory=list)
    head_outputs: list = field(default_factory=list)
    kinds: set = field(default_factory=set)


def _convolutional(x, sec: Section, index: int, build: _Build):
    layers = import_keras().layers
    prefix = f"{index:03d}"
    filters, k = sec.get("filters", 1, int), sec.get("size", 1, int)
    stride, groups = sec.get("stride", 1, int), sec.get("groups", 1, int)
    pad = k // 2 if sec.get("pad", 0, int) else sec.get("padding", 0, int)
    bn = sec.get("batch_normalize", 0, int)
    cin = int(x.shape[-1])
    weights = max(0, filters) * max(0, k) ** 2 * cin // max(1, groups)
    if weights > MAX_LAYER_WEIGHTS:  # Keras would allocate it: 400,000 filters was TF's ResourceExhaustedError
        raise DarknetError(f"Layer {index} ([convolutional], filters={filters:,}, size={k}) would have {weights:,} "
                           f"weights, more than {MAX_LAYER_WEIGHTS:,} (YOLOv3's largest has 4,718,592): check the cfg.")
    if pad:
        x = layers.ZeroPadding2D(pad, name=f"{prefix}_pad")(x)
    conv = layers.Conv2D(filters, k, strides=stride, padding="valid", groups=groups, use_bias=not bn,
                         name=f"{prefix}_conv")
    x = conv(x)
    norm = None
    if bn:
        norm = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{prefix}_bn")
        x = norm(x)
    activation = sec.get("activation", "logistic")
    x = _activation(x, activation, prefix, sec)
    build.convs.append((conv, norm))
    build.weighted.append(("convolutional", conv, norm))
    params = int(conv.count_params() + (norm.count_params() if norm else 0))
    return x, f"{filters} {k}x{k}/{stride}" + (" bn" if bn else "") + f" {activation}", params


def _maxpool(x, sec: Section, index: int, build: _Build):
    k, stride = sec.get("size", 2, int), sec.get("stride", 1, int)
    padding = sec.get("padding", k - 1, int)
    h = int(x.shape[1])
    if (h + padding - k) // stride + 1 != -(-h // stride):
        raise DarknetError(f"[maxpool] at line {sec.line}: size={k} stride={stride} padding={padding} "
                           "gives an output size Keras cannot reproduce.")
    x = import_keras().layers.MaxPooling2D(k, strides=stride, padding="same", name=f"{index:03d}_maxpool")(x)
    return x, f"{k}x{k}/{stride}", 0


def _layer_before(sec: Section, index: int, ref: int, build: _Build):
    """The output of darknet layer ``ref`` (negative: relative to ``index``)."""
    j = index + ref if ref < 0 else ref
    if not 0 <= j < index:
        raise DarknetError(f"[{sec.kind}] at line {sec.line}: layer {ref} does not exist before layer {index}.")
    return build.outputs[j], j


def _route(x, sec: Section, index: int, build: _Build):
    layers = import_keras().layers
    refs = sec.ints("layers")
    if not refs:
        raise DarknetError(f"[route] at line {sec.line} has no layers=.")
    picked = [_layer_before(sec, index, r, build)[0] for r in refs]
    groups, group_id = sec.get("groups", 1, int), sec.get("group_id", 0, int)
    if groups > 1:  # YOLOv4-tiny: keep channel group ``group_id`` of ``groups``
        picked = [layers.Lambda(lambda t, g=groups, i=group_id: t[..., (t.shape[-1] // g) * i:(t.shape[-1] // g) * (i + 1)],
                                name=f"{index:03d}_group{m}")(p) for m, p in enumerate(picked)]
    x = picked[0] if len(picked) == 1 else layers.Concatenate(name=f"{index:03d}_route")(picked)
    return x, "layers " + ",".join(str(index + r if r < 0 else r) for r in refs), 0


def _shortcut(x, sec: Section, index: int, build: _Build):
    other, j = _layer_before(sec, index, sec.get("from", -3, int), build)
    x = import_keras().layers.Add(name=f"{index:03d}_shortcut")([x, other])
    return _activation(x, sec.get("activation", "linear"), f"{index:03d}", sec), f"from {j}", 0


def _upsample(x, sec: Section, index: int, build: _Build):
    s = sec.get("stride", 2, int)
    return import_keras().layers.UpSampling2D(s, interpolation="nearest", name=f"{index:03d}_upsample")(x), f"x{s}", 0


def _reorg(x, sec: Section, index: int, build: _Build):
    s = sec.get("stride", 2, int)
    return _reorg_layer()(s, name=f"{index:03d}_reorg")(x), f"/{s} (darknet order)", 0


def _dropout(x, sec: Section, index: int, build: _Build):
    return x, "identity at inference", 0


def _head(x, sec: Section, index: int, build: _Build):
    """[yolo] (v3: anchors in input pixels, a mask picks this scale's) or [region] (v2: grid cells)."""
    classes = sec.get("classes", 20, int)
    anchors = np.array(sec.floats("anchors"), np.float32).reshape(-1, 2)
    if sec.kind == "yolo":
        mask = sec.ints("mask", ",".join(str(i) for i in range(len(anchors))))
        head = Head(anchors[mask] / build.size, classes, "v3")
    else:
        head = Head(anchors[: sec.get("num", len(anchors), int)] / int(x.shape[1]), classes, "v2")
    expected = head.boxes_per_cell * (5 + classes)
    if int(x.shape[-1]) != expected:
        raise DarknetError(f"[{sec.kind}] at line {sec.line}: the layer before has {x.shape[-1]} channels, "
                           f"the head needs {head.boxes_per_cell} x (5 + {classes}) = {expected}.")
    build.heads.append(head)
    build.kinds.add(head.kind)
    build.head_outputs.append(x)
    return x, f"{head.boxes_per_cell} anchors, {classes} classes", 0


def _local_layer():
    keras = import_keras()

    class DarknetLocal(keras.layers.Layer):
        """Locally connected 2-D layer (darknet [local]; Keras 3 has no LocallyConnected2D): a
        convolution whose weights are *not* shared, each output position (i, j) has its own
        (size*size*C, filters) kernel and its own bias. Computed as patches x per-position kernels.

        kernel: (out_h * out_w, size * size * C, filters), patch order (dy, dx, c) as
        tf.image.extract_patches gives it; bias: (out_h, out_w, filters). Input is padded beforehand."""

        def __init__(self, filters: int, size: int, stride: int = 1, kernel_initializer="glorot_uniform", **kwargs):
            super().__init__(**kwargs)
            self.filters, self.size, self.stride = filters, size, stride
            self.kernel_initializer = keras.initializers.get(kernel_initializer)

        def output_hw(self, h: int, w: int) -> tuple[int, int]:
            return (h - self.size) // self.stride + 1, (w - self.size) // self.stride + 1

        def build(self, input_shape):
            _, h, w, c = input_shape
            oh, ow = self.output_hw(int(h), int(w))
            if oh < 1 or ow < 1:
                raise DarknetError(f"A {self.size}x{self.size} local layer does not fit a {h}x{w} input.")
            self.kernel = self.add_weight(shape=(oh * ow, self.size * self.size * int(c), self.filters),
                                          initializer=self.kernel_initializer, name="kernel")
            self.bias = self.add_weight(shape=(oh, ow, self.filters), initializer="zeros", name="bias")

        def call(self, x):
            tf = import_tensorflow()
            k, s = self.size, self.stride
            patches = tf.image.extract_patches(x, [1, k, k, 1], [1, s, s, 1], [1, 1, 1, 1], "VALID")
            n, oh, ow = tf.shape(patches)[0], patches.shape[1], patches.shape[2]
            flat = tf.reshape(patches, [n, oh * ow, patches.shape[3]])
            out = tf.einsum("nlk,lkf->nlf", flat, self.kernel)  # one matrix product per position
            return tf.reshape(out, [n, oh, ow, self.filters]) + self.bias

        def compute_output_shape(self, input_shape):
            n, h, w, _ = input_shape
            return (n, *self.output_hw(h, w), self.filters)

        def get_config(self):
            return {**super().get_config(), "filters": self.filters, "size": self.size, "stride": self.stride}

    return DarknetLocal


def _local(x, sec: Section, index: int, build: _Build):
    """darknet [local]: out = (in + 2*pad - size) / stride + 1 with pad = size // 2 when pad=1."""
    layers = import_keras().layers
    prefix = f"{index:03d}"
    filters, k, stride = sec.get("filters", 1, int), sec.get("size", 1, int), sec.get("stride", 1, int)
    pad = k // 2 if sec.get("pad", 0, int) else 0
    if pad:
        x = layers.ZeroPadding2D(pad, name=f"{prefix}_pad")(x)
    layer = _local_layer()(filters, k, stride, name=f"{prefix}_local")
    x = layer(x)
    activation = sec.get("activation", "logistic")
    x = _activation(x, activation, prefix, sec)
    build.weighted.append(("local", layer, None))
    oh, ow = int(x.shape[1]), int(x.shape[2])
    return x, f"{filters} {k}x{k}/{stride} unshared x {oh * ow} positions {activation}", int(layer.count_params())


def _connected(x, sec: Section, index: int, build: _Build):
    """darknet [connected]: a dense layer on the input flattened in darknet's (C, H, W) order, so the
    weights file's (outputs, inputs) matrix applies as it is (transposed for Keras)."""
    layers = import_keras().layers
    prefix = f"{index:03d}"
    if sec.get("batch_normalize", 0, int):
        raise DarknetError(f"[connected] at line {sec.line}: batch_normalize is not supported on a connected layer.")
    if len(x.shape) == 4:
        x = layers.Flatten(name=f"{prefix}_flatten")(layers.Permute((3, 1, 2), name=f"{prefix}_chw")(x))
    outputs = sec.get("output", 1, int)
    dense = layers.Dense(outputs, name=f"{prefix}_connected")
    x = dense(x)
    activation = sec.get("activation", "logistic")
    x = _activation(x, activation, prefix, sec)
    build.weighted.append(("connected", dense, None))
    return x, f"{int(dense.kernel.shape[0])} -> {outputs} {activation}", int(dense.count_params())


def detection_index(side: int, boxes: int, classes: int) -> np.ndarray:
    """The v1 [detection] layer's flat input is laid out by darknet as all cells' classes
    (S*S*C), then all cells' box confidences (S*S*B), then all cells' boxes (S*S*B*4); this index
    gathers it into one vector per cell: B x (x, y, w, h, confidence), then the cell's C classes,
    so that out[(row * S + col) * (B*5 + C) + j] = flat[index[...]]."""
    cells = side * side
    index = np.empty((cells, boxes * 5 + classes), np.int64)
    for i in range(cells):
        for b in range(boxes):
            index[i, b * 5:b * 5 + 4] = cells * (classes + boxes) + (i * boxes + b) * 4 + np.arange(4)
            index[i, b * 5 + 4] = cells * classes + i * boxes + b
        index[i, boxes * 5:] = i * classes + np.arange(classes)
    return index.ravel()


def _detection(x, sec: Section, index: int, build: _Build):
    """YOLO v1's head: S x S cells, each with B boxes (x, y in the cell, sqrt w, sqrt h of the image
    when sqrt=1, confidence) and ONE class distribution Pr(class | object) shared by its B boxes."""
    keras = import_keras()
    side, boxes = sec.get("side", 7, int), sec.get("num", 2, int)
    classes, coords = sec.get("classes", 20, int), sec.get("coords", 4, int)
    if coords != 4:
        raise DarknetError(f"[detection] at line {sec.line}: coords={coords}; only 4 is supported.")
    flat = int(np.prod(x.shape[1:]))
    expected = side * side * (boxes * 5 + classes)
    if flat != expected:
        raise DarknetError(f"[detection] at line {sec.line}: the layer before has {flat} outputs, the head needs "
                           f"side x side x (num*5 + classes) = {side} x {side} x ({boxes}*5 + {classes}) = {expected}.")
    order = detection_index(side, boxes, classes)
    x = keras.layers.Reshape((flat,), name=f"{index:03d}_flat")(x)
    x = keras.layers.Lambda(lambda t: import_tensorflow().gather(t, order, axis=1), name=f"{index:03d}_cells",
                            output_shape=(flat,))(x)
    x = keras.layers.Reshape((side, side, boxes * 5 + classes), name=f"{index:03d}_detection")(x)
    head = Head(np.zeros((boxes, 2), np.float32), classes, "v1")  # v1 has no anchors: B free predictors per cell
    build.heads.append(head)
    build.kinds.add("v1")
    build.head_outputs.append(x)
    return x, f"{side}x{side} cells, {boxes} boxes + 1 class distribution ({classes}) each", 0


SECTION_HANDLERS = {"convolutional": _convolutional, "maxpool": _maxpool, "route": _route, "shortcut": _shortcut,
                    "upsample": _upsample, "reorg": _reorg, "dropout": _dropout, "yolo": _head, "region": _head,
                    "local": _local, "connected": _connected, "detection": _detection}


def fixes_input_size(sections: list[Section]) -> bool:
    """A [connected] or [local] layer has weights per input position: the cfg's own size is the only one."""
    return any(sec.kind in ("connected", "local") for sec in sections)


def default_size(cfg: str | Path, fallback: int = 416) -> int:
    """The input size to build ``cfg`` at when none is asked for: its own width when a layer fixes
    it (YOLO v1: 448), else ``fallback`` (the dashboard's 416)."""
    path = Path(cfg)
    sections = read_cfg(path if path.exists() else bundled_cfg(str(cfg)))
    return sections[0].get("width", fallback, int) if fixes_input_size(sections) else fallback


def build_model(sections: list[Section], size: int | None = None) -> DarknetModel:
    """A Keras functional model for the cfg at input ``size`` (default: the cfg's width): each section
    goes to its handler in :data:`SECTION_HANDLERS`, which returns (output, detail, parameters)."""
    keras = import_keras()
    net = sections[0]
    size = int(size or net.get("width", 416, int))
    if size % 32:
        raise DarknetError(f"The input size must be a multiple of 32 (the network's total stride), got {size}.")
    own = net.get("width", size, int)
    if fixes_input_size(sections) and size != own:
        raise DarknetError(f"This cfg has a [connected]/[local] layer, whose weights fix the input at {own} "
                           f"pixels; got {size}.")
    inputs = keras.Input((size, size, net.get("channels", 3, int)), name="image")
    build, infos, x = _Build(size), [], inputs
    for index, sec in enumerate(sections[1:]):
        handler = SECTION_HANDLERS.get(sec.kind)
        if handler is None:
            raise DarknetError(f"[{sec.kind}] at line {sec.line} is not supported (supported: "
                               f"{', '.join(SECTION_HANDLERS)}).")
        x, detail, params = handler(x, sec, index, build)
        build.outputs.append(x)
        infos.append(LayerInfo(index, sec.kind, tuple(int(d) for d in x.shape[1:]), params, detail))
    if not build.heads:
        raise DarknetError("The cfg has no [yolo], [region] or [detection] head.")
    if len(build.kinds) > 1:
        raise DarknetError("The cfg mixes [yolo], [region] and [detection] heads.")
    model = keras.Model(inputs, build.head_outputs, name="darknet")
    return DarknetModel(model, build.heads, size, infos, build.convs, build.heads[0].n_classes, build.kinds.pop(),
                        weighted=build.weighted)


# ----------------------------------------------------------------------------- weights


def read_header(data: bytes) -> tuple[tuple[int, int, int, int], int]:
    """(major, minor, revision, seen) and the header length in bytes."""
    if len(data) < 16:
        raise DarknetError(f"The weights file is {len(data)} bytes: too short for a darknet header.")
    major, minor, revision = (int(v) for v in np.frombuffer(data[:12], "<i4"))
    if (major * 10 + minor) >= 2 and major < 1000 and minor < 1000:
        if len(data) < 20:
            raise DarknetError("The weights file ends inside its header.")
        return (major, minor, revision, int(np.frombuffer(data[12:20], "<i8")[0])), HEADER_BYTES
    return (major, minor, revision, int(np.frombuffer(data[12:16], "<i4")[0])), 16


def load_weights(net: DarknetModel, data: bytes) -> dict:
    """Fill every convolution (and its batch norm) from darknet weights bytes; exact size required."""
    header, offset = read_header(data)
    need = net.expected_floats() * 4
    have = len(data) - offset
    if have < need:
        raise DarknetError(f"The weights file is too short: the cfg's {len(net.weighted)} weighted layers need "
                           f"{need + offset:,} bytes, the file has {len(data):,} ({need - have:,} missing). "
                           "Is it the weights file for this cfg, and completely downloaded?")
    if have > need:
        raise DarknetError(f"The weights file has {have - need:,} bytes left over after the cfg's "
                           f"{len(net.weighted)} weighted layers ({need + offset:,} of {len(data):,} bytes used): "
                           "it belongs to a different cfg.")
    floats = np.frombuffer(data, "<f4", offset=offset)
    pos = 0

    def take(n):
        nonlocal pos
        out = floats[pos:pos + n]
        pos += n
        return out

    for kind, layer, bn in net.weighted:
        if kind == "local":
            locations, patch, filters = (int(d) for d in layer.kernel.shape)
            oh, ow = (int(d) for d in layer.bias.shape[:2])
            k = layer.size
            bias = take(filters * oh * ow).reshape(filters, oh, ow).transpose(1, 2, 0)
            kernel = take(locations * filters * patch).reshape(locations, filters, patch // (k * k), k, k)
            layer.set_weights([kernel.transpose(0, 3, 4, 2, 1).reshape(locations, patch, filters), bias])
            continue
        if kind == "connected":
            n_in, n_out = (int(d) for d in layer.kernel.shape)
            bias = take(n_out)
            layer.set_weights([take(n_out * n_in).reshape(n_out, n_in).T, bias])
            continue
        conv = layer
        filters = conv.filters
        if bn is not None:
            beta, gamma, mean, var = take(filters), take(filters), take(filters), take(filters)
        else:
            bias = take(filters)
        kh, kw, cin, _ = conv.kernel.shape
        kernel = take(filters * cin * kh * kw).reshape(filters, cin, kh, kw).transpose(2, 3, 1, 0)
        if bn is not None:
            conv.set_weights([kernel])
            bn.set_weights([gamma, beta, mean, var])
        else:
            conv.set_weights([kernel, bias])
    report = {"header": {"major": header[0], "minor": header[1], "revision": header[2], "seen": header[3]},
              "weights_bytes_used": offset + pos * 4, "weights_bytes_total": len(data)}
    net.weights_report = report
    return report


def write_weights(net: DarknetModel, values: np.ndarray | None = None, header=(0, 2, 0, 0)) -> bytes:
    """A darknet weights file for ``net``: ``values`` (float32, cfg order) or the pattern
    0, 1, 2, ... scaled by 1e-6 (every number distinct, so a mix-up shows). For tests and demos."""
    n = net.expected_floats()
    values = np.arange(n, dtype=np.float64) * 1e-6 if values is None else np.asarray(values)
    if values.size != n:
        raise DarknetError(f"Need {n} floats, got {values.size}.")
    major, minor, revision, seen = header
    head = np.array([major, minor, revision], "<i4").tobytes()
    head += np.array([seen], "<i8" if (major * 10 + minor) >= 2 else "<i4").tobytes()
    return head + values.astype("<f4").tobytes()


def summary(net: DarknetModel) -> dict:
    """What a cfg implies, without the model: output grid per head, boxes, parameters, weights-file
    bytes and the layer table (plain numbers, cheap to cache and to send)."""
    return {"size": net.size, "kind": net.kind, "classes": net.n_classes, "boxes": net.boxes_per_image,
            "output_grid": [list(s[1:]) for s in net.output_shapes], "boxes_per_cell": net.heads[0].boxes_per_cell,
            "params": net.params, "weights_bytes": net.weights_bytes(),
            "layers": [{"layer": i.index, "type": i.kind, "detail": i.detail,
                        "output": " x ".join(map(str, i.output_shape)), "params": i.params} for i in net.layers]}


def load_darknet(cfg: str | Path, weights: str | Path | bytes | None = None, size: int | None = None) -> DarknetModel:
    """Parse, build and (optionally) load weights. ``cfg``: a path or a bundled name like 'yolov3'."""
    path = Path(cfg)
    if not path.exists():
        path = bundled_cfg(str(cfg))
    net = build_model(read_cfg(path), size)
    if weights is not None:
        if isinstance(weights, bytes):
            data = weights
        else:
            from core.userfiles import NotARegularFile, read_regular

            try:  # /dev/zero or a FIFO: refused before a byte is read
                data = read_regular(weights, "a darknet .weights file")
            except NotARegularFile as exc:
                raise DarknetError(str(exc)) from None
        load_weights(net, data)
    return net
