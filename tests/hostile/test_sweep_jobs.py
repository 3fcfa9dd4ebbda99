"""The 2026-12-04 sweep's job-queue row (Table 2 F, N66): jobs of students who left are cancelled once
their session has been gone for the grace period, and queue places are capped per student and overall,
so a new student's request is not stuck behind ghosts. In-process on a private pool."""

from __future__ import annotations

import threading

import pytest

from core import jobs
from core.cache import Cancelled, KeyedCache


def spinning(started: threading.Event, release: threading.Event):
    def compute(progress):
        started.set()
        while not release.wait(0.01):
            progress(0.5, "working")  # a Cancelled raised here stops the job
        return "done"
    return compute


@pytest.fixture
def pool():
    p = jobs.JobPool(workers=1, name="test-jobs")
    yield p
    p.shutdown(5)


def test_places_are_capped_per_student_and_overall(pool):
    cache, release = KeyedCache("t", 16), threading.Event()
    started = threading.Event()
    pool.max_per_waiter, pool.max_queued = 2, 3
    pool.submit(cache, "a1", spinning(started, release), waiter="A")
    started.wait(10)
    pool.submit(cache, "a2", spinning(threading.Event(), release), waiter="A")
    with pytest.raises(jobs.QueueFull, match="already have 2"):
        pool.submit(cache, "a3", spinning(threading.Event(), release), waiter="A")
    joined, _ = pool.submit(cache, "a2", spinning(threading.Event(), release), waiter="B")  # joining is free
    assert joined is not None and "B" in joined.waiters
    for k in ("b1", "c1"):
        pool.submit(cache, k, spinning(threading.Event(), release), waiter=k)
    with pytest.raises(jobs.QueueFull, match="queue for heavy computations is full"):
        pool.submit(cache, "d1", spinning(threading.Event(), release), waiter="D")
    release.set()


def test_jobs_of_sessions_that_left_are_cancelled_after_the_grace(pool):
    cache, release, started = KeyedCache("t", 16), threading.Event(), threading.Event()
    gone, pool.max_per_waiter = {"ghost"}, 5
    pool.alive = lambda waiter: waiter not in gone
    running, _ = pool.submit(cache, "heavy-1", spinning(started, release), waiter="ghost")
    started.wait(10)
    queued, _ = pool.submit(cache, "heavy-2", spinning(threading.Event(), release), waiter="ghost")
    shared, _ = pool.submit(cache, "heavy-3", spinning(threading.Event(), release), waiter="ghost")
    pool.submit(cache, "heavy-3", spinning(threading.Event(), release), waiter="student")  # someone still waits
    assert pool.reap(now=1000.0) == 0  # just gone: maybe a network blip
    assert pool.reap(now=1000.0 + jobs.GRACE_S) == 2  # the running ghost job and the queued one
    with pytest.raises(Cancelled):
        queued.result(timeout=10)
    with pytest.raises(Cancelled):
        running.result(timeout=10)  # stopped at its next progress report
    assert not shared.cancel_requested and shared.waiters == {"student"}
    release.set()
    assert shared.result(timeout=30) == "done"
    fresh, _ = pool.submit(cache, "new", lambda p: "quick", waiter="newcomer")
    assert fresh.result(timeout=30) == "quick"


def test_a_failing_liveness_probe_keeps_jobs(pool):
    cache, release, started = KeyedCache("t", 16), threading.Event(), threading.Event()
    pool.alive = lambda waiter: 1 / 0
    job, _ = pool.submit(cache, "k", spinning(started, release), waiter="A")
    assert pool.reap(now=0.0) == 0 and pool.reap(now=1e6) == 0 and not job.cancel_requested
    release.set()
    assert job.result(timeout=30) == "done"


def test_six_sessions_of_one_client_hold_at_most_its_cap_and_another_client_gets_a_place(pool):
    """N66 by one machine: six tabs (sessions) opening heavy links. Each tab stays under its own cap of 2, but
    together they hold at most the client's cap; a student at another address still gets a queue place."""
    cache, release, started = KeyedCache("t", 64), threading.Event(), threading.Event()
    pool.max_per_waiter, pool.max_per_client, pool.max_queued = 2, 4, 24
    held, refused = [], []
    for tab in range(6):
        for n in range(2):
            try:
                job, _ = pool.submit(cache, f"tab{tab}-{n}", spinning(started, release), waiter=f"tab{tab}",
                                     client="10.0.0.5")
                held.append(job)
            except jobs.QueueFull as exc:
                refused.append(str(exc))
    assert len(held) == 4 and len(refused) == 8
    assert all("Your computer already has 4" in r for r in refused)
    other, _ = pool.submit(cache, "other", spinning(threading.Event(), release), waiter="student", client="10.0.0.9")
    assert other is not None and not other.done
    for job in held:  # a tab that withdraws frees its client's places
        job.cancel(next(iter(job.waiters)))
    again, _ = pool.submit(cache, "tab5-again", lambda p: "quick", waiter="tab5", client="10.0.0.5")
    release.set()
    assert again.result(timeout=30) == "quick" and other.result(timeout=30) == "done"


class FakeClientContext:
    def __init__(self, remote_ip, headers=()):
        self.remote_ip, self.headers, self.cookies = remote_ip, list(headers), {}


@pytest.mark.parametrize("peer, headers, expected", [
    ("127.0.0.1", [("X-Forwarded-For", "10.1.2.3")], "10.1.2.3"),  # behind our HAProxy: the address it appended
    ("127.0.0.1", [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "10.1.2.3")], "10.1.2.3"),  # forged first
    ("::1", [("X-Forwarded-For", "6.6.6.6, 10.1.2.3")], "10.1.2.3"),
    ("127.0.0.1", [], "local"),  # a browser on the server's own machine
    ("192.168.0.7", [("X-Forwarded-For", "6.6.6.6")], "192.168.0.7"),  # direct: a header cannot make a new client
])
def test_the_client_is_the_address_our_proxy_saw(monkeypatch, peer, headers, expected):
    import streamlit.runtime.context as context

    from dashboard import resources

    monkeypatch.setattr(context, "_get_client_context", lambda: FakeClientContext(peer, headers))
    assert resources._client_id() == expected


def test_no_browser_connection_means_no_client_cap():
    from dashboard import resources

    assert resources._client_id() is None


def test_the_client_cap_setting(monkeypatch):
    for value, cap in (("", jobs.MAX_PER_CLIENT), ("8", 8), ("0", None), ("lots", jobs.MAX_PER_CLIENT)):
        monkeypatch.setenv("DASHBOARD_JOBS_PER_CLIENT", value)
        assert jobs.per_client_cap() == cap


def test_the_classroom_proxy_appends_the_client_address():
    from serving import classroom

    assert "option forwardfor" in classroom.haproxy_config("127.0.0.1", 8000, [("w1", 8001)])
