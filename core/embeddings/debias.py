"""Hard debiasing (Bolukbasi et al. 2016, Step 2a): neutralize, then equalize.

Exactly the lecture's formulas, on unit-normalised vectors, with B the (k, d) bias subspace and
v_B = sum_j (v . b_j) b_j the projection of v on B:

    neutralize, for w in N:   w := (w - w_B) / |w - w_B|
    equalize, for E in E:     mu := mean_{w in E} w ;  nu := mu - mu_B
                              w := nu + sqrt(1 - |nu|^2) (w_B - mu_B) / |w_B - mu_B|   for w in E

:func:`hard_debias` is vectorised and returns a *new* embedding (the input, which may be a cached
object shared by every session, is never touched). :func:`hard_debias_reference` is the
straightforward per-word loop of the same formulas, kept as an independent reference for the tests
and the benchmark.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from core.embeddings.io import Embedding
from core.embeddings.wordlists import GenderLists, pair_case_variants, with_case_variants

CONVENTIONS = {
    "equalize+definitional": "the 52 equalize pairs and the 10 definitional pairs (lower/UPPER/Title variants)",
    "debiaswe": "only the 52 equalize pairs (lower/UPPER/Title variants), as in the debiaswe code",
}
DEFAULT_CONVENTION = "equalize+definitional"


@dataclass(frozen=True)
class DebiasResult:
    embedding: Embedding
    mode: str  # "hard" or "neutralize"
    n_neutralized: int
    equality_sets: tuple[tuple[str, ...], ...]  # the sets actually equalized
    skipped_sets: tuple[tuple[str, ...], ...]  # degenerate (w_B == mu_B) or with unknown words


def default_specific_words(lists: GenderLists) -> set[str]:
    """S = specific_full + definitional + equalize words, each in lower/UPPER/Title forms."""
    words = set(lists.specific_full)
    words |= {w for p in lists.definitional_pairs for w in p}
    words |= {w for p in lists.equalize_pairs for w in p}
    return with_case_variants(words) | words


def default_equality_sets(emb: Embedding, lists: GenderLists, convention: str = DEFAULT_CONVENTION) -> list[tuple[str, ...]]:
    """Equality pairs in their case variants, kept where both words are in the vocabulary."""
    if convention not in CONVENTIONS:
        raise ValueError(f"Unknown equalize convention '{convention}'; choose one of {', '.join(CONVENTIONS)}.")
    base = list(lists.equalize_pairs)
    if convention == "equalize+definitional":
        base += list(lists.definitional_pairs)
    out = []
    for pair in pair_case_variants(base):
        if all(w in emb for w in pair) and pair not in out and pair[::-1] not in out:
            out.append(pair)
    return out


def _waves(sets: Sequence[tuple[str, ...]]) -> list[list[tuple[str, ...]]]:
    """Group sets so that sets in one group share no word and, for any word in several sets, the
    sets are applied in their input order (the result equals the sequential loop)."""
    last: dict[str, int] = {}
    waves: list[list[tuple[str, ...]]] = []
    for s in sets:
        k = max((last[w] + 1 for w in s if w in last), default=0)
        if k == len(waves):
            waves.append([])
        waves[k].append(s)
        for w in s:
            last[w] = k
    return waves


def hard_debias(emb: Embedding, subspace: np.ndarray, specific: Iterable[str],
                equality_sets: Iterable[Sequence[str]] = (), mode: str = "hard",
                chunk: int = 1024) -> DebiasResult:
    """Neutralize every word not in ``specific``; with ``mode="hard"`` also equalize the sets.

    ``subspace``: (k, d) orthonormal rows (or one (d,) direction). Returns a new unit-norm
    embedding with the same words in the same order. Extra memory: one copy of the vectors plus a
    chunk.
    """
    if mode not in ("hard", "neutralize"):
        raise ValueError("mode must be 'hard' or 'neutralize'.")
    b = np.atleast_2d(np.asarray(subspace, dtype=np.float32))
    emb = emb.normalized()
    vectors = emb.vectors
    out = np.empty_like(vectors)
    specific = set(specific)
    is_specific = np.fromiter((w in specific for w in emb.words), dtype=bool, count=len(emb))
    # Row blocks small enough to stay in cache: one read of the input, one write of the output.
    # For a unit w and orthonormal B, |w - w_B|^2 = 1 - sum_j (w . b_j)^2, so the norm needs no extra pass.
    for start in range(0, len(out), chunk):
        src = vectors[start:start + chunk]
        coef = src @ b.T  # (rows, k) projections on B
        coef[is_specific[start:start + chunk]] = 0.0
        inv = 1.0 / np.sqrt(np.maximum(1.0 - np.einsum("ij,ij->i", coef, coef), 1e-12))
        block = out[start:start + chunk]
        np.multiply(src, inv[:, None], out=block)
        scaled = coef * inv[:, None]
        for j in range(b.shape[0]):  # k rank-one updates: far faster than a (rows, k) @ (k, d) GEMM for small k
            block -= scaled[:, j:j + 1] * b[j]
    n_neutralized = int(len(out) - is_specific.sum())

    done, skipped = [], []
    if mode == "hard":
        sets = []
        for s in equality_sets:
            s = tuple(s)
            (sets if all(w in emb for w in s) and len(set(s)) > 1 else skipped).append(s)
        for wave in _waves(sets):
            by_size: dict[int, list[tuple[str, ...]]] = {}
            for s in wave:
                by_size.setdefault(len(s), []).append(s)
            for group in by_size.values():
                rows = np.array([[emb.index[w] for w in s] for s in group])  # (m, size)
                x = out[rows].astype(np.float64)  # (m, size, d)
                mu = x.mean(axis=1)  # (m, d)
                mu_b = (mu @ b.T) @ b
                nu = mu - mu_b
                x_b = (x @ b.T) @ b  # (m, size, d)
                diff = x_b - mu_b[:, None, :]
                dn = np.linalg.norm(diff, axis=2, keepdims=True)
                ok = (dn[:, :, 0] > 1e-9).all(axis=1)
                scale = np.sqrt(np.maximum(0.0, 1.0 - np.sum(nu ** 2, axis=1)))[:, None, None]
                new = nu[:, None, :] + scale * diff / np.maximum(dn, 1e-12)
                out[rows[ok]] = new[ok].astype(np.float32)
                done.extend(s for s, good in zip(group, ok, strict=True) if good)
                skipped.extend(s for s, good in zip(group, ok, strict=True) if not good)
    name = f"{emb.name} ({'hard-debiased' if mode == 'hard' else 'neutralized'})"
    return DebiasResult(emb.with_vectors(out, name), mode, n_neutralized, tuple(done), tuple(skipped))


def hard_debias_reference(emb: Embedding, subspace: np.ndarray, specific: Iterable[str],
                          equality_sets: Iterable[Sequence[str]] = (), mode: str = "hard") -> np.ndarray:
    """The same formulas as a plain per-word Python loop (reference for tests and benchmarks)."""
    b = np.atleast_2d(np.asarray(subspace, dtype=np.float64))
    vecs = {w: np.array(v, dtype=np.float64) / np.linalg.norm(v) for w, v in zip(emb.words, emb.vectors, strict=True)}

    def proj(v):
        return sum((v @ bj) * bj for bj in b)

    specific = set(specific)
    for w in emb.words:
        if w not in specific:
            v = vecs[w] - proj(vecs[w])
            vecs[w] = v / np.linalg.norm(v)
    if mode == "hard":
        for s in equality_sets:
            if not all(w in vecs for w in s):
                continue
            mu = sum(vecs[w] for w in s) / len(s)
            mu_b = proj(mu)
            nu = mu - mu_b
            if any(np.linalg.norm(proj(vecs[w]) - mu_b) < 1e-9 for w in s):
                continue
            new = {}
            for w in s:
                d = proj(vecs[w]) - mu_b
                new[w] = nu + np.sqrt(1 - nu @ nu) * d / np.linalg.norm(d)
            vecs.update(new)
    return np.stack([vecs[w] for w in emb.words]).astype(np.float32)


def multiclass_hard_debias(emb: Embedding, defining_sets: Sequence[Sequence[str]], k: int = 1,
                           mode: str = "hard") -> tuple[DebiasResult, np.ndarray]:
    """Manzini et al. (2019): PCA over the centred k-class defining sets, neutralize every other word,
    equalize each defining set. Returns (result, subspace)."""
    from core.embeddings.bias import bias_subspace

    sub = bias_subspace(emb, defining_sets, method="pca", k=k, positive_word=defining_sets[0][0])
    used = sub.pairs  # without the sets bias_subspace skipped (a word twice, a repeat)
    specific = {w for s in used for w in s}
    return hard_debias(emb, sub.components, specific, [tuple(s) for s in used], mode=mode), sub.components
