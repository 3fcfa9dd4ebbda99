"""A user's uploaded classifier (core.vision.zoo.load_user_model): a .keras or legacy .h5 model with
a Lambda layer is refused before its code can run (the same file, loaded unsafely, does run it);
plain models in both formats load and give the original model's probabilities."""

from __future__ import annotations

import numpy as np
import pytest

import core  # noqa: F401
from core.device import import_keras
from core.numeric import softmax
from core.vision.zoo import ModelError, load_user_model


def classifier(lambda_marker=None):
    """A small softmax classifier; with ``lambda_marker`` a Lambda layer whose code writes that file
    every time it runs (Keras runs it when it rebuilds the model on loading)."""
    keras = import_keras()
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    if lambda_marker is not None:
        path = str(lambda_marker)  # a closure: Keras stores its value with the lambda's bytecode
        x = keras.layers.Lambda(lambda t: (open(path, "w").write("ran"), t)[1], name="side_effect")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probs")(x))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_a_lambda_layer_is_refused_before_its_code_runs(tmp_path, suffix):
    marker = tmp_path / "lambda-ran"
    path = tmp_path / f"upload{suffix}"
    classifier(marker).save(path)
    marker.unlink()  # building and saving ran the lambda here, on our side
    with pytest.raises(ModelError) as info:
        load_user_model(path.read_bytes(), f"upload{suffix}")
    message = str(info.value)
    assert message.startswith(f"upload{suffix} could not be loaded") and "Lambda" in message
    assert "\n" not in message and len(message) < 400 and "Traceback" not in message
    assert not marker.exists()
    # the control: loading the same file without safe_mode does execute the uploaded code
    import_keras().models.load_model(path, compile=False, safe_mode=False)
    assert marker.read_text() == "ran"


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_a_plain_model_loads_with_its_probabilities(tmp_path, suffix):
    model = classifier()
    path = tmp_path / f"plain{suffix}"
    model.save(path)
    loaded = load_user_model(path.read_bytes(), path.name, class_names=["a", "b", "c"])
    assert loaded.class_names == ["a", "b", "c"] and loaded.input_size == (12, 12) and loaded.channels == 3
    x = np.random.default_rng(0).uniform(0, 1, (2, 12, 12, 3)).astype(np.float32)
    expected = np.asarray(model(x, training=False))
    assert np.allclose(softmax(loaded.predict_logits(x)), expected, atol=1e-5)  # logits: the softmax taken off
    assert not np.allclose(loaded.predict_logits(x), expected)


def test_other_files_get_a_sentence(tmp_path):
    with pytest.raises(ModelError, match="Upload a .keras file"):
        load_user_model(b"\x80\x04K\x01.", "model.pkl")
    path = tmp_path / "cut.keras"
    classifier().save(path)
    with pytest.raises(ModelError, match="cut.keras could not be loaded as a Keras model"):
        load_user_model(path.read_bytes()[:200], "cut.keras")
