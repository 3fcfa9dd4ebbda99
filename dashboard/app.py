"""Entrypoint: ``streamlit run dashboard/app.py``.

Sets the page config (lecture mode: wide layout, larger type, collapsed sidebar), builds the
navigation over ``pages/`` grouped by lecture section, draws the sidebar (compute device, lecture
mode toggle, loaded models) and runs the selected page.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # streamlit puts dashboard/ on the path, pages import core/ too
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import components, follow, navigation, resources, theme, urlstate  # noqa: E402
from dashboard import lecture as lecture_path  # noqa: E402
from serving.patches import patch_streamlit  # noqa: E402  (Streamlit's internals: one module, version-checked)

# No Keras clear_session() after every rerun (~200 ms per slider move), and a client's clear_cache
# message clears its own session only. serving/serve.py applies this before the server starts too.
patch_streamlit()


def sidebar():
    """The sidebar; returns the placeholder for the "Loaded" line, filled again after the page ran
    (so a model the page just loaded is listed on this very run, not the next)."""
    with st.sidebar:
        st.toggle("Lecture mode", key=components.LECTURE_KEY,
                  help="Larger type, wide layout, control panels collapsed. Kept in the URL as ?lecture=1.")
        device = resources.device_info()
        st.caption(f"Compute device: **{device.label}** · TensorFlow {device.tensorflow}")
        return st.empty()


def show_loaded(placeholder) -> None:
    loaded = resources.loaded_resources()
    if loaded:
        placeholder.caption("Loaded: " + ", ".join(f"{name} ({where})" for name, where in loaded.items()))
    else:
        placeholder.caption("Loaded: no model or embedding yet")


def main() -> None:
    lecture = components.lecture_mode()
    st.set_page_config(
        page_title="CNN Visualization & Fully Convolutional Learning",
        page_icon=":material/visibility:",
        layout="wide" if lecture else "centered",
        initial_sidebar_state="collapsed" if lecture else "auto",
    )
    if lecture:
        st.html(components.LECTURE_CSS)
        st.html(theme.CSS)  # labels wrap, metric values grow, a compact top
    st.html(theme.WRAP_CSS)  # navigation and Home labels wrap, in every session
    theme.install()  # lecture mode: every chart drawn with the projector template (a copy per session)
    pages = {section: [copy.copy(page) for page in page_list] for section, page_list in navigation.page_objects().items()}
    for page_list in pages.values():
        for page in page_list:
            navigation.PAGE_OBJECTS[page.url_path] = page
    current = st.navigation(pages, expanded=True)  # every page visible: the class follows the agenda
    loaded_line = sidebar()
    link_box = st.sidebar.empty()  # notes about the link's values, and "Copy link to this view"
    show_loaded(loaded_line)  # what is resident now; a page that stops early leaves this
    components.sync_lecture_query_param()
    url_path = current.url_path or next(s.url_path for s in navigation.PAGES if s.default)
    urlstate.install()  # shareable views: every keyed control of the page is kept in the query string
    lecture_path.control(url_path, lecture)  # "Slide k / N ‹ ›": the lecture path, step by step
    resources.withdraw_elsewhere(url_path)  # leaving a page withdraws this session's interest in its jobs there
    try:
        with follow.room(url_path), urlstate.page_run(url_path):  # follow the lecturer (when presenting)
            current.run()
    finally:
        urlstate.sidebar(link_box, url_path)  # also when the page stopped early
    show_loaded(loaded_line)  # and what the page has just loaded


def _profiled(run) -> None:
    """DASHBOARD_PROFILE=DIR (README, Serving a class): this script thread's CPU per page run,
    profiled with cProfile on the thread's own CPU clock and summed per page into DIR/<page>.prof."""
    import cProfile
    import time

    prof = cProfile.Profile(time.thread_time)
    try:
        prof.runcall(run)
    finally:
        import pstats

        page = st.session_state.get("_page_now", "") or "home"
        path = Path(_PROFILE_DIR) / f"{page}.prof"
        stats = _profiles().get(page) if path.exists() else None  # deleting the file starts a new sum
        _profiles()[page] = stats = pstats.Stats(prof) if stats is None else stats.add(prof) or stats
        stats.dump_stats(str(path))


_PROFILE_DIR = os.environ.get("DASHBOARD_PROFILE")
if _PROFILE_DIR:
    # defined only here: this file runs anew on every run, and a cache decorator costs ~2 ms to make
    @st.cache_resource(show_spinner=False)
    def _profiles() -> dict:
        """page -> its summed pstats.Stats, for the whole process (app.py itself runs anew each time)."""
        return {}

    _profiled(main)
else:
    main()
