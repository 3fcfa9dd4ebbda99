"""Follow the lecturer at the size of a lecture hall: N scripted followers, one scripted presenter.

    python benchmarks/bench_follow.py [--followers 150] [--workers 2] [--idle-s 60] [--changes 6] [--no-gradcam]

Starts a real room like ``make classroom`` does (a redis-server on loopback, ``python -m
serving.classroom`` with WORKERS workers behind Debian's HAProxy, a fresh presenter secret), then
over Streamlit's own websocket protocol (:mod:`serving.student`; no browser):

1. the presenter opens Home, and ``--followers`` students connect through HAProxy (its cookie spreads
   them over the workers) and open Home; each keeps its websocket open and records every run the
   server pushes to it (``new_session`` .. ``script_finished``) without sending anything;
2. **idle**: nobody does anything for ``--idle-s`` seconds; the CPU time the workers, Redis and
   HAProxy used in that window (``/proc/PID/stat``), as a share of one core;
3. **light page**: the presenter alternates the upsampling page's Factor slider (and, first, moves
   there from Home); for each change, the time from sending the presenter's change to each
   follower's ``script_finished`` of the new view; p50 / p95 / max over followers and changes;
4. **Grad-CAM**: the presenter opens the CAM & Grad-CAM page (not timed: the first load may load a
   model), then switches the method; the same timing.

Numbers depend on the machine and on what else runs on it: the script prints the load average and
the core count next to them. Prints JSON at the end (``--json PATH`` writes it too).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402

from serving.classroom import find_haproxy, find_redis, free_loopback_ports, redis_command, wait_redis  # noqa: E402
from serving.student import Student, StudentTimeout  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- processes


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = subprocess.run(["pgrep", "-P", str(todo.pop())], capture_output=True, text=True).stdout.split()
        for k in map(int, kids):
            if k not in out:
                out.append(k)
                todo.append(k)
    return out


def _cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICKS


def start_room(workers: int, run_dir: Path):
    find_haproxy()
    redis_port = free_loopback_ports(1)[0]
    redis = subprocess.Popen(redis_command(find_redis(), redis_port, run_dir), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    if not wait_redis(redis_port):
        raise RuntimeError("redis-server did not start")
    port = free_loopback_ports(1)[0]
    env = {**os.environ, "DASHBOARD_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
    env.pop("DASHBOARD_PRESENTER_SECRET", None)
    out = run_dir / "launcher.out"
    launcher = subprocess.Popen([sys.executable, "-m", "serving.classroom", "--workers", str(workers),
                                 "--port", str(port), "--host", "127.0.0.1", "--no-warm", "--run-dir", str(run_dir)],
                                cwd=ROOT, env=env, stdout=open(out, "wb"), stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while "Presenter: " not in out.read_text():
        if launcher.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"the room did not start: {out.read_text()[-2000:]}")
        time.sleep(0.3)
    secret = re.search(r"\?presenter=(\S+)", out.read_text()).group(1)
    return launcher, redis, f"http://127.0.0.1:{port}", secret


def stop_room(launcher, redis) -> None:
    launcher.send_signal(signal.SIGINT)
    try:
        launcher.wait(timeout=60)
    except subprocess.TimeoutExpired:
        launcher.kill()
    redis.send_signal(signal.SIGTERM)
    redis.wait(timeout=10)


# ----------------------------------------------------------------------------- followers


class Follower:
    """A connected student that only listens: every run the server pushes, with its page and end time."""

    def __init__(self, student: Student) -> None:
        self.student = student
        self.finished: list[tuple[float, str, str]] = []  # (time, page hash, query string)
        self._page, self._query = student.page_script_hash, ""
        self.task: asyncio.Task | None = None

    async def listen(self) -> None:
        ws = self.student._ws  # the open websocket: this client reads what the server pushes unasked
        while True:
            data = await ws.recv()
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                self._page = msg.new_session.page_script_hash
            elif kind == "page_info_changed":
                self._query = msg.page_info_changed.query_string
            elif kind == "script_finished":
                self.finished.append((time.perf_counter(), self._page, self._query))

    def first_after(self, t0: float, page_hash: str, query_part: str) -> float | None:
        for t, page, query in self.finished:
            if t >= t0 and page == page_hash and query_part in query:
                return t - t0
        return None


async def connect_followers(base: str, n: int, batch: int = 10) -> list[Follower]:
    followers: list[Follower] = []

    async def one() -> Follower:
        s = await Student.connect(base, fetch_cookies=True, timeout=300)
        await s.open("", timeout=300)
        return Follower(s)

    for k in range(0, n, batch):
        followers += await asyncio.gather(*(one() for _ in range(min(batch, n - k))))
        print(f"  {len(followers)}/{n} followers connected", flush=True)
    for f in followers:
        f.task = asyncio.create_task(f.listen())
    return followers


async def timed_change(label: str, action, followers: list[Follower], page_hash: str, query_part: str,
                       timeout: float) -> list[float]:
    t0 = time.perf_counter()
    try:
        await action()
    except StudentTimeout as exc:  # the presenter's own run did not finish: the change may still reach followers
        print(f"  {label}: the presenter's run: {exc}", flush=True)
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        got = [f.first_after(t0, page_hash, query_part) for f in followers]
        if all(g is not None for g in got):
            break
        await asyncio.sleep(0.05)
    got = [f.first_after(t0, page_hash, query_part) for f in followers]
    done = [g for g in got if g is not None]
    p95 = _stats([g if g is not None else float("inf") for g in got]).get("p95_s")
    print(f"  {label}: {len(done)}/{len(followers)} followed; p95 {p95} s, slowest {max(done, default=float('nan')):.2f} s",
          flush=True)
    return [g if g is not None else float("inf") for g in got]


def _stats(values: list[float]) -> dict:
    v = sorted(values)
    if not v:
        return {}
    pick = lambda q: v[min(len(v) - 1, int(round(q * (len(v) - 1))))]  # noqa: E731
    return {"n": len(v), "p50_s": round(pick(0.5), 3), "p95_s": round(pick(0.95), 3), "max_s": round(v[-1], 3),
            "missed": sum(x == float("inf") for x in v)}


async def bench(args) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix="bench-follow-"))
    launcher, redis, base, secret = start_room(args.workers, run_dir)
    result: dict = {"followers": args.followers, "workers": args.workers, "cores": os.cpu_count(),
                    "loadavg_at_start": os.getloadavg()[0]}
    try:
        presenter = await Student.connect(base, fetch_cookies=True, timeout=300)
        run = await presenter.open("", query=f"presenter={secret}", timeout=300)
        assert run.contains("Presenting"), "the presenter link did not give presenter controls"
        print(f"room at {base}; {args.followers} followers connecting ...", flush=True)
        followers = await connect_followers(base, args.followers)
        hashes = {p.url_pathname: p.page_script_hash for p in presenter.pages}
        await asyncio.sleep(5)  # let the first-touch writes and runs settle

        pids = [p for p in _descendants(launcher.pid)] + [redis.pid]
        runs_before = sum(len(f.finished) for f in followers)
        c0, t0 = _cpu_s(pids), time.perf_counter()
        await asyncio.sleep(args.idle_s)
        c1, t1 = _cpu_s(pids), time.perf_counter()
        runs_while_idle = sum(len(f.finished) for f in followers) - runs_before
        result["idle"] = {"seconds": round(t1 - t0, 1), "cpu_s": round(c1 - c0, 2),
                          "share_of_one_core": round((c1 - c0) / (t1 - t0), 4), "processes": len(pids),
                          "loadavg": os.getloadavg()[0]}
        print(f"idle {t1 - t0:.0f} s: {c1 - c0:.2f} CPU s = {100 * (c1 - c0) / (t1 - t0):.2f} % of one core "
              f"(workers + redis + haproxy); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)

        light = await timed_change("Home -> upsampling", lambda: presenter.open("upsampling", timeout=300), followers,
                                   hashes["upsampling"], "", args.timeout)
        for k in range(args.changes):
            value = 3 + k % 4
            light += await timed_change(f"Factor -> {value}", lambda v=value: presenter.set_widgets({"Factor": v}),
                                        followers, hashes["upsampling"], f"up_factor={value}", args.timeout)
        result["light_page"] = _stats(light)
        if not args.no_gradcam:
            print("Grad-CAM page: first load (not timed) ...", flush=True)
            await timed_change("upsampling -> grad-cam (first load)", lambda: presenter.open("grad-cam", timeout=900),
                               followers, hashes["grad-cam"], "", 900)
            method = presenter.last.widget("Method")
            heavy: list[float] = []
            from core.vision.attribution import METHOD_TITLES

            value_of = {title: value for value, title in METHOD_TITLES.items()}  # the URL holds the value
            for option in [o for o in method.options if o != method.value][:args.gradcam_changes]:
                heavy += await timed_change(f"Method -> {option}", lambda o=option: presenter.set_widgets({"Method": o}),
                                            followers, hashes["grad-cam"], f"attr_method={value_of[option]}",
                                            args.timeout)
            result["gradcam"] = _stats(heavy)
        result["loadavg_at_end"] = os.getloadavg()[0]
        result["runs_pushed_while_idle"] = runs_while_idle
        for f in followers:
            f.task.cancel()
    finally:
        stop_room(launcher, redis)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--followers", type=int, default=150)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--idle-s", type=float, default=60.0)
    p.add_argument("--changes", type=int, default=6, help="Factor changes on the light page")
    p.add_argument("--gradcam-changes", type=int, default=2, help="method changes on the Grad-CAM page")
    p.add_argument("--no-gradcam", action="store_true")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for every follower per change")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    result = asyncio.run(bench(args))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
