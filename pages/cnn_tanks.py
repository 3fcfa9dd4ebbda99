"""Why visualize? Reliability: "tanks in trees" made real, and attribution versus influence (Leino et al.)."""

import numpy as np
import pandas as pd
import streamlit as st

from core.geometry import enlarge
from core.scenes import TANK_BACKGROUNDS, TANK_CLASSES
from core.train import TrainingError
from core.vision import attribution as A
from core.vision import tanks
from dashboard import components, figures, resources
from dashboard import lecture as lecture_path

st.title("Tanks in trees: a network that learned the background")
stage = lecture_path.stage()  # lecture mode: the step's picture first (the slide's Grad-CAM or influence section)
focus = lecture_path.focus("tanks-in-trees", {"Reliability: tanks in trees": "grad_cam",
                                              "Influence of an input distribution (Leino et al.)": "influence"}, "data")
st.markdown(
    "The lecture's reliability story ([maybe an urban legend, but plausible](https://neil.fraser.name/writing/tank/)): "
    "a network learned to \"find tanks\", but every tank photo had been taken in the forest. Here it is for real, "
    "small enough to retrain in class: **tanks and trucks**, drawn in the same olive paint, where a share of the "
    "tanks stands in the **forest** and the same share of trucks under the **sky**.")

correlation = st.slider("Spurious correlation: share of tanks in the forest (and of trucks under the sky)", 0.5, 1.0,
                        1.0, 0.05, key="tanks_corr",
                        help="1.0: the background alone gives the answer. 0.5: the background says nothing, so the "
                             "network has to look at the vehicle. Each value trains its own CNN once (about 30-40 s), "
                             "then it is cached.")


@resources.cached("tanks", lambda correlation: f"Training the tank/truck CNN at {correlation:.0%} ...", heavy=True)
def trained_cnn(correlation: float, progress=None):
    """The tank/truck CNN trained once per correlation in this worker (kept on disk across restarts)."""
    return tanks.train_tanks_cnn(correlation, progress=progress)


@resources.cached("datasets", "Drawing the test sets ...")
def held_out_sets(correlation: float):
    return tanks.held_out_sets(correlation=correlation)


@resources.cached("tanks", "Measuring where Grad-CAM looks ...")
def heat_on_vehicle(model, correlation: float):
    """Grad-CAM's share of heat on the vehicles over the balanced test set (model: by its uid)."""
    return tanks.heat_on_vehicle(model, held_out_sets(correlation)["balanced"])


@resources.cached("tanks", "Computing distributional influence ...")
def influence_of(model, correlation: float, target: int, layer: str, progress=None):
    """Leino et al.'s distributional influence towards the biased test images of one class."""
    biased = held_out_sets(correlation)["biased"]
    members = biased.images[biased.labels == target][:200].astype(np.float32) / 255.0
    return A.distributional_influence(model, members, target, layer, progress=progress)


try:
    result = trained_cnn(correlation)
except (ValueError, OSError, TrainingError) as exc:
    st.error(f"Training failed: {exc}")
    st.stop()
model = resources.model(f"tanks-cnn-{correlation:.2f}", lambda p: tanks.loaded(result), "Preparing ...")
resources.note_loaded(model.name)
card = result.card
sets = held_out_sets(correlation)


def grid(data, idx, heat=None):
    out = []
    for i in idx:
        img = data.images[i]
        if heat is not None:
            img = A.overlay(img, heat[i], 0.55)
        out.append(img)
    return out


def captions(data, idx, predicted=None):
    caps = []
    for i in idx:
        text = f"{TANK_CLASSES[data.labels[i]]} in the {TANK_BACKGROUNDS[data.backgrounds[i]]}"
        if predicted is not None:
            text += f" → says {TANK_CLASSES[predicted[i]]}" + (" ✓" if predicted[i] == data.labels[i] else " ✗")
        caps.append(text)
    return caps


st.header("1. The training data")
train_preview = sets["biased"]
# Every section below depends only on the slider values and the trained CNN (its card): drawn once per
# setting in this worker, replayed for every other student.
trained = (correlation, card)
with lecture_path.at(stage, focus, "data"):
    components.replay("tanks.data", trained, lambda: st.image(grid(train_preview, range(8)),
                                                               caption=captions(train_preview, range(8)), width=120),
                      pictures=True)
st.caption(f"Drawn like the training set ({card['recipe']['n_train']} images, {correlation:.0%} on the usual background).")

st.header("2. High accuracy ... on the wrong thing")
def accuracy_section() -> None:
    labels = [f"test set drawn like training ({correlation:.0%})", "backgrounds swapped", "background says nothing (50 %)"]
    values = [card["biased_accuracy"], card["swapped_accuracy"], card["balanced_accuracy"]]
    fig = figures.accuracy_bars(labels, values, f"Tank/truck CNN trained at {correlation:.0%}: held-out accuracy")
    st.plotly_chart(fig, width="stretch")
    m1, m2, m3 = st.columns(3)
    m1.metric("Biased test set", f"{values[0]:.1%}")
    m2.metric("Backgrounds swapped", f"{values[1]:.1%}", delta=f"{values[1] - values[0]:+.1%}")
    m3.metric("Training time", f"{card['train_seconds']:.0f} s", help=f"on {card['device']}, cached afterwards")
    if values[1] < 0.6:
        st.error(f"With the backgrounds swapped, accuracy falls to {values[1]:.0%}: the network answers "
                 "\"forest or sky?\", not \"tank or truck?\". Move the slider towards 0.5 and retrain.")
    else:
        st.success(f"With the backgrounds swapped it still scores {values[1]:.0%}: at this correlation the "
                   "network had to learn the vehicles.")


components.replay("tanks.accuracy", trained, accuracy_section)

st.header("3. Grad-CAM shows where it looked")
swapped = sets["swapped"]
report = heat_on_vehicle(model, correlation)


def grad_cam_section() -> None:
    idx = list(range(8))
    layer = A.default_layer(model)
    predicted, heat = tanks.predicted_grad_cams(model, swapped.images[idx], layer)
    st.image(grid(swapped, idx, heat=heat), caption=captions(swapped, idx, predicted), width=120)
    st.caption(f"Grad-CAM ({layer}) for the class the network *predicted*, on background-swapped test images.")
    st.info(f"Over {report['images']} test images, the vehicle covers {report['vehicle_share_of_image']:.0%} of the "
            f"pixels and receives {report['vehicle_share_of_heat']:.0%} of Grad-CAM's heat: "
            f"**{report['ratio']:.1f}×** its share (1× = no more attention than any background pixel).")


with lecture_path.at(stage, focus, "grad_cam"):
    components.replay("tanks.grad_cam", trained, grad_cam_section, pictures=True)
components.download_json(lambda: {"card": card, "grad_cam_on_vehicle": report}, f"tanks_{round(correlation * 100)}.json",
                         key="dl_tanks")

st.header("4. Attribution versus influence (Leino et al. 2018)")
st.markdown(
    "As the slide (Leino et al. 2018) defines them: **attribution** is the amount of the quantity of interest (here "
    "the class score) that can be attributed to a particular *neuron* — no influential regions need to be assigned; "
    "**influence** is the sensitivity of the quantity of interest to a particular input or *input distribution*, "
    "whose influential regions must be segmented before analysis. Leino et al.'s **distributional influence** of an "
    "internal channel is taken towards a distribution of inputs: χ_k = E_x~P[Σ_ij ∂f_c/∂A_ijk], here P = the test "
    "images of one class — per image the sum is |I×J| times Grad-CAM's α_k^c, averaged over P instead of used for "
    "one picture. So the Grad-CAM maps above answer a question about one image and its regions; the bars below rank "
    "*neurons* (channels) by their influence over a whole distribution, and need no regions to be read.")
c1, c2 = st.columns(2)
inf_class = c1.selectbox("Class", TANK_CLASSES, key="tanks_inf_class")
inf_layer = c2.selectbox("Layer", model.conv_layers, index=len(model.conv_layers) - 1, key="tanks_inf_layer")
target = TANK_CLASSES.index(inf_class)
influence = influence_of(model, correlation, target, inf_layer)
top = influence.top(6)
with lecture_path.at(stage, focus, "influence"):
    components.replay("tanks.influence_bars", (trained, target, inf_layer), lambda: st.plotly_chart(
        figures.influence_bars(influence.channels, top, f"Influence of each {inf_layer} channel on "
                               f"'{inf_class}' over {influence.n_images} test {inf_class}s"), width="stretch"))
example = st.slider("Example image (background-swapped test set)", 0, 7, 0, key="tanks_inf_example")


def influence_section() -> None:
    x = swapped.images[example:example + 1].astype(np.float32) / 255.0
    acts = A.layer_activations(model, x, inf_layer)
    maps = [A.colorize(acts[:, :, k] / max(float(acts[:, :, k].max()), 1e-6), "viridis") for k in top]
    maps = [enlarge(m, max(1, swapped.images.shape[1] // m.shape[0])) for m in maps]
    st.image([swapped.images[example]] + maps,
             caption=[captions(swapped, [example])[0]] + [f"channel {k}: χ = {influence.channels[k]:.3f}" for k in top],
             width=120)
    i1, i2 = st.columns(2)
    inf_heat = A.influence_map(model, x, influence)
    gc = A.grad_cam(model, x, target, inf_layer)
    i1.image(A.overlay(swapped.images[example], inf_heat.values, 0.55), width=240,
             caption=f"activations weighted by the distribution's influence for '{inf_class}'")
    i2.image(A.overlay(swapped.images[example], gc.values, 0.55), width=240,
             caption=f"Grad-CAM for '{inf_class}' on this one image")
    with st.expander("Influence table"):
        st.dataframe(pd.DataFrame({"channel": np.arange(len(influence.channels)), "influence": influence.channels})
                     .sort_values("influence", ascending=False), hide_index=True)


with lecture_path.at(stage, focus, "influence"):
    components.replay("tanks.influence", (trained, target, inf_layer, example), influence_section, pictures=True)
