"""The 2026-12-04 sweep's gallery rows (Table 2 E): damaged disk-cache files are recomputed, never shown
or raised (N61-N65), and the gallery folder is bounded, evicting the layer galleries written longest ago
(N60); a link's ``?layer=`` note is inert Markdown (N49)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import core  # noqa: F401  (TensorFlow environment first)
from core.errors import markdown_text
from core.vision import gallery as G
from core.vision import zoo
from tests.core.test_gallery import FAST
from tests.pages.conftest import app  # noqa: F401  (the fixture)


@pytest.fixture(scope="module")
def shapes():
    return zoo.load_model("shapes-cnn")


def damage_index_not_json(g):
    (g.folder / "index.json").write_text("{not json")


def damage_entries_without_fields(g):
    (g.folder / "index.json").write_text(json.dumps({"channels": {str(k): {} for k in range(8)}}))


def damage_png_empty(g):
    g.path(3).write_bytes(b"")


def damage_png_is_text(g):
    g.path(3).write_text("not a picture")


def damage_layer_folder_is_a_file(g):
    import shutil

    layer = g.folder.parent
    shutil.rmtree(layer)
    layer.write_text("a file where the layer's folder was")


DAMAGE = [("N61-index-not-json", damage_index_not_json), ("N62-entries-without-fields", damage_entries_without_fields),
          ("N63-png-0-bytes", damage_png_empty), ("N64-png-is-text", damage_png_is_text),
          ("N65-layer-folder-is-a-file", damage_layer_folder_is_a_file)]


@pytest.mark.parametrize("case, damage", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_damaged_cache_files_are_recomputed_not_shown(case, damage, shapes, tmp_path):
    g = G.compute(shapes, "conv2_1", range(8), FAST, root=tmp_path)
    good = g.image(3)
    damage(g)
    again = G.open_gallery(shapes, "conv2_1", FAST, root=tmp_path)  # no exception on a damaged folder
    assert 3 in again.missing(range(8))
    G.mosaic(again, list(range(8)))  # gray where damaged, no exception
    fixed = G.compute(shapes, "conv2_1", range(8), FAST, root=tmp_path)
    assert not fixed.missing(range(8)) and np.array_equal(fixed.image(3), good)
    assert all(np.isfinite(v["seconds"]) for v in fixed.done.values())


def test_a_file_damaged_after_listing_is_a_sentence(shapes, tmp_path):
    g = G.compute(shapes, "conv2_1", range(8), FAST, root=tmp_path)
    g.path(2).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)  # the signature, then garbage
    with pytest.raises(G.GalleryError, match="damaged on disk"):
        g.image(2)
    assert 2 not in g.done


def test_the_gallery_folder_is_bounded_oldest_layer_first(shapes, tmp_path):
    import os
    import time

    first = G.compute(shapes, "conv1_1", range(8), FAST, root=tmp_path)
    old = time.time() - 3600
    os.utime(first.folder / "index.json", (old, old))
    second = G.compute(shapes, "conv2_1", range(8), FAST, root=tmp_path)
    size = sum(f.stat().st_size for f in second.folder.iterdir())
    removed = G.evict(tmp_path, keep=second.folder, limit=size + 10)
    assert removed == [first.folder] and not first.folder.exists() and second.folder.exists()
    assert G.evict(tmp_path, keep=second.folder, limit=0) == []  # the one being filled stays


def test_layer_note_from_a_link_is_inert_markdown(shapes):
    _, _, notes = G.clamp_request(shapes, "[Click](http://127.0.0.1:8639/g)", None, "conv1_1")
    shown = markdown_text(notes[0], 300)
    assert "[Click](" not in shown and "\\[Click\\]\\(http" in shown


def test_computing_a_gallery_evicts_the_oldest_beyond_the_setting(shapes, tmp_path, monkeypatch):
    """N60 through compute(): the bound applies to what the gallery job writes (not only to a call of evict)."""
    import os
    import time

    first = G.compute(shapes, "conv1_1", range(8), FAST, root=tmp_path)
    old = time.time() - 3600
    os.utime(first.folder / "index.json", (old, old))
    monkeypatch.setenv("DASHBOARD_GALLERY_MAX_MB", "0.001")  # ~1 KB: one layer's gallery is more than that
    second = G.compute(shapes, "conv2_1", range(8), FAST, root=tmp_path)
    assert not first.folder.exists() and not second.missing(range(8))


def test_layer_link_note_on_the_page_is_text(app):  # noqa: F811
    """N49 through the gallery page: the caption quoting ?layer= was rendered as a live Markdown link."""
    import re

    at = app({"layer": "[Click](http://127.0.0.1:8639/g)", "channel": "3"})
    at.run()
    at.switch_page("../pages/cnn_gallery.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    notes = [c.value for c in at.caption if c.value.startswith("Link:")]
    assert notes and "Click" in notes[0] and "http" in notes[0], notes
    assert not re.search(r"(?<!\\)\[Click(?<!\\)\]\(", notes[0]), notes  # no unescaped [text]( left
    assert "\\[Click\\]\\(http" in notes[0], notes
