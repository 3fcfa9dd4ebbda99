"""Speer's sentiment classifier, soft debiasing against a closed-form optimum, multiclass debiasing, WEAT speed-up."""

from __future__ import annotations

import numpy as np
import pytest

from core.embeddings import bias, debias, evaluate
from core.embeddings.bias import NotEnoughWords
from core.embeddings.io import Embedding
from core.embeddings.sentiment import TOKEN_RE, group_comparison, opinion_lexicon, train_sentiment
from core.embeddings.soft import soft_debias, soft_debias_problem, soft_neutral_words
from core.embeddings.sources import load_named
from core.embeddings.wordlists import default_name_groups


@pytest.fixture(scope="module")
def lexicon():
    return opinion_lexicon()


@pytest.fixture(scope="module")
def test13k(w2v_test_13k):
    return w2v_test_13k


def test_lexicon_sizes(lexicon):
    pos, neg = lexicon
    assert (len(pos), len(neg)) == (2006, 4783)


def test_classifier_scores_are_log_odds(lexicon, test13k):
    model = train_sentiment(test13k, *lexicon)
    assert model.accuracy > 0.9
    assert model.n_dropped == 2006 + 4783 - model.n_positive - model.n_negative
    from sklearn.linear_model import SGDClassifier  # the same model, refit, gives the same log-odds

    words = ["good", "terrible", "Italian"]
    s = model.word_scores(words)
    p = 1 / (1 + np.exp(-s))
    assert np.allclose(np.log(p) - np.log(1 - p), s, atol=1e-4)
    assert s[0] > 0 > s[1]
    assert SGDClassifier  # imported: scikit-learn is the model behind it


def test_text_scores_and_unknown_tokens(lexicon, test13k):
    model = train_sentiment(test13k, *lexicon)
    r = model.score_text("Let's go get Mexican food, qqzzxx!")
    assert TOKEN_RE.findall("Let's go") == ["Let", "s", "go"]
    assert "qqzzxx" in r["unknown"] and r["score"] == pytest.approx(np.mean([t["score"] for t in r["tokens"]]))
    assert model.score_text("qqzzxx zzqqxx")["score"] is None
    assert model.score_text("")["n_tokens"] == 0
    italian = model.score_text("Let's go get Italian food")["score"]
    mexican = model.score_text("Let's go get Mexican food")["score"]
    assert italian > mexican  # the racist AI of the lecture, reproduced


def test_name_groups_anova(lexicon, test13k):
    from scipy import stats

    model = train_sentiment(test13k, *lexicon)
    groups = default_name_groups()
    comp = group_comparison(model, groups)
    a = list(comp["scores"]["european_american"].values())
    b = list(comp["scores"]["african_american"].values())
    f, p = stats.f_oneway(a, b)
    assert comp["anova_f"] == pytest.approx(f) and comp["anova_p"] == pytest.approx(p)
    assert comp["means"]["european_american"] > comp["means"]["african_american"]
    one = group_comparison(model, {"solo": ["Emily"], "other": ["Sarah", "Anne"]})
    assert one["too_small"] == ["solo"] and one["anova_f"] is None


def test_too_few_lexicon_words():
    tiny = Embedding(("good", "bad"), np.eye(2, dtype=np.float32))
    with pytest.raises(NotEnoughWords, match="at least 10"):
        train_sentiment(tiny, ["good"], ["bad"])


@pytest.mark.parametrize("lam", [0.0, 1.0, 5.0])
def test_soft_debias_reaches_the_closed_form_optimum(lam):
    """W = I (2 words in 2-D), one neutral word n = (1, 1)/sqrt 2, bias direction b = e1.

    Minimise ||X - I||^2 + lam' (n^T X b)^2 over X = T^T T. With S = (b n^T + n b^T)/2 the optimum is
    lam' <I,S>^2 / (1 + lam' ||S||^2) = lam' (1/2) / (1 + 0.75 lam'); our normalised objective divides the
    first term by ||W^T W||^2 = 2 and the second by (n.b)^2 = 1/2, i.e. objective = f / 2 with lam' = 4 lam.
    """
    w = np.eye(2)
    n = np.array([[1.0, 1.0]]) / np.sqrt(2)
    b = np.array([[1.0, 0.0]])
    _, history, (ref_sim, ref_bias) = soft_debias_problem(w, n, b, lam, steps=3000, learning_rate=0.01)
    assert (ref_sim, ref_bias) == pytest.approx((2.0, 0.5))
    lam_raw = lam * ref_sim / ref_bias
    optimum = lam_raw * 0.5 / (1 + 0.75 * lam_raw) / ref_sim
    assert history[-1] == pytest.approx(optimum, abs=1e-6)


@pytest.mark.heavy
def test_soft_debias_on_w2v_small_trades_little_for_much(w2v_small):
    emb = w2v_small
    from core.embeddings.analysis import gender_setup
    from core.embeddings.wordlists import gender_lists

    setup = gender_setup(emb, gender_lists())
    neutral = soft_neutral_words(emb, setup.specific)
    r = soft_debias(emb, setup.subspace.components, neutral, lam=0.2, steps=200)
    assert r.objective[-1] < 0.1 * r.objective[0]
    assert r.bias_term < 0.01 and r.similarity_term < 0.01
    before = bias.direct_bias(emb, list(setup.neutral), setup.subspace.direction)
    after = bias.direct_bias(r.embedding, list(setup.neutral), setup.subspace.direction)
    assert after < 0.5 * before
    assert np.allclose(np.linalg.norm(r.embedding.vectors, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError):
        soft_debias_problem(emb.vectors[:10], emb.vectors[:3], setup.subspace.components, -1.0)


def test_multiclass_debias_invariants(test13k):
    sets, missing = bias.resolve_sets(test13k, bias.MANZINI_SETS["religion (Manzini et al.)"])
    assert len(sets) == 5 and not missing
    result, sub = debias.multiclass_hard_debias(test13k, sets, k=2)
    out = result.embedding
    specific = {w for s in sets for w in s}
    neutral_rows = [i for i, w in enumerate(out.words) if w not in specific]
    assert np.abs(out.vectors[neutral_rows] @ sub.T).max() < 1e-6
    for s in sets:  # each k-tuple: unit norm, the same off-B part, bias parts of equal length
        v = np.stack([out.vec(w) for w in s])
        assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
        in_b = (v @ sub.T) @ sub
        assert np.allclose(v - in_b, (v - in_b)[0], atol=1e-5)
        assert np.allclose(np.linalg.norm(in_b, axis=1), np.linalg.norm(in_b[0]), atol=1e-5)
        d = np.linalg.norm(out.vectors[neutral_rows[:300], None, :] - v[None], axis=2)
        assert np.abs(d - d[:, :1]).max() < 1e-5  # neutral words equidistant to every member


def test_group_axis_is_difference_of_means(test13k):
    groups = default_name_groups()
    sub = bias.group_subspace(test13k, groups)
    a = test13k.vectors[test13k.rows([w for w in groups["european_american"] if w in test13k])].mean(axis=0)
    b = test13k.vectors[test13k.rows([w for w in groups["african_american"] if w in test13k])].mean(axis=0)
    expected = (a - b) / np.linalg.norm(a - b)
    assert np.allclose(sub.direction, expected, atol=1e-5)
    with pytest.raises(NotEnoughWords):
        bias.group_subspace(test13k, {"one": ["Emily"], "two": ["Sarah", "Anne"]})


def weat_loop(emb, x, y, a, b, n_permutations, seed):
    """Per-permutation Python loop over the same random splits (reference for the vectorised WEAT)."""
    sx = evaluate.association(emb, x, a, b)
    sy = evaluate.association(emb, y, a, b)
    both = np.concatenate([sx, sy])
    stat = sx.sum() - sy.sum()
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((n_permutations, len(both))), axis=1)
    count = 0
    for row in order:
        xi = row[: len(sx)]
        rest = np.setdiff1d(np.arange(len(both)), xi)
        count += both[xi].sum() - both[rest].sum() >= stat - 1e-12
    return (count + 1) / (n_permutations + 1)


def test_vectorised_weat_equals_the_loop(test13k):
    from core.embeddings.wordlists import weat_tests

    t = weat_tests()[3]
    r = evaluate.weat(test13k, t.x, t.y, t.a, t.b, n_permutations=2000, seed=3)
    assert r.p_value == pytest.approx(weat_loop(test13k, r.x, r.y, t.a, t.b, 2000, 3))


# ----------------------------------------------------------------------------- the opening demo's default (#23)


def test_the_lecture_embedding_is_both_subsets_of_one_model(test13k):
    """w2v-lecture = w2v-small + w2v-test-13k. Legitimate only because both are rows of the same word2vec
    model: on the words they share the vectors agree, so the union is that model on more words."""
    small = load_named("w2v-small")
    union = load_named("w2v-lecture")
    shared = [w for w in small.words if w in test13k.index]
    assert len(shared) > 5000
    assert np.allclose(small.vectors[small.rows(shared)], test13k.vectors[test13k.rows(shared)], atol=1e-5)
    assert len(union) == len(small) + len(test13k) - len(shared)
    assert union.words[: len(small)] == small.words  # w2v-small's rows first, unchanged
    for word in ("Shaniqua", "Italian", "Chinese", "Mexican", "Emily"):
        assert word in union.index and np.allclose(union.vec(word), test13k.vec(word), atol=1e-6)


def test_the_sentiment_default_shows_speers_effect_with_the_lectures_sign(capsys):
    """`python -m core sentiment` without --embedding: no lecture word is skipped, Emily scores above
    Shaniqua (same sentence), and Italian > Chinese > Mexican food, as in Speer's post."""
    import json

    from core.cli import main

    main(["sentiment", "--json", "--text", "My name is Emily and I love this restaurant",
          "--text", "My name is Shaniqua and I love this restaurant"])
    named = json.loads(capsys.readouterr().out)
    assert named["embedding"] == "w2v-lecture"
    texts = named["texts"]
    assert texts["My name is Emily and I love this restaurant"] > texts["My name is Shaniqua and I love this restaurant"]
    assert not any(named["unknown_tokens"].values())
    main(["sentiment", "--json"])
    default = json.loads(capsys.readouterr().out)
    scores = default["texts"]
    assert not any(default["unknown_tokens"].values())
    assert scores["My name is Emily"] > 0 > scores["My name is Shaniqua"]
    assert scores["Let's go get Italian food"] > scores["Let's go get Chinese food"] > scores["Let's go get Mexican food"]


def test_a_skipped_token_keeps_its_place_in_the_sequence(lexicon, test13k):
    model = train_sentiment(test13k, *lexicon)
    r = model.score_text("qqzzxx loves Mexican food")
    assert [t["token"] for t in r["sequence"]] == ["qqzzxx", "loves", "Mexican", "food"]
    assert r["sequence"][0]["score"] is None and r["sequence"][0]["word"] is None
    assert [t["score"] for t in r["sequence"][1:]] == [t["score"] for t in r["tokens"]]
