"""The one server health poll: Streamlit answers ``GET /_stcore/health`` with 200 once it serves.

Used by the warm start, ``make classroom`` (startup and the hung-worker probe), the tests that start a
server and the benchmarks. Loopback addresses are asked directly, never through an ``http_proxy``.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable

PATH = "/_stcore/health"
INTERVAL_S = 0.3  # between two probes while waiting

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def base_url(port: int, host: str = "127.0.0.1") -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def healthy(base: str, timeout: float = 2.0) -> bool:
    """Whether the server at ``base`` (``http://host:port``, a trailing slash allowed) answers 200 now."""
    try:
        with _DIRECT.open(base.rstrip("/") + PATH, timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


def wait_healthy(base: str, timeout: float = 120.0, alive: Callable[[], bool] | None = None,
                 interval: float = INTERVAL_S) -> bool:
    """Poll ``base`` until it answers (True) or ``timeout`` seconds pass (False). ``alive()``, when given, is
    asked between probes: a process that has exited will never answer, so the wait ends (False) at once."""
    deadline = time.monotonic() + timeout
    while True:
        if healthy(base, timeout=min(2.0, max(0.1, deadline - time.monotonic()))):
            return True
        if alive is not None and not alive():
            return False
        if time.monotonic() + interval > deadline:
            return False
        time.sleep(interval)
