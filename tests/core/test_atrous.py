"""Atrous convolution: receptive fields against a hand computation, the ASPP / pyramid pooling FCNs,
and the ASPP decoder's held-out per-class IoU through the trainer, the CLI and the report."""

from __future__ import annotations

import json

import numpy as np
import pytest

import core  # noqa: F401
from core.fcn import atrous
from core.fcn import segmentation as seg
from core.scenes import SEGMENT_CLASSES, segmentation_scenes
from tests.core.test_cli import run

# By hand, k = 3 (offsets -7 .. 7). Rate 1 reads -1, 0, 1. Rate 2 on top: every a + b with
# a in {-1, 0, 1}, b in {-2, 0, 2} -> -3 .. 3, and -1 (= 1 - 2 = -1 + 0) and 1 are reached twice:
# [1, 1, 2, 1, 2, 1, 1]. Rate 4 on top: c3[o] = c2[o - 4] + c2[o] + c2[o + 4].
HAND_1 = [1, 1, 1]
HAND_12 = [1, 1, 2, 1, 2, 1, 1]
HAND_124 = [1, 1, 2, 1, 3, 2, 3, 1, 3, 2, 3, 1, 2, 1, 1]


def padded(counts, span):
    counts = np.asarray(counts)
    pad = (span - len(counts)) // 2
    return np.pad(counts, pad)


def test_rates_1_2_4_stacked_match_the_hand_computation():
    layers = atrous.path_counts_1d((1, 2, 4))
    assert atrous.field_size((1, 2, 4)) == 15 and all(len(c) == 15 for c in layers)
    assert layers[0].tolist() == padded(HAND_1, 15).tolist()
    assert layers[1].tolist() == padded(HAND_12, 15).tolist()
    assert layers[2].tolist() == HAND_124
    assert layers[2].sum() == 3 ** 3 and atrous.holes((1, 2, 4)) == 0  # 27 paths, no input skipped


def test_gridding_single_rates_and_ordinary_stacks():
    assert atrous.path_counts_1d((4,))[0].tolist() == [1, 0, 0, 0, 1, 0, 0, 0, 1]
    assert atrous.path_counts_1d((1, 1, 1))[-1].tolist() == [1, 3, 6, 7, 6, 3, 1]  # trinomial, span 7
    grid = atrous.path_counts_1d((2, 2, 2))[-1]
    assert grid[::2].tolist() == [1, 3, 6, 7, 6, 3, 1] and not grid[1::2].any()  # rate 2 thrice: odd holes
    assert atrous.holes((2, 2, 2)) == 6


@pytest.mark.parametrize("rates", [(1,), (2,), (1, 2), (1, 2, 4), (2, 2, 2)])
def test_one_hot_gradient_through_keras_dilated_convs_equals_the_counts(rates):
    measured = atrous.gradient_counts_2d(rates)
    assert np.array_equal(measured, atrous.path_counts_2d(rates))
    assert measured.shape == (atrous.field_size(rates),) * 2


def test_bad_rates_are_refused_with_a_sentence():
    for rates in ((), (0, 1), (1,) * 7, ("a",)):
        with pytest.raises(atrous.AtrousError):
            atrous.check_rates(rates)


def test_pyramid_bins_and_aspp_taps():
    assert atrous.pyramid_bin_edges(12, 3).tolist() == [[0, 4], [4, 8], [8, 12]]
    assert atrous.pyramid_bin_edges(10, 3).tolist() == [[0, 4], [3, 7], [6, 10]]  # PyTorch's overlap
    assert atrous.aspp_taps((2, 6), stride=4) == {2: pytest.approx([-8, 0, 8]), 6: pytest.approx([-24, 0, 24])}


def test_adaptive_average_pooling_layer_matches_numpy():
    pool, _ = seg._context_layers()
    x = np.random.default_rng(0).normal(size=(2, 10, 7, 3)).astype(np.float32)
    out = np.asarray(pool(3)(x))
    rows, cols = atrous.pyramid_bin_edges(10, 3), atrous.pyramid_bin_edges(7, 3)
    expected = np.array([[[x[n, r0:r1, c0:c1].mean(axis=(0, 1)) for c0, c1 in cols] for r0, r1 in rows]
                         for n in range(2)])
    assert np.allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize("decoder", seg.CONTEXT_DECODERS)
def test_context_decoders_build_with_the_right_output_shape(decoder):
    model = seg.build_fcn(decoder)
    for h, w in ((48, 48), (52, 60)):
        assert tuple(model(np.zeros((1, h, w, 3), np.float32)).shape) == (1, h, w, len(SEGMENT_CLASSES))
    names = {layer.name for layer in model.layers}
    if decoder == "aspp":
        assert {f"aspp_rate{r}" for r in seg.ASPP_RATES} <= names
        assert [model.get_layer(f"aspp_rate{r}").dilation_rate for r in seg.ASPP_RATES] == [(r, r) for r in seg.ASPP_RATES]
    else:
        assert {f"psp_pool{b}" for b in seg.PYRAMID_BINS} <= names
    rates = [model.get_layer(f"bottleneck_{i}").dilation_rate[0] for i in (1, 2)]
    assert tuple(rates) == seg.BOTTLENECK_RATES and atrous.holes((*rates, 2)) == 0  # no gridding into ASPP


def test_measured_receptive_field_of_fcns():
    """A dilated conv's field is its taps; the image-level branch makes ASPP's field the whole image,
    while the transposed-convolution FCN (no global branch) sees a bounded window."""
    from core.device import import_keras

    keras = import_keras()
    inputs = keras.Input((None, None, 3))
    probe = keras.Model(inputs, keras.layers.Conv2D(2, 3, dilation_rate=3, padding="same", kernel_initializer="ones")(inputs))
    scenes = segmentation_scenes(4, 32, seed=7).images
    field = atrous.model_receptive_field(probe, scenes)
    assert field.extent == (7, 7) and field.seen.sum() == 9
    assert field.share_beyond(2) == pytest.approx(8 / 9) and field.share_beyond(3) == 0  # equal taps at +-3
    big = segmentation_scenes(4, 128, seed=7).images
    assert atrous.model_receptive_field(seg.build_fcn("aspp"), big).whole_image
    local = atrous.model_receptive_field(seg.build_fcn("transpose"), big)
    assert not local.whole_image and local.extent[0] < 128


@pytest.mark.trained
def test_aspp_decoder_is_trained_evaluated_and_reported():
    """The real recipe through the one trainer entry (cached after the first run): held-out per-class
    IoU on the card, in `segment --evaluate`, and recomputed by the report."""
    from tests.core.test_segmentation import card_iou_by_hand

    model, card = seg.load_fcn("aspp")
    assert set(card["per_class_iou"]) == set(SEGMENT_CLASSES) and card["mean_iou"] >= 0.7  # the threshold, once
    assert card_iou_by_hand(model, card) == pytest.approx(card["per_class_iou"], abs=0.01)  # recounted with numpy
    payload = json.loads(run("segment", "--model", "shapes-fcn-aspp", "--evaluate", "--json").stdout)
    assert payload["model"] == "shapes-fcn-aspp" and payload["mean_iou"] == pytest.approx(card["mean_iou"])
    assert payload["receptive_field"]["whole_image"] and payload["receptive_field"]["extent"] == [128, 128]

    from core import report

    section = report.segmentation_figures(lambda f, m: None, report.Options(quick=True))
    figures = {f.key: f.value for f in section.figures}
    assert figures["segmentation.mean_iou_aspp"] == pytest.approx(card["mean_iou"], abs=1e-6)
