"""One dashboard server: ``python -m serving.serve [--host H] [--port P] [--no-warm]``.

It is ``streamlit run dashboard/app.py`` with two additions for a lecture hall:

* **hardening** of Streamlit for many users (:mod:`serving.patches`, applied before the server starts): a
  client's ``clear_cache`` message (sent by any websocket client, no cookie needed) no longer empties the
  caches of every session — it clears that session's own state only (``DASHBOARD_ALLOW_CLEAR_CACHE=1``
  restores Streamlit's behaviour), no Keras clean-up after every rerun, no config-file polling thread;
* **warm start**: once the server answers, a background thread opens every page with its defaults
  over Streamlit's own websocket protocol (:mod:`serving.student`), then every preset view of the
  lecture path and the extra class views (``core/lecture.toml``), and every step once more in lecture
  mode (``lecture=1``: the projector's layout and chart template), each in a fresh session as a
  browser opening the step's link would, so models, embeddings, trained decoders and the results the
  lecture shows are computed before the first student arrives. Progress goes to the log and to the
  Setup page (:data:`WARMUP`, whose readiness checklist lists what is still missing); pages stay
  usable meanwhile.

``make run`` and every ``make classroom`` worker start here.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from serving import health, patches
from serving.patches import patch_streamlit

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboard" / "app.py"
log = logging.getLogger("dashboard.warmup")


# ----------------------------------------------------------------------------- warm start


def view_ok(record: dict) -> bool:
    """A warmed view ran to the end without an exception."""
    from serving.student import OK_STATUSES

    return record.get("status") in OK_STATUSES and not record.get("exceptions")


@dataclass
class WarmupState:
    state: str = "off"  # off | waiting | running | done | failed
    total: int = 0
    done: int = 0
    current: str = ""
    started: float = 0.0
    finished: float = 0.0
    pages: list[dict] = field(default_factory=list)  # {"page", "seconds", "exceptions"}
    # the lecture's preset views: {"page", "query", "seconds", "exceptions", "status"}
    views: list[dict] = field(default_factory=list)
    error: str = ""

    def summary(self) -> str:
        if self.state == "off":
            return "Warm start is off (this server was not started by `make run`/`make classroom`)."
        if self.state == "waiting":
            return "Warm start: waiting for the server to answer ..."
        if self.state == "running":
            return f"Warm start: {self.done}/{self.total} pages and views ready; now computing '{self.current}' ..."
        if self.state == "done":
            bad = [p["page"] for p in self.pages if p["exceptions"]]
            bad += [f"{v['page']}?{v['query']}" for v in self.views if not view_ok(v)]
            return (f"Warm start done: {len(self.pages)} pages and {len(self.views)} lecture views computed in "
                    f"{self.finished - self.started:.0f} s" + (f"; problems on {', '.join(bad)}" if bad else "") + ".")
        return f"Warm start failed: {self.error}"


WARMUP = WarmupState()


def warm_up(base_url: str, state: WarmupState = WARMUP, timeout: float = 1800.0) -> WarmupState:
    """Open every page once with its defaults (in slide order) so their results are cached."""
    from serving import student

    state.state, state.started = "waiting", time.time()
    if not health.wait_healthy(base_url, timeout=120.0, interval=0.5):
        state.state, state.error = "failed", "the server did not answer its health check"
        log.warning("warm start: %s", state.error)
        return state
    state.state = "running"

    def progress(done: int, total: int, page: str) -> None:
        state.done, state.total, state.current = done, total, page
        if page:
            log.warning("warm start: %d/%d pages ready, opening %s", done, total, page)

    try:
        results = student.visit_pages(base_url, timeout=timeout, progress=progress)
    except Exception as exc:  # never take the server down: it still serves, only colder
        state.state, state.error = "failed", f"{type(exc).__name__}: {exc}"
        log.warning("warm start: %s", state.error)
        return state
    state.pages = [{"page": r.page, "seconds": round(r.seconds, 2), "exceptions": list(r.exceptions)} for r in results]
    try:
        warm_views(base_url, state, timeout=max(60.0, timeout - (time.time() - state.started)))
    except Exception as exc:  # noqa: BLE001 - the pages are warm; the presets stay cold
        state.error = f"lecture views: {type(exc).__name__}: {exc}"
        log.warning("warm start: %s", state.error)
    state.done = state.total = len(results) + len(state.views)
    state.state, state.finished, state.current = "done", time.time(), ""
    log.warning("warm start: done, %d pages and %d lecture views in %.0f s", len(results), len(state.views),
                state.finished - state.started)
    return state


def warm_views(base_url: str, state: WarmupState, timeout: float = 1800.0) -> list[dict]:
    """Open every preset view of the lecture path (and the extra class views) that is not a page's default,
    each in a fresh session: the page reads its controls from the link on a session's first run, as a
    browser opening the step's link would. Appends one record per view to ``state.views``."""

    from core import lecture
    from serving import student

    views = [(p, q) for p, q in lecture.class_views() if q]
    # the same steps on the projector: lecture mode lays pages out picture first and draws charts with the
    # projector template, and those sections are replayed per mode, so a step's first lecture-mode visit
    # would draw them in front of the class (benchmarks/walk_lecture.py measured 3-10 s)
    views += [("" if p == "home" else p, f"{q}&lecture=1" if q else "lecture=1")
              for p, q in dict.fromkeys((s.page, s.query) for s in lecture.steps())]
    base = len(state.pages)
    state.total = base + len(views)
    deadline = time.monotonic() + timeout

    async def one(page: str, query: str) -> dict:
        record = {"page": page, "query": query, "seconds": 0.0, "exceptions": [], "status": "TIMEOUT"}
        left = deadline - time.monotonic()
        if left <= 1:
            record["exceptions"] = ["the warm start's deadline passed before this view"]
            return record
        try:
            visitor = await student.Student.connect(base_url, timeout=min(left, 60))
            try:
                r = await visitor.open(page, query, timeout=max(1.0, deadline - time.monotonic()))
            finally:
                await visitor.close()
            record.update(seconds=round(r.seconds, 2), exceptions=list(r.exceptions), status=r.status)
        except (TimeoutError, student.StudentError, student.StudentTimeout, OSError, ValueError) as exc:
            record["exceptions"] = [f"{type(exc).__name__}: {exc}"]
            record["status"] = "ERROR"
        return record

    for i, (page, query) in enumerate(views):
        state.done, state.current = base + i, f"{page}?{query}"
        log.warning("warm start: lecture view %d/%d, opening %s?%s", i + 1, len(views), page, query)
        state.views.append(student._run_sync(lambda p=page, q=query: one(p, q)))
    return state.views


# ----------------------------------------------------------------------------- main


def print_presenter_link(host: str, port: int) -> str:
    """``make run``'s presenter: the secret goes to this process's environment (its in-process room store,
    no Redis) and to the terminal only. Returns the link."""
    import secrets
    import urllib.parse

    secret = os.environ.get("DASHBOARD_PRESENTER_SECRET", "").split(",")[0].strip()
    if len(secret) < 8:  # dashboard.follow ignores shorter ones
        secret = secrets.token_urlsafe(18)
        os.environ["DASHBOARD_PRESENTER_SECRET"] = secret
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    link = f"http://{shown}:{port}/?presenter={urllib.parse.quote(secret, safe='')}"
    print(f"Presenter: {link}  (only for you: it controls the room)", flush=True)
    return link


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m serving.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8501")))
    parser.add_argument("--no-warm", action="store_true", help="skip computing every page's defaults at start")
    parser.add_argument("--presenter", action="store_true",
                        help="print a presenter link (a fresh secret unless DASHBOARD_PRESENTER_SECRET is set; "
                             "this one process keeps the room, see dashboard/follow.py); `make run` passes it")
    args, extra = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    if args.presenter:
        print_presenter_link(args.host, args.port)
    os.chdir(ROOT)
    patch_streamlit()
    if not args.no_warm:
        local = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
        threading.Thread(target=warm_up, args=(f"http://{local}:{args.port}/",), name="warm-up", daemon=True).start()
    from streamlit.web import cli as stcli

    patches.quiet_config_watchers()

    sys.argv = ["streamlit", "run", str(APP), "--server.address", args.host, "--server.port", str(args.port),
                "--server.headless", "true", *extra]
    sys.exit(stcli.main())


if __name__ == "__main__":
    from serving.serve import main as _main  # the imported module's WARMUP is the one pages read

    _main()
