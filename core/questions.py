"""Live questions for the room: a first bank, one or more per page, with answers computed by the
same ``core`` functions the pages use (never typed in by hand where a function can say it).

A question is a JSON-able dict: ``page`` (url path), ``prompt``, ``options`` (strings), ``answer``
(one of the options) and ``why`` (one sentence shown with the answer). The room store keeps the open
one (:mod:`core.room`); the presenter's screen tallies the anonymous answers (:func:`tally`).
The lecture-path issue adds the rest of the bank.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache


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


BUILDERS = (_activations, _ascent, _dream, _grad_cam, _tanks, _upsampling, _segmentation, _yolo)


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
