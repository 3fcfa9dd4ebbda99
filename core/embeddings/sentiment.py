"""How to make a racist AI without really trying (Speer 2017).

A logistic-regression sentiment classifier is trained on nothing but the word vectors of the Hu &
Liu opinion lexicon; it then scores any word, including names and nationalities that were never
labelled, and inherits the embedding's associations.

    word score  = log P(positive | w) - log P(negative | w)   (the classifier's log-odds)
    text score  = mean word score over the in-vocabulary tokens
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.assets import AssetManager
from core.embeddings.bias import NotEnoughWords
from core.embeddings.io import Embedding

TOKEN_RE = re.compile(r"[^\W_]+")  # letters and digits; apostrophes split (let's -> let, s)
SEED = 0
# The lecture's sentences (Speer 2017): only a nationality or a name differs.
DEFAULT_TEXTS = ("Let's go get Italian food", "Let's go get Chinese food", "Let's go get Mexican food",
                 "My name is Emily", "My name is Shaniqua")


def read_lexicon(path: str | Path) -> list[str]:
    """Words of a Hu & Liu lexicon file (comment lines start with ';')."""
    words = []
    for line in Path(path).read_text(encoding="latin-1").splitlines():
        line = line.strip()
        if line and not line.startswith(";"):
            words.append(line)
    return words


def opinion_lexicon(manager: AssetManager | None = None) -> tuple[list[str], list[str]]:
    manager = manager or AssetManager()
    return (read_lexicon(manager.ensure("opinion-lexicon-positive")),
            read_lexicon(manager.ensure("opinion-lexicon-negative")))


def lookup(emb: Embedding, token: str) -> str | None:
    """The casefolded token, or its original spelling when only that is in the vocabulary (names in w2v)."""
    folded = token.casefold()
    if folded in emb:
        return folded
    if token in emb:
        return token
    if token.title() in emb:
        return token.title()
    return None


@dataclass(frozen=True)
class SentimentModel:
    """A fitted classifier over one embedding (never mutates the embedding)."""

    embedding: Embedding
    coef: np.ndarray  # (d,) logistic-regression weights
    intercept: float
    accuracy: float  # held-out
    n_train: int
    n_test: int
    n_positive: int
    n_negative: int
    n_dropped: int  # lexicon words missing from the embedding

    def word_scores(self, words: Sequence[str]) -> np.ndarray:
        """log P(pos) - log P(neg) = the linear decision function, for known words."""
        return self.embedding.vectors[self.embedding.rows(words)] @ self.coef + self.intercept

    def score_text(self, text: str) -> dict:
        """Mean word score over in-vocabulary tokens, with the per-token scores."""
        tokens = TOKEN_RE.findall(text)
        known = [(t, lookup(self.embedding, t)) for t in tokens]
        used = [(t, w) for t, w in known if w is not None]
        unknown = [t for t, w in known if w is None]
        scores = self.word_scores([w for _, w in used]) if used else np.zeros(0)
        result = {
            "text": text,
            "score": float(scores.mean()) if used else None,
            "tokens": [{"token": t, "word": w, "score": float(s)} for (t, w), s in zip(used, scores, strict=True)],
            "unknown": unknown,
            "n_tokens": len(tokens),
            # every token in the text's order, skipped ones with word and score None (the page marks them)
            "sequence": [{"token": t, "word": w, "score": None} for t, w in known],
        }
        by_position = iter(scores)
        for item in result["sequence"]:
            if item["word"] is not None:
                item["score"] = float(next(by_position))
        return result


def train_sentiment(emb: Embedding, positive: Sequence[str], negative: Sequence[str], test_size: float = 0.1,
                    seed: int = SEED) -> SentimentModel:
    """SGD logistic regression (log loss, fixed seed) on the lexicon's word vectors; held-out accuracy."""
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import train_test_split

    pos = [w for w in positive if w in emb]
    neg = [w for w in negative if w in emb]
    dropped = (len(positive) - len(pos)) + (len(negative) - len(neg))
    if len(pos) < 10 or len(neg) < 10:
        raise NotEnoughWords(f"Only {len(pos)} positive and {len(neg)} negative lexicon words are in this "
                             "embedding; the classifier needs at least 10 of each.")
    x = emb.vectors[emb.rows(pos + neg)]
    y = np.array([1] * len(pos) + [0] * len(neg))
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    clf = SGDClassifier(loss="log_loss", random_state=seed, max_iter=100, tol=1e-3)
    clf.fit(x_tr, y_tr)
    return SentimentModel(emb, clf.coef_[0].astype(np.float32), float(clf.intercept_[0]),
                          float(clf.score(x_te, y_te)), len(y_tr), len(y_te), len(pos), len(neg), dropped)


def group_comparison(model: SentimentModel, groups: dict[str, Sequence[str]]) -> dict:
    """Word scores per group of names, per-group means and a one-way ANOVA (F, p)."""
    from scipy import stats

    per_group, missing = {}, {}
    for name, words in groups.items():
        found = [(w, lookup(model.embedding, w)) for w in words]
        known = [(w, k) for w, k in found if k is not None]
        missing[name] = [w for w, k in found if k is None]
        per_group[name] = {w: float(s) for (w, _), s in zip(known, model.word_scores([k for _, k in known]), strict=True)} \
            if known else {}
    usable = {n: list(v.values()) for n, v in per_group.items() if len(v) >= 2}
    too_small = [n for n, v in per_group.items() if len(v) < 2]
    f = p = None
    if len(usable) >= 2:
        res = stats.f_oneway(*usable.values())
        f, p = float(res.statistic), float(res.pvalue)
    return {"scores": per_group, "means": {n: (float(np.mean(list(v.values()))) if v else None) for n, v in per_group.items()},
            "missing": missing, "too_small": too_small, "anova_f": f, "anova_p": p}
