"""The one progress protocol of the project.

Every long loop in ``core`` (downloads, training, gradient ascent, dreaming) accepts an optional
``progress(fraction, message)`` callable: ``fraction`` is in [0, 1], ``message`` a short sentence.
The dashboard turns it into ``st.progress``; the CLI prints it to stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

Progress = Callable[[float, str], None]


def null_progress(fraction: float, message: str) -> None:  # noqa: ARG001 - protocol signature
    """A progress callback that ignores everything."""


def ensure(progress: Progress | None) -> Progress:
    """Return ``progress`` or a no-op callback."""
    return progress if progress is not None else null_progress


def scaled(progress: Progress | None, start: float, end: float) -> Progress:
    """A callback that maps [0, 1] of a sub-task onto [start, end] of the parent's bar."""
    parent = ensure(progress)

    def _scaled(fraction: float, message: str) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        parent(start + (end - start) * fraction, message)

    return _scaled


def stderr_progress(fraction: float, message: str) -> None:
    """CLI progress: one rewritten line on stderr."""
    pct = int(round(100 * min(1.0, max(0.0, fraction))))
    end = "\n" if fraction >= 1.0 else ""
    sys.stderr.write(f"\r[{pct:3d}%] {message[:100]:<100}{end}")
    sys.stderr.flush()
