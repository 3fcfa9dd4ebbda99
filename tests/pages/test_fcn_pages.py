"""AppTest of the fully convolutional pages with defaults and awkward inputs."""

from __future__ import annotations

import pytest

from tests.pages.test_embedding_pages import open_page


def test_upsampling_page_shows_the_slide_numbers(app):
    at = open_page(app, "fcn_upsampling.py")
    assert any("equals bilinear" in s.value for s in at.success)
    text = " ".join(m.value for m in at.markdown)
    assert "a*z + b*y + c*x" in text and "identical to the transposed convolution with padding p = 0" in text
    assert any("you fail" in w.value for w in at.warning)  # the slide's rule (#23)
    at.number_input(key="t2_p").set_value(1).run()  # the equivalence uses the p typed, not "p = 0 here"
    at.number_input(key="t2_op").set_value(1).run()
    text = " ".join(m.value for m in at.markdown)
    assert "identical to the transposed convolution with padding p = 1 and output padding 1" in text


def test_upsampling_page_hostile_inputs(app):
    at = open_page(app, "fcn_upsampling.py")
    at.text_input(key="tc_kernel").set_value("x, nan, z").run()
    assert not at.exception and any("finite" in e.value for e in at.error)
    at.text_input(key="tc_kernel").set_value("x, y, z").run()
    at.text_input(key="unpool_values").set_value("1, 2").run()
    assert any("exactly four" in e.value for e in at.error)
    at.text_input(key="unpool_values").set_value("1, 2, 3, 4").run()
    at.number_input(key="t2_s").set_value(4).run()
    at.number_input(key="t2_k").set_value(2).run()
    assert not at.exception and any("larger than the kernel" in i.value for i in at.info)
    at.number_input(key="t2_p").set_value(3).run()
    at.number_input(key="t2_i").set_value(1).run()
    assert not at.exception and any("reduce the padding" in e.value for e in at.error)
    at.slider(key="up_factor").set_value(8).run()
    assert not at.exception


@pytest.mark.trained
def test_segmentation_page_defaults(app):
    at = open_page(app, "fcn_segmentation.py")
    assert float(next(m.value for m in at.metric if m.label.startswith("mean IoU"))) >= 0.8
    at.slider(key="seg_seed").set_value(1042).run()
    assert not at.exception
    assert any("same weights for every input size" in c.value for c in at.caption)


@pytest.mark.trained
def test_deeplab_button_offline_gives_a_sentence(app, monkeypatch):
    from keras_hub.models import DeepLabV3ImageSegmenter

    def offline(*args, **kwargs):
        raise ConnectionError("no route to api.kaggle.com")

    monkeypatch.setattr(DeepLabV3ImageSegmenter, "from_preset", offline)
    at = open_page(app, "fcn_segmentation.py")
    at.button(key="deeplab_load").click().run()
    assert not at.exception
    assert any("place its files" in e.value for e in at.error)


@pytest.mark.trained
def test_segmentation_page_aspp_decoder_and_receptive_fields(app):
    """The fourth decoder (dilated encoder + ASPP): its held-out IoU, its receptive field (the image-level
    branch reaches every pixel), its row in the comparison; the atrous picture and bad rates."""
    at = open_page(app, "fcn_segmentation.py")
    assert any(c.value.startswith("3 layers, 27 weights: a 15 x 15 field") for c in at.caption)
    at.radio(key="seg_decoder").set_value("aspp").run()
    assert not at.exception
    assert float(next(m.value for m in at.metric if m.label.startswith("mean IoU"))) >= 0.7
    assert next(m.value for m in at.metric if m.label == "receptive field") == "128 px"  # the whole probe scene
    table = next(df.value for df in at.dataframe if "receptive field" in df.value.columns)
    row = table[table["decoder"].str.startswith("dilated encoder + ASPP")]
    assert len(row) == 1 and 0.7 <= float(row["mean IoU"].iloc[0]) <= 1
    at.text_input(key="atrous_rates").set_value("2, 2, 2").run()
    assert any("never seen" in c.value for c in at.caption)
    for bad in ("1, 0", "a, b", "1 2 3 4 5 6 7", ""):
        at.text_input(key="atrous_rates").set_value(bad).run()
        assert not at.exception and any(e.value.startswith("Rates:") for e in at.error)


@pytest.mark.trained
def test_segmentation_page_hostile_atrous_links():
    """A link with thousands of rates and a pyramid level that does not exist: one sentence, no traceback."""
    from tests.pages.test_urlstate import open_with

    at = open_with({"atrous_rates": "1, " * 3000, "psp_bins": "7"}, "fcn_segmentation.py")
    assert any(e.value.startswith("Rates: Give between 1 and 6 rates") for e in at.error)
    assert at.select_slider(key="psp_bins").value in (1, 2, 3, 6)


def test_upsampling_page_builds_bicubic_from_zeros_and_a_cubic_kernel(app):
    """#23 b: the slide's third equivalence, on the 8 x 8 grid, with a = -0.5 by default and -0.75 as an option."""
    at = open_page(app, "fcn_upsampling.py")
    assert any("equals bicubic interpolation written directly" in s.value for s in at.success)
    assert any("-0.0625, 0, 0.5625, 1, 0.5625, 0, -0.0625" in m.value for m in at.markdown)
    assert any("matches the construction" in c.value for c in at.caption)  # the library check (a = -0.75)
    at.radio(key="up_cubic_a").set_value("opencv").run()
    assert not at.exception
    assert any("-0.09375, 0, 0.59375, 1, 0.59375, 0, -0.09375" in m.value for m in at.markdown)
    assert any("equals bicubic interpolation written directly" in s.value for s in at.success)


@pytest.mark.trained
def test_segmentation_page_shows_fcn_32s_16s_8s_with_their_mean_iou(app):
    """#23 c: the three skip-fusion variants, each with its held-out mean IoU and its predictions."""
    at = open_page(app, "fcn_segmentation.py")
    assert not at.exception, [e.value for e in at.exception]
    ious = {m.label: float(m.value) for m in at.metric if m.label.startswith("mean IoU FCN-")}
    assert set(ious) == {"mean IoU FCN-32s", "mean IoU FCN-16s", "mean IoU FCN-8s"}
    assert ious["mean IoU FCN-8s"] > ious["mean IoU FCN-32s"]  # the fused skips bring the detail back
    captions = [c for img in at.get("image") for c in img.captions]  # one picture: a column per variant
    assert "Columns: scene, truth, FCN-32s, FCN-16s, FCN-8s." in captions, captions


def test_upsampling_heat_maps_are_html_grids_with_the_interpolated_values(app):
    """The six heat maps are plain HTML grids (a browser draws them far faster than Plotly heatmaps, which
    matters when a whole room redraws the page at once): the values in the cells are the interpolation's."""
    import re

    import numpy as np

    from core.fcn import upsampling as U

    at = open_page(app, "fcn_upsampling.py")
    assert not at.get("plotly_chart")
    grids = [h.proto.body for h in at.get("html") if "grid-template-columns" in h.proto.body]
    assert len(grids) == 6
    nearest = next(g for g in grids if "nearest (OpenCV)" in g)
    shown = [float(v) for v in re.findall(r'title="row \d+, col \d+: ([-\d.]+)"', nearest)]
    assert np.allclose(shown, U.interpolate(U.SLIDE_MATRIX, 2, "nearest").ravel(), atol=1e-3)
    assert "repeat(8,1fr)" in nearest and ">16.00</div>" in nearest  # 8 x 8, numbers written in the cells
    at.slider(key="up_factor").set_value(8).run()
    big = next(h.proto.body for h in at.get("html") if "bilinear (OpenCV)" in h.proto.body)
    assert "repeat(32,1fr)" in big and big.count("title=") == 32 * 32 and "</div><div" in big
    assert not re.search(r">\d+\.\d\d</div>", big)  # 32 wide: too small to read, the value is on hover only


def test_heat_grid_html_colours_escapes_and_missing_values():
    import numpy as np

    from dashboard import figures

    out = figures.heat_grid_html(np.array([[0.0, np.nan], [5.0, 10.0]]), "<b>title</b>", "{:g}")
    assert "&lt;b&gt;title&lt;/b&gt;" in out and "<b>" not in out
    assert "rgb(68,1,84)" in out and "rgb(253,231,37)" in out  # Viridis' ends at the matrix's min and max
    assert "no value" in out and out.count("title=") == 4
    flat = figures.heat_grid_html(np.ones((2, 3)), "")
    assert "repeat(3,1fr)" in flat and "aspect-ratio:3/2" in flat
