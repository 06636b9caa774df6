"""Arrays as rsc takes them: one rule for the values of an input, and data files read as rsc-cli
reads them, so that the same image gives the same answer through rsc-cli, the Python binding and
rsc.distributed.

The rule is rsc-cli's (Sources/RSCData/Dataset.swift), applied to every array an image goes in
as (`Model.predict`, `certify`, `forward`, the `*_batch` calls, `rsc.distributed`):

- uint8 is divided by 255 (in float32), the usual encoding of 8-bit pixels;
- float16, float32 and float64 are taken as they are (float64 rounded to float32);
- bool becomes 0 / 1, and the other integer types (int8..int64, uint16..uint64) are converted as
  they are, without scaling;
- anything else (complex, strings, objects, dates, records, float128) is a TypeError, as rsc-cli
  refuses such a file.
"""
from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import Union

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["input_floats", "read_array", "load_images", "load_labels", "load_array"]

# What rsc-cli's .npy reader accepts (npyDType in Sources/RSCData/NPY.swift): b1, u1-u8, i1-i8,
# f2, f4, f8.
_KINDS = {"b": (1,), "u": (1, 2, 4, 8), "i": (1, 2, 4, 8), "f": (2, 4, 8)}
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _supported(dtype: np.dtype) -> bool:
    return dtype.fields is None and dtype.itemsize in _KINDS.get(dtype.kind, ())


def input_floats(x: ArrayLike) -> np.ndarray:
    """x as float32 by rsc-cli's rule (see the module): uint8 / 255, other supported types as
    they are; the shape is kept. A dtype rsc-cli refuses is a TypeError naming it."""
    a = np.asarray(x)
    if not _supported(a.dtype):
        raise TypeError(f"inputs of dtype {a.dtype} are not supported: rsc takes bool, integer "
                        "(uint8 is scaled by 1/255) and float16/32/64 arrays, as rsc-cli does")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(255)
    return a.astype(np.float32, copy=False)


def read_array(path: Union[str, os.PathLike]) -> np.ndarray:
    """The array of an .npy or idx file, either of them gzipped, recognised by content as rsc-cli
    does (not by name); element types as stored. Errors are ValueErrors naming the file (a missing
    file: FileNotFoundError)."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, ValueError) as e:  # gzip.BadGzipFile is an OSError
            raise ValueError(f"{path}: corrupt gzip data ({e})") from None
    if not raw:
        raise ValueError(f"{path}: empty file")
    if raw.startswith(b"\x93NUMPY"):
        try:
            return np.load(io.BytesIO(raw), allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise ValueError(f"{path}: not a readable .npy file ({e})") from None
    if len(raw) >= 3 and raw[0] == 0 and raw[1] == 0 and 0x08 <= raw[2] <= 0x0E:
        return _idx(raw, path)
    head = " ".join(f"{b:02x}" for b in raw[:8])
    raise ValueError(f"{path}: not .npy, idx or gzip (starts with {head})")


def _idx(raw: bytes, path: Path) -> np.ndarray:
    """An idx array (MNIST format); like rsc-cli, refuses a file shorter or longer than its
    header says."""
    if raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: unsupported idx element type 0x{raw[2]:02x}")
    ndim = raw[3] if len(raw) > 3 else 0
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise ValueError(f"{path}: idx header cut short")
    shape = tuple(int.from_bytes(raw[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if len(raw) - offset != need:
        raise ValueError(f"{path}: idx shape {shape} needs {need} data bytes, the file has "
                         f"{len(raw) - offset}")
    a = np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)
    return a.astype(dtype.newbyteorder("="))


def load_images(path: Union[str, os.PathLike]) -> np.ndarray:
    """Images of a file as rsc-cli reads them: (N, ...) with at least 2 axes, float32 by
    `input_floats`'s rule."""
    a = read_array(path)
    if a.ndim < 2:
        raise ValueError(f"{path}: images need shape (N, ...) with at least 2 axes, got {a.shape}")
    try:
        return input_floats(a)
    except TypeError as e:
        raise ValueError(f"{path}: {e}") from None


def load_labels(path: Union[str, os.PathLike]) -> np.ndarray:
    """Class labels of a file as rsc-cli reads them: integer or bool, shape (N,) or (N, 1), none
    negative; int64 (N,)."""
    a = read_array(path)
    if not (a.ndim == 1 or (a.ndim == 2 and a.shape[1] == 1)):
        raise ValueError(f"{path}: labels need shape (N,) or (N, 1), got {a.shape}")
    if not _supported(a.dtype) or a.dtype.kind == "f":
        raise ValueError(f"{path}: labels must be integers, got dtype {a.dtype}")
    if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{path}: label {a.max()} does not fit in int64")
    a = a.reshape(-1).astype(np.int64)
    bad = np.flatnonzero(a < 0)
    if len(bad):
        raise ValueError(f"{path}: negative label {a[bad[0]]} at index {bad[0]}")
    return a


def load_array(path: Union[str, os.PathLike], scale_uint8: bool = True) -> np.ndarray:
    """`load_images` (scale_uint8) or the file's array as stored (read_array)."""
    return load_images(path) if scale_uint8 else read_array(path)
