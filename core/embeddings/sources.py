"""Named embeddings: offline assets, online gensim-data files, and user files (parsed, never unpickled)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.assets import AssetManager
from core.embeddings.io import Embedding, parse_embedding
from core.progress import Progress, scaled


@dataclass(frozen=True)
class EmbeddingSpec:
    name: str
    asset: str
    title: str
    offline: bool
    fmt: str = "auto"
    max_words: int | None = None  # keep the most frequent words of huge online files
    union: tuple[str, ...] = ()  # made of these registered embeddings (same model; the first one's rows first)
    key_prefix: str = ""  # keep only rows whose key starts with this, prefix removed (Numberbatch: "/c/en/")


EMBEDDINGS: dict[str, EmbeddingSpec] = {s.name: s for s in [
    EmbeddingSpec("w2v-small", "w2v-small", "word2vec GoogleNews, Bolukbasi's 26,423-word subset (offline)", True),
    EmbeddingSpec("w2v-test-13k", "w2v-test-13k", "word2vec 13k-word test embedding (offline)", True),
    EmbeddingSpec("w2v-lecture", "", "word2vec GoogleNews: both offline subsets together, 31k words with the "
                  "lecture's names and nationalities (offline)", True, union=("w2v-small", "w2v-test-13k")),
    EmbeddingSpec("glove-wiki-gigaword-100", "glove-wiki-gigaword-100",
                  "GloVe Wikipedia+Gigaword 100-d, 400k words (online)", False),
    EmbeddingSpec("word2vec-google-news-300", "word2vec-google-news-300",
                  "word2vec GoogleNews 300-d, first 500k of 3M words (online)", False, max_words=500_000),
    EmbeddingSpec("conceptnet-numberbatch-17-06-300", "conceptnet-numberbatch-17-06-300",
                  "ConceptNet Numberbatch 17.06, its English terms (online)", False, max_words=500_000,
                  key_prefix="/c/en/"),  # multilingual file, keys are ConceptNet URIs: /c/en/nurse -> nurse
]}
DEFAULT_EMBEDDING = "w2v-small"
# The opening demo's default (Speer 2017): w2v-small lacks "Shaniqua", "Italian", "Chinese", "Mexican"; the
# 13k subset has them. Both are rows of the same GoogleNews word2vec model (identical vectors on their 7,906
# shared words: tests/core/test_sentiment_soft.py), so their union is that model restricted to more words.
SPEER_EMBEDDING = "w2v-lecture"


def load_named(name: str, manager: AssetManager | None = None, progress: Progress | None = None) -> Embedding:
    """Load a registered embedding (fetching its asset if needed), unit-normalised."""
    try:
        spec = EMBEDDINGS[name]
    except KeyError:
        raise ValueError(f"Unknown embedding '{name}'. Known: {', '.join(EMBEDDINGS)}; or give a file path.") from None
    manager = manager or AssetManager()
    if spec.union:
        return union_of([load_named(part, manager, scaled(progress, i / len(spec.union), (i + 1) / len(spec.union)))
                         for i, part in enumerate(spec.union)], name)
    path = manager.ensure(spec.asset, progress=scaled(progress, 0.0, 0.5))
    emb = parse_embedding(path, spec.fmt, name=name, progress=scaled(progress, 0.5, 1.0), max_words=spec.max_words,
                          max_decompressed=None, zero_rows=True,  # a pinned asset (sha256 checked): no caps
                          key_prefix=spec.key_prefix)
    return emb.normalized()


def union_of(parts: list[Embedding], name: str) -> Embedding:
    """The rows of every part, each word once (the first part that has it wins), unit-normalised."""
    words, rows, seen = [], [], set()
    for part in parts:
        keep = [i for i, w in enumerate(part.words) if w not in seen]
        seen.update(part.words[i] for i in keep)
        words += [part.words[i] for i in keep]
        rows.append(part.vectors[keep])
    return Embedding(tuple(words), np.concatenate(rows, axis=0), name=name).normalized()


def load_embedding(spec: str, manager: AssetManager | None = None, progress: Progress | None = None,
                   fmt: str = "auto") -> Embedding:
    """A registered name, or a path to a word2vec binary / word2vec text / GloVe text file."""
    if spec in EMBEDDINGS:
        return load_named(spec, manager, progress)
    path = Path(spec)
    if not path.exists():
        raise ValueError(f"'{spec}' is neither a known embedding ({', '.join(EMBEDDINGS)}) nor an existing file.")
    return parse_embedding(path, fmt, name=path.name, progress=progress).normalized()
