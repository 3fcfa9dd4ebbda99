"""Keys of the named cached functions come from arguments by content (core.cache.content_key)."""

from dataclasses import dataclass

import numpy as np
import pytest

from core.cache import DigestedArray, content_key, digested, function_key, sha256_of


@dataclass(frozen=True)
class Settings:
    method: str
    steps: int


@dataclass
class Mutable:
    value: int


class Loaded:
    def __init__(self, uid: str):
        self.uid = uid


def test_equal_content_gives_equal_keys_and_other_content_other_keys():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert content_key(a) == content_key(a.copy())
    b = a.copy()
    b[0, 0] = 99
    assert content_key(a) != content_key(b)
    assert content_key(a) != content_key(a.astype(np.int16))  # same numbers, other dtype
    assert content_key(a) != content_key(a.reshape(4, 3))  # same bytes, other shape
    assert content_key((Loaded("m1"), a, Settings("gradcam", 3))) == content_key((Loaded("m1"), a.copy(),
                                                                                  Settings("gradcam", 3)))
    assert content_key(Loaded("m1")) != content_key(Loaded("m2"))
    assert content_key(Settings("gradcam", 3)) != content_key(Settings("gradcam", 4))
    assert content_key({"b": 1, "a": 2}) == content_key({"a": 2, "b": 1})


def test_objects_without_a_content_identity_are_refused():
    with pytest.raises(TypeError):
        content_key(Mutable(1))  # not frozen: its content could change under the key
    with pytest.raises(TypeError):
        content_key(object())


def test_digested_array_carries_the_plain_sha256_and_cannot_be_written():
    a = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    d = digested(a)
    assert isinstance(d, DigestedArray)
    assert d.digest == sha256_of(a) and content_key(d) == content_key(a)
    with pytest.raises(ValueError):
        d[0, 0, 0] = 1
    with pytest.raises(ValueError):
        d.flags.writeable = True
    a[0, 0, 0] ^= 1  # the caller's array is not shared with it
    assert sha256_of(np.asarray(d)) == d.digest != sha256_of(a)
    part = d[1:, :, ::-1]  # derived content: no digest, hashed for what it is
    assert getattr(part, "digest", None) is None
    assert content_key(part) == content_key(np.ascontiguousarray(np.asarray(d)[1:, :, ::-1]))


def test_function_key_names_the_function_and_its_arguments():
    def grad_cam(model, image, target):
        return None

    def other(model, image, target):
        return None

    image = np.zeros((2, 2, 3), np.uint8)
    k = function_key(grad_cam, (Loaded("m"), image, 3), {})
    assert k == function_key(grad_cam, (Loaded("m"), image.copy(), 3), {})
    assert k != function_key(other, (Loaded("m"), image, 3), {})
    assert k != function_key(grad_cam, (Loaded("m"), image, 4), {})
