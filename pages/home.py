"""Home: the two lectures, their agenda in slide order, and links to the pages that exist."""

import os

import streamlit as st

from core import lecture
from dashboard import components, navigation
from dashboard import lecture as lecture_path

st.title("CNN Visualization & Fully Convolutional Learning")
stage = lecture_path.stage()  # lecture mode: the current slide's block (and its picture) right under the title
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
             "segmentation (below)", None),
            ("Upsampling: nearest, bilinear, bicubic; zero insertion + filter; max unpooling", "upsampling"),
            ("Transposed convolution as the transpose of the convolution matrix; checkerboards", "upsampling"),
            ("Semantic segmentation: FCN decoders trained here; PSPNet pyramid pooling; DeepLab's atrous "
             "convolutions (DeepLabV3+ pretrained, online)", "segmentation"),
            ("Object detection: R-CNN, Fast and Faster R-CNN", "rcnn"),
            ("YOLO v1–v3: the output tensor and non-max suppression; darknet models", "yolo"),
            ("YOLO: the loss, anchors from k-means, training a tiny YOLO", "yolo-training"),
            ("Mask R-CNN: boxes → masks, keypoints as one-pixel masks, real time", "mask-rcnn"),
            ("In summary: segmentation is active research, detection is ready for industry, instance "
             "segmentation still costs a good deal of hardware", None),
        ],
    },
}

specs = {spec.url_path: spec for specs in navigation.pages_by_section().values() for spec in specs}


def link(url_path: str, label: str) -> None:
    spec = specs.get(url_path)
    if spec is not None:
        st.page_link(navigation.page_link_target(spec), label=label, icon=spec.icon)
    else:
        st.markdown(f"- {label}")


# The slides that have no page of their own: the paper presentation, the two overview slides and the summary.
# The lecture path (core/lecture.toml) opens Home for them; in lecture mode the slide's block comes first.
def paper_presentation() -> None:
    st.subheader("Paper presentation: The limitations of deep learning (Chollet, 2017)")
    st.markdown(
        "François Chollet, [*The limitations of deep learning*](https://blog.keras.io/the-limitations-of-deep-learning.html) "
        "(17 July 2017; Section 2 of Chapter 9 of *Deep Learning with Python*). A deep network is a chain of simple, "
        "continuous geometric transforms mapping one vector space to another, learned from dense samples: it can map "
        "inputs to outputs, but it does not reason, plan or abstract, and it needs a huge amount of data. "
        "Reading for next time: Chollet 5.4 (visualizing what convnets learn).")


def methods_for_visualization() -> None:
    st.subheader("Methods for visualization")
    st.markdown("No “ideal” technique: it depends on the question.")
    link("activations", "Filter activation maps: what parts of the images activate each filter?")
    link("gradient-ascent", "Filters: what is each filter most sensitive to?")
    link("grad-cam", "Heatmaps of class activation: what part of an input image most influences each output?")


def types_of_problems() -> None:
    st.subheader("Types of fully convolutional problems")
    link("segmentation", "Semantic segmentation: a class for every pixel")
    link("yolo", "Object detection: a box and a class for every object (R-CNN family, YOLO)")
    link("rcnn", "Instance segmentation: a mask for every object (Mask R-CNN; He et al., ICCV 2017)")


def summary() -> None:
    from core.detection.history import MILESTONES
    from dashboard import figures

    st.subheader("In summary")
    text, picture = st.columns([3, 2])
    with picture:  # the same chart for everyone: built and serialised once per worker, then replayed
        components.replay("home.summary_speed", "detection_timeline", lambda: st.plotly_chart(
            figures.detection_timeline(MILESTONES), width="stretch", key="home_summary_speed"))
    picture.caption("Speed against published accuracy, R-CNN (about 50 s per image) to YOLO (real time): "
                    "the detection row of the summary.")
    text.markdown(
        "- Semantic segmentation through FCNs is an active research area: **DeepLabV3** is an excellent choice.\n"
        "- Object detection is good and ready for use in industry (Apple's object detector uses a YOLO variant): "
        "at **60 FPS** it supports tracking and AR, and it can back off to the **CPU at about 5 FPS** (the live page "
        "measures this machine).\n"
        "- Instance segmentation is ready for deployment in a number of areas, but still runs at about **5 FPS** "
        "and uses a good deal of the hardware.\n"
        "- YOLOv3 in Keras: [qqwweee/keras-yolo3](https://github.com/qqwweee/keras-yolo3) (the slide writes "
        "“qzwweeee”; look at “YOLOv3” and “TrainBottleneck”); step by step in PyTorch: "
        "[Paperspace](https://blog.paperspace.com/how-to-implement-a-yolo-v3-object-detector-from-scratch-in-pytorch-part-2/)"
        ". "
        "Next time: image style transfer (reading: Chollet 8.1–8.3).")
    with text:
        link("live-camera", "Live: frames per second on this machine's CPU")


SLIDE_BLOCKS = {"Paper Presentation": paper_presentation, "Methods for Visualization": methods_for_visualization,
                "Types of Fully Convolutional Problems": types_of_problems, "In summary": summary}
shown_first = None
step = st.session_state.get(lecture_path.STEP)
if isinstance(step, int) and 0 <= step < len(lecture.steps()) and lecture.steps()[step].page == "home":
    shown_first = lecture.steps()[step].slide
    if shown_first in SLIDE_BLOCKS:
        with lecture_path.place(stage), st.container(border=True):
            SLIDE_BLOCKS[shown_first]()



# The agenda and the page list are the same for every student (the lectures' text and the page registry, both
# fixed while the server runs): drawn once per worker, replayed for the others (they hold most of the page's
# ~130 elements, each ~0.2 ms to build).
@components.replayed("home.agenda")
def agenda(lectures: dict, registry: tuple) -> None:
    cols = st.columns(2)
    for col, (title, info) in zip(cols, lectures.items(), strict=False):
        with col:
            st.subheader(title)
            st.write(info["intro"])
            for text, url_path in info["items"]:
                spec = specs.get(url_path) if url_path else None
                if spec is not None:
                    st.page_link(navigation.page_link_target(spec), label=text, icon=spec.icon)
                else:
                    st.markdown(f"- {text}")


@components.replayed("home.page_list")
def page_list(registry: tuple) -> None:
    st.subheader("Pages available now")
    for section, section_specs in registry:
        for spec in section_specs:
            if spec.url_path == "home":
                continue
            st.page_link(navigation.page_link_target(spec), label=f"{section} · {spec.title}", icon=spec.icon)
            if spec.summary:
                st.caption(spec.summary)


registry = tuple((section, tuple(section_specs)) for section, section_specs in navigation.pages_by_section().items())
agenda(LECTURES, registry)

st.divider()
for slide, block in SLIDE_BLOCKS.items():
    if slide != shown_first:
        block()

with st.expander("The lecture's links"):
    st.markdown(
        "- Robyn Speer, [How to make a racist AI without really trying]"
        "(http://blog.conceptnet.io/posts/2017/how-to-make-a-racist-ai-without-really-trying/) "
        "and the [follow-along notebook](https://github.com/Azure/learnAnalytics-DeepLearning-Azure/blob/master/"
        "Students/12-biased-embeddings/how-to-make-a-racist-ai-without-really-trying.ipynb)\n"
        "- Chollet, [The limitations of deep learning](https://blog.keras.io/the-limitations-of-deep-learning.html)\n"
        "- Neil Fraser, [Neural network follies](https://neil.fraser.name/writing/tank/) (tanks in trees)\n"
        "- Leino et al., *Influence-directed explanations for deep convolutional networks*, ITC 2018\n"
        "- [FCN lecture notes (TJ ML)](https://tjmachinelearning.com/lectures/1718/fcn/); "
        "[upsampling (Guerzhoy, Toronto)](https://www.cs.toronto.edu/~guerzhoy/320/lec/upsampling.pdf); "
        "[semantic segmentation guide](https://towardsdatascience.com/semantic-segmentation-with-deep-learning-a-guide-and-code-e52fc8958823)\n"
        "- Joseph Redmon's YOLO talk at CVPR 2016 (the slide's link: youtube.com/watch?v=NM6lrxy0bxS); "
        "[YOLO / YOLOv2 explained (J. Hui)](https://medium.com/@jonathan_hui/real-time-object-detection-with-yolo-yolov2-28b1b93e2088)\n"
        "- [Real-time Mask R-CNN (video)](https://www.youtube.com/watch?v=nEug0-pD0Ms)\n"
        "- [qqwweee/keras-yolo3](https://github.com/qqwweee/keras-yolo3); "
        "[YOLOv3 from scratch (Paperspace)](https://blog.paperspace.com/how-to-implement-a-yolo-v3-object-detector-from-scratch-in-pytorch-part-2/)")

st.divider()
page_list(registry)

with st.expander("Using this in class", expanded=not components.lecture_mode()):
    st.markdown(
        "- **Lecture mode** (sidebar, or add `?lecture=1` to the URL): larger type, wide layout, "
        "control panels collapsed. It stays on as you move between pages.\n"
        "- The sidebar shows the compute device: TensorFlow uses a GPU when it sees one.\n"
        "- Figures have a camera icon (PNG) and a download button; images can be downloaded too.\n"
        "- Online models (ImageNet CNNs, Darknet YOLO weights) are optional; see **Setup** for "
        "what is cached and where to put files by hand."
    )
