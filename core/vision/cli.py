"""CLI commands of the CNN pages: ``predict``, ``activations``, ``ascent``, ``attribute``, ``dream``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from core.cli import CommandError, add_common, resolve_image, short
from core.progress import stderr_progress
from core.vision import ascent_settings


def _model(args: argparse.Namespace):
    from core.vision.zoo import load_model

    return load_model(args.model, progress=None if args.json else stderr_progress)


def cmd_predict(args: argparse.Namespace) -> tuple[Any, str]:
    import numpy as np

    from core.numeric import softmax

    if args.top < 1:
        raise CommandError("--top must be at least 1.")
    model = _model(args)
    image = resolve_image(args.image).array
    p = softmax(model.predict_logits(model.preprocess(image)[None])[0].astype(np.float64))
    # by index, not by name: ImageNet has two "crane"s and two "maillot"s
    top = [{"class": model.class_names[i], "index": int(i), "probability": float(p[i])} for i in np.argsort(-p)[:args.top]]
    return {"model": model.name, "top": top}, "\n".join(
        f"{t['probability']:7.2%}  {t['class']} ({t['index']})" for t in top)


def cmd_activations(args: argparse.Namespace) -> tuple[Any, str]:
    from core.vision.activations import activation_maps, network_stats

    model = _model(args)
    image = resolve_image(args.image).array
    stats = network_stats(model, image)
    payload: dict[str, Any] = {"model": model.name, "layers": [s.__dict__ for s in stats],
                               "predictions": model.predict(image, top=5)}
    if args.layer:
        maps = activation_maps(model, image, args.layer)
        payload["layer"] = {"name": args.layer, "shape": list(maps.shape),
                            "channel_means": maps.mean(axis=(0, 1)).tolist()}
        if args.out:
            import numpy as np

            np.save(args.out, maps.astype(np.float32))
    lines = [f"{s.name:28s} {s.height:4d}x{s.width:<4d} x{s.channels:<5d} zeros {s.zero_fraction:6.1%} mean {s.mean:+.3f}"
             for s in stats]
    return payload, "\n".join(lines)


def cmd_ascent(args: argparse.Namespace) -> tuple[Any, str]:
    import numpy as np

    from core.images import to_png_bytes
    from core.vision.ascent import gradient_ascent
    from core.vision.ascent_settings import AscentSettings

    if (args.filter is None) == (args.cls is None):
        raise CommandError("Give either --filter K (with --layer L) or --class C.")
    _check_range("--steps", args.steps, 1, 5000)
    _check_range("--eta", args.eta, 0.0, 1e4)
    _check_range("--size", args.size, 16, 1024)
    _check_range("--l2", args.l2, 0.0, 0.99)  # the image is multiplied by 1 - l2 each step: 2 flipped its sign
    _check_range("--jitter", args.jitter, 0, 64)
    _check_range("--blur-every", args.blur_every, 0, 10_000)
    _check_range("--seed", args.seed, 0, 2 ** 32 - 1)
    model = _model(args)
    if args.filter is not None:
        if not args.layer:
            raise CommandError("--filter needs --layer.")
        layer, targets = args.layer, [args.filter]
    else:
        layer, targets = None, [model.class_index(args.cls)]
    settings = AscentSettings(steps=args.steps, eta=args.eta, init=args.init, jitter=args.jitter, l2=args.l2,
                              blur_every=args.blur_every, fourier=args.fourier, size=args.size, seed=args.seed)
    result = gradient_ascent(model, layer, targets, **settings.call_kwargs(),
                             progress=None if args.json else stderr_progress)
    if args.out:
        args.out.write_bytes(to_png_bytes(np.concatenate(list(result.images), axis=1)))
    payload = {"model": model.name, "layer": layer, "targets": list(result.targets),
               "objective": result.objective.tolist(), "seconds": result.seconds,
               "out": str(args.out) if args.out else None}
    if layer is None:
        payload["predictions"] = model.predict(result.images[0], top=3)
    return payload, (f"{args.steps} steps in {result.seconds:.2f} s: objective {result.objective[0]:.4g} -> "
                     f"{result.objective[-1]:.4g}" + (f"; wrote {args.out}" if args.out else ""))


def _check_range(flag: str, value: float, lo: float, hi: float) -> None:
    """A numeric option within [lo, hi] (NaN and infinity fail too), or one sentence."""
    import math

    if not (math.isfinite(value) and lo <= value <= hi):
        raise CommandError(f"{flag} must be between {lo:g} and {hi:g}, not {value}.")


def cmd_dream(args: argparse.Namespace) -> tuple[Any, str]:
    import math

    from core.images import to_png_bytes
    from core.vision.ascent import deep_dream

    for flag, value, lo, hi in (("--octaves", args.octaves, 1, 8), ("--scale", args.scale, 1.05, 4.0),
                                ("--iterations", args.iterations, 1, 1000), ("--step", args.step, 1e-6, 10.0),
                                ("--jitter", args.jitter, 0, 64), ("--max-side", args.max_side, 16, 2048),
                                ("--random-scaling", args.random_scaling, 0.0, 0.5)):
        _check_range(flag, value, lo, hi)
    layers = {}
    for item in args.layer or []:
        name, _, weight = item.partition(":")
        try:
            layers[name] = float(weight) if weight else 1.0
        except ValueError:
            raise CommandError(f"--layer takes LAYER[:WEIGHT] with a number as the weight, not {item[:60]!r}.") from None
        if not math.isfinite(layers[name]):
            raise CommandError(f"--layer {item[:60]!r}: the weight must be a finite number.")
    model = _model(args)
    image = resolve_image(args.image).array
    if not layers:
        convs = model.conv_layers
        layers = {name: 1.0 for name in (convs[-3:-1] if len(convs) >= 3 else convs[-1:])}
    result = deep_dream(model, image, layers, octaves=args.octaves, octave_scale=args.scale, iterations=args.iterations,
                        step=args.step, jitter=args.jitter, max_side=args.max_side, seed=args.seed,
                        progress=None if args.json else stderr_progress, scaling=args.random_scaling,
                        objective=args.objective)
    if args.out:
        args.out.write_bytes(to_png_bytes(result.image))
    payload = {"model": model.name, "layers": layers, "octave_shapes": [list(s) for s in result.octave_shapes],
               "loss": result.loss.tolist(), "seconds": result.seconds, "out": str(args.out) if args.out else None}
    return payload, f"dreamed {len(result.loss)} iterations in {result.seconds:.1f} s" + (
        f"; wrote {args.out}" if args.out else "")


def register_cli(sub: argparse._SubParsersAction) -> None:
    def model_args(p, default="emotion-cnn"):
        p.add_argument("--model", default=default,
                       help="emotion-cnn, shapes-cnn, efficientnet-lite0, vgg16, xception, inceptionv3, resnet50")
        p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("predict", help="top classes with softmax probabilities for an image")
    model_args(p)
    p.add_argument("--image", default="chelsea", help="sample name or image path")
    p.add_argument("--top", type=int, default=5, help="how many classes")
    add_common(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("activations", help="per-layer statistics (size, channels, sparsity) for an image")
    model_args(p)
    p.add_argument("--image", default="astronaut", help="sample name or image path")
    p.add_argument("--layer", help="also return this layer's maps (--out writes them as .npy)")
    add_common(p, out=True)
    p.set_defaults(func=cmd_activations)

    p = sub.add_parser("ascent", help="gradient ascent on a filter (--layer L --filter K) or a class (--class C)")
    model_args(p)
    p.add_argument("--layer")
    p.add_argument("--filter", type=int)
    p.add_argument("--class", dest="cls", help="class name or index")
    a = ascent_settings.CLI  # the defaults: one settings object (core/vision/ascent_settings.py)
    p.add_argument("--steps", type=int, default=a.steps)
    p.add_argument("--eta", type=float, default=a.eta, help="step length")
    p.add_argument("--size", type=int, default=a.size, help="image size for models that accept any size")
    p.add_argument("--init", choices=["gray", "zeros", "random"], default=a.init)
    p.add_argument("--jitter", type=int, default=a.jitter)
    p.add_argument("--l2", type=float, default=a.l2)
    p.add_argument("--blur-every", type=int, default=a.blur_every)
    p.add_argument("--fourier", action="store_true", default=a.fourier)
    p.set_defaults(seed=a.seed)  # --seed itself comes with model_args
    add_common(p, out=True)
    p.set_defaults(func=cmd_ascent)

    from core.vision.attribution import METHODS

    p = sub.add_parser("attribute", help="CAM / Grad-CAM / gradient / guided heatmap as .npy (H x W in [0, 1])")
    model_args(p)
    p.add_argument("--image", default="astronaut", help="sample name or image path")
    p.add_argument("--method", choices=list(METHODS), default="gradcam")
    p.add_argument("--target", help="class index (e.g. 285) or name (e.g. 'Egyptian cat'); default: the top "
                                    "prediction")
    p.add_argument("--layer", help="layer for the CAM family and Guided Grad-CAM (default: the model's own choice, "
                                   "e.g. head_activation for efficientnet-lite0, else the last convolution)")
    p.add_argument("--rgb-out", type=Path, help="guided methods: also write the signed gradient as a PNG")
    p.add_argument("--faithfulness", action="store_true",
                   help="also score the heatmap: deletion and insertion AUCs (RISE curves, 32 steps)")
    add_common(p, out=True)
    p.set_defaults(func=cmd_attribute)

    p = sub.add_parser("gallery", help="neuron gallery: filter visualisations of a layer's channels, kept on disk")
    model_args(p, default="efficientnet-lite0")
    p.add_argument("--layer", help="layer (default: the model's gallery layer, e.g. block4a_expand_activation)")
    p.add_argument("--channels", default="0-7", help="'all', K or K-L (default 0-7)")
    add_common(p)
    p.set_defaults(func=cmd_gallery)

    p = sub.add_parser("dream", help="Deep Dream on an image")
    model_args(p, default="shapes-cnn")
    p.add_argument("--image", default="chelsea")
    p.add_argument("--layer", action="append", help="LAYER[:WEIGHT], repeatable (default: two late conv layers)")
    p.add_argument("--octaves", type=int, default=3)
    p.add_argument("--scale", type=float, default=1.4)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--step", type=float, default=0.01)
    p.add_argument("--jitter", type=int, default=4)
    p.add_argument("--random-scaling", type=float, default=0.0,
                   help="the slide's noise process: zoom the image by a random factor in [1-x, 1+x] after each step "
                        "(use with --jitter 0)")
    p.add_argument("--objective", choices=("square", "activation"), default="square",
                   help="f_A: 'square' (keras-io, the default here: mean of the squared activations) or 'activation' "
                        "(the slide's and the page's default: the activations summed)")
    p.add_argument("--max-side", type=int, default=512)
    add_common(p, out=True)
    p.set_defaults(func=cmd_dream)


def _target_index(model, target: str) -> int:
    """A class index from ``--target``: an index, or a name (exact, case-insensitive, else a unique
    substring); a name shared by several classes asks for the index."""
    text = str(target).strip()
    if text.isdigit():
        return model.class_index(int(text))
    if text.startswith("-") and text[1:].isdigit():
        raise CommandError(f"Class index {text} is out of range: {model.name} has classes 0-{len(model.class_names) - 1}.")
    same = [i for i, c in enumerate(model.class_names) if c.lower() == text.lower()]
    if len(same) > 1:
        raise CommandError(f"'{text}' names {len(same)} classes of {model.name} (indices "
                           f"{', '.join(map(str, same))}): pass --target with the index.")
    return model.class_index(text)


def cmd_gallery(args: argparse.Namespace) -> tuple[Any, str]:
    """Filter visualisations of channels of a layer, into (or from) the neuron gallery on disk."""
    from core.vision import gallery

    model = _model(args)
    layer = args.layer or gallery.default_layer(model)
    n = gallery.layer_channels(model, layer)
    try:
        first, _, last = args.channels.partition("-")
        channels = list(range(int(first), int(last or first) + 1)) if args.channels != "all" else list(range(n))
    except ValueError:
        raise CommandError(f"--channels takes 'all', K or K-L, not '{short(args.channels)}'.") from None
    if not channels:
        raise CommandError(f"--channels {short(args.channels)} is an empty range: write the smaller number first "
                           f"({last}-{first}).")
    store = gallery.compute(model, layer, channels, progress=None if args.json else stderr_progress)
    rows = [{"channel": k, "path": str(store.path(k)), **{f: store.done[k][f] for f in ("activation", "std", "seconds")}}
            for k in channels]
    payload = {"model": model.name, "layer": layer, "channels_total": n, "recipe": store.recipe,
               "folder": str(store.folder), "channels": rows}
    mean = sum(r["seconds"] for r in rows) / max(1, len(rows))
    return payload, (f"{len(rows)} channel(s) of {layer} in {store.folder} ({len(store.done)} of {n} on disk; "
                     f"{mean:.2f} s per channel when computed)")


def cmd_attribute(args: argparse.Namespace) -> tuple[Any, str]:
    import numpy as np

    from core.vision.attribution import attribute

    model = _model(args)
    image = resolve_image(args.image).array
    preds = model.predict(image, top=5)
    if args.target is None:  # by index: a name may belong to two classes (ImageNet's two "crane"s)
        target = int(np.argmax(model.predict_logits(model.preprocess(image)[None])[0]))
    else:
        target = _target_index(model, args.target)
    heat = attribute(model, image, args.method, target, layer=args.layer)
    if args.out:
        np.save(args.out, heat.values.astype(np.float32))
    if args.rgb_out is not None:
        if heat.rgb is None:
            raise CommandError(f"--rgb-out needs a guided method (guided-backprop, guided-gradcam), not {args.method}.")
        from core.images import to_png_bytes

        args.rgb_out.write_bytes(to_png_bytes(heat.rgb))
    payload = {"model": model.name, "method": args.method, "target": model.class_names[target],
               "target_index": target, "layer": heat.layer, "top5": preds, "shape": list(heat.values.shape),
               "note": heat.note, "out": str(args.out) if args.out else None}
    text = ""
    if args.faithfulness:
        from core.vision.attribution import faithfulness

        f = faithfulness(model, model.preprocess(image)[None], heat.values, target)
        payload.update(deletion_auc=f.deletion_auc, insertion_auc=f.insertion_auc,
                       faithfulness={"fractions": f.fractions.tolist(), "deletion": f.deletion.tolist(),
                                     "insertion": f.insertion.tolist()})
        text = f"; deletion AUC {f.deletion_auc:.3f}, insertion AUC {f.insertion_auc:.3f}"
    return payload, f"{args.method} for '{model.class_names[target]}' ({heat.values.shape[0]}x{heat.values.shape[1]}){text}" + (
        f"; wrote {args.out}" if args.out else "")
