"""CLI commands of the detection pages: ``darknet-summary``, ``detect``, ``anchors``, ``yolo-loss``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from core.cli import CommandError, add_common
from core.limits import ANCHORS_MAX_K as MAX_K
from core.limits import ANCHORS_MAX_SCENES as MAX_SCENES
from core.limits import DARKNET_MAX_SIZE as MAX_SIZE
from core.limits import YOLO_LOSS_MAX_EXAMPLE as MAX_EXAMPLE
from core.progress import stderr_progress


def _check_size(size: int | None) -> None:
    if size is not None and not 32 <= size <= MAX_SIZE:
        raise CommandError(f"--size must be an input side between 32 and {MAX_SIZE} pixels (e.g. 416), not {size}.")


def cmd_darknet_summary(args: argparse.Namespace) -> tuple[Any, str]:
    _check_size(args.size)
    from core.detection.darknet import DarknetError, default_size, load_darknet

    try:
        net = load_darknet(args.cfg, args.weights, size=args.size or default_size(args.cfg))
    except DarknetError as exc:
        raise CommandError(str(exc)) from None
    boxes = net.boxes_per_image
    b = net.heads[0].boxes_per_cell
    payload = {"cfg": str(args.cfg), "size": net.size, "kind": net.kind, "outputs": [list(s) for s in net.output_shapes],
               "boxes": boxes, "params": net.params, "classes": net.n_classes,
               # per head (S_h, S_w, channels): v1 S x S x (B*5 + C), one class distribution per cell; v2/v3 S x S x B*(5 + C)
               "output_grid": [list(s[1:]) for s in net.output_shapes], "boxes_per_cell": b,
               "cell_layout": f"{b} x (x, y, w, h, confidence) + {net.n_classes} classes" if net.kind == "v1"
               else f"{b} x (t_x, t_y, t_w, t_h, t_o, {net.n_classes} classes)",
               "weights_bytes": net.weights_bytes(),
               "weights_bytes_used": net.weights_report.get("weights_bytes_used"),
               "weights_bytes_total": net.weights_report.get("weights_bytes_total"),
               "weights_bytes_expected": net.weights_bytes(), "header": net.weights_report.get("header"),
               "layers": [{"index": i.index, "type": i.kind, "output": list(i.output_shape), "params": i.params,
                           "detail": i.detail} for i in net.layers]}
    lines = [f"{i.index:4d} {i.kind:14s} {i.detail:28s} -> {' x '.join(map(str, i.output_shape))}" for i in net.layers]
    lines.append(f"outputs {payload['outputs']} = {boxes:,} boxes; {net.params:,} parameters")
    if args.weights:
        lines.append(f"weights: {payload['weights_bytes_used']:,} of {payload['weights_bytes_total']:,} bytes used")
    return payload, "\n".join(lines)


def _image_for(detector, spec: str):
    """'scene:N' is held-out synthetic scene N (what shapes-yolo knows); else a sample name or a path."""
    from core.cli import resolve_image

    if spec.startswith("scene:"):
        from core.detection.train import held_out_set

        try:
            n = int(spec.split(":", 1)[1])
        except ValueError:
            raise CommandError("Use scene:N with a number N.") from None
        data = held_out_set()
        if not 0 <= n < len(data.images):
            raise CommandError(f"scene:{n} is out of range: there are {len(data.images)} held-out scenes.")
        return data.images[n]
    return resolve_image(spec).array


def cmd_detect(args: argparse.Namespace) -> tuple[Any, str]:
    if args.model == "blazeface":  # MediaPipe's face detector (core/live)
        from core.live.cli_helpers import detect_blazeface
        return detect_blazeface(args)
    from core.assets import AssetManager
    from core.detection.detector import detect, load_detector
    from core.detection.yolo import draw_detections
    from core.images import to_png_bytes

    _check_size(args.size)
    for flag, value in (("--conf", args.conf), ("--iou", args.iou)):
        if not 0.0 <= value <= 1.0:  # NaN fails too
            raise CommandError(f"{flag} must be between 0 and 1, not {value}.")
    detector = load_detector(args.model, AssetManager(), progress=None if args.json else stderr_progress, size=args.size)
    image = _image_for(detector, args.image)
    result = detect(detector, image, args.conf, args.iou, args.agnostic)
    if args.out:
        args.out.write_bytes(to_png_bytes(draw_detections(image, result.detections)))
    dets = [{"class": d.class_name, "class_id": d.class_id, "score": d.score, "objectness": d.objectness,
             "box": [round(v, 2) for v in d.box], "scale": d.scale, "cell": list(d.cell), "anchor": d.anchor}
            for d in result.detections]
    payload = {"model": args.model, "image": args.image, "conf": args.conf, "iou": args.iou,
               "input_size": detector.size, "outputs": [list(r.shape) for r in result.raw], "detections": dets,
               "out": str(args.out) if args.out else None}
    text = "\n".join(f"{d['class']:12s} {d['score']:.3f}  {d['box']}" for d in dets) or "no detections"
    return payload, text


def _parse_ks(spec: str) -> list[int]:
    shown = spec if len(spec) <= 40 else spec[:37] + "..."
    try:
        if ".." in spec:
            lo, hi = (int(v) for v in spec.split(".."))
            if lo > hi:
                raise CommandError(f"--k {shown} is an empty range: write the smaller number first ({hi}..{lo}).")
            if lo < 1 or hi > MAX_K:
                raise CommandError(f"--k values must be between 1 and {MAX_K}, got {shown}.")
            ks = list(range(lo, hi + 1))
        else:
            ks = sorted({int(v) for v in spec.split(",")})
    except CommandError:  # a UserError, hence a ValueError: the sentences above stand
        raise
    except ValueError:
        raise CommandError(f"--k takes N, N..M or a comma list, got {shown!r}.") from None
    if not ks or min(ks) < 1 or max(ks) > MAX_K:
        raise CommandError(f"--k values must be between 1 and {MAX_K}, got {shown}.")
    return ks


def cmd_anchors(args: argparse.Namespace) -> tuple[Any, str]:
    from core.detection.anchors import iou_curve, mean_best_iou, published_anchors, read_wh_csv

    ks = _parse_ks(args.k)  # before any work: a bad --k costs nothing
    note = ""
    if args.csv:
        from core.detection.anchors import sample_boxes

        if args.image_size is not None and not 0 < args.image_size <= 100_000:
            raise CommandError(f"--image-size must be a positive number of pixels, not {args.image_size}.")
        from core.userfiles import read_regular_text

        if Path(args.csv).is_dir():
            raise CommandError(f"--csv {str(args.csv)[:80]!r} is a folder, not a CSV file of w,h lines.")
        text = read_regular_text(args.csv, "a CSV file of w,h lines", CSV_MAX_BYTES)  # not /dev/zero, not a FIFO
        try:
            wh = read_wh_csv(text)
        except (OSError, ValueError) as exc:
            raise CommandError(f"{args.csv}: {exc}") from None
        wh, note = sample_boxes(wh, seed=args.seed)
        source = str(args.csv)
        if args.image_size:
            wh = wh / float(args.image_size)
    else:
        from core.detection.train import YOLO_RECIPE, training_set

        if not 1 <= args.scenes <= MAX_SCENES:
            raise CommandError(f"--scenes must be between 1 and {MAX_SCENES:,}, not {args.scenes}.")
        wh = training_set(dict(YOLO_RECIPE, n_train=args.scenes)).all_wh()
        source = f"{args.scenes} synthetic training scenes (w, h as fractions of the image)"
    if max(ks) > len(wh):
        raise CommandError(f"k must be at most the number of boxes ({len(wh)}), got {max(ks)}.")
    try:
        curve = iou_curve(wh, ks, args.seed, args.update)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    comparable = not args.csv or bool(args.image_size)  # published anchors are fractions of the image
    published = {name: {"anchors": anchors.tolist(), "mean_iou_on_these_boxes": mean_best_iou(wh, anchors)}
                 for name, anchors in (published_anchors().items() if comparable else ())}
    payload = {"source": source, "boxes": len(wh), "sampled": note or None, "update": args.update,
               "anchors": {str(k): r.anchors.tolist() for k, r in curve.items()},
               "mean_iou": {str(k): r.mean_iou for k, r in curve.items()},
               "results": [{"k": k, "anchors": r.anchors.tolist(), "mean_iou": r.mean_iou, "iterations": r.iterations}
                           for k, r in curve.items()], "published": published}
    text = "\n".join(([note] if note else []) + [f"k={k:2d}: mean IoU {r.mean_iou:.3f}" for k, r in curve.items()])
    return payload, text


def cmd_yolo_loss(args: argparse.Namespace) -> tuple[Any, str]:
    from core.detection.train import load_shapes_yolo, training_set
    from core.detection.yolo import LAMBDA_COORD, LAMBDA_NOOBJ, LOSS_TERMS

    if not 0 <= args.example <= MAX_EXAMPLE:
        raise CommandError(f"--example must be between 0 and {MAX_EXAMPLE} (the training scenes), not {args.example}.")
    yolo = load_shapes_yolo(None if args.json else stderr_progress)
    data = training_set(dict(yolo.card["recipe"], n_train=args.example + 1))  # the training set's first scenes
    n = args.example
    y, raw, terms = yolo.loss_on(data.images[n], data.boxes[n], data.labels[n])
    terms["total"] = float(sum(terms[k] for k in LOSS_TERMS))
    responsible = yolo.responsible(y, raw)
    payload = {"example": args.example, "terms": terms, **terms, "objects": len(data.boxes[n]),
               "responsible": [[r["row"], r["col"], r["anchor"]] for r in responsible],
               "grid": [yolo.grid, yolo.grid], "anchors_per_cell": yolo.head.boxes_per_cell,
               "lambda_coord": LAMBDA_COORD, "lambda_noobj": LAMBDA_NOOBJ}
    return payload, "\n".join(f"{k:9s} {v:.4f}" for k, v in terms.items())


CSV_MAX_BYTES = 256 * 2 ** 20  # millions of boxes; more is not a box list


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("darknet-summary", help="parse a darknet .cfg (+ .weights) into Keras; output shapes, params")
    p.add_argument("--cfg", required=True, help="a .cfg path or a bundled name (yolov3, yolov3-tiny, yolov2-voc, ...)")
    p.add_argument("--weights", help="darknet .weights file (checked byte for byte against the cfg)")
    p.add_argument("--size", type=int, default=None,
                   help="network input (default 416, or the cfg's own size when a [connected] layer fixes it: yolov1 448)")
    add_common(p)
    p.set_defaults(func=cmd_darknet_summary)

    p = sub.add_parser("detect", help="YOLO detection: boxes, scores, an annotated PNG")
    p.add_argument("--model", choices=["shapes-yolo", "yolov3", "yolov3-tiny", "blazeface"], default="shapes-yolo")
    p.add_argument("--image", default="scene:0", help="scene:N (held-out synthetic scene), a sample name or a path")
    p.add_argument("--conf", type=float, default=0.5)
    p.add_argument("--iou", type=float, default=0.45)
    p.add_argument("--agnostic", action="store_true", help="class-agnostic NMS")
    p.add_argument("--size", type=int, default=416, help="network input for the darknet models")
    add_common(p, out=True)
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("anchors", help="IoU k-means anchors and mean IoU per k (YOLO9000 Figure 2)")
    p.add_argument("--k", default="1..10", help="N, N..M or a comma list")
    p.add_argument("--csv", help="a CSV of w,h per box (default: the synthetic training boxes)")
    p.add_argument("--scenes", type=int, default=1000, help="synthetic scenes to take boxes from")
    p.add_argument("--image-size", type=float, help="divide the CSV's w,h by this (pixels -> fractions of the image)")
    p.add_argument("--update", choices=["median", "mean"], default="median")
    p.add_argument("--seed", type=int, default=0)
    add_common(p)
    p.set_defaults(func=cmd_anchors)

    p = sub.add_parser("yolo-loss", help="each YOLO loss term for one training example of shapes-yolo")
    p.add_argument("--example", type=int, default=0)
    add_common(p)
    p.set_defaults(func=cmd_yolo_loss)
