"""`python -m serving.classroom`: its HAProxy config, sticky routing through a real HAProxy to two
real workers (page load, websocket, reconnect, upload), the students' URL, and a clean Ctrl-C.

Without Debian's haproxy: a visible skip on a developer machine, a failure under CI=true
(`make test` installs it as root, like Chromium for tests/browser).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from serving import classroom
from tests.helpers import free_port
from tests.serving.conftest import get, ws_connect

ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- config and addresses


def test_generated_config_passes_haproxy_check(haproxy, tmp_path):
    cfg = classroom.haproxy_config("0.0.0.0", free_port(), [("w1", 40001), ("w2", 40002), ("w3", 40003)])
    for line in ("mode http", "balance leastconn", "cookie DASHBOARD_WORKER insert indirect nocache httponly",
                 "server w2 127.0.0.1:40002 cookie w2 check", "http-check send meth GET uri /_stcore/health",
                 "timeout tunnel 1h", "option http-server-close", "http-response set-header X-Dashboard-Worker %s"):
        assert line in cfg, line
    assert "maxbody" not in cfg and "req.body_size" not in cfg  # uploads: only Streamlit's own 50 MB cap applies
    path = tmp_path / "haproxy.cfg"
    path.write_text(cfg)
    done = subprocess.run([haproxy, "-c", "-f", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + done.stdout


def test_lan_address_is_read_from_tables_without_sending_packets():
    route = ("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
             "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\n"
             "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\n")
    assert classroom._default_route_interface(route) == "wlan0"
    ip_out = ("1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n"
              "3: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\ valid_lft forever\n"
              "4: wlan0    inet 192.168.1.23/24 brd 192.168.1.255 scope global dynamic wlan0\\ valid_lft 86000sec\n")
    assert classroom._ip_addr_lines(ip_out) == [("docker0", "172.17.0.1"), ("wlan0", "192.168.1.23")]
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", classroom.lan_ip())
    assert classroom.public_url("127.0.0.1", 8600) == "http://127.0.0.1:8600/"
    assert classroom.public_url("0.0.0.0", 8501) == f"http://{classroom.lan_ip()}:8501/"


def test_missing_haproxy_is_one_sentence_naming_make_classroom(monkeypatch, capsys):
    monkeypatch.setattr(classroom.shutil, "which", lambda name: None)
    monkeypatch.setattr(classroom.os, "access", lambda path, mode: False)
    assert classroom.main(["--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "make classroom" in err and err.count("\n") == 1


def test_a_taken_port_is_refused_before_anything_starts(haproxy, capsys, tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = classroom.main(["--workers", "1", "--host", "127.0.0.1", "--port", str(port), "--run-dir", str(tmp_path)])
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    assert not list(tmp_path.iterdir()), "nothing was started"


def test_home_shows_students_url_and_qr_when_public_url_is_set(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DASHBOARD_PUBLIC_URL", "http://192.0.2.7:8501/")
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=180)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Students: open" in m.value and "http://192.0.2.7:8501/" in m.value for m in at.markdown)
    assert len(at.get("image")) == 1  # the QR code
    assert any("Lecture 1" in s.value for s in at.subheader)  # the rest of Home is still there


# ----------------------------------------------------------------------------- two real workers


@dataclass
class Room:
    proc: subprocess.Popen
    base: str
    run_dir: Path
    out: Path

    def worker_ports(self) -> dict[str, int]:
        text = (self.run_dir / "haproxy.cfg").read_text()
        return {name: int(port) for name, port in re.findall(r"server (w\d+) 127\.0\.0\.1:(\d+)", text)}


def _descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        kids = subprocess.run(["pgrep", "-P", str(todo.pop())], capture_output=True, text=True).stdout.split()
        for k in map(int, kids):
            if k not in out:
                out.add(k)
                todo.append(k)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def room(haproxy, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("classroom")
    out = run_dir / "launcher.out"
    port = free_port()
    with open(out, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "serving.classroom", "--workers", "2", "--port", str(port),
                                 "--host", "127.0.0.1", "--no-warm", "--run-dir", str(run_dir)],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the launcher exited ({proc.returncode}): {out.read_text()[-2000:]}")
        if "Students: open" in out.read_text():
            break
        time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"the room did not come up in 90 s: {out.read_text()[-2000:]}")
    yield Room(proc, base, run_dir, out)
    if proc.poll() is None:
        leftovers = _descendants(proc.pid)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        for pid in leftovers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _get(url: str, cookie: str | None = None):
    return get(url, cookie)


def _ws(room: Room, cookie: str | None = None, subprotocols=("streamlit",)):
    return ws_connect(room.base, cookie, subprotocols)


def test_launcher_prints_url_and_qr_and_shares_one_cookie_secret(room):
    text = room.out.read_text()
    assert f"Students: open {room.base}/" in text
    assert "\u2580" in text or "\u2584" in text or "##" in text  # the QR code
    ports = room.worker_ports()
    assert sorted(ports) == ["w1", "w2"]
    envs = []
    for pid in _descendants(room.proc.pid):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if any(str(p).encode() in cmdline for p in ports.values()):
            env = dict(kv.split(b"=", 1) for kv in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if b"=" in kv)
            envs.append(env)
    assert len(envs) == 2, "both workers found among the launcher's children"
    assert {e[b"DASHBOARD_PUBLIC_URL"] for e in envs} == {f"{room.base}/".encode()}
    secrets_seen = {e[b"STREAMLIT_SERVER_COOKIE_SECRET"] for e in envs}
    assert len(secrets_seen) == 1 and len(secrets_seen.pop()) >= 32


def test_cookie_keeps_page_websocket_reconnect_and_upload_on_one_worker(room):
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    status, headers = _get(room.base + "/")
    assert status == 200
    worker = headers["X-Dashboard-Worker"]
    other = {"w1": "w2", "w2": "w1"}[worker]
    set_cookie = " ".join(headers.get_all("Set-Cookie") or [])
    assert f"DASHBOARD_WORKER={worker}" in set_cookie and "HttpOnly" in set_cookie
    cookie = f"DASHBOARD_WORKER={worker}"

    # The browser's next requests: the health check (which sets Streamlit's XSRF cookie), then the websocket.
    _, headers = _get(room.base + "/_stcore/health", cookie)
    assert headers["X-Dashboard-Worker"] == worker
    xsrf = re.search(r"_streamlit_xsrf=([^;]+)", " ".join(headers.get_all("Set-Cookie"))).group(1)
    cookie = f"{cookie}; _streamlit_xsrf={xsrf}"
    with _ws(room, cookie, ("streamlit", xsrf)) as ws:
        assert ws.response.status_code == 101
        assert ws.response.headers["X-Dashboard-Worker"] == worker
        rerun = BackMsg()
        rerun.rerun_script.query_string = ""
        ws.send(rerun.SerializeToString())
        session_id = None
        while session_id is None:
            msg = ForwardMsg()
            msg.ParseFromString(ws.recv(timeout=60))
            if msg.WhichOneof("type") == "new_session":
                session_id = msg.new_session.initialize.session_id
        ws.send(BackMsg(stop_script=True).SerializeToString())

    # Reconnecting (as the browser does after a network blip) lands on the same worker and the same session,
    # so an upload of ~50 MB to that session goes through HAProxy to it; on the other worker it is unknown.
    with _ws(room, cookie, ("streamlit", xsrf, session_id)) as ws:
        assert ws.response.headers["X-Dashboard-Worker"] == worker
        import requests

        http = requests.Session()
        http.trust_env = False  # loopback: never via an http_proxy
        url = f"{room.base}/_stcore/upload_file/{session_id}/f1"
        xheaders = {"X-Xsrftoken": xsrf}
        up = http.put(url, files={"file": ("big.bin", os.urandom(52_000_000))}, timeout=60,
                          headers={**xheaders, "Cookie": cookie})
        assert (up.status_code, up.headers["X-Dashboard-Worker"]) == (204, worker)
        wrong = http.put(url, files={"file": ("small.bin", b"x" * 1000)}, timeout=10,
                             headers={**xheaders, "Cookie": cookie.replace(worker, other)})
        assert (wrong.status_code, wrong.headers["X-Dashboard-Worker"]) == (400, other)
        assert "sticky sessions" in wrong.text
    for _ in range(3):  # close and reconnect: the cookie decides, every time
        with _ws(room, cookie) as ws:
            assert ws.response.headers["X-Dashboard-Worker"] == worker
    with _ws(room, f"DASHBOARD_WORKER={other}") as ws:
        assert ws.response.headers["X-Dashboard-Worker"] == other


def test_clients_without_the_cookie_are_spread_over_both_workers(room):
    seen = []
    for _ in range(6):
        _, headers = _get(room.base + "/")
        name = headers["X-Dashboard-Worker"]
        assert f"DASHBOARD_WORKER={name}" in " ".join(headers.get_all("Set-Cookie"))
        seen.append(name)
    assert set(seen) == {"w1", "w2"}, seen
    with contextlib.ExitStack() as stack:  # four open together: leastconn puts two on each worker
        names = [stack.enter_context(_ws(room)).response.headers["X-Dashboard-Worker"] for _ in range(4)]
    assert sorted(names) == ["w1", "w1", "w2", "w2"], names


def test_ctrl_c_stops_haproxy_and_every_worker(room):  # last: it ends the room
    started = _descendants(room.proc.pid)
    commands = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode() for pid in started}
    assert sum("haproxy" in c for c in commands.values()) == 1, commands
    assert sum(("serving.serve" in c or "streamlit" in c) for c in commands.values()) >= 2, commands
    t0 = time.monotonic()
    room.proc.send_signal(signal.SIGINT)
    assert room.proc.wait(timeout=30) == 0
    stop_s = time.monotonic() - t0
    assert not [pid for pid in started if _alive(pid)], "orphans left behind"
    # And pgrep finds nothing of this run: not haproxy (its config lives in the run dir), nor a worker's port.
    assert subprocess.run(["pgrep", "-f", str(room.run_dir)], capture_output=True).returncode == 1
    for port in room.worker_ports().values():
        assert subprocess.run(["pgrep", "-f", "--", f"--port {port}"], capture_output=True).returncode == 1
    assert "stopped; logs in" in room.out.read_text()
    assert stop_s < 15
