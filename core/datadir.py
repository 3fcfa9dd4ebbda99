"""Files an operator offers to the browser: only inside ``DASHBOARD_DATA_DIR``, never any other path.

A browser must never name a server path. For files larger than the upload limit (a GloVe ``.txt``
of a few hundred MB), the person running the server may set ``DASHBOARD_DATA_DIR``; the pages then
list the regular files inside it and a student picks one by its name relative to that folder.
Everything else is refused with one sentence that quotes no file content: absolute names, ``..``,
symlinks that resolve outside the folder, hidden files, and files above ``DASHBOARD_DATA_MAX_MB``
(default 512).
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path, PurePosixPath

from core.errors import UserError, quote
from core.limits import DATA_DIR_MAX_MB as DEFAULT_MAX_MB

ENV_DIR = "DASHBOARD_DATA_DIR"
ENV_MAX_MB = "DASHBOARD_DATA_MAX_MB"


class DataDirError(UserError):
    """A data-folder file cannot be offered or read; ``str(exc)`` is one sentence."""


def data_dir() -> Path | None:
    """The configured folder (resolved), or None when the option is off."""
    value = os.environ.get(ENV_DIR, "").strip()
    if not value:
        return None
    root = Path(value).expanduser().resolve()
    return root if root.is_dir() else None


MAX_MB_CEILING = 1024 * 1024  # 1 TiB: above it (or inf, nan, 1e400) the setting is a typo, not a limit


def max_bytes() -> int:
    """``DASHBOARD_DATA_MAX_MB`` in bytes; a value that is not a finite number (``inf``, ``nan``, ``1e400``,
    text) or above :data:`MAX_MB_CEILING` means the default, one below 1 MB means 1 MB."""
    try:
        mb = float(os.environ.get(ENV_MAX_MB, DEFAULT_MAX_MB))
    except ValueError:
        mb = DEFAULT_MAX_MB
    if not math.isfinite(mb) or mb > MAX_MB_CEILING:
        mb = DEFAULT_MAX_MB
    return int(max(1.0, mb) * 1024 * 1024)


def _printable(name: str) -> bool:
    """Names a browser can be sent: a file name that is not UTF-8 (surrogate escapes) cannot."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _inside(root: Path, path: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def list_files(suffixes: tuple[str, ...] = (), limit: int = 500) -> list[str]:
    """Names (relative, '/'-separated) of the regular files a student may pick, sorted; hidden
    entries, symlinks leading outside and files over the size cap are left out."""
    root = data_dir()
    if root is None:
        return []
    names: list[str] = []
    cap = max_bytes()
    for dirpath, dirnames, filenames in os.walk(root):  # os.walk does not follow directory symlinks
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and _printable(d))
        for fn in sorted(filenames):
            if fn.startswith(".") or not _printable(fn) or (suffixes and not fn.lower().endswith(suffixes)):
                continue
            full = Path(dirpath) / fn
            try:
                real = full.resolve(strict=True)
                if not _inside(root, real) or not real.is_file() or real.stat().st_size > cap:
                    continue
            except (OSError, RuntimeError, ValueError):  # RuntimeError: a symlink loop (Python 3.11)
                continue
            names.append(full.relative_to(root).as_posix())
            if len(names) >= limit:
                return names
    return names


def resolve(name: str) -> Path:
    """The file ``name`` inside the data folder, checked; :class:`DataDirError` otherwise."""
    root = data_dir()
    if root is None:
        raise DataDirError(f"Server files are off: the operator has not set {ENV_DIR}. Upload the file instead.")
    if not isinstance(name, str) or not name or "\x00" in name or len(name) > 512:
        raise DataDirError("Pick a file from the list.")
    rel = PurePosixPath(name.replace("\\", "/"))
    if rel.is_absolute() or any(part in ("..", "") or part.startswith(".") for part in rel.parts):
        raise DataDirError("Only files listed from the data folder can be opened.")
    try:
        real = (root / Path(*rel.parts)).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        raise DataDirError("Only files listed from the data folder can be opened.") from None
    try:
        is_file = real.is_file()
        size = real.stat().st_size
    except OSError:
        is_file, size = False, 0
    if not _inside(root, real) or not is_file:
        raise DataDirError("Only files listed from the data folder can be opened.")
    if size > max_bytes():
        raise DataDirError(f"'{quote(rel.name)}' is {size / 2**20:,.0f} MB, above the server's limit of "
                           f"{max_bytes() / 2**20:,.0f} MB ({ENV_MAX_MB}).")
    return real


def read_bytes(name: str) -> bytes:
    """The checked file's bytes. The file is opened first and the *opened* descriptor is checked (a regular
    file, still inside the folder by the kernel's own path of it): checking a path and then opening it
    could be raced by someone swapping a folder for a symlink in between."""
    path = resolve(name)
    root = data_dir()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        raise DataDirError("Only files listed from the data folder can be opened.") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        try:
            opened = Path(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # no /proc: the resolved path stands in for the kernel's
            opened = path
        if not stat.S_ISREG(info.st_mode) or root is None or not _inside(root, opened):
            raise DataDirError("Only files listed from the data folder can be opened.")
        data = f.read(max_bytes() + 1)
    if len(data) > max_bytes():  # grew since the check
        raise DataDirError(f"'{quote(path.name)}' is above the server's size limit.")
    return data
