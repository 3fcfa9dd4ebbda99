"""The lecture path (core/lecture.toml, issue #23): every content slide of the notes has a step, in order,
and every step opens on its page with its preset view, walked with the app's own "›" control."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import lecture
from dashboard import navigation
from tests.pages.conftest import APP, elements

NOTES = Path(__file__).resolve().parents[3] / "shared" / "lecture-notes.md"


def test_the_steps_cover_every_content_heading_of_the_notes_in_order():
    if not NOTES.exists():
        pytest.skip("lecture notes not present")
    headings = lecture.content_headings(NOTES.read_text(encoding="utf-8"))
    assert len(headings) > 30  # the notes' structure was read (not an empty list compared to an empty list)
    assert lecture.slide_sequence() == headings


def test_every_step_is_complete_and_names_a_real_page():
    pages = {spec.url_path for spec in navigation.PAGES}
    for i, step in enumerate(lecture.steps(), start=1):
        assert step.page in pages, (i, step.page)
        assert step.claim and step.try_ and step.question and step.answer, i
        assert "lecture" not in step.params, f"step {i}: lecture mode is the presenter's, not the step's"


def test_the_json_keeps_its_keys(capsys):
    from core.cli import main

    assert main(["lecture", "--json"]) in (0, None)
    import json

    payload = json.loads(capsys.readouterr().out)
    assert len(payload["steps"]) == len(lecture.steps())
    assert {"slide", "page", "query", "claim", "try", "question", "answer"} <= set(payload["steps"][0])


@pytest.mark.trained  # the path visits the segmentation and tanks pages (self-trained models)
def test_walking_every_step_with_the_slide_control_opens_each_view_without_an_exception():
    """One session walks the whole path with "›" in lecture mode (pages are cached after their first step,
    so each page costs one cold run) and checks the page and the preset view each step lands on."""
    steps = lecture.steps()
    at = AppTest.from_file(APP, default_timeout=600)
    at.query_params["lecture"] = "1"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["_lecture_step"] == -1  # on Home, before the first step
    for k in range(1, len(steps) + 1):
        at.button(key="_lecture_next").click().run()
        step = steps[k - 1]
        assert not at.exception, (k, step.slide, [e.value for e in at.exception])
        assert at.session_state["_lecture_step"] == k - 1
        assert any(f"Slide {k} / {len(steps)}" in m.value for m in at.markdown), k
        assert at.query_params.get("lecture") == "1", k  # the presenter's lecture mode is kept
        for key, value in step.params.items():  # the preset was applied (a rejected value leaves the link)
            assert at.query_params.get(key) == value, (k, key, dict(at.query_params))
        assert at.session_state["_urlstate"].page == step.page, (k, step.page)  # the page that ran
    at.button(key="_lecture_prev").click().run()  # and back one: the previous step's view
    assert not at.exception
    assert at.session_state["_lecture_step"] == len(steps) - 2


# pages with several slides: a step's sub-heading or slide heading -> a text of the first thing drawn under the title
STAGED = {
    "upsampling": {"Aside: Integer Upsampling via Interpolation": "nearest (OpenCV)",
                   "Aside: Image Upsampling, Integer Factor": "**zero-inserted** (7 x 7)",
                   "Max pooling and max unpooling": "**input** (switches highlighted)",
                   "What about transpose convolution?": "The slide's construction",
                   "Transpose Convolution: Strides": "Stride 2 keeps rows 1, 3, 5"},
    "rcnn": {"Object Segmentation": "Fast R-CNN", "2014: R-CNN": "Fast R-CNN", "RoI pooling": "RoIAlign",
             "2015: Faster R-CNN": "Fast R-CNN", "The slide's loss": "predicted width",
             "YOLO ~40-60 FPS": "Fast R-CNN"},
    "yolo-training": {"Training the YOLO Architecture": "coord_xy", "Update bounding box, confidence, class loss": "coord_xy",
                      "Anchors from IoU k-means": "mean IoU", "mAP, and what are we going to do with these detectors?":
                      "mAP@0.5 → mAP@[.5:.95]"},
    "yolo": {"In Parallel...": "**Detections**", "Don't want to listen to me explain it?": "**Detections**",
             "The output tensor, cell by cell": "b_x = (σ(t_x) + c_x)/S", "DarkNet": "label: \"Outputs\"",
             "Three scales": "b_x = (σ(t_x) + c_x)/S", "Darknet models in Keras": "label: \"Outputs\""},
    "tanks-in-trees": {"Reliability: tanks in trees": "Grad-CAM (",
                       "Influence of an input distribution (Leino et al.)": "Influence of each"},
    "activations": {"Early layers: many large maps": "channels, ", "Result: an information distillation pipeline":
                    "fraction of zero activations"},
}
CONTENT = {"markdown", "html", "plotly_chart", "arrow_data_frame", "imgs", "caption", "metric"}


@pytest.mark.parametrize("page", [pytest.param("upsampling"), pytest.param("rcnn", marks=pytest.mark.trained),
                                  pytest.param("yolo-training", marks=pytest.mark.trained),
                                  pytest.param("yolo", marks=pytest.mark.trained),
                                  pytest.param("tanks-in-trees", marks=pytest.mark.trained), "activations"])
def test_each_slide_of_a_page_puts_its_own_section_on_the_stage(page):
    """In lecture mode a step's picture comes right under the title: on a page that carries several slides, the
    section the slide is about (the walk at 1920 x 1080 found the transposed-convolution slides showing the
    interpolation grids, and Fast R-CNN's RoI pooling slide the timeline)."""
    steps = lecture.steps()
    path = str(next(s.path for s in navigation.PAGES if s.url_path == page))
    seen = []
    for k, step in enumerate(steps):
        if step.page != page:
            continue
        at = AppTest.from_file(APP, default_timeout=600)  # a session opening the step's link on that step
        at.query_params["lecture"] = "1"
        at.run()
        at.query_params.update(step.params)
        at.session_state["_lecture_step"] = k
        at.switch_page(path).run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.session_state["_lecture_step"] == k
        nodes = list(elements(at.main))
        kinds = [getattr(n, "type", "") for n in nodes]
        first = next(n for n in nodes[kinds.index("title") + 1:] if getattr(n, "type", "") in CONTENT)
        shown = str(getattr(first, "value", "")) + str(getattr(first, "proto", ""))
        expected = STAGED[page][step.section or step.slide]
        assert expected in shown, (k + 1, step.slide, getattr(first, "type", ""), shown[:300])
        seen.append(step.section or step.slide)
    assert sorted(seen) == sorted(STAGED[page]), seen
