"""Home: the two lectures, their agenda in slide order, and links to the pages that exist."""

import os

import streamlit as st

from dashboard import components, navigation

st.title("CNN Visualization & Fully Convolutional Learning")
if os.environ.get("DASHBOARD_PUBLIC_URL"):  # set by `make classroom`: the room's URL, as a QR code to scan
    components.students_link(os.environ["DASHBOARD_PUBLIC_URL"])
st.markdown(
    "An interactive companion to two lectures. Every picture on these pages is computed live, on "
    "real models, on this machine — move the sliders and the algorithms run again. "
    "Everything works offline: the models and word lists come from pinned package wheels or are "
    "trained here on synthetic data."
)

# The lectures' agenda, in slide order. Each item names the page that teaches it; items whose page
# is not in the dashboard yet are listed without a link, so nothing here points at a missing page.
LECTURES = {
    "Lecture 1 — CNN Visualization": {
        "intro": "Starts with the ethics demo on biased word embeddings, then opens up trained "
                 "convolutional networks.",
        "items": [
            ("Ethics demo: how to make a racist AI without really trying (Speer 2017)", "racist-ai"),
            ("Man is to computer programmer as woman is to homemaker? — the gender subspace "
             "(Bolukbasi et al. 2016)", "gender-subspace"),
            ("Direct and indirect bias; stereotypical analogies", "bias-measures"),
            ("Hard debiasing: neutralize and equalize", "hard-debiasing"),
            ("Did it work? Benchmarks, WEAT, and the clustering test", "did-it-work"),
            ("Soft debiasing, and bias beyond gender (religion, race; WEAT)", "soft-debiasing"),
            ("Visualizing intermediate activations: early layers are edge and texture detectors, "
             "deeper activations are increasingly sparse", "activations"),
            ("Visualizing filters by gradient ascent in input space; class neurons", "gradient-ascent"),
            ("Deep Dream", "deep-dream"),
            ("Heatmaps of class activation: CAM, Grad-CAM and the gradient family; are they faithful?", "grad-cam"),
            ("Why visualize: tanks in trees (reliability); attribution versus influence", "tanks-in-trees"),
        ],
    },
    "Lecture 2 — Fully Convolutional Learning": {
        "intro": "From classification to dense prediction: upsampling inside the network, "
                 "segmentation and detection.",
        "items": [
            ("Upsampling: nearest, bilinear, bicubic; zero insertion + filter; max unpooling", "upsampling"),
            ("Transposed convolution as the transpose of the convolution matrix; checkerboards", "upsampling"),
            ("Semantic segmentation: FCN and U-Net decoders, trained here", "segmentation"),
            ("DeepLabV3+ (pretrained, online)", "segmentation"),
            ("Object detection: R-CNN, Fast and Faster R-CNN, Mask R-CNN", "rcnn"),
            ("YOLO: the output tensor and non-max suppression; darknet models", "yolo"),
            ("YOLO: anchors from k-means, the loss, training a tiny YOLO", "yolo-training"),
        ],
    },
}

specs = {spec.url_path: spec for specs in navigation.pages_by_section().values() for spec in specs}

cols = st.columns(2)
for col, (lecture, info) in zip(cols, LECTURES.items(), strict=False):
    with col:
        st.subheader(lecture)
        st.write(info["intro"])
        for text, url_path in info["items"]:
            spec = specs.get(url_path) if url_path else None
            if spec is not None:
                st.page_link(navigation.page_link_target(spec), label=text, icon=spec.icon)
            else:
                st.markdown(f"- {text} *(page not in the dashboard yet)*")

st.divider()
st.subheader("Pages available now")
for section, section_specs in navigation.pages_by_section().items():
    for spec in section_specs:
        if spec.url_path == "home":
            continue
        st.page_link(navigation.page_link_target(spec), label=f"{section} · {spec.title}", icon=spec.icon)
        if spec.summary:
            st.caption(spec.summary)

with st.expander("Using this in class", expanded=not components.lecture_mode()):
    st.markdown(
        "- **Lecture mode** (sidebar, or add `?lecture=1` to the URL): larger type, wide layout, "
        "control panels collapsed. It stays on as you move between pages.\n"
        "- The sidebar shows the compute device: TensorFlow uses a GPU when it sees one.\n"
        "- Figures have a camera icon (PNG) and a download button; images can be downloaded too.\n"
        "- Online models (ImageNet CNNs, Darknet YOLO weights) are optional; see **Setup** for "
        "what is cached and where to put files by hand."
    )
