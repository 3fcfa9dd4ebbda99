"""One bounded pool per process for heavy work (ascent, Deep Dream, Score-CAM, training, ...).

Heavy runs are queued instead of all starting at once: ``workers`` threads (default: the number of
cores) take jobs first come, first served. TensorFlow releases the GIL inside its kernels, so a
thread per core keeps every core busy while light page runs stay responsive.

A job *is* a :class:`core.cache.Pending` of a :class:`core.cache.KeyedCache`: submitting a key
that is already queued or running joins it (compute once per key), the result lands in the cache,
and every waiting session reads the same progress and its own place in the queue.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

from core.cache import MISSING, Cancelled, KeyedCache, Pending
from core.progress import Progress

log = logging.getLogger(__name__)


class JobPool:
    def __init__(self, workers: int | None = None, name: str = "jobs"):
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.name = name
        self._queue: deque[tuple[KeyedCache, Pending, Callable[[Progress], Any]]] = deque()
        self._running: list[Pending] = []
        self._closing = False
        self._cond = threading.Condition()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(self.workers)]
        for t in self._threads:
            t.start()

    def submit(self, cache: KeyedCache, key: Hashable, compute: Callable[[Progress], Any], label: str = "",
               waiter: str | None = None) -> tuple[Pending | None, Any]:
        """``(None, value)`` when ``key`` is cached, else ``(pending, MISSING)``: queued here if new,
        joined if another session already queued it. ``waiter`` (a session id) records interest."""
        pending, owner, value = cache.claim(key, label)
        if pending is None:
            return None, value
        if waiter is not None:
            pending.waiters.add(waiter)
        if owner:
            with self._cond:
                self._queue.append((cache, pending, compute))
                self._cond.notify()
        return pending, MISSING

    def position(self, pending: Pending) -> int:
        """Jobs ahead of ``pending`` in the queue (0 = next or already running; -1 = not queued)."""
        with self._cond:
            for i, (_, p, _) in enumerate(self._queue):
                if p is pending:
                    return i
            return 0 if pending in self._running else -1

    def is_running(self, pending: Pending) -> bool:
        with self._cond:
            return pending in self._running

    def stats(self) -> dict:
        with self._cond:
            return {"workers": self.workers, "queued": len(self._queue), "running": len(self._running)}

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Stop taking jobs, cancel the queued ones, ask the running ones to stop at their next progress
        report and wait up to ``timeout`` s for them. Called at interpreter exit: a daemon worker still
        inside TensorFlow (tracing a graph) when the interpreter tears down aborts the whole process.
        True when nothing is left running."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            queued, self._queue = list(self._queue), deque()
            for pending in self._running:
                pending.cancel_requested = True
        for cache, pending, _ in queued:
            cache.fail(pending, Cancelled(pending.label))
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._running and time.monotonic() < deadline:
                self._cond.wait(max(0.01, min(0.5, deadline - time.monotonic())))
            return not self._running

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue or self._closing:
                    if self._closing:
                        return
                    self._cond.wait()
                cache, pending, compute = self._queue.popleft()
                self._running.append(pending)
            try:
                if pending.cancel_requested:
                    raise Cancelled(pending.label)
                value = compute(pending)
            except Cancelled as exc:
                cache.fail(pending, exc)
            except Exception as exc:  # the error reaches every waiter, who shows it as a sentence
                log.debug("job %s failed: %s", pending.label, exc)
                cache.fail(pending, exc)
            except BaseException as exc:  # pragma: no cover - interpreter shutdown
                cache.fail(pending, exc)
                raise
            else:
                cache.fulfil(pending, value)
            finally:
                with self._cond:
                    self._running.remove(pending)
                    self._cond.notify_all()


_POOL: JobPool | None = None
_POOL_LOCK = threading.Lock()


def pool() -> JobPool:
    """The process's pool (created on first use; ``DASHBOARD_JOB_WORKERS`` overrides its size)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = JobPool(int(os.environ.get("DASHBOARD_JOB_WORKERS", "0")) or None)
            atexit.register(_POOL.shutdown)
        return _POOL
