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

# The lectures' agenda, in slide order (../shared/lecture-notes.md). Each item names the page that
# teaches it, or None for a slide with no page of its own (shown as plain text, never a dead link).
# tests/pages/test_navigation_order.py checks that these links and the sidebar follow this order.
LECTURES = {
    "Lecture 1 — CNN Visualization": {
        "intro": "Agenda: finish the ethics demo on biased word embeddings, then why and how to look inside "
                 "trained convolutional networks.",
        "items": [
            ("Ethics demo: how to make a racist AI without really trying (Speer 2017)", "racist-ai"),
            ("Man is to computer programmer as woman is to homemaker? — the gender subspace "
             "(Bolukbasi et al. 2016)", "gender-subspace"),
            ("Direct and indirect bias; stereotypical analogies", "bias-measures"),
            ("Hard debiasing: neutralize and equalize", "hard-debiasing"),
            ("Did it work? Benchmarks, WEAT, and the clustering test", "did-it-work"),
            ("Soft debiasing", "soft-debiasing"),
            ("Bias beyond gender (religion, race; WEAT)", "beyond-gender"),
            ("Why visualize: reliability (tanks in trees), curiosity, improvement", "tanks-in-trees"),
            ("Attribution versus influence (Leino et al. 2018): attribution to a neuron, influence of an input "
             "distribution", "tanks-in-trees"),
            ("Visualizing intermediate activations: early layers are edge and texture detectors, "
             "deeper activations are increasingly sparse", "activations"),
            ("Visualizing filters by gradient ascent in input space; class neurons", "gradient-ascent"),
            ("Every filter of a layer at once: the neuron gallery", "neuron-gallery"),
            ("Deep Dream", "deep-dream"),
            ("Class activation maps: CAM, Grad-CAM and the gradient family; are they faithful?", "grad-cam"),
        ],
    },
    "Lecture 2 — Fully Convolutional Learning": {
        "intro": "From classification to dense prediction: upsampling inside the network, "
                 "segmentation and detection.",
        "items": [
            ("Types of fully convolutional problems: semantic segmentation, object detection, instance "
             "segmentation", None),
            ("Upsampling: nearest, bilinear, bicubic; zero insertion + filter; max unpooling", "upsampling"),
            ("Transposed convolution as the transpose of the convolution matrix; checkerboards", "upsampling"),
            ("Semantic segmentation: FCN decoders trained here; PSPNet pyramid pooling; DeepLab's atrous "
             "convolutions (DeepLabV3+ pretrained, online)", "segmentation"),
            ("Object detection: R-CNN, Fast and Faster R-CNN", "rcnn"),
            ("YOLO v1–v3: the output tensor and non-max suppression; darknet models", "yolo"),
            ("YOLO: the loss, anchors from k-means, training a tiny YOLO", "yolo-training"),
            ("Mask R-CNN: instances from boxes + masks", "rcnn"),
            ("In summary: segmentation is active research, detection is ready for industry, instance "
             "segmentation still costs a good deal of hardware", None),
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
                st.markdown(f"- {text}")

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
