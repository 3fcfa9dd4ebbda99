"""``python -m core segment --model selfie`` and ``python -m core detect --model blazeface``.

Dispatched to from :mod:`core.fcn.cli` and :mod:`core.detection.cli`; each call makes its own
interpreter and closes it.
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def _once(make, run):
    """(run(model), seconds to make the interpreter, seconds to run it) with a fresh interpreter, closed after."""
    start = time.perf_counter()
    model = make()
    loaded = time.perf_counter()
    try:
        result = run(model)
    finally:
        model.close()
    return result, loaded - start, time.perf_counter() - loaded


def segment_selfie(args: argparse.Namespace) -> tuple[Any, str]:
    """The person mask of ``--image`` as an 8-bit PNG at the image's size (255 = person)."""
    from core.cli import CommandError, resolve_image
    from core.images import to_png_bytes
    from core.live.selfie import THRESHOLD, SelfieSegmenter

    if getattr(args, "evaluate", False):
        raise CommandError("--evaluate is for the synthetic FCNs; the selfie model has no held-out set here.")
    if not args.image:
        raise CommandError("Give --image NAME|PATH.")
    img = resolve_image(args.image).array
    seg, load_seconds, seconds = _once(SelfieSegmenter, lambda model: model.segment(img))
    mask = seg.mask(THRESHOLD)
    if args.out:
        args.out.write_bytes(to_png_bytes(mask))
    fraction = float(mask.mean() / 255.0)
    payload = {"model": "selfie", "image": args.image, "size": [int(img.shape[0]), int(img.shape[1])],
               "threshold": THRESHOLD, "person_fraction": round(fraction, 6), "seconds": round(seconds, 4),
               "load_seconds": round(load_seconds, 4),
               "out": str(args.out) if args.out else None}
    return payload, f"person: {fraction:.1%} of {img.shape[1]} x {img.shape[0]} pixels ({seconds:.2f} s)"


def detect_blazeface(args: argparse.Namespace) -> tuple[Any, str]:
    """BlazeFace faces in ``--image``: boxes [x0, y0, x1, y1] in the image's pixels, scores, keypoints."""
    from core.cli import CommandError, resolve_image
    from core.images import to_png_bytes
    from core.live.blazeface import NMS_IOU, BlazeFace

    for flag, value in (("--conf", args.conf), ("--iou", args.iou)):
        if not 0.0 <= value <= 1.0:  # NaN fails too
            raise CommandError(f"{flag} must be between 0 and 1, not {value}.")
    if args.image.startswith("scene:"):
        raise CommandError("BlazeFace finds faces in photos: give a sample name (astronaut) or an image path.")
    img = resolve_image(args.image).array
    iou = NMS_IOU if args.iou == 0.45 else args.iou  # --iou keeps YOLO's default unless given: BlazeFace merges at 0.3
    result, load_seconds, seconds = _once(BlazeFace, lambda model: model.detect(img, min_score=args.conf,
                                                                                 iou_threshold=iou))
    if args.out:
        from core.live.modes import draw_faces

        drawn = draw_faces(img, result, True)
        args.out.write_bytes(to_png_bytes(drawn))
    dets = [face.to_json() for face in result.faces]
    payload = {"model": "blazeface", "image": args.image, "conf": args.conf, "iou": iou, "input_size": 128,
               "anchors": 896, "fired": int(len(result.fired)), "detections": dets, "seconds": round(seconds, 4),
               "load_seconds": round(load_seconds, 4),
               "out": str(args.out) if args.out else None}
    text = "\n".join(f"face         {d['score']:.3f}  {d['box']}" for d in dets) or "no detections"
    return payload, text
