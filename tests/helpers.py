"""Small builders shared by tests: wheels, manifests and a loopback HTTP server with Range support."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from contextlib import contextmanager
from pathlib import Path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_wheel(folder: Path, package: str, version: str, members: dict[str, bytes]) -> Path:
    """A minimal but valid pure-Python wheel that `pip download --no-index --find-links` accepts."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"{package}-{version}.dist-info"
    path = folder / f"{package}-{version}-py3-none-any.whl"
    files = dict(members)
    files[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n".encode()
    files[f"{dist}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(f"{name},,\n" for name in files) + f"{dist}/RECORD,,\n"
    files[f"{dist}/RECORD"] = record.encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` (path -> bytes); honours ``Range: bytes=N-``; logs requests."""

    def do_GET(self):  # noqa: N802 - http.server API
        self.server.requests.append((self.path, self.headers.get("Range")))
        data = self.server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and self.server.ranges:
            start = int(rng[6:].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def http_server(files: dict[str, bytes], ranges: bool = True):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    server.files, server.ranges, server.requests = files, ranges, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_async(coro):
    """``asyncio.run(coro)`` in a thread of its own: safe even when an earlier test left an event
    loop marked as running in the main thread."""
    import asyncio
    import threading

    box: dict = {}

    def target():
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller
            box["error"] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


@contextmanager
def streamlit_server(root: Path, log_prefix: str, extra_args: tuple[str, ...] = (), timeout: float = 120.0):
    """``streamlit run dashboard/app.py`` on a free loopback port, yielding its base URL once
    ``/_stcore/health`` answers; stopped (and its log closed) however the block ends."""
    import subprocess
    import sys
    import tempfile

    from serving import health

    port = free_port()
    log = open(Path(tempfile.gettempdir()) / f"{log_prefix}-{port}.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", *extra_args],
        cwd=root, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not health.wait_healthy(base, timeout, alive=lambda: proc.poll() is None):
            raise RuntimeError(f"streamlit {'exited early' if proc.poll() is not None else 'did not become healthy'}, "
                               f"see {log.name}")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
