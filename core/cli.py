"""Headless CLI: ``python -m core <command> ...``.

Every command prints a human summary, or JSON on stdout with ``--json``, and writes files with
``--out`` where it produces one. Errors are one sentence on stderr and a non-zero exit code.
Each feature module contributes its commands through a ``register_cli(subparsers)`` function
listed in :data:`COMMAND_MODULES`; command functions take the parsed args and return
``(payload, text)``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.progress import stderr_progress

COMMAND_MODULES = [
    "core.cli",  # assets, device, image (below)
    "core.embeddings.cli",  # bias, debias, sentiment, evaluate
    "core.vision.cli",  # activations, ascent, attribute, dream
    "core.fcn.cli",  # upsample, transpose-conv, segment
    "core.detection.cli",  # darknet-summary, detect, anchors, yolo-loss
    "core.report",  # report: every figure the README quotes
]


class CommandError(Exception):
    """A user-facing failure of a command: printed as one sentence, exit code 2."""


def add_common(parser: argparse.ArgumentParser, out: bool = False) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    if out:
        parser.add_argument("--out", type=Path, help="write the result to this file")


def emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    if getattr(args, "json", False):
        json.dump(payload, sys.stdout, indent=2, default=_json_default)
        sys.stdout.write("\n")
    else:
        print(text)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# ----------------------------------------------------------------------------- built-in commands


def _cmd_assets_list(args: argparse.Namespace) -> tuple[Any, str]:
    from core.assets import AssetManager

    mgr = AssetManager()
    rows, lines = [], [f"cache folder: {mgr.cache_dir}"]
    for name, asset in mgr.assets.items():
        st = mgr.status(name)
        rows.append({
            "name": name, "title": asset.title, "state": st.state, "path": str(st.path),
            "size": asset.size, "sha256": asset.sha256, "licence": asset.licence,
            "offline_default": asset.offline_default, "used_by": list(asset.used_by),
            "sources": [s.describe(mgr.wheels) for s in asset.sources], "detail": st.detail,
        })
        flag = "offline" if asset.offline_default else "online "
        lines.append(f"{st.state:9s} {flag} {name:26s} {st.path}" + (f"  ({st.detail})" if st.detail else ""))
    payload = {"cache_dir": str(mgr.cache_dir), "assets": rows,
               "offline_defaults_ready": all(r["state"] == "verified" for r in rows if r["offline_default"])}
    return payload, "\n".join(lines)


def _cmd_assets_fetch(args: argparse.Namespace) -> tuple[Any, str]:
    from core.assets import AssetManager

    mgr = AssetManager()
    names = list(args.names)
    if args.offline_defaults:
        names += [n for n in mgr.offline_defaults() if n not in names]
    if not names:
        raise CommandError("Name one or more assets, or pass --offline-defaults.")
    fetched, failed = {}, {}
    for name in names:
        try:
            fetched[name] = str(mgr.fetch(name, progress=None if args.json else stderr_progress,
                                          force=args.force))
        except Exception as exc:  # report every asset, then fail
            from core.assets import AssetError

            if not isinstance(exc, AssetError):
                raise
            failed[name] = str(exc)
    text = "\n".join([f"ok       {n}: {p}" for n, p in fetched.items()] +
                     [f"FAILED   {msg}" for msg in failed.values()])
    payload = {"fetched": fetched, "failed": failed}
    if failed:
        emit(args, payload, text)
        raise CommandError(f"{len(failed)} of {len(names)} assets could not be fetched.")
    return payload, text


def _cmd_assets_path(args: argparse.Namespace) -> tuple[Any, str]:
    from core.assets import AssetManager

    p = AssetManager().path(args.name)
    return {"name": args.name, "path": str(p), "exists": p.exists()}, str(p)


def _cmd_device(args: argparse.Namespace) -> tuple[Any, str]:
    from core.device import describe_device

    d = describe_device()
    return {"kind": d.kind, "name": d.name, "count": d.count, "tensorflow": d.tensorflow,
            "label": d.label}, d.label


def resolve_image(spec: str):
    """A sample-image name or a file path -> :class:`core.images.LoadedImage`."""
    from core import images

    if spec in images.SAMPLE_IMAGES:
        return images.load_image(images.sample_image_path(spec))
    return images.load_image(Path(spec))


def _cmd_image(args: argparse.Namespace) -> tuple[Any, str]:
    from core import images

    loaded = resolve_image(args.image)
    loaded = images.load_image(loaded.array, max_side=args.max_side) if args.max_side else loaded
    if args.out:
        args.out.write_bytes(images.to_png_bytes(loaded.array))
    h, w, _ = loaded.array.shape
    payload = {"height": h, "width": w, "original_size": list(loaded.original_size),
               "original_mode": loaded.original_mode, "format": loaded.format, "notes": loaded.notes,
               "out": str(args.out) if args.out else None}
    return payload, f"{w} x {h} RGB from {loaded.format} {loaded.original_mode}; " + (
        "; ".join(loaded.notes) or "no conversion needed")


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("assets", help="list or fetch downloadable assets (models, embeddings, word lists)")
    asub = p.add_subparsers(dest="assets_command", required=True)
    q = asub.add_parser("list", help="show each asset's state (verified / missing / corrupt)")
    add_common(q)
    q.set_defaults(func=_cmd_assets_list)
    q = asub.add_parser("fetch", help="fetch assets by name, or every offline default")
    q.add_argument("names", nargs="*", metavar="NAME")
    q.add_argument("--offline-defaults", action="store_true", help="fetch every offline default")
    q.add_argument("--force", action="store_true", help="download again even if present")
    add_common(q)
    q.set_defaults(func=_cmd_assets_fetch)
    q = asub.add_parser("path", help="print where an asset lives")
    q.add_argument("name")
    add_common(q)
    q.set_defaults(func=_cmd_assets_path)

    p = sub.add_parser("device", help="which device TensorFlow computes on")
    add_common(p)
    p.set_defaults(func=_cmd_device)

    p = sub.add_parser("image", help="decode an image exactly as the dashboard does")
    p.add_argument("--image", required=True, help="sample name (astronaut, chelsea, ...) or a file path")
    p.add_argument("--max-side", type=int, default=0, help="cap the longest side (pixels)")
    add_common(p, out=True)
    p.set_defaults(func=_cmd_image)


# ----------------------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="Lecture dashboard library: the same computations as the pages, headless.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    from core.assets import AssetError
    from core.images import ImageError

    try:
        payload, text = func(args)
    except (CommandError, AssetError, ImageError, ValueError, FileNotFoundError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    emit(args, payload, text)
    return 0
