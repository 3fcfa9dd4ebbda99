"""Shared by the serving tests: Debian's haproxy, or a visible skip (a failure under CI=true)."""

from __future__ import annotations

import os
import shutil
import urllib.request

import pytest

HAPROXY = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if os.access(p, os.X_OK)), None)
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via an http_proxy


def missing(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the routing tests must run; `make test` installs haproxy as root)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def haproxy() -> str:
    if HAPROXY is None:
        missing("Debian haproxy is not installed (make proxy)")
    return HAPROXY


def get(url: str, cookie: str | None = None):
    """(status, headers) of a GET, straight to the loopback address."""
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with DIRECT.open(req, timeout=10) as r:
        r.read()
        return r.status, r.headers


def ws_connect(base: str, cookie: str | None = None, subprotocols=("streamlit",)):
    """A websocket to Streamlit's /_stcore/stream as a browser opens it (Origin, cookies, subprotocols)."""
    from websockets.sync.client import connect

    headers = {"Origin": base, **({"Cookie": cookie} if cookie else {})}
    return connect(base.replace("http://", "ws://") + "/_stcore/stream", open_timeout=10, max_size=None, proxy=None,
                   additional_headers=headers, subprotocols=list(subprotocols))
