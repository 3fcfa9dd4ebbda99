"""Shareable views (issue #15, point 8): every page keeps its controls in the URL and restores them.

Each page is opened from a link carrying one of its controls at a non-default value (chosen so the
page does no more work than with its defaults): the control shows that value and the link keeps it;
then the control is moved back to its default and the parameter leaves the URL. Hostile link values
are clamped or ignored with a note in the sidebar, never an exception. Lecture mode's ``?lecture=1``
and the neuron gallery's own ``?layer=&channel=`` keep working.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.conftest import APP, page_path

# (page file, widget kind, key, value in the link, the widget's value then, its default)
ROUND_TRIPS = [
    ("racist_ai.py", "text_input", "sent_text", "My name is Shaniqua", "My name is Shaniqua",
     "My name is Emily and I love this restaurant"),
    ("bias_subspace.py", "slider", "proj_n", "20", 20, 15),
    ("bias_measures.py", "slider", "an_n", "12", 12, 30),
    ("bias_debias.py", "slider", "deb_n", "6", 6, 10),
    ("bias_evaluation.py", "select_slider", "weat_perm", "1000", 1000, 10_000),
    ("soft_debias.py", "select_slider", "soft_steps", "50", 50, 300),
    ("beyond_gender.py", "select_slider", "weat_n", "1000", 1000, 10_000),
    ("cnn_tanks.py", "selectbox", "tanks_inf_class", "truck", "truck", "tank"),
    ("cnn_activations.py", "slider", "act_max", "8", 8, 64),
    ("cnn_ascent.py", "slider", "asc_count", "2", 2, None),
    ("cnn_dream.py", "slider", "dream_iter", "5", 5, None),
    ("cnn_attribution.py", "slider", "attr_alpha", "0.3", 0.3, 0.5),
    ("fcn_upsampling.py", "text_input", "tc_kernel", "1, 2", "1, 2", "x, y, z"),
    ("fcn_segmentation.py", "slider", "seg_seed", "1001", 1001, 1000),
    ("det_rcnn.py", "slider", "inst_conf", "0.7", 0.7, 0.5),
    ("det_yolo.py", "slider", "det_conf", "0.6", 0.6, 0.5),
    ("det_anchors_loss.py", "slider", "loss_example", "5", 5, 3),
]


def open_with(query: dict, file: str, first: dict | None = None) -> AppTest:
    """A browser opening a link to ``file``'s page with ``query``. (AppTest's first run is always the
    default page, so the session starts there, with ``first`` as its query string, then follows the link.)"""
    at = AppTest.from_file(APP, default_timeout=300)
    for k, v in (first or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page(page_path(file))
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def widget(at: AppTest, kind: str, key: str):
    return getattr(at, kind)(key=key)


# Pages whose defaults load a self-trained model (the tanks CNN, the FCN, the tiny YOLO): the trained tier.
TRAINED_PAGES = {"cnn_tanks.py", "fcn_segmentation.py", "det_yolo.py", "det_anchors_loss.py", "det_rcnn.py"}


@pytest.mark.parametrize("file, kind, key, link, value, default",
                         [pytest.param(*r, marks=pytest.mark.trained) if r[0] in TRAINED_PAGES else r for r in ROUND_TRIPS],
                         ids=[r[0] for r in ROUND_TRIPS])
def test_each_page_round_trips_a_control_through_the_url(file, kind, key, link, value, default):
    at = open_with({key: link}, file)
    assert widget(at, kind, key).value == value  # restored from the link
    assert at.query_params.get(key) == link  # and kept in it
    assert not at.sidebar.warning, [w.value for w in at.sidebar.warning]
    assert any(key in c.value for c in at.sidebar.code)  # the "Copy link to this view" box has it
    if default is not None:
        widget(at, kind, key).set_value(default).run()
        assert not at.exception
        assert key not in at.query_params  # back at its default: left out of the link


def test_a_changed_control_goes_into_the_url_and_a_new_session_restores_the_whole_view():
    at = open_with({}, "fcn_upsampling.py")
    assert not [k for k in at.query_params if k != "lecture"]  # defaults: a short link
    at.slider(key="up_factor").set_value(4)
    at.radio(key="tc_stride").set_value(2)
    at.text_input(key="tc_input").set_value("p, q, r, s")
    at.number_input(key="t2_k").set_value(4)
    at.radio(key="tc_construction").set_value("valid")
    at.run()
    link = {k: at.query_params[k] for k in at.query_params}
    assert link == {"up_factor": "4", "tc_stride": "2", "tc_input": "p, q, r, s", "t2_k": "4",
                    "tc_construction": "valid"}
    again = open_with(link, "fcn_upsampling.py")
    assert again.slider(key="up_factor").value == 4 and again.radio(key="tc_stride").value == 2
    assert again.text_input(key="tc_input").value == "p, q, r, s" and again.number_input(key="t2_k").value == 4
    assert again.radio(key="tc_construction").value == "valid"
    assert "`q*x + r*y + s*z`" in " ".join(m.value for m in again.markdown)  # the page computed with the restored input


HOSTILE = [
    # (query, widget kind, key, value the widget shows, words of the note; None: no note)
    ({"up_factor": "1e308"}, "slider", "up_factor", 8, "set to 8"),
    ({"up_factor": "-999999999999999999999"}, "slider", "up_factor", 1, "set to 1"),
    ({"up_factor": "nan"}, "slider", "up_factor", 2, "not a finite number"),
    ({"up_factor": "inf"}, "slider", "up_factor", 2, "not a finite number"),
    ({"up_factor": "two"}, "slider", "up_factor", 2, "not a number"),
    ({"up_factor": "9" * 10_000}, "slider", "up_factor", 2, "not a finite number"),
    ({"up_factor": "2.6"}, "slider", "up_factor", 3, "set to 3"),
    ({"t2_k": "3.5"}, "number_input", "t2_k", 4, "set to 4"),
    ({"t2_i": "-5"}, "number_input", "t2_i", 1, "set to 1"),
    ({"tc_stride": "3"}, "radio", "tc_stride", 1, "not one of its options"),
    ({"tc_construction": "<script>alert(1)</script>"}, "radio", "tc_construction", "slide", "not one of its options"),
    ({"up_keras": "lanczos"}, "radio", "up_keras", "nearest", "not one of its options"),
    ({"tc_kernel": "x" * 10_240}, "text_input", "tc_kernel", "x" * 2000, "cut to 2000 characters"),
    ({"tc_kernel": ""}, "text_input", "tc_kernel", "", None),
    ({"no_such_control": "1"}, "slider", "up_factor", 2, "no control of this page"),
    ({"_urlstate": "1"}, "slider", "up_factor", 2, "no control of this page"),
]


@pytest.mark.parametrize("query, kind, key, shown, note", HOSTILE, ids=[str(h[0])[:40] for h in HOSTILE])
def test_hostile_link_values_are_clamped_or_ignored_with_a_note(query, kind, key, shown, note):
    at = open_with(query, "fcn_upsampling.py")
    assert widget(at, kind, key).value == shown
    warnings = [w.value for w in at.sidebar.warning]
    if note is None:
        assert not warnings
    else:
        assert len(warnings) == 1 and note in warnings[0], warnings
        assert len(warnings[0]) < 400  # quotes at most a short excerpt of the hostile value
    bad = [k for k in query if k != key or (note and "not" in note)]
    for k in bad:  # a value that could not be used does not stay in the link
        assert at.query_params.get(k) in (None, str(shown)), (k, at.query_params.get(k))


def test_lecture_mode_and_the_gallery_keep_their_own_parameters():
    at = open_with({"lecture": "1", "up_factor": "3"}, "fcn_upsampling.py", first={"lecture": "1"})
    assert at.toggle(key="lecture_mode").value is True
    assert at.query_params.get("lecture") == "1" and at.query_params.get("up_factor") == "3"
    at.slider(key="up_factor").set_value(2).run()
    assert at.query_params.get("lecture") == "1" and "up_factor" not in at.query_params

    gallery = open_with({"layer": "not-a-layer", "channel": "99999"}, "cnn_gallery.py")
    assert not gallery.sidebar.warning  # the gallery's own parameters are the gallery's business
    assert gallery.query_params.get("layer") != "not-a-layer"  # which it clamps itself, as before
    assert any("channel" in k for k in gallery.query_params)


def _tabs_app():
    """A page with keyed, state-tracking tabs, run inside the URL-state machinery as the entrypoint runs pages."""
    import streamlit as st

    from dashboard import components, urlstate

    urlstate.install()
    components.lecture_mode()
    components.sync_lecture_query_param()
    placeholder = st.sidebar.empty()
    with urlstate.page_run("tabs-demo"):
        st.slider("n", 0, 10, 3, key="demo_n")
        a, b, c = st.tabs(["First", "Second", "Third"], key="demo_tab", on_change="rerun")
        for tab, name in ((a, "First"), (b, "Second"), (c, "Third")):
            if tab.open:
                with tab:
                    st.markdown(f"open: {name}")
    urlstate.sidebar(placeholder, "tabs-demo")


def _links(at: AppTest) -> list[str]:
    return [c.value for c in at.sidebar.code]


def test_a_copied_link_keeps_the_open_tab_and_opens_the_student_view_unless_asked():
    """Rehearsal: the copied Grad-CAM link lost the open tab and always carried lecture=1."""
    at = AppTest.from_function(_tabs_app, default_timeout=60)
    at.query_params["demo_tab"] = "Third"
    at.query_params["lecture"] = "1"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m.value for m in at.markdown if m.value.startswith("open:")] == ["open: Third"]  # restored
    assert at.query_params.get("demo_tab") == "Third"  # and kept
    links = _links(at)
    assert len(links) == 2  # lecture mode: the student link and the projector link
    assert "demo_tab=Third" in links[0] and "lecture" not in links[0]
    assert "demo_tab=Third" in links[1] and "lecture=1" in links[1]

    fresh = AppTest.from_function(_tabs_app, default_timeout=60)
    fresh.query_params["demo_tab"] = "Nowhere"
    fresh.run()
    assert not fresh.exception
    assert [m.value for m in fresh.markdown if m.value.startswith("open:")] == ["open: First"]
    assert any("not one of its options" in w.value for w in fresh.sidebar.warning)
    assert "demo_tab" not in fresh.query_params  # the first tab is the default: left out
    assert len(_links(fresh)) == 1 and "lecture" not in _links(fresh)[0]  # student mode: one link, no lecture=1
