"""Files a user names on the command line (or an operator in a setting): only regular files are read.

``/dev/zero`` as an embedding, a CSV or a darknet cfg read until memory ran out, and a FIFO blocked the
command forever: a path is opened without blocking, the *opened* descriptor is checked to be a regular
file, and only then read (optionally up to a limit). Each refusal is one :class:`core.errors.UserError`
sentence. Standard library only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core.errors import UserError, quote


class NotARegularFile(UserError):
    """The path names a folder, a device, a pipe or nothing; ``str(exc)`` says which."""


def read_regular(path: str | Path, what: str = "a file", limit: int | None = None) -> bytes:
    """The bytes of the regular file at ``path``; a folder, device, FIFO, socket or missing path (or a file
    above ``limit`` bytes) is refused with one sentence before anything is read."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise NotARegularFile(f"No such file: '{quote(path)}'.") from None
    except IsADirectoryError:
        raise NotARegularFile(f"'{quote(path)}' is a folder, not {what}.") from None
    except OSError as exc:
        raise NotARegularFile(f"'{quote(path)}' cannot be read ({exc.strerror or type(exc).__name__}).") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise NotARegularFile(f"'{quote(path)}' is a folder, not {what}.")
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(f"'{quote(path)}' is a device or a pipe, not {what}.")
        if limit is not None and info.st_size > limit:
            raise NotARegularFile(f"'{quote(path)}' is {info.st_size / 2 ** 20:,.0f} MiB, more than the "
                                  f"{limit / 2 ** 20:,.0f} MiB {what} may have.")
        return fh.read() if limit is None else fh.read(limit + 1)[: limit + 1]


def read_regular_text(path: str | Path, what: str = "a file", limit: int | None = None) -> str:
    return read_regular(path, what, limit).decode("utf-8", errors="replace")
