"""EfficientNet-Lite0 offline: the torch-free legacy .pth reader, the conversion to Keras, the predictions.

The reader is checked against files written by our own legacy writer (strided views included) and
against hostile or damaged files; the converted network against the pinned state dict tensor by
tensor, its input scaling against the weights' own batch-norm statistics, and its predictions on
sample photos whose ImageNet class is not in doubt.
"""

from __future__ import annotations

import json
import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import core  # noqa: F401  (TensorFlow environment first)
from core.assets import AssetManager
from core.images import resize, sample_image
from core.vision import efficientnet as E
from core.vision.torch_legacy import (
    MAGIC_NUMBER,
    PROTOCOL_VERSION,
    ForbiddenGlobal,
    LegacyFormatError,
    StridedTensor,
    load_legacy,
    save_legacy,
)
from tests.helpers import sha256

# ----------------------------------------------------------------------------- the legacy reader


def test_round_trip_keeps_names_order_dtypes_and_values(tmp_path):
    rng = np.random.default_rng(0)
    state = OrderedDict([
        ("conv.weight", rng.normal(size=(8, 3, 3, 3)).astype(np.float32)),
        ("bn.num_batches_tracked", np.array(7, np.int64)),
        ("double", rng.normal(size=(2, 5))),
        ("half", rng.normal(size=(4,)).astype(np.float16)),
        ("int32", np.arange(6, dtype=np.int32).reshape(2, 3)),
        ("int16", np.array([-3, 4], np.int16)),
        ("bytes", np.arange(5, dtype=np.uint8)),
        ("signed bytes", np.array([-128, 127], np.int8)),
        ("mask", np.array([True, False, True])),
        ("empty", np.zeros((0, 4), np.float32)),
    ])
    path = save_legacy(state, tmp_path / "toy.pth")
    back = load_legacy(path, expected_sha256=sha256(path.read_bytes()))
    assert isinstance(back, OrderedDict) and list(back) == list(state)
    for name, value in state.items():
        assert back[name].dtype == value.dtype and back[name].shape == value.shape, name
        np.testing.assert_array_equal(back[name], value)


def test_strided_and_offset_views_share_one_storage(tmp_path):
    storage = np.arange(60, dtype=np.float32)
    views = {
        "plain": StridedTensor(storage, 0, (60,), (1,)),
        "transposed": StridedTensor(storage, 0, (3, 4), (1, 3)),  # a .t() of a (4, 3) tensor
        "offset": StridedTensor(storage, 10, (2, 5), (5, 1)),
        "every other": StridedTensor(storage, 1, (5,), (2,)),
        "broadcast": StridedTensor(storage, 7, (3, 2), (0, 1)),  # .expand(): stride 0
    }
    path = save_legacy(views, tmp_path / "views.pth")
    assert path.read_bytes().count(storage.tobytes()) == 1  # the views share one storage in the file
    back = load_legacy(path)
    for name, v in views.items():  # reference: numpy's own strided view of the same buffer
        ref = np.lib.stride_tricks.as_strided(storage[v.offset:], v.size, [s * 4 for s in v.stride])
        np.testing.assert_array_equal(back[name], ref, err_msg=name)
    np.testing.assert_array_equal(back["transposed"], storage[:12].reshape(4, 3).T)
    back["offset"][0, 0] = -1  # a copy: never a view into the file's buffer
    assert back["plain"][10] == 10


def _legacy_file(obj_pickle: bytes, keys: list) -> bytes:
    head = b"".join(pickle.dumps(x, protocol=2) for x in (MAGIC_NUMBER, PROTOCOL_VERSION, {"little_endian": True}))
    return head + obj_pickle + pickle.dumps(keys, protocol=2)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_naming_os_system_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    evil = OrderedDict([("weight", _Evil(marker))])
    path = tmp_path / "evil.pth"
    path.write_bytes(_legacy_file(pickle.dumps(evil, protocol=2), []))
    with pytest.raises(ForbiddenGlobal) as info:
        load_legacy(path)
    message = str(info.value)
    assert "'evil.pth'" in message and f"'{os.system.__module__}.system'" in message and "refused" in message
    assert message.count(". ") == 0 and "\n" not in message  # one sentence
    assert not marker.exists()


@pytest.mark.parametrize("module, name", [("builtins", "eval"), ("torch", "load"), ("torch.nn.modules.conv", "Conv2d"),
                                          ("numpy.core.multiarray", "_reconstruct")])
def test_every_other_global_is_refused(tmp_path, module, name):
    obj = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"q\x00."
    with pytest.raises(ForbiddenGlobal, match=f"'{module}.{name}'"):
        load_legacy(_legacy_file(obj, []), label="The test file")


def test_wrong_sha256_is_refused_before_unpickling(tmp_path):
    marker = tmp_path / "ran"
    data = _legacy_file(pickle.dumps(_Evil(marker), protocol=2), [])
    with pytest.raises(LegacyFormatError, match="has sha256 .* so it was not unpickled"):
        load_legacy(data, expected_sha256="0" * 64)
    assert not marker.exists()


def test_truncated_or_inconsistent_files_get_one_sentence(tmp_path):
    state = {"a": np.arange(10, dtype=np.float32), "b": np.ones((3, 3), np.float32)}
    data = save_legacy(state, tmp_path / "ok.pth").read_bytes()
    for cut, expected in [(4, "is truncated: storage '1' (2 of 2) needs 36 bytes but only 32 remain"),
                          (36 + 3, "is truncated: it ends before the element count of storage '1' (2 of 2)"),
                          (len(data) - 20, "is damaged")]:
        (tmp_path / "cut.pth").write_bytes(data[:-cut])
        with pytest.raises(LegacyFormatError) as info:
            load_legacy(tmp_path / "cut.pth")
        assert "The PyTorch file 'cut.pth'" in str(info.value) and expected in str(info.value), str(info.value)
        assert "\n" not in str(info.value)
    with pytest.raises(LegacyFormatError, match="zip-format"):
        load_legacy(b"PK\x03\x04" + data)
    with pytest.raises(LegacyFormatError, match="magic number"):
        load_legacy(pickle.dumps(12345, protocol=2) + data)


def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path):
    storage = np.arange(10, dtype=np.float32)
    path = save_legacy({"x": StridedTensor(storage, 5, (3, 3), (3, 1))}, tmp_path / "past.pth")
    with pytest.raises(LegacyFormatError, match="reaches element 13 of a 10-element storage"):
        load_legacy(path)


# ----------------------------------------------------------------------------- the converted network


@pytest.fixture(scope="module")
def manager():
    return AssetManager()


@pytest.fixture(scope="module")
def state_dict(manager):
    asset = manager.asset(E.ASSET)
    return load_legacy(manager.ensure(E.ASSET), expected_sha256=asset.sha256)


@pytest.fixture(scope="module")
def lite(efficientnet_lite0):
    return efficientnet_lite0


def test_state_dict_layout(state_dict):
    assert len(state_dict) == 296
    assert sum(v.size for v in state_dict.values()) == 4_694_073  # every tensor, BN counters included
    counters = [k for k in state_dict if k.endswith(".num_batches_tracked")]
    assert len(counters) == 49 and all(state_dict[k].dtype == np.int64 for k in counters)
    assert state_dict["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state_dict["_blocks.0._depthwise_conv.weight"].shape == (32, 1, 3, 3)
    assert "_blocks.0._expand_conv.weight" not in state_dict  # expand ratio 1: no expansion
    assert state_dict["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state_dict["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert state_dict["_fc.weight"].shape == (1000, 1280)
    assert not any("_se_" in k for k in state_dict)  # Lite: no squeeze-and-excitation


@pytest.mark.slow
def test_parameter_count(lite, state_dict):
    # Keras counts the 4,694,024 weights; the state dict also holds 49 one-element BN step counters
    assert lite.model.count_params() + 49 == 4_694_073
    assert len(E.blocks()) == 16


@pytest.mark.slow
def test_every_layer_holds_the_state_dict_tensors(lite, state_dict):
    model = lite.model
    mapped = {layer for layer, _, _ in E.weight_map()}
    assert mapped == {layer.name for layer in model.layers if layer.weights}  # nothing left untrained
    rng = np.random.default_rng(0)
    for layer_name, prefix, kind in E.weight_map():
        weights = model.get_layer(layer_name).get_weights()
        if kind == "bn":
            for got, suffix in zip(weights, ("weight", "bias", "running_mean", "running_var"), strict=True):
                np.testing.assert_array_equal(got, state_dict[f"{prefix}.{suffix}"])
            assert model.get_layer(layer_name).epsilon == pytest.approx(1e-3)
            continue
        w = state_dict[f"{prefix}.weight"]
        k = weights[0]
        for _ in range(20):  # element by element, written out independently of the transposes
            idx = tuple(int(rng.integers(n)) for n in w.shape)
            if kind == "conv":  # torch (out, in, kh, kw) -> keras (kh, kw, in, out)
                o, i, y, x = idx
                assert k[y, x, i, o] == w[o, i, y, x]
            elif kind == "dwconv":  # torch (channel, 1, kh, kw) -> keras (kh, kw, channel, 1)
                c, _, y, x = idx
                assert k[y, x, c, 0] == w[c, 0, y, x]
            else:  # dense: torch (out, in) -> keras (in, out)
                o, i = idx
                assert k[i, o] == w[o, i]
        assert k.size == w.size
        if kind == "dense":
            np.testing.assert_array_equal(weights[1], state_dict[f"{prefix}.bias"])


@pytest.mark.slow
def test_head_activation_is_the_7x7x1280_feature_map(lite):
    layer = lite.model.get_layer(E.HEAD_LAYER)
    assert tuple(layer.output.shape[1:]) == (7, 7, 1280)
    assert type(layer).__name__ == "ReLU" and float(layer.max_value) == 6.0
    names = [layer.name for layer in lite.model.layers]
    assert names.index("head_bn") + 1 == names.index(E.HEAD_LAYER) == names.index("avg_pool") - 1


def _photos():
    return np.stack([resize(sample_image(n), 224, 224, "auto") for n in ("chelsea", "coffee", "rocket", "china",
                                                                         "flower", "motorcycle_left", "astronaut")])


@pytest.mark.slow
def test_preprocessing_matches_the_weights_own_batch_norm_statistics(lite):
    """The stem's BN running statistics were gathered on inputs scaled the right way: on sample
    photos, the stem convolution's output variance matches them only with (x - 127) / 128."""
    from core.device import import_keras
    from core.vision.zoo import preprocess_array

    keras = import_keras()

    stem = keras.Model(lite.model.inputs[0], lite.model.get_layer("stem_conv").output)
    running_mean, running_var = lite.model.get_layer("stem_bn").get_weights()[2:]
    alive = running_var > 1e-6  # a few stem filters are dead (zero variance in training)
    pixels = _photos().astype(np.float32)
    candidates = {
        "lite": preprocess_array(pixels, "lite"),
        "imagenet mean/std": (pixels / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]),
        "x/255": pixels / 255.0,
    }
    ratio, corr = {}, {}
    for name, x in candidates.items():
        out = np.asarray(stem(x.astype(np.float32)))
        ratio[name] = float(np.median(out.var(axis=(0, 1, 2))[alive] / running_var[alive]))
        corr[name] = float(np.corrcoef(out.mean(axis=(0, 1, 2))[alive], running_mean[alive])[0, 1])
    assert 0.6 < ratio["lite"] < 1.5 and corr["lite"] > 0.9, (ratio, corr)
    assert ratio["imagenet mean/std"] > 3 and ratio["x/255"] < 0.3 and corr["x/255"] < 0, (ratio, corr)
    assert lite.preprocessing == "lite"
    np.testing.assert_array_equal(lite.deprocess(lite.preprocess(pixels[0])), pixels[0].astype(np.uint8))


@pytest.mark.slow
@pytest.mark.parametrize("image, accepted", [
    ("chelsea", {"tabby", "tiger cat", "Egyptian cat"}),
    ("coffee", {"espresso", "cup", "coffee mug"}),
])
def test_top1_on_photos_whose_class_is_not_in_doubt(lite, image, accepted):
    top = lite.predict(sample_image(image), top=5)
    assert top[0][0] in accepted, top
    assert sum(p for name, p in top if name in accepted) > 0.8, top


@pytest.mark.slow
def test_conversion_is_cached_with_a_card_and_redone_when_stale(lite, manager, tmp_path, monkeypatch):
    path = tmp_path / "lite.keras"
    model, card = E.load_efficientnet_lite0(manager, path=path)
    assert card["recipe"] == {"converter_version": E.CONVERTER_VERSION, "source_sha256": manager.asset(E.ASSET).sha256}
    assert json.loads(path.with_suffix(".json").read_text()) == card
    x = lite.preprocess(sample_image("coffee"))[None]
    np.testing.assert_allclose(np.asarray(model(x)), lite.predict_logits(x), atol=1e-4)
    calls = []
    monkeypatch.setattr(E, "convert", lambda *a, **k: calls.append(a) or pytest.fail("converted again"))
    E.load_efficientnet_lite0(manager, path=path)  # the card matches: loads the .keras file only
    assert calls == []
    monkeypatch.undo()
    stale = dict(card, recipe=dict(card["recipe"], converter_version=0))
    path.with_suffix(".json").write_text(json.dumps(stale))
    _, again = E.load_efficientnet_lite0(manager, path=path)
    assert again["recipe"]["converter_version"] == E.CONVERTER_VERSION


@pytest.mark.slow
def test_cli_predict_json(capsys):
    from core.cli import main

    assert main(["predict", "--model", "efficientnet-lite0", "--image", "coffee", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["model"] == "efficientnet-lite0" and len(payload["top"]) == 5
    first = payload["top"][0]
    assert (first["class"], first["index"]) == ("espresso", 967) and first["probability"] > 0.5
    probs = [t["probability"] for t in payload["top"]]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-6


def test_cli_predict_unknown_model_is_one_sentence(capsys):
    from core.cli import main

    assert main(["predict", "--model", "no-such-net", "--image", "coffee", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Unknown model 'no-such-net'.") and "Traceback" not in err
