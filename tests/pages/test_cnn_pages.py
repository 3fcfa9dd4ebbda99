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
