"""FCN-32s / 16s / 8s skip fusion (#23 c): summed score maps at three strides, one network, three heads."""

from __future__ import annotations

import numpy as np
import pytest

import core  # noqa: F401  (TensorFlow environment first)
from core.fcn import skips
from core.fcn.segmentation import SegmentationError
from core.scenes import segmentation_scenes


def test_the_three_heads_start_equal_and_differ_only_through_the_fused_skips():
    model = skips.build_skip_fcn()
    names = [o.name.split("/")[0] for o in model.outputs]
    assert len(names) == 3
    x = segmentation_scenes(2, 48, seed=5).images.astype(np.float32) / 255.0
    out32, out16, out8 = (np.asarray(o) for o in model(x, training=False))
    assert out32.shape == out16.shape == out8.shape == (2, 48, 48, 4)
    # the skips' score layers start at zero (as in the paper) and the x2 transposed convolutions are bilinear:
    # at initialisation 16s and 8s are the coarse scores interpolated another way (no skip contributes yet)
    inner = (slice(None), slice(8, -8), slice(8, -8))
    for other in (out16, out8):
        assert np.corrcoef(other[inner].ravel(), out32[inner].ravel())[0, 1] > 0.9
    # a non-zero pool1 score layer changes only the 8s head
    layer = model.get_layer("score_pool1")
    w, b = layer.get_weights()
    layer.set_weights([np.ones_like(w), b])
    out32b, out16b, out8b = (np.asarray(o) for o in model(x, training=False))
    assert np.allclose(out32b, out32) and np.allclose(out16b, out16) and not np.allclose(out8b, out8)


def test_bilinear_transposed_kernel_doubles_a_constant_map_into_a_constant_map():
    w = skips._bilinear_up2(2)
    assert w.shape == (4, 4, 2, 2) and w[:, :, 0, 1].sum() == 0
    assert w[:, :, 0, 0].sum() == pytest.approx(4.0)  # stride 2 in two axes: each output pixel gets weight 1


def test_predict_variants_needs_sides_divisible_by_8():
    model = skips.build_skip_fcn()
    with pytest.raises(SegmentationError, match="divisible by 8"):
        skips.predict_variants(model, np.zeros((1, 44, 48, 3), np.uint8))
    out = skips.predict_variants(model, np.zeros((1, 40, 56, 3), np.uint8))
    assert set(out) == set(skips.VARIANTS) and out["8s"].shape == (1, 40, 56)


@pytest.mark.trained
def test_the_trained_fusions_are_at_least_as_good_as_the_coarse_map():
    _, card = skips.load_skip_fcn()
    iou = {v: card["variants"][v]["mean_iou"] for v in skips.VARIANTS}
    assert iou["32s"] > 0.4  # it learned something
    assert iou["8s"] > iou["32s"]  # the fused skips bring back the detail the stride-8 map lost


def test_is_trained_reads_the_card_and_its_recipe(tmp_path):
    assert not skips.is_trained(tmp_path)
    skips.model_path(tmp_path).write_bytes(b"x")
    skips.model_path(tmp_path).with_suffix(".json").write_text('{"recipe": {"version": 0}}')
    assert not skips.is_trained(tmp_path)  # another recipe: it will be retrained
    import json

    skips.model_path(tmp_path).with_suffix(".json").write_text(json.dumps({"recipe": skips.RECIPE}))
    assert skips.is_trained(tmp_path)
