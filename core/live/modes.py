"""What each live mode computes on a frame and draws on it, with the time of every stage.

A :class:`LiveSession` belongs to one stream: it makes its own TFLite interpreters (BlazeFace, selfie
segmentation) on first use and closes them in :meth:`LiveSession.close`. The Keras classifiers it is
given (the emotion CNN, the ImageNet CNN) are shared, read-only models of the zoo.

Modes:
  emotion  - BlazeFace finds faces; each face crop goes through the emotion CNN, Grad-CAM of its top
             class is laid over the face, the seven probabilities are drawn as bars.
  selfie   - selfie segmentation: the cut-out (with the raw 256x256 output inset), the mask, or the raw output.
  faces    - BlazeFace: the anchors that fired (score >= threshold) with their decoded boxes, the
             weighted-NMS result with its six keypoints, counts before/after NMS.
  channel  - one channel of one layer of a CNN (EfficientNet-Lite0 by default) as a heat map over the frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from core.assets import AssetManager
from core.images import resize
from core.live.frames import FpsMeter

MODES = {
    "emotion": "Emotion CNN + Grad-CAM on each face",
    "selfie": "Selfie segmentation (MediaPipe)",
    "faces": "Face detection: BlazeFace anchors and NMS",
    "channel": "One channel of a CNN layer",
}
SELFIE_VIEWS = ("cut-out", "mask", "raw")
DEFAULT_CHANNEL_LAYER = "block3b_add"  # EfficientNet-Lite0: 28x28 at 224 px, parts and textures
FACE_MARGIN = 0.25  # the emotion CNN was trained on crops a little larger than the face box
CNN_SIDE = 224


@dataclass
class LiveSettings:
    """What the page asks for; read on every frame, so changes apply without restarting the stream."""

    mode: str = "faces"
    selfie_view: str = "cut-out"
    threshold: float = 0.5  # selfie mask threshold
    min_score: float = 0.5  # BlazeFace score threshold
    show_anchors: bool = True
    layer: str = DEFAULT_CHANNEL_LAYER
    channel: int = 0
    overlay: bool = True  # FPS and per-stage ms drawn on the video


# ----------------------------------------------------------------------------- drawing helpers


def _cv2():
    import cv2

    return cv2


def put_text(img: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.5, color=(255, 255, 255),
             bg=(0, 0, 0)) -> None:
    """Text with a dark box behind it (readable on any frame), drawn in place."""
    cv2 = _cv2()
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = org
    cv2.rectangle(img, (x - 2, y - h - 3), (x + w + 2, y + base + 1), bg, -1)
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)


def heat_colors(values: np.ndarray) -> np.ndarray:
    """(h, w) in [0, 1] -> (h, w, 3) uint8 RGB, jet colormap."""
    cv2 = _cv2()
    v = np.clip(np.nan_to_num(values), 0, 1)
    return cv2.applyColorMap((v * 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]


def blend(base: np.ndarray, top: np.ndarray, alpha: float) -> np.ndarray:
    return (base.astype(np.float32) * (1 - alpha) + top.astype(np.float32) * alpha).astype(np.uint8)


def draw_stats(img: np.ndarray, fps: float, stages: dict[str, float], extra: str = "") -> None:
    """'12.3 FPS' and one line per stage in ms, top left, in place."""
    put_text(img, f"{fps:5.1f} FPS" + (f"   {extra}" if extra else ""), (6, 18), 0.55, (255, 255, 0))
    for i, (name, seconds) in enumerate(stages.items()):
        put_text(img, f"{name}: {seconds * 1000:5.1f} ms", (6, 38 + 18 * i), 0.45)


def square_around(box: np.ndarray, margin: float, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """An integer square (x0, y0, x1, y1) centred on ``box``, ``margin`` larger, clipped to the image."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    h, w = shape
    a0, b0 = int(max(0, round(cx - side / 2))), int(max(0, round(cy - side / 2)))
    a1, b1 = int(min(w, round(cx + side / 2))), int(min(h, round(cy + side / 2)))
    return a0, b0, a1, b1


# ----------------------------------------------------------------------------- compiled forward passes


def _traced(loaded, key: tuple, fn, shape: tuple[int, ...]):
    """``fn`` as a tf.function for one input shape, built once per shared model (a Keras model's eager
    ``__call__`` costs ~30 ms per frame in Python overhead alone; the traced graph a few ms)."""
    from core.device import import_tensorflow
    from core.vision.compiled import compiled

    tf = import_tensorflow()
    spec = [tf.TensorSpec((1,) + tuple(shape), tf.float32)]
    return compiled(loaded, ("live",) + key + (tuple(shape),),
                    lambda: tf.function(fn, input_signature=spec, reduce_retracing=True))


def class_probabilities(loaded, x: np.ndarray) -> np.ndarray:
    """Softmax of the logits of one model input (1, H, W, C)."""
    f = _traced(loaded, ("logits",), lambda t: loaded.logits(t, training=False), x.shape[1:])
    logits = np.asarray(f(x))[0].astype(np.float64)
    p = np.exp(logits - logits.max())
    return p / p.sum()


def layer_maps(loaded, x: np.ndarray, layer: str) -> np.ndarray:
    """(h, w, K) activations of ``layer`` for one model input (the model's one extractor, traced)."""
    extractor = loaded.extractor((layer,))
    out = _traced(loaded, ("maps", layer), lambda t: extractor(t, training=False), x.shape[1:])(x)
    return np.asarray(out[0] if isinstance(out, (list, tuple)) else out)[0]


# ----------------------------------------------------------------------------- the session


class LiveSession:
    """The models and drawing of one stream. ``process(frame)`` is called from one thread at a time."""

    def __init__(self, settings: LiveSettings | None = None, emotion_model=None, cnn_model=None,
                 manager: AssetManager | None = None, num_threads: int = 2):
        self.settings = settings or LiveSettings()
        self.emotion_model = emotion_model
        self.cnn_model = cnn_model
        self._manager = manager
        self._threads = num_threads
        self._blazeface = None
        self._selfie = None
        self.meter = FpsMeter()
        self.last_stages: dict[str, float] = {}
        self.last_info: dict = {}

    # -- the stream's own interpreters ---------------------------------------------------
    @property
    def manager(self) -> AssetManager:
        if self._manager is None:
            self._manager = AssetManager()
        return self._manager

    @property
    def blazeface(self):
        if self._blazeface is None:
            from core.live.blazeface import BlazeFace

            self._blazeface = BlazeFace(self.manager, self._threads)
        return self._blazeface

    @property
    def selfie(self):
        if self._selfie is None:
            from core.live.selfie import SelfieSegmenter

            self._selfie = SelfieSegmenter(self.manager, self._threads)
        return self._selfie

    def close(self) -> None:
        """Release this stream's interpreters (they are never shared)."""
        for model in (self._blazeface, self._selfie):
            if model is not None:
                model.close()
        self._blazeface = self._selfie = None

    @property
    def closed_models(self) -> bool:
        return self._blazeface is None and self._selfie is None

    # -- one frame ------------------------------------------------------------------------
    def process(self, frame: np.ndarray) -> np.ndarray:
        """RGB uint8 (H, W, 3) -> the annotated frame (a new array)."""
        s = self.settings
        frame = np.ascontiguousarray(np.asarray(frame)[..., :3])
        mode = s.mode if s.mode in MODES else "faces"
        out, stages, extra = getattr(self, f"_mode_{mode}")(frame, s)
        self.meter.tick()
        self.last_stages = stages
        if s.overlay:
            draw_stats(out, self.meter.fps, stages, extra)
        return out

    def _mode_faces(self, frame: np.ndarray, s: LiveSettings):
        det = self.blazeface.detect(frame, min_score=s.min_score)
        t0 = time.perf_counter()
        out = draw_faces(frame, det, s.show_anchors)
        stages = {f"BlazeFace {k}": v for k, v in det.seconds.items()}
        stages["draw"] = time.perf_counter() - t0
        self.last_info = {"fired": int(len(det.fired)), "faces": len(det.faces),
                          "scores_fired": [round(float(det.scores[i]), 3) for i in det.fired[:20]],
                          "scores_kept": [round(f.score, 3) for f in det.faces]}
        legend = f"anchors fired {len(det.fired)} -> after NMS {len(det.faces)}"
        return out, stages, legend

    def _mode_selfie(self, frame: np.ndarray, s: LiveSettings):
        seg = self.selfie.segment(frame)
        t0 = time.perf_counter()
        prob = seg.probability
        if s.selfie_view == "mask":
            out = np.repeat(seg.mask(s.threshold)[:, :, None], 3, axis=2)
        elif s.selfie_view == "raw":
            side = min(frame.shape[:2])
            raw = resize((seg.raw * 255).astype(np.uint8), side, side, "nearest")
            out = np.zeros_like(frame)
            left = (frame.shape[1] - side) // 2
            out[:side, left:left + side] = raw[:, :, None] if raw.ndim == 2 else raw
        else:  # cut-out: the person over a dimmed, green-tinted background, the raw output inset
            keep = (prob >= s.threshold)[:, :, None]
            background = blend(frame, np.full_like(frame, (0, 120, 60)), 0.75)
            out = np.where(keep, frame, background)
            inset = np.repeat((seg.raw * 255).astype(np.uint8)[:, :, None], 3, axis=2)
            side = min(128, frame.shape[0] // 3, frame.shape[1] // 3)
            if side >= 16:
                small = resize(inset, side, side, "area")
                out[-side - 4:-4, -side - 4:-4] = small
        stages = {f"selfie {k}": v for k, v in seg.seconds.items()}
        stages["draw"] = time.perf_counter() - t0
        fraction = float(np.mean(prob >= s.threshold))
        self.last_info = {"person_fraction": round(fraction, 4)}
        return out, stages, f"person {fraction:.0%} of the frame"

    def _mode_emotion(self, frame: np.ndarray, s: LiveSettings):
        if self.emotion_model is None:
            raise ValueError("The emotion mode needs the emotion CNN.")
        from core.vision import attribution

        loaded = self.emotion_model
        det = self.blazeface.detect(frame, min_score=s.min_score)
        stages = {"BlazeFace": sum(det.seconds.values()), "emotion CNN": 0.0, "Grad-CAM": 0.0, "draw": 0.0}
        out = frame.copy()
        cv2 = _cv2()
        faces = []
        for face in det.faces[:4]:  # a crowded frame: the four most confident faces
            x0, y0, x1, y1 = square_around(face.box, FACE_MARGIN, frame.shape[:2])
            if x1 - x0 < 8 or y1 - y0 < 8:
                continue
            t0 = time.perf_counter()
            x = loaded.preprocess(frame[y0:y1, x0:x1])[None]
            p = class_probabilities(loaded, x)
            target = int(np.argmax(p))
            t1 = time.perf_counter()
            heat = attribution.grad_cam(loaded, x, target).values
            t2 = time.perf_counter()
            patch = out[y0:y1, x0:x1]
            colours = heat_colors(resize(heat.astype(np.float32), y1 - y0, x1 - x0, "bilinear"))
            out[y0:y1, x0:x1] = blend(patch, colours, 0.45)
            cv2.rectangle(out, (x0, y0), (x1, y1), (0, 255, 0), 2)
            self._bars(out, p, loaded.class_names, (x1 + 6, y0), target)
            t3 = time.perf_counter()
            stages["emotion CNN"] += t1 - t0
            stages["Grad-CAM"] += t2 - t1
            stages["draw"] += t3 - t2
            faces.append({"box": [x0, y0, x1, y1], "class": loaded.class_names[target],
                          "probabilities": {c: round(float(v), 4) for c, v in zip(loaded.class_names, p, strict=True)}})
        self.last_info = {"faces": faces}
        return out, stages, f"{len(faces)} face{'s' if len(faces) != 1 else ''}" if faces else "no face found"

    @staticmethod
    def _bars(img: np.ndarray, p: np.ndarray, names: list[str], org: tuple[int, int], top: int) -> None:
        """The class probabilities as horizontal bars at ``org`` (moved inside the frame if needed)."""
        cv2 = _cv2()
        width, row = 90, 15
        h, w = img.shape[:2]
        x, y = org
        if x + width + 70 > w:
            x = max(0, w - width - 72)
        y = int(np.clip(y, 0, max(0, h - row * len(names) - 4)))
        cv2.rectangle(img, (x, y), (x + width + 70, y + row * len(names) + 4), (0, 0, 0), -1)
        for i, (name, v) in enumerate(zip(names, p, strict=True)):
            yy = y + 4 + row * i
            colour = (0, 255, 0) if i == top else (160, 160, 160)
            cv2.rectangle(img, (x + 62, yy + 2), (x + 62 + int(width * float(v)), yy + row - 3), colour, -1)
            cv2.putText(img, name[:8], (x + 3, yy + row - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1,
                        cv2.LINE_AA)

    def _mode_channel(self, frame: np.ndarray, s: LiveSettings):
        if self.cnn_model is None:
            raise ValueError("The channel mode needs a CNN.")
        loaded = self.cnn_model
        t0 = time.perf_counter()
        x = loaded.preprocess(frame)[None]
        t1 = time.perf_counter()
        maps = layer_maps(loaded, x, s.layer)
        channel = int(np.clip(s.channel, 0, maps.shape[-1] - 1))
        a = maps[:, :, channel]
        t2 = time.perf_counter()
        top = float(a.max())
        norm = np.clip(a / top, 0, 1) if top > 1e-6 else np.zeros_like(a)
        h, w = frame.shape[:2]
        out = blend(frame, heat_colors(resize(norm.astype(np.float32), h, w, "bilinear")), 0.55)
        side = min(112, h // 3)
        if side >= 16:  # the map at its own resolution, nearest-neighbour, bottom right
            out[-side - 4:-4, -side - 4:-4] = heat_colors(resize(norm.astype(np.float32), side, side, "nearest"))
        t3 = time.perf_counter()
        self.last_info = {"layer": s.layer, "channel": channel, "map": list(a.shape), "max": round(top, 4)}
        return out, {"resize": t1 - t0, f"CNN to {s.layer}": t2 - t1, "draw": t3 - t2}, \
            f"{s.layer} ch {channel} ({a.shape[0]}x{a.shape[1]}, max {top:.2f})"


def draw_faces(frame: np.ndarray, det, show_anchors: bool) -> np.ndarray:
    """The anchors that fired (centre dot + decoded box, thin) and the merged faces with keypoints."""
    out = frame.copy()
    cv2 = _cv2()
    if show_anchors:
        lb = det.letterbox
        from core.live.blazeface import ANCHORS

        for i in det.fired:
            x0, y0, x1, y1 = (int(round(v)) for v in det.boxes[i])
            cv2.rectangle(out, (x0, y0), (x1, y1), (255, 160, 0), 1)
            cx = (ANCHORS.centers[i, 0] * lb.size - lb.pad_x) / lb.scale
            cy = (ANCHORS.centers[i, 1] * lb.size - lb.pad_y) / lb.scale
            colour = (255, 255, 0) if ANCHORS.grid[i] == 16 else (0, 255, 255)
            cv2.circle(out, (int(cx), int(cy)), 3, colour, -1)
    for face in det.faces:
        x0, y0, x1, y1 = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), (0, 255, 0), 2)
        for x, y in face.keypoints:
            cv2.circle(out, (int(x), int(y)), 4, (255, 0, 255), -1)
        put_text(out, f"face {face.score:.2f} ({len(face.members)} anchors)", (x0, max(12, y0 - 6)), 0.45,
                 (0, 255, 0))
    if show_anchors:
        put_text(out, "anchor centres: yellow 16x16 grid, cyan 8x8 grid", (6, out.shape[0] - 8), 0.42)
    return out
