"""Headless CLI: ``python -m core <command> ...``.

Every command prints a human summary, or JSON on stdout with ``--json``, and writes files with
``--out`` where it produces one.

Error policy: a *user* error (a bad argument, a file that is not what it should be) is one line
``error: <sentence>`` on stderr and exit code 2. User errors are :class:`CommandError`, argparse's own
errors, and the library's input-error classes listed in :data:`USER_ERRORS` (each carries a sentence
written for the user). Anything else is a bug of ours, not the user's: exit code 70 (EX_SOFTWARE),
one line ``internal error, please report: ...`` and the traceback on stderr, so a ``KeyError`` deep
inside a computation is never passed off as the user's mistake.
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

from core.errors import UserError, quote
from core.progress import stderr_progress

COMMAND_MODULES = [
    "core.cli",  # assets, device, image (below)
    "core.embeddings.cli",  # bias, debias, sentiment, evaluate
    "core.vision.cli",  # activations, ascent, attribute, dream
    "core.fcn.cli",  # upsample, transpose-conv, segment
    "core.detection.cli",  # darknet-summary, detect, anchors, yolo-loss
    "core.report",  # report: every figure the README quotes
    "core.lecture",  # lecture: the lecture path, slide by slide
]


class CommandError(UserError):
    """A user-facing failure of a command: printed as one sentence, exit code 2."""


USER_EXIT = 2
INTERNAL_EXIT = 70  # sysexits.h EX_SOFTWARE
MAX_ECHO = 80  # characters of user content quoted in a message

# Library exceptions whose message is, by contract, one sentence for the user (module, class name).
# They are looked up only in modules already imported: an exception cannot come from a module that was
# never loaded, and the CLI must not import TensorFlow just to classify an error.
USER_ERRORS = (
    ("core.images", "ImageError"), ("core.assets", "AssetError"), ("core.vision.zoo", "ModelError"),
    ("core.embeddings.io", "EmbeddingFormatError"), ("core.embeddings.bias", "NotEnoughWords"),
    ("core.fcn.upsampling", "UpsamplingError"), ("core.fcn.segmentation", "SegmentationError"),
    ("core.detection.darknet", "DarknetError"), ("core.datadir", "DataDirError"),
    ("core.vision.efficientnet", "ConversionError"), ("core.vision.torch_legacy", "LegacyFormatError"),
)
# OS errors about a path the user named (a missing file, a folder given as a file, no permission).
USER_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


short = quote  # user content for a message, at most MAX_ECHO characters on one line: core.errors.quote


def _user_error_classes() -> tuple[type, ...]:
    found = [UserError]  # the one base; the table below names the classes from before it existed
    for module, name in USER_ERRORS:
        mod = sys.modules.get(module)
        cls = getattr(mod, name, None) if mod is not None else None
        if isinstance(cls, type):
            found.append(cls)
    return tuple(found)


# Errors writing where the user asked (``--out /dev/full``): the disk, not our code.
DISK_ERRNOS = {"ENOSPC": "no space left on the device", "EDQUOT": "the disk quota is exceeded",
               "EROFS": "the file system is read-only", "EFBIG": "the file would be too large"}


def user_message(exc: BaseException) -> str | None:
    """The one sentence for a user error, or None when ``exc`` is an internal error."""
    import errno

    from core.errors import UserError

    if isinstance(exc, (UserError, *_user_error_classes())):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno is not None:
        why = DISK_ERRNOS.get(errno.errorcode.get(exc.errno, ""))
        if why is not None:
            where = f"'{short(exc.filename)}'" if exc.filename is not None else "the output"
            return f"{where} cannot be written: {why}."
    if isinstance(exc, USER_OS_ERRORS):
        what = {FileNotFoundError: "does not exist", IsADirectoryError: "is a folder, not a file",
                NotADirectoryError: "is not inside a folder", PermissionError: "cannot be read or written "
                "(permission denied)"}[next(c for c in USER_OS_ERRORS if isinstance(exc, c))]
        name = exc.filename if exc.filename is not None else "a path"
        return f"'{short(name)}' {what}."
    return None


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error (exit 2) instead of the usage block followed by the error."""

    def error(self, message: str):  # noqa: D102 (argparse's hook)
        self.exit(USER_EXIT, f"error: {message} (see '{self.prog} --help').\n")


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

    if not spec:
        raise CommandError("--image is empty: give a sample name or an image file.")
    if spec in images.SAMPLE_IMAGES:
        return images.load_image(images.sample_image_path(spec))
    return images.load_image(Path(spec))


def _cmd_image(args: argparse.Namespace) -> tuple[Any, str]:
    from core import images

    if args.max_side < 0:
        raise CommandError(f"--max-side must be 0 (no cap) or a number of pixels, not {args.max_side}.")
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


def _cmd_train(args: argparse.Namespace) -> tuple[Any, str]:
    from core.train import SELF_TRAINED, model_dir, train_all

    if not args.all and not args.names:
        raise CommandError("Name one or more models, or pass --all: " + ", ".join(n for n, _, _ in SELF_TRAINED) + ".")
    rows = train_all(None if args.all else list(args.names), progress=None if args.json else stderr_progress)
    text = "\n".join(f"{r['name']:22s} {'trained' if r['trained_now'] else 'cached':8s} {r['seconds']:7.1f} s" for r in rows)
    return {"models": rows, "folder": str(model_dir())}, text


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

    from core.train import SELF_TRAINED  # no TensorFlow: the trainers are named, not imported

    p = sub.add_parser("train", help="train (or find in the cache) the self-trained models: --all, or by name")
    p.add_argument("names", nargs="*", metavar="NAME", help=", ".join(n for n, _, _ in SELF_TRAINED))
    p.add_argument("--all", action="store_true", help="every self-trained model the pages, the report and the tests use")
    add_common(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("image", help="decode an image exactly as the dashboard does")
    p.add_argument("--image", required=True, help="sample name (astronaut, chelsea, ...) or a file path")
    p.add_argument("--max-side", type=int, default=0, help="cap the longest side (pixels)")
    add_common(p, out=True)
    p.set_defaults(func=_cmd_image)


# ----------------------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
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
    try:
        payload, text = func(args)
    except KeyboardInterrupt:
        print("error: interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 (sorted below into the user's errors and ours)
        message = user_message(exc)
        if message is not None:
            print(f"error: {message}", file=sys.stderr)
            return USER_EXIT
        import traceback

        print(f"internal error, please report: {type(exc).__name__} in '{args.command}' "
              f"({short(exc)}); the traceback follows.", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        return INTERNAL_EXIT
    emit(args, payload, text)
    return 0
