"""Files an operator offers to the browser: only inside ``DASHBOARD_DATA_DIR``, never any other path.

A browser must never name a server path. For files larger than the upload limit (a GloVe ``.txt``
of a few hundred MB), the person running the server may set ``DASHBOARD_DATA_DIR``; the pages then
list the regular files inside it and a student picks one by its name relative to that folder.
Everything else is refused with one sentence that quotes no file content: absolute names, ``..``,
symlinks that resolve outside the folder, hidden files, and files above ``DASHBOARD_DATA_MAX_MB``
(default 512).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from core.errors import UserError
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


def max_bytes() -> int:
    try:
        mb = float(os.environ.get(ENV_MAX_MB, DEFAULT_MAX_MB))
    except ValueError:
        mb = DEFAULT_MAX_MB
    return int(max(1.0, mb) * 1024 * 1024)


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
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fn in sorted(filenames):
            if fn.startswith(".") or (suffixes and not fn.lower().endswith(suffixes)):
                continue
            full = Path(dirpath) / fn
            try:
                real = full.resolve(strict=True)
                if not _inside(root, real) or not real.is_file() or real.stat().st_size > cap:
                    continue
            except OSError:
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
    except (OSError, RuntimeError):
        raise DataDirError("Only files listed from the data folder can be opened.") from None
    if not _inside(root, real) or not real.is_file():
        raise DataDirError("Only files listed from the data folder can be opened.")
    size = real.stat().st_size
    if size > max_bytes():
        raise DataDirError(f"'{rel.name[:80]}' is {size / 2**20:,.0f} MB, above the server's limit of "
                           f"{max_bytes() / 2**20:,.0f} MB ({ENV_MAX_MB}).")
    return real


def read_bytes(name: str) -> bytes:
    path = resolve(name)
    with open(path, "rb") as f:
        data = f.read(max_bytes() + 1)
    if len(data) > max_bytes():  # grew since the check
        raise DataDirError(f"'{path.name[:80]}' is above the server's size limit.")
    return data
