"""Darknet -> Keras: parse a .cfg, build the functional model, load a .weights file.

OpenCV 5 dropped its Darknet reader; building the network ourselves also makes every layer of a
YOLO inspectable in class. Supported sections: [net], [convolutional] (batch_normalize; leaky,
linear, mish, relu, logistic; groups), [maxpool] (incl. stride-1 size-2), [route] (one or more
layers, negative = relative; groups/group_id as in YOLOv4-tiny), [shortcut], [upsample], [reorg]
(darknet's own channel order), [dropout], [yolo] (v3/v4) and [region] (v2) heads.

Weights file: int32 major, minor, revision; then ``seen`` as int64 when major*10 + minor >= 2 (and
both < 1000), else int32; then float32 per convolution, in cfg order: with batch norm beta, gamma,
rolling mean, rolling variance (filters each), else the biases; then the kernel in (out, in, h, w)
order, which becomes Keras's (h, w, in, out).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.detection.yolo import Head, boxes_per_image, raw_outputs
from core.device import import_keras, import_tensorflow

CFG_DIR = Path(__file__).resolve().parents[2] / "assets" / "darknet"
BN_EPSILON = 1e-6  # darknet normalises with sqrt(var) + .000001
HEADER_BYTES = 20  # major, minor, revision (int32) and seen (int64): every weights file since darknet 0.2


class DarknetError(ValueError):
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


def read_cfg(path: str | Path) -> list[Section]:
    return parse_cfg(Path(path).read_text(encoding="utf-8", errors="replace"))


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
    kind: str  # "v2" or "v3"
    weights_report: dict = field(default_factory=dict)

    @property
    def output_shapes(self) -> list[tuple]:
        return [tuple(int(d) if d is not None else 1 for d in out.shape) for out in self.model.outputs]

    @property
    def params(self) -> int:
        return int(self.model.count_params())

    def expected_floats(self) -> int:
        return sum(int(np.prod(conv.kernel.shape)) + (4 if bn is not None else 1) * conv.filters
                   for conv, bn in self.conv_layers)

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


SECTION_HANDLERS = {"convolutional": _convolutional, "maxpool": _maxpool, "route": _route, "shortcut": _shortcut,
                    "upsample": _upsample, "reorg": _reorg, "dropout": _dropout, "yolo": _head, "region": _head}


def build_model(sections: list[Section], size: int | None = None) -> DarknetModel:
    """A Keras functional model for the cfg at input ``size`` (default: the cfg's width): each section
    goes to its handler in :data:`SECTION_HANDLERS`, which returns (output, detail, parameters)."""
    keras = import_keras()
    net = sections[0]
    size = int(size or net.get("width", 416, int))
    if size % 32:
        raise DarknetError(f"The input size must be a multiple of 32 (the network's total stride), got {size}.")
    inputs = keras.Input((size, size, net.get("channels", 3, int)), name="image")
    build, infos, x = _Build(size), [], inputs
    for index, sec in enumerate(sections[1:]):
        handler = SECTION_HANDLERS.get(sec.kind)
        if handler is None:
            raise DarknetError(f"[{sec.kind}] at line {sec.line} is not supported (supported: "
                               f"{', '.join(SECTION_HANDLERS)}; YOLOv1's [connected]/[detection] head is not).")
        x, detail, params = handler(x, sec, index, build)
        build.outputs.append(x)
        infos.append(LayerInfo(index, sec.kind, tuple(int(d) for d in x.shape[1:]), params, detail))
    if not build.heads:
        raise DarknetError("The cfg has no [yolo] or [region] head.")
    if len(build.kinds) > 1:
        raise DarknetError("The cfg mixes [yolo] and [region] heads.")
    model = keras.Model(inputs, build.head_outputs, name="darknet")
    return DarknetModel(model, build.heads, size, infos, build.convs, build.heads[0].n_classes, build.kinds.pop())


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
        raise DarknetError(f"The weights file is too short: the cfg's {len(net.conv_layers)} convolutions need "
                           f"{need + offset:,} bytes, the file has {len(data):,} ({need - have:,} missing). "
                           "Is it the weights file for this cfg, and completely downloaded?")
    if have > need:
        raise DarknetError(f"The weights file has {have - need:,} bytes left over after the cfg's "
                           f"{len(net.conv_layers)} convolutions ({need + offset:,} of {len(data):,} bytes used): "
                           "it belongs to a different cfg.")
    floats = np.frombuffer(data, "<f4", offset=offset)
    pos = 0

    def take(n):
        nonlocal pos
        out = floats[pos:pos + n]
        pos += n
        return out

    for conv, bn in net.conv_layers:
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


def load_darknet(cfg: str | Path, weights: str | Path | bytes | None = None, size: int | None = None) -> DarknetModel:
    """Parse, build and (optionally) load weights. ``cfg``: a path or a bundled name like 'yolov3'."""
    path = Path(cfg)
    if not path.exists():
        path = bundled_cfg(str(cfg))
    net = build_model(read_cfg(path), size)
    if weights is not None:
        data = weights if isinstance(weights, bytes) else Path(weights).read_bytes()
        load_weights(net, data)
    return net
