"""The one timing helper the benchmark scripts share (they run as scripts: ``python benchmarks/x.py``
puts this folder on sys.path, so ``from timing import ...`` works)."""

from __future__ import annotations

import time


def run_times(fn, repeat: int = 5, warm: bool = False) -> list[float]:
    """Seconds of ``repeat`` calls of ``fn`` (after one untimed call when ``warm``)."""
    if warm:
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def best_of(fn, repeat: int = 5, warm: bool = False) -> float:
    return min(run_times(fn, repeat, warm))
