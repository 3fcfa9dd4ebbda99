"""Picture first in lecture mode (#23 h): on the ethics pages the step's chart or table comes right under the
title, before the long text and the controls; the student view keeps its reading order."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.conftest import APP, elements, page_path

# page file -> the kinds of element that are its picture
PICTURES = {"racist_ai.py": {"dataframe"}, "bias_measures.py": {"dataframe"},
            "bias_debias.py": {"plotly_chart"}, "beyond_gender.py": {"plotly_chart"},
            # the walk at 1920 x 1080 (benchmarks/walk_lecture.py) found these steps' pictures below the fold
            "bias_subspace.py": {"plotly_chart"}, "bias_evaluation.py": {"plotly_chart"},
            "soft_debias.py": {"plotly_chart"}, "cnn_activations.py": {"plotly_chart"}}
# pages that load a self-trained model (the trained tier)
# (opened by hand, YOLO training is on its first slide, "Training the YOLO Architecture": the loss section's pictures)
TRAINED = {"fcn_segmentation.py": {"image"}, "det_rcnn.py": {"plotly_chart"}, "det_anchors_loss.py": {"image"}}
BEFORE = {"expander", "text_area", "latex", "selectbox", "slider"}  # long text and controls


def _kinds(at: AppTest) -> list[str]:
    """Element kinds of the page in reading order, from its title on (the lecture bar above is not the page)."""
    kinds = [getattr(n, "type", "") for n in elements(at.main)]
    return kinds[kinds.index("title"):]


def _open(file: str, lecture: bool) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    if lecture:
        at.query_params["lecture"] = "1"
    at.run()
    at.switch_page(page_path(file))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("file", list(PICTURES) + [pytest.param(f, marks=pytest.mark.trained) for f in TRAINED])
def test_in_lecture_mode_the_picture_comes_before_long_text_and_controls(file):
    kinds = _kinds(_open(file, lecture=True))
    first_picture = next(i for i, k in enumerate(kinds) if k in {**PICTURES, **TRAINED}[file])
    first_control = next(i for i, k in enumerate(kinds) if k in BEFORE)
    assert first_picture < first_control, kinds[:first_picture + 1]


def test_the_student_view_keeps_its_order():
    kinds = _kinds(_open("bias_debias.py", lecture=False))
    assert kinds.index("plotly_chart") > kinds.index("latex")  # formulas, controls, then the chart
