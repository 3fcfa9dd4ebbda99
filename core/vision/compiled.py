"""Compiled functions and derived sub-models of a loaded model, in one bounded cache.

Per-layer extractors, gradient functions and ascent loops used to be stored on the shared model
objects, keyed by slider values and never evicted. They live here instead: keyed by the model's
``uid`` (a random token given at load, never ``id()``, which Python reuses), built once per key
(:class:`core.cache.KeyedCache`), and the least recently used are dropped beyond ``MAX_ENTRIES``.
The functions hold no mutable state (random numbers are stateless, seeded per call), so sessions
may call the same compiled function from several threads.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from core.cache import KeyedCache

MAX_ENTRIES = 48
_CACHE = KeyedCache("compiled", max_entries=MAX_ENTRIES, sizeof=lambda v: 0)  # weights belong to the model


def compiled(loaded: Any, key: tuple[Hashable, ...], build: Callable[[], Any]) -> Any:
    """``build()`` once per (model, key); later calls return the same object."""
    return _CACHE.get_or_compute((loaded.uid,) + tuple(key), lambda _progress: build(), label=str(key[0]))


def cache() -> KeyedCache:
    return _CACHE
