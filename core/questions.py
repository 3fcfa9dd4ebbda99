"""Live questions for the room: a first bank, one or more per page, with answers computed by the
same ``core`` functions the pages use (never typed in by hand where a function can say it).

A question is a JSON-able dict: ``page`` (url path), ``prompt``, ``options`` (strings), ``answer``
(one of the options) and ``why`` (one sentence shown with the answer). The room store keeps the open
one (:mod:`core.room`); the presenter's screen tallies the anonymous answers (:func:`tally`).
The lecture-path issue adds the rest of the bank.

A *click* question (``kind: "click"``) asks each student to click once on an image ("where will the
heat be?"). The bank holds its template; the presenter opens it on the page's current image, and
:func:`gradcam_click` fills in the image (a small JPEG, base64) and the computed answer: the Grad-CAM
map of the page's model, image, class and layer, pooled to :data:`CLICK_GRID` x :data:`CLICK_GRID`
cells (:func:`heat_grid`). An answer is one cell ``[row, column]``; :func:`click_counts` and
:func:`click_hits` summarise the room's clicks.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from functools import lru_cache

import numpy as np

CLICK_GRID = 12  # cells per side of a click question's image
CLICK_IMAGE_SIDE = 320  # the image students click on, longest side in pixels (a JPEG of ~20 kB in the room store)
HOT = 0.5  # a click "hits" when the computed heat of its cell is at least this (the map is scaled to [0, 1])


def _choices(answer, wrong) -> list[str]:
    """The options, sorted (numbers by value), with the computed answer among them exactly once."""
    options = {str(answer), *map(str, wrong)}
    try:
        return sorted(options, key=float)
    except ValueError:
        return sorted(options)


def _upsampling() -> dict:
    from core.fcn.upsampling import transposed_output_size

    size = transposed_output_size(4, 3, 2)
    return {"page": "upsampling",
            "prompt": "A 4×4 input goes through a transposed convolution, kernel 3×3, stride 2, no padding. "
                      "How wide is the output?",
            "options": _choices(size, [7, 8, 10, 12]), "answer": str(size),
            "why": "o = s·(i − 1) + k − 2p = 2·3 + 3 = 9 (core.fcn.upsampling.transposed_output_size)."}


def _segmentation() -> dict:
    from core.fcn.atrous import field_size

    span = field_size((1, 2, 4))
    return {"page": "segmentation",
            "prompt": "Three stacked 3×3 atrous convolutions with rates 1, 2 and 4: how many input pixels wide "
                      "is one output's receptive field?",
            "options": _choices(span, [7, 9, 13, 21]), "answer": str(span),
            "why": "1 + (k − 1)·(1 + 2 + 4) = 15, without a single extra weight (core.fcn.atrous.field_size)."}


def _yolo() -> dict:
    import numpy as np

    from core.detection.yolo import Head, boxes_per_image

    heads = [Head(np.zeros((3, 2)), 80) for _ in range(3)]
    boxes = boxes_per_image(heads, [(13, 13), (26, 26), (52, 52)])
    return {"page": "yolo",
            "prompt": "YOLOv3 at 416×416: three heads (13², 26², 52² cells), three anchors per cell. How many "
                      "boxes does one image yield before the confidence threshold and NMS?",
            "options": _choices(boxes, [507, 3549, 8112, 43095]), "answer": str(boxes),
            "why": "3·(13² + 26² + 52²) = 10,647 boxes (core.detection.yolo.boxes_per_image)."}


def _grad_cam() -> dict:
    options = ["The gradient of the class score, averaged over each channel",
               "The activation of each channel, averaged over the image",
               "The weights of the last dense layer", "A random projection of the channels"]
    return {"page": "grad-cam",
            "prompt": "Grad-CAM weights each channel of the last convolutional layer by…",
            "options": sorted(options), "answer": options[0],
            "why": "α_k = mean over i, j of ∂y_c/∂A_k(i, j); the map is ReLU(Σ_k α_k A_k) (Selvaraju et al.)."}


def _activations() -> dict:
    import numpy as np

    x = np.array([-2.0, -0.5, 0.0, 0.7, 1.5, -1.0, 3.0, -0.1])
    zero = int(np.count_nonzero(np.maximum(x, 0) == 0))
    return {"page": "activations",
            "prompt": "After a ReLU, how many of these eight pre-activations are exactly zero: "
                      "−2, −0.5, 0, 0.7, 1.5, −1, 3, −0.1?",
            "options": _choices(zero, [2, 3, 4, 6]), "answer": str(zero),
            "why": "ReLU(x) = max(x, 0): every negative value and the zero give 0; sparse maps are the rule, "
                   "not the exception."}


def _ascent() -> dict:
    options = ["The input image", "The network's weights", "The class labels", "The learning rate"]
    return {"page": "gradient-ascent",
            "prompt": "Visualising a filter by gradient ascent changes…",
            "options": sorted(options), "answer": options[0],
            "why": "The weights stay frozen; the gradient of the filter's mean activation is taken with respect "
                   "to the pixels, and the image climbs it."}


def _dream() -> dict:
    options = ["Maximise the activations of the chosen layers", "Minimise the classification loss",
               "Match the style of another image", "Reconstruct the input"]
    return {"page": "deep-dream",
            "prompt": "Deep Dream changes the image to…",
            "options": sorted(options), "answer": options[0],
            "why": "It ascends the norm of the chosen layers' activations, octave by octave, so what they "
                   "already see is amplified."}


def _tanks() -> dict:
    options = ["The background (the trees or the sky)", "The tanks", "The image's borders", "Nothing in particular"]
    return {"page": "tanks-in-trees",
            "prompt": "A CNN separates 'tank' from 'no tank' perfectly on its test set. Where does Grad-CAM put "
                      "the heat when the photos of tanks were all taken on cloudy days?",
            "options": sorted(options), "answer": options[0],
            "why": "The classifier learned what was correlated with the label; the heatmap shows it looking "
                   "at the background, which is why we visualise."}


def _grad_cam_click() -> dict:
    return {"page": "grad-cam", "kind": "click",
            "prompt": "Click once on the image: where will Grad-CAM put the heat for the class being explained?",
            "options": [], "answer": "",
            "why": "The map is Grad-CAM of the page's model, image, class and layer (core.vision.attribution), "
                   "pooled to the same grid; a click counts as a hit where the heat is at least half its maximum."}


BUILDERS = (_activations, _ascent, _dream, _grad_cam, _grad_cam_click, _tanks, _upsampling, _segmentation, _yolo)


@lru_cache(maxsize=1)
def bank() -> tuple[dict, ...]:
    return tuple(build() for build in BUILDERS)


def for_page(url_path: str) -> list[dict]:
    return [dict(q) for q in bank() if q["page"] == url_path]


def tally(question: dict, answers: list) -> dict[str, int]:
    """Answers per option, in the question's order (answers not among the options are not counted)."""
    seen = Counter(a for a in answers if isinstance(a, str))
    return {o: seen.get(o, 0) for o in question["options"]}


def explanation(question: dict) -> str:
    return str(question.get("why", ""))


# ----------------------------------------------------------------------------- click questions


def heat_grid(heat: np.ndarray, grid: int = CLICK_GRID) -> list[list[float]]:
    """A heat map (H, W) pooled to ``grid`` x ``grid`` cells (each cell the mean of its pixels; a map smaller
    than the grid repeats its pixels), scaled so the hottest cell is 1 (all zero: all zero)."""
    values = np.nan_to_num(np.asarray(heat, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if values.ndim != 2 or min(values.shape) < 1:
        raise ValueError(f"a heat map is 2-D, not of shape {values.shape}")
    rows = np.linspace(0, values.shape[0], grid + 1)
    cols = np.linspace(0, values.shape[1], grid + 1)
    out = np.zeros((grid, grid))
    for i in range(grid):
        r0, r1 = int(rows[i]), max(int(rows[i]) + 1, int(np.ceil(rows[i + 1])))
        for j in range(grid):
            c0, c1 = int(cols[j]), max(int(cols[j]) + 1, int(np.ceil(cols[j + 1])))
            out[i, j] = values[r0:r1, c0:c1].mean()
    out = np.maximum(out, 0.0)
    top = out.max()
    if top > 0:
        out /= top
    return [[round(float(v), 4) for v in row] for row in out]


def _jpeg_b64(image: np.ndarray, side: int = CLICK_IMAGE_SIDE) -> tuple[str, int, int]:
    from PIL import Image

    pic = Image.fromarray(np.ascontiguousarray(np.asarray(image, np.uint8))).convert("RGB")
    pic.thumbnail((side, side))
    buf = io.BytesIO()
    pic.save(buf, format="JPEG", quality=85)
    return base64.b64encode(buf.getvalue()).decode(), pic.height, pic.width


def click_question(template: dict, image: np.ndarray, heat: np.ndarray, about: str = "",
                   grid: int = CLICK_GRID) -> dict:
    """The click question ``template`` opened on ``image`` (H, W, 3 uint8) with its computed answer ``heat``."""
    data, height, width = _jpeg_b64(image)
    cells = heat_grid(heat, grid)
    hot = [[r, c] for r in range(grid) for c in range(grid) if cells[r][c] >= HOT]
    r, c = divmod(int(np.argmax(np.asarray(cells))), grid)
    return {**template, "kind": "click", "grid": grid, "image": data, "height": height, "width": width,
            "heat": cells, "about": str(about)[:200],
            "answer": f"the heat is hottest in row {r + 1}, column {c + 1} of {grid} ({len(hot)} hot cells)"}


def gradcam_click(template: dict, model, image: np.ndarray, target: int, layer: str | None = None) -> dict:
    """``template`` on ``image`` with the true answer: Grad-CAM of ``model`` for class ``target`` at ``layer``
    (None: the model's default layer), the same function the Grad-CAM page draws."""
    from core.vision import attribution as A

    heat = A.attribute(model, image, "gradcam", int(target), layer=layer or A.default_layer(model))
    return click_question(template, image, heat.values, about=model.class_names[int(target)])


def click_cell(question: dict, answer) -> tuple[int, int] | None:
    """A stored click as (row, column) inside the question's grid, or None for anything else."""
    grid = int(question.get("grid", CLICK_GRID))
    if not isinstance(answer, (list, tuple)) or len(answer) != 2:
        return None
    try:
        r, c = (int(v) for v in answer)
    except (TypeError, ValueError, OverflowError):
        return None
    return (r, c) if 0 <= r < grid and 0 <= c < grid else None


def click_counts(question: dict, answers: list) -> np.ndarray:
    """(grid, grid) number of clicks per cell (answers that are not a cell of the grid are not counted)."""
    grid = int(question.get("grid", CLICK_GRID))
    counts = np.zeros((grid, grid), int)
    for a in answers:
        cell = click_cell(question, a)
        if cell is not None:
            counts[cell] += 1
    return counts


def click_hits(question: dict, answers: list) -> tuple[int, int]:
    """(clicks on a hot cell, clicks counted): how often the room guessed where the computed heat is."""
    heat = np.asarray(question.get("heat") or [[0.0]])
    cells = [c for c in (click_cell(question, a) for a in answers) if c is not None]
    return sum(1 for c in cells if heat[c] >= HOT), len(cells)
