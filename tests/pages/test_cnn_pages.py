"""AppTest of the CNN pages with their defaults (EfficientNet-Lite0) and with awkward inputs; the
emotion CNN's face-specific behaviour with that model chosen explicitly."""

from __future__ import annotations

import pytest

from tests.pages.test_embedding_pages import open_page


def choose_model(at, key: str, name: str):
    at.selectbox(key=key).set_value(name).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# ----------------------------------------------------------------------------- activations


def test_activations_page_defaults_show_early_edges_and_sparse_late_maps(app):
    at = open_page(app, "cnn_activations.py")
    assert at.selectbox(key="cnn_model").value == "efficientnet-lite0"
    assert at.selectbox(key="act_image_sample").value == "chelsea"
    assert any("Egyptian cat" in str(df.value) for df in at.dataframe)
    assert at.selectbox(key="act_layer").value == "stem_activation"
    assert at.selectbox(key="act_late").value == "block5c_activation"
    assert len(at.get("plotly_chart")) >= 3  # early grid, late grid, the network chart
    assert any("stem_activation (112x112x32" in i.value and "head_activation (7x7x1280" in i.value and "sparser" in i.value
               for i in at.info)
    at.toggle(key="act_only_relu").set_value(False).run()
    layers = at.selectbox(key="act_layer").options
    at.selectbox(key="act_layer").set_value(layers[-1]).run()
    assert not at.exception


def test_activations_on_the_emotion_cnn_face(app):
    at = choose_model(open_page(app, "cnn_activations.py"), "cnn_model", "emotion-cnn")
    assert any("happy" in str(df.value) for df in at.dataframe)
    assert any("sparser" in i.value for i in at.info)
    at.selectbox(key="act_image_face").set_value("whole image").run()
    at.toggle(key="act_std").set_value(False).run()
    assert not at.exception
    at.selectbox(key="act_image_sample").set_value("coffee").run()  # no face in it
    assert not at.exception


@pytest.mark.trained
def test_activations_on_the_shapes_model(app):
    at = choose_model(open_page(app, "cnn_activations.py"), "cnn_model", "shapes-cnn")
    assert at.get("plotly_chart")


# ----------------------------------------------------------------------------- filters and class neurons


def test_ascent_page_defaults_to_mid_level_filters_from_the_gallery(app):
    at = open_page(app, "cnn_ascent.py")
    assert at.selectbox(key="asc_layer").value == "block4a_expand_activation"
    captions = [c for img in at.get("image") for c in img.captions]
    assert [c for c in captions if c.startswith("filter ")] == [f"filter {k}" for k in range(8)]  # the first 8
    assert any("96x96 canvas" in c.value and "truncated at block4a_expand_activation" in c.value and "Objective" in c.value
               for c in at.caption)
    assert any("neuron gallery" in c.value for c in at.caption)


@pytest.mark.heavy
def test_ascent_page_class_neuron(app):
    at = open_page(app, "cnn_ascent.py")
    at.segmented_control(key="asc_mode").set_value("a class neuron").run()
    assert not at.exception
    assert at.selectbox(key="asc_class").value == "honeycomb"
    at.slider(key="asc_c_steps").set_value(20)
    next(b for b in at.button if b.label == "Run gradient ascent").click().run()
    assert not at.exception
    assert any("now predicts" in m.value for m in at.markdown)


def test_ascent_page_emotion_cnn_filters(app):
    at = choose_model(open_page(app, "cnn_ascent.py"), "asc_model", "emotion-cnn")
    at.slider(key="asc_f_steps").set_value(20)
    next(b for b in at.button if b.label == "Run gradient ascent").click().run()
    assert not at.exception
    assert any("64x64 canvas" in c.value for c in at.caption)


# ----------------------------------------------------------------------------- Deep Dream


def test_dream_page_defaults_and_no_layer(app):
    at = open_page(app, "cnn_dream.py")
    assert at.selectbox(key="dream_image_sample").value == "china"
    assert list(at.multiselect(key="dream_layers").value) == ["block6a_expand_activation"]  # the slide's one layer A
    assert at.radio(key="dream_objective").value == "activation"  # the slide's f_A and ε are the defaults
    assert at.radio(key="dream_eps").value == "scale" and at.slider(key="dream_scaling").value == 1
    assert any("Octaves 140x93 → 196x131 → 274x183 → 384x256" in c.value for c in at.caption)
    at.multiselect(key="dream_layers").set_value([])
    next(b for b in at.button if b.label == "Dream").click().run()
    assert not at.exception
    assert any("at least one layer" in w.value for w in at.warning)


# ----------------------------------------------------------------------------- CAM and Grad-CAM


def test_attribution_page_defaults_to_the_cat_and_the_espresso(app):
    at = open_page(app, "cnn_attribution.py")
    assert at.selectbox(key="attr_image_sample").value == "cat_and_espresso"
    assert at.selectbox(key="attr_layer").value == "head_activation"
    assert at.selectbox(key="attr_two_b").value == "espresso"
    assert any("Grad-CAM for 'tiger cat'" in s.value and "for 'espresso'" in s.value for s in at.subheader)
    assert any("espresso" in str(df.value) for df in at.dataframe)  # the top-5 table
    captions = [c for img in at.get("image") for c in img.captions]
    assert any("Guided Grad-CAM: 'espresso'" in c for c in captions)  # the default tab: guided methods


def test_attribution_page_guided_methods_and_layer_choice(app):
    at = open_page(app, "cnn_attribution.py")
    for method in ("guided-backprop", "guided-gradcam", "saliency"):
        at.selectbox(key="attr_method").set_value(method).run()
        assert not at.exception, method
    at.selectbox(key="attr_method").set_value("gradcam").run()
    at.selectbox(key="attr_layer").set_value("block5c_add").run()
    assert not at.exception and any("block5c_add: a 14x14 map" in c.value for c in at.caption)


@pytest.mark.heavy
def test_attribution_page_emotion_cnn_happy_and_faithfulness(app):
    at = choose_model(open_page(app, "cnn_attribution.py"), "attr_model", "emotion-cnn")
    assert any("Grad-CAM for 'happy'" in s.value for s in at.subheader)
    assert any("happy" in str(df.value) for df in at.dataframe)
    at.session_state["attr_tab"] = "Faithfulness & best layer"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Most faithful here" in i.value for i in at.info)
    faith = next(df.value for df in at.dataframe if "deletion AUC ↓" in df.value.columns and "method" in df.value.columns)
    assert len(faith) == 10 and faith["deletion AUC ↓"].between(0, 1).all()  # 9 methods + random order
    use = [b for b in at.button if b.label.startswith("Use ")]
    if use:  # the suggested layer is not the one in use: one click makes it the target layer
        suggested = use[0].label.removeprefix("Use ")
        use[0].click().run()
        assert at.selectbox(key="attr_layer").value == suggested
    else:
        assert any("already in use" in s.value for s in at.success)


def test_attribution_page_emotion_methods_classes_and_sanity(app):
    at = choose_model(open_page(app, "cnn_attribution.py"), "attr_model", "emotion-cnn")
    for method in ("smoothgrad", "ig", "scorecam", "cam"):
        at.selectbox(key="attr_method").set_value(method).run()
        assert not at.exception, method
    at.selectbox(key="attr_class").set_value("sad").run()
    at.selectbox(key="attr_two_b").set_value("angry").run()
    at.slider(key="attr_alpha").set_value(1.0).run()
    assert not at.exception and any("'sad'" in s.value for s in at.subheader)
    at.session_state["attr_tab"] = "Sanity check"
    at.session_state["attr_sanity_stops"] = 3
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(df.value for df in at.dataframe if "randomised down to" in df.value.columns)
    assert table.iloc[0]["randomised down to"] == "original" and (table.iloc[0, 2:] == 1).all()
    at.selectbox(key="attr_image_face").set_value("whole image").run()
    assert not at.exception


@pytest.mark.trained
def test_attribution_page_on_the_shapes_model(app):
    at = choose_model(open_page(app, "cnn_attribution.py"), "attr_model", "shapes-cnn")
    at.selectbox(key="attr_layer").set_value("conv1_1").run()
    assert not at.exception and any("conv1_1" in c.value for c in at.caption)


# ----------------------------------------------------------------------------- neuron gallery


def test_gallery_page_defaults_and_channel_links(app):
    at = open_page(app, "cnn_gallery.py")
    assert at.selectbox(key="gal_layer").value == "block4a_expand_activation"
    assert any("of 240 channels of block4a_expand_activation on disk" in c.value for c in at.caption)
    assert "block4a_expand_activation" in str(at.query_params["layer"])
    at.number_input(key="gal_channel").set_value(7).run()
    assert not at.exception
    assert any("channel 7: what maximises it" in c for img in at.get("image") for c in img.captions)


def test_gallery_mosaic_loads_its_picture_by_url_and_each_marker_sits_on_its_tile(app):
    """The clickable mosaic is serialised for every student: its picture goes by URL (a served media file),
    not as a megabyte of data URI inside the chart; the invisible marker of channel k is the centre of
    tile k (row k // 8, column k % 8 of 96 px tiles with 2 px gaps), so a click selects what it shows."""
    import json

    at = open_page(app, "cnn_gallery.py")
    chart = next(c for c in at.get("plotly_chart") if "customdata" in c.proto.spec)
    spec = json.loads(chart.proto.spec)
    image = spec["layout"]["images"][0]
    assert not image["source"].startswith("data:") and "media/" in image["source"]
    assert len(chart.proto.spec) < 50_000
    h, w = image["sizey"], image["sizex"]
    assert (h, w) == (4 * 98 - 2, 8 * 98 - 2)
    assert spec["layout"]["xaxis"]["range"] == [0, w] and spec["layout"]["yaxis"]["range"] == [0, h]
    markers = spec["data"][0]
    assert markers["customdata"] == list(range(32))
    for k, x, y in zip(markers["customdata"], markers["x"], markers["y"], strict=True):
        row, col = divmod(k, 8)
        assert x == col * 98 + 48 and h - y == row * 98 + 48, (k, x, y)


def test_gallery_page_opens_a_linked_channel_and_clamps_bad_links(app):
    at = app({"layer": "block4a_expand_activation", "channel": "7"})
    at.run()
    at.switch_page("../pages/cnn_gallery.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="gal_channel").value == 7
    bad = app({"layer": "no_such_layer", "channel": "99999"})
    bad.run()
    bad.switch_page("../pages/cnn_gallery.py")
    bad.run()
    assert not bad.exception, [e.value for e in bad.exception]
    notes = " ".join(c.value for c in bad.caption)
    assert "has no layer 'no_such_layer'" in notes and "out of range" in notes
    assert bad.number_input(key="gal_channel").value == 239


# ----------------------------------------------------------------------------- tanks


@pytest.mark.trained
def test_tanks_page_fails_on_swapped_backgrounds(app):
    at = open_page(app, "cnn_tanks.py")
    assert not at.exception
    assert any("accuracy falls to" in e.value for e in at.error)
    assert any("of Grad-CAM's heat" in i.value for i in at.info)
    at.selectbox(key="tanks_inf_class").set_value("truck").run()
    at.selectbox(key="tanks_inf_layer").set_value("conv2").run()
    at.slider(key="tanks_inf_example").set_value(5).run()
    assert not at.exception


def test_attribution_page_one_class_asked_twice_is_one_picture(app):
    """Both selectors on the same class: one heatmap and a hint, not "espresso vs espresso" (#23)."""
    at = open_page(app, "cnn_attribution.py")
    at.selectbox(key="attr_two_b").set_value(at.selectbox(key="attr_class").value).run()
    assert not at.exception, [e.value for e in at.exception]
    assert " and for " not in at.subheader[0].value
    assert any("same class" in i.value for i in at.info)


@pytest.mark.trained  # shapes-cnn: a small self-trained model keeps the dream short
def test_dream_page_offers_keras_ios_objective_and_roll(app):
    """#23 g: the slide's objective and ε are the defaults; keras-io's squared activations and random roll are
    labelled options, and the dream runs with them (small model, small side)."""
    at = open_page(app, "cnn_dream.py")
    at.selectbox(key="dream_model").set_value("shapes-cnn").run()
    assert at.radio(key="dream_eps").value == "scale" and at.radio(key="dream_objective").value == "activation"
    assert any("keras-io" in o for o in at.radio(key="dream_eps").options)
    at.select_slider(key="dream_side").set_value(256)
    at.slider(key="dream_oct").set_value(1)
    at.slider(key="dream_iter").set_value(5)
    at.radio(key="dream_eps").set_value("roll")
    at.radio(key="dream_objective").set_value("square")
    next(b for b in at.button if b.label == "Dream").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="dream_eps").value == "roll" and at.radio(key="dream_objective").value == "square"
    assert any("5 iterations" in c.value for c in at.caption)  # the dream ran with keras-io's settings
