"""The headless CLI: help, JSON output, files written with --out, one-sentence errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True,
                          cwd=ROOT, check=check, timeout=300)


def test_help_lists_commands():
    out = run("--help").stdout
    for command in ("assets", "device", "image"):
        assert command in out


def test_device_json():
    payload = json.loads(run("device", "--json").stdout)
    assert payload["kind"] in ("CPU", "GPU") and payload["label"]


def test_image_json_and_out(tmp_path):
    out = tmp_path / "astronaut.png"
    payload = json.loads(run("image", "--image", "astronaut", "--max-side", "100", "--json", "--out", str(out)).stdout)
    assert (payload["height"], payload["width"]) == (100, 100)
    assert np.asarray(Image.open(out)).shape == (100, 100, 3)


def test_bad_image_is_one_sentence_and_exit_2(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    proc = run("image", "--image", str(bad), "--json", check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_unknown_asset_fetch_fails_clearly():
    proc = run("assets", "fetch", "no-such-asset", check=False)
    assert proc.returncode == 2
    assert "Unknown asset 'no-such-asset'" in proc.stdout + proc.stderr
