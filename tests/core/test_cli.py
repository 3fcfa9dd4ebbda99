"""The headless CLI: help, JSON output, files written with --out, one-sentence errors.

:func:`run` calls ``core.cli.main`` in this process (the other test modules import it): a fresh
interpreter costs a TensorFlow import, ~10 s of CPU on this box, per call. What only a real process
shows -- ``python -m core`` as an entry point, the exit status the shell sees for a user error (2) and
for a bug of ours (70) -- is kept in the few ``run_subprocess`` smoke tests below."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m core *args`` run in this process: stdout, stderr and the exit status as a
    ``CompletedProcess`` (``check``: a non-zero status raises ``CalledProcessError``, like
    ``subprocess.run``)."""
    import contextlib
    import io

    from core import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(args))
        except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if not isinstance(exc.code, int | None):
                err.write(f"{exc.code}\n")
    proc = subprocess.CompletedProcess(["python", "-m", "core", *args], code, out.getvalue(), err.getvalue())
    if check:
        proc.check_returncode()
    return proc


def run_subprocess(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m core *args`` in a fresh interpreter (the smoke tests of the real entry point)."""
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True,
                          cwd=ROOT, check=check, timeout=300, env=env)


# ----------------------------------------------------------------------------- the real entry point


def test_entry_point_help_lists_commands():
    out = run_subprocess("--help").stdout
    for command in ("assets", "device", "image", "train"):
        assert command in out


def test_entry_point_user_error_exits_2(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    proc = run_subprocess("image", "--image", str(bad), "--json", check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr and proc.stdout == ""


def test_entry_point_bug_exits_70(tmp_path):
    # A bug of ours, made real: a sitecustomize that breaks the 'image' command's decoder with a KeyError.
    (tmp_path / "sitecustomize.py").write_text(
        "import core.images as images\n"
        "def broken(*args, **kwargs):\n"
        "    raise KeyError('planted bug')\n"
        "images.load_image = broken\n")
    import os

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    proc = run_subprocess("image", "--image", "astronaut", check=False, env=env)
    assert proc.returncode == 70, proc.stderr
    assert proc.stderr.startswith("internal error, please report: KeyError in 'image'")
    assert "Traceback" in proc.stderr and "planted bug" in proc.stderr


# ----------------------------------------------------------------------------- commands, in this process


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
