"""A few hostile inputs through the real pages (AppTest, issue #16): the sentence is shown, no number
that means nothing, no exception. The rest of the hostile table runs at the library and CLI level."""

from __future__ import annotations

import numpy as np
import pytest

from tests.pages.conftest import app, metric, open_page, page_path  # noqa: F401  (the fixture)


def test_pairs_of_one_word_twice_are_skipped_not_nan(app):  # noqa: F811
    at = open_page(app, "bias_subspace.py")
    at.text_area(key="pairs_text_widget").set_value("she, she\nhe, he\nwoman, man\ngirl, boy\nwoman, man").run()
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "'she, she' names the same word twice" in warnings and "repeats the set 'woman, man'" in warnings
    assert metric(at, "pairs used") == "2"
    assert "nan" not in metric(at, "PC1 share (definitional pairs)")
    at.text_input(key="proj_pair").set_value("cheap, cheap").run()  # a second axis of one word twice
    assert not at.exception and any("twice" in e.value for e in at.error)


def test_weat_with_a_equal_to_b_is_a_sentence_not_a_crash(app):  # noqa: F811
    at = open_page(app, "beyond_gender.py")
    at.selectbox(key="weat_choice").set_value("type your own").run()
    key = "type your own"
    at.text_area(key=f"wx_{key}").set_value("nurse, teacher, dancer").run()
    at.text_area(key=f"wy_{key}").set_value("engineer, pilot, soldier").run()
    at.text_area(key=f"wa_{key}").set_value("she, woman, her").run()
    at.text_area(key=f"wb_{key}").set_value("her, woman, she").run()  # A = B
    assert not at.exception, [e.value for e in at.exception]  # was: nan, then a duplicate element id
    assert any("same words" in w.value for w in at.warning)
    assert not [m for m in at.metric if "nan" in m.value]


def test_analogy_seeds_a_equal_b_and_direct_bias_c0(app):  # noqa: F811
    at = open_page(app, "bias_measures.py")
    at.text_input(key="an_b").set_value("she").run()  # a = b = she
    assert not at.exception
    assert any("same word" in w.value for w in at.warning)
    at.slider(key="direct_c").set_value(0.0).run()
    value = float(metric(at, "DirectBias_0 over"))
    assert 0.0 <= value <= 1.0 and not at.exception


@pytest.mark.parametrize("content, words", [
    ("she 1\nhe -1\nwoman 0.9\nman -0.8\nnurse 0.5\n", "1 dimension"),
    ("she 1e30 1e30 0\nhe -1e30 1e30 0\nwoman 9e29 1e29 0\nman -9e29 1e29 0\nnurse 5e29 5e29 1e29\n", None),
    ("she 0 0 0\nhe 1 0 0\n", "is not a word2vec or GloVe file"),  # a server file: refused, content not echoed
], ids=["one-dimensional", "huge-finite", "zero-row"])
def test_hostile_user_embeddings_on_the_subspace_page(app, tmp_path, monkeypatch, content, words):  # noqa: F811
    (tmp_path / "mine.txt").write_text(content)
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path))
    at = open_page(app, "bias_subspace.py")
    at.selectbox(key="emb_choice").set_value("upload").run()
    at.selectbox(key="emb_server_file").set_value("mine.txt").run()
    assert not at.exception, [e.value for e in at.exception]
    if words is None:  # norms in float64: huge vectors are unit vectors, not zeros
        assert any("mine.txt: 5 words x 3" in c.value for c in at.caption)
        assert "nan" not in " ".join(m.value for m in at.metric)
    else:
        assert any(words in e.value for e in at.error), [e.value for e in at.error]


@pytest.mark.trained
def test_deep_dream_nan_loss_limit_is_a_sentence(app):  # noqa: F811
    at = app()
    at.session_state["_keep_cnn_model"] = "shapes-cnn"  # the small CNN trained here: a fast page
    at.run()
    at.switch_page(page_path("cnn_dream.py"))
    at.session_state["dream_maxloss"] = float("nan")  # what a restored or scripted state can hold
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("loss limit must be a number" in e.value for e in at.error)
    assert np.isnan(at.session_state["dream_maxloss"])


def test_3cosadd_with_three_empty_words_says_what_to_type(app):  # noqa: F811
    """Sweep O19: the free-form analogy with a, b and c emptied said "Not in the vocabulary: , , ."."""
    at = open_page(app, "bias_measures.py")
    for key in ("ff_a", "ff_b", "ff_c"):
        at.text_input(key=key).set_value(" ")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    said = [w.value for w in at.warning if "vocabulary" in w.value or "Type a word" in w.value]
    assert said and all(", , ." not in w for w in said), said
    assert any("Type a word for a, b, c" in w for w in said), said
