"""Server CPU of one student's run of each page, warm: what a wave of students costs a worker.

    python benchmarks/profile_pages.py                      # every page
    python benchmarks/profile_pages.py grad-cam activations --top 25   # and where the time goes

For each page (url path from dashboard/navigation.py): a first AppTest session opens it (it computes
and fills the process caches, like the first student of a room), then ``--sessions`` fresh sessions
open it the way the next students do; their CPU time (``time.process_time``: all threads of this
process, so TensorFlow's too) is the cost of a student run once everything shared is computed. The
issue's budget is about 25 ms per run. ``--top N`` prints the N functions with the most cumulative
time (cProfile) for the last session of each page. AppTest runs the script in-process without a
websocket: the numbers leave out Streamlit's network send, so a real worker spends a little more.
Compiled page scripts are shared between sessions, as in a server (one ScriptCache).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

APP = str(ROOT / "dashboard" / "app.py")


def share_script_cache() -> None:
    """A real server compiles each page once (its Runtime's ScriptCache); AppTest makes a new cache per
    session, which would bill every measured run for compiling the page. Share one, like the server."""
    from streamlit.testing.v1 import app_test, local_script_runner

    shared = app_test.ScriptCache()
    app_test.ScriptCache = lambda: shared  # the pages' cache
    local_script_runner.ScriptCache = lambda: shared  # the entrypoint's (dashboard/app.py): its own name


def open_page(spec, query: dict | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=600)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page(f"../pages/{spec.file}")
    return at


def main(argv: list[str] | None = None) -> int:
    from dashboard import navigation

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pages", nargs="*", help="url paths (default: every page)")
    p.add_argument("--sessions", type=int, default=3, help="warm sessions measured per page (default 3)")
    p.add_argument("--top", type=int, default=0, help="print the N costliest functions (cumulative) per page")
    args = p.parse_args(argv)
    share_script_cache()
    specs = [s for s in navigation.PAGES if s.path.exists() and (not args.pages or s.url_path in args.pages)]
    print("| page | first run (CPU s) | warm run (CPU ms, median) | exceptions |")
    print("|---|---|---|---|")
    for spec in specs:
        at = open_page(spec, {"lecture": "1"})
        c0 = time.process_time()
        at.run()
        first = time.process_time() - c0
        errors = [str(e.value)[:80] for e in at.exception]
        warm, prof = [], None
        for i in range(max(1, args.sessions)):
            at = open_page(spec, {"lecture": "1"})
            prof = cProfile.Profile() if (args.top and i == args.sessions - 1) else None
            if prof:  # the script runs on its own thread: profile the threads started from here on
                def start(frame, event, arg, prof=prof):
                    sys.setprofile(None)
                    prof.enable()
                threading.setprofile(start)
            c0 = time.process_time()
            at.run()
            warm.append(time.process_time() - c0)
            if prof:
                threading.setprofile(None)
            errors += [str(e.value)[:80] for e in at.exception]
        warm.sort()
        print(f"| {spec.url_path} | {first:.2f} | {1000 * warm[len(warm) // 2]:.0f} | {len(errors)} |", flush=True)
        if prof is not None:
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(args.top)
            print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[-6000:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
