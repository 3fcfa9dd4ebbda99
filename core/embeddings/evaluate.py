"""Did debiasing work? Benchmarks, WEAT, and the Gonen & Goldberg (2019) clustering test.

* Word similarity: Pearson and Spearman correlation between cosine and human scores.
* Analogies: 3CosAdd accuracy (inputs excluded) over the most frequent words.
* WEAT (Caliskan et al. 2017): effect size and a seeded, vectorised permutation p-value.
* "Lipstick on a pig": the most male/female-biased neutral words by their *original* projection
  are clustered in the *debiased* space; high accuracy means the bias is still there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from core.embeddings.bias import DegenerateWords, NotEnoughWords
from core.embeddings.io import Embedding
from core.errors import UserError
from core.progress import Progress, ensure

# ----------------------------------------------------------------------------- benchmarks


def similarity_scores(emb: Embedding, pairs: Sequence[tuple[str, str, float]]) -> dict:
    """Correlation of cosine similarity with human judgements over the pairs in the vocabulary."""
    known = [(a, b, s) for a, b, s in pairs if a in emb and b in emb]
    if len(known) < 3:
        return {"pearson": None, "spearman": None, "n_pairs": len(known), "n_total": len(pairs)}
    va = emb.vectors[emb.rows([a for a, _, _ in known])]
    vb = emb.vectors[emb.rows([b for _, b, _ in known])]
    cos = np.einsum("ij,ij->i", va, vb)
    human = np.array([s for _, _, s in known])
    return {"pearson": float(stats.pearsonr(cos, human)[0]), "spearman": float(stats.spearmanr(cos, human)[0]),
            "n_pairs": len(known), "n_total": len(pairs)}


def analogy_accuracy(emb: Embedding, questions: Sequence[tuple[str, str, str, str, str]], max_words: int = 30_000,
                     batch: int = 1024, progress: Progress | None = None) -> dict:
    """3CosAdd accuracy (a:b :: c:?, inputs excluded) with answers searched in the first ``max_words``."""
    progress = ensure(progress)
    head = emb.head(max_words)
    known = [q for q in questions if all(w in head for w in q[1:])]
    if not known:
        return {"accuracy": None, "n_questions": 0, "n_total": len(questions)}
    idx = np.array([[head.index[w] for w in q[1:]] for q in known])  # (m, 4): a, b, c, d
    v = head.vectors
    correct = 0
    for start in range(0, len(idx), batch):
        block = idx[start:start + batch]
        target = v[block[:, 1]] - v[block[:, 0]] + v[block[:, 2]]
        scores = target @ v.T
        rows = np.arange(len(block))
        for col in range(3):
            scores[rows, block[:, col]] = -np.inf
        correct += int(np.sum(np.argmax(scores, axis=1) == block[:, 3]))
        progress(min(1.0, (start + batch) / len(idx)), f"analogies {min(start + batch, len(idx)):,}/{len(idx):,}")
    return {"accuracy": correct / len(idx), "n_questions": len(idx), "n_total": len(questions)}


# ----------------------------------------------------------------------------- WEAT


@dataclass(frozen=True)
class WeatResult:
    effect_size: float
    p_value: float
    statistic: float
    n_permutations: int
    x: tuple[str, ...]
    y: tuple[str, ...]
    association_x: np.ndarray  # s(w, A, B) for w in X
    association_y: np.ndarray
    missing: tuple[str, ...]


def association(emb: Embedding, words: Sequence[str], a: Sequence[str], b: Sequence[str]) -> np.ndarray:
    """s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b) for each word (unit vectors)."""
    w = emb.vectors[emb.rows(words)]
    return (w @ emb.vectors[emb.rows(a)].T).mean(axis=1) - (w @ emb.vectors[emb.rows(b)].T).mean(axis=1)


# WEAT's permutation test costs |X u Y| x permutations (random keys, then their argsort): the product is
# checked before anything is drawn (5,000 + 5,000 words x 100,000 permutations took +15 GB and 85 s), and
# permutations are drawn in blocks of at most WEAT_BLOCK numbers (the same stream as one matrix).
WEAT_MAX_WORK = 50_000_000
WEAT_BLOCK = 2_000_000


class WeatTooLarge(NotEnoughWords, UserError):
    """The word sets x permutations exceed :data:`WEAT_MAX_WORK`; the message says what to lower."""


def weat(emb: Embedding, x: Sequence[str], y: Sequence[str], a: Sequence[str], b: Sequence[str],
         n_permutations: int = 10_000, seed: int = 0, min_words: int = 2) -> WeatResult:
    """WEAT effect size d and one-sided permutation p-value.

    Statistic S = sum_x s(x) - sum_y s(y); p = (#{permutations with S_perm >= S} + 1) / (P + 1),
    permutations being random equal-size re-splits of X u Y (vectorised: one index matrix).
    """
    sets = {}
    missing: list[str] = []
    for name, words in (("X", x), ("Y", y), ("A", a), ("B", b)):
        known, unknown = emb.split_known(words)
        missing += unknown
        if len(known) < min_words:
            raise NotEnoughWords(f"Only {len(known)} word(s) of set {name} are in the vocabulary; WEAT needs "
                                 f"at least {min_words}. Missing: {', '.join(unknown) or 'none'}.")
        sets[name] = known
    n_targets = len(sets["X"]) + len(sets["Y"])
    if n_permutations < 1:
        raise WeatTooLarge(f"The number of permutations must be at least 1, not {n_permutations}.")
    if n_targets * n_permutations > WEAT_MAX_WORK:
        raise WeatTooLarge(
            f"{n_targets:,} target words x {n_permutations:,} permutations is more than this dashboard tests at once "
            f"({WEAT_MAX_WORK:,}): use fewer permutations (at most {max(1, WEAT_MAX_WORK // n_targets):,} for these "
            "words) or fewer target words.")
    for first, second, what in (("X", "Y", "target"), ("A", "B", "attribute")):
        shared = [w for w in sets[first] if w in set(sets[second])]
        if set(sets[first]) == set(sets[second]):
            raise DegenerateWords(f"The {what} sets {first} and {second} are the same words: "
                                  + ("every association s(w) is 0" if what == "attribute" else "X and Y cannot differ")
                                  + ", so WEAT has nothing to measure. Make them differ.")
        if shared:
            text = ", ".join(shared)
            raise DegenerateWords(f"'{text if len(text) <= 60 else text[:57] + '...'}' is in both {first} and {second}: "
                                  f"a word can be in one {what} set only.")
    sx = association(emb, sets["X"], sets["A"], sets["B"])
    sy = association(emb, sets["Y"], sets["A"], sets["B"])
    both = np.concatenate([sx, sy])
    statistic = float(sx.sum() - sy.sum())
    spread = float(both.std(ddof=1))
    if not spread > 1e-12:  # e.g. A and B with identical vectors: d would be 0/0
        raise DegenerateWords("Every target word has the same association s(w) with A and B: the effect size is "
                              "undefined (0/0). Choose attribute sets that differ.")
    effect = float((sx.mean() - sy.mean()) / spread)
    rng = np.random.default_rng(seed)
    nx = len(sx)
    # blocks of whole permutations: rng.random fills row after row, so the blocks draw exactly the numbers
    # one (n_permutations, |X u Y|) matrix would, without that matrix and its argsort existing at once
    per_block = max(1, WEAT_BLOCK // len(both))
    above, total = 0, both.sum()
    for start in range(0, n_permutations, per_block):
        rows = min(per_block, n_permutations - start)
        perms = np.argsort(rng.random((rows, len(both))), axis=1)[:, :nx]
        perm_stats = 2.0 * both[perms].sum(axis=1) - total
        above += int(np.sum(perm_stats >= statistic - 1e-12))
    p = float((above + 1) / (n_permutations + 1))
    return WeatResult(effect, p, statistic, n_permutations, tuple(sets["X"]), tuple(sets["Y"]), sx, sy, tuple(missing))


# ----------------------------------------------------------------------------- Gonen & Goldberg


@dataclass(frozen=True)
class ClusteringResult:
    words: tuple[str, ...]
    original_bias: np.ndarray  # projection on g in the original embedding (she > 0)
    labels: np.ndarray  # 1 = female-biased, 0 = male-biased (by original projection)
    kmeans_accuracy: float
    svm_accuracy: float
    neighbour_correlation: float  # Pearson(original bias, share of female-biased neighbours)
    coords_2d: np.ndarray  # (n, 2) PCA of the evaluated vectors


def most_biased_words(original: Embedding, direction: np.ndarray, specific: set[str], n_per_side: int = 500,
                      max_words: int = 50_000) -> tuple[list[str], np.ndarray]:
    """The n most female- and n most male-biased neutral words (lower-case, alphabetic) by projection."""
    head = original.head(max_words)
    cand = [i for i, w in enumerate(head.words) if w not in specific and w.isalpha() and w.islower()]
    proj = head.vectors[cand] @ np.asarray(direction, dtype=np.float32)
    order = np.argsort(proj)
    n_per_side = min(n_per_side, len(order) // 2)  # small vocabularies: as many as there are
    if n_per_side < 10:
        raise NotEnoughWords(f"Only {len(order)} neutral lower-case words in the vocabulary; the clustering test "
                             "needs at least 20.")
    chosen = np.concatenate([order[:n_per_side], order[-n_per_side:]])
    words = [head.words[cand[i]] for i in chosen]
    return words, proj[chosen]


def clustering_test(original: Embedding, evaluated: Embedding, direction: np.ndarray, specific: set[str],
                    n_per_side: int = 500, seed: int = 0, k_neighbours: int = 100,
                    max_words: int = 50_000) -> ClusteringResult:
    """Gonen & Goldberg's tests on ``evaluated`` (e.g. the debiased embedding) for the words that were
    most biased in ``original``: k-means (k=2) alignment, RBF-SVM accuracy, neighbour correlation."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC

    words, bias = most_biased_words(original, direction, specific, n_per_side, max_words)
    labels = (bias > 0).astype(int)
    x = evaluated.vectors[evaluated.rows(words)]
    pred = KMeans(n_clusters=2, n_init=10, random_state=seed).fit_predict(x)
    acc = float(np.mean(pred == labels))
    kmeans_acc = max(acc, 1.0 - acc)
    x_tr, x_te, y_tr, y_te = train_test_split(x, labels, test_size=0.5, random_state=seed, stratify=labels)
    svm_acc = float(SVC(kernel="rbf", gamma="scale").fit(x_tr, y_tr).score(x_te, y_te))
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    k = min(k_neighbours, len(words) - 1)
    nn = np.argpartition(-sims, k, axis=1)[:, :k]
    female_share = np.mean(labels[nn] == 1, axis=1)
    corr = float(stats.pearsonr(bias, female_share)[0]) if np.std(female_share) > 0 else 0.0
    coords = PCA(n_components=2, random_state=seed).fit_transform(x)
    return ClusteringResult(tuple(words), bias, labels, kmeans_acc, svm_acc, corr, coords)
