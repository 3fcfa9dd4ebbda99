"""The sidebar and Home follow the slides (issue #15, point 3).

SLIDES is the two lectures' slide sequence (headings of ../shared/lecture-notes.md) with the page that
teaches each slide. The test walks the navigation three ways — the registry, the dict the entrypoint
hands to st.navigation on a real AppTest run, and Home's agenda links as rendered — and checks that
pages appear in the order their slides first appear. Pages that are not slides have fixed places.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import navigation
from tests.pages.conftest import APP

NOTES = Path(__file__).resolve().parents[3] / "shared" / "lecture-notes.md"

# (heading on the slide, url_path of the page that teaches it), in slide order.
SLIDES = [
    ("How to Make a Racist AI without really Trying", "racist-ai"),
    ("How to Make a Racist AI without really Trying", "gender-subspace"),
    ("How to Make a Racist AI without really Trying", "bias-measures"),
    ("How to Make a Racist AI without really Trying", "hard-debiasing"),
    ("How to Make a Racist AI without really Trying", "did-it-work"),
    ("How to Make a Racist AI without really Trying", "soft-debiasing"),
    ("How to Make a Racist AI without really Trying", "beyond-gender"),
    ("Why Visualize Trained CNN Architectures?", "tanks-in-trees"),
    ("Attribution versus Influence", "tanks-in-trees"),
    ("Visualizing Intermediate Activations", "activations"),
    ("Visualizing Filters: Class Neuron", "gradient-ascent"),
    ("Visualizing Filters: Maximal Activations", "gradient-ascent"),
    ("Visualizing Filters: Deep Dream", "deep-dream"),
    ("Class Activation Mapping (CAM)", "grad-cam"),
    ("Aside: Integer Upsampling via Interpolation", "upsampling"),
    ("What about transpose convolution?", "upsampling"),
    ("Transpose Convolution: Strides", "upsampling"),
    ("Pyramid Scene Parsing Network (PSPNet)", "segmentation"),
    ("DeepLabV3: Dilated Convolutions (Atrous Convolutions)", "segmentation"),
    ("2014: R-CNN", "rcnn"),
    ("2015: Faster R-CNN", "rcnn"),
    ("The YOLO Output Tensor", "yolo"),
    ("The YOLO Loss Function", "yolo-training"),
    ("2018: Mask R-CNN", "mask-rcnn"),
]
# Pages that are not slides: (url_path, the page it follows) — None: first.
NOT_SLIDES = {"home": None, "setup": "home", "neuron-gallery": "gradient-ascent"}
LAST_SECTION = "Live demo"


def first_appearance(paths):
    seen = []
    for p in paths:
        if p not in seen:
            seen.append(p)
    return seen


def check_order(url_paths: list[str]) -> None:
    """``url_paths``: the pages in the order shown. Slide pages in slide order, the others in place."""
    slide_pages = first_appearance(p for _, p in SLIDES)
    shown = [p for p in url_paths if p in slide_pages]
    assert shown == slide_pages, f"slide pages shown as {shown}, slides order {slide_pages}"
    for page, after in NOT_SLIDES.items():
        if page not in url_paths:
            continue
        i = url_paths.index(page)
        if after is None:
            assert i == 0, f"{page} should come first"
        else:
            assert url_paths[i - 1] == after, f"{page} should follow {after}, follows {url_paths[i - 1]}"


def test_the_slide_list_is_the_notes_order():
    """SLIDES itself is checked against the notes (when the course's shared folder is there)."""
    if not NOTES.exists():
        pytest.skip("lecture notes not present")
    text = NOTES.read_text(encoding="utf-8")
    position = 0
    for heading, _ in SLIDES:
        found = text.find(heading, position)
        assert found >= 0, f"'{heading}' not found after position {position}"
        position = found


def test_registry_follows_the_slides():
    pages = [spec.url_path for specs in navigation.pages_by_section().values() for spec in specs]
    check_order(pages)
    sections = list(navigation.pages_by_section())
    assert sections[:4] == ["Start", "Ethics: biased embeddings", "CNN Visualization", "Fully Convolutional Learning"]
    if LAST_SECTION in sections:
        assert sections[-1] == LAST_SECTION
    # every page that teaches a slide is a real page in the registry
    assert set(p for _, p in SLIDES) <= set(pages)


def test_the_sidebar_the_app_builds_follows_the_slides(monkeypatch):
    """What the entrypoint passes to st.navigation on a real run (the sidebar's order)."""
    recorded = []
    original = st.navigation

    def spy(pages, **kwargs):
        recorded.append(pages)
        return original(pages, **kwargs)

    monkeypatch.setattr(st, "navigation", spy)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert recorded, "the entrypoint did not call st.navigation"
    sections = recorded[-1]
    by_title = {spec.title: spec.url_path for spec in navigation.PAGES}  # the default page's url_path is ""
    shown = [by_title[page.title] for page_list in sections.values() for page in page_list]
    check_order(shown)

    # Home's agenda, as rendered: its links in slide order, lecture 1 before lecture 2.
    links = [el.proto.page for el in at.get("page_link")]
    agenda = [link.strip("/").split("/")[-1].removesuffix(".py") for link in links]
    by_file = {spec.path.stem: spec.url_path for spec in navigation.PAGES}
    agenda_paths = [by_file.get(a, a) for a in agenda]
    slide_pages = first_appearance(p for _, p in SLIDES)
    in_agenda = first_appearance(p for p in agenda_paths if p in slide_pages)
    assert in_agenda == slide_pages, in_agenda
