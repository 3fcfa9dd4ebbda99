"""The neuron gallery: blocks on disk, reuse, request-independent pictures, URL clamping, several workers."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

import core  # noqa: F401  (TensorFlow environment first)
from core.vision import gallery as G

FAST = {"steps": 4, "eta": 1.0, "init": "gray", "jitter": 0, "l2": 0.0, "blur_every": 0, "fourier": True, "seed": 0,
        "size": 32}


@pytest.fixture(scope="module")
def shapes(shapes_cnn):
    return shapes_cnn


def test_blocks_land_on_disk_with_an_index(shapes, tmp_path):
    g = G.compute(shapes, "conv2_1", [3, 9], FAST, root=tmp_path)  # two blocks: 0-7 and 8-15
    assert sorted(g.done) == list(range(16)) and g.channels == 32 and not g.complete
    index = json.loads((g.folder / "index.json").read_text())
    assert index["layer"] == "conv2_1" and index["recipe"] == FAST and len(index["channels"]) == 16
    img = g.image(9)
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    entry = g.done[9]
    assert entry["std"] == pytest.approx(float(img.std()), rel=1e-6) and np.isfinite(entry["activation"])
    assert g.folder.parent.parent.name.startswith("shapes-cnn-")  # model name + weights fingerprint
    again = G.open_gallery(shapes, "conv2_1", FAST, root=tmp_path)
    assert again.done == g.done and again.missing(range(20)) == list(range(16, 20))


def test_a_channel_does_not_depend_on_who_asked_first(shapes, tmp_path):
    one = G.compute(shapes, "conv2_1", [5], FAST, root=tmp_path / "a")
    block = G.compute(shapes, "conv2_1", range(8), FAST, root=tmp_path / "b")
    assert np.array_equal(one.image(5), block.image(5))


def test_stored_channels_are_not_recomputed(shapes, tmp_path, monkeypatch):
    from core.vision import ascent

    calls = []
    real = ascent.gradient_ascent

    def counting(*args, **kwargs):
        calls.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(ascent, "gradient_ascent", counting)
    G.compute(shapes, "conv1_1", range(8), FAST, root=tmp_path)
    G.compute(shapes, "conv1_1", [2, 6], FAST, root=tmp_path)
    assert calls == [list(range(8))]
    (tmp_path.glob("**/index.json").__next__()).write_text("{not json")  # a damaged index: computed again
    G.compute(shapes, "conv1_1", [2], FAST, root=tmp_path)
    assert len(calls) == 2


def test_two_workers_compute_a_block_once(shapes, tmp_path, monkeypatch):
    from core.vision import ascent

    calls = []
    real = ascent.gradient_ascent
    monkeypatch.setattr(ascent, "gradient_ascent", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    results = []
    threads = [threading.Thread(target=lambda: results.append(G.compute(shapes, "conv1_2", range(8), FAST,
                                                                        root=tmp_path))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and all(sorted(r.done) == list(range(8)) for r in results)


def test_recipes_and_layers_get_their_own_folders(shapes, tmp_path):
    a = G.gallery_dir(shapes, "conv2_1", FAST, tmp_path)
    assert a != G.gallery_dir(shapes, "conv2_1", dict(FAST, steps=5), tmp_path)
    assert a != G.gallery_dir(shapes, "conv2_2", FAST, tmp_path)
    with pytest.raises(G.GalleryError, match="out of range"):
        G.compute(shapes, "conv2_1", [32], FAST, root=tmp_path)
    with pytest.raises(G.GalleryError, match="no spatial output"):
        G.compute(shapes, "logits", [0], FAST, root=tmp_path)


def test_model_recipe_and_default_layer(efficientnet_lite0, emotion_cnn):
    lite = efficientnet_lite0
    recipe = G.recipe_for(lite)
    assert recipe.size == 96 and recipe.fourier and recipe.steps == 60
    assert G.default_layer(lite) == "block4a_expand_activation" and G.layer_channels(lite, "block4a_expand_activation") == 240
    emotion = emotion_cnn
    assert G.recipe_for(emotion).size == 64 and G.default_layer(emotion) in emotion.conv_layers


@pytest.mark.parametrize("layer, channel, want_layer, want_channel, note", [
    ("conv2_1", "5", "conv2_1", 5, None),
    (None, None, "conv3_1", None, None),
    ("conv2_1", "999", "conv2_1", 31, "out of range"),
    ("conv2_1", "-4", "conv2_1", 0, "out of range"),
    ("conv2_1", "five", "conv2_1", None, "not a number"),
    ("../../etc", "1", "conv3_1", 1, "no layer"),
])
def test_url_requests_are_clamped_or_ignored_with_a_note(shapes, layer, channel, want_layer, want_channel, note):
    got_layer, got_channel, notes = G.clamp_request(shapes, layer, channel, "conv3_1")
    assert (got_layer, got_channel) == (want_layer, want_channel)
    assert (note is None and not notes) or any(note in n for n in notes)


def test_mosaic_places_each_channel(shapes, tmp_path):
    g = G.compute(shapes, "conv1_1", range(8), FAST, root=tmp_path)
    image, centres = G.mosaic(g, list(range(10)), columns=4, tile=20, pad=2)
    assert image.shape == (3 * 22 - 2, 4 * 22 - 2, 3)
    assert centres[5] == (5, 1 * 22 + 10, 1 * 22 + 10)
    assert (image[2 * 22 + 5, 1 * 22 + 5] == 200).all()  # channel 9 is not computed: a gray tile
