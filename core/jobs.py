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
from core.errors import UserError
from core.progress import Progress

log = logging.getLogger(__name__)

# Queue places: a job nobody can wait for any more must not keep a room waiting (six students who opened a
# heavy link and closed their tabs kept another's 0.2 s request waiting 305 s).
MAX_QUEUED = 24  # jobs waiting, all students together
MAX_PER_WAITER = 2  # jobs one student (one session) has queued or running
# jobs one client (one browser address: the tabs of one machine) has queued or running; DASHBOARD_JOBS_PER_CLIENT
# overrides it (0: no cap, for a room whose students all reach the server through one NAT address)
MAX_PER_CLIENT = 4
REAP_EVERY_S = 2.0  # how often waiters are checked against the live sessions
GRACE_S = 10.0  # a session gone this long (not a network blip) has left: its interest is withdrawn


class QueueFull(UserError):
    """No queue place for a new job; ``str(exc)`` says why and what to do."""


class JobPool:
    def __init__(self, workers: int | None = None, name: str = "jobs", max_queued: int | None = None,
                 max_per_waiter: int | None = None, max_per_client: int | None = None):
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.name = name
        self._queue: deque[tuple[KeyedCache, Pending, Callable[[Progress], Any]]] = deque()
        self._running: list[Pending] = []
        self._closing = False
        self._cond = threading.Condition()
        self.max_queued, self.max_per_waiter = max_queued, max_per_waiter  # None: no cap (the process pool has all 3)
        self.max_per_client = max_per_client
        self._client_of: dict[str, str] = {}  # waiter (session) -> client (browser address), for the client cap
        # ``alive(waiter) -> bool``: whether a session is still connected (set by the dashboard; None: all are)
        self.alive: Callable[[str], bool] | None = None
        self._gone_since: dict[str, float] = {}
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(self.workers)]
        self._threads.append(threading.Thread(target=self._reap_loop, name=f"{name}-reaper", daemon=True))
        for t in self._threads:
            t.start()

    def submit(self, cache: KeyedCache, key: Hashable, compute: Callable[[Progress], Any], label: str = "",
               waiter: str | None = None, client: str | None = None) -> tuple[Pending | None, Any]:
        """``(None, value)`` when ``key`` is cached, else ``(pending, MISSING)``: queued here if new,
        joined if another session already queued it. ``waiter`` (a session id) records interest;
        ``client`` (the browser's address) groups the sessions of one machine.
        A *new* job beyond ``max_queued`` waiting, beyond ``max_per_waiter`` of this waiter's or beyond
        ``max_per_client`` of this client's sessions' raises :class:`QueueFull` (joining a job already
        queued is always allowed: it costs nothing)."""
        if waiter is not None and client is not None:
            with self._cond:
                self._client_of[waiter] = client
        if cache.pending(key) is None and cache.lookup(key) is MISSING:
            self._check_places(waiter, client)
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

    def _check_places(self, waiter: str | None, client: str | None = None) -> None:
        with self._cond:
            queued = len(self._queue)
            held = [p for _, p, _ in self._queue] + [p for p in self._running if not p.cancel_requested]
            mine = sum(1 for p in held if waiter in p.waiters)
            sessions = {w for w, c in self._client_of.items() if c == client} if client is not None else set()
            ours = sum(1 for p in held if p.waiters & sessions)
        if self.max_queued is not None and queued >= self.max_queued:
            raise QueueFull(f"The queue for heavy computations is full ({queued} jobs waiting): try again in a minute, "
                            "or pick settings another student already computed.")
        if waiter is not None and self.max_per_waiter is not None and mine >= self.max_per_waiter:
            raise QueueFull(f"You already have {mine} computations queued or running: wait for them (or cancel one) "
                            "before starting another.")
        if client is not None and self.max_per_client is not None and ours >= self.max_per_client:
            raise QueueFull(f"Your computer already has {ours} computations queued or running (in this tab and "
                            "others): wait for them, or close the tabs that no longer need theirs.")

    def withdraw(self, waiter: str) -> int:
        """``waiter`` (a session that ended or left) no longer waits for anything: its interest is dropped
        everywhere, and jobs nobody else waits for are cancelled (queued ones at once, running ones at their
        next progress report). Returns how many jobs were cancelled."""
        cancelled = []
        with self._cond:
            for cache, pending, _ in list(self._queue):
                if waiter in pending.waiters and pending.cancel(waiter):
                    self._queue.remove((cache, pending, _))
                    cancelled.append((cache, pending))
            running = [p for p in self._running if waiter in p.waiters]
        for pending in running:
            pending.cancel(waiter)
        for cache, pending in cancelled:
            cache.fail(pending, Cancelled(pending.label))
        return len(cancelled) + sum(p.cancel_requested for p in running)

    def reap(self, now: float | None = None) -> int:
        """Withdraw the interest of waiters :attr:`alive` says are gone (for longer than :data:`GRACE_S`)."""
        alive = self.alive
        if alive is None:
            return 0
        now = time.monotonic() if now is None else now
        with self._cond:
            waiters = {w for _, p, _ in self._queue for w in p.waiters} | {w for p in self._running for w in p.waiters}
        withdrawn = 0
        for waiter in waiters:
            try:
                here = alive(waiter)
            except Exception:  # noqa: BLE001 - a liveness probe must never stop the pool
                here = True
            if here:
                self._gone_since.pop(waiter, None)
                continue
            since = self._gone_since.setdefault(waiter, now)
            if now - since >= GRACE_S:
                withdrawn += self.withdraw(waiter)
                self._gone_since.pop(waiter, None)
        for waiter in [w for w in self._gone_since if w not in waiters]:
            self._gone_since.pop(waiter, None)
        with self._cond:  # a session with no job left needs no client entry (it is set again on its next submit)
            for waiter in [w for w in self._client_of if w not in waiters]:
                self._client_of.pop(waiter, None)
        return withdrawn

    def _reap_loop(self) -> None:
        while not self._closing:
            time.sleep(REAP_EVERY_S)
            try:
                self.reap()
            except Exception:  # noqa: BLE001
                log.exception("job reaper")

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


def per_client_cap() -> int | None:
    """:data:`MAX_PER_CLIENT`, or ``DASHBOARD_JOBS_PER_CLIENT`` when it is a whole number (0 or less: no cap)."""
    try:
        value = int(os.environ.get("DASHBOARD_JOBS_PER_CLIENT", MAX_PER_CLIENT))
    except ValueError:
        return MAX_PER_CLIENT
    return value if value > 0 else None


_POOL: JobPool | None = None
_POOL_LOCK = threading.Lock()


def pool() -> JobPool:
    """The process's pool (created on first use; ``DASHBOARD_JOB_WORKERS`` overrides its size)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = JobPool(int(os.environ.get("DASHBOARD_JOB_WORKERS", "0")) or None,
                            max_queued=MAX_QUEUED, max_per_waiter=MAX_PER_WAITER, max_per_client=per_client_cap())
            atexit.register(_POOL.shutdown)
        return _POOL
