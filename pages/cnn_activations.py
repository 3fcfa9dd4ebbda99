"""CNN Visualization part one: intermediate activations, channel by channel and across the network."""

import streamlit as st

from core.vision import activations, zoo
from dashboard import components, figures, vision_ui

st.title("Visualizing intermediate activations")
st.markdown("Look layer by layer: early layers are edge and texture detectors with large maps; later layers "
            "have smaller maps, more channels, more abstract triggers — and are increasingly **sparse**.")

with components.controls("Model and image"):
    model = vision_ui.model_picker()
    if model is None:
        st.stop()
    image = vision_ui.model_image(model, "act_image")
if image is None:
    st.stop()

layers = model.spatial_layers
if not layers:
    st.error(f"{model.name} has no layer with a spatial output to show.")
    st.stop()
convs = [n for n in layers if n in model.conv_layers] or layers
c1, c2 = st.columns([2, 1])
with c1:
    layer = st.selectbox("Layer", layers, index=layers.index(convs[min(1, len(convs) - 1)]), key="act_layer",
                         help="Every layer with an (h, w, channels) output, in network order.")
    standardize = st.toggle("Standardise each channel (zero mean, unit variance)", True, key="act_std")
    max_channels = st.slider("Channels to show", 4, 256, 64, step=4, key="act_max")
with c2:
    st.image(model.deprocess(model.preprocess(image)), caption=f"what {model.name} sees", width="stretch")
    vision_ui.prediction_table(model, image, top=3)

try:
    maps = activations.activation_maps(model, image, layer)
except zoo.ModelError as exc:
    st.error(str(exc))
    st.stop()
grid, columns = activations.tile_channels(maps, standardize=standardize, max_channels=max_channels)
shown = min(maps.shape[2], max_channels)
fig = figures.activation_grid(grid, columns, maps.shape[:2],
                              f"{layer}: {shown} of {maps.shape[2]} channels, {maps.shape[0]} x {maps.shape[1]}")
st.plotly_chart(fig, width="stretch")
st.caption("Hover for the channel number. Dark tiles are channels that did not fire on this image (all zeros "
           "after a ReLU).")
components.download_figure(fig, f"{model.name}_{layer}_activations.html", key="dl_act")

st.header("Across the whole network")
stats = activations.network_stats(model, image)
chart = figures.layer_stats_chart([s.name for s in stats], [s.zero_fraction for s in stats], [s.mean_abs for s in stats],
                                  [f"{s.height}x{s.width}x{s.channels}" for s in stats])
st.plotly_chart(chart, width="stretch")
relu_like = [s for s in stats if s.zero_fraction > 0]
if len(relu_like) >= 2:
    first, last = relu_like[0], relu_like[-1]
    st.info(f"From {first.name} ({first.height}x{first.width}x{first.channels}, {first.zero_fraction:.0%} zeros) to "
            f"{last.name} ({last.height}x{last.width}x{last.channels}, {last.zero_fraction:.0%} zeros): maps shrink, "
            "channels multiply, and activations get sparser.")
with st.expander("Per-layer table"):
    import pandas as pd

    st.dataframe(pd.DataFrame([s.__dict__ for s in stats]), hide_index=True, width="stretch",
                 column_config={"zero_fraction": st.column_config.NumberColumn(format="percent"),
                                "mean": st.column_config.NumberColumn(format="%.3f"),
                                "mean_abs": st.column_config.NumberColumn(format="%.3f")})
components.download_json([s.__dict__ for s in stats], f"{model.name}_layer_stats.json", key="dl_stats")
