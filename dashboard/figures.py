"""Figure builders: data in, plotly Figure out. No Streamlit calls here."""

from __future__ import annotations

import numpy as np
import plotly.colors
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


# ----------------------------------------------------------------------------- embedding bias

FEMALE = "#c2410c"
MALE = "#1d4ed8"


def explained_variance_bars(pairs: np.ndarray, random: np.ndarray) -> go.Figure:
    """The paper's comparison: variance explained by the first 10 components, pairs vs random pairs."""
    x = [f"PC{i + 1}" for i in range(len(pairs))]
    fig = go.Figure([
        go.Bar(x=x, y=pairs, name="definitional pairs", marker_color=FEMALE,
               hovertemplate="%{x}: %{y:.1%}<extra>definitional pairs</extra>"),
        go.Bar(x=x, y=random, name="random word pairs", marker_color="#9ca3af",
               hovertemplate="%{x}: %{y:.1%}<extra>random pairs</extra>"),
    ])
    fig.update_layout(barmode="group", yaxis_tickformat=".0%", yaxis_title="share of variance", height=360,
                      margin=dict(l=10, r=10, t=30, b=10), font=FONT, legend=dict(orientation="h", y=1.1))
    return fig


def projection_bars(projections: dict[str, float], n: int = 15, highlight: tuple[str, ...] = (),
                    title: str = "", x_range: tuple[float, float] | None = None,
                    words: list[str] | None = None) -> go.Figure:
    """The n most female (top) and n most male (bottom) words by projection, plus highlighted words.

    With ``words`` the bars are exactly those words in that order (for before/after comparisons).
    """
    ranked = sorted(projections.items(), key=lambda kv: kv[1])
    chosen = dict(ranked[:n] + ranked[-n:]) if words is None else {w: projections[w] for w in words if w in projections}
    for w in highlight:
        if w in projections:
            chosen[w] = projections[w]
    items = sorted(chosen.items(), key=lambda kv: kv[1]) if words is None else list(chosen.items())
    words = [w for w, _ in items]
    values = [v for _, v in items]
    colours = ["#16a34a" if w in highlight else (FEMALE if v > 0 else MALE) for w, v in items]
    fig = go.Figure(go.Bar(x=values, y=words, orientation="h", marker_color=colours,
                           hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    fig.update_layout(title=title or None, height=max(360, 26 * len(words) + 80), xaxis_title="projection on g "
                      "(she +, he -)", margin=dict(l=10, r=10, t=40 if title else 10, b=10), font=FONT)
    if x_range:
        fig.update_xaxes(range=list(x_range))
    return fig


def projection_scatter(words: list[str], x: np.ndarray, y: np.ndarray, y_title: str,
                       highlight: tuple[str, ...] = ()) -> go.Figure:
    colours = ["#16a34a" if w in highlight else (FEMALE if v > 0 else MALE) for w, v in zip(words, x, strict=True)]
    fig = go.Figure(go.Scatter(x=x, y=y, mode="markers+text", text=words, textposition="top center",
                               textfont=dict(size=10), marker=dict(color=colours, size=7),
                               hovertemplate="%{text}<br>gender: %{x:.3f}<br>second axis: %{y:.3f}<extra></extra>"))
    fig.update_layout(xaxis_title="gender direction (she +, he -)", yaxis_title=y_title, height=560,
                      margin=dict(l=10, r=10, t=10, b=10), font=FONT)
    fig.add_vline(x=0, line_color="#9ca3af")
    return fig


def clustering_scatter(coords: np.ndarray, original_bias: np.ndarray, words: tuple[str, ...], title: str) -> go.Figure:
    lim = float(np.max(np.abs(original_bias))) or 1.0
    fig = go.Figure(go.Scatter(
        x=coords[:, 0], y=coords[:, 1], mode="markers", text=list(words),
        marker=dict(color=original_bias, colorscale=[[0, MALE], [0.5, "#f3f4f6"], [1, FEMALE]], cmin=-lim, cmax=lim,
                    size=6, colorbar=dict(title="original<br>bias")),
        hovertemplate="%{text}<br>original bias %{marker.color:.3f}<extra></extra>"))
    fig.update_layout(title=title, height=420, margin=dict(l=10, r=10, t=40, b=10), font=FONT,
                      xaxis_title="PC1", yaxis_title="PC2")
    return fig


def before_after_bars(labels: list[str], before: list[float], after: list[float], title: str,
                      y_title: str = "") -> go.Figure:
    fig = go.Figure([go.Bar(x=labels, y=before, name="original", marker_color="#6b7280"),
                     go.Bar(x=labels, y=after, name="debiased", marker_color="#16a34a")])
    fig.update_layout(barmode="group", title=title, yaxis_title=y_title, height=360, font=FONT,
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=1.12))
    return fig


def token_scores(tokens: list[dict], title: str = "") -> go.Figure:
    """Per-token sentiment (log-odds) bars: which words carry the score."""
    words = [t["token"] for t in tokens]
    scores = [t["score"] for t in tokens]
    fig = go.Figure(go.Bar(x=list(range(len(words))), y=scores, text=words, textposition="outside",
                           marker_color=["#16a34a" if s > 0 else "#dc2626" for s in scores],
                           hovertemplate="%{text}: %{y:+.3f}<extra></extra>"))
    fig.update_layout(title=title or None, height=320, yaxis_title="log P(pos) − log P(neg)", font=FONT,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10), showlegend=False)
    fig.update_xaxes(tickvals=list(range(len(words))), ticktext=words)
    fig.add_hline(y=0, line_color="#9ca3af")
    return fig


def group_strip(scores: dict[str, dict[str, float]], title: str = "") -> go.Figure:
    """Box + points per group (each point a word, hover shows it)."""
    fig = go.Figure()
    palette = ["#1d4ed8", "#c2410c", "#16a34a", "#7c3aed", "#0891b2"]
    for i, (group, values) in enumerate(scores.items()):
        fig.add_trace(go.Box(y=list(values.values()), name=group, boxpoints="all", jitter=0.4, pointpos=0,
                             text=list(values.keys()), marker_color=palette[i % len(palette)],
                             hovertemplate="%{text}: %{y:+.3f}<extra></extra>"))
    fig.update_layout(title=title or None, height=420, yaxis_title="sentiment score of the name", font=FONT,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10), showlegend=False)
    fig.add_hline(y=0, line_color="#9ca3af")
    return fig


def objective_curve(values: np.ndarray, title: str = "objective", log_y: bool = True) -> go.Figure:
    fig = go.Figure(go.Scatter(y=values, mode="lines", line=dict(color=FEMALE),
                               hovertemplate="step %{x}: %{y:.4g}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="step", height=300, font=FONT, margin=dict(l=10, r=10, t=40, b=10))
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def association_scores(x_words, sx, y_words, sy, x_name: str, y_name: str, a_name: str, b_name: str) -> go.Figure:
    """WEAT: s(w, A, B) per target word, both target sets side by side."""
    fig = go.Figure([
        go.Bar(x=list(x_words), y=sx, name=x_name, marker_color=MALE, hovertemplate="%{x}: %{y:+.4f}<extra></extra>"),
        go.Bar(x=list(y_words), y=sy, name=y_name, marker_color=FEMALE, hovertemplate="%{x}: %{y:+.4f}<extra></extra>"),
    ])
    fig.update_layout(height=380, yaxis_title=f"s(w) = mean cos with {a_name} − with {b_name}", font=FONT,
                      margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=1.1))
    fig.add_hline(y=0, line_color="#9ca3af")
    return fig


# ----------------------------------------------------------------------------- CNN visualization


def activation_grid(grid: np.ndarray, columns: int, tile: tuple[int, int], title: str = "",
                    colorscale: str = "Viridis") -> go.Figure:
    """A tiled channel grid (values in [0, 1], NaN padding) as one colour-mapped picture, with one
    invisible marker per tile whose hover names the channel.

    The picture travels as a PNG (a few hundred kB) instead of a heatmap's JSON numbers (two floats
    per pixel: 10+ MB for 64 channels of 112 x 112), which every student's browser would receive."""
    import base64

    from plotly.colors import sample_colorscale

    from core.images import to_png_bytes

    h, w = tile
    lut = np.array([[int(float(v)) for v in c[c.index("(") + 1:-1].split(",")[:3]]
                    for c in sample_colorscale(colorscale, list(np.linspace(0, 1, 256)), colortype="rgb")], np.uint8)
    padding = ~np.isfinite(grid)
    index = np.clip(np.nan_to_num(grid, nan=0.0) * 255 + 0.5, 0, 255).astype(np.uint8)
    rgb = lut[index]
    rgb[padding] = 255
    source = "data:image/png;base64," + base64.b64encode(to_png_bytes(rgb)).decode()
    rows_n = (grid.shape[0] + 1) // (h + 1)
    cols_n = min(columns, (grid.shape[1] + 1) // (w + 1))
    centres = [(r * cols_n + c, c * (w + 1) + w / 2, r * (h + 1) + h / 2)
               for r in range(rows_n) for c in range(cols_n)
               if r * (h + 1) < grid.shape[0] and not padding[r * (h + 1), c * (w + 1)]]
    fig = go.Figure(go.Image(source=source, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[c[1] for c in centres], y=[c[2] for c in centres], mode="markers",
                             customdata=[c[0] for c in centres], hovertemplate="channel %{customdata}<extra></extra>",
                             marker={"size": 24, "opacity": 0.0, "symbol": "square"}, showlegend=False))
    fig.update_yaxes(autorange="reversed", visible=False, scaleanchor="x")
    fig.update_xaxes(visible=False, range=[-0.5, grid.shape[1] - 0.5])
    fig.update_layout(title=title or None, height=min(900, max(300, int(700 * grid.shape[0] / max(grid.shape[1], 1)))),
                      margin=dict(l=0, r=0, t=40 if title else 0, b=0), font=FONT, hovermode="closest",
                      hoverdistance=-1)  # the nearest tile centre: the tile under the cursor
    return fig


def layer_stats_chart(names: list[str], zero_fraction: list[float], mean_abs: list[float],
                      sizes: list[str]) -> go.Figure:
    """Sparsity (share of zeros) and mean |activation| per layer, in network order."""
    fig = go.Figure([
        go.Bar(x=names, y=zero_fraction, name="fraction of zero activations", marker_color=FEMALE, customdata=sizes,
               hovertemplate="%{x} (%{customdata})<br>zeros: %{y:.1%}<extra></extra>"),
        go.Scatter(x=names, y=mean_abs, name="mean |activation|", yaxis="y2", mode="lines+markers",
                   line=dict(color=MALE), hovertemplate="%{x}: %{y:.3f}<extra></extra>"),
    ])
    fig.update_layout(height=380, yaxis=dict(title="zeros", tickformat=".0%", range=[0, 1]), font=FONT,
                      yaxis2=dict(title="mean |a|", overlaying="y", side="right", showgrid=False),
                      margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=1.12))
    return fig


def image_row(images: np.ndarray, labels: list[str], columns: int = 8) -> np.ndarray:
    """Concatenate uint8 images into a grid (for st.image with captions use st.image lists instead)."""
    n = len(images)
    rows = int(np.ceil(n / columns))
    h, w = images.shape[1:3]
    out = np.full((rows * (h + 2), columns * (w + 2), 3), 255, np.uint8)
    for k in range(n):
        r, c = divmod(k, columns)
        out[r * (h + 2): r * (h + 2) + h, c * (w + 2): c * (w + 2) + w] = images[k]
    return out


PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#6b7280")


def faithfulness_curves(curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> go.Figure:
    """Deletion (left) and insertion (right) curves, one line per method: {name: (fractions, del, ins)}."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("Deletion: most attributed pixels → black (lower is better)",
                                                        "Insertion: into a blurred copy (higher is better)"))
    for i, (name, (fractions, deletion, insertion)) in enumerate(curves.items()):
        colour = PALETTE[i % len(PALETTE)]
        dash = "dot" if name.startswith("random") else None
        for col, ys in ((1, deletion), (2, insertion)):
            fig.add_trace(go.Scatter(x=fractions, y=ys, mode="lines", name=name, legendgroup=name, showlegend=col == 1,
                                     line=dict(color=colour, dash=dash),
                                     hovertemplate=f"{name}<br>%{{x:.0%}} of pixels: p = %{{y:.3f}}<extra></extra>"),
                          row=1, col=col)
    fig.update_xaxes(title="share of pixels", tickformat=".0%")
    fig.update_yaxes(title="class probability", range=[0, 1.02])
    fig.update_layout(height=400, font=FONT, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.2))
    return fig


def influence_bars(channels: np.ndarray, top: np.ndarray, title: str = "") -> go.Figure:
    """Distributional influence of every channel, the top ones highlighted."""
    colours = [PALETTE[1] if k in set(top.tolist()) else PALETTE[7] for k in range(len(channels))]
    fig = go.Figure(go.Bar(x=np.arange(len(channels)), y=channels, marker_color=colours,
                           hovertemplate="channel %{x}: influence %{y:.4f}<extra></extra>"))
    fig.update_layout(title=title or None, height=300, xaxis_title="channel", yaxis_title="influence", font=FONT,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig


def accuracy_bars(labels: list[str], values: list[float], title: str = "") -> go.Figure:
    fig = go.Figure(go.Bar(x=labels, y=values, marker_color=[PALETTE[2] if v >= 0.8 else PALETTE[1] for v in values],
                           text=[f"{v:.0%}" for v in values], textposition="outside",
                           hovertemplate="%{x}: %{y:.1%}<extra></extra>"))
    fig.add_hline(y=0.5, line_dash="dot", line_color="#9ca3af", annotation_text="chance")
    fig.update_layout(title=title or None, height=320, yaxis=dict(range=[0, 1.1], tickformat=".0%"), font=FONT,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig


# ----------------------------------------------------------------------------- detection and segmentation


def detection_timeline(milestones) -> go.Figure:
    """Published accuracy against seconds per image (log scale, faster to the right), one colour per
    metric (VOC mAP and COCO numbers are not comparable). ``milestones``: objects with name,
    seconds_per_image, accuracy, metric."""
    fig = go.Figure()
    for i, metric in enumerate(dict.fromkeys(m.metric for m in milestones)):
        ms = [m for m in milestones if m.metric == metric]
        fig.add_trace(go.Scatter(x=[m.seconds_per_image for m in ms], y=[m.accuracy for m in ms], mode="markers+text",
                                 text=[m.name for m in ms], name=metric,
                                 # the fastest sit at the right edge: their names go left of the marker, not
                                 # centred on it (a centred "YOLOv2 (YOLO9000)" was cut off by the frame)
                                 textposition=["top left" if m.seconds_per_image < 0.02 else "top center" for m in ms],
                                 marker=dict(size=13, color=PALETTE[i % len(PALETTE)]),
                                 hovertemplate="%{text}: %{x:.3g} s/image, %{y}<extra>" + metric + "</extra>"))
    # the label at the line's foot: at its top it overlapped the fastest detectors' names (YOLOv2 at 76.8)
    fig.add_vline(x=1 / 30, line_dash="dot", line_color="#9ca3af", annotation_text="real time (30 FPS)",
                  annotation_position="bottom right")
    fig.update_xaxes(type="log", title="seconds per image (log scale, faster →)", range=[2.0, -2.35],
                     tickvals=[100, 10, 1, 0.1, 0.01], ticktext=["100 s", "10 s", "1 s", "100 ms", "10 ms"])
    fig.update_yaxes(title="accuracy (%), as published")
    fig.update_layout(height=460, font=FONT, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.2))
    return fig


def anchor_iou_curve(mean_iou: dict[int, float], published: dict[str, tuple[int, float]], title: str = "") -> go.Figure:
    """YOLO9000 Figure 2: mean IoU with the closest anchor against k, and published anchor sets as
    diamonds ({label: (k, mean IoU)})."""
    fig = go.Figure(go.Scatter(x=list(mean_iou), y=list(mean_iou.values()), mode="lines+markers",
                               name="k-means (1 − IoU)", hovertemplate="k = %{x}: mean IoU %{y:.3f}<extra></extra>"))
    for i, (label, (k, iou)) in enumerate(published.items()):
        fig.add_trace(go.Scatter(x=[k], y=[iou], mode="markers", name=label,
                                 marker=dict(size=12, symbol="diamond", color=PALETTE[(i + 1) % len(PALETTE)])))
    fig.update_layout(height=360, xaxis_title="number of clusters k", yaxis_title="average IoU with the closest anchor",
                      font=FONT, margin=dict(l=10, r=10, t=30, b=10), title=title or None)
    return fig


def loss_history(history: list[dict[str, float]]) -> go.Figure:
    """One line per loss term over the epochs ([{term: mean loss per image}, ...])."""
    terms = list(dict.fromkeys(k for epoch in history for k in epoch))
    epochs = np.arange(1, len(history) + 1)
    fig = go.Figure([go.Scatter(x=epochs, y=[epoch.get(t) for epoch in history], name=t, mode="lines+markers")
                     for t in terms])
    fig.update_layout(height=320, xaxis_title="epoch", yaxis_title="mean loss per image", font=FONT,
                      margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=1.15))
    return fig


def per_class_iou_bars(iou: dict[str, float], colours: np.ndarray, title: str = "per-class IoU") -> go.Figure:
    """IoU per class, each bar in its class's mask colour ((n, 3) uint8 RGB)."""
    fig = go.Figure(go.Bar(x=list(iou), y=list(iou.values()),
                           marker_color=[f"rgb{tuple(int(v) for v in c)}" for c in colours[:len(iou)]],
                           hovertemplate="%{x}: IoU %{y:.3f}<extra></extra>"))
    fig.update_layout(title=title, yaxis_range=[0, 1], height=320, margin=dict(l=10, r=10, t=40, b=10), font=FONT)
    return fig


def confusion_heatmap(confusion: np.ndarray, classes: list[str], title: str = "confusion (rows: true class)") -> go.Figure:
    """Pixel counts (true, predicted) shown as shares of each true class."""
    cm = np.asarray(confusion, dtype=float)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig = go.Figure(go.Heatmap(z=share, x=list(classes), y=list(classes), colorscale="Blues", text=np.round(share, 3),
                               texttemplate="%{text}", showscale=False,
                               hovertemplate="true %{y}, predicted %{x}: %{z:.3f}<extra></extra>"))
    fig.update_layout(title=title, height=320, margin=dict(l=10, r=10, t=40, b=10), font=FONT,
                      yaxis_autorange="reversed")
    return fig


def matrix_html(m, fmt: str = "{:g}", highlight=None) -> str:
    """A small matrix as a borderless HTML table (numbers formatted with ``fmt``, other entries as
    text, ``highlight`` a boolean mask of cells to shade): reads like the slide, and costs a
    fraction of a pandas Styler on every run."""
    import html

    m = np.asarray(m, dtype=object)
    if m.ndim == 1:
        m = m[None, :]
    rows = []
    for i, row in enumerate(m):
        cells = []
        for j, v in enumerate(row):
            text = fmt.format(v) if isinstance(v, (int, float, np.integer, np.floating)) else str(v)
            shade = "background-color:#fde68a;" if highlight is not None and highlight[i, j] else ""
            cells.append(f'<td style="{shade}padding:2px 12px;text-align:right;border:none">{html.escape(text)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return ('<table style="border-collapse:collapse;margin-bottom:0.8rem"><tbody>' + "".join(rows)
            + "</tbody></table>")


VIRIDIS = tuple(plotly.colors.sequential.Viridis)  # the colours of Plotly's heatmaps, so the HTML grid matches them


def heat_grid_html(m, title: str = "", fmt: str = "{:.2f}", readable: int = 12, max_width_px: int = 420) -> str:
    """A small matrix as a heat map in plain HTML: a square-celled CSS grid coloured with Viridis
    (the matrix's own min..max, as Plotly's heatmap), each value written in its cell while the matrix is
    at most ``readable`` cells wide, and shown on hover (the cell's title). A browser draws it in a
    fraction of the time of a Plotly heatmap (no plot library, no canvas): on a page every follower of
    the lecturer redraws at once, that is most of the page's drawing time."""
    import html

    z = np.asarray(m, dtype=float)
    if z.ndim == 1:
        z = z[None, :]
    rows, cols = z.shape
    finite = np.isfinite(z)
    lo = float(z[finite].min()) if finite.any() else 0.0
    hi = float(z[finite].max()) if finite.any() else 1.0
    stops = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in VIRIDIS], dtype=float)
    t = np.where(finite, (z - lo) / (hi - lo) if hi > lo else 0.5, 0.0) * (len(VIRIDIS) - 1)
    k = np.clip(np.floor(t).astype(int), 0, len(VIRIDIS) - 2)
    rgb = np.rint(stops[k] + (t - k)[..., None] * (stops[k + 1] - stops[k])).astype(int)
    light = (rgb @ np.array([0.299, 0.587, 0.114])) > 150  # dark text on the light (yellow-green) end
    show = max(rows, cols) <= readable
    cells = []
    for i in range(rows):
        for j in range(cols):
            if not finite[i, j]:
                cells.append(f'<div title="row {i}, col {j}: no value"></div>')
                continue
            r, g, b = rgb[i, j]
            text = html.escape(fmt.format(z[i, j])) if show else ""
            colour = f";color:{'#111' if light[i, j] else '#fff'};display:grid;place-items:center" if show else ""
            cells.append(f'<div style="background:rgb({r},{g},{b}){colour}" '
                         f'title="row {i}, col {j}: {z[i, j]:.3f}">{text}</div>')
    heading = (f'<div style="font-weight:600;margin-bottom:0.3rem">{html.escape(title)}</div>' if title else "")
    # container units: the numbers shrink with the cells (a 12-wide matrix in a narrow column stays legible)
    grid = (f'<div data-heat-grid="{rows}x{cols}" style="container-type:inline-size;width:100%;max-width:{max_width_px}px">'
            f'<div style="display:grid;grid-template-columns:repeat({cols},1fr);grid-auto-rows:1fr;'
            f'aspect-ratio:{cols}/{rows};line-height:1;'
            f'font-size:min(0.85rem,calc(100cqw / {cols} / 3));font-variant-numeric:tabular-nums">'
            + "".join(cells) + "</div></div>")
    return f'<div style="margin-bottom:0.8rem">{heading}{grid}</div>'


# ----------------------------------------------------------------------------- atrous convolution


def _zero_white(z: np.ndarray, colorscale: str = "Blues"):
    """A heatmap colour scale where 0 (an input nobody sees) is white, and the counts as text."""
    z = np.asarray(z, dtype=float)
    shown = np.where(z > 0, z, np.nan)
    return go.Heatmap(z=shown, colorscale=colorscale, showscale=False, xgap=1, ygap=1, zmin=0)


def atrous_field_1d(layers: list[np.ndarray], rates: tuple[int, ...], title: str = "") -> go.Figure:
    """Rows: the unit's receptive field after each stacked layer (``layers[d]`` the path counts over
    input offsets -span//2 .. span//2); empty (white) cells are inputs the unit never sees."""
    z = np.array(layers, dtype=float)
    span = z.shape[1]
    offsets = np.arange(span) - span // 2
    names = [f"layer {d + 1} (rate {r})" for d, r in enumerate(rates)]
    trace = _zero_white(z)
    trace.update(x=offsets, y=names, text=np.where(z > 0, z.astype(int).astype(str), ""), texttemplate="%{text}",
                 hovertemplate="%{y}: input offset %{x} reached by %{z:.0f} paths<extra></extra>")
    fig = go.Figure(trace)
    fig.update_layout(title=title or f"1-D: inputs seen by one unit, rates {', '.join(map(str, rates))} stacked",
                      height=110 + 42 * len(rates), margin=dict(l=10, r=10, t=40, b=30), font=FONT,
                      xaxis=dict(title="input offset", dtick=1 if span <= 31 else None),
                      yaxis=dict(autorange="reversed"))
    return fig


def atrous_field_2d(counts: np.ndarray, title: str = "2-D: paths to the centre unit") -> go.Figure:
    """(span, span) path counts of a stack of dilated 3x3 kernels; white: never seen."""
    counts = np.asarray(counts)
    span = counts.shape[0]
    offsets = np.arange(span) - span // 2
    trace = _zero_white(counts)
    trace.update(x=offsets, y=offsets, hovertemplate="offset (%{x}, %{y}): %{z:.0f} paths<extra></extra>")
    fig = go.Figure(trace)
    fig.update_layout(title=title, height=380, margin=dict(l=10, r=10, t=40, b=10), font=FONT,
                      yaxis=dict(autorange="reversed", scaleanchor="x"), xaxis=dict(constrain="domain"))
    return fig


def context_heads(image: np.ndarray, taps: dict[int, np.ndarray], bin_edges: np.ndarray, stride: int,
                  title: str = "") -> go.Figure:
    """One (H, W, 3) scene with what the context heads see from its centre: each ASPP branch's 3x3
    samples (``taps``: rate -> input-pixel offsets per axis) and PSPNet's pooling bins (``bin_edges``
    (bins, 2) on the stride-``stride`` feature map, drawn in input pixels)."""
    h, w = image.shape[:2]
    fig = go.Figure(go.Image(z=image, hoverinfo="skip"))
    colours = ["#f59e0b", "#ef4444", "#8b5cf6", "#10b981", "#3b82f6", "#ec4899"]
    cy, cx = h // 2, w // 2
    for i, (rate, offsets) in enumerate(taps.items()):
        ys, xs = np.meshgrid(cy + offsets, cx + offsets, indexing="ij")
        fig.add_trace(go.Scatter(x=xs.ravel(), y=ys.ravel(), mode="markers", name=f"ASPP rate {rate}",
                                 marker=dict(size=11, color=colours[i % len(colours)], symbol="square-open",
                                             line=dict(width=3)),
                                 hovertemplate=f"rate {rate}: pixel (%{{x}}, %{{y}})<extra></extra>"))
    for start, end in np.asarray(bin_edges) * stride:
        for k in (start, end):
            fig.add_shape(type="line", x0=k - 0.5, x1=k - 0.5, y0=-0.5, y1=h - 0.5, line=dict(color="white", width=1,
                                                                                           dash="dot"))
            fig.add_shape(type="line", y0=k - 0.5, y1=k - 0.5, x0=-0.5, x1=w - 0.5, line=dict(color="white", width=1,
                                                                                           dash="dot"))
    fig.update_layout(title=title or None, height=440, margin=dict(l=0, r=0, t=40 if title else 0, b=0), font=FONT,
                      legend=dict(orientation="h", y=-0.02))
    fig.update_xaxes(showticklabels=False, range=[-0.5, w - 0.5])
    fig.update_yaxes(showticklabels=False, range=[h - 0.5, -0.5])
    return fig


def receptive_field_map(gradient: np.ndarray, centre: tuple[int, int], extent: tuple[int, int],
                        title: str = "") -> go.Figure:
    """A trained FCN's measured receptive field: mean |d logit / d input| of the centre output pixel
    (square-root scaled so the tails show), the pixel marked."""
    g = np.asarray(gradient, dtype=float)
    shown = np.sqrt(g / g.max()) if g.max() > 0 else g
    scale = [[0.0, "#ffffff"], [0.1, "#fde68a"], [0.5, "#f97316"], [1.0, "#7c2d12"]]  # white: never seen
    fig = go.Figure(go.Heatmap(z=shown, colorscale=scale, zmin=0, zmax=1, showscale=False,
                               hovertemplate="pixel (%{x}, %{y}): sqrt(|gradient| / max) %{z:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[centre[1]], y=[centre[0]], mode="markers", name="output pixel", showlegend=False,
                             marker=dict(symbol="x", size=10, color="#2563eb")))
    fig.update_layout(title=title or f"seen: {extent[0]} x {extent[1]} px", height=330,
                      margin=dict(l=10, r=10, t=40, b=10), font=FONT,
                      yaxis=dict(autorange="reversed", scaleanchor="x", showticklabels=False),
                      xaxis=dict(constrain="domain", showticklabels=False))
    return fig


def roi_pool_vs_align(feature: np.ndarray, box, pool_bins: np.ndarray, align_bins: np.ndarray,
                      samples: np.ndarray, argmax: np.ndarray | None = None, title: str = "") -> go.Figure:
    """A feature map (H, W) with the RoI at fractional coordinates (black), RoI pooling's quantised
    bins (red, whole cells, with the cell each max came from) and RoIAlign's exact bins (blue, dashed)
    with their bilinear sampling points. Coordinates: cell (i, j) covers [j, j+1) x [i, i+1)."""
    h, w = feature.shape[:2]
    fig = go.Figure(go.Heatmap(z=feature, x=np.arange(w) + 0.5, y=np.arange(h) + 0.5, colorscale="Greys",
                               showscale=False, hovertemplate="cell (%{y:.1f}, %{x:.1f}): %{z:.3f}<extra></extra>"))
    for i in range(pool_bins.shape[0]):
        for j in range(pool_bins.shape[1]):
            y0, y1, x0, x1 = (float(v) for v in pool_bins[i, j])
            fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line=dict(color=PALETTE[1], width=3))
            y0, y1, x0, x1 = (float(v) for v in align_bins[i, j])
            fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line=dict(color=PALETTE[0], width=2, dash="dash"))
    x0, y0, x1, y1 = (float(v) for v in box)
    fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line=dict(color="black", width=2))
    pts = samples.reshape(-1, 2)
    fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name="RoIAlign sampling points",
                             marker=dict(color=PALETTE[0], size=8, symbol="circle"),
                             hovertemplate="sample (%{x:.2f}, %{y:.2f})<extra></extra>"))
    if argmax is not None:
        cells = argmax.reshape(-1, 2)
        cells = cells[cells[:, 0] >= 0]
        fig.add_trace(go.Scatter(x=cells[:, 1] + 0.5, y=cells[:, 0] + 0.5, mode="markers", name="RoI pooling: max cell",
                                 marker=dict(color=PALETTE[1], size=12, symbol="x")))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="RoI pooling bins (quantised)",
                             line=dict(color=PALETTE[1], width=3)))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="RoIAlign bins (exact)",
                             line=dict(color=PALETTE[0], width=2, dash="dash")))
    fig.update_xaxes(range=[0, w], dtick=1, showgrid=True, gridcolor="#d1d5db", title="x (feature cells)")
    fig.update_yaxes(range=[h, 0], dtick=1, showgrid=True, gridcolor="#d1d5db", title="y (feature cells)",
                     scaleanchor="x")
    fig.update_layout(height=520, font=FONT, margin=dict(l=10, r=10, t=40 if title else 10, b=10), title=title or None,
                      legend=dict(orientation="h", y=-0.12), plot_bgcolor="white")
    return fig


def small_grid(values: np.ndarray, title: str, colorscale: str = "Viridis", zmin=None, zmax=None) -> go.Figure:
    """A small (ph, pw) output grid with its numbers written in the cells."""
    fig = go.Figure(go.Heatmap(z=values, colorscale=colorscale, zmin=zmin, zmax=zmax, showscale=False,
                               text=np.round(values, 3), texttemplate="%{text}", textfont=dict(size=15)))
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(height=240, font=FONT, margin=dict(l=10, r=10, t=40, b=10), title=title)
    return fig


def box_loss_curves(ratios: np.ndarray, curves: dict[str, np.ndarray], x_title: str, marker: float | None = None) -> go.Figure:
    """Box-regression losses against a prediction error (e.g. predicted / true width), one line per
    (loss, box size): log-space deltas give the same curve for every box size, YOLO's sqrt does not."""
    fig = go.Figure()
    for i, (name, values) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=ratios, y=values, mode="lines", name=name,
                                 line=dict(color=PALETTE[i // 2 % len(PALETTE)], dash="solid" if i % 2 == 0 else "dot",
                                           width=7 if i < 2 else 3)))  # the first pair wide: a coinciding curve shows
    if marker is not None:
        fig.add_vline(x=marker, line_dash="dot", line_color="#6b7280")
    fig.update_layout(height=380, font=FONT, margin=dict(l=10, r=10, t=30, b=10), xaxis_title=x_title,
                      yaxis_title="box loss", legend=dict(orientation="h", y=-0.25))
    return fig


def ap_by_iou(by_threshold: dict[float, float], title: str = "") -> go.Figure:
    """mAP of the same detections at each IoU threshold (COCO's ten): AP50 is the first point, COCO's
    AP@[.5:.95] the mean of all ten."""
    xs, ys = list(by_threshold), list(by_threshold.values())
    fig = go.Figure(go.Bar(x=[f"{x:.2f}" for x in xs], y=ys, marker_color=[PALETTE[1]] + [PALETTE[0]] * (len(xs) - 1),
                           text=[f"{y:.2f}" for y in ys], textposition="outside"))
    fig.add_hline(y=float(np.mean(ys)), line_dash="dash", line_color=PALETTE[2], annotation_position="top right",
                  annotation=dict(bgcolor="rgba(255,255,255,0.85)"),
                  annotation_text=f"mean = AP@[.5:.95] = {np.mean(ys):.3f}")
    fig.update_layout(height=360, font=FONT, margin=dict(l=10, r=10, t=40 if title else 20, b=10), title=title or None,
                      xaxis_title="IoU threshold for a true positive", yaxis_title="mAP", yaxis_range=[0, 1.1])
    return fig


def cell_layouts(rows: dict[str, list[tuple[str, int, int]]], title: str = "") -> go.Figure:
    """One horizontal bar per output layout, split into labelled channel groups: ``rows`` maps a row
    label to [(group label, channels, colour index)], e.g. YOLO v1's B x (x, y, w, h, conf) + C
    classes against v2/v3's B x (t_x, t_y, t_w, t_h, t_o, C classes)."""
    fig = go.Figure()
    for row, groups in rows.items():
        start = 0
        for label, width, colour in groups:
            fig.add_trace(go.Bar(y=[row], x=[width], base=[start], orientation="h", showlegend=False,
                                 marker=dict(color=PALETTE[colour % len(PALETTE)], line=dict(color="white", width=2)),
                                 text=label, textposition="inside", insidetextanchor="middle", textangle=0,
                                 hovertemplate=f"{row}: channels {start}–{start + width - 1}: {label}<extra></extra>"))
            start += width
    fig.update_layout(barmode="overlay", height=110 + 70 * len(rows), font=FONT, title=title or None,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10), xaxis_title="channel of one cell's vector")
    fig.update_yaxes(autorange="reversed")
    return fig
