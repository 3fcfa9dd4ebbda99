"""RoI pooling and RoIAlign against hand computations; Faster R-CNN's anchor deltas and smooth L1;
YOLO's box terms against the training loss itself."""

from __future__ import annotations

import numpy as np
import pytest

import core  # noqa: F401
from core.detection import roi as R

RAMP = np.arange(16, dtype=np.float64).reshape(4, 4)  # value = 4 * row + col


def test_whole_map_box_two_by_two():
    pooled = R.roi_pool(RAMP, (0, 0, 4, 4), (2, 2))
    assert pooled.output.tolist() == [[5, 7], [13, 15]]  # max of each 2x2 quarter
    assert pooled.bins[1, 0].tolist() == [2, 4, 0, 2]
    assert pooled.argmax[0, 1].tolist() == [1, 3]
    aligned = R.roi_align(RAMP, (0, 0, 4, 4), (2, 2), sampling=2)
    # the 2x2 samples of each bin fall exactly on cell centres: the mean of the quarter
    assert aligned.output.tolist() == [[2.5, 4.5], [10.5, 12.5]]
    assert aligned.samples[0, 0].tolist() == [[0.5, 0.5], [1.5, 0.5], [0.5, 1.5], [1.5, 1.5]]


def test_fractional_box_rounds_for_pooling_and_interpolates_for_align():
    one = np.zeros((4, 4))
    one[1, 1] = 1.0
    box = (0.75, 0.75, 1.75, 1.75)  # a one-cell box a quarter cell up-left of cell (1, 1)
    pooled = R.roi_pool(one, box, (1, 1))
    assert pooled.quantised_box == (1, 1, 2, 2) and pooled.output[0, 0] == 1.0  # rounded onto cell (1, 1)
    aligned = R.roi_align(one, box, (1, 1), sampling=1)
    # one sample at (1.25, 1.25): 0.75 of the way from centre (0.5, 0.5) to (1.5, 1.5) on both axes
    assert aligned.output[0, 0] == pytest.approx(0.75 * 0.75)
    aligned4 = R.roi_align(one, box, (1, 1), sampling=2)
    # samples at 1.0 and 1.5 on each axis: weights of cell (1, 1) are 0.5 and 1.0 per axis
    assert aligned4.output[0, 0] == pytest.approx(np.mean([0.5 * 0.5, 0.5 * 1.0, 1.0 * 0.5, 1.0 * 1.0]))
    shift = R.misalignment(box, (1, 1))
    assert shift["box_shift"] == [0.25, 0.25, 0.25, 0.25] and shift["box_max"] == 0.25


def test_bins_are_floored_and_ceiled_so_they_overlap():
    pooled = R.roi_pool(RAMP, (0, 0, 3, 3), (2, 2))  # 3 cells into 2 bins of 1.5
    assert pooled.bins[0, 0].tolist() == [0, 2, 0, 2] and pooled.bins[1, 1].tolist() == [1, 3, 1, 3]
    assert pooled.output.tolist() == [[5, 6], [9, 10]]
    assert R.misalignment((0, 0, 3, 3), (2, 2))["bin_max"] == pytest.approx(0.5)
    aligned = R.roi_align(RAMP, (0, 0, 3, 3), (2, 2), sampling=2)
    # on a linear ramp bilinear sampling is exact: each bin's mean is the value at its centre (0.75, 0.75)
    centre = lambda x, y: 4 * (y - 0.5) + (x - 0.5)  # noqa: E731
    assert aligned.output[1, 1] == pytest.approx(centre(2.25, 2.25))
    # bin (0, 0) samples at 0.375 and 1.125: the first is left of cell 0's centre and clamps to it,
    # so each axis averages cell coordinates 0 and 0.625
    assert aligned.output[0, 0] == pytest.approx(4 * 0.3125 + 0.3125)


def test_rounding_is_cs_and_spatial_scale_maps_image_pixels():
    assert (R.c_round(2.5), R.c_round(3.5), R.c_round(-0.5)) == (3, 4, -1)
    pooled = R.roi_pool(RAMP, (8, 8, 40, 40), (1, 1), spatial_scale=1 / 16)  # 0.5 .. 2.5 cells -> 1 .. 3
    assert pooled.quantised_box == (1, 1, 3, 3) and pooled.output[0, 0] == 10
    channels = np.stack([RAMP, -RAMP], axis=-1)
    both = R.roi_align(channels, (0, 0, 4, 4), (2, 2))
    assert both.output.shape == (2, 2, 2) and np.allclose(both.output[..., 1], -both.output[..., 0])


def test_bad_boxes_get_a_sentence():
    with pytest.raises(ValueError, match="x1 > x0"):
        R.roi_pool(RAMP, (2, 0, 1, 3))
    with pytest.raises(ValueError, match="at least 1 x 1"):
        R.roi_align(RAMP, (0, 0, 2, 2), (0, 2))
    with pytest.raises(ValueError, match="positive width"):
        R.anchor_deltas((0, 0, 0, 1), (0, 0, 1, 1))


def test_anchor_deltas_and_smooth_l1_by_hand():
    anchor = (0, 0, 10, 20)  # centre (5, 10), 10 x 20
    box = (2, 4, 22, 24)  # centre (12, 14), 20 x 20
    t = R.anchor_deltas(box, anchor)
    assert t == pytest.approx([0.7, 0.2, np.log(2.0), 0.0])
    assert R.apply_deltas(t, anchor) == pytest.approx(box)
    assert R.smooth_l1([0.5, -0.5, 2.0, -3.0]).tolist() == [0.125, 0.125, 1.5, 2.5]
    loss = R.faster_rcnn_box_loss(anchor, box, anchor)  # predicting the anchor itself: t = 0
    assert loss["t_star"] == pytest.approx(t.tolist()) and loss["t"] == [0, 0, 0, 0]
    assert loss["total"] == pytest.approx(0.5 * 0.7 ** 2 + 0.5 * 0.2 ** 2 + 0.5 * np.log(2.0) ** 2)  # all |d| < 1
    far = R.faster_rcnn_box_loss((30, 0, 40, 20), anchor, anchor)  # 3 anchor widths away: the linear branch
    assert far["terms"][0] == pytest.approx(3.0 - 0.5)


def test_log_deltas_are_scale_free_and_yolo_sqrt_is_not():
    small, big = (10, 10, 20, 20), (100, 100, 200, 200)
    wider = lambda b: (b[0], b[1], b[2] + 0.2 * (b[2] - b[0]), b[3])  # noqa: E731  20 % too wide
    f_small = R.faster_rcnn_box_loss(wider(small), small, small)["total"]
    f_big = R.faster_rcnn_box_loss(wider(big), big, big)["total"]
    assert f_small == pytest.approx(f_big)
    y_small = R.yolo_box_loss(wider(small), small, 416, 13)
    y_big = R.yolo_box_loss(wider(big), big, 416, 13)
    assert y_big["total"] > 3 * y_small["total"]  # the same relative error costs more on a big box


def test_yolo_box_loss_is_the_training_losss_coordinate_terms():
    from core.detection.yolo import Head, encode_targets, yolo_loss_terms

    grid, size = 4, 64
    anchors = np.array([[0.25, 0.25]], np.float32)
    head = Head(anchors, 2, "v2")
    true_box, pred_box = np.array([10.0, 12.0, 30.0, 28.0]), np.array([12.0, 11.0, 29.0, 31.0])
    y = encode_targets(true_box[None], np.array([1]), head, (grid, grid), size)
    p = R.xyxy_to_cxcywh(pred_box) / size
    g = R.xyxy_to_cxcywh(true_box) / size
    col, row = int(g[0] * grid), int(g[1] * grid)
    raw = np.zeros((1, grid, grid, 1 * 7), np.float32)
    off = p[:2] * grid - (col, row)
    raw[0, row, col, 0:2] = np.log(off / (1 - off))  # sigma^-1 of the offsets
    raw[0, row, col, 2:4] = np.log(p[2:] / anchors[0])
    terms = yolo_loss_terms(y[None], raw, head)
    mine = R.yolo_box_loss(pred_box, true_box, size, grid)
    assert mine["coord_xy"] == pytest.approx(float(terms["coord_xy"]), rel=1e-4)
    assert mine["coord_wh"] == pytest.approx(float(terms["coord_wh"]), rel=1e-4)
