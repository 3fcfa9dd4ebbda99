"""Bias measures and hard debiasing on the real w2v-small, against independent numpy references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from core.embeddings import bias, debias, evaluate
from core.embeddings.analysis import benchmark_report, gender_setup, run_debias
from core.embeddings.wordlists import gender_lists


@pytest.fixture(scope="module")
def emb(w2v_small):
    return w2v_small


@pytest.fixture(scope="module")
def lists():
    return gender_lists()


@pytest.fixture(scope="module")
def setup(emb, lists):
    return gender_setup(emb, lists)


@pytest.fixture(scope="module")
def hard(emb, setup):
    return run_debias(emb, setup, "hard")


# ----------------------------------------------------------------------------- Step 1


def test_pca_direction_matches_covariance_eigenvector(emb, lists, setup):
    """B from our SVD equals the top eigenvector of the paper's C = sum_i sum_w (w - mu_i)^T (w - mu_i) / |D_i|."""
    c = np.zeros((emb.dim, emb.dim))
    for pair in lists.definitional_pairs:
        vecs = np.stack([emb.vec(w) for w in pair]).astype(np.float64)
        mu = vecs.mean(axis=0)
        for v in vecs:
            c += np.outer(v - mu, v - mu) / len(pair)
    eigval, eigvec = np.linalg.eigh(c)
    top = eigvec[:, -1]
    assert abs(abs(float(top @ setup.subspace.direction)) - 1.0) < 1e-5
    ratios = eigval[::-1] / eigval.sum()
    assert np.allclose(ratios[:10], setup.subspace.explained_variance_ratio, atol=1e-6)


def test_direction_properties_on_w2v_small(emb, setup):
    sub = setup.subspace
    assert sub.explained_variance_ratio[0] > 0.5  # one component dominates (60.5 % here)
    random = bias.random_pairs_variance(emb, seed=0)
    assert random[0] < 0.3 < sub.explained_variance_ratio[0]
    assert float(emb.vec("she") @ sub.direction) > 0
    assert np.isclose(np.linalg.norm(sub.direction), 1.0, atol=1e-6)
    assert len(setup.neutral) == 303


@pytest.mark.parametrize("method", ["sum", "single"])
def test_alternative_directions(emb, lists, method):
    sub = bias.bias_subspace(emb, lists.definitional_pairs, method=method)
    if method == "single":
        expected = emb.vec("she") - emb.vec("he")
    else:
        expected = np.sum([emb.vec(a) - emb.vec(b) for a, b in lists.definitional_pairs], axis=0)
    expected = expected / np.linalg.norm(expected)
    assert np.allclose(sub.direction, expected, atol=1e-6)


def test_subspace_k2_is_orthonormal(emb, lists):
    sub = bias.bias_subspace(emb, lists.definitional_pairs, k=2)
    assert np.allclose(sub.components @ sub.components.T, np.eye(2), atol=1e-5)


def test_not_enough_pairs_is_a_sentence(emb):
    with pytest.raises(bias.NotEnoughWords, match="Only 1 definitional pair"):
        bias.bias_subspace(emb, [("she", "he"), ("zzqx", "qqzx")])


# ----------------------------------------------------------------------------- bias measures


def test_direct_and_indirect_bias_against_loops(emb, setup):
    g = setup.subspace.direction.astype(np.float64)
    manual = np.mean([abs(emb.vec(w) @ g / np.linalg.norm(emb.vec(w))) for w in setup.neutral])
    assert np.isclose(bias.direct_bias(emb, list(setup.neutral), g), manual, rtol=1e-5)
    assert np.isclose(bias.direct_bias(emb, list(setup.neutral), g, c=0.0), 1.0)
    w, v = emb.vec("softball").astype(np.float64), emb.vec("receptionist").astype(np.float64)
    wp, vp = w - (w @ g) * g, v - (v @ g) * g
    expected = (w @ v - wp @ vp / (np.linalg.norm(wp) * np.linalg.norm(vp))) / (w @ v)
    assert np.isclose(bias.indirect_bias(w, v, g), expected)
    assert 0.5 < expected < 0.9  # most of softball~receptionist is gender


def test_projections_rank_stereotypes(emb, lists, setup):
    proj = bias.projections(emb, lists.profession_words, setup.subspace.direction)
    assert proj["homemaker"] > 0.2 and proj["nurse"] > 0.2
    assert proj["maestro"] < -0.2 and proj["statesman"] < -0.15


def test_second_axes_of_the_2d_view_are_orthogonal_to_g(emb, lists, setup):
    g = setup.subspace.direction.astype(np.float64)
    pair = bias.orthogonal_axis(emb.vec("expensive") - emb.vec("cheap"), g)
    assert np.linalg.norm(pair) == pytest.approx(1.0) and abs(pair @ g) < 1e-9
    vecs = emb.vectors[emb.rows([w for w in lists.profession_words if w in emb])].astype(np.float64)
    pc = bias.residual_principal_axis(vecs, g)
    assert np.linalg.norm(pc) == pytest.approx(1.0) and abs(pc @ g) < 1e-6
    # the reference: the top eigenvector of the covariance of the vectors with g projected out
    residual = vecs - np.outer(vecs @ g, g)
    top = np.linalg.eigh(np.cov(residual.T))[1][:, -1]
    assert abs(pc @ top) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="along the bias direction"):
        bias.orthogonal_axis(3 * g, g)


def test_candidate_pairs_match_brute_force(emb):
    head = emb.head(400)
    cp = bias.candidate_pairs(head, max_words=400, delta=1.0, skip_case_duplicates=False)
    got = set(zip(cp.i.tolist(), cp.j.tolist(), strict=True))
    want = {(i, j) for i, j in itertools.combinations(range(400), 2)
            if np.linalg.norm(head.vectors[i] - head.vectors[j]) <= 1.0}
    assert got == want


def test_generated_analogy_scores_are_cosines(emb):
    cp = bias.candidate_pairs(emb, max_words=5000)
    rows = bias.generate_analogies(emb, cp, "she", "he", top_n=20)
    s = emb.vec("she") - emb.vec("he")
    for r in rows:
        d = emb.vec(r["x"]) - emb.vec(r["y"])
        assert np.isclose(r["score"], d @ s / (np.linalg.norm(d) * np.linalg.norm(s)), atol=1e-4)
        assert np.linalg.norm(d) <= 1.0 + 1e-5
    assert rows[0]["score"] >= rows[-1]["score"] > 0


def test_three_cos_add_depends_on_exclusion(emb):
    assert bias.analogy(emb, "man", "doctor", "woman")[0][0] == "nurse"
    assert bias.analogy(emb, "man", "doctor", "woman", exclude_inputs=False)[0][0] == "doctor"
    assert bias.analogy(emb, "man", "king", "woman")[0][0] == "queen"


# ----------------------------------------------------------------------------- hard debiasing


def test_hard_debias_invariants(emb, setup, hard):
    out = hard.embedding
    g = setup.subspace.direction
    neutral_rows = [i for i, w in enumerate(out.words) if w not in setup.specific]
    assert np.max(np.abs(out.vectors[neutral_rows] @ g)) < 1e-6
    assert np.allclose(np.linalg.norm(out.vectors, axis=1), 1.0, atol=1e-5)
    assert len(hard.equality_sets) >= 40
    probe_rows = neutral_rows[:: max(1, len(neutral_rows) // 200)]
    for a, b in hard.equality_sets:
        va, vb = out.vec(a), out.vec(b)
        assert np.isclose(np.linalg.norm(va), 1.0, atol=1e-5) and np.isclose(np.linalg.norm(vb), 1.0, atol=1e-5)
        assert np.isclose(va @ g, -(vb @ g), atol=1e-5)
        # every neutral word is equidistant to both members of each pair
        da = np.linalg.norm(out.vectors[probe_rows] - va, axis=1)
        db = np.linalg.norm(out.vectors[probe_rows] - vb, axis=1)
        assert np.max(np.abs(da - db)) < 1e-5
    assert bias.direct_bias(out, list(setup.neutral), g) < 1e-6


def test_vectorised_equals_reference_loop(emb, setup, hard):
    ref = debias.hard_debias_reference(emb, setup.subspace.components, setup.specific, setup.equality_sets)
    assert np.max(np.abs(hard.embedding.vectors - ref)) < 1e-5


def test_waves_preserve_sequential_order():
    sets = [("a", "b"), ("a", "c"), ("c", "d"), ("e", "f")]
    waves = debias._waves(sets)
    position = {s: k for k, wave in enumerate(waves) for s in wave}
    assert position[("a", "b")] < position[("a", "c")] < position[("c", "d")]
    assert position[("e", "f")] == 0


def test_debias_never_mutates_its_input(emb, setup):
    before = emb.vectors.copy()
    result = run_debias(emb, setup, "hard")
    assert result.embedding is not emb and result.embedding.vectors is not emb.vectors
    assert np.array_equal(emb.vectors, before)
    assert not emb.vectors.flags.writeable and not result.embedding.vectors.flags.writeable


def test_neutralize_only_does_not_equalize(emb, setup):
    res = run_debias(emb, setup, "neutralize")
    assert res.equality_sets == ()
    assert np.array_equal(res.embedding.vec("she"), emb.vec("she"))  # in S, untouched
    assert abs(float(res.embedding.vec("nurse") @ setup.subspace.direction)) < 1e-6


def test_benchmarks_move_only_slightly(emb, hard):
    before = benchmark_report(emb)
    after = benchmark_report(hard.embedding)
    for name, r in before["similarity"].items():
        if r["n_pairs"] >= 50:
            assert abs(after["similarity"][name]["spearman"] - r["spearman"]) < 0.02, name
    for name, r in before["analogies"].items():
        assert abs(after["analogies"][name]["accuracy"] - r["accuracy"]) < 0.02, name


# ----------------------------------------------------------------------------- WEAT and clustering


def test_weat_effect_size_formula_and_exact_p(emb):
    x, y = ["rose", "poppy", "garden", "flower"], ["spider", "flea", "mosquito", "beetle"]
    a, b = ["love", "peace", "health", "friend"], ["death", "abuse", "filth", "murder"]
    r = evaluate.weat(emb, x, y, a, b, n_permutations=20_000, seed=1)

    def s(w):
        return np.mean([emb.vec(w) @ emb.vec(t) for t in a]) - np.mean([emb.vec(w) @ emb.vec(t) for t in b])

    sx, sy = np.array([s(w) for w in x]), np.array([s(w) for w in y])
    d = (sx.mean() - sy.mean()) / np.concatenate([sx, sy]).std(ddof=1)
    assert np.isclose(r.effect_size, d, atol=1e-5)
    stat = sx.sum() - sy.sum()
    allv = np.concatenate([sx, sy])
    splits = [allv[list(c)].sum() - allv[[i for i in range(8) if i not in c]].sum()
              for c in itertools.combinations(range(8), 4)]
    exact = np.mean(np.array(splits) >= stat - 1e-12)
    assert abs(r.p_value - exact) < 0.01  # sampled permutations approach the exact distribution


def test_weat_with_too_few_known_words(emb):
    with pytest.raises(bias.NotEnoughWords, match="set X"):
        evaluate.weat(emb, ["qqqzz", "zzqqq"], ["cat", "dog"], ["love", "peace"], ["death", "war"])


def test_clustering_shows_bias_survives_hard_debias(emb, setup, hard):
    before = evaluate.clustering_test(emb, emb, setup.subspace.direction, set(setup.specific))
    after = evaluate.clustering_test(emb, hard.embedding, setup.subspace.direction, set(setup.specific))
    assert len(before.words) == 1000
    assert before.kmeans_accuracy > 0.95
    assert after.kmeans_accuracy > 0.65  # far above chance although every projection is now zero
    assert after.svm_accuracy > 0.85
    assert after.neighbour_correlation > 0.5
