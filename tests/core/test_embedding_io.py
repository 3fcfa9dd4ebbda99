"""Embedding parsers: round trips against gensim, and one clear sentence for every malformed file."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from core.embeddings.io import Embedding, EmbeddingFormatError, parse_embedding, save_word2vec_binary

WORDS = ["the", "cat", "sat", "on", "mat"]


@pytest.fixture
def small():
    rng = np.random.default_rng(0)
    return Embedding(tuple(WORDS), rng.normal(size=(5, 4)).astype(np.float32), "small")


def binary_bytes(words, vecs, header=None, newline=True) -> bytes:
    n, d = header or (len(words), vecs.shape[1])
    out = f"{n} {d}\n".encode()
    for w, v in zip(words, vecs, strict=True):
        out += w.encode() + b" " + struct.pack(f"<{len(v)}f", *v) + (b"\n" if newline else b"")
    return out


def test_binary_round_trip_and_gensim_agree(small, tmp_path):
    from gensim.models import KeyedVectors

    path = tmp_path / "e.bin"
    save_word2vec_binary(small, path)
    ours = parse_embedding(path)
    assert ours.words == small.words
    assert np.array_equal(ours.vectors, small.vectors)
    kv = KeyedVectors.load_word2vec_format(str(path), binary=True)
    assert kv.index_to_key == list(WORDS)
    assert np.allclose(kv.vectors, small.vectors)
    # and a file gensim wrote (no newline after vectors) parses identically
    kv.save_word2vec_format(str(tmp_path / "g.bin"), binary=True)
    assert np.array_equal(parse_embedding(tmp_path / "g.bin").vectors, small.vectors)


def test_text_formats(small, tmp_path):
    lines = [f"{w} " + " ".join(f"{x:.6f}" for x in v) for w, v in zip(WORDS, small.vectors, strict=True)]
    glove = ("\n".join(lines) + "\n").encode()
    w2v_text = b"5 4\n" + glove
    for data, fmt in ((glove, "glove-text"), (w2v_text, "word2vec-text")):
        emb = parse_embedding(data)
        assert emb.words == tuple(WORDS)
        assert np.allclose(emb.vectors, small.vectors, atol=1e-6)
        assert parse_embedding(data, fmt).words == tuple(WORDS)
    assert parse_embedding(gzip.compress(w2v_text)).words == tuple(WORDS)


def test_read_only_and_derived_copies(small):
    with pytest.raises(ValueError):
        small.vectors[0, 0] = 1.0
    unit = small.normalized()
    assert unit is not small
    assert np.allclose(np.linalg.norm(unit.vectors, axis=1), 1.0)
    assert unit.normalized() is unit
    assert small.head(2).words == ("the", "cat")


@pytest.mark.parametrize("data, pattern", [
    (b"", "empty"),
    (b"   \n\n", "empty"),
    (b"cat 1 2 3\ndog 1 2\n", r"Line 2: expected 3 numbers after the word 'dog', found 2"),
    (b"cat 1 2 3\ndog 1 nan 3\n", r"Line 2: the vector of 'dog' contains NaN"),
    (b"cat 1 2 3\ndog 1 2 3\ncat 4 5 6\n", r"Line 3: 'cat' appears twice \(first on line 1\)"),
    (b"cat 1 2 x\n", r"Line 1: the vector of 'cat' has a value that is not a number"),
    (b"3 2\ncat 1 2\ndog 3 4\n", "header announces 3 words but the file has 2"),
])
def test_malformed_text(data, pattern):
    with pytest.raises(EmbeddingFormatError, match=pattern):
        parse_embedding(data)


def test_binary_header_lies_about_count():
    vecs = np.ones((2, 3), np.float32)
    data = binary_bytes(["a", "b"], vecs, header=(5, 3))
    with pytest.raises(EmbeddingFormatError, match=r"announces 5 words but the file ends at byte offset \d+ after 2 words"):
        parse_embedding(data, "word2vec-binary")


def test_binary_header_lies_about_dimension():
    vecs = np.ones((2, 3), np.float32)
    data = binary_bytes(["a", "b"], vecs, header=(2, 4))
    with pytest.raises(EmbeddingFormatError, match=r"cut short|ends at byte offset"):
        parse_embedding(data, "word2vec-binary")


def test_binary_trailing_bytes():
    data = binary_bytes(["a", "b"], np.ones((2, 3), np.float32), header=(1, 3))
    with pytest.raises(EmbeddingFormatError, match=r"announces 1 words but .* more bytes follow at offset"):
        parse_embedding(data, "word2vec-binary")


def test_binary_nan_and_duplicate():
    vecs = np.ones((2, 3), np.float32)
    vecs[1, 1] = np.nan
    with pytest.raises(EmbeddingFormatError, match=r"Word #2 at byte offset \d+: the vector of 'b' contains NaN"):
        parse_embedding(binary_bytes(["a", "b"], vecs), "word2vec-binary")
    with pytest.raises(EmbeddingFormatError, match="'a' appears twice"):
        parse_embedding(binary_bytes(["a", "a"], np.ones((2, 3), np.float32)), "word2vec-binary")


def test_binary_without_header():
    with pytest.raises(EmbeddingFormatError, match="must start with a line"):
        parse_embedding(b"\x00\x01\x02garbage", "word2vec-binary")


def test_max_words_keeps_the_most_frequent(small):
    data = binary_bytes(list(WORDS), small.vectors)
    assert parse_embedding(data, max_words=2).words == ("the", "cat")


def _numberbatch_file(tmp_path):
    """A tiny file in ConceptNet Numberbatch 17.06's layout: gzip, word2vec-text header, multilingual URI keys
    (the real file's other languages come before English, so the first rows are not English)."""
    import gzip

    rows = [("/c/de/krankenschwester", [0.5, 0.5, 0.0]), ("/c/fr/infirmière", [0.4, 0.6, 0.0]),
            ("/c/en/nurse", [1.0, 0.0, 0.0]), ("/c/en/doctor", [0.0, 1.0, 0.0]),
            ("/c/en/new_york", [0.0, 0.0, 2.0]), ("/c/es/enfermera", [0.3, 0.3, 0.3])]
    text = f"{len(rows)} 3\n" + "".join(w + " " + " ".join(map(str, v)) + "\n" for w, v in rows)
    path = tmp_path / "conceptnet-numberbatch-17-06-300.gz"
    path.write_bytes(gzip.compress(text.encode()))
    return path


def test_numberbatch_keys_are_looked_up_as_plain_english_words(tmp_path):
    """Numberbatch keys are /c/en/word: loaded as registered, "nurse" is in the vocabulary, other languages are not."""
    from core.embeddings import sources

    path = _numberbatch_file(tmp_path)

    class Manager:  # the pinned asset, already fetched
        def ensure(self, name, progress=None):
            assert name == "conceptnet-numberbatch-17-06-300"
            return path

    emb = sources.load_named("conceptnet-numberbatch-17-06-300", Manager())
    assert emb.words == ("nurse", "doctor", "new_york")
    assert "nurse" in emb and "/c/en/nurse" not in emb and "krankenschwester" not in emb
    assert np.allclose(emb.vec("new_york"), [0, 0, 1])  # unit-normalised, the right row
    assert emb.split_known(["nurse", "doctor", "enfermera"]) == (["nurse", "doctor"], ["enfermera"])


def test_a_key_prefix_counts_only_kept_rows_and_says_when_nothing_matches(tmp_path):
    from core.embeddings.io import EmbeddingFormatError, parse_embedding

    path = _numberbatch_file(tmp_path)
    first = parse_embedding(path, key_prefix="/c/en/", max_words=2, max_decompressed=None)
    assert first.words == ("nurse", "doctor")  # two English rows, not the first two rows of the file
    with pytest.raises(EmbeddingFormatError, match="/c/xx/"):
        parse_embedding(path, key_prefix="/c/xx/", max_decompressed=None)
