"""Follow the lecturer, end to end: Chromium, a real Redis, two workers behind Debian's HAProxy.

`python -m serving.classroom --workers 2` with DASHBOARD_REDIS_URL pointing at a redis-server this
test owns (so it can stop it mid-lecture). A presenter and three students in separate browser
contexts (separate cookies: they land on both workers); the presenter changes page and a control and
every student shows the same page and view (a condition wait bounded by FOLLOW_DEADLINE_S, default
30 s; the seconds measured from the presenter's action are printed); a late student lands there; a wrong secret gets no
presenter controls; a live question collects three answers on the presenter's screen; Redis stopped
leaves pages usable with one sentence, and following resumes when it is back.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.conftest import screenshot
from tests.helpers import free_port
from tests.redis_helpers import RedisProcess

ROOT = Path(__file__).resolve().parents[2]
# The goal is 2 s from the presenter's action to every student showing it. A test asserts no
# wall-clock goal (the project's rule: speed lives in benchmarks/bench_follow.py, which reports it): the
# deadline here only bounds the wait, so a student who never follows fails, and the test prints the measured
# seconds. FOLLOW_DEADLINE_S tightens it (e.g. 2 on a quiet machine).
LOAD_PER_CORE = os.getloadavg()[0] / max(1, os.cpu_count() or 1)
DEADLINE_S = float(os.environ.get("FOLLOW_DEADLINE_S", "0") or 0) or 30.0
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'

pytestmark = pytest.mark.browser


@dataclass
class Lecture:
    base: str
    presenter_url: str
    run_dir: Path
    out: Path
    redis: RedisProcess


@pytest.fixture(scope="module")
def lecture(tmp_path_factory):
    from tests.serving.conftest import HAPROXY, missing

    if HAPROXY is None:
        missing("Debian haproxy is not installed (make proxy)")
    run_dir = tmp_path_factory.mktemp("follow-room")
    redis = RedisProcess(run_dir)
    redis.start()
    port = free_port()
    out = run_dir / "launcher.out"
    env = {**os.environ, "DASHBOARD_REDIS_URL": redis.url}
    env.pop("DASHBOARD_PRESENTER_SECRET", None)  # a fresh one, printed by the launcher
    with open(out, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "serving.classroom", "--workers", "2", "--port", str(port),
                                 "--host", "127.0.0.1", "--no-warm", "--run-dir", str(run_dir)],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 120
    while "Presenter: " not in out.read_text():
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            redis.stop()
            pytest.fail(f"the room did not come up: {out.read_text()[-2000:]}")
        time.sleep(0.3)
    presenter_url = re.search(r"Presenter: (\S+)", out.read_text()).group(1)
    yield Lecture(f"http://127.0.0.1:{port}", presenter_url, run_dir, out, redis)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    redis.stop()


def _idle(pg, timeout_ms: int = 120_000) -> None:
    pg.wait_for_selector(IDLE, timeout=timeout_ms)


TRACE = os.environ.get("DASHBOARD_FOLLOW_TRACE") == "1"
# With the trace on: each page notes when websocket messages arrive (dispatched to the page) and its long
# main-thread tasks, so the printed timeline tells the network from the browser's own drawing.
TRACE_INIT_JS = """(() => {
  window.__wsIn = []; window.__longTasks = [];
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener('message', (e) => {
      window.__wsIn.push([Date.now(), e.data.byteLength ?? e.data.size ?? e.data.length ?? 0]);
      if (window.__wsIn.length > 4000) window.__wsIn.splice(0, 2000);
    });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  try {
    new PerformanceObserver((list) => {
      for (const t of list.getEntries()) {
        window.__longTasks.push([Math.round(performance.timeOrigin + t.startTime), Math.round(t.duration)]);
      }
      if (window.__longTasks.length > 4000) window.__longTasks.splice(0, 2000);
    }).observe({type: 'longtask'});
  } catch (e) {}
})()"""


def _open(browser, url: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    if TRACE:
        context.add_init_script(TRACE_INIT_JS)
    pg = context.new_page()
    pg.goto(url)
    _idle(pg)
    return context, pg


def _worker(context) -> str:
    return next(c["value"] for c in context.cookies() if c["name"] == "DASHBOARD_WORKER")


def _all_within(pages, condition, deadline_s: float, start: float, watched: bool = False) -> list[float]:
    """Seconds from ``start`` until ``condition(page)`` held on each page (checked through Playwright);
    fails past the deadline. ``watched``: the pages run the in-page stopwatch (:func:`_watch`, the same
    condition in the page's own script), so wait for it in the page first: polling three pages through
    Playwright every 25 ms (a text search over the page's DOM per call, ~10-25 ms of each page's main
    thread) kept the students' renderers half busy while they were drawing the view being timed."""
    seen: dict[int, float] = {}
    end = start + deadline_s
    if watched:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        for pg in pages:
            try:
                pg.wait_for_function("window.__followSeen != null", polling=50,
                                     timeout=max(1, int((end + 30 - time.monotonic()) * 1000)))
            except PlaywrightTimeout:
                break  # the polling below says which page is late (or that it never came)
    while len(seen) < len(pages):
        for k, pg in enumerate(pages):
            if k not in seen and condition(pg):
                seen[k] = time.monotonic() - start
        if len(seen) < len(pages):
            if time.monotonic() > end + 30:
                break
            pages[0].wait_for_timeout(25)
    times = [seen.get(k, float("inf")) for k in range(len(pages))]
    if os.environ.get("DASHBOARD_FOLLOW_TRACE") == "1":  # the same clock as the workers' follow-trace lines
        wall = time.time() - (time.monotonic() - start)
        print(f"follow-trace {wall:.3f} test start; seen at {[round(wall + t, 3) for t in times]}")
    if max(times) > deadline_s:  # say how late (or that it never came), not only that the deadline passed
        pytest.fail(f"not followed within {deadline_s} s: seconds per student {[round(t, 2) for t in times]}, "
                    f"pages {[pg.url for pg in pages]}")
    return times


# In-page stopwatch: each student's page notes (Date.now(), the machine's clock) when it first shows the
# wanted view, so the printed seconds do not include Playwright's polling of three pages in turn; the
# Playwright check of the same condition (_all_within) then confirms it.
WATCH_JS = """(want) => {
  window.__followSeen = null;
  window.__followTrace = {mutation: null, url: null};
  if (window.__followObserver) window.__followObserver.disconnect();
  window.__followObserver = new MutationObserver(() => {
    if (window.__followTrace.mutation === null) window.__followTrace.mutation = Date.now();
    window.__followObserver.disconnect();  // only the first change is noted: no records for the rest
  });
  window.__followObserver.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
  const check = () => {
    if (window.__followSeen !== null) return;
    if (!location.pathname.includes(want.path) || !location.search.includes(want.query)) return;
    if (window.__followTrace.url === null) window.__followTrace.url = Date.now();
    if (want.text && !document.body.textContent.includes(want.text)) return;
    if (want.slider) {
      const v = document.querySelector('[data-testid="stSliderThumbValue"]');
      if (!v || v.textContent.trim() !== want.slider) return;
    }
    window.__followSeen = Date.now();
  };
  clearInterval(window.__followTimer);
  window.__followTimer = setInterval(check, 10);
}"""


def _watch(pages, path: str, query: str = "", text: str = "", slider: str = "") -> float:
    for pg in pages:
        pg.evaluate(WATCH_JS, {"path": path, "query": query, "text": text, "slider": slider})
    return time.time()


def _seen(pages, since: float) -> list[float]:
    """Seconds from ``since`` (time.time()) until each page showed the view, by the page's own clock."""
    if TRACE:  # when each page first changed, first had the URL, got messages, and was busy (long tasks)
        print("follow-trace browser", since, [pg.evaluate("window.__followTrace") for pg in pages])
        ms = since * 1000
        for k, pg in enumerate(pages):
            ws, busy = pg.evaluate("[window.__wsIn || [], window.__longTasks || []]")
            ws = [(t - ms, n) for t, n in ws if t >= ms]
            busy = [(t - ms, d) for t, d in busy if t + d >= ms]
            print(f"follow-trace student {k}: {len(ws)} messages ({sum(n for _, n in ws)} bytes) from "
                  f"{ws[0][0] if ws else None} to {ws[-1][0] if ws else None} ms; long tasks (start ms, ms) {busy}")
    out = []
    for pg in pages:
        # The stopwatch ticks every 10 ms, so Playwright can see the view a tick before the page notes it:
        # wait for the tick rather than read a null.
        pg.wait_for_function("window.__followSeen != null", timeout=5_000)  # a reload would leave it undefined
        out.append(round(pg.evaluate("window.__followSeen") / 1000 - since, 3))
    return out


def _on_upsampling_with_factor(factor: int):
    def check(pg) -> bool:
        if "/upsampling" not in pg.url or f"up_factor={factor}" not in pg.url:
            return False
        value = pg.get_by_test_id("stSliderThumbValue").first
        return value.count() > 0 and value.inner_text().strip() == str(factor)
    return check


def test_presenter_leads_three_students_across_two_workers(lecture, browser):
    contexts = []
    try:
        students = []
        for _ in range(3):  # before the lecturer arrives: each on the upsampling page (which warms both workers)
            ctx, pg = _open(browser, lecture.base + "/upsampling")
            contexts.append(ctx)
            pg.get_by_text("Following the lecturer", exact=True).first.wait_for(timeout=30_000)
            assert pg.get_by_text("Presenting").count() == 0
            students.append(pg)
        pctx, presenter = _open(browser, lecture.presenter_url)
        contexts.insert(0, pctx)
        presenter.get_by_text("Presenting").first.wait_for(timeout=30_000)
        assert "presenter=" not in presenter.url  # stripped from the address bar at once
        workers = {_worker(c) for c in contexts}
        assert workers == {"w1", "w2"}, workers  # the room spans both workers
        # the lecturer's first view (Home) pulls everyone there
        _all_within(students, lambda pg: "/upsampling" not in pg.url and pg.get_by_text("Lecture 1").count() > 0,
                    60, time.monotonic())
        for pg in students:
            _idle(pg)

        # the presenter moves to another page through the sidebar
        wall = _watch(students, "/upsampling", text="Integer upsampling")
        start = time.monotonic()
        presenter.get_by_test_id("stSidebarNavLink").filter(has_text="Upsampling").click()
        _all_within(students, lambda pg: "/upsampling" in pg.url and pg.get_by_text(
            "Integer upsampling").count() > 0, DEADLINE_S, start, watched=True)
        page_s = _seen(students, wall)
        _idle(presenter)

        # and changes a control: Factor 2 -> 3, one key press (one change of the presenter's view)
        slider = presenter.get_by_role("slider").first
        slider.focus()
        wall = _watch(students, "/upsampling", query="up_factor=3", slider="3")
        start = time.monotonic()
        slider.press("ArrowRight")
        presses_s = time.time() - wall
        _all_within(students, _on_upsampling_with_factor(3), DEADLINE_S, start, watched=True)
        view_s = _seen(students, wall)
        print(f"follow latency (slowest of 3 students, by each page's clock): page {max(page_s):.2f} s {page_s}, "
              f"control {max(view_s):.2f} s {view_s} (the test's key press took {presses_s:.2f} s); "
              f"deadline {DEADLINE_S:.1f} s at load {LOAD_PER_CORE:.1f} per core")
        for pg in students:
            assert pg.get_by_text("Following the lecturer", exact=True).count() > 0
            assert pg.locator('[data-testid="stException"]').count() == 0

        # a late student lands on the current view
        ctx, late = _open(browser, lecture.base + "/")
        contexts.append(ctx)
        _all_within([late], _on_upsampling_with_factor(3), 30, time.monotonic())
        late.get_by_text("Following the lecturer", exact=True).first.wait_for(timeout=10_000)
        screenshot(late, "follow-late-student")

        # a wrong secret gets no presenter controls (and the wrong secret leaves the address bar too)
        ctx, wrong = _open(browser, lecture.base + "/?presenter=not-the-secret-at-all")
        contexts.append(ctx)
        wrong.get_by_text("Following the lecturer", exact=True).first.wait_for(timeout=30_000)
        assert wrong.get_by_text("Presenting").count() == 0
        assert wrong.get_by_text("Bring everyone back").count() == 0
        assert "presenter=" not in wrong.url

        # a question round trip: the presenter asks, three students answer, the presenter sees three answers
        presenter.get_by_role("button", name="Ask the room").click()
        for pg in students:
            pg.get_by_text("Question from the lecturer").first.wait_for(timeout=30_000)
            pg.get_by_test_id("stRadio").filter(has=pg.get_by_text("Your answer")).get_by_text("9", exact=True).click()
            pg.get_by_role("button", name="Answer").click()
            pg.get_by_text("Your answer is in").first.wait_for(timeout=30_000)
        presenter.get_by_text("3 answers").first.wait_for(timeout=30_000)
        presenter.get_by_role("button", name="Reveal the answer").click()
        for pg in students:
            pg.get_by_text("Answer: 9").first.wait_for(timeout=30_000)
        screenshot(presenter, "follow-presenter-answers")

        # the secret is in no page a student sees and in no log
        secret = lecture.presenter_url.split("presenter=", 1)[1]
        for pg in [*students, late, wrong]:
            assert secret not in pg.content() and secret not in pg.url
        for log in lecture.run_dir.glob("*.log"):
            assert secret not in log.read_text(errors="replace"), log.name
    finally:
        for ctx in contexts:
            ctx.close()


def test_redis_stopped_mid_lecture_leaves_pages_usable_and_following_resumes(lecture, browser):
    contexts = []
    try:
        pctx, presenter = _open(browser, lecture.presenter_url)
        contexts.append(pctx)
        presenter.get_by_text("Presenting").first.wait_for(timeout=30_000)
        sctx, student = _open(browser, lecture.base + "/")
        contexts.append(sctx)
        student.get_by_text("Following the lecturer", exact=True).first.wait_for(timeout=30_000)

        lecture.redis.stop()
        student.get_by_test_id("stSidebarNavLink").filter(has_text="Upsampling").click()
        student.get_by_text("Integer upsampling").first.wait_for(timeout=60_000)
        _idle(student)
        student.get_by_text("room store is not reachable").first.wait_for(timeout=30_000)
        assert student.locator('[data-testid="stException"]').count() == 0
        slider = student.get_by_role("slider").first  # the page works on its own
        slider.focus()
        slider.press("ArrowRight")
        student.wait_for_function("() => location.search.includes('up_factor=3')", timeout=30_000)
        _idle(student)
        assert student.locator('[data-testid="stException"]').count() == 0

        lecture.redis.start()  # back (empty: no persistence); the listeners reconnect and resync
        student.get_by_text("Following the lecturer", exact=True).first.wait_for(timeout=30_000)
        presenter.get_by_test_id("stSidebarNavLink").filter(has_text="Semantic segmentation").click()
        student.wait_for_url("**/segmentation**", timeout=60_000)
        _idle(student)
        assert student.locator('[data-testid="stException"]').count() == 0
    finally:
        for ctx in contexts:
            ctx.close()
