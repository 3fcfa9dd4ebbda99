"""CNN Visualization part one: intermediate activations, channel by channel and across the network."""

import math

import streamlit as st

from core.vision import activations, zoo
from dashboard import components, figures, resources, vision_ui
from dashboard import lecture as lecture_path

st.title("Visualizing intermediate activations")
stage = lecture_path.stage()  # lecture mode: the early and late activation grids first, above the text
# the distillation slide (the share of zeros layer by layer) puts the statistics on the stage instead
focus = lecture_path.focus("activations", {"Result: an information distillation pipeline": "stats"}, "grids")
st.markdown("Look layer by layer, **assuming each filter learns something independent**. Recall the general "
            "structure of most CNNs: small (3 x 3) kernels throughout, filtering followed by pooling, more filters "
            "in later layers — so early activations are larger but not as numerous, later ones smaller and more "
            "numerous. The result is an **information distillation pipeline**: deeper layers have more abstract "
            "triggers and are increasingly **sparse**, early layers are edge and texture detectors — a notion of "
            "high-level abstraction with a biological motivation (simple and complex cells of the visual cortex).")

model, image, defaults = vision_ui.model_and_image("activations", "act_image")

layers = model.spatial_layers
if not layers:
    st.error(f"{model.name} has no layer with a spatial output to show.")
    st.stop()
conv_names = set(model.conv_layers)  # a property that walks every Keras layer: once, not once per layer
convs = [n for n in layers if n in conv_names] or layers
early = vision_ui.preferred(layers, defaults.get("layer"), convs[min(1, len(convs) - 1)])
late = vision_ui.preferred(layers, defaults.get("late_layer"), convs[-1])

c1, c2 = st.columns([2, 1])
with c1:
    layer = st.selectbox("Layer", layers, index=layers.index(early), key="act_layer",
                         help="Every layer with an (h, w, channels) output, in network order.")
    standardize = st.toggle("Standardise each channel (zero mean, unit variance)", True, key="act_std")
    max_channels = st.slider("Channels to show", 4, 256, 64, step=4, key="act_max")
with c2:
    components.replay("act.seen", (model, image), lambda: st.image(
        model.deprocess(model.preprocess(image)), caption=f"what {model.name} sees", width="stretch"), pictures=True)
    vision_ui.prediction_table(model, image, top=3)


def grid_section(name: str, download_key: str) -> None:
    """One layer's channels as a hoverable grid, with its download: the maps are computed once per
    (model, image, layer), the section drawn once per setting and replayed for every other student."""
    maps = resources.activation_maps(model, image, name)
    components.replay("act.grid", (model, image, name, standardize, max_channels, download_key),
                      lambda: draw_grid(maps, name, download_key), pictures=True)
    components.download_figure(lambda: grid_figure(maps, name), f"{model.name}_{name}_activations.html",
                               key=download_key)


def grid_figure(maps, name: str):
    # on the projector a wider-than-tall grid (1.5 x the square's columns), so both grids end above the fold
    wide = None if stage is None else math.ceil(math.sqrt(min(maps.shape[2], max_channels)) * 1.5)
    grid, columns = activations.tile_channels(maps, columns=wide, standardize=standardize, max_channels=max_channels)
    shown = min(maps.shape[2], max_channels)
    return figures.activation_grid(grid, columns, maps.shape[:2],
                                   f"{name}: {shown} of {maps.shape[2]} channels, {maps.shape[0]} x {maps.shape[1]}")


def draw_grid(maps, name: str, download_key: str) -> None:
    st.plotly_chart(grid_figure(maps, name), width="stretch", key=f"{download_key}_chart")
    st.caption(f"{float((abs(maps) < 1e-6).mean()):.0%} of {name}'s activations are exactly zero on this image.")


try:
    g1, g2 = lecture_path.place(stage if focus == "grids" else None).columns(2)
    with g1:
        grid_section(layer, "dl_act")
    with g2:
        later = [n for n in layers if layers.index(n) > layers.index(layer)] or [layer]
        compare = st.selectbox("Compare with a later layer", later,
                               index=later.index(late) if late in later else len(later) - 1, key="act_late")
        grid_section(compare, "dl_act_late")
except zoo.ModelError as exc:
    st.error(str(exc))
    st.stop()
st.caption("Hover for the channel number. A tile of one flat colour is a channel that did not fire on this image "
           "(all zeros after a ReLU). Early maps are large and trace the photo's edges; late maps are small, many, "
           "and mostly silent.")

st.header("Across the whole network")
relu_layers = [n for n in layers if type(model.layer(n)).__name__ in ("ReLU", "Activation")]
only_relu = st.toggle("Only the outputs of the ReLUs (where sparsity is measured)", defaults.get("stats") == "activation",
                      key="act_only_relu", disabled=not relu_layers,
                      help="Convolutions and batch norms before a ReLU are dense by construction; the ReLU's output "
                           "is where the zeros appear.")
stats = resources.network_stats(model, image, tuple(relu_layers) if only_relu and relu_layers else None)


def stats_section(stats) -> None:
    chart = figures.layer_stats_chart([s.name for s in stats], [s.zero_fraction for s in stats],
                                      [s.mean_abs for s in stats], [f"{s.height}x{s.width}x{s.channels}" for s in stats])
    st.plotly_chart(chart, width="stretch")
    relu_like = [s for s in stats if s.zero_fraction > 0]
    if len(relu_like) >= 2:
        first, last = relu_like[0], relu_like[-1]
        st.info(f"From {first.name} ({first.height}x{first.width}x{first.channels}, {first.zero_fraction:.0%} zeros) "
                f"to {last.name} ({last.height}x{last.width}x{last.channels}, {last.zero_fraction:.0%} zeros): maps "
                "shrink, channels multiply, and activations get sparser.")
    with st.expander("Per-layer table"):
        import pandas as pd

        st.dataframe(pd.DataFrame([s.__dict__ for s in stats]), hide_index=True, width="stretch",
                     column_config={"zero_fraction": st.column_config.NumberColumn(format="percent"),
                                    "mean": st.column_config.NumberColumn(format="%.3f"),
                                    "mean_abs": st.column_config.NumberColumn(format="%.3f")})


# drawn once per (model, image, layers) in this worker, replayed for everyone else
with lecture_path.at(stage, focus, "stats"):
    components.replay("act.stats", (model, image, only_relu and bool(relu_layers)), lambda: stats_section(stats))
components.download_json(lambda: [s.__dict__ for s in stats], f"{model.name}_layer_stats.json", key="dl_stats")
