"""A looping sample clip made from the shipped sample images (no camera needed), and its .y4m file.

The clip pans slowly over the astronaut (a face for BlazeFace and the emotion CNN, a person for the
selfie model), then over the cameraman, so every live mode has something to find. Frames are made
on demand from the frame index (nothing but the two source photos is held in memory).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from core.images import resize, sample_image

WIDTH, HEIGHT, FPS = 640, 480, 15
SCENES = ("astronaut", "camera")
SECONDS_PER_SCENE = 4


@lru_cache(maxsize=len(SCENES))
def _scene(name: str) -> np.ndarray:
    """The sample scaled so that its width is 1.25 x the frame's (room to pan), read-only."""
    img = sample_image(name)
    scale = WIDTH * 1.25 / img.shape[1]
    out = resize(img, max(HEIGHT, round(img.shape[0] * scale)), round(img.shape[1] * scale), "area")
    out.flags.writeable = False
    return out


def clip_length(fps: int = FPS) -> int:
    return len(SCENES) * SECONDS_PER_SCENE * fps


def clip_frame(index: int, fps: int = FPS) -> np.ndarray:
    """Frame ``index`` (wrapping around) of the loop: (480, 640, 3) uint8 RGB."""
    per_scene = SECONDS_PER_SCENE * fps
    index %= clip_length(fps)
    scene = _scene(SCENES[index // per_scene])
    t = (index % per_scene) / max(1, per_scene - 1)
    swing = 0.5 - 0.5 * np.cos(2 * np.pi * t)  # there and back: the loop has no jump inside a scene
    x = int(round(swing * (scene.shape[1] - WIDTH)))
    y = int(round(swing * (scene.shape[0] - HEIGHT) * 0.3))
    return np.ascontiguousarray(scene[y:y + HEIGHT, x:x + WIDTH])


def write_y4m(path: str | Path, frames: int | None = None, fps: int = FPS) -> Path:
    """The clip as an uncompressed YUV4MPEG2 (4:2:0) file, what Chromium's fake camera plays."""
    import cv2

    path = Path(path)
    count = clip_length(fps) if frames is None else frames
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(count):
            yuv = cv2.cvtColor(clip_frame(i, fps), cv2.COLOR_RGB2YUV_I420)  # (H * 3/2, W): Y, then U, then V
            fh.write(b"FRAME\n")
            fh.write(yuv.tobytes())
    return path
