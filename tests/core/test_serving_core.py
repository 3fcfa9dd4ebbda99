"""The pieces that make one server safe for a room: named caches, the job pool, the data folder."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from core import datadir
from core.cache import MISSING, Cancelled, KeyedCache, approx_nbytes
from core.jobs import JobPool

# ----------------------------------------------------------------------------- KeyedCache


def test_two_callers_of_one_missing_key_share_one_computation():
    cache = KeyedCache("t-once", register=False)
    calls, gate = [], threading.Event()

    def slow(progress):
        calls.append(1)
        gate.wait(5)
        return 42

    results, waiting = [], threading.Semaphore(0)
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute("k", slow, on_wait=lambda p: waiting.release())))
               for _ in range(5)]
    for t in threads:
        t.start()
    assert all(waiting.acquire(timeout=10) for _ in range(4))  # four callers wait on the fifth's computation
    gate.set()
    for t in threads:
        t.join(5)
    assert results == [42] * 5 and len(calls) == 1


def test_a_slow_key_does_not_block_another_key():
    cache = KeyedCache("t-parallel", register=False)
    gate, started = threading.Event(), threading.Event()
    threading.Thread(target=lambda: cache.get_or_compute("slow", lambda p: started.set() or gate.wait(30)),
                     daemon=True).start()
    assert started.wait(10)
    assert cache.get_or_compute("fast", lambda p: "ok") == "ok"
    # "slow" is still computing (it ends only when the gate opens): "fast" did not wait for it
    assert cache.pending("slow") is not None and not gate.is_set()
    gate.set()


def test_entries_are_bounded_by_count_and_bytes_least_recently_used_first():
    cache = KeyedCache("t-bounds", max_entries=3, max_bytes=10_000, register=False)
    for i in range(3):
        cache.put(i, np.zeros(100, np.uint8))
    cache.lookup(0)  # 0 is now the most recently used
    cache.put(3, np.zeros(100, np.uint8))
    assert cache.lookup(1) is MISSING and cache.lookup(0) is not MISSING and len(cache) == 3
    cache.put("big", np.zeros(9_000, np.uint8))
    assert cache.nbytes <= 10_000 and cache.lookup("big") is not MISSING
    assert cache.evictions >= 2


def test_a_failed_or_abandoned_computation_frees_the_key():
    cache = KeyedCache("t-fail", register=False)
    with pytest.raises(ValueError):
        cache.get_or_compute("k", lambda p: (_ for _ in ()).throw(ValueError("bad")))
    assert cache.pending("k") is None
    assert cache.get_or_compute("k", lambda p: 7) == 7

    # an owner interrupted by a non-Exception (Streamlit's rerun) hands the key to a waiter
    cache2, started, waiting = KeyedCache("t-abandon", register=False), threading.Event(), threading.Event()

    class Rerun(BaseException):
        pass

    def owner():
        def compute(progress):
            started.set()
            assert waiting.wait(10)  # abandon only once the other caller waits on this computation
            raise Rerun()
        with pytest.raises(Rerun):
            cache2.get_or_compute("k", compute)

    t = threading.Thread(target=owner)
    t.start()
    assert started.wait(10)
    assert cache2.get_or_compute("k", lambda p: "taken over", on_wait=lambda p: waiting.set()) == "taken over"
    assert waiting.is_set()  # it did wait, and took over when the owner stopped
    t.join(10)


def test_pending_is_a_progress_callback_that_raises_once_cancelled():
    cache = KeyedCache("t-cancel", register=False)
    pending, owner, _ = cache.claim("k")
    assert owner
    pending(0.5, "half")
    assert (pending.fraction, pending.message) == (0.5, "half")
    pending.waiters.update({"a", "b"})
    assert not pending.cancel("a")  # b still wants it
    assert pending.cancel("b")
    with pytest.raises(Cancelled):
        pending(0.6, "more")


def test_size_estimates_count_arrays_and_nested_containers():
    a = np.zeros((100, 10), np.float32)
    assert approx_nbytes(a) == 4000
    assert approx_nbytes({"x": a, "y": [a, a]}) >= 4000  # shared parts are counted once
    assert approx_nbytes((np.zeros(10), np.zeros(20))) == 240


# ----------------------------------------------------------------------------- JobPool


def test_the_pool_runs_at_most_its_size_and_reports_queue_positions():
    pool = JobPool(2, name="t-pool")
    cache = KeyedCache("t-jobs", register=False)
    running, peak, lock, gate, started = [0], [0], threading.Lock(), threading.Event(), threading.Semaphore(0)

    def job(progress):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        started.release()
        gate.wait(30)
        with lock:
            running[0] -= 1
        return "done"

    pendings = [pool.submit(cache, i, job, waiter="s")[0] for i in range(5)]
    assert started.acquire(timeout=10) and started.acquire(timeout=10)  # two jobs run ...
    assert not started.acquire(timeout=0.5)  # ... and a third does not start while they hold the pool
    assert peak[0] == 2
    assert [pool.position(p) for p in pendings[2:]] == [0, 1, 2]  # jobs ahead of each queued job
    again, _ = pool.submit(cache, 4, job, waiter="t")  # the same key joins the queued job
    assert again is pendings[4] and again.waiters == {"s", "t"}
    gate.set()
    assert [p.result(5) for p in pendings] == ["done"] * 5
    assert peak[0] == 2 and cache.lookup(3) == "done"


def test_a_queued_job_cancelled_by_its_only_waiter_never_runs():
    pool = JobPool(1, name="t-cancel-pool")
    cache = KeyedCache("t-cancel-jobs", register=False)
    gate, ran = threading.Event(), []
    blocker, _ = pool.submit(cache, "block", lambda p: gate.wait(5), waiter="a")
    queued, _ = pool.submit(cache, "queued", lambda p: ran.append(1), waiter="b")
    assert queued.cancel("b")
    gate.set()
    with pytest.raises(Cancelled):
        queued.result(5)
    assert ran == [] and cache.lookup("queued") is MISSING and cache.pending("queued") is None


# ----------------------------------------------------------------------------- the data folder


@pytest.fixture
def data_folder(tmp_path, monkeypatch):
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "glove.txt").write_text("cat 0.1 0.2\n")
    (root / "sub" / "w2v.bin").write_bytes(b"1 2\n")
    (root / ".env").write_text("SECRET=1\n")
    (tmp_path / "outside.txt").write_text("private words\n")
    os.symlink(tmp_path / "outside.txt", root / "link.txt")
    (root / "big.txt").write_bytes(b"x" * (2 * 1024 * 1024))
    monkeypatch.setenv(datadir.ENV_DIR, str(root))
    monkeypatch.setenv(datadir.ENV_MAX_MB, "1")
    return root


def test_server_files_are_off_unless_the_operator_sets_a_folder(monkeypatch):
    monkeypatch.delenv(datadir.ENV_DIR, raising=False)
    assert datadir.list_files() == []
    with pytest.raises(datadir.DataDirError, match="DASHBOARD_DATA_DIR"):
        datadir.read_bytes("anything.txt")


def test_only_listed_files_inside_the_folder_can_be_read(data_folder):
    assert datadir.list_files((".txt", ".bin")) == ["glove.txt", "sub/w2v.bin"]
    assert datadir.read_bytes("sub/w2v.bin") == b"1 2\n"
    for hostile in ["/etc/passwd", "../outside.txt", "sub/../../outside.txt", "link.txt", ".env",
                    "/proc/self/environ", "missing.txt", "sub", "a\x00b", ""]:
        with pytest.raises(datadir.DataDirError) as info:
            datadir.read_bytes(hostile)
        assert "private" not in str(info.value) and "SECRET" not in str(info.value)
    with pytest.raises(datadir.DataDirError, match="above the server's limit"):
        datadir.read_bytes("big.txt")


# ----------------------------------------------------------------------------- keys of uploads


def test_two_embeddings_with_the_same_name_and_size_have_different_keys():
    from core.embeddings.io import Embedding

    rng = np.random.default_rng(0)
    a = Embedding(("he", "she", "private_word_of_a"), rng.normal(size=(3, 4)), name="class.txt")
    b = Embedding(("he", "she", "other_word"), rng.normal(size=(3, 4)), name="class.txt")
    assert a.digest != b.digest and a.digest == Embedding(a.words, a.vectors, name="x").digest


def test_compiled_functions_are_bounded_and_keyed_by_a_uid_not_id():
    from types import SimpleNamespace

    from core.vision import compiled as C

    a, b = SimpleNamespace(uid="model-a"), SimpleNamespace(uid="model-b")
    first = C.compiled(a, ("fn", 0), lambda: object())
    assert C.compiled(a, ("fn", 0), lambda: object()) is first
    assert C.compiled(b, ("fn", 0), lambda: object()) is not first  # another model never gets a's function
    for i in range(3 * C.MAX_ENTRIES):  # a class moving sliders
        C.compiled(a, ("fn", i), lambda: object())
    assert len(C.cache()) <= C.MAX_ENTRIES


def test_loaded_models_carry_distinct_uids():
    from core.vision.zoo import LoadedModel

    args = dict(name="m", title="m", model=None, logits=None, class_names=["a"], preprocessing="unit",
                input_size=(8, 8), channels=3)
    assert LoadedModel(**args).uid != LoadedModel(**args).uid
    assert not hasattr(LoadedModel(**args), "_extractors")  # nothing mutable hangs off shared models


def test_shutdown_stops_running_jobs_at_their_next_report_and_cancels_the_queued():
    """At interpreter exit the pool must not leave a worker inside TensorFlow (that aborts the process):
    shutdown cancels what is queued, stops what runs at its next progress report, and waits for it."""
    pool = JobPool(1, name="shutdown-test")
    cache = KeyedCache("shutdown-test")
    started, reports = threading.Event(), []

    def long_job(progress):
        started.set()
        for i in range(10_000):
            progress(i / 10_000, "working")
            reports.append(i)
            time.sleep(0.01)
        return "finished"

    running, _ = pool.submit(cache, "running", long_job)
    queued, _ = pool.submit(cache, "queued", lambda p: "never")
    assert started.wait(5)
    assert pool.shutdown(timeout=5)
    assert len(reports) < 10_000  # stopped early, not run to the end
    with pytest.raises(Cancelled):
        running.result(1)
    with pytest.raises(Cancelled):
        queued.result(1)
    assert pool.stats()["running"] == 0
