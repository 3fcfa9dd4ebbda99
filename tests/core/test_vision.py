"""CNN internals: zoo, faces, activations, gradient ascent, Deep Dream, and the ImageNet loader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import core  # noqa: F401  (TensorFlow environment first)
from core.images import sample_image
from core.vision import activations, ascent, zoo
from tests.core.test_cli import run as run_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def emotion(emotion_cnn):
    return emotion_cnn


@pytest.fixture(scope="module")
def shapes(shapes_cnn):
    return shapes_cnn


@pytest.fixture(scope="module")
def face():
    img = sample_image("astronaut")
    faces = zoo.find_faces(img)
    return img, faces


# ----------------------------------------------------------------------------- zoo and faces


def test_astronaut_has_one_face_and_it_is_happy(emotion, face):
    img, faces = face
    assert len(faces) == 1
    preds = emotion.predict(faces[0].crop(img))
    assert preds[0][0] == "happy" and preds[0][1] > 0.9


def test_logits_are_the_pre_softmax_scores(emotion, face):
    img, faces = face
    x = emotion.preprocess(faces[0].crop(img))[None]
    logits = emotion.predict_logits(x)[0]
    probs = np.asarray(emotion.model(x, training=False))[0]
    soft = np.exp(logits - logits.max())
    assert np.allclose(soft / soft.sum(), probs, atol=1e-5)
    assert not np.allclose(logits, probs)


def test_preprocessing_round_trips():
    pixels = np.random.default_rng(0).integers(0, 256, (4, 5, 3)).astype(np.float32)
    for kind in ("unit", "tf", "caffe"):
        back = zoo.deprocess_array(zoo.preprocess_array(pixels, kind), kind)
        assert np.array_equal(back, pixels.astype(np.uint8)), kind
    gray = zoo.deprocess_array(zoo.preprocess_array(pixels[:, :, :1], "fer"), "fer")
    assert gray.shape == (4, 5, 3)


def test_colour_conversions_and_tiny_images(emotion, shapes):
    rgb = sample_image("coffee")
    gray = sample_image("camera")[:, :, 0]  # a 2-D grayscale array into a colour model and vice versa
    assert shapes.preprocess(gray).shape == (48, 48, 3)
    assert emotion.preprocess(rgb).shape == (64, 64, 1)
    tiny = np.zeros((8, 8, 3), np.uint8)
    assert emotion.predict(tiny)[0][1] > 0  # an 8x8 image is upscaled, not refused
    with pytest.raises(zoo.ModelError):
        emotion.preprocess(np.zeros((4, 4, 2), np.uint8))


def test_shapes_cnn_card(shapes):
    card = json.loads((zoo_path := Path(core.assets.default_cache_dir()) / "models" / "shapes-cnn.json").read_text())
    assert zoo_path.exists() and card["accuracy"] >= 0.9
    assert shapes.flexible and shapes.class_names[0] == "circle"


def test_class_lookup(emotion):
    assert emotion.class_index("happy") == 3 and emotion.class_index("3") == 3
    with pytest.raises(zoo.ModelError, match="out of range"):
        emotion.class_index(7)
    with pytest.raises(zoo.ModelError, match="No class"):
        emotion.class_index("bored")


def test_unknown_model():
    with pytest.raises(zoo.ModelError, match="Unknown model"):
        zoo.load_model("alexnet")


# ----------------------------------------------------------------------------- activations


def test_network_stats_show_shrinking_maps_and_growing_sparsity(emotion, face):
    img, faces = face
    stats = activations.network_stats(emotion, faces[0].crop(img))
    relu = [s for s in stats if s.kind == "Activation"]
    assert relu[0].height > relu[-1].height and relu[0].channels < relu[-1].channels
    assert relu[-1].zero_fraction > relu[0].zero_fraction


def test_activation_maps_against_a_manual_model(emotion, face):
    import keras

    img, faces = face
    crop = faces[0].crop(img)
    maps = activations.activation_maps(emotion, crop, "conv2d_2")
    manual = keras.Model(emotion.model.inputs, emotion.model.get_layer("conv2d_2").output)
    expected = np.asarray(manual(emotion.preprocess(crop)[None]))[0]
    assert np.allclose(maps, expected, atol=1e-5)
    grid, cols = activations.tile_channels(maps)
    assert cols == 3 and grid.shape == (3 * 61 - 1, 3 * 61 - 1)


def test_layer_without_spatial_output(emotion, face):
    with pytest.raises(zoo.ModelError, match="no spatial output"):
        activations.activation_maps(emotion, face[0], "predictions")
    with pytest.raises(zoo.ModelError, match="no layer"):
        activations.activation_maps(emotion, face[0], "nope")


# ----------------------------------------------------------------------------- gradient ascent


def test_filter_ascent_increases_and_is_deterministic(shapes):
    a = ascent.gradient_ascent(shapes, "conv3_1", [0, 5], steps=40, step_size=1.0, size=48, jitter=2, seed=3)
    b = ascent.gradient_ascent(shapes, "conv3_1", [0, 5], steps=40, step_size=1.0, size=48, jitter=2, seed=3)
    assert a.objective[-1] > a.objective[0]
    assert np.array_equal(a.images, b.images)
    assert a.images.shape == (2, 48, 48, 3) and a.images.dtype == np.uint8


def test_normalised_step_matches_the_formula(shapes):
    """One step from a fixed start equals I + eta g/|g| computed by hand."""
    import tensorflow as tf

    x0 = ascent.initial_images(shapes, 1, (48, 48), "gray", None, seed=0)
    r = ascent.gradient_ascent(shapes, "conv2_1", [1], steps=1, step_size=0.5, size=48, init="gray", seed=0)
    model = shapes.extractor(("conv2_1",))
    xt = tf.constant(x0)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        obj = tf.reduce_mean(model(xt)[..., 1])
    g = tape.gradient(obj, xt).numpy()
    expected = np.clip(x0 + 0.5 * g / np.linalg.norm(g), 0, 1)
    assert np.allclose(r.raw, expected, atol=1e-5)
    assert np.isclose(r.objective[0], float(obj), rtol=1e-4)


def test_class_ascent_makes_the_model_see_the_class(emotion):
    r = ascent.gradient_ascent(emotion, None, [emotion.class_index("surprise")], steps=60, step_size=2.0)
    assert emotion.predict(r.images[0])[0][0] == "surprise"
    assert r.objective[-1] > r.objective[0]


def test_fourier_and_regularisers_run(shapes):
    r = ascent.gradient_ascent(shapes, "conv3_2", [2], steps=20, size=64, fourier=True)
    assert r.objective[-1] > r.objective[0]
    r = ascent.gradient_ascent(shapes, "conv3_2", [2], steps=20, size=64, l2=0.01, blur_every=5, init="zeros")
    assert np.isfinite(r.objective).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=0), "Steps must be"),
    (dict(steps=10_000), "Steps must be"),
    (dict(step_size=0.0), "positive"),
    (dict(targets=[999]), "out of range"),
    (dict(layer="logits"), "no spatial output"),
    (dict(size=4), "Image size"),
    (dict(init="image"), "Choose an image"),
])
def test_ascent_inputs_are_checked(shapes, kwargs, message):
    args = dict(layer="conv3_1", targets=[0], steps=5, step_size=1.0, size=48)
    args.update(kwargs)
    with pytest.raises(zoo.ModelError, match=message):
        ascent.gradient_ascent(shapes, args.pop("layer"), args.pop("targets"), **args)


def test_stop_callback_ends_early(shapes):
    r = ascent.gradient_ascent(shapes, "conv3_1", [0], steps=200, size=48, stop=lambda: True)
    assert r.stopped and len(r.objective) < 200


# ----------------------------------------------------------------------------- Deep Dream


def test_deep_dream_changes_the_image_and_loss_grows(shapes):
    img = sample_image("chelsea")
    d = ascent.deep_dream(shapes, img, {"conv3_1": 1.0}, octaves=2, iterations=10, max_side=128)
    assert d.image.shape == d.original.shape and d.image.shape[1] == 128
    assert np.abs(d.image.astype(int) - d.original.astype(int)).mean() > 2
    assert d.loss[-1] > d.loss[0]
    assert d.octave_shapes[-1] == (85, 128)


def test_deep_dream_on_a_fixed_size_model(emotion):
    d = ascent.deep_dream(emotion, sample_image("astronaut"), {"conv2d_4": 1.0}, octaves=2, iterations=5, max_side=128)
    assert d.image.shape == (128, 128, 3)


def test_deep_dream_inputs_are_checked(shapes):
    img = sample_image("chelsea")
    with pytest.raises(zoo.ModelError, match="at least one layer"):
        ascent.deep_dream(shapes, img, {})
    with pytest.raises(zoo.ModelError, match="spatial"):
        ascent.deep_dream(shapes, img, {"logits": 1.0})
    with pytest.raises(zoo.ModelError, match="octaves"):
        ascent.deep_dream(shapes, img, {"conv3_1": 1.0}, octaves=9)


# ----------------------------------------------------------------------------- ImageNet path


def test_imagenet_loader_with_a_weights_file_the_test_writes(tmp_path):
    """The online path, offline: build Xception without weights, write its weights in the legacy
    .h5 layout Keras publishes, and load through our loader (linear class scores, named classes)."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    reference = keras.applications.Xception(weights=None, classifier_activation=None)  # random init
    path = tmp_path / "xception_weights_tf_dim_ordering_tf_kernels.h5"
    with h5py.File(path, "w") as fh:
        legacy_h5_format.save_weights_to_hdf5_group(fh, reference)
    loaded = zoo.load_model("xception", weights_path=path)
    assert len(loaded.class_names) == 1000 and loaded.class_names[0] == "tench"
    assert np.array_equal(loaded.model.get_weights()[0], reference.get_weights()[0])
    x = loaded.preprocess(sample_image("rocket"))[None]
    assert np.allclose(loaded.predict_logits(x), np.asarray(reference(x)), atol=1e-4)


def test_imagenet_missing_weights_name_the_file_and_folder(tmp_path, monkeypatch):
    from core.assets import AssetManager

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    manifest = tmp_path / "m.toml"
    manifest.write_text((ROOT / "assets" / "manifest.toml").read_text().replace(
        "https://storage.googleapis.com/tensorflow/keras-applications/", "http://127.0.0.1:9/"))
    mgr = AssetManager(manifest, cache_dir=tmp_path / "cache")
    with pytest.raises(zoo.ModelError) as info:
        zoo.load_keras_app(zoo.SPECS["resnet50"], mgr)
    msg = str(info.value)
    assert "resnet50_weights_tf_dim_ordering_tf_kernels.h5" in msg and str(tmp_path / "keras" / "models") in msg


def test_user_model_upload_is_safe(tmp_path, shapes):
    path = tmp_path / "mine.keras"
    shapes.model.save(path)
    user = zoo.load_user_model(path.read_bytes(), "mine.keras", class_names=list(shapes.class_names))
    assert user.flexible and user.class_names == shapes.class_names
    with pytest.raises(zoo.ModelError, match="could not be loaded"):
        zoo.load_user_model(b"not a model", "evil.keras")
    with pytest.raises(zoo.ModelError, match="Upload a .keras"):
        zoo.load_user_model(b"x", "model.pkl")


# ----------------------------------------------------------------------------- CLI


def run(*args):
    return run_cli(*args, check=False)


def test_cli_ascent_and_activations(tmp_path):
    out = tmp_path / "happy.png"
    proc = run("ascent", "--model", "emotion-cnn", "--class", "happy", "--steps", "30", "--out", str(out), "--json")
    payload = json.loads(proc.stdout)
    assert len(payload["objective"]) == 30 and payload["objective"][-1] > payload["objective"][0]
    assert payload["seconds"] > 0 and out.exists()
    stats = json.loads(run("activations", "--model", "emotion-cnn", "--image", "astronaut", "--json").stdout)
    assert stats["layers"][0]["name"] == "conv2d_1"
    bad = run("ascent", "--model", "emotion-cnn", "--layer", "conv2d_1", "--filter", "99", "--json")
    assert bad.returncode == 2 and "out of range" in bad.stderr


def test_user_model_with_a_nested_sub_model(tmp_path):
    """A Sequential wrapping a functional backbone: the backbone shows up as one spatial layer."""
    import keras

    inner_in = keras.Input((32, 32, 3))
    inner = keras.Model(inner_in, keras.layers.Conv2D(4, 3, activation="relu")(inner_in), name="backbone")
    outer = keras.Sequential([keras.Input((32, 32, 3)), inner, keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(3, activation="softmax")])
    path = tmp_path / "nested.keras"
    outer.save(path)
    user = zoo.load_user_model(path.read_bytes(), "nested.keras")
    assert "backbone" in user.spatial_layers
    maps = activations.activation_maps(user, sample_image("coffee"), "backbone")
    assert maps.shape == (30, 30, 4)
    logits = user.predict_logits(user.preprocess(sample_image("coffee"))[None])
    assert logits.shape == (1, 3) and not np.allclose(logits.sum(), 1.0)


# ----------------------------------------------------------------------------- EfficientNet-Lite0 page defaults


@pytest.fixture(scope="module")
def lite(efficientnet_lite0):
    return efficientnet_lite0


def test_efficientnet_is_the_default_and_its_page_defaults_exist(lite):
    from core.images import SAMPLE_IMAGES

    assert zoo.DEFAULT_MODEL == "efficientnet-lite0"
    layers = set(lite.spatial_layers)
    for page, d in zoo.PAGE_DEFAULTS["efficientnet-lite0"].items():
        named = [d[k] for k in ("layer", "late_layer") if k in d] + list(d.get("layers", ()))
        assert set(named) <= layers, page
        assert d.get("image", "chelsea") in SAMPLE_IMAGES, page
    assert lite.class_index(zoo.page_defaults(lite.name, "class")["class"]) == 599  # honeycomb
    assert zoo.page_defaults("emotion-cnn", "filters") == {}  # other models keep the pages' generic choices


def test_composite_sample_is_deterministic_and_made_of_the_two_photos():
    from core.images import composite_image, resize, sample_image_path, square_crop

    img = sample_image("cat_and_espresso")
    assert img.shape == (224, 448, 3) and np.array_equal(img, composite_image("cat_and_espresso"))
    assert np.array_equal(img[:, :224], resize(square_crop(sample_image("chelsea")), 224, 224, "area"))
    assert np.array_equal(img[:, 224:], resize(square_crop(sample_image("coffee")), 224, 224, "area"))
    assert sample_image_path("cat_and_espresso").name.startswith("cat_and_espresso")


def test_filter_ascent_runs_on_the_network_truncated_at_its_layer(lite):
    """An early filter costs what its layers cost: the objective's model stops at the layer."""
    model, _, _ = ascent._objective_builder(lite, "block2b_expand_activation")
    assert len(model.layers) < len(lite.model.layers) / 5
    assert model.layers[-1].name == "block2b_expand_activation"
    # the any-size copy is the same network: same activations at 224 px, and it takes 96 px too
    flex = ascent.any_size(lite)
    x = lite.preprocess(sample_image("chelsea"))[None]
    a = np.asarray(lite.extractor(("block4a_expand_activation",))(x))
    b = np.asarray(flex.extractor(("block4a_expand_activation",))(x))
    assert flex.flexible and flex is ascent.any_size(lite) and np.allclose(a, b, atol=1e-4)
    assert np.asarray(flex.extractor(("block4a_expand_activation",))(x[:, :96, :96])).shape == (1, 12, 12, 240)


def test_new_targets_do_not_retrace_the_ascent_loop(shapes):
    ascent.gradient_ascent(shapes, "conv2_1", [0, 1], steps=2, size=48)
    loop = ascent._compiled_loop(shapes, "conv2_1", True, 0, 0.0)
    traces = loop.experimental_get_tracing_count()
    ascent.gradient_ascent(shapes, "conv2_1", [5, 7], steps=2, size=48)
    assert ascent._compiled_loop(shapes, "conv2_1", True, 0, 0.0) is loop
    assert loop.experimental_get_tracing_count() == traces


def test_default_filters_of_efficientnet_are_not_flat(lite):
    """The page's first picture: the first 8 filters of block4a_expand_activation each show a pattern
    (per-image std well above the gray start's ~20 and still high after a blur that removes pixel
    noise) and each reached far more than the channel's response to a photo."""
    import cv2

    d = zoo.page_defaults(lite.name, "filters")
    r = ascent.gradient_ascent(ascent.any_size(lite), d["layer"], list(range(d["count"])), steps=d["steps"],
                               step_size=d["eta"], size=d["size"], fourier=d["fourier"], init=d["init"])
    stds = [float(im.std()) for im in r.images]
    blurred = [float(cv2.GaussianBlur(im.astype(np.float32), (0, 0), 2).std()) for im in r.images]
    assert min(stds) > 40 and min(blurred) > 30, (stds, blurred)
    reached = np.asarray(ascent.any_size(lite).extractor((d["layer"],))(r.raw)).mean(axis=(1, 2))[np.arange(8), np.arange(8)]
    photo = activations.activation_maps(lite, sample_image("chelsea"), d["layer"]).mean(axis=(0, 1))[:8]
    assert np.all(reached > np.maximum(photo, 0) + 1.0), (reached, photo)


def test_random_zoom_is_the_slides_scaling_noise():
    """ε "adds randomness through scaling" (#23 g): a zoom about the centre, same size, seeded."""
    tf = ascent.import_tensorflow()
    x = np.zeros((1, 32, 32, 1), np.float32)
    x[0, 12:20, 12:20] = 1.0  # an 8 x 8 square in the middle
    same = ascent.random_zoom(tf, tf.constant(x), 0.0, tf.constant(0), tf.constant(0))
    assert np.array_equal(np.asarray(same), x)  # no scaling: untouched
    sizes = []
    for step in range(6):
        z = np.asarray(ascent.random_zoom(tf, tf.constant(x), 0.4, tf.constant(7), tf.constant(step)))
        again = np.asarray(ascent.random_zoom(tf, tf.constant(x), 0.4, tf.constant(7), tf.constant(step)))
        assert z.shape == x.shape and np.array_equal(z, again)  # same size, reproducible per (seed, step)
        sizes.append(float((z > 0.5).sum()))
        assert z[0, 16, 16, 0] > 0.5  # about the centre: the middle stays inside the square
    assert len(set(sizes)) > 1 and any(a != 64 for a in sizes)  # the square's area changes: a zoom


def test_deep_dream_with_the_slides_scaling_differs_from_the_roll(shapes):
    img = sample_image("chelsea")
    common = dict(octaves=1, iterations=5, max_side=64, seed=3)
    roll = ascent.deep_dream(shapes, img, {"conv3_1": 1.0}, jitter=4, **common)
    zoom = ascent.deep_dream(shapes, img, {"conv3_1": 1.0}, jitter=0, scaling=0.1, **common)
    assert zoom.image.shape == roll.image.shape
    assert np.abs(zoom.image.astype(int) - roll.image.astype(int)).mean() > 1
    assert zoom.loss[-1] > zoom.loss[0]  # still a dream: the objective grows
    with pytest.raises(zoo.ModelError, match="scaling"):
        ascent.deep_dream(shapes, img, {"conv3_1": 1.0}, scaling=0.9)


def test_deep_dream_with_the_slides_objective_grows_the_activations_not_their_squares(shapes):
    """#23 g: the slide's f_A is the sum of layer A's activations (a mean here: the same step after the
    inverse-L1 normalisation); keras-io's the mean of their squares. Each grows its own objective."""
    img = sample_image("chelsea")
    common = dict(octaves=1, iterations=5, max_side=64, seed=3, jitter=0, scaling=0.01)
    slide = ascent.deep_dream(shapes, img, {"conv3_1": 1.0}, objective="activation", **common)
    keras_io = ascent.deep_dream(shapes, img, {"conv3_1": 1.0}, objective="square", **common)
    acts = np.asarray(ascent.any_size(shapes).extractor(("conv3_1",))(
        shapes.preprocess(img, size=slide.original.shape[:2])[None].astype(np.float32)))
    assert slide.loss[0] == pytest.approx(float(acts.mean()), rel=1e-3, abs=1e-4)  # f_A: the plain activations
    assert keras_io.loss[0] == pytest.approx(float((acts ** 2).mean()), rel=1e-3, abs=1e-4)
    assert slide.loss[-1] > slide.loss[0] and keras_io.loss[-1] > keras_io.loss[0]
    assert np.abs(slide.image.astype(int) - keras_io.image.astype(int)).mean() > 0.5
    with pytest.raises(zoo.ModelError, match="objective"):
        ascent.deep_dream(shapes, img, {"conv3_1": 1.0}, objective="cubes")
