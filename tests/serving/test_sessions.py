"""Two students on one server: a long job of one never holds up the other (issue #12).

The server is real (``python -m serving.serve`` on a loopback port, warm start off) and the
students speak Streamlit's own websocket protocol (:mod:`serving.student`). Student A starts a
long Deep Dream; while it runs, student B asks the activations page for a *new* image (a cache miss,
which the old process-wide lock made wait for A's dream) and then opens the Setup page, which must
still report A's job as running: B was served while A's job ran, with no clock in the assertion.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from serving import health
from serving.student import Student
from tests.helpers import free_port, run_async

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = dict(os.environ, DASHBOARD_JOB_WORKERS="2")
    proc = subprocess.Popen([sys.executable, "-m", "serving.serve", "--no-warm", "--port", str(port)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    if not health.wait_healthy(url, 120, alive=lambda: proc.poll() is None):
        proc.kill()
        pytest.fail("the dashboard server did not start")
    yield url
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _find(widgets, *labels):
    for label in labels:
        for w in widgets:
            if w.label == label:
                return w
    raise AssertionError(f"none of {labels} among {[w.label for w in widgets]}")


@pytest.mark.slow
def test_a_long_job_of_one_student_does_not_block_another(server):
    async def scenario():
        a = await Student.connect(server)
        b = await Student.connect(server)
        try:
            first_b = await b.open("activations", timeout=300)  # loads TensorFlow and the model
            assert first_b.ok, first_b.summary()
            picker = _find(b.widgets, "Model")
            emotion = next(o for o in picker.options if o.startswith("Emotion CNN"))
            if picker.value != emotion:  # the face finder makes a new image a cache miss
                assert (await b.set_widgets({"Model": emotion}, timeout=300)).ok
            first_a = await a.open("deep-dream", timeout=300)
            assert first_a.ok, first_a.summary()
            # A: the longest dream the page allows
            long_settings = {}
            for labels, pick in ((("Octaves",), max), (("Iterations per octave",), max),
                                 (("Longest side (px)",), max)):
                w = _find(a.widgets, *labels)
                long_settings[w.label] = pick(w.options) if w.options else w.max
            dream = asyncio.create_task(a.set_widgets(long_settings, timeout=900))
            await asyncio.sleep(3)  # A's job is queued in the pool and running
            assert not dream.done()
            sample = _find(b.widgets, "Sample")
            new_image = next(o for o in sample.options if o != sample.value)
            moved = await b.set_widgets({"Sample": new_image}, timeout=300)  # a new image: a cache miss
            assert moved.ok and not moved.exceptions, moved.summary()
            setup = await b.open("setup", timeout=120)
            assert setup.ok, setup.summary()
            running_note = next(t for t in setup.texts if "running," in t)
            assert "1 running" in running_note, running_note  # A's dream was still running all along
            assert not dream.done()
            dream.cancel()
        finally:
            await asyncio.gather(a.close(), b.close(), return_exceptions=True)

    run_async(scenario())
