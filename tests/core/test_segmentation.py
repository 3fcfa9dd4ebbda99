"""Semantic segmentation: data, the three decoders, unpooling layers, IoU, the trained default, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

import core  # noqa: F401
from core.fcn import segmentation as seg
from core.vision.synthetic import SEGMENT_CLASSES, segmentation_scenes
from tests.core.test_cli import run


def test_scenes_have_every_class_and_are_seeded():
    a = segmentation_scenes(40, 48, seed=5)
    b = segmentation_scenes(40, 48, seed=5)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.masks, b.masks)
    assert set(np.unique(a.masks)) == set(range(len(SEGMENT_CLASSES)))
    assert a.images.shape == (40, 48, 48, 3) and a.masks.dtype == np.uint8


@pytest.mark.parametrize("decoder", seg.DECODERS)
def test_every_decoder_is_fully_convolutional(decoder):
    model = seg.build_fcn(decoder)
    params = model.count_params()
    for h, w in ((48, 48), (96, 64), (160, 160)):
        out = model(np.zeros((1, h, w, 3), np.float32))
        assert tuple(out.shape) == (1, h, w, len(SEGMENT_CLASSES))
    assert model.count_params() == params


def test_unpool_layer_puts_values_at_the_switches():
    pool, unpool = seg._layers()
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype(np.float32)
    pooled, argmax = pool()(x)
    restored = np.asarray(unpool()([pooled, argmax, x]))
    nonzero = restored != 0
    assert np.array_equal(restored[nonzero], x[nonzero])  # maxima in place
    assert nonzero.sum() == pooled.shape[0] * pooled.shape[1] * pooled.shape[2] * pooled.shape[3]


def test_iou_from_confusion_by_hand():
    truth = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 1, 0]])
    cm = seg.confusion(pred, truth, 2)
    assert cm.tolist() == [[3, 1], [1, 3]]
    assert np.allclose(seg.iou_from_confusion(cm), [3 / 5, 3 / 5])


def test_sizes_not_divisible_by_four_are_refused():
    with pytest.raises(seg.SegmentationError, match="divisible by 4"):
        seg.predict_masks(seg.build_fcn("bilinear"), np.zeros((1, 50, 48, 3), np.uint8))
    with pytest.raises(seg.SegmentationError, match="Unknown decoder"):
        seg.build_fcn("deconv")


def test_default_decoder_reaches_the_target_iou():
    model, card = seg.load_fcn(seg.DEFAULT_DECODER)
    assert card["mean_iou"] >= 0.8
    held_out = segmentation_scenes(60, seg.RECIPE["size"], seed=seg.RECIPE["seed"] + 1)
    assert seg.evaluate(model, held_out)["mean_iou"] > 0.75


def test_cli_segment_evaluate_and_image(tmp_path):
    payload = json.loads(run("segment", "--model", "shapes-fcn-transpose", "--evaluate", "--json").stdout)
    assert set(payload["per_class_iou"]) == set(SEGMENT_CLASSES) and payload["mean_iou"] >= 0.8
    out = tmp_path / "mask.png"
    counts = json.loads(run("segment", "--model", "shapes-fcn-transpose", "--image", "coffee", "--out", str(out),
                            "--json").stdout)
    assert sum(counts["pixel_counts"].values()) == counts["size"][0] * counts["size"][1] and out.exists()
    bad = run("segment", "--model", "deeplab", "--image", "coffee", check=False)
    assert bad.returncode == 2 and "not implemented yet" in bad.stderr
