"""Word embeddings: an immutable container and strict parsers for word2vec binary/text and GloVe text.

Uploads are parsed, never unpickled. Every malformed file gets one sentence naming the line (text)
or byte offset (binary) where it went wrong: wrong dimension, NaN/inf, an all-zero vector, duplicate
word, empty file, a binary header that promises more (or fewer) words than the file holds (checked
against the bytes present *before* anything is allocated). A gzip file is decompressed in a stream
that stops at a cap (:func:`decompressed_cap`), so a few bytes can never cost the server gigabytes,
and a message quotes at most :data:`MAX_ECHO` characters of the file.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import UserError, quote
from core.limits import (  # noqa: F401  (the caps live in one module; these names stay)
    DEFAULT_UPLOAD_MB,
    GZIP_FLOOR,
    GZIP_RATIO,
    MAX_WORD_CHARS,
    UPLOAD_EXPANSION,
    upload_cap_bytes,
)
from core.progress import Progress, ensure

MAX_ECHO = 80  # characters of a word quoted in a message
# Words an uploaded file may hold (GloVe's 6B vocabulary is 400,000): a parsed row costs a few hundred bytes
# of Python objects whatever its size on disk, so 2,000,000 three-character rows (25 MB) took +956 MB. The
# rows are counted (in the gzip stream as it inflates) before a word is built.
MAX_UPLOAD_ROWS = 400_000


short = quote  # user content for a message, at most MAX_ECHO characters on one line: core.errors.quote


def _memory_bytes() -> int | None:
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def decompressed_cap(compressed_bytes: int, upload: bool = True) -> int:
    """The most bytes a gzip file of ``compressed_bytes`` may expand to: ``GZIP_RATIO`` x its size (at
    least ``GZIP_FLOOR``), never more than ``UPLOAD_EXPANSION`` x the upload cap (uploads) nor a quarter
    of the machine's free memory (both)."""
    cap = max(GZIP_FLOOR, GZIP_RATIO * compressed_bytes)
    if upload:
        cap = min(cap, UPLOAD_EXPANSION * upload_cap_bytes())
    free = _memory_bytes()
    return min(cap, free // 4) if free else cap


class EmbeddingFormatError(UserError):
    """The file is not a valid embedding; ``str(exc)`` says where and why."""


@dataclass(frozen=True, eq=False)
class Embedding:
    """``vectors[i]`` is the vector of ``words[i]``; rows keep the file's (frequency) order.

    The array is read-only: an embedding that came from a cache is shared by every session, so
    every transformation (normalising, debiasing) returns a new :class:`Embedding`.
    """

    words: tuple[str, ...]
    vectors: np.ndarray  # (n, d) float32, read-only
    name: str = "embedding"
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        vectors = np.asarray(self.vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(self.words):
            raise EmbeddingFormatError(
                f"{len(self.words)} words but vectors of shape {vectors.shape}.")
        if vectors.flags.writeable:
            vectors = vectors.copy() if vectors.base is not None else vectors
            vectors.flags.writeable = False
        object.__setattr__(self, "vectors", vectors)
        object.__setattr__(self, "words", tuple(self.words))
        index = {w: i for i, w in enumerate(self.words)}
        if len(index) != len(self.words):
            raise EmbeddingFormatError("The embedding lists a word twice.")
        object.__setattr__(self, "index", index)

    # -- basic access ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def vec(self, word: str) -> np.ndarray:
        try:
            return self.vectors[self.index[word]]
        except KeyError:
            raise KeyError(f"'{word}' is not in the embedding '{self.name}'.") from None

    def rows(self, words: Iterable[str]) -> np.ndarray:
        return np.asarray([self.index[w] for w in words], dtype=np.int64)

    def split_known(self, words: Iterable[str]) -> tuple[list[str], list[str]]:
        """(known, unknown), each in input order without repeats."""
        known, unknown, seen = [], [], set()
        for w in words:
            if w in seen:
                continue
            seen.add(w)
            (known if w in self.index else unknown).append(w)
        return known, unknown

    @property
    def digest(self) -> str:
        """sha256 of the words and vectors: the key of anything derived from this embedding (computed
        once; the vectors are immutable, so the answer never changes)."""
        cached = self.__dict__.get("_digest")
        if cached is None:
            import hashlib

            h = hashlib.sha256("\n".join(self.words).encode())
            h.update(np.ascontiguousarray(self.vectors).data)
            cached = h.hexdigest()
            object.__setattr__(self, "_digest", cached)
        return cached

    # -- derived embeddings -----------------------------------------------------------------
    def with_vectors(self, vectors: np.ndarray, name: str | None = None) -> Embedding:
        """A new embedding with the same words (the index is shared, it is never mutated)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape[0] != len(self.words):
            raise EmbeddingFormatError(f"{len(self.words)} words but vectors of shape {vectors.shape}.")
        if vectors.flags.writeable:
            vectors = vectors if vectors.base is None else vectors.copy()
            vectors.flags.writeable = False
        new = object.__new__(Embedding)
        object.__setattr__(new, "words", self.words)
        object.__setattr__(new, "vectors", vectors)
        object.__setattr__(new, "name", name or self.name)
        object.__setattr__(new, "index", self.index)
        return new

    def normalized(self) -> Embedding:
        """Unit-length rows (all bias work is done on these). Zero rows stay zero.

        Norms are taken in float64: in float32, |w|^2 overflows for finite components above ~1e19
        (every such vector would become 0) and underflows below ~1e-23 (nothing would become unit).
        """
        if self.__dict__.get("_unit"):
            return self
        # in blocks of rows: float64 copies of a whole 400,000-row file at once were ~4x its float32 matrix
        vectors, block = self.vectors, 8192

        def rows(start: int):
            v64 = vectors[start:start + block].astype(np.float64)
            scale = np.abs(v64).max(axis=1, initial=0.0)[:, None]  # divide first: |w|^2 then cannot overflow
            scaled = v64 / np.where(scale > 0, scale, 1.0)
            n_scaled = np.sqrt(np.einsum("ij,ij->i", scaled, scaled))[:, None]  # 0 for zero rows, else >= 1
            return scale, scaled, n_scaled

        starts = range(0, len(vectors), block)
        if all(np.abs(n * s - 1.0).max(initial=0.0) <= 1e-5 for s, _, n in map(rows, starts)):
            object.__setattr__(self, "_unit", True)  # immutable vectors: the answer never changes
            return self
        unit_rows = np.empty(vectors.shape, np.float32)
        for start in starts:
            _, scaled, n_scaled = rows(start)
            unit_rows[start:start + block] = np.where(n_scaled > 0, scaled / np.where(n_scaled > 0, n_scaled, 1.0), 0.0)
        unit = self.with_vectors(unit_rows)
        object.__setattr__(unit, "_unit", True)
        return unit

    def head(self, n: int) -> Embedding:
        """The ``n`` first (most frequent) words."""
        if n >= len(self):
            return self
        return Embedding(self.words[:n], self.vectors[:n], self.name)

    def most_similar(self, query: np.ndarray, n: int = 10, exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
        """Nearest words by cosine to a query vector (assumes unit rows)."""
        q = np.asarray(query, dtype=np.float32)
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        sims = self.vectors @ q
        banned = {self.index[w] for w in exclude if w in self.index}
        order = np.argsort(-sims)
        out = []
        for i in order:
            if int(i) in banned:
                continue
            out.append((self.words[i], float(sims[i])))
            if len(out) == n:
                break
        return out


# ----------------------------------------------------------------------------- parsing


def _read_bytes(source, max_decompressed: int | None | str = "auto", max_rows: int | None = None) -> bytes:
    """The file's bytes, gunzipped in a capped stream when it is gzip.

    ``max_decompressed``: "auto" for :func:`decompressed_cap` (an upload), a number of bytes, or None
    for no cap (a pinned asset whose sha256 was checked). ``max_rows``: refuse a text file with more
    lines than that as soon as the stream shows them.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, Path)):
        from core.userfiles import NotARegularFile, read_regular

        try:
            data = read_regular(source, "an embedding file")
        except NotARegularFile as exc:
            raise EmbeddingFormatError(str(exc)) from None
    else:
        data = source.read()
    if data[:2] == b"\x1f\x8b":  # gzip (gensim-data ships .gz files)
        limit = decompressed_cap(len(data)) if max_decompressed == "auto" else max_decompressed
        data = _gunzip(data, limit, max_rows=max_rows)
    if not data.strip():
        raise EmbeddingFormatError("The file is empty.")
    return data


def too_many_rows(rows: int, limit: int) -> EmbeddingFormatError:
    return EmbeddingFormatError(
        f"The file has more than {limit:,} words or lines; this dashboard reads at most {limit:,} words from an "
        "uploaded file (more cost the server too much memory). Keep the most frequent words (the first lines) "
        "and try again.")


def _gunzip(data: bytes, limit: int | None, chunk: int = 2 ** 20, max_rows: int | None = None) -> bytes:
    """Decompress in chunks, stopping as soon as the output passes ``limit`` bytes (a gzip bomb) or, for
    a text embedding, ``max_rows`` lines (millions of tiny rows inside a small archive)."""
    out = bytearray()
    lines = 0
    count_lines = None
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            while True:
                block = fh.read(chunk)
                if not block:
                    break
                out += block
                if count_lines is None:  # binary vectors hold newline bytes: only text is counted
                    count_lines = max_rows is not None and detect_format(bytes(out[:8192])) != "word2vec-binary"
                if count_lines:
                    lines += block.count(b"\n")
                    if lines > max_rows + 1:
                        raise too_many_rows(lines, max_rows)
                if limit is not None and len(out) > limit:
                    raise EmbeddingFormatError(
                        f"The gzip file expands to more than {limit / 2 ** 20:,.0f} MiB from "
                        f"{len(data) / 2 ** 20:,.1f} MiB (more than this dashboard reads): decompress it and "
                        "keep the most frequent words, or upload a smaller file.")
    except (OSError, EOFError, zlib_error()) as exc:
        raise EmbeddingFormatError(f"The gzip file is damaged ({short(exc)}).") from None
    return bytes(out)


def zlib_error() -> type:
    import zlib

    return zlib.error


def _header(line: bytes) -> tuple[int, int] | None:
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def detect_format(data: bytes) -> str:
    """"word2vec-binary", "word2vec-text" or "glove-text" (header-less)."""
    first, _, rest = data.partition(b"\n")
    header = _header(first)
    if header is None:
        return "glove-text"
    n, d = header
    probe = rest[: 4096]
    try:
        line = probe.split(b"\n", 1)[0].decode("utf-8")
        if len(line.split()) == d + 1:
            return "word2vec-text"
    except UnicodeDecodeError:
        pass
    return "word2vec-binary"


def parse_embedding(source, fmt: str = "auto", name: str = "embedding",
                    progress: Progress | None = None, max_words: int | None = None,
                    max_decompressed: int | None | str = "auto", zero_rows: bool = False,
                    max_rows: int | None | str = "auto", key_prefix: str = "") -> Embedding:
    """Parse word2vec binary, word2vec text (with "n d" header) or GloVe text (no header).

    ``source``: bytes, a path or a binary file object (gzip is detected and decompressed up to
    ``max_decompressed`` bytes, see :func:`_read_bytes`). ``max_words`` keeps the first (most
    frequent) words only. ``zero_rows``: accept all-zero vectors (a pinned asset may have some; an
    upload is refused with the word named). ``max_rows``: the most words a file may hold when
    ``max_words`` does not cut it ("auto": :data:`MAX_UPLOAD_ROWS` for uploads, no limit for pinned
    assets, i.e. ``max_decompressed=None``), checked before any word is built. ``key_prefix``: keep only the rows whose
    key starts with it, with the prefix removed (ConceptNet Numberbatch keys are URIs, ``/c/en/nurse``:
    ``key_prefix="/c/en/"`` gives the English words as ``nurse``); ``max_words`` then counts kept rows.
    """
    if max_rows == "auto":
        max_rows = None if (max_decompressed is None or max_words) else MAX_UPLOAD_ROWS
    data = _read_bytes(source, max_decompressed, max_rows)
    fmt = detect_format(data) if fmt == "auto" else fmt
    if max_rows is not None and not max_words:
        if fmt == "word2vec-binary":
            first = data.partition(b"\n")[0]
            header = _header(first)  # rows the bytes can hold: a lying header fails below, naming the offset
            rows = min(header[0], (len(data) - len(first) - 1) // (4 * max(1, header[1]) + 2)) if header else 0
        else:
            rows = data.count(b"\n") + (not data.endswith(b"\n")) - (fmt == "word2vec-text")
        if rows > max_rows:
            raise too_many_rows(rows, max_rows)
    progress = ensure(progress)
    check = _check_finite if zero_rows else _check_row
    if fmt == "word2vec-binary":
        words, vectors = _parse_binary(data, progress, None if key_prefix else max_words, check)
        if key_prefix:
            keep = [i for i, w in enumerate(words) if w.startswith(key_prefix)][: max_words or None]
            words, vectors = [words[i][len(key_prefix):] for i in keep], vectors[keep]
    elif fmt in ("word2vec-text", "glove-text"):
        words, vectors = _parse_text(data, fmt == "word2vec-text", progress, max_words, check, key_prefix)
    else:
        raise EmbeddingFormatError(f"Unknown embedding format '{short(fmt)}'.")
    if not words:
        raise EmbeddingFormatError(f"The file has no word whose key starts with '{short(key_prefix)}'.")
    progress(1.0, f"{name}: {len(words):,} words x {vectors.shape[1]}")
    return Embedding(tuple(words), vectors, name)


def _check_finite(vec: np.ndarray, word: str, where: str) -> None:
    if not np.all(np.isfinite(vec)):
        raise EmbeddingFormatError(f"{where}: the vector of '{short(word)}' contains NaN or infinity.")


def _check_row(vec: np.ndarray, word: str, where: str) -> None:
    _check_finite(vec, word, where)
    if not np.any(vec):
        raise EmbeddingFormatError(
            f"{where}: the vector of '{short(word)}' is all zeros (a word with no direction cannot be measured); "
            "remove it.")


def _check_word(word: str, where: str) -> None:
    if len(word) > MAX_WORD_CHARS:
        raise EmbeddingFormatError(
            f"{where}: a 'word' of {len(word):,} characters ('{short(word, 40)}') - this is not an embedding file.")


def _parse_binary(data: bytes, progress: Progress, max_words: int | None,
                  check=_check_row) -> tuple[list[str], np.ndarray]:
    first, sep, _ = data.partition(b"\n")
    header = _header(first)
    if header is None or not sep:
        raise EmbeddingFormatError("A word2vec binary file must start with a line 'N_WORDS DIMENSION'.")
    n, d = header
    if n < 1 or d < 1:
        raise EmbeddingFormatError(f"The header announces {n} words of dimension {d}.")
    keep = min(n, max_words) if max_words else n
    row_bytes = 4 * d
    pos = len(first) + 1
    # The header is checked against the bytes present before anything is allocated: a row takes at least
    # a one-byte word, a space and 4 d bytes, so no more rows than that can be read. (34 bytes promising
    # 1,000,000 x 10,000 asked np.empty for 37 GiB.) A lying header then fails below, naming the offset.
    fit = (len(data) - pos) // (row_bytes + 2)
    words: list[str] = []
    vectors = np.empty((min(keep, fit), d), dtype=np.float32)
    seen: dict[str, int] = {}
    end = len(data)
    for i in range(keep):
        while pos < end and data[pos] in (0x0A, 0x0D):  # some writers put a newline after each vector
            pos += 1
        space = data.find(b" ", pos, pos + 1000)
        if space < 0 or pos >= end:
            raise EmbeddingFormatError(
                f"The header announces {n:,} words but the file ends at byte offset {pos:,} "
                f"after {i:,} words.")
        try:
            word = data[pos:space].decode("utf-8")
        except UnicodeDecodeError:
            word = data[pos:space].decode("latin-1")
        if space + 1 + row_bytes > end:
            raise EmbeddingFormatError(
                f"The vector of word #{i + 1} ('{short(word)}') at byte offset {space + 1:,} is cut short: "
                f"the header promises {n:,} words of dimension {d}.")
        vec = np.frombuffer(data, dtype="<f4", count=d, offset=space + 1)
        where = f"Word #{i + 1} at byte offset {pos:,}"
        check(vec, word, where)
        if word in seen:
            raise EmbeddingFormatError(f"{where}: '{short(word)}' appears twice (first as word #{seen[word] + 1}).")
        seen[word] = i
        words.append(word)
        vectors[i] = vec
        pos = space + 1 + row_bytes
        if i % 20000 == 0:
            progress(i / keep, f"reading word {i:,} of {keep:,}")
    if keep == n:
        rest = data[pos:].strip(b"\r\n")
        if rest:
            raise EmbeddingFormatError(
                f"The header announces {n:,} words but {len(rest):,} more bytes follow at offset {pos:,}.")
    return words, vectors


def _parse_text(data: bytes, has_header: bool, progress: Progress,
                max_words: int | None, check=_check_row, key_prefix: str = "") -> tuple[list[str], np.ndarray]:
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace", newline=None)
    lines = iter(text)
    n_expected = d = None
    lineno = 0
    if has_header:
        lineno = 1
        header = _header(next(lines).encode())
        if header is None:
            raise EmbeddingFormatError("Line 1: expected a header 'N_WORDS DIMENSION'.")
        n_expected, d = header
    words: list[str] = []
    # one array preallocated for every line (counted first: no doubling, no final copy) instead of a numpy
    # object per row: a row then costs its d floats plus its word, not ~100 bytes of array header on top
    capacity = data.count(b"\n") + 1 - has_header
    if max_words:
        capacity = min(capacity, max_words)
    rows = np.empty((0, 0), np.float32)
    seen: dict[str, int] = {}
    for line in lines:
        lineno += 1
        parts = line.rstrip("\n").rstrip().split(" ")
        if parts == [""]:
            continue  # blank line
        word, numbers = parts[0], parts[1:]
        if key_prefix:
            if not word.startswith(key_prefix):
                continue  # another language's row (its numbers are not even parsed)
            word = word[len(key_prefix):]
        _check_word(word, f"Line {lineno}")
        if d is None:
            d = len(numbers)
            if d < 1:
                raise EmbeddingFormatError(f"Line {lineno}: the word '{short(word)}' has no numbers after it.")
        if rows.shape[1] != d:
            rows = np.empty((max(1, capacity), d), np.float32)
        if len(numbers) != d:
            raise EmbeddingFormatError(
                f"Line {lineno}: expected {d} numbers after the word '{short(word)}', found {len(numbers)}.")
        try:
            vec = np.array(numbers, dtype=np.float32)
        except ValueError:
            raise EmbeddingFormatError(
                f"Line {lineno}: the vector of '{short(word)}' has a value that is not a number.") from None
        check(vec, word, f"Line {lineno}")
        if word in seen:
            raise EmbeddingFormatError(f"Line {lineno}: '{short(word)}' appears twice (first on line {seen[word]}).")
        seen[word] = lineno
        if len(words) == len(rows):
            grown = np.empty((max(1024, 2 * len(rows)), d), np.float32)
            grown[: len(rows)] = rows
            rows = grown
        rows[len(words)] = vec
        words.append(word)
        if len(words) % 50000 == 0:
            progress(min(0.99, len(words) / (n_expected or 400000)), f"read {len(words):,} words")
        if max_words and len(words) >= max_words:
            break
    if key_prefix and not words:
        return words, np.empty((0, d or 1), np.float32)
    if not words:
        raise EmbeddingFormatError("The file has no word vectors.")
    if n_expected is not None and not max_words and not key_prefix and len(words) != n_expected:
        raise EmbeddingFormatError(f"The header announces {n_expected:,} words but the file has {len(words):,}.")
    return words, (rows if len(words) == len(rows) else rows[: len(words)].copy())


def save_word2vec_binary(emb: Embedding, path: str | Path) -> None:
    """Write word2vec binary (same words, same order) readable by gensim and by :func:`parse_embedding`."""
    with open(path, "wb") as fh:
        fh.write(f"{len(emb)} {emb.dim}\n".encode())
        vecs = np.ascontiguousarray(emb.vectors, dtype="<f4")
        for word, vec in zip(emb.words, vecs, strict=True):
            fh.write(word.encode("utf-8") + b" " + vec.tobytes() + b"\n")
