"""core/vision/ascent_settings.py: one frozen settings object for gradient ascent, read by the page, the gallery,
the warm start, the report and the CLI. No model is loaded here."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from core.cache import content_key
from core.vision import ascent_settings as S
from core.vision import gallery, zoo
from core.vision.ascent_settings import AscentSettings


def test_frozen_and_typed_so_equal_content_is_one_key():
    a = AscentSettings(steps=60, eta=1, l2=0, fourier=1, size=96.0)
    b = AscentSettings(steps=60, eta=1.0, l2=0.0, fourier=True, size=96)
    assert a == b and hash(a) == hash(b) and content_key(a) == content_key(b)
    assert type(a.eta) is float and type(a.size) is int and a.fourier is True
    assert content_key(a) != content_key(a.replace(steps=61))
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.steps = 5  # type: ignore[misc]


def test_the_json_keys_and_the_call_arguments():
    s = S.MODELS["efficientnet-lite0"]["class"]
    assert list(s.as_dict()) == ["steps", "eta", "init", "jitter", "l2", "blur_every", "fourier", "size", "seed"]
    assert AscentSettings.from_mapping(s.as_dict() | {"layer": "x"}) == s  # other keys are ignored
    kwargs = s.call_kwargs()
    assert kwargs["step_size"] == 32.0 and kwargs["l2"] == 0.002 and kwargs["blur_every"] == 10 and "eta" not in kwargs
    import inspect

    from core.vision.ascent import gradient_ascent

    assert set(kwargs) <= set(inspect.signature(gradient_ascent).parameters)


# The gallery's folders on every installation: their names must not change with the object (recipe_key below
# is what the dict recipes gave before, for EfficientNet-Lite0, a 48-px fixed-size model and an any-size model).
@pytest.mark.parametrize(("name", "size", "flexible", "key"), [
    ("efficientnet-lite0", 224, False, "c6947aef5779"),
    ("emotion-cnn", 48, False, "9ee01ada40b4"),
    ("x", None, True, "64af3372a7ef"),
])
def test_gallery_folders_keep_their_names(name, size, flexible, key):
    recipe = gallery.recipe_for(SimpleNamespace(name=name, input_size=(size, size), flexible=flexible))
    assert gallery.recipe_key(recipe) == key
    assert gallery.recipe_key(recipe.as_dict()) == key  # the JSON form (index.json) names the same folder


def test_page_defaults_carry_the_models_settings():
    d = zoo.page_defaults("efficientnet-lite0", "filters")
    assert d["layer"] == "block4a_expand_activation" and d["count"] == 8
    assert AscentSettings.from_mapping(d) == S.for_model("efficientnet-lite0", "filters")
    assert zoo.page_defaults("emotion-cnn", "filters") == {} and S.for_model("emotion-cnn", "filters") is None


def test_the_cli_defaults_are_the_cli_settings():
    from core.cli import build_parser

    args = build_parser().parse_args(["ascent", "--class", "happy"])
    got = AscentSettings(steps=args.steps, eta=args.eta, init=args.init, jitter=args.jitter, l2=args.l2,
                         blur_every=args.blur_every, fourier=args.fourier, size=args.size, seed=args.seed)
    assert got == S.CLI
