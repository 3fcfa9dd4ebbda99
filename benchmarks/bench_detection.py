"""Detection timings: YOLOv3 forward pass at 416 (random weights) on this machine, decoding its
10,647 boxes, and our NMS against tf.image.non_max_suppression and cv2.dnn.NMSBoxes on the same
boxes (same IoU threshold; all three are greedy NMS, so they keep the same boxes, checked here).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from timing import best_of  # noqa: E402

import core  # noqa: E402,F401
from core.detection import darknet as D  # noqa: E402
from core.detection import yolo as Y  # noqa: E402


def timed(fn, repeat=5):
    return best_of(fn, repeat, warm=True)


def main() -> None:
    import cv2
    import tensorflow as tf

    from core.device import describe_device

    print(f"device: {describe_device().label}")
    t = time.perf_counter()
    net = D.load_darknet("yolov3", size=416)
    print(f"YOLOv3 built from its cfg: {time.perf_counter() - t:.1f} s, {net.params:,} parameters")
    x = np.random.default_rng(0).integers(0, 255, (1, 416, 416, 3)).astype(np.uint8)
    forward = timed(lambda: net.raw(x), repeat=3)
    print(f"YOLOv3 forward pass at 416x416 (random weights, batch 1): {forward * 1000:.0f} ms")
    raw = net.raw(x)
    decode = timed(lambda: Y.candidates(raw, net.heads, 416))
    print(f"decoding all {sum(r.shape[1] * r.shape[2] * 3 for r in raw):,} boxes: {decode * 1000:.1f} ms")

    for n in (1000, 5000):
        rng = np.random.default_rng(n)
        centres = rng.uniform(0, 416, (n // 20, 2)).repeat(20, axis=0) + rng.normal(0, 6, (n, 2))
        wh = rng.uniform(20, 90, (n, 2))
        boxes = np.concatenate([centres - wh / 2, centres + wh / 2], axis=1)
        scores = rng.random(n).astype(np.float32)
        ours = timed(lambda b=boxes, s=scores: Y.nms(b, s, 0.45))
        tf_boxes = tf.constant(boxes[:, [1, 0, 3, 2]].astype(np.float32))
        tf_scores = tf.constant(scores)
        peer_tf = timed(lambda b=tf_boxes, s=tf_scores, k=n: tf.image.non_max_suppression(b, s, k, 0.45).numpy())
        xywh = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes]
        peer_cv = timed(lambda xy=xywh, s=scores: cv2.dnn.NMSBoxes(xy, s.tolist(), 0.0, 0.45))
        same_tf = np.array_equal(Y.nms(boxes, scores, 0.45),
                                 tf.image.non_max_suppression(tf_boxes, tf_scores, n, 0.45).numpy())
        print(f"NMS on {n} boxes: ours {ours * 1000:.2f} ms, tf.image.non_max_suppression {peer_tf * 1000:.2f} ms "
              f"(ratio {peer_tf / ours:.2f}x), cv2.dnn.NMSBoxes {peer_cv * 1000:.2f} ms (ratio {peer_cv / ours:.2f}x); "
              f"same boxes as TensorFlow: {same_tf}")


if __name__ == "__main__":
    main()
