"""A simulated classroom: N scripted students (serving/student.py) on a running or started server.

    python benchmarks/bench_classroom.py --start run --students 5 --pages home,upsampling
    python benchmarks/bench_classroom.py --url http://127.0.0.1:8501 --students 50
    python benchmarks/bench_classroom.py --start classroom --workers 2 --json out.json
    python benchmarks/bench_classroom.py --wave 150 --pages all --knobs "Method,Target layer,Class to explain" \
        --churn 1000                               # the README's "Serving a class" table and notes
    python benchmarks/bench_classroom.py --start classroom --students 50 --pages grad-cam \
        --settings 0 --knobs "Method,Target layer,Class to explain"  # 50 students, 50 different settings

--wave N: like `make classroom` (2 workers behind HAProxy) unless --url/--start says otherwise; waits
for the warm start; then N students open each page at once, one page after the other, and the table
gives per page p50/p95/max seconds, the server CPU per student run (all server processes' CPU during
the wave / runs) and each worker's RSS after the page.

Per page, every student in one phase at a time, all at once (asyncio, one process):

* cold: the first open of the page (the first page is also each session's first run);
* warm: the second open;
* wave: every student sends a DIFFERENT setting of the page's first slider(s) (values spread over
  their ranges; number inputs when the page has no slider).

Times are from sending the rerun to receiving its script_finished. Then the RSS of each server
process before and after --settings (default 1,000) distinct slider settings spread over the
students and the pages. Prints a Markdown table, the RSS lines and the client's own overhead
(its CPU time and event-loop lag, which would show if this one process were the bottleneck);
--json writes everything as JSON (``-`` for stdout). Bounded: at most 500 students and 20,000
settings, and a global --deadline (default 600 s) after which unfinished phases are skipped.

--start run: one ``streamlit run dashboard/app.py`` on a free loopback port. --start classroom:
``python -m serving.classroom --workers W --port P --host 127.0.0.1`` (skipped with a message when
that module is absent). Both are stopped at the end. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serving import health  # noqa: E402
from serving.student import Student, StudentError, StudentTimeout, Widget  # noqa: E402

MAX_STUDENTS = 500
MAX_SETTINGS = 20_000
KNOB_KINDS = ("slider", "select_slider")
FALLBACK_KNOBS = ("number_input",)


# ------------------------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    base: str
    proc: subprocess.Popen | None = None
    log: Path | None = None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # the classroom launcher stops its workers and proxy on SIGTERM
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def start_server(mode: str, workers: int, no_warm: bool, timeout: float) -> Server | None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = Path(tempfile.gettempdir()) / f"bench-classroom-{mode}-{port}.log"
    if mode == "run":
        cmd = [sys.executable, "-m", "serving.serve", "--port", str(port), "--host", "127.0.0.1"] + (
            ["--no-warm"] if no_warm else [])  # what `make run` starts
    else:
        cmd = [sys.executable, "-m", "serving.classroom", "--workers", str(workers), "--port", str(port),
               "--host", "127.0.0.1", "--public-url", base + "/"] + (["--no-warm"] if no_warm else [])
    out = open(log, "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    server = Server(base, proc, log)
    if health.wait_healthy(base, timeout, alive=lambda: proc.poll() is None):
        return server
    if proc.poll() is not None:
        raise RuntimeError(f"{' '.join(cmd[:4])} exited (code {proc.returncode}); see {log}")
    server.stop()
    raise RuntimeError(f"no healthy server at {base} after {timeout:.0f} s; see {log}")


# ------------------------------------------------------------------------------ processes and RSS
def _stat(pid: int) -> tuple[int, float] | None:
    """(ppid, cpu seconds) from /proc/PID/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text[text.rfind(")") + 2:].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(rest[1]), (int(rest[11]) + int(rest[12])) / tick


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            children.setdefault(st[0], []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def listening_pids(port: int) -> list[int]:
    """PIDs (of this user's processes) with a socket listening on ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    pids.append(int(entry.name))
                    break
        except OSError:
            continue
    return pids


def rss_bytes(pid: int) -> int | None:
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss
    except ImportError:
        pass
    except Exception:  # noqa: BLE001 - gone, or not ours
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def describe(pid: int) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [a.decode(errors="replace") for a in args if a]
    for key in ("serving.classroom", "serving.serve", "streamlit", "haproxy"):
        if any(key in w for w in words):
            port = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("--server.port", "--port")), "")
            return f"{key}{' :' + port if port else ''}"
    return Path(words[0]).name if words else "?"


def server_pids(server: Server) -> list[int]:
    if server.proc is not None:
        root = [server.proc.pid]
    else:
        port = int(server.base.rsplit(":", 1)[1].split("/")[0])
        root = listening_pids(port)
    return sorted({p for r in root for p in descendants(r)})


def snapshot_rss(pids: list[int]) -> dict[int, int | None]:
    return {pid: rss_bytes(pid) for pid in pids}


def cpu_seconds(pids: list[int]) -> float:
    return sum(st[1] for p in pids if (st := _stat(p)) is not None)


# ----------------------------------------------------------------------------------------- stats
def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def fmt_pair(times: list[float]) -> str:
    if not times:
        return "-"
    return f"{pct(times, 0.5):.2f} / {pct(times, 0.95):.2f} s"


@dataclass
class Phase:
    name: str
    times: list[float] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "student k: why"
    exceptions: list[str] = field(default_factory=list)
    skipped: str = ""
    wall: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    loop_lag_max: float = 0.0
    loop_lag_p95: float = 0.0
    distinct_values: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"n": len(self.times), "p50": pct(self.times, 0.5), "p95": pct(self.times, 0.95),
                "max": max(self.times) if self.times else None, "failed": self.failed, "exceptions": self.exceptions,
                "skipped": self.skipped, "wall_s": self.wall, "client_cpu_s": self.client_cpu,
                "server_cpu_s": self.server_cpu, "loop_lag_p95_s": self.loop_lag_p95,
                "loop_lag_max_s": self.loop_lag_max, "distinct_values": self.distinct_values}


class LagMonitor:
    """How late the event loop wakes up a 10 ms sleeper: the client's own queueing delay."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            self.lags.append(time.perf_counter() - t - 0.01)

    def __enter__(self) -> LagMonitor:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


# -------------------------------------------------------------------------------------- settings
def knobs_of(widgets: list[Widget], labels: list[str] | None = None) -> list[Widget]:
    """The widgets a wave of students moves: ``labels`` (label prefixes, in that order) when given, else
    the page's sliders, then its number inputs."""
    usable = [w for w in widgets if not w.disabled and w.grid(2)]
    if labels:
        return [w for label in labels for w in usable[:] if w.label.startswith(label)][:len(labels)]
    # sliders first; number inputs after them, for pages without sliders and for more distinct settings
    return [w for w in usable if w.kind in KNOB_KINDS] + [w for w in usable if w.kind in FALLBACK_KNOBS]


def settings(knobs: list[Widget], count: int, max_knobs: int = 3, every: bool = False) -> list[dict[str, Any]]:
    """``count`` distinct settings (dicts id -> value) of the first knob(s), spread over their ranges.

    Uses as many knobs (up to ``max_knobs``) as it takes to have ``count`` distinct combinations;
    with fewer combinations than ``count`` the list repeats. ``every``: vary every knob, each over
    about count^(1/knobs) values (e.g. method x layer x class), rather than the first one first.
    """
    if not knobs or count <= 0:
        return []
    grids: list[list[Any]] = []
    total = 1
    per_knob = int(np.ceil(count ** (1 / len(knobs[:max_knobs])))) + 1 if every else count
    for w in knobs[:max_knobs]:
        g = w.grid(per_knob)
        grids.append(g)
        total *= len(g)
        if total >= count:
            break
    chosen = [round(j * (total - 1) / max(count - 1, 1)) for j in range(count)] if total >= count else \
        [j % total for j in range(count)]
    out = []
    for index in chosen:
        values, rest = {}, index
        for w, g in zip(reversed(knobs[:len(grids)]), reversed(grids), strict=True):
            values[w.id] = g[rest % len(g)]
            rest //= len(g)
        out.append(values)
    return out


def _key(setting: dict[str, Any]) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in setting.items()))


# ------------------------------------------------------------------------------------------ the class
class Classroom:
    def __init__(self, server: Server, n: int, deadline: float, op_timeout: float, cookies: bool,
                 knob_labels: list[str] | None = None, wave_only: bool = False):
        self.knob_labels = knob_labels
        self.wave_only = wave_only  # --wave: each page is opened once by everybody at once, nothing else
        self.server = server
        self.n = n
        self.deadline = deadline
        self.op_timeout = op_timeout
        self.cookies = cookies
        self.students: list[Student | None] = []
        self.pids: list[int] = []

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def timeout(self) -> float:
        return max(0.5, min(self.op_timeout, self.left()))

    async def connect(self) -> list[str]:
        async def one(k: int) -> Student | str:
            try:
                return await Student.connect(self.server.base, fetch_cookies=self.cookies, timeout=self.timeout())
            except (OSError, StudentTimeout, StudentError) as exc:
                return f"student {k}: connect: {type(exc).__name__}: {exc}"

        got = await asyncio.gather(*(one(k) for k in range(self.n)))
        self.students = [g if isinstance(g, Student) else None for g in got]
        return [g for g in got if isinstance(g, str)]

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.students if s is not None))

    async def phase(self, name: str, action) -> Phase:
        """Run ``action(student, k)`` for every live student at once; collect times and failures."""
        ph = Phase(name)
        if self.left() <= 0:
            ph.skipped = "deadline passed"
            return ph
        live = [(k, s) for k, s in enumerate(self.students) if s is not None]
        cpu0, scpu0, t0 = time.process_time(), cpu_seconds(self.pids), time.perf_counter()

        async def one(k: int, s: Student) -> None:
            try:
                r = await action(s, k)
            except (StudentTimeout, StudentError, OSError) as exc:
                ph.failed.append(f"student {k}: {type(exc).__name__}: {exc}")
                if isinstance(exc, StudentError):
                    self.students[k] = None  # its connection is gone
                return
            if r is None:
                return
            if not r.finished:
                ph.failed.append(f"student {k}: {r.status or 'no status'}")
            ph.times.append(r.seconds)
            ph.exceptions.extend(r.exceptions)
            if r.page_not_found:
                ph.failed.append(f"student {k}: page not found")

        with LagMonitor() as lag:
            await asyncio.gather(*(one(k, s) for k, s in live))
        ph.wall = time.perf_counter() - t0
        ph.client_cpu = time.process_time() - cpu0
        ph.server_cpu = cpu_seconds(self.pids) - scpu0
        ph.loop_lag_max = max(lag.lags, default=0.0)
        ph.loop_lag_p95 = pct(lag.lags, 0.95) or 0.0
        return ph

    async def page(self, page: str) -> dict[str, Phase]:
        phases = {"cold": await self.phase("cold", lambda s, k: s.open(page, timeout=self.timeout()))}
        if self.wave_only:
            return phases
        phases["warm"] = await self.phase("warm", lambda s, k: s.open(page, timeout=self.timeout()))
        first = next((s for s in self.students if s is not None and s.last is not None), None)
        knobs = knobs_of(first.widgets, self.knob_labels) if first is not None else []
        wave = settings(knobs, self.n)
        if not wave:
            ph = Phase("wave", skipped="no slider or number input on this page")
        else:
            async def move(s: Student, k: int):
                return await s.set_widgets(wave[k % len(wave)], timeout=self.timeout())

            ph = await self.phase("wave", move)
            ph.distinct_values = len({_key(v) for v in wave})
        phases["wave"] = ph
        return phases

    async def distinct(self, page: str, n: int) -> Phase:
        """The first ``n`` students each move the page's knobs (``--knobs``) to a different setting at once."""
        first = next((s for s in self.students if s is not None), None)
        if first is None:
            return Phase("distinct", skipped="no live student")
        r = await first.open(page, timeout=self.timeout())
        wave = settings(knobs_of(r.widgets, self.knob_labels), n, every=True)
        if not wave:
            return Phase("distinct", skipped=f"no widget labelled {self.knob_labels} on {page!r}")
        chosen = {id(s): k for k, s in enumerate([s for s in self.students if s is not None][:n])}
        await self.phase("distinct-open", lambda s, k: s.open(page, timeout=self.timeout()) if id(s) in chosen
                         else asyncio.sleep(0))

        async def move(s: Student, k: int):
            if id(s) not in chosen:
                return None
            return await s.set_widgets(wave[chosen[id(s)] % len(wave)], timeout=self.timeout())

        ph = await self.phase("distinct", move)
        ph.distinct_values = len({_key(v) for v in wave})
        return ph

    async def churn(self, page: str, count: int, parallel: int = 10) -> Phase:
        """``count`` fresh sessions, ``parallel`` at a time, each opening ``page`` and closing its tab:
        what a worker keeps of closed tabs (read the RSS before and after)."""
        ph = Phase("churn")
        t0 = time.perf_counter()
        done = [0]

        async def one(k: int) -> None:
            try:
                s = await Student.connect(self.server.base, fetch_cookies=self.cookies, timeout=self.timeout())
            except (OSError, StudentTimeout, StudentError) as exc:
                ph.failed.append(f"session {k}: connect: {type(exc).__name__}: {exc}")
                return
            try:
                r = await s.open(page, timeout=self.timeout())
                ph.times.append(r.seconds)
                ph.exceptions.extend(r.exceptions)
                if not r.finished:
                    ph.failed.append(f"session {k}: {r.status or 'no status'}")
            except (StudentTimeout, StudentError, OSError) as exc:
                ph.failed.append(f"session {k}: {type(exc).__name__}: {exc}")
            finally:
                await s.close()
                done[0] += 1

        for start in range(0, count, parallel):
            if self.left() <= 0:
                ph.skipped = f"{done[0]} of {count} sessions before the deadline"
                break
            await asyncio.gather(*(one(k) for k in range(start, min(count, start + parallel))))
        ph.wall = time.perf_counter() - t0
        ph.distinct_values = done[0]
        return ph

    async def many_settings(self, pages: list[str], count: int) -> Phase:
        """``count`` distinct slider settings over the pages that have sliders, spread over the students."""
        plan: dict[str, list[dict[str, Any]]] = {}
        probe = next((s for s in self.students if s is not None), None)
        if probe is None:
            return Phase("settings", skipped="no live student")
        with_knobs = []
        for page in pages:
            if self.left() <= 0:
                break
            r = await probe.open(page, timeout=self.timeout())
            if knobs_of(r.widgets):
                with_knobs.append(page)
        if not with_knobs:
            return Phase("settings", skipped="no page has a slider or number input")
        share = [count // len(with_knobs) + (i < count % len(with_knobs)) for i in range(len(with_knobs))]
        for page, n in zip(with_knobs, share, strict=True):
            r = await probe.open(page, timeout=self.timeout())
            plan[page] = settings(knobs_of(r.widgets), n)
        distinct = len({(p, _key(v)) for p, vs in plan.items() for v in vs})

        async def work(s: Student, k: int):
            live = [s2 for s2 in self.students if s2 is not None]
            idx, stride = live.index(s), len(live)
            last = None
            for page, vs in plan.items():
                mine = vs[idx::stride]
                if not mine or self.left() <= 0:
                    continue
                await s.open(page, timeout=self.timeout())
                for v in mine:
                    if self.left() <= 0:
                        break
                    last = await s.set_widgets(v, timeout=self.timeout())
                    if last is not None:
                        times.append(last.seconds)
                        exceptions.extend(last.exceptions)
                        if not last.finished:
                            fails.append(f"student {k}: {last.status}")
                    done[0] += 1
            return None

        times: list[float] = []
        exceptions: list[str] = []
        fails: list[str] = []
        done = [0]
        ph = await self.phase("settings", work)
        ph.times, ph.exceptions = times, exceptions
        ph.failed += fails
        ph.distinct_values = min(distinct, done[0])
        if done[0] < count:
            ph.skipped = f"{done[0]} of {count} settings done before the deadline"
        return ph


async def run_class(args: argparse.Namespace, server: Server) -> dict[str, Any]:
    deadline = time.monotonic() + args.deadline
    room = Classroom(server, args.students, deadline, args.op_timeout, not args.no_cookies,
                     knob_labels=args.knobs, wave_only=args.wave is not None)
    room.pids = server_pids(server)
    report: dict[str, Any] = {"url": server.base, "students": args.students, "pages": {}, "rss": {}, "notes": [],
                              "wave_only": args.wave is not None}
    rss_idle = snapshot_rss(room.pids)
    t0 = time.perf_counter()
    fails = await room.connect()
    report["connect_s"] = time.perf_counter() - t0
    report["connect_failed"] = fails
    routes: dict[str, int] = {}  # which worker a cookie-sticky proxy gave each student
    for s in room.students:
        if s is not None:
            key = "; ".join(f"{k}={v}" for k, v in sorted(s.cookies.items())) or "(no cookie)"
            routes[key] = routes.get(key, 0) + 1
    report["routes"] = routes
    try:
        pages = args.pages
        if pages is None:  # every listed page: learn the list from one extra session (it opens the default page)
            probe = await Student.connect(server.base, fetch_cookies=room.cookies, timeout=room.timeout())
            try:
                await probe.open("", timeout=room.timeout())
                pages = [p.url_pathname for p in probe.pages]  # "" is the default page
            finally:
                await probe.close()
            report["notes"].append("page list from a probe session that opened the default page first")
        report["rss_pages"] = {}
        for page in pages:
            phases = await room.page(page)
            report["pages"][page] = phases
            report["rss_pages"][page] = snapshot_rss([p for p in room.pids if "serving.serve" in describe(p)]
                                                     or room.pids)  # the workers (not the proxy, the launcher)
            print(wave_row(page, args.students, phases["cold"], report["rss_pages"][page]) if room.wave_only
                  else row(page, args.students, phases), file=sys.stderr, flush=True)
        room.pids = server_pids(server)  # a restarted worker has a new pid
        if args.wave is not None and args.knobs:
            ph = await room.distinct(args.distinct_page, args.distinct)
            report["distinct"] = {"phase": ph, "page": args.distinct_page, "knobs": args.knobs}
            print(distinct_line(report["distinct"]), file=sys.stderr, flush=True)
        if args.churn:
            before = snapshot_rss(room.pids)
            ph = await room.churn(args.churn_page, args.churn)
            after = snapshot_rss(room.pids)
            report["churn"] = {"phase": ph, "page": args.churn_page, "before": before, "after": after}
            print(churn_line(report["churn"]), file=sys.stderr, flush=True)
        before = snapshot_rss(room.pids)
        ph = await room.many_settings(pages, args.settings) if args.settings > 0 else Phase("settings", skipped="0")
        after = snapshot_rss(room.pids)
        report["settings"] = ph
        report["rss"] = {pid: {"what": describe(pid), "idle": rss_idle.get(pid), "before": before.get(pid),
                               "after": after.get(pid)} for pid in sorted(set(before) | set(after))}
    finally:
        await room.close()
    report["wall_s"] = time.perf_counter() - t0
    return report


# ------------------------------------------------------------------------------------------ output
HEADER = ("| page | students | cold p50/p95 | warm p50/p95 | wave p50/p95 | failed | exceptions |\n"
          "|---|---|---|---|---|---|---|")


def row(page: str, n: int, phases: dict[str, Phase]) -> str:
    def cell(ph: Phase) -> str:
        return f"skipped ({ph.skipped})" if ph.skipped and not ph.times else fmt_pair(ph.times)

    failed_students = {f.split(":")[0] for ph in phases.values() for f in ph.failed}
    exc = [e for ph in phases.values() for e in ph.exceptions]
    return (f"| {page or '(default)'} | {n} | {cell(phases['cold'])} | {cell(phases['warm'])} | "
            f"{cell(phases['wave'])} | {len(failed_students)} | {len(exc)} |")


WAVE_HEADER = ("| page | students | p50 | p95 | max | server CPU per run | worker RSS after | failed | exceptions |\n"
               "|---|---|---|---|---|---|---|---|---|")


def wave_row(page: str, n: int, ph: Phase, rss: dict[int, int | None]) -> str:
    """One page of a --wave run: everybody opened it at once."""
    if ph.skipped and not ph.times:
        return f"| {page or 'home'} | {n} | skipped ({ph.skipped}) | | | | | | |"
    per_run = ph.server_cpu / len(ph.times) if ph.times else 0.0
    sizes = " / ".join(f"{v / 2**30:.2f} GB" for v in rss.values() if v)
    return (f"| {page or 'home'} | {n} | {pct(ph.times, 0.5):.2f} s | {pct(ph.times, 0.95):.2f} s | "
            f"{max(ph.times):.2f} s | {1000 * per_run:.0f} ms | {sizes} | "
            f"{len({f.split(':')[0] for f in ph.failed})} | {len(ph.exceptions)} |")


def distinct_line(d: dict[str, Any]) -> str:
    ph: Phase = d["phase"]
    if ph.skipped and not ph.times:
        return f"Distinct settings on '{d['page']}': skipped ({ph.skipped})"
    return (f"Distinct settings: {len(ph.times)} students on '{d['page']}' each set a different "
            f"({', '.join(d['knobs'])}) at once ({ph.distinct_values} distinct): p50/p95/max "
            f"{pct(ph.times, 0.5):.2f} / {pct(ph.times, 0.95):.2f} / {max(ph.times):.2f} s, "
            f"{len({f.split(':')[0] for f in ph.failed})} failed, {len(ph.exceptions)} exceptions, "
            f"server CPU {ph.server_cpu:.1f} s")


def churn_line(churn: dict[str, Any]) -> str:
    ph: Phase = churn["phase"]
    growth = ", ".join(f"pid {pid} {mb(churn['before'].get(pid))} -> {mb(v)} "
                       f"({(v - (churn['before'].get(pid) or v)) / 2**20:+.0f} MB)"
                       for pid, v in churn["after"].items() if v)
    return (f"Sessions opened and closed: {ph.distinct_values} on '{churn['page'] or 'home'}' "
            f"(p50/p95 {fmt_pair(ph.times)}, {len(ph.failed)} failed, {len(ph.exceptions)} exceptions, "
            f"{ph.wall:.0f} s): RSS {growth}" + (f" ({ph.skipped})" if ph.skipped else ""))


def mb(v: int | None) -> str:
    return "-" if v is None else f"{v / 2**20:.0f} MB"


def render(report: dict[str, Any]) -> str:
    wave = report.get("wave_only")
    lines = [WAVE_HEADER if wave else HEADER]
    for page, phases in report["pages"].items():
        lines.append(wave_row(page, report["students"], phases["cold"], report["rss_pages"].get(page, {})) if wave
                     else row(page, report["students"], phases))
    lines.append("")
    exc = sorted({e for phases in report["pages"].values() for ph in phases.values() for e in ph.exceptions})
    for e in exc[:10]:
        lines.append(f"exception: {e[:200]}")
    fails = [f for phases in report["pages"].values() for ph in phases.values() for f in ph.failed]
    for f in fails[:10]:
        lines.append(f"failed: {f[:200]}")
    if report.get("connect_failed"):
        lines.append(f"connect failed: {len(report['connect_failed'])} ({report['connect_failed'][0][:160]})")
    if report.get("distinct"):
        lines.append(distinct_line(report["distinct"]))
    if report.get("churn"):
        lines.append(churn_line(report["churn"]))
    ph: Phase | None = report.get("settings")
    if ph is not None and not (ph.skipped == "0" and not ph.times):
        lines.append(f"\nSlider settings: {ph.distinct_values} distinct over {report['students']} students"
                     f"{' (' + ph.skipped + ')' if ph.skipped else ''}: {len(ph.times)} reruns, "
                     f"p50/p95 {fmt_pair(ph.times)}, {len({f.split(':')[0] for f in ph.failed})} failed students, "
                     f"{len(ph.exceptions)} exceptions, {ph.wall:.1f} s")
    for pid, r in report["rss"].items():
        delta = (r["after"] - r["before"]) if r["after"] is not None and r["before"] is not None else None
        lines.append(f"RSS pid {pid} ({r['what']}): idle {mb(r['idle'])}, before {mb(r['before'])}, "
                     f"after {mb(r['after'])}" + (f" ({'+' if delta >= 0 else ''}{delta / 2**20:.0f} MB)"
                                                 if delta is not None else ""))
    all_phases = [ph for phases in report["pages"].values() for ph in phases.values()] + \
        ([report["settings"]] if report.get("settings") else [])
    wall = sum(p.wall for p in all_phases)
    ccpu = sum(p.client_cpu for p in all_phases)
    scpu = sum(p.server_cpu for p in all_phases)
    lag = max((p.loop_lag_max for p in all_phases), default=0.0)
    lag95 = max((p.loop_lag_p95 for p in all_phases), default=0.0)
    lines.append(f"\nClient overhead: {ccpu:.1f} s CPU in this process over {wall:.1f} s of phases "
                 f"({100 * ccpu / wall if wall else 0:.0f}% of one core), server processes {scpu:.1f} s CPU; "
                 f"event-loop lag p95 {1000 * lag95:.0f} ms (worst phase), max {1000 * lag:.0f} ms. "
                 f"Connect of {report['students']} students: {report['connect_s']:.2f} s. Total {report['wall_s']:.1f} s.")
    lines.append("Students per cookie: " + ", ".join(f"{k}: {v}" for k, v in report.get("routes", {}).items()))
    for note in report["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def to_json(report: dict[str, Any]) -> dict[str, Any]:
    out = dict(report)
    out["pages"] = {p: {k: ph.as_json() for k, ph in phases.items()} for p, phases in report["pages"].items()}
    if report.get("settings") is not None:
        out["settings"] = report["settings"].as_json()
    out["rss"] = {str(pid): r for pid, r in report["rss"].items()}
    if report.get("churn"):
        out["churn"] = dict(report["churn"], phase=report["churn"]["phase"].as_json())
    if report.get("distinct"):
        out["distinct"] = dict(report["distinct"], phase=report["distinct"]["phase"].as_json())
    out.pop("rss_pages", None)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = p.add_mutually_exclusive_group()
    where.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8501")
    where.add_argument("--start", choices=("run", "classroom"), default=None,
                       help="start a server: one `streamlit run`, or `python -m serving.classroom`")
    p.add_argument("--workers", type=int, default=2, help="--start classroom: worker processes (default 2)")
    p.add_argument("--no-warm", action="store_true", help="--start run|classroom: the server(s) do not warm up first")
    p.add_argument("--students", type=int, default=50, help=f"simulated students (default 50, at most {MAX_STUDENTS})")
    p.add_argument("--pages", help="comma-separated url paths (home or '' for the default page), or 'all' (default)")
    p.add_argument("--wave", type=int, default=None, metavar="N",
                   help="N students open each page at once, once (no warm/slider phases): per page p50/p95/max, "
                        "server CPU per run and worker RSS; sets --students N")
    p.add_argument("--churn", type=int, default=0, metavar="N",
                   help="then N fresh sessions (10 at a time) open --churn-page and close: worker RSS before/after")
    p.add_argument("--distinct", type=int, default=50, metavar="N",
                   help="--wave with --knobs: then N students each set a different value of the knobs on "
                        "--distinct-page at once (default 50)")
    p.add_argument("--distinct-page", default="grad-cam", help="the page of --distinct (default grad-cam)")
    p.add_argument("--churn-page", default="grad-cam", help="the page --churn opens (default grad-cam)")
    p.add_argument("--knobs", help="comma-separated label prefixes of the widgets the slider wave moves "
                                   "(e.g. 'Method,Target layer,Class to explain'); default: the page's sliders")
    p.add_argument("--settings", type=int, default=None,
                   help="distinct slider settings for the RSS check (default 1000; 0 with --wave)")
    p.add_argument("--deadline", type=float, default=600.0, help="global deadline in seconds (default 600)")
    p.add_argument("--op-timeout", type=float, default=300.0, help="timeout of one page run (default 300 s)")
    p.add_argument("--no-cookies", action="store_true", help="do not GET / for cookies before connecting")
    p.add_argument("--json", nargs="?", const="-", help="write the results as JSON to this file ('-': stdout)")
    args = p.parse_args(argv)
    if args.wave is not None:
        args.students = args.wave
        if args.url is None and args.start is None:
            args.start = "classroom"  # what `make classroom` serves a room with
    if args.settings is None:
        args.settings = 0 if args.wave is not None else 1000
    if not 1 <= args.students <= MAX_STUDENTS:
        p.error(f"--students must be 1..{MAX_STUDENTS}")
    if not 0 <= args.settings <= MAX_SETTINGS:
        p.error(f"--settings must be 0..{MAX_SETTINGS}")
    if args.url is None and args.start is None:
        args.start = "run"
    if args.pages is not None and args.pages.strip() == "all":
        args.pages = None
    args.knobs = [k.strip() for k in args.knobs.split(",") if k.strip()] if args.knobs else None
    if args.pages is not None:
        args.pages = [("" if x.strip() in ("home", "/") else x.strip().strip("/")) for x in args.pages.split(",")]
    if args.url:
        host = urllib.parse.urlsplit(args.url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            p.error("--url must be a loopback address (127.0.0.1)")
    return args


async def wait_warm(base: str, workers: int, deadline: float) -> float:
    """Wait until every worker's warm start is done (its Setup page says so); returns the seconds.
    Behind the proxy each fresh student gets a sticky cookie naming its worker, so students are
    opened until every worker has answered 'done'."""
    from serving.student import Student

    t0 = time.monotonic()
    done: set[str] = set()
    while time.monotonic() - t0 < deadline:
        s = await Student.connect(base, fetch_cookies=True)
        try:
            r = await s.open("setup", timeout=120)
            worker = next((v for k, v in s.cookies.items() if k == "DASHBOARD_WORKER"), "w1")
            if any("Warm start done" in t or "Warm start is off" in t for t in r.texts):
                done.add(worker)
            else:
                await asyncio.sleep(5)
        finally:
            await s.close()
        if len(done) >= workers:
            return time.monotonic() - t0
    raise TimeoutError(f"warm start not done on every worker after {deadline:.0f} s")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t = time.monotonic()
    if args.url:
        server: Server | None = Server(args.url.rstrip("/"))
    else:
        server = start_server(args.start, args.workers, args.no_warm, timeout=min(args.deadline, 300))
        if server is None:
            return 0
        print(f"started {args.start} at {server.base} in {time.monotonic() - t:.1f} s (log {server.log})",
              file=sys.stderr, flush=True)
        if not args.no_warm:
            workers = args.workers if args.start == "classroom" else 1
            seconds = asyncio.run(wait_warm(server.base, workers, args.deadline))
            print(f"warm start of {workers} worker(s) done after {seconds:.0f} s more", file=sys.stderr, flush=True)
    try:
        args.deadline -= time.monotonic() - t
        report = asyncio.run(run_class(args, server))
    finally:
        server.stop()
    report["start"] = args.start or "url"
    print(render(report))
    if args.json:
        text = json.dumps(to_json(report), indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
