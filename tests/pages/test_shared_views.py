"""A room shares one computation per view: the second student's run of a page replays what the first
computed and drew (named cached functions + replayed sections), it does not call the core again."""

from __future__ import annotations

import pytest
import streamlit as st

from tests.pages.conftest import open_page


class Counter:
    """Wraps ``module.name`` and counts the calls."""

    def __init__(self, monkeypatch, module, name: str):
        self.calls = 0
        original = getattr(module, name)

        def counted(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)


@pytest.fixture
def fresh_caches():
    """Start from empty result caches and replays (models stay loaded: they are not what is measured)."""
    from dashboard import resources

    for name in ("views", "heatmap"):
        resources.CACHES[name].clear()
    st.cache_data.clear()
    yield


def test_second_session_of_activations_replays_instead_of_recomputing(app, monkeypatch, fresh_caches):
    from core.vision import activations
    from dashboard import figures

    maps = Counter(monkeypatch, activations, "activation_maps")
    stats = Counter(monkeypatch, activations, "network_stats")
    grid = Counter(monkeypatch, figures, "activation_grid")
    first = open_page(app, "cnn_activations.py")
    assert maps.calls >= 1 and stats.calls == 1 and grid.calls >= 1  # the first student computes and draws
    seen = (maps.calls, stats.calls, grid.calls)
    second = open_page(app, "cnn_activations.py")
    assert (maps.calls, stats.calls, grid.calls) == seen  # the second one does neither
    # and sees the same page: the same charts and tables, the same text
    assert len(second.get("plotly_chart")) == len(first.get("plotly_chart")) >= 3
    assert [m.value for m in second.caption] == [m.value for m in first.caption]


def test_second_session_of_grad_cam_replays_and_a_new_setting_computes_once(app, monkeypatch, fresh_caches):
    from core.vision import attribution

    calls = Counter(monkeypatch, attribution, "attribute")
    first = open_page(app, "cnn_attribution.py")
    computed = calls.calls
    assert computed >= 2  # the class and the contrast class (and the guided tab's maps)
    second = open_page(app, "cnn_attribution.py")
    assert calls.calls == computed
    assert [i.value for i in second.subheader] == [i.value for i in first.subheader]
    # a student's own setting: computed once, then every other student asking for it gets the replay
    for _ in range(2):
        at = open_page(app, "cnn_attribution.py")
        at.selectbox(key="attr_method").set_value("gradcampp").run()
        assert not at.exception
    assert calls.calls == computed + 2  # Grad-CAM++ for the two classes, once, for both students
