"""Read (and, for tests, write) PyTorch's legacy ``.pth`` serialization without importing torch.

Before PyTorch 1.6 ``torch.save`` wrote a plain stream instead of a zip archive:

1. five pickles: the magic number ``0x1950a86a20f9469cfc6c``, the protocol version (1001), a
   "sys info" dict (endianness, C type sizes), then the saved object itself, whose tensors are
   ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`` calls and whose storages
   are *persistent ids* ``('storage', torch.FloatStorage, key, location, numel[, view_metadata])``,
   and finally the list of storage keys;
2. for each key in that order: an 8-byte little-endian element count and the storage's raw
   little-endian bytes.

A pickle can name any Python callable, so the object is read with an unpickler that knows exactly
the globals the format needs (``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` and
the ``torch.*Storage`` types, all implemented here with numpy) and refuses every other one. When an
expected sha256 is given the file's hash is checked before any byte is unpickled.

``load_legacy(path)`` returns ``{name: np.ndarray}`` (or whatever container the file holds, with
numpy arrays in place of tensors); ``save_legacy(state_dict, path)`` writes the same format, which
lets the tests build files, strided views included, without torch.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import struct
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import UserError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# torch.<Name>Storage -> the little-endian numpy dtype of its elements
STORAGE_DTYPES: dict[str, np.dtype] = {name: np.dtype(code) for name, code in {
    "DoubleStorage": "<f8", "FloatStorage": "<f4", "HalfStorage": "<f2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2",
    "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}.items()}
_DTYPE_STORAGES = {dtype: name for name, dtype in STORAGE_DTYPES.items()}


class LegacyFormatError(UserError):
    """The file is not a readable legacy PyTorch file; ``str(exc)`` is one sentence for the user."""


class ForbiddenGlobal(LegacyFormatError, pickle.UnpicklingError):
    """The pickle names a Python global the format does not need (it is never imported)."""


# ----------------------------------------------------------------------------- what the pickle rebuilds


@dataclass(frozen=True)
class _StorageType:
    """Stands for ``torch.FloatStorage`` etc. inside the pickle."""

    name: str

    @property
    def dtype(self) -> np.dtype:
        return STORAGE_DTYPES[self.name]


class _Storage:
    """A root storage: ``numel`` elements of ``dtype``, filled in after the pickle is read."""

    def __init__(self, key: str, dtype: np.dtype, numel: int):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.data: np.ndarray | None = None


@dataclass(frozen=True)
class _StorageView:
    """A slice ``[offset, offset + size)`` of a root storage (old PyTorch's storage views)."""

    root: _Storage
    offset: int
    size: int


@dataclass(frozen=True)
class _PendingTensor:
    """``_rebuild_tensor_v2``'s arguments; becomes an array once the storages are read."""

    storage: _Storage | _StorageView
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    return _PendingTensor(storage, int(storage_offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals of a tensor file and PyTorch's ``storage`` persistent ids."""

    def __init__(self, file, label: str):
        super().__init__(file)
        self.label = label
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise ForbiddenGlobal(f"{self.label} names the Python global '{module}.{name}', which a PyTorch tensor file "
                              "does not need, so it was refused without being loaded.")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise LegacyFormatError(f"{self.label} holds a persistent object other than a tensor storage "
                                    f"({str(pid)[:80]}).")
        storage_type, key, _location, numel = pid[1:5]
        view = pid[5] if len(pid) == 6 else None
        key = str(key)
        root = self.storages.get(key)
        if root is None:
            root = self.storages[key] = _Storage(key, storage_type.dtype, int(numel))
        if view is None:
            return root
        _view_key, offset, size = view
        return _StorageView(root, int(offset), int(size))


# ----------------------------------------------------------------------------- reading


def load_legacy(source: str | Path | bytes, expected_sha256: str | None = None, label: str | None = None) -> Any:
    """The object saved in a legacy (pre-zip) PyTorch file, with numpy arrays in place of tensors.

    ``expected_sha256`` (hex) is checked against the whole file before anything is unpickled.
    ``label`` names the file in error messages (default: its file name). Every problem raises
    :class:`LegacyFormatError` with one sentence: a wrong hash, a zip-format file, a foreign
    global (:class:`ForbiddenGlobal`), a truncated or inconsistent storage section.
    """
    if isinstance(source, (bytes, bytearray)):
        data, label = bytes(source), label or "The PyTorch file"
    else:
        path = Path(source)
        label = label or f"The PyTorch file '{path.name}'"
        data = path.read_bytes()
    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256.lower():
            raise LegacyFormatError(f"{label} has sha256 {actual}, expected {expected_sha256.lower()}, "
                                    "so it was not unpickled.")
    if data[:4] == b"PK\x03\x04":
        raise LegacyFormatError(f"{label} is a zip-format PyTorch file (saved by PyTorch 1.6 or later); "
                                "only the legacy format is supported.")
    stream = io.BytesIO(data)
    unpickler = _RestrictedUnpickler(stream, label)

    def next_pickle(what: str):
        try:
            return unpickler.load()
        except LegacyFormatError:
            raise
        except Exception as exc:  # a damaged pickle: any of EOFError, UnpicklingError, ValueError...
            raise LegacyFormatError(f"{label} is damaged: its {what} could not be read "
                                    f"({type(exc).__name__}).") from None

    if next_pickle("magic number") != MAGIC_NUMBER:
        raise LegacyFormatError(f"{label} is not a legacy PyTorch file (its magic number is wrong).")
    version = next_pickle("protocol version")
    if version != PROTOCOL_VERSION:
        raise LegacyFormatError(f"{label} has serialization protocol {version}, expected {PROTOCOL_VERSION}.")
    sys_info = next_pickle("system information")
    if not isinstance(sys_info, dict):
        raise LegacyFormatError(f"{label} is damaged: its system information is not a dict.")
    obj = next_pickle("saved object")
    keys = next_pickle("list of storage keys")
    if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(unpickler.storages):
        raise LegacyFormatError(f"{label} is damaged: its list of storage keys does not match the storages its "
                                "tensors use.")
    _read_storages(stream, [unpickler.storages[str(k)] for k in keys], label)
    return _materialise(obj, label)


def _read_storages(stream: io.BytesIO, storages: list[_Storage], label: str) -> None:
    for i, storage in enumerate(storages):
        where = f"storage '{storage.key}' ({i + 1} of {len(storages)})"
        head = stream.read(8)
        if len(head) < 8:
            raise LegacyFormatError(f"{label} is truncated: it ends before the element count of {where}.")
        (count,) = struct.unpack("<q", head)
        if count != storage.numel:
            raise LegacyFormatError(f"{label} is damaged: {where} declares {count:,} elements, "
                                    f"its tensors expect {storage.numel:,}.")
        need = count * storage.dtype.itemsize
        raw = stream.read(need)
        if len(raw) < need:
            raise LegacyFormatError(f"{label} is truncated: {where} needs {need:,} bytes but only {len(raw):,} remain.")
        storage.data = np.frombuffer(raw, storage.dtype)


def _tensor_array(t: _PendingTensor, label: str) -> np.ndarray:
    if isinstance(t.storage, _StorageView):
        view = t.storage
        flat = view.root.data[view.offset:view.offset + view.size]
        if len(flat) != view.size:
            raise LegacyFormatError(f"{label} is damaged: a storage view reaches past the end of its storage.")
    else:
        flat = t.storage.data
    if len(t.size) != len(t.stride) or any(s < 0 for s in t.size + t.stride) or t.offset < 0:
        raise LegacyFormatError(f"{label} is damaged: a tensor has size {t.size} and stride {t.stride}.")
    if 0 in t.size:
        return np.zeros(t.size, flat.dtype)
    last = t.offset + sum((n - 1) * s for n, s in zip(t.size, t.stride, strict=True))
    if last >= len(flat):  # as_strided would read outside the buffer
        raise LegacyFormatError(f"{label} is damaged: a tensor of size {t.size} reaches element {last:,} of a "
                                f"{len(flat):,}-element storage.")
    itemsize = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(flat[t.offset:], shape=t.size, strides=[s * itemsize for s in t.stride],
                                           writeable=False)
    return np.array(view, dtype=flat.dtype.newbyteorder("="))  # a native-order copy, independent of the file


def _materialise(obj: Any, label: str) -> Any:
    if isinstance(obj, _PendingTensor):
        return _tensor_array(obj, label)
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _materialise(v, label)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(v, label) for v in obj)
    if isinstance(obj, (_Storage, _StorageView)):
        raise LegacyFormatError(f"{label} holds a bare storage rather than tensors; only tensor files are supported.")
    return obj


# ----------------------------------------------------------------------------- writing (for tests)


@dataclass(frozen=True)
class StridedTensor:
    """A tensor that is a strided view of a 1-D ``storage`` array (to write non-contiguous tensors).

    Tensors whose ``storage`` is the same array object share one storage in the file.
    """

    storage: np.ndarray
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


class _FakeGlobal:
    """A class standing for a torch global in the written pickle (torch itself is not imported)."""


def _fake_global(module: str, name: str) -> type:
    return type(name, (_FakeGlobal,), {"__module__": module, "__qualname__": name})


_REBUILD = _fake_global("torch._utils", "_rebuild_tensor_v2")
_STORAGE_CLASSES = {dtype: _fake_global("torch", name) for dtype, name in _DTYPE_STORAGES.items()}


class _TensorRef:
    def __init__(self, storage: _StorageRef, offset: int, size: tuple[int, ...], stride: tuple[int, ...]):
        self.args = (storage, offset, size, stride, False, OrderedDict())

    def __reduce__(self):
        return _REBUILD, self.args


class _StorageRef:
    def __init__(self, key: str, array: np.ndarray):
        self.key, self.array = key, array


class _LegacyPickler(pickle._Pickler):  # the pure-Python pickler lets save_global be overridden
    def persistent_id(self, obj):
        if isinstance(obj, _StorageRef):
            return ("storage", _STORAGE_CLASSES[obj.array.dtype], obj.key, "cpu", obj.array.size, None)
        return None

    def save_global(self, obj, name=None):
        if isinstance(obj, type) and issubclass(obj, _FakeGlobal):
            self.write(pickle.GLOBAL + f"{obj.__module__}\n{obj.__qualname__}\n".encode("ascii"))
            self.memoize(obj)
            return
        super().save_global(obj, name)


def save_legacy(state_dict: dict[str, np.ndarray | StridedTensor], path: str | Path) -> Path:
    """Write ``{name: array}`` as PyTorch's legacy format (what ``torch.save`` did before 1.6).

    Plain arrays become contiguous tensors with a storage each; :class:`StridedTensor` values
    become views with their own offset and strides, sharing storages where they share arrays.
    """
    storages: dict[int, tuple[np.ndarray, _StorageRef]] = {}  # id -> (the array, kept alive; its storage)

    def storage_of(array: np.ndarray) -> _StorageRef:
        if id(array) not in storages:
            flat = np.ascontiguousarray(array).reshape(-1)
            little = flat.astype(flat.dtype.newbyteorder("<"))
            if little.dtype not in _STORAGE_CLASSES:
                raise ValueError(f"No PyTorch storage type for dtype {array.dtype}.")
            storages[id(array)] = (array, _StorageRef(str(len(storages)), little))
        return storages[id(array)][1]

    obj = OrderedDict()
    for name, value in state_dict.items():
        if isinstance(value, StridedTensor):
            obj[name] = _TensorRef(storage_of(value.storage), value.offset, tuple(value.size), tuple(value.stride))
        else:
            value = np.asarray(value)
            strides = tuple(int(np.prod(value.shape[i + 1:])) for i in range(value.ndim))
            obj[name] = _TensorRef(storage_of(value), 0, value.shape, strides)
    path = Path(path)
    with open(path, "wb") as fh:
        for item in (MAGIC_NUMBER, PROTOCOL_VERSION,
                     {"protocol_version": PROTOCOL_VERSION, "little_endian": True,
                      "type_sizes": {"short": 2, "int": 4, "long": 4}}):
            pickle.dump(item, fh, protocol=2)
        _LegacyPickler(fh, protocol=2).dump(obj)
        refs = [ref for _, ref in storages.values()]
        pickle.dump([ref.key for ref in refs], fh, protocol=2)
        for ref in refs:
            fh.write(struct.pack("<q", ref.array.size))
            fh.write(ref.array.tobytes())
    return path
