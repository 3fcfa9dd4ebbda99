"""Mask R-CNN's keypoints as one-hot masks (#23 f): targets, decoding, quantisation and the loss."""

from __future__ import annotations

import numpy as np
import pytest

from core.detection import keypoints as KP


@pytest.mark.parametrize("m", [7, 14, 56])
def test_each_keypoint_is_a_mask_with_one_pixel_and_decodes_within_half_a_cell(m):
    fig = KP.stick_figure(128, seed=4)
    targets = KP.keypoint_targets(fig.keypoints, fig.box, m)
    assert targets.shape == (len(KP.KEYPOINTS), m, m)
    assert (targets.reshape(len(targets), -1).sum(axis=1) == 1).all()  # K masks, one pixel each
    x0, y0, x1, y1 = fig.box
    back = KP.decode(targets, fig.box)
    err = np.abs(back - fig.keypoints)
    assert (err[:, 0] <= 0.5 * (x1 - x0) / m + 1e-9).all() and (err[:, 1] <= 0.5 * (y1 - y0) / m + 1e-9).all()


def test_a_finer_map_places_keypoints_more_precisely_and_the_head_is_on_top():
    fig = KP.stick_figure(256, seed=1)
    errors = [np.abs(KP.decode(KP.keypoint_targets(fig.keypoints, fig.box, m), fig.box) - fig.keypoints).mean()
              for m in (4, 14, 56)]
    assert errors[0] > errors[1] > errors[2]
    head = KP.keypoint_targets(fig.keypoints, fig.box, 14)[0]
    assert np.argwhere(head)[0][0] < 14 // 3  # the head's pixel is in the top third of the RoI
    assert fig.image.shape == (256, 256, 3) and fig.image.min() < 100  # something is drawn


def test_a_keypoint_outside_the_roi_has_no_target_and_no_loss():
    targets = KP.keypoint_targets(np.array([[5.0, 5.0], [50.0, 50.0]]), (10, 10, 40, 40), 8)
    assert targets[0].sum() == 0 and targets[1].sum() == 0
    targets = KP.keypoint_targets(np.array([[5.0, 5.0], [20.0, 30.0]]), (10, 10, 40, 40), 8)
    probs = KP.softmax_maps(np.zeros((2, 8, 8)))
    loss = KP.cross_entropy(probs, targets)
    assert np.isnan(loss[0]) and loss[1] == pytest.approx(np.log(64))  # uniform over m^2 cells


def test_the_softmax_is_over_the_whole_map_and_a_peaked_prediction_decodes_to_the_target():
    fig = KP.stick_figure(128, seed=2)
    targets = KP.keypoint_targets(fig.keypoints, fig.box, 28)
    pred = KP.blurred_prediction(targets, seed=0)
    assert np.allclose(pred.reshape(len(pred), -1).sum(axis=1), 1.0)
    assert np.array_equal(KP.decode(pred, fig.box), KP.decode(targets, fig.box))
    assert (KP.cross_entropy(pred, targets) < np.log(28 * 28)).all()  # better than a uniform guess


def test_bad_inputs_are_sentences():
    with pytest.raises(KP.KeypointError, match="m must"):
        KP.keypoint_targets(np.zeros((1, 2)), (0, 0, 10, 10), 1)
    with pytest.raises(KP.KeypointError, match="positive width"):
        KP.decode(np.zeros((1, 4, 4)), (5, 5, 5, 9))
    with pytest.raises(KP.KeypointError, match="side"):
        KP.stick_figure(8)
