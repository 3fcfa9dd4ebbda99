"""Figures the lecture pages add (data in, Figure out, no Streamlit calls), next to dashboard/figures.py."""

from __future__ import annotations

import plotly.graph_objects as go

SKIPPED = "#9ca3af"


def token_scores_marked(sequence: list[dict], title: str = "") -> go.Figure:
    """Per-token sentiment bars in the sentence's order; a token the embedding does not know is drawn as a
    grey marker at 0 labelled "skipped" (it does not count in the sentence's score, and the room should see
    that it was left out, not that it scored 0)."""
    words = [t["token"] for t in sequence]
    xs = list(range(len(words)))
    known = [(x, t) for x, t in zip(xs, sequence, strict=True) if t["score"] is not None]
    skipped = [(x, t) for x, t in zip(xs, sequence, strict=True) if t["score"] is None]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=[x for x, _ in known], y=[t["score"] for _, t in known],
                         text=[t["token"] for _, t in known], textposition="outside", name="scored",
                         marker_color=["#16a34a" if t["score"] > 0 else "#dc2626" for _, t in known],
                         hovertemplate="%{text}: %{y:+.3f}<extra></extra>"))
    if skipped:
        fig.add_trace(go.Scatter(x=[x for x, _ in skipped], y=[0.0] * len(skipped), mode="markers+text",
                                 marker=dict(symbol="x", size=14, color=SKIPPED), name="skipped",
                                 text=["skipped"] * len(skipped), textposition="top center",
                                 textfont=dict(color=SKIPPED),
                                 hovertext=[f"{t['token']}: not in the embedding, skipped" for _, t in skipped],
                                 hoverinfo="text"))
    fig.update_layout(title=title or None, height=340, yaxis_title="log P(pos) − log P(neg)",
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10), showlegend=bool(skipped),
                      legend=dict(orientation="h", y=1.08, x=1, xanchor="right"))
    fig.update_xaxes(tickvals=xs, ticktext=[w if t["score"] is not None else f"<i>{w}</i> ✗"
                                            for w, t in zip(words, sequence, strict=True)])
    fig.add_hline(y=0, line_color=SKIPPED)
    return fig
