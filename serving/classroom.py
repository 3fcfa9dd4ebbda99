"""Serve a lecture hall: N Streamlit workers behind Debian's HAProxy, sticky by cookie.

    python -m serving.classroom --workers N --port 8501 --host 0.0.0.0 [--no-warm]

One Streamlit process runs scripts on about one core, so a room gets N workers on free loopback
ports and one HAProxy in front of them (``mode http``, ``balance leastconn``, an inserted
``DASHBOARD_WORKER`` cookie so each browser's page loads, websocket and uploads stay on its
worker). Everything lands in a run directory that is printed: the generated ``haproxy.cfg``,
``haproxy.log`` and one ``wK.log`` per worker (its stdout and stderr). The students' URL
(``http://<LAN-IP>:PORT/``) is printed with a QR code, and handed to the workers as
``DASHBOARD_PUBLIC_URL`` so the Home page shows it too. Ctrl-C or SIGTERM stops everything this
started (each child runs in its own process group, and the whole group is stopped).

The room store: Debian's ``redis-server`` on a free loopback port, without persistence (``--save ""
--appendonly no``), started before the workers and stopped with them (``DASHBOARD_REDIS_URL`` set:
that server is used instead and nothing is started). A fresh presenter secret per launch
(``DASHBOARD_PRESENTER_SECRET`` set: that one) goes to the workers' environment and to this
terminal only, as the ``Presenter:`` line; see dashboard/follow.py.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from serving import health
from serving.haproxy import COOKIE, HEALTH, WORKER_HEADER, haproxy_config  # noqa: F401  (the config, named here too)

ROOT = Path(__file__).resolve().parent.parent
MAX_RESTARTS = 5  # per worker and launch; a worker that keeps crashing is left down (HAProxy routes around it)
# A worker that is running but no longer answers its health check (hung, SIGSTOPped, stuck in a C call) is
# killed after this long without an answer, and the restart below brings a fresh one up; HAProxy has already
# moved its browsers (``fall 3`` x ``inter 2s``). A worker that has not yet answered since its (re)start is
# given the startup timeout instead.
HUNG_AFTER_S = float(os.environ.get("DASHBOARD_HUNG_AFTER_S", "20") or 20)
HEALTH_EVERY_S = float(os.environ.get("DASHBOARD_HEALTH_EVERY_S", "5") or 5)  # (tests use seconds)


class ClassroomError(RuntimeError):
    """Something the person at the keyboard can fix; the message says what."""


# ---------------------------------------------------------------------------------------------
# HAProxy
# ---------------------------------------------------------------------------------------------

def find_program(name: str, fallbacks: tuple[str, ...], missing: str) -> str:
    """``name`` on PATH, else the first executable of ``fallbacks`` (Debian's sbin folders are not on
    every user's PATH); ClassroomError(``missing``) when there is none."""
    path = shutil.which(name) or next((p for p in fallbacks if os.access(p, os.X_OK)), None)
    if path is None:
        raise ClassroomError(missing)
    return path


def find_haproxy() -> str:
    return find_program("haproxy", ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy"),
                        "HAProxy is not installed: run `make classroom` as root, which installs Debian's "
                        "haproxy package and starts the workers behind it.")


def check_config(haproxy: str, path: Path) -> None:
    done = subprocess.run([haproxy, "-c", "-q", "-f", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise ClassroomError(f"haproxy -c rejected {path}: {(done.stderr or done.stdout).strip()}")


# ---------------------------------------------------------------------------------------------
# Redis (the room store) and the presenter's link
# ---------------------------------------------------------------------------------------------

def find_redis() -> str:
    return find_program("redis-server", ("/usr/bin/redis-server", "/usr/sbin/redis-server"),
                        "redis-server is not installed: run `make classroom` as root, which installs Debian's "
                        "redis-server package (or set DASHBOARD_REDIS_URL to an existing Redis).")


def redis_command(redis_server: str, port: int, run_dir: Path) -> list[str]:
    """Redis on 127.0.0.1:port for one lecture: nothing written to disk, gone when stopped."""
    return [redis_server, "--bind", "127.0.0.1", "--port", str(port), "--protected-mode", "yes",
            "--save", "", "--appendonly", "no", "--dir", str(run_dir), "--daemonize", "no", "--logfile", ""]


def wait_redis(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def presenter_url(url: str, secret: str) -> str:
    return url.rstrip("/") + "/?presenter=" + urllib.parse.quote(secret, safe="")


# ---------------------------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------------------------

def _default_route_interface(route_table: str) -> str | None:
    """The interface of the IPv4 default route in a /proc/net/route table (destination 00000000)."""
    for line in route_table.splitlines()[1:]:
        cols = line.split()
        if len(cols) > 2 and cols[1] == "00000000":
            return cols[0]
    return None


def _ip_addr_lines(text: str) -> list[tuple[str, str]]:
    """(interface, address) from `ip -4 -o addr` output, loopback left out."""
    out = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) >= 4 and cols[2] == "inet":
            iface, addr = cols[1], cols[3].split("/")[0]
            if not addr.startswith("127."):
                out.append((iface, addr))
    return out


def _run_quietly(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def lan_ip() -> str:
    """This machine's address on the room's network, found without sending a packet.

    The address of the default route's interface (`/proc/net/route` + `ip -4 -o addr`), else the
    first non-loopback IPv4 of `hostname -I`, else 127.0.0.1.
    """
    try:
        iface = _default_route_interface(Path("/proc/net/route").read_text())
    except OSError:
        iface = None
    addrs = _ip_addr_lines(_run_quietly(["ip", "-4", "-o", "addr", "show"]))
    for name, addr in addrs:
        if name == iface:
            return addr
    for word in _run_quietly(["hostname", "-I"]).split():
        if "." in word and not word.startswith("127."):
            return word
    return addrs[0][1] if addrs else "127.0.0.1"


def public_url(host: str, port: int) -> str:
    if host in ("0.0.0.0", "", "::"):
        host = lan_ip()
    return f"http://{host}:{port}/"


def check_port_free(host: str, port: int) -> None:
    """Fail before starting anything when HOST:PORT is taken (another server, another classroom)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ClassroomError(f"cannot listen on {host}:{port} ({exc.strerror}): stop what uses that port "
                                 f"or pass another --port (make classroom PORT=...).") from None


def free_loopback_ports(n: int) -> list[int]:
    """n distinct free ports on 127.0.0.1 (held open together so they differ, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def qr_text(url: str) -> str:
    """The URL as a QR code for the terminal (unicode half blocks; '#' if stdout cannot print them)."""
    import io

    import segno

    qr = segno.make(url, error="m")
    buf = io.StringIO()
    qr.terminal(out=buf, compact=True, border=2)
    text = buf.getvalue()
    try:
        text.encode(sys.stdout.encoding or "ascii")
    except UnicodeEncodeError:
        text = "\n".join("".join("  " if dark else "##" for dark in row) for row in qr.matrix_iter(border=2)) + "\n"
    return text


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------

def worker_command(port: int, warm: bool = True, host: str = "127.0.0.1") -> list[str]:
    """One worker on host:port: ``python -m serving.serve``."""
    return [sys.executable, "-m", "serving.serve", "--host", host, "--port", str(port)] + ([] if warm else ["--no-warm"])


def _load_prctl():
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()  # looked up here, not in the forked child


def _own_group_dying_with_parent() -> None:
    """preexec_fn: a new session (so the whole group can be stopped), and SIGTERM if we die first."""
    os.setsid()
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux): covers a launcher killed with SIGKILL


@dataclass
class Child:
    name: str
    cmd: list[str]
    log: Path
    env: dict[str, str]
    port: int | None = None
    proc: subprocess.Popen | None = None
    restarts: int = 0
    started: float = field(default=0.0)
    answered: float | None = None  # the last time it answered its health check (None: not since its start)

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, preexec_fn=_own_group_dying_with_parent)
        self.started = time.monotonic()
        self.answered = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop_all(children: list[Child], grace: float = 10.0) -> None:
    """SIGTERM to every child's process group, SIGKILL to what is left after `grace` seconds."""
    for child in children:
        child.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        if child.proc is not None:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    for child in children:  # stragglers, and grandchildren left in the group after the leader exited
        child.signal_group(signal.SIGKILL)
        if child.proc is not None:
            try:
                child.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def healthy(port: int, timeout: float = 2.0, host: str = "127.0.0.1") -> bool:
    """The worker on host:port answers its health check now (the probe :func:`hung_workers` is given)."""
    return health.healthy(health.base_url(port, host), timeout=timeout)


def hung_workers(workers: list[Child], now: float, probe, startup_timeout: float = 180.0) -> list[Child]:
    """Probe every running worker (``probe(port) -> bool``) and return those that have not answered for
    :data:`HUNG_AFTER_S` (or, not yet answered since their start, for ``startup_timeout``)."""
    hung = []
    for w in workers:
        if w.port is None or not w.alive():
            continue
        if probe(w.port):
            w.answered = now
            continue
        since, allowed = (w.answered, HUNG_AFTER_S) if w.answered is not None else (w.started, startup_timeout)
        if now - since >= allowed:
            hung.append(w)
    return hung


def wait_healthy(workers: list[Child], timeout: float) -> None:
    pending = list(workers)
    deadline = time.monotonic() + timeout
    while pending:
        for w in list(pending):
            if not w.alive():
                raise ClassroomError(f"worker {w.name} exited (code {w.proc.returncode}) before it was healthy; "
                                     f"see {w.log}")
            if healthy(w.port):
                w.answered = time.monotonic()  # from now on HUNG_AFTER_S applies, not the startup timeout
                print(f"  {w.name} on 127.0.0.1:{w.port} is up ({time.monotonic() - w.started:.1f} s)", flush=True)
                pending.remove(w)
        if pending and time.monotonic() > deadline:
            names = ", ".join(f"{w.name} ({w.log})" for w in pending)
            raise ClassroomError(f"not healthy after {timeout:.0f} s: {names}")
        if pending:
            time.sleep(0.3)


class _Stop(Exception):
    pass


def _raise_stop(signum, frame):
    raise _Stop(signal.Signals(signum).name)


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m serving.classroom", description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=_cpu_count(), help="Streamlit worker processes (default: cores)")
    p.add_argument("--port", type=int, default=8501, help="port the room connects to (default 8501)")
    p.add_argument("--host", default="0.0.0.0", help="address HAProxy listens on (default 0.0.0.0: every interface)")
    p.add_argument("--no-warm", action="store_true", help="passed to each worker: do not warm caches in the background")
    p.add_argument("--public-url", help="URL to print and show students (default http://<LAN-IP>:PORT/)")
    p.add_argument("--run-dir", type=Path, help="where config and logs go (default: a new temp directory)")
    p.add_argument("--startup-timeout", type=float, default=180.0, help="seconds to wait for healthy workers")
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error("--workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    redis_url = os.environ.get("DASHBOARD_REDIS_URL", "")
    try:
        haproxy = find_haproxy()
        redis_server = None if redis_url else find_redis()
        check_port_free(args.host, args.port)
    except ClassroomError as exc:
        print(exc, file=sys.stderr)
        return 2
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="dashboard-classroom-",
                                                    dir=os.environ.get("XDG_RUNTIME_DIR") or None))
    run_dir.mkdir(parents=True, exist_ok=True)
    url = args.public_url or public_url(args.host, args.port)

    secret = os.environ.get("DASHBOARD_PRESENTER_SECRET") or secrets.token_urlsafe(18)
    redis = None
    if redis_server is not None:
        redis_port = free_loopback_ports(1)[0]
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        redis = Child("redis", redis_command(redis_server, redis_port, run_dir), run_dir / "redis.log",
                      dict(os.environ), port=redis_port)
    env = dict(os.environ)
    env.update({
        "DASHBOARD_REDIS_URL": redis_url,
        "DASHBOARD_PRESENTER_SECRET": secret,
        "STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(32),  # one per launch, the same for every worker
        "STREAMLIT_SERVER_HEADLESS": "true",
        "DASHBOARD_PUBLIC_URL": url,
        "PYTHONUNBUFFERED": "1",
    })
    ports = free_loopback_ports(args.workers)
    workers = [Child(f"w{k}", worker_command(p, warm=not args.no_warm), run_dir / f"w{k}.log", env, port=p)
               for k, p in enumerate(ports, start=1)]
    cfg = run_dir / "haproxy.cfg"
    cfg.write_text(haproxy_config(args.host, args.port, [(w.name, w.port) for w in workers]))
    proxy = Child("haproxy", [haproxy, "-db", "-f", str(cfg)], run_dir / "haproxy.log", dict(os.environ))
    children = [*workers]
    if redis is not None:
        children.append(redis)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_stop)
    code = 0
    try:
        check_config(haproxy, cfg)
        print(f"Run directory: {run_dir} (haproxy.cfg, haproxy.log, w1..w{args.workers}.log)", flush=True)
        if redis is not None:
            redis.start()
            if not wait_redis(redis.port):
                raise ClassroomError(f"redis-server did not answer on 127.0.0.1:{redis.port}; see {redis.log}")
            print(f"Room store: Redis on 127.0.0.1:{redis.port} (no persistence)", flush=True)
        else:
            print("Room store: DASHBOARD_REDIS_URL", flush=True)
        print(f"Starting {args.workers} worker(s): python {' '.join(workers[0].cmd[1:3])} ...", flush=True)
        for w in workers:
            w.start()
        wait_healthy(workers, args.startup_timeout)
        children.insert(0, proxy)
        proxy.start()
        time.sleep(0.3)
        if not proxy.alive():
            raise ClassroomError(f"haproxy exited (code {proxy.proc.returncode}); is port {args.port} free? "
                                 f"See {proxy.log}")
        print(f"\nHAProxy on {args.host}:{args.port} -> {args.workers} worker(s), sticky by cookie {COOKIE}.")
        print(f"\nStudents: open {url}\n\n{qr_text(url)}", flush=True)
        first_secret = secret.split(",")[0].strip()
        print(f"Presenter: {presenter_url(url, first_secret)}  (only for you: it controls the room)", flush=True)
        print("Ctrl-C stops the proxy and every worker.", flush=True)
        next_probe = time.monotonic() + HEALTH_EVERY_S
        while True:
            time.sleep(1.0)
            if not proxy.alive():
                raise ClassroomError(f"haproxy exited (code {proxy.proc.returncode}); see {proxy.log}")
            if time.monotonic() >= next_probe:
                for w in hung_workers(workers, time.monotonic(), healthy, args.startup_timeout):
                    print(f"worker {w.name} stopped answering its health check; killing it so that it is "
                          "restarted", flush=True)
                    w.signal_group(signal.SIGKILL)  # its exit is noticed below (or on the next second)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        w.proc.wait(timeout=5)
                next_probe = time.monotonic() + HEALTH_EVERY_S
            if redis is not None and not redis.alive() and redis.proc is not None:
                redis.signal_group(signal.SIGKILL)
                print(f"redis-server exited (code {redis.proc.returncode}); restarting it (the room's state is "
                      f"lost, following resumes; log {redis.log})", flush=True)
                redis.start()
            for w in workers:
                if w.proc is not None and not w.alive():
                    w.signal_group(signal.SIGKILL)  # what it left in its group
                    if w.restarts >= MAX_RESTARTS:
                        print(f"worker {w.name} exited again (code {w.proc.returncode}); not restarting it after "
                              f"{MAX_RESTARTS} restarts, HAProxy routes around it; see {w.log}", flush=True)
                        w.proc = None
                        continue
                    w.restarts += 1
                    print(f"worker {w.name} exited (code {w.proc.returncode}); restarting it "
                          f"(restart {w.restarts}, log {w.log})", flush=True)
                    w.start()
    except _Stop as exc:
        print(f"\n{exc}: stopping haproxy and {args.workers} worker(s) ...", flush=True)
    except KeyboardInterrupt:
        print(f"\nstopping haproxy and {args.workers} worker(s) ...", flush=True)
    except ClassroomError as exc:
        print(exc, file=sys.stderr, flush=True)
        code = 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        stop_all(children)
        print(f"stopped; logs in {run_dir}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
