"""The 2026-12-04 sweep's CLI rows (Table 2 K): devices and FIFOs named as input files are refused before a
byte is read (they read until memory ran out, or blocked forever), a full disk and bad values are one line
with exit 2 (not "internal error", exit 70, and not silently ignored). In-process, like test_cli_args."""

from __future__ import annotations

import os

import pytest

from tests.hostile.test_cli_args import assert_one_line_exit_2


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep-cli")
    os.mkfifo(root / "fifo")
    (root / "wide.cfg").write_text("[net]\nwidth=32\nheight=32\nchannels=3\n\n"
                                   "[convolutional]\nfilters=400000\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
                                   "[convolutional]\nfilters=40000\nsize=3\nstride=1\npad=1\nactivation=leaky\n")
    return root


ROWS = [  # (sweep row, argv with {d} for the fixture folder, words of the one-line error)
    ("N100-embedding-dev-zero", ["bias", "--embedding", "/dev/zero"], "is a device or a pipe"),
    ("N101-embedding-fifo", ["bias", "--embedding", "{d}/fifo"], "is a device or a pipe"),
    ("N102-csv-dev-zero", ["anchors", "--csv", "/dev/zero", "--k", "1"], "is a device or a pipe"),
    ("N103-csv-fifo", ["anchors", "--csv", "{d}/fifo", "--k", "1"], "is a device or a pipe"),
    ("N105-cfg-dev-zero", ["darknet-summary", "--cfg", "/dev/zero"], "is a device or a pipe"),
    ("N106-cfg-fifo", ["darknet-summary", "--cfg", "{d}/fifo"], "is a device or a pipe"),
    ("N107-weights-dev-zero", ["darknet-summary", "--cfg", "yolov3-tiny", "--weights", "/dev/zero"],
     "is a device or a pipe"),
    ("N108-cfg-400000-filters", ["darknet-summary", "--cfg", "{d}/wide.cfg"], "would have 144,000,000,000 weights"),
    ("N111-out-dev-full", ["image", "--image", "chelsea", "--out", "/dev/full"], "no space left on the device"),
    ("N117-unpool-two-values", ["upsample", "--method", "unpool", "--values", "1,2"], "must be 4 numbers"),
    ("N118-unpool-words", ["upsample", "--method", "unpool", "--values", "a,b,c,d"], "must be 4 numbers"),
    ("N121-l2-nan", ["ascent", "--class", "happy", "--l2", "nan"], "--l2 must be between 0 and 0.99"),
    ("N122-l2-2", ["ascent", "--class", "happy", "--l2", "2"], "--l2 must be between 0 and 0.99"),
    ("N123-jitter-negative", ["ascent", "--class", "happy", "--jitter", "-5"], "--jitter must be between 0"),
    ("N123-blur-every-negative", ["ascent", "--class", "happy", "--blur-every", "-1"], "--blur-every must be between"),
    ("N124-seed-negative", ["ascent", "--class", "happy", "--seed", "-1"], "--seed must be between 0"),
    ("N127-channels-descending", ["gallery", "--channels", "5-1"], "empty range"),
    ("N134-debias-out-dev-full", ["debias", "--method", "hard", "--out", "/dev/full"], "no space left on the device"),
]


@pytest.mark.parametrize("case, argv, words", ROWS, ids=[r[0] for r in ROWS])
def test_sweep_cli_rows_are_one_line_and_exit_2(case, argv, words, files, capsys):
    assert_one_line_exit_2(argv, words, files, capsys)
