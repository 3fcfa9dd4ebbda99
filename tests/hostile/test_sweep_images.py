"""The 2026-12-04 sweep's image rows (reviews/hostile-sweep-2026-12-04.md, Table 2 A and O27): PNG text-chunk
bombs, high-bit-depth pictures just under the pixel cap, lying frame counts and orientations, a JPEG cut to
its header. Refusals are one sentence; the large ones cost under 200 MB of extra peak RSS or are refused
before decoding (one subprocess measures them all)."""

from __future__ import annotations

import pytest

from core import images
from tests.hostile import hostile_images as H
from tests.hostile.test_uploads_memory import CEILING_MB, peak_extra_mb_each


@pytest.fixture(scope="module")
def text_bombs(tmp_path_factory):
    root = tmp_path_factory.mktemp("textbombs")
    return {"N1-zTXt-before-IDAT": H.text_bomb_png(root / "z.png", "zTXt", 64),
            "N2-70-zTXt-chunks": H.text_bomb_png(root / "z70.png", "zTXt", 1, count=70),
            "N3-iTXt-compressed": H.text_bomb_png(root / "i.png", "iTXt", 32)}


@pytest.mark.parametrize("case", ["N1-zTXt-before-IDAT", "N2-70-zTXt-chunks", "N3-iTXt-compressed"])
def test_png_text_chunk_bombs_are_one_sentence(case, text_bombs):
    with pytest.raises(images.CorruptImageError) as info:
        images.load_image(text_bombs[case])
    assert "oversized metadata" in str(info.value) and "\n" not in str(info.value)


SMALL_CASES = [  # (id, bytes, refusal words or None, a note that must / must not be there)
    ("N16-apng-lying-frame-count", lambda p: H.apng_lying(p).read_bytes(), None, ("-", "2147483647")),
    ("N17-exif-orientation-9", lambda p: H.jpeg(exif_orientation=9), None, ("-", "EXIF orientation")),
    ("N17-exif-orientation-65535", lambda p: H.jpeg(exif_orientation=65535), None, ("-", "EXIF orientation")),
    ("exif-orientation-6-still-applied", lambda p: H.jpeg(32, 16, exif_orientation=6), None,
     ("+", "EXIF orientation applied")),
    ("N20-jpeg-sof-patched-to-7999", lambda p: H.jpeg_declaring(7999, 7999), "damaged or truncated", None),
    ("O27-rgb48-png-notes-16-bit", lambda p: H.raw_png(p, 32, 16, 16, 2, 3).read_bytes(), None,
     ("+", "16-bit values scaled to 8 bit")),
]


@pytest.mark.parametrize("case, build, words, note", SMALL_CASES, ids=[c[0] for c in SMALL_CASES])
def test_lying_headers_get_true_notes_or_a_sentence(case, build, words, note, tmp_path):
    data = build(tmp_path / "x.png")
    if words is not None:
        with pytest.raises(images.ImageError) as info:
            images.load_image(data)
        assert words in str(info.value)
        return
    notes = " | ".join(images.load_image(data).notes)
    sign, text = note
    assert (text in notes) == (sign == "+"), notes


LARGE_EXPECTED = {  # what happens to each 7999 x 7999 file: decoded and reduced, or refused before decoding
    "gray16-png": "accepted", "uint16-tiff": "accepted", "palette-trns-png": "accepted",
    "float32-tiff": "ImageTooLargeError", "int32-tiff": "ImageTooLargeError", "rgba64-png": "ImageTooLargeError",
    "la16-png": "ImageTooLargeError", "rgb48-png": "ImageTooLargeError",
}


def test_high_bit_depth_images_under_the_pixel_cap_cost_under_200MB(tmp_path):
    files = H.build_large(tmp_path)
    assert all(p.stat().st_size < 2 ** 20 for p in files.values())  # 62-498 KB, as in the sweep
    actions = {name: f"_r = images.load_image({str(path)!r}); assert max(_r.shape) == 2048, _r.shape"
               for name, path in files.items()}
    measured = peak_extra_mb_each("from core import images", actions)
    for name, (extra, said) in measured.items():
        print(f"{name}: +{extra:.0f} MB peak RSS ({said[:90]})")
    for name, (extra, said) in measured.items():
        assert said.startswith(LARGE_EXPECTED[name]), (name, said)
        assert extra < CEILING_MB, (name, extra)
