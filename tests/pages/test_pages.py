"""AppTest: the home page and every registered page run with their defaults, without exceptions."""

from __future__ import annotations

import pytest

from dashboard import navigation
from tests.pages.conftest import page_path

ALL_PAGES = [spec for specs in navigation.pages_by_section().values() for spec in specs]
# Pages whose defaults load a self-trained model (the tanks CNN, the FCN, the tiny YOLO): the trained tier.
TRAINED_PAGES = {"cnn_tanks.py", "fcn_segmentation.py", "det_yolo.py", "det_anchors_loss.py", "det_rcnn.py"}


def test_registry_lists_only_existing_pages():
    for spec in navigation.PAGES:
        assert spec.path.exists(), f"{spec.file} is registered but missing"
    assert [s.file for s in ALL_PAGES if s.default] == ["home.py"]


def home_lectures() -> dict:
    """The agenda dict ``LECTURES`` of pages/home.py, read without running the page."""
    import ast

    from dashboard.navigation import PAGES

    source = next(s.path for s in PAGES if s.file == "home.py").read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "LECTURES" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("pages/home.py has no LECTURES agenda")


@pytest.mark.parametrize("spec", [pytest.param(s, marks=pytest.mark.trained) if s.file in TRAINED_PAGES else s
                                  for s in ALL_PAGES], ids=lambda s: s.file)
def test_page_runs_with_defaults(app, spec):
    at = app()
    at.run()
    if not spec.default:
        at.switch_page(page_path(spec.file))
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, "every page starts with a title"
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "Compute device:" in captions and ("CPU" in captions or "GPU" in captions)


def test_home_presents_both_lectures_and_links_existing_pages(app):
    at = app()
    at.run()
    subheaders = [s.value for s in at.subheader]
    assert any("CNN Visualization" in s for s in subheaders)
    assert any("Fully Convolutional Learning" in s for s in subheaders)
    links = [(pl.proto.page, pl.proto.label) for pl in at.get("page_link")]
    registered = {spec.url_path for spec in ALL_PAGES}
    assert {page for page, _ in links} <= registered, "every link points at a registered page"
    assert any(page == "gender-subspace" and "Man is to computer programmer" in label for page, label in links)
    # every agenda item that names a page is a link to it, labelled with the item; only the items that
    # name no page are plain text (read from pages/home.py's LECTURES, not copied here)
    agenda = [item for lecture in home_lectures().values() for item in lecture["items"]]
    for text, url_path in agenda:
        if url_path is not None:
            assert (url_path, text) in links, f"agenda item {text[:40]!r} does not link to {url_path}"
    plain = {m.value for m in at.markdown}
    assert {f"- {text}" for text, url_path in agenda if url_path is None} <= plain
    assert not {f"- {text}" for text, url_path in agenda if url_path is not None} & plain
    assert {"grad-cam", "tanks-in-trees", "rcnn", "yolo", "yolo-training"} <= {page for page, _ in links}


def test_lecture_mode_from_url_and_persisting_across_pages(app):
    at = app({"lecture": "1"})
    at.run()
    assert at.toggle(key="lecture_mode").value is True
    at.switch_page(page_path("setup.py"))
    at.run()
    assert at.toggle(key="lecture_mode").value is True
    assert at.query_params.get("lecture") in ("1", ["1"])
    at.toggle(key="lecture_mode").set_value(False).run()
    assert "lecture" not in at.query_params
    assert not at.exception


def test_lecture_mode_toggle_sets_url(app):
    at = app()
    at.run()
    assert at.toggle(key="lecture_mode").value is False
    at.toggle(key="lecture_mode").set_value(True).run()
    assert at.query_params.get("lecture") in ("1", ["1"])
    assert not at.exception


def test_setup_page_reports_assets_and_image(app):
    at = app()
    at.run()
    at.switch_page(page_path("setup.py"))
    at.run()
    assert any("offline defaults are present and verified" in s.value for s in at.success)
    assert at.dataframe, "asset table shown"
    assert any("512 x 512 RGB" in c.value for c in at.caption)
    # every sample image goes through the shared picker without error
    for name in ["chelsea", "china", "camera"]:
        at.selectbox(key="setup_image_sample").set_value(name).run()
        assert not at.exception and not at.error


def test_setup_page_lists_the_caches_only_while_their_expander_is_open(app):
    """The cache table's counters change on every run (it cannot be replayed like the other tables), so it
    is computed only for a reader who opened it."""
    at = app()
    at.run()
    at.switch_page(page_path("setup.py")).run()
    assert not any("max_entries" in d.value.columns for d in at.dataframe)
    at.session_state["setup_caches"] = True
    at.run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "max_entries" in d.value.columns)
    assert "views" in set(table["name"]) and "MB" in table.columns


def test_streamlit_no_longer_clears_the_keras_session_after_each_rerun(app):
    """Streamlit's post-run keras.backend.clear_session() cost ~200 ms per slider move; app.py disables it.
    The effect, not the patch: Keras's global state (which clear_session empties) survives two reruns."""
    from keras.src.backend.common import global_state

    global_state.set_global_attribute("suite_rerun_probe", "kept")
    try:
        at = app()
        at.run()
        at.switch_page(page_path("setup.py")).run()
        assert not at.exception
        assert global_state.get_global_attribute("suite_rerun_probe") == "kept"
    finally:
        global_state.set_global_attribute("suite_rerun_probe", None)


def test_sidebar_lists_a_model_on_the_run_that_loaded_it(app):
    """The line is per session: a new session lists nothing, even with models resident in the process."""
    at = app()
    at.run()
    assert any("no model or embedding yet" in c.value for c in at.sidebar.caption)
    at.switch_page(page_path("cnn_activations.py")).run()
    assert any("Loaded:" in c.value and "efficientnet-lite0" in c.value for c in at.sidebar.caption)


def test_setup_page_readiness_checklist_names_what_is_missing(app, monkeypatch):
    """The Setup page's checklist reads the warm start's records (#23): a view that failed or was not
    computed is named; none missing (and every decoder trained) says the class is ready."""
    from core import lecture
    from core.fcn import segmentation as seg
    from serving import serve

    views = lecture.class_views()
    state = serve.WarmupState(state="done")
    state.pages = [{"page": "" if p == "home" else p, "seconds": 0.5, "exceptions": []} for p, q in views if not q]
    state.views = [{"page": p, "query": q, "seconds": 0.5, "exceptions": [], "status": "FINISHED_SUCCESSFULLY"}
                   for p, q in views if q]
    broken = state.views[0]
    broken.update(exceptions=["ValueError: boom"])
    monkeypatch.setattr(serve, "WARMUP", state)
    monkeypatch.setattr(seg, "trained_cards", lambda folder=None: {d: {} for d in seg.DECODERS})
    at = app()
    at.run()
    at.switch_page(page_path("setup.py"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    warning = " ".join(w.value for w in at.warning)
    assert f"{broken['page']}?{broken['query']}" in warning and "Still missing (1)" in warning
    broken.update(exceptions=[])
    at.run()
    assert any("no step computes in front of the class" in s.value for s in at.success)
