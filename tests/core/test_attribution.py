"""Attribution methods against tf-keras-vis, CAM = Grad-CAM for a GAP head, IG completeness."""

from __future__ import annotations

import json

import numpy as np
import pytest

import core  # noqa: F401
from core.images import sample_image
from core.vision import attribution as A
from core.vision import zoo
from tests.core.test_cli import run


@pytest.fixture(scope="module")
def emotion_face():
    model = zoo.load_model("emotion-cnn")
    img = sample_image("astronaut")
    face = zoo.find_faces(img)[0].crop(img)
    return model, model.preprocess(face)[None], model.class_index("happy")


@pytest.fixture(scope="module")
def shapes_x():
    model = zoo.load_model("shapes-cnn")
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
