"""Hostile inputs at the library boundary (issue #16), one table per kind of input.

Each row is (id, input, expected outcome): a refusal whose one sentence contains the given words, or
the value a degenerate input must produce instead of a number that means nothing. The pages and the
CLI show exactly these sentences (they print ``str(exc)``), so the table is also what a student sees.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from core import images
from core.detection import anchors as K
from core.embeddings import bias, evaluate
from core.embeddings.analysis import percent
from core.embeddings.io import Embedding, EmbeddingFormatError, parse_embedding

MAX_ECHO = 80


def png(width: int, height: int, color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height with (almost) no pixel data behind it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6)


def gz_of_zeros(n_bytes: int) -> bytes:
    """A gzip stream of ``n_bytes`` of b"a", built chunk by chunk (never n_bytes in memory at once)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as fh:
        block = b"a" * 2 ** 20
        for _ in range(n_bytes // len(block)):
            fh.write(block)
    return out.getvalue()


# ----------------------------------------------------------------------------- images

IMAGE_REFUSALS = [
    ("empty-bytes", b"", "empty"),
    ("not-an-image", b"nope, a text file", "not an image"),
    ("truncated-png", png(64, 64)[:60], "damaged"),
    ("declares-100k-square", png_declaring(100_000, 100_000), "too many pixels"),
    ("declares-20000x20000", png_declaring(20_000, 20_000), "decompression bomb"),
    ("gif-garbage", b"GIF89a" + b"\xff" * 40, "not an image we can read"),
]


@pytest.mark.parametrize("case, data, words", IMAGE_REFUSALS, ids=[c[0] for c in IMAGE_REFUSALS])
def test_image_refusals_are_one_sentence(case, data, words):
    with pytest.raises(images.ImageError) as info:
        images.load_image(data)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_a_folder_or_missing_path_as_image_is_a_sentence(tmp_path):
    with pytest.raises(images.NotAnImageError, match="is a folder"):
        images.load_image(tmp_path)
    with pytest.raises(images.NotAnImageError, match="No image file"):
        images.load_image(tmp_path / ("x" * 300 + ".png"))
    try:
        images.load_image(tmp_path / ("y" * 300))
    except images.ImageError as exc:
        assert len(str(exc)) < 200  # the path is quoted short


# (width, height) -> the words of the refusal, or None when a model can look at the picture
SHAPES_FOR_MODELS = [
    ((20_000, 1), "1-pixel side"),
    ((1, 20_000), "1-pixel side"),
    ((5000, 3), "2,048 x 1 pixels"),  # capped at 2048 px first
    ((300, 10), "aspect 30:1"),
    ((7, 7), "7-pixel side"),
    ((8, 8), None),
    ((400, 20), None),  # 20:1 exactly is still a picture
    ((224, 224), None),
    ((4000, 3000), None),
]


@pytest.mark.parametrize("size, words", SHAPES_FOR_MODELS, ids=[f"{w}x{h}" for (w, h), _ in SHAPES_FOR_MODELS])
def test_images_a_model_cannot_see_are_refused_with_why(size, words):
    loaded = images.load_image(png(*size))  # a 138-byte 20000 x 1 PNG decodes (capped at 2048 px)
    problem = images.model_view_problem(loaded.array, (224, 224))
    if words is None:
        assert problem is None
    else:
        assert words in problem and "224 x 224" in problem


@pytest.mark.parametrize("shape", [(1, 2048), (2048, 1), (1, 100), (3, 7), (320, 640), (5000, 5000)])
def test_display_scaling_is_by_the_long_side_with_a_1px_floor(shape):
    image = np.zeros((*shape, 3), np.uint8)
    shown = images.display_scaled(image, 640)
    assert max(shown.shape[:2]) <= max(640, max(shape)) and min(shown.shape[:2]) >= 1
    assert shown.size <= max(640 * 640, image.size) * 3  # never the short-side blow-up (256 x 524,288)


@pytest.mark.parametrize("array, words", [
    (np.full((4, 4, 3), np.nan, np.float32), "NaN"),
    (np.zeros((2, 2, 2, 3), np.uint8), "must be"),
    (np.zeros((0, 5, 3), np.uint8), "must be"),
    (np.zeros((4, 4, 5), np.uint8), "must be"),
], ids=["nan-floats", "4-d", "zero-height", "5-channels"])
def test_hostile_arrays(array, words):
    with pytest.raises(images.ImageError, match=words):
        images.load_image(array)


# ----------------------------------------------------------------------------- embeddings (uploads)

LONG = "w" * 5000
EMBEDDING_REFUSALS = [
    ("empty", b"", "empty"),
    ("blank-lines", b"\n\n   \n", "empty"),
    ("lying-binary-header", b"1000000 10000\nab" + b"\x00" * 20, "announces 1,000,000 words but the file ends"),
    ("header-more-than-present", b"3 2\n" + b"a " + struct.pack("<2f", 1, 2), "header announces"),
    ("gzip-bomb", None, "expands to more than"),
    ("damaged-gzip", b"\x1f\x8b\x08\x00" + b"\x00" * 30, "damaged"),
    ("nan", b"a nan 1\nb 1 2\n", "NaN or infinity"),
    ("inf", b"a 1 inf\nb 1 2\n", "NaN or infinity"),
    ("beyond-float32", b"a 1e39 1\nb 1 2\n", "NaN or infinity"),
    ("all-zero-row", b"a 0 0\nb 1 2\n", "all zeros"),
    ("duplicate-word", b"a 1 2\na 2 3\n", "appears twice"),
    ("wrong-count", b"a 1 2\nb 1 2 3\n", "expected 2 numbers"),
    ("not-a-number", b"a 1 x\n", "not a number"),
    ("no-numbers", b"lonely\n", "no numbers"),
    ("text-header-lies", b"5 2\na 1 2\nb 2 1\n", "header announces 5"),
    ("thousand-char-word", (LONG + " 1 2\n").encode(), "not an embedding file"),
    ("long-word-with-nan", (LONG[:900] + " nan 2\n").encode(), "NaN or infinity"),
]


@pytest.mark.parametrize("case, data, words", EMBEDDING_REFUSALS, ids=[c[0] for c in EMBEDDING_REFUSALS])
def test_embedding_refusals_are_one_short_sentence(case, data, words):
    if data is None:
        data = gz_of_zeros(40 * 2 ** 20)  # 40 MiB in ~40 kB: over the 16 MiB floor of the stream cap
    with pytest.raises(EmbeddingFormatError) as info:
        parse_embedding(data)
    message = str(info.value)
    assert words in message
    assert "w" * (MAX_ECHO + 1) not in message and len(message) < 400  # at most ~80 characters of the file


def test_gzip_within_the_cap_still_parses():
    emb = parse_embedding(gz(b"she 1 0\nhe -1 0\nnurse 0.5 0.5\n"))
    assert emb.words == ("she", "he", "nurse")


@pytest.mark.parametrize("scale", [1e30, 1e-30, 5e37, 1e-40], ids=["huge", "tiny", "near-float32-max", "subnormal"])
def test_huge_and_tiny_vectors_become_unit_length(scale):
    base = np.array([[3, 4], [1, 0], [0.6, -0.8]], np.float64)
    emb = Embedding(("a", "b", "c"), (base * scale).astype(np.float32)).normalized()
    norms = np.linalg.norm(emb.vectors.astype(np.float64), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5), norms  # float32 norms gave 0 (overflow) or left them tiny
    assert np.allclose(emb.vectors[0], [0.6, 0.8], atol=1e-5)


# ----------------------------------------------------------------------------- word sets

def toy_embedding(extra: dict[str, list[float]] | None = None, dim: int = 6) -> Embedding:
    """Gendered toy words in ``dim`` dimensions: axis 0 is 'gender', the rest is noise (seeded)."""
    rng = np.random.default_rng(0)
    words = {}
    for f, m in [("she", "he"), ("woman", "man"), ("girl", "boy"), ("mother", "father"), ("queen", "king")]:
        common = rng.normal(size=dim)
        words[f] = common + np.eye(dim)[0] * 2
        words[m] = common - np.eye(dim)[0] * 2
    for w in ["nurse", "engineer", "doctor", "pilot", "dancer", "cook"]:
        words[w] = rng.normal(size=dim)
    for w, v in (extra or {}).items():
        words[w] = np.asarray(v, float)
    return Embedding(tuple(words), np.array(list(words.values()), np.float32), name="toy").normalized()


EMB = toy_embedding()
TWIN = toy_embedding({"twin_a": [1, 2, 3, 4, 5, 6], "twin_b": [1, 2, 3, 4, 5, 6]})

# pairs -> (method, expected pairs used, words of the skip sentences) or an error's words
PAIR_CASES = [
    ("same-word-twice", [("she", "she"), ("woman", "man"), ("girl", "boy")], "pca", 2, ["same word twice"]),
    ("repeated-pair", [("she", "he"), ("woman", "man"), ("she", "he")], "pca", 2, ["repeats the set 'she, he'"]),
    ("reversed-pair", [("she", "he"), ("woman", "man"), ("he", "she")], "pca", 2, ["repeats the set"]),
    ("member-reused", [("she", "he"), ("woman", "he"), ("girl", "boy")], "pca", 2, ["repeats 'he' of 'she, he'"]),
    ("sum-cancel", [("she", "he"), ("he", "she")], "sum", 1, ["repeats the set"]),
    ("clean", [("she", "he"), ("woman", "man")], "pca", 2, []),
]


@pytest.mark.parametrize("case, pairs, method, used, skipped", PAIR_CASES, ids=[c[0] for c in PAIR_CASES])
def test_degenerate_definitional_pairs_are_skipped_with_a_sentence(case, pairs, method, used, skipped):
    sub = bias.bias_subspace(EMB, pairs, method=method)
    assert len(sub.pairs) == used
    assert len(sub.skipped) == len(skipped) and all(w in s for w, s in zip(skipped, sub.skipped, strict=True))
    assert np.all(np.isfinite(sub.explained_variance_ratio))  # never "PC1 share: nan%"
    assert np.isclose(np.linalg.norm(sub.direction), 1.0, atol=1e-5)


DEGENERATE = [
    ("all-pairs-same-word", lambda: bias.bias_subspace(EMB, [("she", "she"), ("he", "he")]), "same word twice"),
    ("one-usable-pair-pca", lambda: bias.bias_subspace(EMB, [("she", "he"), ("she", "he")]), "needs at least 2"),
    ("identical-vectors-pca", lambda: bias.bias_subspace(TWIN, [("twin_a", "twin_b"), ("twin_b", "twin_a")]),
     "needs at least 2"),
    ("identical-vectors-single", lambda: bias.bias_subspace(TWIN, [("twin_a", "twin_b")], method="single"),
     "identical vectors"),
    ("one-dimensional", lambda: bias.bias_subspace(toy_embedding(dim=1), [("she", "he"), ("woman", "man")]),
     "1 dimension"),
    ("one-dimensional-groups", lambda: bias.group_subspace(toy_embedding(dim=1), {"f": ["she", "woman"],
                                                                                  "m": ["he", "man"]}), "1 dimension"),
    ("second-axis-word-twice", lambda: bias.orthogonal_axis(EMB.vec("nurse") - EMB.vec("nurse"), EMB.vec("she")),
     "a word minus itself"),
    ("analogy-generator-a-equals-b", lambda: bias.generate_analogies(
        EMB, bias.candidate_pairs(EMB, delta=2.0), "she", "she"), "same word"),
    ("analogy-3cosadd-a-equals-b", lambda: bias.analogy(EMB, "man", "man", "woman"), "same word"),
    ("group-word-in-both", lambda: bias.group_subspace(EMB, {"f": ["she", "woman", "nurse"],
                                                             "m": ["he", "man", "nurse"]}), "in both"),
    ("group-one-known-word", lambda: bias.group_subspace(TWIN, {"a": ["twin_a", "she"], "b": ["twin_b", "she_"]}),
     "at least 2"),
    ("groups-identical-means", lambda: bias.group_subspace(
        toy_embedding({"p": [1, 0, 0, 0, 0, 0], "q": [0, 1, 0, 0, 0, 0], "r": [1, 0, 0, 0, 0, 0],
                       "s": [0, 1, 0, 0, 0, 0]}), {"a": ["p", "q"], "b": ["r", "s"]}), "coincide"),
    ("weat-a-equals-b", lambda: evaluate.weat(EMB, ["nurse", "dancer"], ["engineer", "pilot"], ["she", "woman"],
                                              ["woman", "she"], n_permutations=100), "same words"),
    ("weat-x-equals-y", lambda: evaluate.weat(EMB, ["nurse", "dancer"], ["dancer", "nurse"], ["she", "woman"],
                                              ["he", "man"], n_permutations=100), "same words"),
    ("weat-x-overlaps-y", lambda: evaluate.weat(EMB, ["nurse", "dancer"], ["nurse", "pilot"], ["she", "woman"],
                                                ["he", "man"], n_permutations=100), "in both X and Y"),
    ("weat-a-repeated-member", lambda: evaluate.weat(TWIN, ["nurse", "dancer"], ["engineer", "pilot"],
                                                    ["twin_a", "twin_a"], ["twin_b", "twin_b"], n_permutations=100),
     "at least 2"),
    ("weat-a-b-identical-vectors", lambda: evaluate.weat(
        toy_embedding({"p": [1, 0, 0, 0, 0, 0], "q": [0, 1, 0, 0, 0, 0], "r": [1, 0, 0, 0, 0, 0],
                       "s": [0, 1, 0, 0, 0, 0]}), ["nurse", "dancer"], ["engineer", "pilot"], ["p", "q"], ["r", "s"],
        n_permutations=100), "undefined"),
    ("direct-bias-nan-c", lambda: bias.direct_bias(EMB, ["nurse"], EMB.vec("she"), float("nan")), ">= 0"),
]


@pytest.mark.parametrize("case, call, words", DEGENERATE, ids=[c[0] for c in DEGENERATE])
def test_degenerate_word_sets_get_a_sentence_not_a_number(case, call, words):
    with pytest.raises(ValueError) as info:
        call()
    assert words in str(info.value), str(info.value)


def test_direct_bias_c0_counts_non_zero_projections():
    g = bias.bias_subspace(EMB, [("she", "he"), ("woman", "man")]).direction
    neutral = ["nurse", "engineer", "doctor", "pilot", "dancer", "cook"]
    assert bias.direct_bias(EMB, neutral, g, 0.0) == 1.0  # every random word projects a little
    rows = EMB.rows(neutral)
    flat = EMB.vectors.astype(np.float64).copy()
    flat[rows] -= np.outer(flat[rows] @ g, g)  # neutralized: projections ~1e-8 (float32 rounding)
    debiased = EMB.with_vectors(flat.astype(np.float32))
    assert bias.direct_bias(debiased, neutral, g, 0.0) == 0.0  # numpy's 0**0 = 1 said 1.0 here
    assert bias.direct_bias(debiased, neutral, g, 1.0) < 1e-6
    assert bias.direct_bias(debiased, neutral[:3] + ["she"], g, 0.0) == 0.25  # she keeps her projection


def test_random_pairs_baseline_on_identical_vectors_is_not_a_number_not_a_crash():
    emb = Embedding(tuple("abcdef"), np.tile(np.array([[1.0, 2.0]], np.float32), (6, 1))).normalized()
    assert np.all(np.isnan(bias.random_pairs_variance(emb, n_pairs=3)))


@pytest.mark.parametrize("value, kwargs, text", [
    (-0.001, {}, "0%"), (-0.004, {"digits": 0}, "0%"), (-0.0004, {"digits": 1, "sign": True}, "+0.0%"),
    (float("nan"), {}, "n/a"), (float("inf"), {"digits": 1}, "n/a"), (0.1234, {"digits": 1}, "12.3%"),
    (-0.02, {"sign": True}, "-2%"), (1.0, {}, "100%"),
], ids=["neg-tiny", "neg-rounds-0", "signed-neg-0", "nan", "inf", "ordinary", "signed-neg", "hundred"])
def test_percent_never_prints_minus_zero_or_nan(value, kwargs, text):
    assert percent(value, **kwargs) == text


# ----------------------------------------------------------------------------- anchors CSV

CSV_CASES = [
    ("nan", "w,h\n10,20\nnan,3\n", "Line 3 holds NaN or infinity"),
    ("inf", "10,20\ninf,3\n", "Line 2 holds NaN or infinity"),
    ("minus-inf", "10,20\n4,-inf\n", "NaN or infinity"),
    ("above-widget-max", "10,20\n20000,5\n", "larger than any image"),
    ("huge-exponent", "1e308,5\n", "larger than any image"),
    ("zero", "0,5\n", "positive"),
    ("negative", "-3,4\n", "positive"),
    ("header-only", "w,h\n", "No 'w,h' rows"),
    ("one-number", "10,20\n3\n", "Line 2 is not 'w,h'"),
    ("long-garbage", "10,20\n" + "x" * 100_000 + "\n", "Line 2 is not 'w,h'"),
]


@pytest.mark.parametrize("case, text, words", CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_anchor_csv_refusals_name_the_line(case, text, words):
    with pytest.raises(ValueError) as info:
        K.read_wh_csv(text)
    assert words in str(info.value) and len(str(info.value)) < 200


def test_anchor_csv_at_the_widget_limit_is_accepted():
    assert K.read_wh_csv("10000,10000\n1,1\n").max() == 10_000


@pytest.mark.parametrize("rows, kept", [(200_000, K.MAX_CLUSTER_BOXES), (K.MAX_CLUSTER_BOXES, K.MAX_CLUSTER_BOXES),
                                        (100, 100)])
def test_many_anchor_rows_are_sampled_with_a_sentence(rows, kept):
    wh = np.random.default_rng(1).uniform(1, 400, size=(rows, 2))
    sample, note = K.sample_boxes(wh, seed=0)
    assert len(sample) == kept
    assert (note != "") == (rows > K.MAX_CLUSTER_BOXES)
    if note:
        assert f"{rows:,} boxes" in note and np.array_equal(sample, K.sample_boxes(wh, seed=0)[0])
