"""serving/student.py: the scripted student, against a stub websocket server and a real `streamlit run`.

The real server runs the dashboard on a free loopback port; only light pages are opened (Home and
Upsampling), so the module takes about as long as the app's first import (~15-30 s on a small machine).
"""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.server import serve

from serving.student import (
    Student,
    StudentTimeout,
    Widget,
    encode_widget_value,
    fetch_cookies_sync,
    visit_pages,
)
from tests.helpers import run_async

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------ encoding, no server
@pytest.mark.parametrize(("widget", "value", "field", "wire"), [
    (Widget("a", "slider", "s", value_field="double_array_value", min=1, max=8, data_type="INT", default=2), 3,
     "double_array_value", [3.0]),
    (Widget("a", "slider", "s", value_field="double_array_value", min=0, max=1, default=(0.0, 1.0)), (0.2, 0.4),
     "double_array_value", [0.2, 0.4]),
    (Widget("a", "select_slider", "s", value_field="string_array_value", options=["x", "y"]), "y",
     "string_array_value", ["y"]),
    (Widget("a", "number_input", "n", value_field="int_value", data_type="INT"), 4, "int_value", 4),
    (Widget("a", "number_input", "n", value_field="double_value", data_type="FLOAT"), 0.5, "double_value", 0.5),
    (Widget("a", "selectbox", "b", value_field="string_value", options=["p", "q"]), "q", "string_value", "q"),
    (Widget("a", "radio", "r", value_field="string_value", options=["1", "2"]), "2", "string_value", "2"),
    (Widget("a", "toggle", "t", value_field="bool_value"), True, "bool_value", True),
    (Widget("a", "text_input", "t", value_field="string_value"), "1, 2", "string_value", "1, 2"),
    (Widget("a", "multiselect", "m", value_field="string_array_value", options=["p", "q"]), ["p", "q"],
     "string_array_value", ["p", "q"]),
    (Widget("a", "button", "go", value_field="trigger_value"), True, "trigger_value", True),
])
def test_encode_widget_value(widget, value, field, wire):
    state = encode_widget_value(widget, value)
    assert state.id == "a" and state.WhichOneof("value") == field
    got = getattr(state, field)
    assert (list(got.data) if field.endswith("_array_value") else got) == wire


def test_unclicked_button_and_grid():
    assert encode_widget_value(Widget("b", "button", "go", value_field="trigger_value"), False) is None
    w = Widget("a", "slider", "Factor", value_field="double_array_value", min=1, max=8, step=1, data_type="INT",
               default=2)
    assert w.grid(3) == [1, 5, 8] and w.grid(100) == list(range(1, 9))
    sel = Widget("s", "selectbox", "x", value_field="string_value", options=list("abcde"))
    assert sel.grid(2) == ["a", "e"]


def test_fetch_cookies_reads_set_cookie():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Set-Cookie", "route=worker-2; Path=/; HttpOnly")
            self.send_header("Set-Cookie", "other=1")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        assert fetch_cookies_sync(f"http://127.0.0.1:{httpd.server_port}") == {"route": "worker-2", "other": "1"}
    finally:
        httpd.shutdown()


# ------------------------------------------------------------------------------ a stub Streamlit server
def _fwd(**fields) -> bytes:
    msg = ForwardMsg(**{k: v for k, v in fields.items() if k not in ("run", "path")})
    if "run" in fields:
        msg.metadata.run.script_run_id = fields["run"]
    if "path" in fields:
        msg.metadata.delta_path[:] = fields["path"]
    return msg.SerializeToString()


def _delta(text: str, path: list[int]) -> bytes:
    msg = ForwardMsg()
    msg.delta.new_element.markdown.body = text
    msg.metadata.delta_path[:] = path
    return msg.SerializeToString()


def _slider(path: list[int]) -> bytes:
    msg = ForwardMsg()
    s = msg.delta.new_element.slider
    s.id, s.label, s.min, s.max, s.step = "$$ID-slider", "Factor", 1, 8, 1
    s.default[:] = [2]
    msg.metadata.delta_path[:] = path
    return msg.SerializeToString()


async def _stub_session(ws, seen: dict) -> None:
    seen["cookie"] = ws.request.headers.get("Cookie")
    seen["subprotocol"] = ws.subprotocol
    async for data in ws:
        back = BackMsg()
        back.ParseFromString(data)
        seen.setdefault("reruns", []).append(back.rerun_script)
        if seen.get("silent"):
            continue
        F = ForwardMsg
        await ws.send(_fwd(script_finished=F.FINISHED_SUCCESSFULLY, run="old"))  # left from an earlier run
        await ws.send(_fwd(new_session={"page_script_hash": "h1"}, run="r1"))
        await ws.send(_delta("first pass", [0, 0]))
        await ws.send(_fwd(script_finished=F.FINISHED_EARLY_FOR_RERUN, run="r1"))  # st.rerun()
        await ws.send(_fwd(new_session={"page_script_hash": "h1"}, run="r2"))
        await ws.send(_delta(f"value {list(back.rerun_script.widget_states.widgets)}", [0, 0]))
        await ws.send(_slider([0, 1]))
        await ws.send(_fwd(ref_hash="nothing-cached"))
        await ws.send(_fwd(page_info_changed={"query_string": "a=1"}))
        await ws.send(_fwd(script_finished=F.FINISHED_SUCCESSFULLY, run="r2"))
        await ws.send(_fwd(session_status_changed={"script_is_running": False}))


def test_protocol_against_stub():
    async def main():
        seen: dict = {}
        async with serve(lambda ws: _stub_session(ws, seen), "127.0.0.1", 0, subprotocols=["streamlit"]) as srv:
            port = srv.sockets[0].getsockname()[1]
            student = await Student.connect(f"http://127.0.0.1:{port}", {"route": "w1"})
            r = await student.open("upsampling", query="?x=1", timeout=10)
            assert seen["cookie"] == "route=w1" and seen["subprotocol"] == "streamlit"
            first = seen["reruns"][0]
            assert first.page_name == "upsampling" and first.page_script_hash == "" and first.query_string == "x=1"
            assert r.status == "FINISHED_SUCCESSFULLY" and r.finished and r.ok
            assert r.texts[0].startswith("value") and not r.contains("first pass")  # only the run that counts
            assert r.refs == 1 and r.unresolved_refs == 1 and r.query_string == "a=1"
            assert [w.label for w in r.widgets] == ["Factor"] and r.widget("Factor").value == 2
            r2 = await student.set_widgets({"Factor": 5}, timeout=10)
            sent = {w.id: list(w.double_array_value.data) for w in seen["reruns"][1].widget_states.widgets}
            assert sent == {"$$ID-slider": [5.0]} and seen["reruns"][1].query_string == "a=1"
            assert r2.widget("Factor").value == 5  # the browser keeps the value it sent
            with pytest.raises(ValueError):
                await student.set_widgets({"Factor": 9})
            seen["silent"] = True
            t = time.perf_counter()
            with pytest.raises(StudentTimeout, match="no new_session"):
                await student.rerun(timeout=0.5)
            assert time.perf_counter() - t < 5
            await student.close()

    run_async(main())


async def _stub_form(ws, seen: dict) -> None:
    async for data in ws:
        back = BackMsg()
        back.ParseFromString(data)
        seen.setdefault("reruns", []).append(back.rerun_script)
        msg = ForwardMsg()
        s = msg.delta.new_element.slider
        s.id, s.label, s.form_id, s.min, s.max, s.step = "$$ID-lr", "Steps", "f1", 1, 50, 1
        s.default[:] = [10]
        msg.metadata.delta_path[:] = [0, 0]
        sub = ForwardMsg()
        b = sub.delta.new_element.button
        b.id, b.label, b.form_id, b.is_form_submitter = "$$ID-go", "Run", "f1", True
        sub.metadata.delta_path[:] = [0, 1]
        await ws.send(_fwd(new_session={"page_script_hash": "h"}, run="r"))
        await ws.send(msg.SerializeToString())
        await ws.send(sub.SerializeToString())
        await ws.send(_fwd(script_finished=ForwardMsg.FINISHED_SUCCESSFULLY, run="r"))


def test_form_values_wait_for_submit():
    async def main():
        seen: dict = {}
        async with serve(lambda ws: _stub_form(ws, seen), "127.0.0.1", 0) as srv:
            student = await Student.connect(f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}")
            r = await student.open(timeout=10)
            assert r.widget("Steps").form_id == "f1" and r.widget("Run").kind == "form_submit_button"
            assert await student.set_widgets({"Steps": 20}, submit_forms=False, timeout=10) is None
            assert len(seen["reruns"]) == 1  # a value inside a form alone sends nothing
            await student.click("Run", timeout=10)
            sent = {w.id: w.WhichOneof("value") for w in seen["reruns"][1].widget_states.widgets}
            assert sent == {"$$ID-lr": "double_array_value", "$$ID-go": "trigger_value"}
            assert list(seen["reruns"][1].widget_states.widgets[0].double_array_value.data) == [20.0]
            await student.set_widgets({"Steps": 30}, timeout=10)  # submit_forms: the form's button goes along
            last = {w.id: w for w in seen["reruns"][2].widget_states.widgets}
            assert last["$$ID-go"].trigger_value and list(last["$$ID-lr"].double_array_value.data) == [30.0]
            await student.close()

    run_async(main())


# ------------------------------------------------------------------------------ the real dashboard
@pytest.fixture(scope="module")
def server(dashboard_server):
    # The shared server (tests/conftest.py) runs with a low cache threshold, so cache_messages=True gets
    # ref_hash messages on these small pages; a client that claims no hashes gets full messages whatever
    # the threshold.
    return dashboard_server


def test_home_and_upsampling(server):
    async def main():
        async with await Student.connect(server, fetch_cookies=True) as student:
            home = await student.open("", timeout=180)  # the first run imports the app (TensorFlow too)
            assert home.finished and home.exceptions == [], home.exceptions
            assert home.widget("Lecture mode").kind == "toggle"
            assert {"upsampling", "setup"} <= {p.url_pathname for p in home.pages}
            assert home.contains("CNN Visualization")

            up = await student.open("upsampling", timeout=120)
            assert up.finished and up.exceptions == [], up.exceptions
            assert up.url_pathname == "upsampling" and up.page_script_hash != home.page_script_hash
            factor = up.widget("Factor")
            assert (factor.kind, factor.min, factor.max, factor.value) == ("slider", 1, 8, 2)
            assert {w.kind for w in up.widgets} >= {"slider", "radio", "selectbox", "text_input", "number_input"}
            assert up.contains("nearest x2") and not up.contains("nearest x3")

            moved = await student.set_widgets({"Factor": 3}, timeout=60)
            assert moved.finished and moved.exceptions == []
            assert moved.widget("Factor").value == 3
            assert moved.contains("nearest x3") and not moved.contains("nearest x2")
            assert moved.widget("stride s").value == 2  # the other widgets kept their values

            stride = await student.set_widgets({"stride s": 3}, timeout=60)
            assert stride.contains("= 3(4-1) + 3") and stride.contains("nearest x3")

            again = await student.open("Home", timeout=60)  # the default page by its title
            assert again.finished and again.url_pathname == "" and again.page_script_hash == home.page_script_hash

    run_async(main())


def test_message_cache_refs(server):
    async def main():
        async with await Student.connect(server, cache_messages=True) as student:
            first = await student.open("upsampling", timeout=180)
            second = await student.open("upsampling", timeout=60)
            assert first.finished and second.finished and second.exceptions == []
            assert second.refs > 0 and second.unresolved_refs == 0
            assert second.texts == first.texts and len(second.widgets) == len(first.widgets)

    run_async(main())


def test_visit_pages_from_a_thread_with_a_loop(server):
    done = []

    async def inside_a_running_loop():  # a new thread gets its own event loop
        return visit_pages(server, ["", "upsampling"], timeout=180, progress=lambda *a: done.append(a))

    results = run_async(inside_a_running_loop())
    assert [r.status for r in results] == ["FINISHED_SUCCESSFULLY"] * 2
    assert [r.url_pathname for r in results] == ["", "upsampling"]
    assert done == [(0, 2, "(default page)"), (1, 2, "upsampling"), (2, 2, "")]
    assert all(r.exceptions == [] for r in results)
