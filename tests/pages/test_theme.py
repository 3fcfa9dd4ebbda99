"""Lecture mode's Plotly template (dashboard/theme.py, #23): a scaled copy, the shared figure untouched."""

from __future__ import annotations

import plotly.graph_objects as go

from dashboard import theme


def figure(n: int = 100) -> go.Figure:
    fig = go.Figure(go.Scatter(x=list(range(n)), y=[(i * 7) % 13 for i in range(n)], mode="markers+text",
                               text=[f"w{i}" for i in range(n)]))
    fig.update_layout(font=dict(size=14), height=300, xaxis_title="x")
    return fig


def test_every_font_grows_and_the_original_is_not_changed():
    fig = figure()
    before = fig.to_json()
    big = theme.lecture_figure(fig)
    assert fig.to_json() == before  # the figure may come from a cache every session shares
    assert big.layout.font.size >= theme.MIN_FONT and big.layout.font.size >= 14 * theme.SCALE - 1
    assert big.layout.xaxis.tickfont.size >= theme.MIN_FONT
    assert big.layout.xaxis.title.font.size >= theme.MIN_FONT
    assert big.data[0].textfont.size >= theme.MIN_FONT
    assert big.layout.height == int(300 * theme.HEIGHT_SCALE)


def test_over_plotted_labels_are_thinned_to_the_extremes():
    big = theme.lecture_figure(figure(100))
    shown = [t for t in big.data[0].text if t]
    assert len(shown) == theme.MAX_LABELS
    assert len(big.data[0].x) == 100  # every point stays, with its label on hover
    assert list(big.data[0].hovertext) == [f"w{i}" for i in range(100)]
    few = theme.lecture_figure(figure(10))
    assert [t for t in few.data[0].text if t] == [f"w{i}" for i in range(10)]


def test_a_copy_styled_ahead_of_time_is_drawn_as_it_is(monkeypatch):
    """A cached lecture copy (the gallery's clickable mosaic) must not be restyled again at draw time:
    fonts and height would grow twice."""
    drawn = []
    chart = theme._wrap(lambda self, fig, *a, **k: drawn.append(fig))
    monkeypatch.setattr(theme.st, "session_state", {theme.LECTURE_KEY: True})
    ready = theme.lecture_copy(figure())
    chart(None, ready)
    assert drawn[-1] is ready and ready.layout.height == int(300 * theme.HEIGHT_SCALE)
    chart(None, figure())  # a plain figure is still restyled
    assert drawn[-1].layout.height == int(300 * theme.HEIGHT_SCALE)
