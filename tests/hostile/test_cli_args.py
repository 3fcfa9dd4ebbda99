"""Hostile CLI arguments (issue #16): every user error is one line ``error: ...`` on stderr and exit 2;
a bug of ours is exit 70 with 'internal error, please report' and the traceback, never a user error.

The table runs ``core.cli.main`` in this process (fast: the refusals come before any model is loaded,
except the three rows that give a folder as ``--image`` to a command that loads its model first).
"""

from __future__ import annotations

import gzip

import pytest

from core import cli


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-cli")
    (root / "folder").mkdir()
    (root / "nan.csv").write_text("w,h\n10,20\nnan,3\n")
    (root / "inf.csv").write_text("10,20\ninf,3\n")
    (root / "big.csv").write_text("10,20\n20000,3\n")
    (root / "ok.csv").write_text("w,h\n10,20\n30,40\n50,20\n")
    (root / "one_dim.txt").write_text("she 1\nhe -1\nwoman 0.9\nman -0.8\nnurse 0.5\n")
    with gzip.open(root / "bomb.txt.gz", "wb", compresslevel=9) as fh:
        for _ in range(40):
            fh.write(b"a" * 2 ** 20)
    (root / "not_image.png").write_bytes(b"hello")
    return root


# (id, argv with {d} for the fixture folder, words the one-line error must contain)
USER_ERRORS = [
    ("image-folder", ["image", "--image", "{d}/folder"], "is a folder"),
    ("image-missing", ["image", "--image", "{d}/nope.png"], "No image file"),
    ("image-not-image", ["image", "--image", "{d}/not_image.png"], "not an image"),
    ("image-too-long-name", ["image", "--image", "{d}/" + "x" * 400], "No image file"),
    ("image-empty-spec", ["image", "--image", ""], "--image is empty"),
    ("image-negative-max-side", ["image", "--image", "chelsea", "--max-side", "-3"], "--max-side"),
    ("image-unknown-sample-like", ["image", "--image", "chelsea2"], "No image file"),
    ("darknet-size-0", ["darknet-summary", "--cfg", "yolov3-tiny", "--size", "0"], "--size must be"),
    ("darknet-size-negative", ["darknet-summary", "--cfg", "yolov3-tiny", "--size", "-416"], "--size must be"),
    ("darknet-size-huge", ["darknet-summary", "--cfg", "yolov3-tiny", "--size", "100000"], "--size must be"),
    ("anchors-k-descending", ["anchors", "--k", "5..1"], "empty range: write the smaller number first (1..5)"),
    ("anchors-k-zero", ["anchors", "--k", "0"], "between 1 and 50"),
    ("anchors-k-billion", ["anchors", "--k", "1..1000000000"], "between 1 and 50"),
    ("anchors-k-list-too-big", ["anchors", "--k", "3,99"], "between 1 and 50"),
    ("anchors-k-words", ["anchors", "--k", "five"], "--k takes N"),
    ("anchors-k-too-many-for-boxes", ["anchors", "--csv", "{d}/ok.csv", "--k", "1..5"], "at most the number of boxes"),
    ("anchors-csv-nan", ["anchors", "--csv", "{d}/nan.csv", "--k", "1"], "Line 3 holds NaN"),
    ("anchors-csv-inf", ["anchors", "--csv", "{d}/inf.csv", "--k", "1"], "NaN or infinity"),
    ("anchors-csv-above-max", ["anchors", "--csv", "{d}/big.csv", "--k", "1"], "larger than any image"),
    ("anchors-csv-folder", ["anchors", "--csv", "{d}/folder", "--k", "1"], "is a folder, not a CSV"),
    ("anchors-csv-missing", ["anchors", "--csv", "{d}/missing.csv", "--k", "1"], "No such file"),
    ("anchors-image-size-0", ["anchors", "--csv", "{d}/ok.csv", "--k", "1", "--image-size", "0"], "--image-size"),
    ("anchors-scenes-0", ["anchors", "--scenes", "0", "--k", "1"], "--scenes must be"),
    ("anchors-scenes-huge", ["anchors", "--scenes", "10000000", "--k", "1"], "--scenes must be"),
    ("yolo-loss-example-huge", ["yolo-loss", "--example", "100000"], "--example must be between 0 and"),
    ("yolo-loss-example-negative", ["yolo-loss", "--example", "-1"], "--example must be between 0 and"),
    ("detect-conf-above-1", ["detect", "--conf", "2"], "--conf must be between 0 and 1"),
    ("detect-iou-nan", ["detect", "--iou", "nan"], "--iou must be between 0 and 1"),
    ("detect-size-0", ["detect", "--model", "yolov3", "--size", "0"], "--size must be"),
    ("dream-iterations-0", ["dream", "--iterations", "0"], "--iterations must be between"),
    ("dream-iterations-huge", ["dream", "--iterations", "100000000"], "--iterations must be between"),
    ("dream-scale-nan", ["dream", "--scale", "nan"], "--scale must be between"),
    ("dream-octaves-100", ["dream", "--octaves", "100"], "--octaves must be between"),
    ("dream-max-side-0", ["dream", "--max-side", "0"], "--max-side must be between"),
    ("dream-layer-weight-word", ["dream", "--layer", "conv:heavy"], "LAYER[:WEIGHT]"),
    ("dream-layer-weight-inf", ["dream", "--layer", "conv:inf"], "finite number"),
    ("ascent-steps-0", ["ascent", "--class", "happy", "--steps", "0"], "--steps must be between"),
    ("ascent-eta-nan", ["ascent", "--class", "happy", "--eta", "nan"], "--eta must be between"),
    ("ascent-size-huge", ["ascent", "--class", "happy", "--size", "100000"], "--size must be between"),
    ("bias-missing-file", ["bias", "--embedding", "{d}/no_such.bin"], "neither a known embedding"),
    ("bias-k-0", ["bias", "--k", "0"], "--k must be between 1 and 10"),
    ("bias-one-dimensional", ["bias", "--embedding", "{d}/one_dim.txt"], "1 dimension"),
    ("bias-gzip-bomb", ["bias", "--embedding", "{d}/bomb.txt.gz"], "expands to more than"),
    ("bias-folder", ["bias", "--embedding", "{d}/folder"], "is a folder"),
    ("evaluate-permutations-0", ["evaluate", "--permutations", "0"], "--permutations must be between"),
]


@pytest.mark.parametrize("case, argv, words", USER_ERRORS, ids=[c[0] for c in USER_ERRORS])
def test_user_errors_are_one_line_and_exit_2(case, argv, words, files, capsys):
    assert_one_line_exit_2(argv, words, files, capsys)


def assert_one_line_exit_2(argv: list[str], words: str, folder, capsys) -> None:
    """``python -m core *argv`` (``{d}`` = ``folder``) exits 2 with one line ``error: ...`` holding ``words``."""
    code = cli.main([a.replace("{d}", str(folder)) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    last = err[-1] if err else ""
    assert code == 2, err
    assert last.startswith("error: ") and words in last, err
    assert "Traceback" not in "\n".join(err)
    assert len(last) < 400  # user content is quoted short


# The three commands that load their model before reading --image (the model is cached on disk by the
# rest of the suite; the folder used to escape as a traceback).
FOLDER_AS_IMAGE = [("detect", ["detect", "--image", "{d}/folder"]),
                   ("segment", ["segment", "--image", "{d}/folder"]),
                   ("predict", ["predict", "--model", "shapes-cnn", "--image", "{d}/folder"])]


@pytest.mark.slow
@pytest.mark.parametrize("case, argv", FOLDER_AS_IMAGE, ids=[c[0] for c in FOLDER_AS_IMAGE])
def test_a_folder_as_image_is_a_sentence_for_every_command(case, argv, files, capsys):
    code = cli.main([a.replace("{d}", str(files)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and "is a folder" in err.strip().splitlines()[-1] and "Traceback" not in err


ARGPARSE_ERRORS = [
    ("unknown-option", ["image", "--image", "chelsea", "--bogus"], "unrecognized arguments: --bogus"),
    ("not-an-int", ["yolo-loss", "--example", "many"], "invalid int value"),
    ("bad-choice", ["upsample", "--method", "magic"], "invalid choice"),
    ("missing-required", ["image"], "required"),
    ("unknown-command", ["weather"], "invalid choice"),
]


@pytest.mark.parametrize("case, argv, words", ARGPARSE_ERRORS, ids=[c[0] for c in ARGPARSE_ERRORS])
def test_argparse_errors_are_one_line_and_exit_2(case, argv, words, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and words in err  # no usage block


@pytest.mark.parametrize("bug", [KeyError("layer"), ValueError("shapes (3,) and (4,) not aligned"),
                                 ZeroDivisionError("division by zero"), IndexError("list index out of range")],
                         ids=["KeyError", "ValueError", "ZeroDivisionError", "IndexError"])
def test_internal_bugs_are_not_reported_as_user_errors(bug, monkeypatch, capsys):
    def broken(args):
        raise bug

    parser = cli.build_parser()
    args = parser.parse_args(["device"])
    monkeypatch.setattr(cli, "build_parser", lambda: _Fixed(parser, args))
    args.func = broken
    code = cli.main(["device"])
    err = capsys.readouterr().err
    assert code == cli.INTERNAL_EXIT != 2
    assert err.startswith("internal error, please report:") and type(bug).__name__ in err.splitlines()[0]
    assert "Traceback" in err  # for the report


class _Fixed:
    """A parser stand-in that returns prepared args (so a command can be replaced by a broken one)."""

    def __init__(self, parser, args):
        self.parser, self.args = parser, args

    def parse_args(self, argv):
        return self.args

    def print_help(self):
        self.parser.print_help()


def test_library_input_errors_stay_user_errors(monkeypatch, capsys):
    """A domain error class (its message is a sentence for the user) raised inside a command is exit 2."""
    from core.images import NotAnImageError

    parser = cli.build_parser()
    args = parser.parse_args(["device"])

    def refuses(a):
        raise NotAnImageError("This file is not an image we can read.")

    args.func = refuses
    monkeypatch.setattr(cli, "build_parser", lambda: _Fixed(parser, args))
    assert cli.main(["device"]) == 2
    assert capsys.readouterr().err == "error: This file is not an image we can read.\n"
