"""The user-error contract: every error a user can cause is a core.errors.UserError, and the CLI turns
any UserError (also one it was never told about) into one line and exit 2, anything else into exit 70."""

from __future__ import annotations

import importlib

import pytest

from core import cli
from core.errors import UserError, quote

USER_ERROR_CLASSES = [
    ("core.images", "ImageError"), ("core.assets", "AssetError"), ("core.vision.zoo", "ModelError"),
    ("core.embeddings.io", "EmbeddingFormatError"), ("core.embeddings.bias", "NotEnoughWords"),
    ("core.fcn.upsampling", "UpsamplingError"), ("core.fcn.segmentation", "SegmentationError"),
    ("core.fcn.atrous", "AtrousError"), ("core.detection.darknet", "DarknetError"), ("core.datadir", "DataDirError"),
    ("core.vision.efficientnet", "ConversionError"), ("core.vision.torch_legacy", "LegacyFormatError"),
    ("core.cli", "CommandError"), ("core.vision.attribution.base", "AttributionError"),
    ("core.vision.gallery", "GalleryError"),
]


@pytest.mark.parametrize(("module", "name"), USER_ERROR_CLASSES, ids=[n for _, n in USER_ERROR_CLASSES])
def test_each_user_error_class_has_the_one_base(module, name):
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, UserError) and issubclass(cls, ValueError)  # old `except ValueError` sites still work


def test_the_quoting_copies_are_the_one_function():
    from core import images
    from core.embeddings import io
    from core.vision import zoo

    assert cli.short is quote and io.short is quote and images._short is quote and zoo._short is quote
    assert quote("a\n  b" + "x" * 200) == ("a b" + "x" * 200)[:77] + "..."


class LateError(UserError):
    """A user error class no table names."""


@pytest.mark.parametrize(("raised", "code", "start"), [
    (LateError("The file 'x' is not a picture."), 2, "error: The file 'x' is not a picture."),
    (KeyError("bug"), 70, "internal error, please report: KeyError in 'device'"),
])
def test_the_cli_catches_the_one_base(monkeypatch, capsys, raised, code, start):
    import core.device

    def broken():
        raise raised

    monkeypatch.setattr(core.device, "describe_device", broken)
    assert cli.main(["device"]) == code
    err = capsys.readouterr().err
    assert err.startswith(start)
    assert (err.count("\n") == 1) if code == 2 else ("Traceback" in err)
