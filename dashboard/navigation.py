"""The page registry: one list, read by the entrypoint (st.navigation) and the home page (links).

A page is listed here only once its file exists and works, so the home page never links to a
page that is not there. Sections and pages follow the order of the slides (tests/pages/test_navigation_order.py
walks the navigation against it): lecture 1 opens with the ethics demo, then "why visualize" (tanks in trees,
attribution vs influence) before activations, filters and class neurons, Deep Dream and CAM/Grad-CAM; lecture 2
goes upsampling and transposed convolution, segmentation, the R-CNN family (with RoIAlign and instances),
YOLO, then Mask R-CNN's masks and keypoints (after YOLO, as in the slides). Pages that are not slides sit
where a lecturer looks for them: Setup next to Home (before class), the neuron gallery right after the
filters it shows, the live demo at the end.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"


@dataclass(frozen=True)
class PageSpec:
    section: str
    file: str  # file name in pages/
    title: str
    icon: str
    url_path: str
    summary: str = ""
    default: bool = False

    @property
    def path(self) -> Path:
        return PAGES_DIR / self.file


PAGES: list[PageSpec] = [
    PageSpec("Start", "home.py", "Home", ":material/home:", "home",
             "The two lectures and what each page shows.", default=True),
    PageSpec("Start", "setup.py", "Setup: assets, device, images", ":material/settings:", "setup",
             "Offline assets and their checksums, the compute device, and the image input check."),
    PageSpec("Ethics: biased embeddings", "racist_ai.py", "How to make a racist AI", ":material/sentiment_dissatisfied:",
             "racist-ai", "Speer 2017: a sentiment classifier on word vectors scores names and nationalities."),
    PageSpec("Ethics: biased embeddings", "bias_subspace.py", "Gender subspace & projections", ":material/balance:",
             "gender-subspace", "Step 1 of Bolukbasi et al.: PCA of definitional pairs; 320 professions on the direction."),
    PageSpec("Ethics: biased embeddings", "bias_measures.py", "Direct & indirect bias, analogies", ":material/straighten:",
             "bias-measures", "DirectBias_c, indirect bias beta, the analogy generator and 3CosAdd."),
    PageSpec("Ethics: biased embeddings", "bias_debias.py", "Hard debiasing", ":material/cleaning_services:",
             "hard-debiasing", "Neutralize and equalize (Step 2a), before and after side by side."),
    PageSpec("Ethics: biased embeddings", "bias_evaluation.py", "Did debiasing work?", ":material/fact_check:",
             "did-it-work", "Benchmarks, WEAT and the Gonen & Goldberg clustering test: lipstick on a pig."),
    PageSpec("Ethics: biased embeddings", "soft_debias.py", "Soft debiasing", ":material/tune:",
             "soft-debiasing", "Bolukbasi section 5.2: a learned linear map, lambda slider, hard vs soft in one table."),
    PageSpec("Ethics: biased embeddings", "beyond_gender.py", "Beyond gender & WEAT", ":material/diversity_3:",
             "beyond-gender", "Bias axes from any word sets, multiclass debiasing (Manzini et al.), WEAT explorer."),
    PageSpec("CNN Visualization", "cnn_tanks.py", "Tanks in trees & influence", ":material/forest:",
             "tanks-in-trees", "Why visualize: a CNN that learned the background, caught by Grad-CAM; attribution to "
             "a neuron vs influence of an input distribution (Leino et al.)."),
    PageSpec("CNN Visualization", "cnn_activations.py", "Intermediate activations", ":material/grid_view:",
             "activations", "Every channel of a layer, and sparsity across the network."),
    PageSpec("CNN Visualization", "cnn_ascent.py", "Filters & class neurons", ":material/auto_awesome:",
             "gradient-ascent", "Gradient ascent in input space: what maximally activates a filter or a class."),
    PageSpec("CNN Visualization", "cnn_gallery.py", "Neuron gallery", ":material/view_module:",
             "neuron-gallery", "Every channel of a layer as a filter picture (Microscope style), kept on disk; "
             "click one to see it fire on your image, link to it by URL."),
    PageSpec("CNN Visualization", "cnn_dream.py", "Deep Dream", ":material/bedtime:",
             "deep-dream", "Amplify what chosen layers see, with octaves and a noise process."),
    PageSpec("CNN Visualization", "cnn_attribution.py", "CAM & Grad-CAM", ":material/local_fire_department:",
             "grad-cam", "Heatmaps of class activation: the CAM and gradient family, compared and scored for faithfulness."),
    PageSpec("Fully Convolutional Learning", "fcn_upsampling.py", "Upsampling & transposed convolution",
             ":material/open_in_full:", "upsampling",
             "Interpolation, zero insertion + filter, max unpooling, convolution as a matrix and its transpose."),
    PageSpec("Fully Convolutional Learning", "fcn_segmentation.py", "Semantic segmentation", ":material/layers:",
             "segmentation", "An FCN with five decoders (ASPP, pyramid pooling): IoU, receptive fields, atrous convolution."),
    PageSpec("Fully Convolutional Learning", "det_rcnn.py", "R-CNN family & instances", ":material/timeline:",
             "rcnn", "R-CNN to Mask R-CNN: what changed, speed vs accuracy; instances from boxes + masks."),
    PageSpec("Fully Convolutional Learning", "det_yolo.py", "YOLO: detections & output tensor", ":material/center_focus_strong:",
             "yolo", "Boxes, confidence and NMS sliders; the S x S x B(5+C) tensor cell by cell; darknet models in Keras."),
    PageSpec("Fully Convolutional Learning", "det_anchors_loss.py", "YOLO: anchors, loss & training", ":material/query_stats:",
             "yolo-training", "Anchors from IoU k-means, the loss term by term, and the tiny YOLO trained here."),
    PageSpec("Fully Convolutional Learning", "det_mask_rcnn.py", "Mask R-CNN: masks & keypoints", ":material/gesture:",
             "mask-rcnn", "After YOLO, as in the slides: boxes -> masks, keypoints as one-pixel masks per RoI, "
             "real-time Mask R-CNN."),
    PageSpec("Live demo", "live_camera.py", "Live camera", ":material/videocam:",
             "live-camera", "The class on camera: emotion + Grad-CAM on faces, selfie segmentation, BlazeFace "
             "anchors, one CNN channel, live with FPS and per-stage milliseconds."),
]

# Section titles in lecture order; a section with no page yet is not shown in the navigation.
SECTIONS = [
    "Start",
    "Ethics: biased embeddings",
    "CNN Visualization",
    "Fully Convolutional Learning",
    "Live demo",
]


# url_path -> the st.Page built by the entrypoint on this run (for st.page_link).
PAGE_OBJECTS: dict = {}


def page_link_target(spec: PageSpec):
    """The st.Page object for ``spec`` when the entrypoint built one, else its file path."""
    return PAGE_OBJECTS.get(spec.url_path, str(spec.path))


def pages_by_section() -> dict[str, list[PageSpec]]:
    grouped: dict[str, list[PageSpec]] = {}
    for section in SECTIONS:
        specs = [p for p in PAGES if p.section == section and p.path.exists()]
        if specs:
            grouped[section] = specs
    return grouped


@functools.cache
def page_objects() -> dict[str, list]:
    """The st.Page objects of the navigation, built once per process: st.Page resolves and stats its file
    (~0.3 ms a page, 22 pages, on every run of every student); each run navigates over its own shallow
    copies (st.navigation marks the copy it runs), so sessions never share a mutable page object. Here and
    not in dashboard/app.py: that script runs anew on every run, and making a cached function there cost
    every run ~2 ms (Streamlit reads the function's source to name its cache)."""
    import streamlit as st

    pages = {
        section: [st.Page(spec.path, title=spec.title, icon=spec.icon,
                          url_path=spec.url_path + "-start" if spec.default else spec.url_path,
                          default=spec.default) for spec in specs]
        for section, specs in pages_by_section().items()
    }
    # The default page is served at "/" and Streamlit drops its url_path, so a link to "/home" said "Page not
    # found": a hidden page under that path runs the same file (its own hash, nothing in the sidebar).
    for specs, page_list in zip(pages_by_section().values(), pages.values(), strict=True):
        page_list += [st.Page(spec.path, title=spec.title, icon=spec.icon, url_path=spec.url_path, visibility="hidden")
                      for spec in specs if spec.default]
    return pages
