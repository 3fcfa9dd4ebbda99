"""AppTest of the ethics pages: defaults, hostile inputs, and no leak of debiasing between sessions."""

from __future__ import annotations

import numpy as np
import pytest

from core.assets import AssetManager
from core.embeddings.io import parse_embedding
from tests.pages.conftest import metric, open_page


def test_subspace_defaults_show_the_papers_numbers(app):
    at = open_page(app, "bias_subspace.py")
    assert metric(at, "PC1 share (definitional pairs)") == "60.5%"
    assert metric(at, "pairs used") == "10"
    assert len(at.get("plotly_chart")) >= 3


def test_subspace_hostile_pairs(app):
    at = open_page(app, "bias_subspace.py")
    at.text_area(key="pairs_text_widget").set_value("she, he\nthree words here\nzzqq, qqzz\nwoman, man").run()
    assert not at.exception
    assert any("line 2" in w.value for w in at.warning)
    assert any("zzqq" in c.value for c in at.caption)
    assert metric(at, "pairs used") == "2"
    at.text_area(key="pairs_text_widget").set_value("zzqq, qqzz").run()
    assert not at.exception
    assert any("definitional pair" in e.value for e in at.error)
    at.text_area(key="pairs_text_widget").set_value("").run()
    assert not at.exception and at.error


def test_subspace_second_axis_and_search(app):
    at = open_page(app, "bias_subspace.py")
    at.text_input(key="proj_search").set_value("nurse, notawordzz").run()
    assert any("notawordzz" in c.value for c in at.caption)
    at.text_input(key="proj_pair").set_value("onlyone").run()
    assert not at.exception and any("two words" in e.value for e in at.error)
    at.radio(key="proj_axis").set_value("first principal component of the professions (gender removed)").run()
    assert not at.exception


def test_measures_defaults_and_hostile_words(app):
    at = open_page(app, "bias_measures.py")
    assert metric(at, "DirectBias_1 over 303") == "0.0731"
    at.text_input(key="ib_w").set_value("qqzzxx").run()
    assert any("Not in the vocabulary" in w.value for w in at.warning)
    at.text_input(key="an_a").set_value("zzqqxx").run()
    assert any("seed words" in w.value for w in at.warning)
    at.text_input(key="ff_c").set_value("").run()
    assert not at.exception
    at.toggle(key="ff_excl").set_value(False).run()
    assert not at.exception
    assert any("'doctor' rather than" in i.value for i in at.info) or at.warning


@pytest.mark.heavy
def test_debias_page_modes(app):
    at = open_page(app, "bias_debias.py")
    assert metric(at, "Direct bias before") == "0.0731"
    assert float(metric(at, "Direct bias after")) < 1e-6
    at.text_area(key="specific_remove_widget").set_value("she, he, actress").run()
    assert not at.exception
    at.radio(key="equalize_convention_widget").set_value("debiaswe").run()
    assert not at.exception
    at.text_input(key="deb_nn").set_value("zzqq, nurse").run()
    assert any("zzqq" in c.value for c in at.caption)


@pytest.mark.heavy
def test_evaluation_page_shows_lipstick_on_a_pig(app):
    at = open_page(app, "bias_evaluation.py")
    kmeans = float(metric(at, "k-means").rstrip("%")) / 100
    assert 0.6 < kmeans < 0.95  # bias survives although the projection is zero
    assert at.dataframe
    weat = next(df.value for df in at.dataframe if "d original" in df.value.columns)
    assert not weat.isna().any().any() and "None" not in weat.to_string()  # no empty cells (#23)
    not_run = [m.value for m in at.markdown if m.value.startswith("Not run on")]
    assert len(weat) + (not_run[0].count("**WEAT") if not_run else 0) == 10  # every test: a row or a reason


def test_debiasing_in_one_session_never_changes_another(app):
    """Session 1 debiases; session 2 (and the process-wide cache) still holds the original vectors."""
    first = open_page(app, "bias_debias.py")
    assert float(metric(first, "Direct bias after")) < 1e-6
    from dashboard import resources

    cached = resources.CACHES["embeddings"].lookup("w2v-small")
    fresh = parse_embedding(AssetManager().path("w2v-small")).normalized()
    assert np.array_equal(cached.vectors, fresh.vectors)
    assert not cached.vectors.flags.writeable
    second = open_page(app, "bias_measures.py")
    assert metric(second, "DirectBias_1 over 303") == "0.0731"


def test_no_widget_reads_a_server_path_unless_the_operator_sets_a_data_folder(app, monkeypatch):
    monkeypatch.delenv("DASHBOARD_DATA_DIR", raising=False)
    at = open_page(app, "bias_subspace.py")
    at.selectbox(key="emb_choice").set_value("upload").run()
    assert any("Upload an embedding file" in i.value for i in at.info)
    assert not [t for t in at.text_input if "path" in (t.label or "").lower()]
    assert not [b for b in at.selectbox if b.key == "emb_server_file"]


def test_user_embedding_from_the_data_folder_and_malformed_file(app, tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "tiny.txt").write_text("she 1 0 0\nhe -1 0 0\nwoman 0.9 0.1 0\nman -0.9 0.1 0\nnurse 0.5 0.5 0.1\n")
    (folder / "bad.txt").write_text("SECRET_TOKEN 1 0 0\nhe -1 0\n")
    (tmp_path / "outside.txt").write_text("she 1 0 0\nhe -1 0 0\n")
    (folder / "escape.txt").symlink_to(tmp_path / "outside.txt")
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(folder))
    at = open_page(app, "bias_subspace.py")
    at.selectbox(key="emb_choice").set_value("upload").run()
    box = at.selectbox(key="emb_server_file")
    assert box.options == ["(none)", "bad.txt", "tiny.txt"]  # the symlink out of the folder is not offered
    box.set_value("bad.txt").run()
    assert not at.exception
    assert any("'bad.txt' is not a word2vec or GloVe file" in e.value for e in at.error)
    assert not any("SECRET_TOKEN" in e.value for e in at.error)  # a server file's content is never echoed
    at.selectbox(key="emb_server_file").set_value("tiny.txt").run()
    assert not at.exception
    assert any("tiny.txt: 5 words x 3" in c.value for c in at.caption)




@pytest.mark.parametrize("file", ["bias_subspace.py", "bias_measures.py", "bias_debias.py", "bias_evaluation.py"])
def test_every_ethics_page_survives_a_tiny_user_embedding(app, tmp_path, file, monkeypatch):
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("she 1 0 0\nhe -1 0 0\nnurse 0.5 0.5 0.1\nwoman 0.9 0.1 0\nman -0.9 0.1 0\n")
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path))
    at = open_page(app, file)
    at.selectbox(key="emb_choice").set_value("upload").run()
    at.selectbox(key="emb_server_file").set_value("tiny.txt").run()
    assert not at.exception, [e.value for e in at.exception]


def test_racist_ai_page_defaults_and_hostile_text(app):
    at = open_page(app, "racist_ai.py")
    assert float(metric(at, "held-out accuracy").rstrip("%")) > 90
    assert any("ANOVA" in m.value for m in at.markdown)
    assert at.selectbox(key="emb_choice").value == "w2v-lecture"  # the page's own default (#23)
    table = at.dataframe[0].value
    assert table.loc["My name is Emily", "w2v-lecture"] > 0 > table.loc["My name is Shaniqua", "w2v-lecture"]
    at.text_input(key="sent_text").set_value("My name is Shaniqua, qqzzxx").run()
    assert not at.exception
    chart = at.get("plotly_chart")[0].proto.spec
    assert '"skipped"' in chart  # the unknown token is marked in the token chart
    at.text_input(key="sent_text").set_value("").run()
    assert any("Type a sentence" in i.value for i in at.info)
    at.text_input(key="sent_text").set_value("qqzzxx zzqqxx").run()
    assert any("nothing to score" in w.value for w in at.warning)
    at.text_area(key="grp_words_0").set_value("Emily").run()  # a group with one name
    assert not at.exception
    assert any("fewer than 2 names" in w.value for w in at.warning)


@pytest.mark.heavy
def test_soft_debias_page_lambda_extremes(app):
    at = open_page(app, "soft_debias.py")
    assert at.dataframe
    at.select_slider(key="soft_steps").set_value(50)  # one run with both (a run per change optimised T once more)
    at.select_slider(key="soft_lambda").set_value(0.0).run()
    assert not at.exception and any("T stays the identity" in i.value for i in at.info)
    at.select_slider(key="soft_lambda").set_value(1000.0).run()
    assert not at.exception and any("almost all weight" in i.value for i in at.info)


def test_beyond_gender_page_presets_and_hostile_sets(app):
    at = open_page(app, "beyond_gender.py")
    assert metric(at, "effect size d (original)")
    import json

    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    before, after = (next(c for c in charts if c["layout"].get("title", {}).get("text", "").startswith(t))
                     for t in ("before", "after"))
    assert "she" not in before["layout"]["xaxis"]["title"]["text"]  # the race axis is not gender's (#23)
    assert before["layout"]["xaxis"]["range"] == after["layout"]["xaxis"]["range"]  # one scale for both
    at.selectbox(key="bg_preset").set_value("religion (Manzini et al.)").run()
    assert not at.exception  # only 2 sets on w2v-small: still works
    at.selectbox(key="bg_preset").set_value("your own aligned sets").run()
    at.text_area(key="bg_sets_your own aligned sets").set_value("a, b, c\nd, e").run()
    assert any("same number of words" in e.value for e in at.error)
    at.selectbox(key="bg_preset").set_value("race from first names (WEAT groups)").run()
    at.selectbox(key="weat_choice").set_value("type your own").run()
    assert not at.exception and at.warning  # empty sets: a sentence, not a traceback
