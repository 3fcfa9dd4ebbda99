"""Uploads that cost memory (issue #16): decompression bombs and lying headers of under 1 MB must be
refused with < 200 MB of extra peak RSS, measured in a fresh subprocess (the kernel's peak RSS, VmHWM,
reset after the imports, minus the resident size then), never with a wall clock. And user models whose class layer
gives maps instead of scores, or whose load error would show a server temp path.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CEILING_MB = 200


def gzip_bomb(path: Path, expanded_mib: int) -> Path:
    import gzip

    with gzip.GzipFile(path, "wb", compresslevel=9) as fh:
        block = b"a" * 2 ** 20
        for _ in range(expanded_mib):
            fh.write(block)
    return path


def keras_bomb(path: Path, config_mib: int) -> Path:
    """A .keras archive whose config.json expands to ``config_mib`` MiB of spaces (under 1 MB on disk)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
        with zf.open("config.json", "w", force_zip64=True) as fh:
            block = b" " * 2 ** 20
            for _ in range(config_mib):
                fh.write(block)
        zf.writestr("model.weights.h5", b"")
    return path


def peak_extra_mb(setup: str, action: str) -> tuple[float, str]:
    """(extra peak RSS in MB of ``action`` over the resident size after ``setup``, what the action said)."""
    code = textwrap.dedent(f"""
        import sys

        def status(field):
            return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(field + ":"))

        {setup}
        try:  # reset the peak (Linux >= 4.0): the imports' own peak must not hide the action's
            open("/proc/self/clear_refs", "w").write("5")
        except OSError:
            pass
        base = status("VmRSS")  # resident now; VmHWM (the kernel's peak) is per process image, unlike
        try:                    # ru_maxrss, which a child inherits from its parent across fork + exec
            {action}
            outcome = "accepted"
        except Exception as exc:
            outcome = type(exc).__name__ + ": " + str(exc)[:200]
        print((status("VmHWM") - base) / 1024.0)
        print(outcome)
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3",
                               "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    return float(lines[-2]), lines[-1]


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bombs")
    lying = root / "lying.bin"
    lying.write_bytes(b"1000000 10000\nab" + b"\x00" * 18)  # 34 bytes promising 1,000,000 x 10,000
    big_csv = root / "boxes.csv"
    rng = np.random.default_rng(0)
    big_csv.write_text("\n".join(f"{w:.0f},{h:.0f}" for w, h in rng.uniform(2, 400, size=(60_000, 2))))
    strip = root / "strip.png"
    from PIL import Image

    Image.new("RGB", (20_000, 1), (255, 0, 0)).save(strip, optimize=True)  # ~100 bytes
    return {"gz": gzip_bomb(root / "bomb.txt.gz", 512), "lying": lying,
            "keras": keras_bomb(root / "bomb.keras", 512), "csv": big_csv, "strip": strip}


MEMORY_CASES = [
    ("gzip-bomb-512MiB", "gz", "from core.embeddings.io import parse_embedding",
     "parse_embedding(open(PATH, 'rb').read())", "expands to more than"),
    ("lying-word2vec-header", "lying", "from core.embeddings.io import parse_embedding",
     "parse_embedding(open(PATH, 'rb').read(), 'word2vec-binary')", "announces 1,000,000 words"),
    ("keras-config-bomb", "keras", "from core.vision.zoo import load_user_model; import keras",
     "load_user_model(open(PATH, 'rb').read(), 'bomb.keras')", "decompression bomb"),
    ("anchor-csv-60k-rows", "csv", "from core.detection import anchors as K",
     "wh, note = K.sample_boxes(K.read_wh_csv(open(PATH).read()), limit=20000); "
     "K.iou_kmeans(wh, 5, restarts=1); assert note", "accepted"),
    ("20000x1-png-for-display", "strip", "from core import images",
     "a = images.load_image(PATH).array; s = images.display_scaled(a, 640); "
     "assert images.model_view_problem(a, (224, 224)) and s.size <= 640 * 640 * 3", "accepted"),
]


@pytest.mark.parametrize("case, file, setup, action, outcome", MEMORY_CASES, ids=[c[0] for c in MEMORY_CASES])
def test_small_hostile_files_cost_less_than_200MB(case, file, setup, action, outcome, bombs):
    path = bombs[file]
    assert path.stat().st_size < 2 ** 20 or file == "csv"  # "a few bytes that cost the server gigabytes"
    extra, said = peak_extra_mb(f"PATH = {str(path)!r}; " + setup, action)
    assert outcome in said, said
    print(f"{case}: +{extra:.1f} MB peak RSS ({said[:60]})")
    assert extra < CEILING_MB, f"{case}: +{extra:.0f} MB"


# ----------------------------------------------------------------------------- user models


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    import keras

    root = tmp_path_factory.mktemp("models")
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    maps = keras.Model(inputs, keras.layers.Conv2D(5, 1, name="maps_out")(x))  # a 4-D (H, W, C) output
    maps.save(root / "maps.keras")
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    clf = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probs")(pooled))
    clf.save(root / "clf.keras")
    one = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="p")(pooled))
    one.save(root / "one.keras")
    return root


USER_MODEL_CASES = [
    ("4-d-output", "maps.keras", None, "not one score per class"),
    ("conv-as-class-layer", "clf.keras", "conv", "not one score per class"),
    ("unknown-class-layer", "clf.keras", "no_such_layer", "no_such_layer"),
    ("single-score", "one.keras", None, "at least 2 classes"),
    ("dense-classifier", "clf.keras", None, None),
    ("dense-as-class-layer", "clf.keras", "probs", None),
]


@pytest.mark.parametrize("case, file, layer, words", USER_MODEL_CASES, ids=[c[0] for c in USER_MODEL_CASES])
def test_user_model_class_layer_must_give_scores(case, file, layer, words, tiny_models):
    from core.vision.zoo import ModelError, load_user_model

    data = (tiny_models / file).read_bytes()
    if words is None:
        model = load_user_model(data, file, class_layer=layer)
        preds = model.predict(np.zeros((20, 20, 3), np.uint8), top=3)  # the prediction table's input
        assert len(preds) == 3 and abs(sum(p for _, p in preds) - 1) < 1e-5
    else:
        with pytest.raises(ModelError) as info:
            load_user_model(data, file, class_layer=layer)
        assert words in str(info.value)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


LOAD_ERRORS = [
    ("garbage-keras", b"PK\x03\x04" + b"\x00" * 200, "evil.keras", "could not be loaded"),
    ("empty-keras", b"", "empty.keras", "empty"),
    ("keras-without-config", _zip({"metadata.json": b"{}"}), "noconf.keras", "could not be loaded"),
    ("keras-bad-json", _zip({"metadata.json": b"{}", "config.json": b"{nope"}), "badjson.keras", "could not be loaded"),
    ("garbage-h5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 100, "evil.h5", "could not be loaded"),
    ("pickle", b"\x80\x04K\x01.", "model.pkl", "Upload a .keras file"),
    ("long-name", b"PK\x03\x04", "x" * 500 + ".keras", "could not be loaded"),
]


@pytest.mark.parametrize("case, data, name, words", LOAD_ERRORS, ids=[c[0] for c in LOAD_ERRORS])
def test_model_load_errors_are_a_sentence_without_server_paths(case, data, name, words):
    from core.vision.zoo import ModelError, load_user_model

    with pytest.raises(ModelError) as info:
        load_user_model(data, name)
    message = str(info.value)
    assert words in message
    assert tempfile.gettempdir() + "/" not in message and "/tmp" not in message
    assert "x" * 81 not in message and len(message) < 400


def peak_extra_mb_each(setup: str, actions: dict[str, str], timeout: int = 600) -> dict[str, tuple[float, str]]:
    """:func:`peak_extra_mb` for several actions in one fresh subprocess (one interpreter start for a
    table): the peak is reset before each action, whose garbage is collected before the next one."""
    body = "\n".join(
        f"    run({name!r}, {action!r})" for name, action in actions.items())
    code = textwrap.dedent("""
        import gc, json, sys

        def status(field):
            return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(field + ":"))

        OUT = {{}}
        def run(name, action):
            gc.collect()
            try:
                open("/proc/self/clear_refs", "w").write("5")
            except OSError:
                pass
            base = status("VmRSS")
            try:
                exec(action, globals())
                outcome = "accepted"
            except Exception as exc:
                outcome = type(exc).__name__ + ": " + str(exc)[:200]
            OUT[name] = ((status("VmHWM") - base) / 1024.0, outcome)
            for k in [k for k in globals() if k.startswith("_r")]:
                del globals()[k]
            gc.collect()

        {setup}
        if True:
        {body}
        print(json.dumps(OUT))
    """).format(setup=setup, body=body)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3",
                               "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {k: tuple(v) for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}
