"""Moved to :mod:`core.scenes` (the synthetic scenes feed vision, fcn and detection alike, so they
live below them); this name stays for code written against the old path."""

from core.scenes import *  # noqa: F401,F403
