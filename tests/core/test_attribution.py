"""Attribution methods against tf-keras-vis, CAM = Grad-CAM for a GAP head, IG completeness."""

from __future__ import annotations

import json

import numpy as np
import pytest

import core  # noqa: F401
from core.images import sample_image
from core.numeric import softmax
from core.vision import attribution as A
from core.vision import zoo
from tests.core.test_cli import run


@pytest.fixture(scope="module")
def emotion_face(emotion_cnn):
    model = emotion_cnn
    img = sample_image("astronaut")
    face = zoo.find_faces(img)[0].crop(img)
    return model, model.preprocess(face)[None], model.class_index("happy")


@pytest.fixture(scope="module")
def shapes_x(shapes_cnn):
    model = shapes_cnn
    return model, model.preprocess(sample_image("coffee"))[None]


def pearson(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def test_grad_cam_and_saliency_match_tf_keras_vis(emotion_face, shapes_x):
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    model, x, happy = emotion_face
    ref = Gradcam(model.model, model_modifier=ReplaceToLinear(), clone=True)(
        CategoricalScore(happy), x, penultimate_layer=A.default_layer(model))[0]
    assert pearson(ref, A.grad_cam(model, x, happy).values) >= 0.99
    sal = Saliency(model.model, model_modifier=ReplaceToLinear(), clone=True)(CategoricalScore(happy), x)[0]
    assert pearson(sal, A.saliency(model, x, happy).values) >= 0.99
    shapes, xs = shapes_x
    ref2 = Gradcam(shapes.model, clone=True)(CategoricalScore(0), xs, penultimate_layer="conv3_2")[0]
    assert pearson(ref2, A.grad_cam(shapes, xs, 0, "conv3_2").values) >= 0.99
    sal2 = Saliency(shapes.model, clone=True)(CategoricalScore(0), xs)[0]
    assert pearson(sal2, A.saliency(shapes, xs, 0).values) >= 0.99
    # SmoothGrad: the same estimator with other noise draws, so agreement grows with the samples
    smooth = Saliency(model.model, model_modifier=ReplaceToLinear(), clone=True)(
        CategoricalScore(happy), x, smooth_samples=100, smooth_noise=0.2)[0]
    assert pearson(smooth, A.smooth_grad(model, x, happy, samples=100, noise=0.2).values) >= 0.95


def test_grad_cam_pp_and_score_cam_match_tf_keras_vis(emotion_face, shapes_x):
    """At Conv2D layers (tf-keras-vis moves a separable-convolution target back to the previous Conv2D,
    so the layers are compared where both use the same one)."""
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    model, x, happy = emotion_face
    shapes, xs = shapes_x
    for m, inp, cls, layer in ((model, x, happy, A.default_layer(model)), (shapes, xs, 0, "conv3_2")):
        ref = GradcamPlusPlus(m.model, model_modifier=ReplaceToLinear(), clone=True)(
            CategoricalScore(cls), inp, penultimate_layer=layer)[0]
        assert pearson(ref, A.grad_cam_pp(m, inp, cls, layer).values) >= 0.999
        ref = Scorecam(m.model, model_modifier=ReplaceToLinear(), clone=True)(
            CategoricalScore(cls), inp, penultimate_layer=layer)[0]
        assert pearson(ref, A.score_cam(m, inp, cls, layer).values) >= 0.999


def test_cam_equals_grad_cam_for_a_gap_dense_head(shapes_x):
    shapes, xs = shapes_x
    for c in range(3):
        assert np.allclose(A.cam(shapes, xs, c).values, A.grad_cam(shapes, xs, c, "pool3").values, atol=1e-5)


def test_cam_on_a_class_map_head(emotion_face):
    model, x, happy = emotion_face
    heat = A.cam(model, x, happy)
    assert heat.values.shape == (64, 64) and heat.values.max() == pytest.approx(1.0)


def test_integrated_gradients_completeness(emotion_face):
    model, x, happy = emotion_face
    ig = A.integrated_gradients(model, x, happy)
    delta = ig.score - ig.baseline_score
    assert abs(ig.attributions.sum() - delta) <= 0.01 * abs(delta)


@pytest.mark.parametrize("method", A.METHODS)
def test_every_method_gives_a_unit_heatmap(shapes_x, method):
    shapes, _ = shapes_x
    heat = A.attribute(shapes, sample_image("coffee"), method, 1)
    assert heat.values.shape == (48, 48) and heat.values.dtype == np.float32
    assert 0.0 <= heat.values.min() and heat.values.max() <= 1.0


def test_bad_inputs(shapes_x, emotion_face):
    shapes, xs = shapes_x
    with pytest.raises(A.AttributionError, match="out of range"):
        A.grad_cam(shapes, xs, 99)
    with pytest.raises(A.AttributionError, match="no spatial output"):
        A.grad_cam(shapes, xs, 0, "gap")
    with pytest.raises(A.AttributionError, match="NaN"):
        A.saliency(shapes, np.full_like(xs, np.nan), 0)
    flat = A.saliency(shapes, np.zeros_like(xs), 0)
    assert flat.values.shape == (48, 48)
    with pytest.raises(A.AttributionError, match="Unknown method"):
        A.attribute(shapes, sample_image("coffee"), "lime", 0)


def test_cli_attribute(tmp_path):
    out = tmp_path / "heat.npy"
    payload = json.loads(run("attribute", "--model", "emotion-cnn", "--image", "astronaut", "--method", "gradcam",
                             "--target", "happy", "--out", str(out), "--json").stdout)
    heat = np.load(out)
    assert heat.shape == (64, 64) and heat.dtype == np.float32 and 0 <= heat.min() and heat.max() <= 1
    assert payload["target"] == "happy" and len(payload["top5"]) == 5


def test_cli_attribute_faithfulness_and_unchanged_input(tmp_path, emotion_cnn):
    from core.images import resize, to_gray, to_png_bytes

    img = sample_image("astronaut")
    face = zoo.find_faces(img)[0].crop(img)
    gray = to_gray(resize(face, 64, 64, "area"))
    (tmp_path / "face.png").write_bytes(to_png_bytes(gray))
    out = tmp_path / "heat.npy"
    payload = json.loads(run("attribute", "--model", "emotion-cnn", "--image", str(tmp_path / "face.png"),
                             "--method", "saliency", "--target", "happy", "--faithfulness", "--out", str(out),
                             "--json").stdout)
    assert 0 <= payload["deletion_auc"] <= 1 and 0 <= payload["insertion_auc"] <= 1
    # a 64x64 gray file is the model input as it is: same heatmap as from the array itself
    model = emotion_cnn
    x = zoo.preprocess_array(gray[:, :, None].astype(np.float32), "fer")[None]
    assert np.allclose(np.load(out), A.saliency(model, x, model.class_index("happy")).values, atol=1e-5)


def test_faithfulness_curves_end_points_and_ordering(shapes_x):
    from core.scenes import SHAPES, shape_classification

    shapes, _ = shapes_x
    data = shape_classification(12, 48, seed=7)
    x = data.images[:1].astype(np.float32) / 255.0
    target = int(data.labels[0])
    p = softmax(shapes.predict_logits(x))[0, target]
    heat = np.random.default_rng(0).random((48, 48)).astype(np.float32)
    f = A.faithfulness(shapes, x, heat, target, steps=8)
    assert f.deletion[0] == pytest.approx(p, abs=1e-5) and f.insertion[-1] == pytest.approx(p, abs=1e-5)
    black = softmax(shapes.predict_logits(np.zeros_like(x)))[0, target]
    assert f.deletion[-1] == pytest.approx(black, abs=1e-5)
    # averaged over images, Grad-CAM's order must beat the same order reversed and a random order
    good, bad, rand = [], [], []
    for i in range(len(data.labels)):
        xi = data.images[i:i + 1].astype(np.float32) / 255.0
        ti = int(data.labels[i])
        hm = A.grad_cam(shapes, xi, ti, "conv3_2").values
        for store, h in ((good, hm), (bad, 1.0 - hm), (rand, np.random.default_rng(i).random(hm.shape))):
            f = A.faithfulness(shapes, xi, h.astype(np.float32), ti)
            store.append(f.insertion_auc - f.deletion_auc)
    assert np.mean(good) > np.mean(rand) > np.mean(bad), (np.mean(good), np.mean(rand), np.mean(bad), SHAPES)
    with pytest.raises(A.AttributionError, match="heatmap is"):
        A.faithfulness(shapes, x, heat[:10], target)


def test_distributional_influence_is_the_mean_channel_gradient(shapes_x):
    import tensorflow as tf

    from core.scenes import shape_classification

    shapes, _ = shapes_x
    xs = shape_classification(10, 48, seed=3).images.astype(np.float32) / 255.0
    inf = A.distributional_influence(shapes, xs, 2, "conv3_1", batch=4)
    sub = tf.keras.Model(shapes.model.inputs, [shapes.model.get_layer("conv3_1").output, shapes.model.outputs[0]])
    ref = []
    for x in xs:  # one image at a time, eagerly: the definition
        with tf.GradientTape() as tape:
            acts, logits = sub(x[None])
            score = logits[0, 2]
        ref.append(tape.gradient(score, acts).numpy()[0].sum(axis=(0, 1)))
    assert np.allclose(inf.channels, np.mean(ref, axis=0), rtol=1e-4, atol=1e-6)
    heat = A.influence_map(shapes, xs[:1], inf)
    assert heat.values.shape == (48, 48) and 0 <= heat.values.min() and heat.values.max() <= 1


def test_overlay_and_colormaps():
    img = np.full((20, 30, 3), 100, np.uint8)
    heat = np.zeros((5, 5), np.float32)
    assert np.array_equal(A.overlay(img, heat, 0.0), img)
    full = A.overlay(img, np.ones((5, 5), np.float32), 1.0, "jet")
    assert full.shape == (20, 30, 3) and np.all(full == A.colorize(np.ones((20, 30)), "jet"))
    with pytest.raises(A.AttributionError, match="colormap"):
        A.colorize(heat, "rainbow-unicorn")


def test_no_conv_layer_and_all_zero_gradients():
    import keras

    from core.vision.zoo import LoadedModel

    dense = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    flat = LoadedModel("dense", "dense", dense, dense, ["a", "b", "c"], "unit", (8, 8), 1)
    with pytest.raises(A.AttributionError, match="no convolutional layer"):
        A.grad_cam(flat, np.zeros((1, 8, 8, 1), np.float32), 0)
    with pytest.raises(A.AttributionError, match="global-average-pooling"):
        A.cam(flat, np.zeros((1, 8, 8, 1), np.float32), 0)
    dead = keras.Sequential([keras.Input((8, 8, 1)),
                             keras.layers.Conv2D(2, 3, activation="relu", kernel_initializer="zeros",
                                                 bias_initializer="zeros", name="conv"),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    zero = LoadedModel("dead", "dead", dead, dead, ["a", "b"], "unit", (8, 8), 1)
    for method in ("gradcam", "saliency", "smoothgrad"):
        heat = A.attribute(zero, np.full((8, 8, 3), 128, np.uint8), method, 1)
        assert "zero" in heat.note and not heat.values.any()


# ----------------------------------------------------------------------------- EfficientNet-Lite0, composite sample


@pytest.fixture(scope="module")
def lite_composite(efficientnet_lite0):
    model = efficientnet_lite0
    return model, model.preprocess(sample_image("cat_and_espresso"))[None]


def test_default_layer_is_model_aware(lite_composite, emotion_face, shapes_x):
    lite, _ = lite_composite
    assert A.default_layer(lite) == "head_activation"  # after the head's BN + ReLU6, 7x7x1280
    assert A.default_layer(emotion_face[0]) == emotion_face[0].conv_layers[-1]  # unchanged: the last convolution
    assert A.default_layer(shapes_x[0]) == "conv3_2"
    assert "head_activation" in A.target_layers(lite) and "block5c_add" in A.candidate_layers(lite)
    assert A.candidate_layers(emotion_face[0]) == emotion_face[0].conv_layers[-5:]


def test_grad_cam_on_efficientnet_matches_tf_keras_vis_at_the_same_layer(lite_composite):
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.scores import CategoricalScore

    lite, x = lite_composite
    cls = lite.class_index("espresso")
    # head_activation is a ReLU layer: tell tf-keras-vis not to step back to the last convolution
    ref = Gradcam(lite.model, clone=True)(CategoricalScore(cls), x, penultimate_layer="head_activation",
                                          seek_penultimate_conv_layer=False)[0]
    assert pearson(ref, A.grad_cam(lite, x, cls).values) >= 0.99


def test_grad_cam_of_the_composite_puts_the_heat_on_the_requested_object(lite_composite):
    """Cat on the left half, espresso on the right: Grad-CAM for each class heats its own half."""
    lite, x = lite_composite
    top = [name for name, _ in lite.predict(sample_image("cat_and_espresso"), top=5)]
    assert "espresso" in top and any("cat" in name for name in top)
    half = x.shape[2] // 2
    for name, left in (("tiger cat", True), ("Egyptian cat", True), ("espresso", False)):
        heat = A.grad_cam(lite, x, lite.class_index(name)).values
        share = heat[:, :half].sum() / heat.sum()
        assert (share if left else 1 - share) > 0.75, (name, share)
    # Guided Grad-CAM inherits the class discrimination; guided backprop alone does not have it
    esp = A.guided_grad_cam(lite, x, lite.class_index("espresso")).values
    assert esp[:, half:].sum() / esp.sum() > 0.75


def _tiny_relu_model():
    """2x2x3 input -> 1x1 conv (4) -> ReLU6 layer -> 1x1 conv (2, relu built in) -> GAP -> dense (2)."""
    import keras

    rng = np.random.default_rng(4)
    inputs = keras.Input((2, 2, 3))
    h = keras.layers.Conv2D(4, 1, name="c1")(inputs)
    h = keras.layers.ReLU(6.0, name="r1")(h)
    h = keras.layers.Conv2D(2, 1, activation="relu", name="c2")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    out = keras.layers.Dense(2, name="logits")(h)
    model = keras.Model(inputs, out)
    model.get_layer("c1").set_weights([rng.normal(0, 3, (1, 1, 3, 4)), np.array([0.0, -1.0, 5.0, 4.0])])
    model.get_layer("c2").set_weights([rng.normal(0, 1, (1, 1, 4, 2)), np.array([0.5, -0.2])])
    model.get_layer("logits").set_weights([np.array([[1.5, -1.0], [-2.0, 0.7]]), np.zeros(2)])
    return model


def test_guided_backprop_matches_the_hand_computed_relu_rule():
    """Springenberg et al.'s rule by hand: at each ReLU, pass the gradient only where the input is in
    the linear range (0 < h, and h < 6 for ReLU6) AND the gradient from above is positive."""
    from core.vision.zoo import LoadedModel

    model = _tiny_relu_model()
    tiny = LoadedModel("tiny", "tiny", model, model, ["a", "b"], "none", (2, 2), 3)
    x = np.random.default_rng(1).normal(0, 1, (1, 2, 2, 3)).astype(np.float32)
    w1, b1 = model.get_layer("c1").get_weights()
    w2, b2 = model.get_layer("c2").get_weights()
    w3, _ = model.get_layer("logits").get_weights()
    gates_seen = set()
    for c in (0, 1):
        expected = np.zeros((2, 2, 3))
        plain = np.zeros((2, 2, 3))
        for i in range(2):
            for j in range(2):
                h1 = x[0, i, j] @ w1[0, 0] + b1
                a1 = np.clip(h1, 0, 6)
                h2 = a1 @ w2[0, 0] + b2
                g_a2 = w3[:, c] / 4.0  # d logit / d a2 through the 2x2 global average
                g_h2 = g_a2 * (h2 > 0) * (g_a2 > 0)
                g_a1 = w2[0, 0] @ g_h2
                g_h1 = g_a1 * (h1 > 0) * (h1 < 6) * (g_a1 > 0)
                expected[i, j] = w1[0, 0] @ g_h1
                plain[i, j] = w1[0, 0] @ ((w2[0, 0] @ (g_a2 * (h2 > 0))) * (h1 > 0) * (h1 < 6))
                gates_seen.update({("clipped", bool((h1 > 6).any())), ("negative grad", bool((g_a1 < 0).any()))})
        got = A.guided_gradients(tiny, x, c)[0]
        assert np.allclose(got, expected, atol=1e-5), c
        assert np.allclose(A.input_gradients(tiny, x, c)[0], plain, atol=1e-5)  # the shared model: plain rule
    assert ("clipped", True) in gates_seen and ("negative grad", True) in gates_seen  # both gates were exercised
    # the shared model is untouched: its ReLUs are still ReLUs, its weights the same
    assert model.get_layer("c2").activation.__name__ == "relu" and type(model.get_layer("r1")).__name__ == "ReLU"
    assert np.array_equal(model.get_layer("c1").get_weights()[0], w1)
    assert A.guided_model(tiny) is not model and A.guided_model(tiny) is A.guided_model(tiny)  # built once


def test_guided_grad_cam_is_guided_backprop_times_grad_cam(shapes_x):
    shapes, xs = shapes_x
    g = A.guided_gradients(shapes, xs, 2)[0]
    cam = A.grad_cam(shapes, xs, 2, "conv3_2").values
    expected = np.maximum(g * cam[:, :, None], 0).max(axis=-1)
    got = A.guided_grad_cam(shapes, xs, 2, "conv3_2")
    assert np.allclose(got.values, expected / expected.max(), atol=1e-5)
    assert got.rgb.shape == (48, 48, 3) and got.rgb.dtype == np.uint8 and got.layer == "conv3_2"


def test_sanity_check_cascading_randomisation(lite_composite):
    """Adebayo et al.: randomising the classifier destroys Grad-CAM but barely touches guided
    backpropagation; the shared model keeps its weights."""
    lite, x = lite_composite
    before = [w.copy() for w in lite.model.get_weights()[-4:]]
    steps = A.cascading_randomization(lite, x, lite.class_index("espresso"), stops=4)
    assert steps[0].label == "original" and all(v == 1.0 for v in steps[0].spearman.values())
    assert steps[1].randomized == ("predictions",)
    top = steps[2]  # the classifier and the head randomised
    assert top.spearman["guided-backprop"] > 0.95  # still the image's edges, whatever the classifier
    assert not top.spearman["gradcam"] >= 0.5  # the class evidence is gone (or the map went flat: nan)
    assert steps[-1].spearman["saliency"] < 0.3
    assert len(steps[-1].randomized) == len(A.weighted_layers(lite.model))
    assert all(np.array_equal(a, b) for a, b in zip(before, lite.model.get_weights()[-4:], strict=True))
    with pytest.raises(A.AttributionError, match="sanity check runs"):
        A.cascading_randomization(lite, x, 0, methods=("scorecam",))


def test_spearman_ties_and_flat_maps():
    assert A.spearman(np.arange(10), np.arange(10) ** 3) == pytest.approx(1.0)
    assert A.spearman(np.arange(10), -np.arange(10)) == pytest.approx(-1.0)
    assert np.isnan(A.spearman(np.zeros(10), np.arange(10)))


def test_cli_attribute_guided_by_name_or_index(tmp_path):
    by_name, by_index = tmp_path / "a.npy", tmp_path / "b.npy"
    payload = json.loads(run("attribute", "--model", "efficientnet-lite0", "--image", "cat_and_espresso", "--method",
                             "guided-gradcam", "--target", "espresso", "--out", str(by_name), "--rgb-out",
                             str(tmp_path / "g.png"), "--json").stdout)
    assert payload["target_index"] == 967 and payload["layer"] == "head_activation"
    run("attribute", "--model", "efficientnet-lite0", "--image", "cat_and_espresso", "--method", "guided-gradcam",
        "--target", "967", "--out", str(by_index))
    assert np.array_equal(np.load(by_name), np.load(by_index)) and (tmp_path / "g.png").stat().st_size > 1000
    twice = run("attribute", "--model", "efficientnet-lite0", "--image", "chelsea", "--target", "crane", check=False)
    assert twice.returncode == 2 and "134, 517" in twice.stderr


def test_score_cam_scores_serve_every_class_and_match_the_direct_map(shapes_x):
    """The masked passes give every class's probabilities: a map from shared scores equals the one-class
    computation, and two classes from one set of scores differ (the class is not ignored)."""
    m, x = shapes_x
    layer = A.default_layer(m)
    scores = A.score_cam_scores(m, x, layer, max_channels=8)
    assert scores.acts.shape[-1] == scores.probs.shape[0] == min(8, scores.acts.shape[-1])
    assert np.allclose(scores.probs.sum(axis=1), 1.0)
    for target in (0, 1):
        direct = A.score_cam(m, x, target, layer, max_channels=8)
        shared = A.score_cam(m, x, target, layer, scores=scores)
        assert np.allclose(direct.values, shared.values)
    assert not np.allclose(A.score_cam(m, x, 0, layer, scores=scores).values,
                           A.score_cam(m, x, 1, layer, scores=scores).values)


def test_integrated_gradients_in_small_batches_matches_one_batch(shapes_x):
    """Summing the path gradients batch by batch (bounded memory) gives the same attributions as one batch."""
    m, x = shapes_x
    one = A.integrated_gradients(m, x, 1, steps=16, batch=64)
    small = A.integrated_gradients(m, x, 1, steps=16, batch=3)
    assert np.allclose(one.attributions, small.attributions, atol=1e-5)
