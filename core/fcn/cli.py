"""CLI commands of the fully convolutional pages: ``upsample``, ``transpose-conv``."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli import add_common


def _unpool_values(text: str, shape: tuple[int, ...]):
    """--values as an array of ``shape``; a wrong count or a non-number is a one-line error."""
    import math

    import numpy as np

    from core.cli import CommandError, short

    need = int(np.prod(shape))
    parts = [p.strip() for p in str(text).split(",")]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise CommandError(f"--values must be {need} numbers separated by commas, not '{short(text)}'.") from None
    if len(numbers) != need:
        raise CommandError(f"--values must be {need} numbers (the {shape[0]} x {shape[1]} pooled map, row by row); "
                           f"got {len(numbers)}.")
    if not all(math.isfinite(v) for v in numbers):
        raise CommandError("--values contains NaN or infinite entries.")
    return np.array(numbers).reshape(shape)


def cmd_upsample(args: argparse.Namespace) -> tuple[Any, str]:
    import numpy as np

    from core.fcn import upsampling as U

    x = U.SLIDE_MATRIX if args.method != "unpool" else U.SLIDE_POOL_INPUT
    payload: dict[str, Any] = {"method": args.method, "input": x.tolist()}
    if args.method in ("nearest", "bilinear", "bicubic"):
        out = U.interpolate(x, args.factor, args.method, backend=args.backend)
    elif args.method == "zeros-kernel":
        zeros, out = U.zero_insert_upsample(x, "tent")
        payload.update(zero_inserted=zeros.tolist(), kernel=U.TENT_KERNEL.tolist(),
                       equals_bilinear=bool(np.allclose(out, U.bilinear_align_corners(x))))
    else:
        pool = U.max_pool_with_switches(x)
        values = _unpool_values(args.values, pool.pooled.shape)
        out = U.max_unpool(values, pool.switches, pool.input_shape)
        payload.update(pooled=pool.pooled.tolist(), switches=pool.switches.tolist(), unpooled_values=values.tolist())
    payload["output"] = np.asarray(out).tolist()
    text = "\n".join(" ".join(f"{v:6.2f}" for v in row) for row in np.asarray(out))
    return payload, text


def cmd_transpose_conv(args: argparse.Namespace) -> tuple[Any, str]:
    from core.fcn.upsampling import transpose_conv_1d

    res = transpose_conv_1d(args.kernel.split(","), args.input.split(","), args.stride, args.construction)
    text = (f"C = {res['matrix']}\nC @ padded input {res['padded_input']} = {res['product']}\n"
            f"C^T = {res['transpose']}\nC^T @ {res['transpose_input']} = {res['transpose_product']}\n"
            f"({res['transpose_note']})")
    return res, text


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("upsample", help="the slide's upsampling computations on its 4x4 matrices")
    p.add_argument("--method", choices=["nearest", "bilinear", "bicubic", "zeros-kernel", "unpool"], default="bilinear")
    p.add_argument("--factor", type=int, default=2)
    p.add_argument("--backend", choices=["opencv", "keras"], default="opencv")
    p.add_argument("--values", default="1,2,3,4", help="unpool: the 2x2 values to put back (row-major)")
    add_common(p)
    p.set_defaults(func=cmd_upsample)

    p = sub.add_parser("transpose-conv", help="1-D convolution as a matrix and its transpose (symbolic or numeric)")
    p.add_argument("--kernel", default="x,y,z")
    p.add_argument("--input", default="a,b,c")
    p.add_argument("--stride", type=int, choices=[1, 2, 3, 4], default=1)
    p.add_argument("--construction", choices=["slide", "valid"], default="slide",
                   help="slide: the slide's square matrix (true convolution on the padded input, default); "
                        "valid: valid cross-correlation of the padded input (Keras padding='same' on the input)")
    add_common(p)
    p.set_defaults(func=cmd_transpose_conv)
    register_segment(sub)


def cmd_segment(args: argparse.Namespace) -> tuple[Any, str]:
    import numpy as np

    from core.cli import CommandError, resolve_image
    from core.fcn import segmentation as seg
    from core.images import resize, to_png_bytes
    from core.progress import stderr_progress
    from core.scenes import SEGMENT_CLASSES

    names = {v: k for k, v in seg.MODEL_NAMES.items()}
    if args.model == "deeplab":
        return _segment_deeplab(args)
    if args.model == "selfie":  # MediaPipe selfie segmentation (core/live)
        from core.live.cli_helpers import segment_selfie
        return segment_selfie(args)
    if args.model not in names:
        raise CommandError(f"Unknown model '{args.model}'; choose one of {', '.join(names)}.")
    model, card = seg.load_fcn(names[args.model], progress=None if args.json else stderr_progress)
    if args.evaluate:
        field = seg.receptive_field(model)
        payload = {"model": args.model, "per_class_iou": card["per_class_iou"], "mean_iou": card["mean_iou"],
                   "pixel_accuracy": card["pixel_accuracy"], "train_seconds": card["train_seconds"],
                   "receptive_field": {"extent": list(field.extent), "input": list(field.seen.shape),
                                       "whole_image": field.whole_image}}
        return payload, f"{args.model}: mean IoU {card['mean_iou']:.3f} " + str(
            {k: round(v, 3) for k, v in card["per_class_iou"].items()}) + (
            f", receptive field {field.extent[0]} x {field.extent[1]} px of {field.seen.shape[0]} x "
            f"{field.seen.shape[1]}")
    if not args.image:
        raise CommandError("Give --image NAME|PATH, or --evaluate.")
    img = resolve_image(args.image).array
    h, w = seg.input_size(*img.shape[:2], max_side=args.max_side)
    mask = seg.predict_masks(model, resize(img, h, w, "area")[None])[0]
    if args.out:
        args.out.write_bytes(to_png_bytes(resize(mask, img.shape[0], img.shape[1], "nearest")))
    counts = np.bincount(mask.reshape(-1), minlength=len(SEGMENT_CLASSES))
    payload = {"model": args.model, "size": [int(h), int(w)],
               "pixel_counts": {n: int(c) for n, c in zip(SEGMENT_CLASSES, counts, strict=True)},
               "out": str(args.out) if args.out else None}
    return payload, ", ".join(f"{n}: {c}" for n, c in payload["pixel_counts"].items())


def _segment_deeplab(args: argparse.Namespace) -> tuple[Any, str]:
    import numpy as np

    from core.cli import CommandError, resolve_image
    from core.fcn import deeplab
    from core.images import to_png_bytes
    from core.progress import stderr_progress

    if args.evaluate:
        raise CommandError("--evaluate is for the synthetic FCNs; DeepLab was evaluated on PASCAL VOC by its authors.")
    if not args.image:
        raise CommandError("Give --image NAME|PATH.")
    segmenter = deeplab.load_deeplab(args.preset, progress=None if args.json else stderr_progress)
    img = resolve_image(args.image).array
    mask = deeplab.segment(segmenter, img)
    if args.out:
        args.out.write_bytes(to_png_bytes(mask))
    counts = np.bincount(mask.reshape(-1), minlength=len(deeplab.VOC_CLASSES))
    payload = {"model": "deeplab", "size": list(mask.shape),
               "pixel_counts": {n: int(c) for n, c in zip(deeplab.VOC_CLASSES, counts, strict=True) if c},
               "out": str(args.out) if args.out else None}
    return payload, ", ".join(f"{n}: {c}" for n, c in payload["pixel_counts"].items())


def register_segment(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("segment", help="segment an image with a trained FCN, or --evaluate it on held-out scenes")
    p.add_argument("--model", default="shapes-fcn-transpose",
                   help="shapes-fcn-transpose, shapes-fcn-bilinear, shapes-fcn-unpool, shapes-fcn-aspp (dilated "
                        "encoder + ASPP), shapes-fcn-pyramid (dilated encoder + PSPNet pooling), or deeplab "
                        "(online, keras-hub)")
    p.add_argument("--preset", help="deeplab: a local keras-hub preset folder instead of the online preset")
    p.add_argument("--image", help="sample name or image path")
    p.add_argument("--evaluate", action="store_true", help="per-class and mean IoU on the held-out synthetic set")
    p.add_argument("--max-side", type=int, default=256, help="segment at most this many pixels on the long side")
    add_common(p, out=True)
    p.set_defaults(func=cmd_segment)
