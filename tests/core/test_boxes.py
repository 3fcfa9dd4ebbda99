"""core.detection.boxes: IoU and overlap against per-pair loops, NMS variants, enlarge."""

from __future__ import annotations

import numpy as np
import pytest

from core import geometry as B


def random_boxes(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (n, 2))
    return np.concatenate([xy, xy + rng.uniform(1, 40, (n, 2))], axis=1)


def overlap_loop(a, b, over):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = lambda x: (x[2] - x[0]) * (x[3] - x[1])  # noqa: E731
    return w * h / (area(a) + area(b) - w * h if over == "union" else min(area(a), area(b)))


@pytest.mark.parametrize("over", ["union", "smaller"])
def test_overlap_matches_a_loop_over_pairs(over):
    a, b = random_boxes(12, 0), random_boxes(9, 1)
    got = B.box_overlap(a, b, over)
    assert got.shape == (12, 9)
    assert np.allclose(got, [[overlap_loop(x, y, over) for y in b] for x in a])
    assert np.allclose(B.box_iou(a, a).diagonal(), 1.0)
    with pytest.raises(ValueError):
        B.box_overlap(a, b, "area")


def test_nms_over_the_smaller_box_is_the_face_finders_rule():
    """Largest first, a window is dropped when it covers more than 30 % of a kept one's (or its own) area."""
    boxes = random_boxes(60, 2)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept = []
    for i in np.argsort(-areas, kind="stable"):
        if all(overlap_loop(boxes[i], boxes[k], "smaller") <= 0.3 for k in kept):
            kept.append(i)
    assert B.nms(boxes, areas, 0.3, over="smaller").tolist() == kept
    assert B.nms(boxes, areas, 0.3, max_out=3).tolist() == B.nms(boxes, areas, 0.3)[:3].tolist()
    assert B.nms(np.zeros((0, 4)), np.zeros(0)).tolist() == []


def test_enlarge_repeats_pixels_and_scales_boxes():
    image = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    big = B.enlarge(image, 3)
    assert big.shape == (6, 6, 3) and big.flags.c_contiguous
    assert (big[3:6, 0:3] == image[1, 0]).all()
    assert B.enlarge(image, 1) is not image and np.array_equal(B.enlarge(image, 1), image)
    with pytest.raises(ValueError):
        B.enlarge(image, 0)


def test_identity_letterbox_changes_nothing():
    box = B.Letterbox.identity(96)
    b = np.array([[3.0, 4.0, 50.0, 60.0]])
    assert np.array_equal(box.to_original(b), b) and np.array_equal(box.to_input(b), b)
