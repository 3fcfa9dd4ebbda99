"""Figure builders: data in, plotly Figure out. No Streamlit calls here."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

FONT = dict(family="Inter, Helvetica, Arial, sans-serif", size=14)


def image_figure(image: np.ndarray, title: str = "", height: int = 420) -> go.Figure:
    """An RGB uint8 image as a plotly figure whose hover shows (x, y) and the RGB value."""
    fig = go.Figure(go.Image(z=image, hovertemplate="x=%{x}, y=%{y}<br>RGB=%{z}<extra></extra>"))
    fig.update_layout(title=title or None, height=height, margin=dict(l=0, r=0, t=40 if title else 0, b=0),
                      font=FONT)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    return fig


def channel_histogram(image: np.ndarray, title: str = "Pixel values per channel") -> go.Figure:
    """Histogram of the R, G, B channels of an (H, W, 3) uint8 image."""
    fig = go.Figure()
    bins = np.arange(257)
    for c, colour in enumerate(["red", "green", "blue"]):
        counts, _ = np.histogram(image[..., c], bins=bins)
        fig.add_trace(go.Scatter(x=bins[:-1], y=counts, name=colour, line=dict(color=colour), mode="lines"))
    fig.update_layout(title=title, xaxis_title="value", yaxis_title="pixels", height=280,
                      margin=dict(l=10, r=10, t=40, b=10), font=FONT)
    return fig
