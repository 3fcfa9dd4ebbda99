"""Darknet cfg + weights -> Keras: shapes, parameter counts, byte-exact weights, darknet's reorg."""

from __future__ import annotations

import json

import numpy as np
import pytest

import core  # noqa: F401
from core.detection import darknet as D
from tests.core.test_cli import run

TINY_V4_LIKE = """
[net]
width=64
height=64
channels=3
[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=mish
[convolutional]
filters=8
size=3
stride=1
pad=1
activation=leaky
[route]
layers=-1
groups=2
group_id=1
[convolutional]
batch_normalize=1
filters=4
size=1
stride=1
pad=1
activation=linear
[route]
layers = -1,-2
[shortcut]
from=-5
activation=linear
[maxpool]
size=2
stride=1
[reorg]
stride=2
[convolutional]
filters=21
size=1
stride=1
pad=1
activation=linear
[yolo]
mask = 0,1,2
anchors = 10,14,  23,27,  37,58
classes=2
num=3
"""


def test_published_cfgs_build_with_the_right_heads():
    v3 = D.load_darknet("yolov3", size=416)
    assert v3.output_shapes == [(1, 13, 13, 255), (1, 26, 26, 255), (1, 52, 52, 255)]
    assert sum(3 * s[1] * s[2] for s in v3.output_shapes) == 10_647
    # the real yolov3.weights is 248,007,048 bytes: header 20 + 4 bytes per parameter
    assert 20 + 4 * v3.expected_floats() == 248_007_048 and v3.params == v3.expected_floats()
    tiny = D.load_darknet("yolov3-tiny", size=416)
    assert tiny.output_shapes == [(1, 13, 13, 255), (1, 26, 26, 255)]
    assert 20 + 4 * tiny.expected_floats() == 35_434_956
    voc = D.load_darknet("yolov2-voc", size=416)
    assert voc.output_shapes == [(1, 13, 13, 125)] and voc.kind == "v2"
    assert voc.heads[0].anchors[0] == pytest.approx(np.array([1.3221, 1.73145]) / 13)
    assert tiny.heads[0].anchors[0] == pytest.approx(np.array([81, 82]) / 416)  # mask 3,4,5


@pytest.mark.parametrize("name", ["yolov3-tiny", "yolov2-voc", "yolov3"])
def test_weights_land_exactly_where_darknet_puts_them(name):
    net = D.load_darknet(name, size=416)
    values = np.arange(net.expected_floats(), dtype=np.float32) * np.float32(1e-6)
    data = D.write_weights(net, values)
    report = D.load_weights(net, data)
    assert report["weights_bytes_used"] == report["weights_bytes_total"] == len(data)
    pos = 0
    for conv, bn in net.conv_layers:  # walk the file the way darknet reads it
        f = conv.filters
        kh, kw, cin, _ = conv.kernel.shape
        if bn is not None:
            beta, gamma, mean, var = (values[pos + i * f: pos + (i + 1) * f] for i in range(4))
            pos += 4 * f
            assert np.array_equal(bn.beta.numpy(), beta) and np.array_equal(bn.gamma.numpy(), gamma)
            assert np.array_equal(bn.moving_mean.numpy(), mean) and np.array_equal(bn.moving_variance.numpy(), var)
        else:
            assert np.array_equal(conv.bias.numpy(), values[pos:pos + f])
            pos += f
        n = f * cin * kh * kw
        kernel = conv.kernel.numpy()
        block = values[pos:pos + n].reshape(f, cin, kh, kw)
        pos += n
        for o, i, y, x in ((0, 0, 0, 0), (f - 1, cin - 1, kh - 1, kw - 1), (f // 2, cin // 3, kh // 2, 0)):
            assert kernel[y, x, i, o] == block[o, i, y, x]
    assert pos == len(values)


def test_short_and_long_weight_files_are_refused():
    net = D.load_darknet("yolov3-tiny", size=416)
    data = D.write_weights(net)
    with pytest.raises(D.DarknetError, match="too short"):
        D.load_weights(net, data[:-4])
    with pytest.raises(D.DarknetError, match="left over"):
        D.load_weights(net, data + b"\0" * 8)
    old = D.write_weights(net, header=(0, 1, 0, 7))  # version 0.1: 'seen' is an int32
    assert len(old) == len(data) - 4
    assert D.load_weights(net, old)["header"]["seen"] == 7


def test_groups_mish_shortcut_reorg_and_stride_one_pool():
    net = D.build_model(D.parse_cfg(TINY_V4_LIKE))
    kinds = [i.kind for i in net.layers]
    assert kinds[:3] == ["convolutional", "convolutional", "route"]
    assert net.layers[2].output_shape == (32, 32, 4)  # group 1 of 2
    assert net.layers[4].output_shape == (32, 32, 8)
    assert net.layers[6].output_shape == (32, 32, 8)  # stride-1 size-2 maxpool keeps the size
    assert net.layers[7].output_shape == (16, 16, 32)
    assert net.output_shapes == [(1, 16, 16, 21)]
    D.load_weights(net, D.write_weights(net))


def test_reorg_matches_darknets_loop():
    c, h, w, s = 8, 4, 6, 2
    x = np.arange(c * h * w, dtype=np.float32)
    out = np.empty_like(x)
    out_c = c // (s * s)
    for k in range(c):  # darknet src/blas.c reorg_cpu(x, w, h, c, batch=1, stride, forward=0, out)
        for j in range(h):
            for i in range(w):
                in_index = i + w * (j + h * k)
                c2, offset = k % out_c, k // out_c
                w2, h2 = i * s + offset % s, j * s + offset // s
                out[in_index] = x[w2 + w * s * (h2 + h * s * c2)]
    assert np.array_equal(x[D.reorg_index(c, h, w, s)], out)
    layer = D._reorg_layer()(s)
    nhwc = x.reshape(c, h, w).transpose(1, 2, 0)[None]
    got = np.asarray(layer(nhwc))
    assert got.shape == (1, h // s, w // s, c * s * s)
    assert np.array_equal(got[0].transpose(2, 0, 1).ravel(), out)


def test_bad_cfgs_get_a_sentence():
    with pytest.raises(D.DarknetError, match="starts with a \\[net\\]"):
        D.parse_cfg("[convolutional]\nfilters=3")
    with pytest.raises(D.DarknetError, match="not supported"):
        D.build_model(D.parse_cfg("[net]\nwidth=64\nheight=64\n[crop]\ncrop_width=10"))
    with pytest.raises(D.DarknetError, match="no \\[yolo\\]"):
        D.build_model(D.parse_cfg("[net]\nwidth=64\nheight=64\n[convolutional]\nfilters=4\nsize=1"))
    with pytest.raises(D.DarknetError, match="fix the input at 64"):
        D.build_model(D.parse_cfg(TINY_V1_LIKE), size=96)
    with pytest.raises(D.DarknetError, match="the head needs"):
        D.build_model(D.parse_cfg(TINY_V1_LIKE.replace("output=52", "output=50")))
    with pytest.raises(D.DarknetError, match="multiple of 32"):
        D.load_darknet("yolov3-tiny", size=100)


def test_cli_darknet_summary(tmp_path):
    net = D.load_darknet("yolov3-tiny", size=416)
    (tmp_path / "ok.weights").write_bytes(D.write_weights(net))
    payload = json.loads(run("darknet-summary", "--cfg", "assets/darknet/yolov3-tiny.cfg", "--weights",
                             str(tmp_path / "ok.weights"), "--size", "416", "--json").stdout)
    assert payload["outputs"] == [[1, 13, 13, 255], [1, 26, 26, 255]]
    assert payload["weights_bytes_used"] == payload["weights_bytes_total"] == 35_434_956
    assert payload["params"] == 8_858_734
    (tmp_path / "short.weights").write_bytes(D.write_weights(net)[:-100])
    bad = run("darknet-summary", "--cfg", "yolov3-tiny", "--weights", str(tmp_path / "short.weights"), "--json",
              check=False)
    assert bad.returncode != 0 and "too short" in bad.stderr


# ----------------------------------------------------------------------------- YOLO v1: [local], [connected], [detection]

TINY_V1_LIKE = """
[net]
width=64
height=64
channels=3
[maxpool]
size=32
stride=32
[local]
size=3
stride=1
pad=1
filters=3
activation=linear
[dropout]
probability=.5
[connected]
output=52
activation=linear
[detection]
classes=3
coords=4
side=2
num=2
"""


def _local_by_loop(x, kernel, bias, size, stride):
    """Locally connected layer, written as the definition: every output position (i, j) has its own
    weights kernel[i * out_w + j] over the (dy, dx, c) patch it sees."""
    h, w, c = x.shape
    oh, ow = (h - size) // stride + 1, (w - size) // stride + 1
    out = np.zeros((oh, ow, kernel.shape[-1]))
    for i in range(oh):
        for j in range(ow):
            for dy in range(size):
                for dx in range(size):
                    for ch in range(c):
                        out[i, j] += x[i * stride + dy, j * stride + dx, ch] * kernel[i * ow + j, (dy * size + dx) * c + ch]
            out[i, j] += bias[i, j]
    return out


@pytest.mark.parametrize("stride", [1, 2])
def test_local_layer_matches_a_direct_loop_and_does_not_share_weights(stride):
    rng = np.random.default_rng(stride)
    x = rng.normal(size=(1, 5, 6, 2)).astype(np.float32)
    layer = D._local_layer()(4, 3, stride)
    out = np.asarray(layer(x))
    oh, ow = (5 - 3) // stride + 1, (6 - 3) // stride + 1
    assert out.shape == (1, oh, ow, 4) and layer.kernel.shape == (oh * ow, 18, 4)
    kernel = rng.normal(size=(oh * ow, 18, 4)).astype(np.float32)
    bias = rng.normal(size=(oh, ow, 4)).astype(np.float32)
    layer.set_weights([kernel, bias])
    np.testing.assert_allclose(np.asarray(layer(x))[0], _local_by_loop(x[0], kernel, bias, 3, stride), atol=1e-5)
    # unshared: the same input patch at two positions gives different outputs, unlike a convolution
    same = np.tile(x[:, :3, :3], (1, 2, 2, 1))[:, :5, :6]
    got = np.asarray(layer(same))[0]
    shared = np.repeat(kernel[:1], oh * ow, axis=0)
    layer.set_weights([shared, np.zeros_like(bias)])
    conv = np.asarray(import_tf().nn.conv2d(x, kernel[0].reshape(3, 3, 2, 4), stride, "VALID"))
    np.testing.assert_allclose(np.asarray(layer(x)), conv, atol=1e-5)  # all positions equal = a convolution
    if stride == 1:
        assert not np.allclose(got[0, 0] - bias[0, 0], got[0, 3] - bias[0, 3], atol=1e-3)


def import_tf():
    from core.device import import_tensorflow

    return import_tensorflow()


def test_v1_head_and_weights_follow_darknets_own_forward_pass():
    """[local] -> [connected] -> [detection] loaded from a weights file, against darknet's forward
    pass on (C, H, W) buffers written out from its source (local_layer.c, connected_layer.c,
    detection_layer.c), reading the same flat floats."""
    net = D.build_model(D.parse_cfg(TINY_V1_LIKE))
    assert net.kind == "v1" and net.output_shapes == [(1, 2, 2, 13)] and net.boxes_per_image == 2 * 2 * 2
    assert [i.kind for i in net.layers] == ["maxpool", "local", "dropout", "connected", "detection"]
    local_params = 2 * 2 * 3 * (3 * 3 * 3) + 2 * 2 * 3  # per position: its own 3x3x3 kernel per filter, a bias
    connected_params = 12 * 52 + 52
    assert [i.params for i in net.layers] == [0, local_params, 0, connected_params, 0]
    assert net.expected_floats() == local_params + connected_params
    summary = D.summary(net)  # what the YOLO page shows for yolov1.cfg
    assert summary["output_grid"] == [[2, 2, 13]] and summary["params"] == local_params + connected_params
    assert summary["weights_bytes"] == 20 + 4 * summary["params"] and len(summary["layers"]) == 5
    rng = np.random.default_rng(0)
    values = rng.normal(size=net.expected_floats()).astype(np.float32)
    D.load_weights(net, D.write_weights(net, values))
    image = rng.uniform(size=(1, 64, 64, 3)).astype(np.float32)
    got = np.asarray(net.model(image))[0]

    x = image[0].reshape(2, 32, 2, 32, 3).max(axis=(1, 3)).transpose(2, 0, 1)  # maxpool, to (C, H, W)
    c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    pos = 0
    biases = values[pos:pos + 3 * h * w].reshape(3, h * w)
    pos += 3 * h * w
    local = np.zeros((3, h * w))
    for j in range(h * w):  # darknet: one gemm per location, weights (n, c*size*size), im2col rows (c, ky, kx)
        col = padded[:, j // w:j // w + 3, j % w:j % w + 3].reshape(-1)
        weights = values[pos:pos + 3 * c * 9].reshape(3, c * 9)
        pos += 3 * c * 9
        local[:, j] = weights @ col + biases[:, j]
    flat = local.reshape(-1)  # (C, H, W) order, as darknet hands it to the connected layer
    bias = values[pos:pos + 52]
    pos += 52
    fc = values[pos:pos + 52 * 12].reshape(52, 12) @ flat + bias
    pos += 52 * 12
    assert pos == len(values)
    side, boxes, classes = 2, 2, 3
    for row in range(side):
        for col in range(side):
            i = row * side + col
            cell = got[row, col]
            np.testing.assert_allclose(cell[boxes * 5:], fc[i * classes:(i + 1) * classes], rtol=1e-4, atol=1e-4)
            for b in range(boxes):
                conf = fc[side * side * classes + i * boxes + b]
                xywh = fc[side * side * (classes + boxes) + (i * boxes + b) * 4:][:4]
                np.testing.assert_allclose(cell[b * 5:b * 5 + 5], [*xywh, conf], rtol=1e-4, atol=1e-4)


def test_cli_yolov1_summary_reports_the_slides_tensor():
    payload = json.loads(run("darknet-summary", "--cfg", "yolov1", "--json").stdout)
    sections = D.read_cfg(D.bundled_cfg("yolov1"))
    head = next(s for s in sections if s.kind == "detection")
    side, b, c = head.get("side", cast=int), head.get("num", cast=int), head.get("classes", cast=int)
    assert (side, b, c) == (7, 3, 20)  # the shipped cfg: B = 3 (the paper's B = 2 gives 7 x 7 x 30)
    assert payload["size"] == 448 and payload["kind"] == "v1"
    assert payload["output_grid"] == [[side, side, b * 5 + c]] and payload["outputs"] == [[1, 7, 7, 35]]
    assert payload["boxes"] == side * side * b and payload["boxes_per_cell"] == b
    layers = {layer["type"]: layer for layer in payload["layers"]}
    assert layers["local"]["params"] == 7 * 7 * 256 * (3 * 3 * 1024) + 7 * 7 * 256
    assert layers["connected"]["params"] == (7 * 7 * 256) * 1715 + 1715
    assert payload["params"] == sum(layer["params"] for layer in payload["layers"])
    assert payload["weights_bytes"] == payload["weights_bytes_expected"] == 20 + 4 * payload["params"]
    readme = " ".join((D.CFG_DIR.parents[1] / "README.md").read_text(encoding="utf-8").split())
    assert f"{payload['params']:,} parameters, a {payload['weights_bytes']:,}-byte weights file" in readme
