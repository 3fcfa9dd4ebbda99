"""AppTest of the CNN pages with their defaults and with awkward inputs."""

from __future__ import annotations

from tests.pages.test_embedding_pages import open_page


def test_activations_page_defaults_and_layers(app):
    at = open_page(app, "cnn_activations.py")
    assert any("happy" in str(df.value) for df in at.dataframe)
    assert any("sparser" in i.value for i in at.info)
    at.selectbox(key="act_image_face").set_value("whole image").run()
    at.toggle(key="act_std").set_value(False).run()
    layers = at.selectbox(key="act_layer").options
    at.selectbox(key="act_layer").set_value(layers[-1]).run()
    assert not at.exception
    at.selectbox(key="act_image_sample").set_value("coffee").run()  # no face in it
    assert not at.exception


def test_activations_on_the_shapes_model(app):
    at = open_page(app, "cnn_activations.py")
    at.selectbox(key="cnn_model").set_value("shapes-cnn").run()
    assert not at.exception and at.get("plotly_chart")


def test_ascent_page_filters_and_class(app):
    at = open_page(app, "cnn_ascent.py")
    assert any("Objective" in c.value for c in at.caption)
    at.segmented_control(key="asc_mode").set_value("a class neuron").run()
    assert not at.exception
    at.slider(key="asc_steps").set_value(20)
    next(b for b in at.button if b.label == "Run gradient ascent").click().run()
    assert not at.exception
    assert any("now predicts" in m.value for m in at.markdown)


def test_dream_page_defaults_and_no_layer(app):
    at = open_page(app, "cnn_dream.py")
    assert any("Octaves" in c.value for c in at.caption)
    at.multiselect(key="dream_layers").set_value([])
    next(b for b in at.button if b.label == "Dream").click().run()
    assert not at.exception
    assert any("at least one layer" in w.value for w in at.warning)


def test_attribution_page_defaults_to_grad_cam_happy(app):
    at = open_page(app, "cnn_attribution.py")
    assert not at.exception
    assert any("Grad-CAM for 'happy'" in s.value for s in at.subheader)
    assert any("happy" in str(df.value) for df in at.dataframe)  # the top-5 table
    assert any("Most faithful here" in i.value for i in at.info)
    faith = next(df.value for df in at.dataframe if "deletion AUC ↓" in df.value.columns)
    assert len(faith) == 8 and faith["deletion AUC ↓"].between(0, 1).all()  # 7 methods + random order


def test_attribution_page_methods_classes_and_layers(app):
    at = open_page(app, "cnn_attribution.py")
    for method in ("smoothgrad", "ig", "scorecam", "cam"):
        at.selectbox(key="attr_method").set_value(method).run()
        assert not at.exception, method
    at.selectbox(key="attr_class").set_value("sad").run()
    at.selectbox(key="attr_two_b").set_value("angry").run()
    at.slider(key="attr_alpha").set_value(1.0).run()
    assert not at.exception and any("'sad'" in s.value for s in at.subheader)
    at.selectbox(key="attr_image_face").set_value("whole image").run()
    assert not at.exception


def test_attribution_page_on_the_shapes_model(app):
    at = open_page(app, "cnn_attribution.py")
    at.selectbox(key="attr_model").set_value("shapes-cnn").run()
    assert not at.exception
    at.selectbox(key="attr_layer").set_value("conv1_1").run()
    assert not at.exception and any("conv1_1" in c.value for c in at.caption)


def test_tanks_page_fails_on_swapped_backgrounds(app):
    at = open_page(app, "cnn_tanks.py")
    assert not at.exception
    assert any("accuracy falls to" in e.value for e in at.error)
    assert any("of Grad-CAM's heat" in i.value for i in at.info)
    at.selectbox(key="tanks_inf_class").set_value("truck").run()
    at.selectbox(key="tanks_inf_layer").set_value("conv2").run()
    at.slider(key="tanks_inf_example").set_value(5).run()
    assert not at.exception
