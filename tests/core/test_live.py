"""core.live: BlazeFace anchors, decoding and weighted NMS by hand; both MediaPipe models on a real
photo; the latest-frame-wins policy; per-stream interpreters released; the CLI commands; the pinned wheel."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from core.geometry import nms
from core.images import load_image, sample_image
from core.live import blazeface as bf
from core.live.frames import LatestFrameProcessor

# ----------------------------------------------------------------------------- anchors and decoding


def test_anchor_layout_is_16x16x2_then_8x8x6():
    a = bf.ssd_anchors()
    assert len(a) == 896 and (a.grid == 16).sum() == 512 and (a.grid == 8).sum() == 384
    assert list(a.stride[:512]) == [8] * 512 and list(a.stride[512:]) == [16] * 384
    # row-major cells, every anchor of a cell in a row: stride-8 cell (x=1, y=0) holds anchors 2 and 3
    np.testing.assert_allclose(a.centers[[0, 1, 2, 3]], [[0.5 / 16, 0.5 / 16]] * 2 + [[1.5 / 16, 0.5 / 16]] * 2)
    np.testing.assert_allclose(a.centers[511], [15.5 / 16, 15.5 / 16])
    # the 8x8 grid: 6 anchors per cell (3 layers of stride 16 x 2 scales each)
    np.testing.assert_allclose(a.centers[512:518], [[0.5 / 8, 0.5 / 8]] * 6)
    np.testing.assert_allclose(a.centers[518], [1.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(a.centers[512 + 6 * 8], [0.5 / 8, 1.5 / 8])  # next row of cells
    np.testing.assert_allclose(a.centers[895], [7.5 / 8, 7.5 / 8])
    # SSD scales: layer 0 = min scale, and the interpolated sqrt(s_i * s_i+1) after it
    s = [bf.MIN_SCALE + (bf.MAX_SCALE - bf.MIN_SCALE) * i / 3 for i in range(4)]
    np.testing.assert_allclose(a.scale[:2], [s[0], np.sqrt(s[0] * s[1])], rtol=1e-6)
    np.testing.assert_allclose(a.scale[512:518], [s[1], np.sqrt(s[1] * s[2]), s[2], np.sqrt(s[2] * s[3]), s[3],
                                                  np.sqrt(s[3] * 1.0)], rtol=1e-6)  # the last layer: s_next = 1


def test_decoding_by_hand():
    raw = np.zeros((896, 16), np.float32)
    # anchor 518: centre (0.1875, 0.0625); offsets are in pixels of the 128-px input
    raw[518, :4] = [12.8, -6.4, 25.6, 38.4]  # dx = +0.1, dy = -0.05, w = 0.2, h = 0.3
    raw[518, 4:6] = [0.0, 12.8]  # keypoint 0 (right eye): (0.1875, 0.1625)
    raw[518, 14:16] = [-12.8, 0.0]  # keypoint 5: (0.0875, 0.0625)
    boxes, kp = bf.decode(raw)
    np.testing.assert_allclose(boxes[518], [0.2875 - 0.1, 0.0125 - 0.15, 0.2875 + 0.1, 0.0125 + 0.15], atol=1e-6)
    np.testing.assert_allclose(kp[518, 0], [0.1875, 0.1625], atol=1e-6)
    np.testing.assert_allclose(kp[518, 5], [0.0875, 0.0625], atol=1e-6)
    # an anchor with zero regressors decodes to a point at its centre
    np.testing.assert_allclose(boxes[0], [1 / 32, 1 / 32, 1 / 32, 1 / 32], atol=1e-7)
    np.testing.assert_allclose(bf.scores_from_logits([0.0, 1e4, -1e4, np.log(3)]), [0.5, 1.0, 0.0, 0.75], atol=1e-6)


def test_weighted_nms_averages_what_greedy_nms_drops():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], float)  # IoU(A, B) = 90 / 110
    scores = np.array([0.9, 0.6, 0.8])
    kp = np.array([[[2, 2]], [[4, 2]], [[55, 55]]], float)
    merged = bf.weighted_nms(boxes, scores, kp, iou_threshold=0.3)
    assert [m.score for m in merged] == [0.9, 0.8]
    np.testing.assert_allclose(merged[0].box, [0.4, 0, 10.4, 10])  # (0.9 A + 0.6 B) / 1.5
    np.testing.assert_allclose(merged[0].keypoints, [[2.8, 2]])
    assert list(merged[0].members) == [0, 1] and list(merged[1].members) == [2]
    np.testing.assert_allclose(merged[1].box, boxes[2])
    assert list(nms(boxes, scores, 0.3)) == [0, 2]  # greedy keeps A as it is
    assert bf.weighted_nms(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 6, 2))) == []


# ----------------------------------------------------------------------------- the real models on a photo


@pytest.fixture(scope="module")
def astronaut():
    return sample_image("astronaut")


def test_blazeface_finds_the_astronauts_face(astronaut):
    det = bf.BlazeFace()
    try:
        result = det.detect(astronaut)
    finally:
        det.close()
    assert len(result.faces) == 1 and len(result.fired) >= 2
    face = result.faces[0]
    x0, y0, x1, y1 = face.box
    assert face.score > 0.8 and 60 < x1 - x0 < 140 and 60 < y1 - y0 < 140
    assert 190 < (x0 + x1) / 2 < 260 and 100 < (y0 + y1) / 2 < 160
    right_eye, left_eye, nose, mouth = face.keypoints[:4]
    assert right_eye[0] < nose[0] < left_eye[0]  # the subject's right eye is on the picture's left
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]
    assert set(face.members) <= set(result.fired)
    # a picture with no face: nothing fires
    det = bf.BlazeFace()
    try:
        assert det.detect(sample_image("coffee")).faces == []
    finally:
        det.close()


def test_selfie_mask_person_vs_background(astronaut):
    from core.live.selfie import SelfieSegmenter

    seg_model = SelfieSegmenter()
    try:
        seg = seg_model.segment(astronaut)
    finally:
        seg_model.close()
    assert seg.raw.shape == (256, 256) and seg.probability.shape == astronaut.shape[:2]
    p = seg.probability
    assert p[110:170, 200:250].mean() > 0.9  # the face
    assert p[300:400, 150:300].mean() > 0.9  # the orange suit
    assert p[0:60, 0:60].mean() < 0.1  # the flag in the top-left corner
    assert p[20:120, 420:500].mean() < 0.2  # the shuttle model behind her
    assert 0.3 < seg.person_fraction() < 0.8
    assert set(np.unique(seg.mask())) <= {0, 255}


# ----------------------------------------------------------------------------- latest frame wins


def test_latest_frame_wins_and_the_rest_are_dropped():
    started, release = threading.Event(), threading.Event()
    seen, stopped = [], []

    def process(frame):
        seen.append(frame)
        started.set()
        release.wait(5)
        return frame * 10

    proc = LatestFrameProcessor(process, on_stop=lambda: stopped.append(True))
    assert proc.submit(0) is None  # nothing finished yet
    assert started.wait(5)  # the model is busy with frame 0
    for i in range(1, 10):
        proc.submit(i)  # 1..8 are each replaced by the next before the model is free
    release.set()
    assert proc.wait_processed(2, timeout=5)
    assert seen == [0, 9] and proc.dropped == 8 and proc.submitted == 10 and proc.processed == 2
    assert proc.latest() == 90
    assert proc.submit(10) == 90  # the camera gets the newest finished output at once
    assert proc.wait_processed(3, timeout=5) and proc.latest() == 100
    proc.stop()
    assert stopped == [True] and proc.stopped
    proc.submit(11)
    assert seen == [0, 9, 10]  # nothing runs after stop


def test_a_stream_releases_its_own_interpreters():
    from core.live.modes import LiveSession, LiveSettings

    a, b = LiveSession(LiveSettings(mode="faces")), LiveSession(LiveSettings(mode="selfie"))
    frame = np.zeros((120, 160, 3), np.uint8)
    a.process(frame)
    b.process(frame)
    b.settings.mode = "faces"
    b.process(frame)
    assert a.blazeface is not b.blazeface  # never shared between streams
    model = a.blazeface.model
    a.close()
    assert a.closed_models and model.closed
    with pytest.raises(RuntimeError, match="closed"):
        model.run(np.zeros((1, 128, 128, 3), np.float32))
    b.close()


# ----------------------------------------------------------------------------- CLI and the pinned wheel


def test_cli_selfie_mask_and_blazeface_json(tmp_path, capsys):
    from core.cli import main

    out = tmp_path / "mask.png"
    assert main(["segment", "--model", "selfie", "--image", "astronaut", "--out", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    mask = load_image(out).array
    assert mask.shape[:2] == (512, 512) and set(np.unique(mask)) <= {0, 255}
    assert abs(payload["person_fraction"] - (mask[:, :, 0] == 255).mean()) < 1e-6
    assert payload["seconds"] > 0
    assert main(["detect", "--model", "blazeface", "--image", "astronaut", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    (det,) = payload["detections"]
    assert len(det["box"]) == 4 and 0.8 < det["score"] <= 1 and len(det["keypoints"]) == 6
    x0, y0, x1, y1 = det["box"]
    assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512


def test_mediapipe_wheel_is_pinned_to_one_platform_file(tmp_path, monkeypatch):
    """pip is asked for the exact cp311 manylinux file whatever machine runs the fetch."""
    import subprocess

    from core import assets

    mgr = assets.AssetManager(cache_dir=tmp_path)
    wheel = mgr.wheels["mediapipe"]
    assert wheel.filename.startswith("mediapipe-0.10.14-cp311-cp311-manylinux")
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "no network in this test")

    monkeypatch.setattr(assets.subprocess, "run", fake_run)
    with pytest.raises(assets.AssetUnavailable):
        mgr.fetch("selfie-segmentation")
    (cmd,) = calls
    flags = dict(zip(cmd[:-1], cmd[1:], strict=True))
    assert flags["--platform"] == "manylinux2014_x86_64" and flags["--python-version"] == "3.11"
    assert flags["--abi"] == "cp311" and flags["--implementation"] == "cp"
    assert "--only-binary=:all:" in cmd and "--no-deps" in cmd and cmd[-1] == "mediapipe==0.10.14"
    for name in ("selfie-segmentation", "blazeface-short-range"):
        assert mgr.asset(name).offline_default and mgr.asset(name).sha256


def test_cli_rejects_a_synthetic_scene_for_blazeface():
    from core.cli import main

    assert main(["detect", "--model", "blazeface", "--image", "scene:0"]) == 2
