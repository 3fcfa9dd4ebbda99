"""The 2026-12-04 sweep's classroom rows (Table 2 J, N95/N96): a worker that is running but no longer
answers its health check (SIGSTOPped: hung, not dead) is killed and restarted by the launcher; the
HAProxy configuration retries a request whose worker died or hung instead of answering 502 or waiting
five minutes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from serving import classroom
from tests.helpers import free_port
from tests.serving.conftest import haproxy  # noqa: F401  (the fixture: skips without Debian's haproxy)
from tests.serving.test_classroom import room  # noqa: F401  (the fixture: a 2-worker room of this module's own)

ROOT = Path(__file__).resolve().parents[2]


class FakeProc:
    def poll(self):
        return None


def child(port: int, started: float, answered: float | None) -> classroom.Child:
    c = classroom.Child(f"w{port}", [], Path("/dev/null"), {}, port=port, proc=FakeProc(), started=started)
    c.answered = answered
    return c


def test_hung_workers_are_those_silent_past_the_limit():
    answering, hung, starting, slow_start = (child(1, 0, 90.0), child(2, 0, 100.0 - classroom.HUNG_AFTER_S),
                                             child(3, 95.0, None), child(4, 100.0 - 181, None))
    found = classroom.hung_workers([answering, hung, starting, slow_start], 100.0, lambda port: port == 1,
                                   startup_timeout=180)
    assert found == [hung, slow_start] and answering.answered == 100.0


def test_a_worker_seen_healthy_at_start_counts_as_answered(monkeypatch):
    """wait_healthy records the answer: a worker that hangs right after the start is killed after HUNG_AFTER_S,
    not after the startup timeout (it was given 180 s when it hung before the launcher's first periodic probe)."""
    w = child(1, 0, None)
    monkeypatch.setattr(classroom, "healthy", lambda port: True)
    classroom.wait_healthy([w], timeout=5)
    assert w.answered is not None
    later = w.answered + classroom.HUNG_AFTER_S
    assert classroom.hung_workers([w], later, lambda port: False, startup_timeout=10 * later) == [w]


def test_config_retries_dead_or_hung_workers_elsewhere():
    text = classroom.haproxy_config("127.0.0.1", 8000, [("w1", 8001), ("w2", 8002)])
    assert "retry-on conn-failure empty-response response-timeout" in text and "option redispatch" in text
    assert "timeout server 60s" in text


@pytest.mark.slow
def test_a_hung_worker_is_killed_and_restarted(haproxy, tmp_path):  # noqa: F811
    out = tmp_path / "launcher.out"
    port = free_port()
    # Seconds instead of the production 20 s / 5 s, so the test waits for the restart, not for the defaults.
    env = dict(os.environ, DASHBOARD_HUNG_AFTER_S="3", DASHBOARD_HEALTH_EVERY_S="1")
    with open(out, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "serving.classroom", "--workers", "1", "--port", str(port),
                                 "--host", "127.0.0.1", "--no-warm", "--run-dir", str(tmp_path / "run")],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    stopped = None
    try:
        deadline = time.time() + 180
        while "Students: open" not in out.read_text():
            assert proc.poll() is None and time.time() < deadline, out.read_text()[-2000:]
            time.sleep(0.2)
        wport = int(re.search(r"server w1 127\.0\.0\.1:(\d+)", (tmp_path / "run" / "haproxy.cfg").read_text())[1])
        pid = int(subprocess.run(["fuser", "-n", "tcp", str(wport)], capture_output=True, text=True).stdout.split()[0])
        os.kill(pid, signal.SIGSTOP)  # hung, not dead
        stopped = pid
        deadline = time.time() + 240
        while not classroom.healthy(wport) or "stopped answering its health check" not in out.read_text():
            assert proc.poll() is None and time.time() < deadline, out.read_text()[-2000:]
            time.sleep(0.2)
        assert "restarting it" in out.read_text()
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    finally:
        if stopped is not None and Path(f"/proc/{stopped}").exists():
            os.kill(stopped, signal.SIGCONT)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_a_killed_workers_next_request_and_websocket_are_served_elsewhere(room):  # noqa: F811
    """N96 through the real HAProxy: right after worker w1 is SIGKILLed, a browser holding its cookie got one
    HTTP 502 before the redispatch. The config's retry-on/redispatch must serve that very first request."""
    from tests.serving.conftest import get, ws_connect

    wport = room.worker_ports()["w1"]
    # the process listening on w1's port and started with it (fuser also lists HAProxy while a health check
    # holds a connection to that port: killing the proxy instead made this test fail once)
    users = subprocess.run(["fuser", "-n", "tcp", str(wport)], capture_output=True, text=True).stdout.split()
    pid = next(int(u) for u in users if str(wport).encode() in Path(f"/proc/{u}/cmdline").read_bytes().split(b"\0")
               or f"--server.port={wport}".encode() in Path(f"/proc/{u}/cmdline").read_bytes())
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 10
    while Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]:
        assert time.time() < deadline
        time.sleep(0.05)
    status, headers = get(room.base + "/", "DASHBOARD_WORKER=w1")  # a 502 raises HTTPError here
    assert status == 200 and headers["X-Dashboard-Worker"] in ("w1", "w2")
    with ws_connect(room.base, "DASHBOARD_WORKER=w1"):  # the websocket of a student of w1: opens, no 502
        pass
