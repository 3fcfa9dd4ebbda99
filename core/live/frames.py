"""Latest frame wins: a model slower than the camera drops frames, it never queues them.

:class:`LatestFrameProcessor` owns one worker thread per stream. The camera side calls
:meth:`submit` for every frame and immediately gets back the newest *finished* output (the camera
never waits for the model); the worker always takes the newest submitted frame, and a frame that was
still waiting when a newer one arrived is counted as dropped. Memory is bounded by construction: at
most one pending frame and one finished output are held, however long the stream runs.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Any


class FpsMeter:
    """Frames per second over the last ``window`` ticks."""

    def __init__(self, window: int = 30, clock: Callable[[], float] = time.perf_counter):
        self._times: collections.deque = collections.deque(maxlen=window)
        self._clock = clock

    def tick(self) -> None:
        self._times.append(self._clock())

    @property
    def fps(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


class LatestFrameProcessor:
    """``process(frame) -> output`` on a worker thread, always on the newest frame submitted."""

    def __init__(self, process: Callable[[Any], Any], on_stop: Callable[[], None] | None = None,
                 name: str = "live-frames"):
        self._process = process
        self._on_stop = on_stop
        self._cond = threading.Condition()  # this stream's own: guards the slot and the output
        self._pending: Any = None
        self._has_pending = False
        self._output: Any = None
        self._stopped = False
        self.submitted = 0
        self.processed = 0
        self.dropped = 0
        self.error: BaseException | None = None
        self.meter = FpsMeter()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- camera side ----------------------------------------------------------------------
    def submit(self, frame: Any) -> Any:
        """Offer ``frame``; returns the newest finished output (``None`` before the first one)."""
        with self._cond:
            if self._stopped:
                return self._output
            if self._has_pending:
                self.dropped += 1  # the model never saw it: a newer frame replaces it
            self._pending, self._has_pending = frame, True
            self.submitted += 1
            self._cond.notify()
            return self._output

    def latest(self) -> Any:
        with self._cond:
            return self._output

    def wait_processed(self, count: int, timeout: float = 10.0) -> bool:
        """Block until ``count`` frames were processed (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.processed < count and not self._stopped:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return self.processed >= count

    @property
    def fps(self) -> float:
        return self.meter.fps

    # -- worker side ----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._has_pending and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                frame, self._pending, self._has_pending = self._pending, None, False
            try:
                out = self._process(frame)
            except Exception as exc:  # noqa: BLE001 - kept for the page to show; the stream goes on
                self.error = exc
                continue
            with self._cond:
                self._output = out
                self.processed += 1
                self.meter.tick()
                self._cond.notify_all()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker, drop the held frames, then ``on_stop`` (release the stream's models)."""
        with self._cond:
            if self._stopped:
                return
            self._stopped = True
            self._pending, self._has_pending = None, False
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        if self._on_stop is not None:
            self._on_stop()

    @property
    def stopped(self) -> bool:
        return self._stopped
