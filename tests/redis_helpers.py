"""A throwaway Debian redis-server for tests (the command `make classroom` runs), or a visible skip
(a failure under CI=true: `make test` installs redis-server as root, like haproxy)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers import free_port


def redis_server_path() -> str:
    path = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None)
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("redis-server is not installed (CI=true: `make test` installs Debian's redis-server as root)")
        pytest.skip("Debian redis-server is not installed (make proxy)")
    return path


class RedisProcess:
    """redis-server on a free loopback port, no persistence; start() again reuses the port (empty)."""

    def __init__(self, folder: Path) -> None:
        from serving.classroom import redis_command

        self.port = free_port()
        self.cmd = redis_command(redis_server_path(), self.port, folder)
        self.proc: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        from serving.classroom import wait_redis

        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_redis(self.port), "redis-server did not answer"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
