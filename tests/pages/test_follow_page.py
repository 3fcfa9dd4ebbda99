"""Following the lecturer inside one process (the in-process room store, as under `make run`): students
follow by default, the presenter's secret gives "Presenting", a wrong one does not and leaves the URL,
the presenter's page and control reach a student's next run, and a student's own change asks instead
of fighting. The cross-worker version with Redis, HAProxy and Chromium is tests/browser/test_follow.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "apptest-presenter-secret"


@pytest.fixture
def room(monkeypatch):
    from dashboard import follow

    monkeypatch.setenv(follow.SECRET_ENV, SECRET)
    monkeypatch.delenv(follow.REDIS_ENV, raising=False)
    follow.hub.clear()
    yield follow
    follow.hub.clear()


def _app() -> AppTest:
    return AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=180)


def _text(at) -> str:
    return " ".join(m.value for m in at.markdown) + " " + " ".join(c.value for c in at.caption)


def test_presenter_secret_students_and_a_wrong_secret(room):
    presenter = _app()
    presenter.query_params["presenter"] = SECRET
    presenter.run()
    assert not presenter.exception
    assert "Presenting" in _text(presenter) and "presenter" not in presenter.query_params
    assert any(b.label == "Bring everyone back" for b in presenter.button)

    wrong = _app()
    wrong.query_params["presenter"] = SECRET[:-1] + "X"
    wrong.run()
    assert not wrong.exception and "presenter" not in wrong.query_params
    assert "Presenting" not in _text(wrong) and "Following the lecturer" in _text(wrong)
    assert "not valid" in _text(wrong) and SECRET not in _text(wrong)
    assert not any(b.label == "Bring everyone back" for b in wrong.button)


def test_a_student_follows_the_presenters_view_and_is_asked_after_its_own_change(room):
    presenter = _app()
    presenter.query_params["presenter"] = SECRET
    presenter.run()
    student = _app()
    student.run()
    assert "Following the lecturer" in _text(student)

    presenter.switch_page(str(ROOT / "pages" / "fcn_upsampling.py")).run()
    presenter.slider(key="up_factor").set_value(4).run()
    assert presenter.query_params.get("up_factor") in ("4", ["4"])
    student.run()  # in a server, the room's listener requests this run
    assert not student.exception
    assert student.slider(key="up_factor").value == 4
    assert student.query_params.get("up_factor") in ("4", ["4"])

    student.slider(key="up_factor").set_value(6).run()  # the student's own change: asked, not overridden
    assert student.slider(key="up_factor").value == 6
    assert "You changed the view while following the lecturer" in " ".join(w.value for w in student.warning)
    next(b for b in student.button if b.label == "Catch up").click().run()
    student.run()
    assert student.slider(key="up_factor").value == 4


def test_a_room_store_restarted_empty_is_a_new_life_followers_still_follow(room):
    """Redis restarted without persistence numbers the room's versions from 1 again: the presenter's next
    page is version 1 of a new life, which a student that loaded version 1 before must still load (CI saw
    a student stay behind when it compared the version alone)."""
    presenter = _app()
    presenter.query_params["presenter"] = SECRET
    presenter.run()  # Home, version 1
    student = _app()
    student.run()  # loads version 1
    store = room.hub().store
    assert store.state(room.hub().default_room)["version"] == 1
    with store._lock:
        store._rooms.clear()  # what a Redis restarted empty looks like
    presenter.switch_page(str(ROOT / "pages" / "fcn_upsampling.py")).run()
    assert store.state(room.hub().default_room)["version"] == 1
    student.run()  # in a server, the room's listener requests this run
    assert not student.exception
    assert student.slider(key="up_factor").value == presenter.slider(key="up_factor").value
    assert not any("You changed the view" in w.value for w in student.warning)  # followed, not asked


def test_a_click_question_on_the_grad_cam_image(room):
    """The presenter opens "click where the heat will be" on the Grad-CAM page's image: the room store gets
    the image and the computed Grad-CAM grid, a student sees the clickable image, clicks arrive as a heat
    on the presenter's screen, and "Reveal" shows the computed map with the number of hits."""
    from core import questions

    presenter = _app()
    presenter.query_params["presenter"] = SECRET
    presenter.run()
    presenter.switch_page(str(ROOT / "pages" / "cnn_attribution.py")).run()
    assert not presenter.exception
    titles = [q["prompt"] for q in questions.for_page("grad-cam")]
    click = next(i for i, q in enumerate(questions.for_page("grad-cam")) if q.get("kind") == "click")
    presenter.selectbox(key="_follow_pick_grad-cam").set_value(click).run()
    next(b for b in presenter.button if b.label == "Ask the room").click().run()
    assert not presenter.exception
    hub = room.hub()
    state = hub.store.state(hub.default_room)
    question = state["question"]
    assert question["kind"] == "click" and question["prompt"] == titles[click]
    heat = question["heat"]
    assert len(heat) == questions.CLICK_GRID and max(max(r) for r in heat) == 1.0  # a computed map, scaled
    assert question["about"] in presenter.selectbox(key="attr_class").options
    assert "0 clicks" in _text(presenter)

    student = _app()
    student.run()  # follows onto the Grad-CAM page and sees the question
    assert not student.exception
    assert any("Click once on the image" in c.value for c in student.caption)

    fs = room.Follow(room=hub.default_room)  # a click as the student's chart selection delivers it
    hottest = max(((r, c) for r in range(len(heat)) for c in range(len(heat))), key=lambda rc: heat[rc[0]][rc[1]])
    assert room._record_click(hub, fs, question, {"point_index": hottest[0] * len(heat) + hottest[1]}) == list(hottest)
    assert room._record_click(hub, fs, question, {"point_index": 10 ** 6}) is None  # not a cell of the grid
    hub.store.answer(hub.default_room, question["id"], "another-browser", [0, 0])
    presenter.run()
    assert "2 clicks" in _text(presenter)
    next(b for b in presenter.button if b.label == "Reveal the answer").click().run()
    assert not presenter.exception
    hits = questions.click_hits(question, hub.store.answers(hub.default_room, question["id"]))
    assert f"{hits[0]} of 2 clicks on the hot cells" in _text(presenter) and hits[0] >= 1
    student.run()
    assert any("Answer:" in s.value for s in student.success)


def test_make_run_prints_a_presenter_link_with_a_fresh_secret(monkeypatch, capsys):
    """`make run` passes --presenter: one process, the in-process room store, a fresh secret unless one is set."""
    from dashboard import follow
    from serving import serve

    monkeypatch.delenv(follow.SECRET_ENV, raising=False)
    link = serve.print_presenter_link("0.0.0.0", 8502)
    secret = follow.configured_secrets()[0]
    assert len(secret) >= 20 and link == f"http://127.0.0.1:8502/?presenter={secret}"
    assert f"Presenter: {link}" in capsys.readouterr().out
    serve.print_presenter_link("127.0.0.1", 8502)
    assert follow.configured_secrets() == [secret]  # set once: the same secret, not a second room

    monkeypatch.setenv(follow.SECRET_ENV, "the-lecturers-own-secret")
    assert serve.print_presenter_link("127.0.0.1", 8501).endswith("?presenter=the-lecturers-own-secret")
