"""Measuring gender bias in a word embedding (Bolukbasi et al. 2016).

All functions expect a unit-normalised :class:`~core.embeddings.io.Embedding` (``.normalized()``),
so that a dot product is a cosine. Definitional pairs are (female, male); the bias direction is
signed so that "she" projects positive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from core.embeddings.io import Embedding
from core.errors import UserError, quote
from core.progress import Progress, ensure

METHODS = ("pca", "sum", "single")
ZERO_PROJECTION = 1e-6  # |cos(w, g)| at or below this counts as no projection (float32 rounding after debiasing)


class NotEnoughWords(UserError):
    """A word list lost too many words to the vocabulary for the method to work."""


class DegenerateWords(NotEnoughWords):
    """The words given make the measure meaningless (a pair of one word twice, A = B, a = b ...)."""


def _quote(words: Sequence[str]) -> str:
    return quote(", ".join(words), 60)


def usable_sets(sets: Iterable[Sequence[str]]) -> tuple[list[tuple[str, ...]], list[str]]:
    """Defining sets that can define a direction, and a sentence for each one skipped: a set naming the
    same word twice (its centred rows are 0: "PC1 share: nan %"), a set repeating an earlier one, or a
    set reusing a word of an earlier set (that word would be counted twice)."""
    good: list[tuple[str, ...]] = []
    skipped: list[str] = []
    used: dict[str, tuple[str, ...]] = {}
    for row in sets:
        row = tuple(row)
        if len(set(row)) < len(row):
            skipped.append(f"'{_quote(row)}' names the same word twice")
            continue
        again = next((w for w in row if w in used), None)
        if again is not None:
            first = used[again]
            skipped.append(f"'{_quote(row)}' repeats " + (f"the set '{_quote(first)}'" if set(first) == set(row)
                                                           else f"'{again}' of '{_quote(first)}'"))
            continue
        good.append(row)
        used.update({w: row for w in row})
    return good, skipped


def check_dimension(emb: Embedding) -> None:
    """Bias directions need at least 2 dimensions: in 1-D every unit vector is +1 or -1, so any "direction"
    explains 100 % and every word is maximally biased."""
    if emb.dim < 2:
        raise DegenerateWords(f"{emb.name} has {emb.dim} dimension: every unit vector is +1 or -1 on it, so a bias "
                              "direction would explain 100 % of anything. Use an embedding with at least 2 dimensions.")


@dataclass(frozen=True)
class BiasSubspace:
    """The bias subspace B: ``components`` is (k, d) with orthonormal rows; row 0 is the direction."""

    components: np.ndarray
    method: str
    pairs: tuple[tuple[str, str], ...]  # pairs used (both words known)
    missing: tuple[str, ...]  # words of the input pairs not in the vocabulary
    explained_variance_ratio: np.ndarray  # first 10 PCA components of the centred pairs
    skipped: tuple[str, ...] = ()  # one sentence per input set left out (same word twice, a repeat)

    @property
    def direction(self) -> np.ndarray:
        return self.components[0]

    @property
    def k(self) -> int:
        return int(self.components.shape[0])


def known_pairs(emb: Embedding, pairs: Iterable[Sequence[str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """Pairs whose words are all in the vocabulary, and the words that are not."""
    good, missing = [], []
    for pair in pairs:
        absent = [w for w in pair if w not in emb]
        if absent:
            missing.extend(absent)
        else:
            good.append(tuple(pair))
    return good, missing


def centred_pair_matrix(emb: Embedding, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """Rows ``w - mu_i`` for every word w of every defining set D_i (Step 1 of the paper).

    ``C = X.T @ X / 2`` is the paper's covariance sum_i sum_{w in D_i} (w - mu_i)^T (w - mu_i) / |D_i|.
    """
    rows = []
    for pair in pairs:
        vecs = np.stack([emb.vec(w) for w in pair]).astype(np.float64)
        rows.append(vecs - vecs.mean(axis=0))
    return np.concatenate(rows, axis=0)


def pca_of_pairs(emb: Embedding, pairs: Sequence[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """(components (r, d), explained-variance ratio of each) from the SVD of the centred pairs."""
    x = centred_pair_matrix(emb, pairs)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    var = s ** 2
    if not var.sum() > 0:  # every set's words share one vector: there is no difference to take a direction from
        raise DegenerateWords(f"The words of the {len(pairs)} set(s) have identical vectors: they define no direction.")
    return vt, var / var.sum()


def _first10(ratios: np.ndarray) -> np.ndarray:
    out = np.zeros(10)
    out[: min(10, len(ratios))] = ratios[:10]
    return out


def bias_subspace(emb: Embedding, pairs: Iterable[Sequence[str]], method: str = "pca", k: int = 1,
                  positive_word: str = "she") -> BiasSubspace:
    """The gender subspace of Step 1 (``pca``), or a one-dimensional alternative.

    ``pca``: first k right-singular vectors of the centred definitional pairs.
    ``sum``: the normalised sum of (female - male) over the pairs.
    ``single``: she - he only (the first pair that contains ``positive_word`` otherwise).
    """
    if method not in METHODS:
        raise ValueError(f"Unknown direction method '{method}'; choose one of {', '.join(METHODS)}.")
    check_dimension(emb)
    pairs, skipped = usable_sets(pairs)
    pairs, missing = known_pairs(emb, pairs)
    if len(pairs) < 1 or (method == "pca" and len(pairs) < max(2, k)):
        need = max(2, k) if method == "pca" else 1
        raise NotEnoughWords(
            f"Only {len(pairs)} definitional pair(s) are in the vocabulary; the '{method}' method needs "
            f"at least {need}. Missing words: {_quote(missing) or 'none'}"
            + (f"; skipped: {'; '.join(skipped[:3])}." if skipped else "."))
    comps, ratios = pca_of_pairs(emb, pairs)
    if method == "pca":
        if k > comps.shape[0]:
            raise NotEnoughWords(f"k={k} but the {len(pairs)} pairs span only {comps.shape[0]} dimensions.")
        components = comps[:k].copy()
    elif method == "sum":
        diff = np.sum([emb.vec(a).astype(np.float64) - emb.vec(b) for a, b in pairs], axis=0)
        if not np.linalg.norm(diff) > 0:
            raise DegenerateWords("The pairs' differences cancel out: their sum defines no direction.")
        components = (diff / np.linalg.norm(diff))[None, :]
    else:
        chosen = next((p for p in pairs if positive_word in p), pairs[0])
        diff = emb.vec(chosen[0]).astype(np.float64) - emb.vec(chosen[1])
        if not np.linalg.norm(diff) > 0:
            raise DegenerateWords(f"'{_quote(chosen)}' have the same vector: they define no direction.")
        components = (diff / np.linalg.norm(diff))[None, :]
        pairs = [chosen]
    anchor = emb.vec(positive_word) if positive_word in emb else emb.vec(pairs[0][0])
    signs = np.sign(components @ anchor)
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    return BiasSubspace(components.astype(np.float32), method, tuple(pairs), tuple(missing), _first10(ratios),
                        tuple(skipped))


def random_pairs_variance(emb: Embedding, n_pairs: int = 10, seed: int = 0, top: int = 50_000) -> np.ndarray:
    """Explained variance of the first 10 components for random word pairs (the paper's baseline)."""
    rng = np.random.default_rng(seed)
    pool = min(top, len(emb))
    n_pairs = min(n_pairs, pool // 2)
    if n_pairs < 1:
        return np.zeros(10)
    idx = rng.choice(pool, size=2 * n_pairs, replace=False)
    pairs = [(emb.words[idx[2 * i]], emb.words[idx[2 * i + 1]]) for i in range(n_pairs)]
    try:
        _, ratios = pca_of_pairs(emb, pairs)
    except DegenerateWords:  # every drawn pair shares one vector (a tiny uploaded embedding): no baseline
        return np.full(10, np.nan)
    return _first10(ratios)


# ----------------------------------------------------------------------------- projections and direct bias


def projections(emb: Embedding, words: Iterable[str], direction: np.ndarray) -> dict[str, float]:
    """cos(w, g) for each known word (unit vectors: a dot product)."""
    known = [w for w in words if w in emb]
    if not known:
        return {}
    values = emb.vectors[emb.rows(known)] @ np.asarray(direction, dtype=np.float32)
    return {w: float(v) for w, v in zip(known, values, strict=True)}


def orthogonal_axis(vector: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """``vector`` with its component along the unit ``direction`` removed, normalised: a second axis
    independent of g (e.g. expensive - cheap, for a 2-D view)."""
    v = np.asarray(vector, dtype=np.float64)
    g = np.asarray(direction, dtype=np.float64)
    g = g / np.linalg.norm(g)
    length = np.linalg.norm(v)
    if length == 0:
        raise DegenerateWords("The second axis is a word minus itself (or two words with one vector): choose two "
                              "different words.")
    v = v - (v @ g) * g
    norm = np.linalg.norm(v)
    if norm <= 1e-6 * length or length == 0:
        raise ValueError("The second axis lies along the bias direction; choose another word pair.")
    return v / norm


def residual_principal_axis(vectors: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """The first principal component of (n, d) ``vectors`` after removing their projections on the unit
    ``direction``: the main way the words differ apart from g. Unit length, orthogonal to g."""
    x = np.asarray(vectors, dtype=np.float64)
    g = np.asarray(direction, dtype=np.float64)
    residual = x - np.outer(x @ g, g)
    residual -= residual.mean(axis=0)
    return np.linalg.svd(residual, full_matrices=False)[2][0]


def neutral_professions(emb: Embedding, professions: Iterable[str], specific: Iterable[str],
                        definitional: Iterable[Sequence[str]], equalize: Iterable[Sequence[str]]) -> list[str]:
    """Professions present in the embedding minus gender-specific, definitional and equalize words."""
    banned = set(specific) | {w for p in definitional for w in p} | {w for p in equalize for w in p}
    return [w for w in professions if w in emb and w not in banned]


def direct_bias(emb: Embedding, words: Sequence[str], direction: np.ndarray, c: float = 1.0,
                tol: float = ZERO_PROJECTION) -> float:
    """DirectBias_c = mean over the (neutral) words of |cos(w, g)|^c.

    c = 0 is the paper's "any non-zero projection counts": the share of words with |cos(w, g)| > ``tol``
    (the limit of |x|^c as c -> 0). numpy's 0^0 = 1 would make it 1 even for a perfectly debiased
    embedding, and float32 rounding leaves |cos| ~ 1e-8 where the projection was removed.
    """
    if len(words) == 0:
        raise NotEnoughWords("Direct bias needs at least one neutral word in the vocabulary.")
    if not (np.isfinite(c) and c >= 0):
        raise ValueError(f"c must be a number >= 0, not {c}.")
    cos = np.abs(emb.vectors[emb.rows(words)] @ np.asarray(direction, dtype=np.float32)).astype(np.float64)
    if c == 0:
        return float(np.mean(cos > tol))
    return float(np.mean(cos ** c))


def indirect_bias(w: np.ndarray, v: np.ndarray, direction: np.ndarray) -> float:
    """beta(w, v) = (w.v - w_perp.v_perp / (|w_perp| |v_perp|)) / (w.v): the share of the similarity due to g."""
    g = np.asarray(direction, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    wv = float(w @ v)
    if abs(wv) < 1e-12:
        raise ValueError("The two words are orthogonal (w.v = 0): indirect bias is undefined.")
    w_perp = w - (w @ g) * g
    v_perp = v - (v @ g) * g
    return (wv - float(w_perp @ v_perp) / (np.linalg.norm(w_perp) * np.linalg.norm(v_perp))) / wv


def neighbours_gender_share(emb: Embedding, seed: str, direction: np.ndarray, n: int = 15) -> list[dict]:
    """The n nearest words to ``seed`` with their similarity, projection and indirect bias beta."""
    if seed not in emb:
        raise KeyError(f"'{seed}' is not in the vocabulary.")
    s = emb.vec(seed)
    rows = []
    for word, sim in emb.most_similar(s, n=n, exclude=[seed]):
        v = emb.vec(word)
        rows.append({"word": word, "similarity": sim, "projection": float(v @ direction),
                     "beta": indirect_bias(s, v, direction)})
    return rows


# ----------------------------------------------------------------------------- analogies


@dataclass(frozen=True)
class CandidatePairs:
    """All pairs (i, j), i < j, among the first ``n_words`` words with |x_i - x_j| <= delta."""

    words: tuple[str, ...]
    i: np.ndarray
    j: np.ndarray
    distance: np.ndarray  # |x_i - x_j|


def candidate_pairs(emb: Embedding, max_words: int = 30_000, delta: float = 1.0, skip_case_duplicates: bool = True,
                    progress: Progress | None = None, chunk: int = 2048) -> CandidatePairs:
    """Pairs close enough to form analogies (the expensive part; cache it per embedding).

    For unit vectors |x - y| <= delta  <=>  x.y >= 1 - delta^2 / 2, so one chunked matrix product
    over the most frequent ``max_words`` words finds every pair.
    """
    progress = ensure(progress)
    head = emb.head(max_words)
    v = head.vectors
    n = len(head)
    threshold = 1.0 - delta ** 2 / 2.0
    ii, jj, dd = [], [], []
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        sims = v[start:stop] @ v[start:].T  # only j >= start: upper triangle
        r, c = np.nonzero(sims >= threshold)
        c_abs = c + start
        r_abs = r + start
        keep = c_abs > r_abs
        r_abs, c_abs, s = r_abs[keep], c_abs[keep], sims[r[keep], c[keep]]
        ii.append(r_abs.astype(np.int32))
        jj.append(c_abs.astype(np.int32))
        dd.append(np.sqrt(np.maximum(0.0, 2.0 - 2.0 * s)).astype(np.float32))
        progress(stop / n, f"close word pairs among {n:,} words: row {stop:,}")
    i = np.concatenate(ii) if ii else np.zeros(0, np.int32)
    j = np.concatenate(jj) if jj else np.zeros(0, np.int32)
    d = np.concatenate(dd) if dd else np.zeros(0, np.float32)
    if skip_case_duplicates and len(i):
        lower = np.array([w.lower() for w in head.words], dtype=object)
        keep = lower[i] != lower[j]
        i, j, d = i[keep], j[keep], d[keep]
    return CandidatePairs(head.words, i, j, d)


def generate_analogies(emb: Embedding, candidates: CandidatePairs, a: str = "she", b: str = "he",
                       top_n: int = 30) -> list[dict]:
    """Bolukbasi's analogy generator: pairs (x, y) scored by cos(a - b, x - y), best first.

    Each pair is oriented so that x is on a's side (positive score).
    """
    for w in (a, b):
        if w not in emb:
            raise KeyError(f"'{w}' is not in the vocabulary.")
    seed = (emb.vec(a) - emb.vec(b)).astype(np.float32)
    if not np.linalg.norm(seed) > 0:
        raise DegenerateWords(f"The seeds a = '{_quote([a])}' and b = '{_quote([b])}' are the same word (or vector): "
                              "a - b is zero, so no pair can be scored against it. Choose two different words.")
    seed /= np.linalg.norm(seed)
    if len(candidates.i) == 0:
        return []
    head_vectors = emb.vectors[: len(candidates.words)]
    proj = head_vectors @ seed
    score = (proj[candidates.i] - proj[candidates.j]) / np.maximum(candidates.distance, 1e-12)
    order = np.argsort(-np.abs(score))[:top_n]
    out = []
    for k in order:
        x, y, sc = candidates.i[k], candidates.j[k], float(score[k])
        if sc < 0:
            x, y, sc = y, x, -sc
        out.append({"x": candidates.words[x], "y": candidates.words[y], "score": sc,
                    "distance": float(candidates.distance[k])})
    return out


def analogy(emb: Embedding, a: str, b: str, c: str, n: int = 5, exclude_inputs: bool = True) -> list[tuple[str, float]]:
    """3CosAdd: a is to b as c is to ? -> argmax cos(x, b - a + c).

    With ``exclude_inputs=False`` the inputs may be returned (man:doctor :: woman:? then gives
    'doctor' itself: the famous 'nurse' needs the exclusion).
    """
    empty = [name for name, w in (("a", a), ("b", b), ("c", c)) if not str(w).strip()]
    if empty:  # was: "Not in the vocabulary: , , ."
        raise KeyError(f"Type a word for {', '.join(empty)}: a 3CosAdd analogy needs all three words "
                       "(a is to b as c is to ?).")
    missing = [w for w in (a, b, c) if w not in emb]
    if missing:
        raise KeyError(f"Not in the vocabulary: {_quote(missing)}.")
    if a == b:
        raise DegenerateWords(f"a and b are the same word ('{_quote([a])}'): b - a + c is just c, so the answer would "
                              "be c's nearest neighbours, not an analogy.")
    target = emb.vec(b).astype(np.float32) - emb.vec(a) + emb.vec(c)
    return emb.most_similar(target, n=n, exclude=(a, b, c) if exclude_inputs else ())


# ----------------------------------------------------------------------------- beyond gender

# Manzini et al. (2019) defining sets: each row holds one word per class, aligned across classes.
MANZINI_SETS = {
    "race (Manzini et al.)": [["black", "caucasian", "asian"], ["african", "caucasian", "asian"],
                              ["black", "white", "asian"], ["africa", "america", "asia"],
                              ["africa", "america", "china"], ["africa", "europe", "asia"]],
    "religion (Manzini et al.)": [["judaism", "christianity", "islam"], ["jew", "christian", "muslim"],
                                  ["synagogue", "church", "mosque"], ["torah", "bible", "quran"],
                                  ["rabbi", "priest", "imam"]],
}


def group_subspace(emb: Embedding, groups: dict[str, Sequence[str]], k: int = 1) -> BiasSubspace:
    """A bias subspace from unaligned word groups (e.g. two lists of first names).

    The class means are centred on their average and the first k right-singular vectors taken
    (k <= number of groups - 1); for two groups this is the normalised difference of the means.
    The sign makes the first group project positive.
    """
    check_dimension(emb)
    means, missing, used = [], [], []
    seen: dict[str, str] = {}
    for name, words in groups.items():
        shared = [w for w in dict.fromkeys(words) if w in seen]
        if shared:
            raise DegenerateWords(f"'{_quote(shared)}' is in both '{_quote([seen[shared[0]]])}' and "
                                  f"'{_quote([name])}': a word can belong to one group only.")
        seen.update({w: name for w in words})
        known, unknown = emb.split_known(words)
        missing += unknown
        if len(known) < 2:
            raise NotEnoughWords(f"Group '{name}' has only {len(known)} word(s) in the vocabulary; at least 2 needed.")
        means.append(emb.vectors[emb.rows(known)].astype(np.float64).mean(axis=0))
        used.append(tuple(known))
    if len(means) < 2:
        raise NotEnoughWords("A bias axis needs at least two groups of words.")
    centred = np.stack(means) - np.mean(means, axis=0)
    if not np.abs(centred).max() > 0:
        raise DegenerateWords("The groups' mean vectors coincide: they define no direction.")
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(k, len(means) - 1)
    comps = vt[:k]
    first = means[0] - np.mean(means, axis=0)
    comps = comps * np.where(comps @ first < 0, -1.0, 1.0)[:, None]
    ratios = s ** 2 / np.sum(s ** 2)
    return BiasSubspace(comps.astype(np.float32), "groups", tuple(used), tuple(missing), _first10(ratios))


def resolve_case(emb: Embedding, word: str) -> str | None:
    """The word as spelled, else its Title or lower-case form if that is in the vocabulary."""
    for form in (word, word.title(), word.lower()):
        if form in emb:
            return form
    return None


def resolve_sets(emb: Embedding, sets: Sequence[Sequence[str]]) -> tuple[list[tuple[str, ...]], list[str]]:
    """Defining sets with each word case-resolved; sets with an unknown word are dropped (and named)."""
    good, missing = [], []
    for row in sets:
        resolved = [resolve_case(emb, w) for w in row]
        if any(r is None for r in resolved):
            missing += [w for w, r in zip(row, resolved, strict=True) if r is None]
        else:
            good.append(tuple(resolved))
    return good, missing
