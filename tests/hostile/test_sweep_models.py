"""The 2026-12-04 sweep's user-model rows (Table 2 H): architecture bombs (a 2.5 KB .keras declaring
Dense(units=10^7 / 10^8)) are refused from the config before Keras builds a layer, under 200 MB of extra
peak RSS; byte-flipped legacy .h5 files are one sentence whatever h5py raises."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from core.vision.zoo import ModelError, declared_parameters, load_user_model
from tests.hostile.test_uploads_memory import CEILING_MB, peak_extra_mb_each
from tests.pages.conftest import app  # noqa: F401  (the fixture)


@pytest.fixture(scope="module")
def small_models(tmp_path_factory):
    import keras

    root = tmp_path_factory.mktemp("archmodels")
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, name="conv")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probs")(x))
    model.save(root / "clf.keras")
    model.save(root / "clf.h5")
    return root


def with_units(path, units: int, out) -> bytes:
    """The same archive with the Dense layer's ``units`` rewritten in config.json (weights unchanged)."""
    src = zipfile.ZipFile(path)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                data = data.replace(b'"units": 3', f'"units": {units}'.encode())
            dst.writestr(item, data)
    out.write_bytes(buf.getvalue())
    return out


def test_declared_parameters_is_a_lower_bound_of_the_built_model(small_models):
    data = (small_models / "clf.keras").read_bytes()
    config = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("config.json"))
    model = load_user_model(data, "clf.keras").model
    assert 0 < declared_parameters(config) <= model.count_params()


def test_architecture_bombs_are_refused_before_building(small_models, tmp_path):
    files = {f"N84-N85-dense-{u:.0e}": with_units(small_models / "clf.keras", u, tmp_path / f"u{u}.keras")
             for u in (10_000_000, 100_000_000)}
    assert all(p.stat().st_size < 64 * 1024 for p in files.values())  # a few KB, like the sweep's 2,555 bytes
    assert all(b'"units": 100000' in zipfile.ZipFile(p).read("config.json") for p in files.values())
    measured = peak_extra_mb_each(
        "from core.vision.zoo import load_user_model; import keras",
        {name: f"load_user_model(open({str(p)!r}, 'rb').read(), 'bomb.keras')" for name, p in files.items()})
    for name, (extra, said) in measured.items():
        print(f"{name}: +{extra:.0f} MB peak RSS ({said[:100]})")
        assert "declares at least" in said and extra < CEILING_MB, (name, extra, said)


def test_byte_flipped_h5_files_are_one_sentence(small_models):
    """N86/N87: 40 copies of a legacy .h5 with one byte changed; h5py raised RuntimeError on half."""
    data = (small_models / "clf.h5").read_bytes()
    rng = np.random.default_rng(0)
    outcomes = []
    for offset in rng.integers(0, len(data), 40):
        flipped = bytearray(data)
        flipped[offset] ^= 0xFF
        try:
            load_user_model(bytes(flipped), "fuzz.h5")
            outcomes.append("loaded")
        except ModelError as exc:
            assert "\n" not in str(exc) and len(str(exc)) < 400
            outcomes.append("sentence")
    assert len(outcomes) == 40


def _h5py_raises_beyond_the_old_catch(data: bytes) -> bool:
    """Whether h5py, reading ``data`` as the archive check does, raises something the check caught before
    the sweep did not (it caught OSError, ValueError and TypeError only: RuntimeError crashed the page)."""
    import h5py

    try:
        with h5py.File(io.BytesIO(data), "r") as fh:
            fh.visititems(lambda _, obj: obj.size if isinstance(obj, h5py.Dataset) else None)
            fh.attrs.get("model_config")
    except (OSError, ValueError, TypeError):
        return False
    except Exception:  # noqa: BLE001
        return True
    return False


def test_byte_flipped_h5_uploads_on_the_page_are_one_sentence(small_models, app):  # noqa: F811
    """N87: damaged .h5 models uploaded through "Your own model" on Activations. Bytes are flipped in several
    places of a real small .h5; the ones h5py answers with RuntimeError (the page's crash) must be among
    them. Each upload shows one sentence or loads; none raises."""
    from tests.pages.conftest import open_page

    data = (small_models / "clf.h5").read_bytes()
    rng = np.random.default_rng(1)
    crashing, others = [], []
    for offset in rng.permutation(len(data)):
        flipped = bytearray(data)
        flipped[offset] ^= 0xFF
        (crashing if _h5py_raises_beyond_the_old_catch(bytes(flipped)) else others).append(bytes(flipped))
        if len(crashing) >= 4 and len(others) >= 2:
            break
    assert len(crashing) >= 4  # the sweep's 20 of 40: these inputs do reach h5py's RuntimeError path
    at = open_page(app, "cnn_activations.py")
    at.selectbox(key="cnn_model").set_value("upload").run()
    assert not at.exception, [e.value for e in at.exception]
    sentences = 0
    for i, blob in enumerate(crashing[:4] + others[:2]):
        at.file_uploader(key="user_model_file").set_value((f"fuzz{i}.h5", blob, "application/x-hdf5")).run()
        assert not at.exception, (i, [e.value for e in at.exception])
        errors = [e.value for e in at.error]
        for text in errors:
            assert "\n" not in text and len(text) < 400 and "Traceback" not in text, text
        if i < 4:  # h5py raised: the page must say so in one sentence
            assert any(f"fuzz{i}.h5 could not be loaded" in t for t in errors), errors
            sentences += 1
    assert sentences == 4
