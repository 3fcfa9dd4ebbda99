"""Named, bounded caches that compute each key once, without a lock shared between keys.

The dashboard serves a room: many sessions ask for the same model, the same debiased copy, the same
ascent result at once. A :class:`KeyedCache` gives each *concept* its own cache (``CACHES`` lists
them) with three properties:

* **compute once per key** — the first caller of a missing key *claims* it and computes; everyone
  else asking for that key waits on the same :class:`Pending` (and can read its progress); callers
  of *other* keys never wait for it (the cache's lock guards dictionary operations only);
* **bounded** — least-recently-used entries are evicted beyond ``max_entries`` or ``max_bytes``
  (sizes estimated by :func:`approx_nbytes`), so a class moving sliders cannot grow a server without
  bound;
* **abandon-safe** — when the computing caller is interrupted or fails, waiters are told (they
  retry or see the error), and the key is free to be claimed again.

No Streamlit here: the dashboard draws progress bars from :class:`Pending`, the CLI and tests call
:meth:`KeyedCache.get_or_compute`.
"""

from __future__ import annotations

import enum
import hashlib
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np

from core.progress import Progress

MISSING = object()


class Cancelled(Exception):
    """The computation was cancelled (by every session that waited for it)."""


class Abandoned(Exception):
    """The caller computing this key stopped before finishing (e.g. its page was rerun); retry."""


class Pending:
    """A computation in flight: its progress, its waiters, then its value or error."""

    def __init__(self, key: Hashable, label: str = ""):
        self.key = key
        self.preview: Any = None  # optional intermediate result a long loop publishes (e.g. images)
        self.preview_version = 0
        self.label = label
        self.fraction = 0.0
        self.message = ""
        self.started = time.monotonic()
        self.cancel_requested = False
        self.waiters: set[str] = set()
        self._done = threading.Event()
        self._value: Any = MISSING
        self._error: BaseException | None = None

    # -- the computing side ------------------------------------------------------------------
    def progress(self, fraction: float, message: str = "") -> None:
        """The progress protocol of ``core.progress``; raises :class:`Cancelled` once cancelled."""
        if self.cancel_requested:
            raise Cancelled(self.label or "cancelled")
        self.fraction = min(1.0, max(0.0, float(fraction)))
        self.message = message

    __call__ = progress  # a Pending is itself a ``progress(fraction, message)`` callback

    def show(self, preview: Any) -> None:
        """Publish an intermediate result for every waiting session to draw."""
        self.preview = preview
        self.preview_version += 1

    def _finish(self, value: Any = MISSING, error: BaseException | None = None) -> None:
        self._value, self._error = value, error
        self._done.set()

    # -- the waiting side ----------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def result(self, timeout: float | None = None) -> Any:
        if not self._done.wait(timeout):
            raise TimeoutError(f"still computing {self.label or self.key!r}")
        if self._error is not None:
            raise self._error
        return self._value

    def cancel(self, waiter: str | None = None) -> bool:
        """Withdraw ``waiter``'s interest; cancel the computation when nobody else waits for it.
        Returns True when the computation was cancelled."""
        if waiter is not None:
            self.waiters.discard(waiter)
        if not self.waiters or waiter is None:
            self.cancel_requested = True
        return self.cancel_requested


def approx_nbytes(obj: Any, _depth: int = 0, _seen: set | None = None) -> int:
    """A cheap estimate of the memory an object holds: arrays by ``nbytes``, Keras models by their
    parameter count, containers and dataclasses recursively (shared parts counted once)."""
    seen = _seen if _seen is not None else set()
    if id(obj) in seen or _depth > 6:
        return 0
    seen.add(id(obj))
    nbytes = getattr(obj, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if hasattr(obj, "count_params") and callable(obj.count_params):
        try:
            return 4 * int(obj.count_params())
        except Exception:  # an unbuilt model
            return 1 << 20
    if isinstance(obj, (str, bytes, bytearray)):
        return len(obj)
    if isinstance(obj, dict):
        return sum(approx_nbytes(k, _depth + 1, seen) + approx_nbytes(v, _depth + 1, seen) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = list(obj)
        if len(items) > 256:  # sample long homogeneous lists
            sample = sum(approx_nbytes(v, _depth + 1, seen) for v in items[:64])
            return sample * len(items) // 64
        return sum(approx_nbytes(v, _depth + 1, seen) for v in items)
    if is_dataclass(obj) and not isinstance(obj, type):
        return sum(approx_nbytes(getattr(obj, f.name, None), _depth + 1, seen) for f in fields(obj))
    if hasattr(obj, "__dict__") and _depth < 3:
        return sum(approx_nbytes(v, _depth + 1, seen) for v in vars(obj).values())
    return sys.getsizeof(obj)


class KeyedCache:
    """A named LRU cache with per-key compute-once. Thread-safe; values are shared read-only."""

    def __init__(self, name: str, max_entries: int = 32, max_bytes: int | None = None,
                 sizeof: Callable[[Any], int] = approx_nbytes, register: bool = True):
        self.name = name
        self.max_entries = int(max_entries)
        self.max_bytes = max_bytes
        self._sizeof = sizeof
        self._lock = threading.Lock()
        self._values: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._pending: dict[Hashable, Pending] = {}
        self.hits = self.misses = self.evictions = 0
        if register:
            CACHES[name] = self

    # -- lookups -----------------------------------------------------------------------------
    def lookup(self, key: Hashable) -> Any:
        """The value for ``key`` (marked recently used), or :data:`MISSING`."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                self.hits += 1
                return self._values[key][0]
        return MISSING

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._values

    def pending(self, key: Hashable) -> Pending | None:
        with self._lock:
            return self._pending.get(key)

    def claim(self, key: Hashable, label: str = "") -> tuple[Pending | None, bool, Any]:
        """``(None, False, value)`` on a hit; else ``(pending, owner, MISSING)`` where ``owner`` says
        this caller must compute (and then call :meth:`fulfil` or :meth:`fail`)."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                self.hits += 1
                return None, False, self._values[key][0]
            pending = self._pending.get(key)
            if pending is not None:
                return pending, False, MISSING
            self.misses += 1
            pending = self._pending[key] = Pending(key, label)
            return pending, True, MISSING

    def fulfil(self, pending: Pending, value: Any) -> Any:
        size = self._sizeof(value)
        with self._lock:
            if self._pending.get(pending.key) is pending:
                del self._pending[pending.key]
            self._values[pending.key] = (value, size)
            self._values.move_to_end(pending.key)
            self._evict()
        pending._finish(value)
        return value

    def fail(self, pending: Pending, error: BaseException) -> None:
        """The computation ended without a value; the key may be claimed again."""
        with self._lock:
            if self._pending.get(pending.key) is pending:
                del self._pending[pending.key]
        pending._finish(error=error)

    def put(self, key: Hashable, value: Any) -> None:
        pending, owner, _ = self.claim(key)
        if owner:
            self.fulfil(pending, value)

    def _evict(self) -> None:
        while len(self._values) > self.max_entries or (
                self.max_bytes is not None and len(self._values) > 1 and self.nbytes > self.max_bytes):
            self._values.popitem(last=False)
            self.evictions += 1

    # -- the one-call form ---------------------------------------------------------------------
    def get_or_compute(self, key: Hashable, compute: Callable[[Progress], Any], label: str = "",
                       on_wait: Callable[[Pending], None] | None = None) -> Any:
        """The value for ``key``, computing it here with ``compute(progress)`` when nobody else is;
        when somebody else is, wait for theirs (``on_wait(pending)`` may poll and draw it)."""
        while True:
            pending, owner, value = self.claim(key, label)
            if pending is None:
                return value
            if owner:
                try:
                    value = compute(pending)
                except BaseException as exc:  # interrupted or failed: free the key for a retry
                    self.fail(pending, Abandoned() if not isinstance(exc, Exception) else exc)
                    raise
                return self.fulfil(pending, value)
            if on_wait is not None:
                on_wait(pending)
            try:
                return pending.result()
            except (Abandoned, Cancelled):
                continue  # the owner stopped: claim it ourselves

    # -- maintenance ---------------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        return sum(size for _, size in self._values.values())

    def __len__(self) -> int:
        return len(self._values)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def stats(self) -> dict:
        with self._lock:
            return {"name": self.name, "entries": len(self._values), "max_entries": self.max_entries,
                    "bytes": self.nbytes, "max_bytes": self.max_bytes, "computing": len(self._pending),
                    "hits": self.hits, "misses": self.misses, "evictions": self.evictions}


CACHES: dict[str, KeyedCache] = {}


# ----------------------------------------------------------------------------- keys by content


class DigestedArray(np.ndarray):
    """A read-only array that carries its own sha256 (:func:`digested`), so a page that names the same
    picture in five cached calls per run hashes it once per process, not five times per student.
    Anything derived from it (a view, a slice, arithmetic) has no digest and is hashed as usual."""

    digest: str | None = None

    def __array_finalize__(self, obj) -> None:
        self.digest = None  # derived arrays are other content

    def __reduce__(self):  # pickles (st.cache_data copies) as a plain array
        return np.asarray(self).copy().__reduce__()


def digested(array: np.ndarray) -> DigestedArray:
    """``array`` as a read-only :class:`DigestedArray` (its own copy: nothing can write into it)."""
    own = np.array(array)
    own.flags.writeable = False  # the view below cannot be made writeable again either
    out = own.view(DigestedArray)
    out.digest = sha256_of(own)
    return out


def sha256_of(data: bytes | bytearray | memoryview | np.ndarray) -> str:
    """The sha256 of bytes, or of an array's dtype, shape and bytes."""
    if isinstance(data, DigestedArray) and data.digest is not None:
        return data.digest
    h = hashlib.sha256()
    if isinstance(data, np.ndarray):
        data = np.ascontiguousarray(data)
        h.update(f"{data.dtype.str}{data.shape}".encode())
        h.update(memoryview(data).cast("B"))
    else:
        h.update(bytes(data))
    return h.hexdigest()


def content_key(value: Any) -> Hashable:
    """A hashable key that says what ``value`` *is*, never where it lives.

    Arrays, bytes and long strings by sha256; a loaded model by its ``uid`` and an embedding by its ``digest``
    (both set once per loaded object, read-only afterwards); frozen dataclasses, tuples, lists and
    dicts field by field; numbers, strings, enums and ``None`` as themselves. Anything else is a
    ``TypeError``: a key made of ``id()`` or ``repr()`` would either miss for equal content or hit
    for different content, so a new argument type must say what its content is.
    """
    if isinstance(value, str) and len(value) > 256:  # whatever a student pasted: a bounded key
        return ("sha256-text", hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest())
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, enum.Enum):
        return (type(value).__qualname__, value.value)
    if isinstance(value, (bytes, bytearray, memoryview, np.ndarray)):  # before `digest`: a DigestedArray has one
        return ("sha256", sha256_of(value))
    if isinstance(value, (tuple, list)):
        return tuple(content_key(v) for v in value)
    if isinstance(value, dict):
        return ("dict",) + tuple(sorted(((str(k), content_key(v)) for k, v in value.items()), key=repr))
    if isinstance(value, (set, frozenset)):
        return ("set",) + tuple(sorted((content_key(v) for v in value), key=repr))
    uid = getattr(value, "uid", None)
    if isinstance(uid, str):
        return (type(value).__qualname__, uid)
    digest = getattr(value, "digest", None)
    if isinstance(digest, str):
        return (type(value).__qualname__, digest)
    if is_dataclass(value) and not isinstance(value, type) and type(value).__dataclass_params__.frozen:
        return (type(value).__qualname__,) + tuple(content_key(getattr(value, f.name)) for f in fields(value))
    raise TypeError(f"no content key for a {type(value).__qualname__}: give it a uid or digest, or pass its parts")


def function_key(fn: Callable, args: tuple, kwargs: dict) -> Hashable:
    """The key of one call of a named cached function: where the function is defined, and its
    arguments by content (:func:`content_key`)."""
    code = getattr(fn, "__code__", None)
    where = f"{code.co_filename}:{fn.__qualname__}" if code is not None else repr(fn)
    return (where, content_key(args), content_key(kwargs))


def cache_stats() -> list[dict]:
    return [c.stats() for c in list(CACHES.values())]
