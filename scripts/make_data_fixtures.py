#!/usr/bin/env python3
"""Writes the fixtures of Tests/RSCDataTests (the RSCData readers' tests).

Deterministic: fixed seeds, gzip mtime 0. Rerun after changing it and commit the output:
    python3 scripts/make_data_fixtures.py
Needs numpy. The fixtures are committed so the Swift tests need neither Python nor numpy.
manifest.json lists every fixture with what a reader must make of it.
"""
import gzip
import io
import json
import os
import shutil
import struct
import zlib

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "RSCDataTests", "Fixtures"))
manifest = {"gzip": [], "arrays": [], "rejects": []}


def put(rel, data):
    path = os.path.join(ROOT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def gz(data, level=6):
    return gzip.compress(data, compresslevel=level, mtime=0)


def zlib_gz(data, level=6, strategy=zlib.Z_DEFAULT_STRATEGY):
    # wbits 31: zlib writes the gzip wrapper itself (mtime 0, no name).
    c = zlib.compressobj(level, zlib.DEFLATED, 31, 9, strategy)
    return c.compress(data) + c.flush()


def payload(rng):
    """~40 KB that makes zlib use every kind of block and match: incompressible bytes, a skewed
    alphabet, repeated words, long runs, and a copy from ~30 KB back."""
    parts = [rng.integers(0, 256, 6000, dtype=np.uint8).tobytes()]
    parts.append(rng.choice(np.frombuffer(b"aaaaabbbcdefghij", np.uint8), 10000).tobytes())
    words = [b"spike", b"neuron", b"certify", b"radius", b"noise", b"smoothing", b"vote", b"class"]
    parts.append(b" ".join(words[i] for i in rng.integers(0, len(words), 1800)))
    parts.append(b"\x00" * 3000 + b"ab" * 1000 + b"xyz" * 700)
    head = b"".join(parts)
    return head + head[2000:6000] + head[100:400] * 3


def gzip_fixtures():
    rng = np.random.default_rng(1)
    data = payload(rng)
    put("gzip/payload.bin", data)
    cases = [(f"payload.l{lv}.gz", gz(data, lv), kind) for lv, kind in
             [(0, "stored"), (1, "any"), (6, "any"), (9, "dynamic")]]
    cases += [
        ("payload.fixed.gz", zlib_gz(data, 9, zlib.Z_FIXED), "fixed"),
        ("payload.huffman.gz", zlib_gz(data, 9, zlib.Z_HUFFMAN_ONLY), "dynamic"),
        ("payload.rle.gz", zlib_gz(data, 9, zlib.Z_RLE), "dynamic"),
        # Three members at different levels plus an empty one: concatenated payload.
        ("payload.multi.gz", gz(data[:10000], 1) + gz(b"", 6) + gz(data[10000:25000], 9) + gz(data[25000:], 0), "any"),
    ]
    for name, blob, kind in cases:
        put("gzip/" + name, blob)
        manifest["gzip"].append({"file": "gzip/" + name, "expect": "gzip/payload.bin", "blocks": kind})

    small = b"hello, hello, hello gzip world\n" * 3
    put("gzip/small.txt", small)
    # Every optional header field: FEXTRA, FNAME, FCOMMENT, FHCRC.
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = raw.compress(small) + raw.flush()
    header = b"\x1f\x8b\x08" + bytes([4 | 8 | 16 | 2]) + struct.pack("<I", 0) + b"\x00\x03"
    header += struct.pack("<H", 6) + b"AB\x02\x00hi" + b"small.txt\x00" + b"a comment\x00"
    header += struct.pack("<H", zlib.crc32(header) & 0xFFFF)
    trailer = struct.pack("<II", zlib.crc32(small), len(small))
    for name, blob, kind in [
        ("small.gz", gz(small, 6), "fixed"),
        ("small.headers.gz", header + body + trailer, "any"),
        ("small.padded.gz", gz(small) + b"\x00" * 16, "any"),
    ]:
        put("gzip/" + name, blob)
        manifest["gzip"].append({"file": "gzip/" + name, "expect": "gzip/small.txt", "blocks": kind})

    put("gzip/empty.bin", b"")
    put("gzip/empty.gz", gz(b""))
    manifest["gzip"].append({"file": "gzip/empty.gz", "expect": "gzip/empty.bin", "blocks": "any"})
    # 4 MiB of zeros in ~4 KB: for the output cap.
    put("gzip/zeros4m.gz", gz(b"\x00" * (4 << 20), 9))


def add_array(rel, arr, blob=None, dtype=None):
    """Registers a fixture holding `arr`; `blob` defaults to np.save's bytes."""
    if blob is None:
        f = io.BytesIO()
        np.save(f, arr)
        blob = f.getvalue()
    put(rel, blob)
    manifest["arrays"].append({
        "file": rel,
        "shape": list(arr.shape),
        "dtype": dtype or arr.dtype.str,
        "values": [v.item() for v in arr.astype(np.float64).ravel()],
        "ints": [int(v) for v in arr.ravel()] if arr.dtype.kind in "biu" else None,
    })


def extremes(dt, n, rng):
    info = np.iinfo(dt)
    lo, hi = int(info.min), min(int(info.max), 2**62)
    vals = [lo, hi, 0, 1] + [int(x) for x in rng.integers(max(lo, -(2**62)), hi, n - 4, endpoint=True)]
    return np.array(vals, dtype=dt)


def npy_fixtures():
    rng = np.random.default_rng(2)
    for dt in ["|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8", ">i4", ">u2"]:
        a = extremes(np.dtype(dt), 24, rng).reshape(2, 3, 4)
        add_array(f"npy/{dt[1:]}{'_be' if dt[0] == '>' else ''}.npy", a)
    for dt in ["<f2", "<f4", "<f8", ">f4", ">f8"]:
        a = (rng.standard_normal(24) * 100).astype(dt).reshape(2, 3, 4)
        add_array(f"npy/{dt[1:]}{'_be' if dt[0] == '>' else ''}.npy", a)
    add_array("npy/b1.npy", rng.integers(0, 2, (3, 2)).astype(bool))
    f4 = lambda *s: (np.arange(int(np.prod(s)), dtype=np.float32) * 0.5 - 3).reshape(s)
    add_array("npy/f4_scalar.npy", f4())
    add_array("npy/f4_1d.npy", f4(7))
    add_array("npy/f4_empty.npy", f4(0, 3))
    add_array("npy/f4_5d.npy", f4(1, 2, 1, 3, 2))
    a = f4(3, 5)
    for v in [(2, 0), (3, 0)]:
        f = io.BytesIO()
        np.lib.format.write_array(f, a, version=v)
        add_array(f"npy/f4_v{v[0]}.npy", a, f.getvalue())
    # A header numpy never writes but a reader must accept: '=' order, extra spaces, no trailing comma.
    hdr = b"{ 'shape':(2,2) , 'fortran_order' : False,'descr':'=f4'}"
    hdr += b" " * (64 - (10 + len(hdr) + 1) % 64) + b"\n"
    add_array("npy/f4_odd_header.npy", f4(2, 2), b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr + f4(2, 2).tobytes(), "<f4")
    # numpy's own bytes for the writer's byte-for-byte test.
    add_array("npy/f4_writer_ref.npy", (np.arange(24, dtype=np.float32) / 7).reshape(4, 6))
    add_array("npy/f4_writer_ref_1d.npy", np.arange(10, dtype=np.float32))
    add_array("npy/u1.npy.gz", np.arange(12, dtype=np.uint8).reshape(3, 4), gz(npy_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))))

    def reject(rel, blob, error, text):
        put(rel, blob)
        manifest["rejects"].append({"file": rel, "error": error, "text": text})

    reject("npy/fortran.npy", npy_bytes(np.asfortranarray(f4(3, 4))), "unsupported", "Fortran")
    reject("npy/structured.npy", npy_bytes(np.zeros(3, dtype=[("a", "<i4"), ("b", "<f4")])), "unsupported", "structured")
    reject("npy/complex.npy", npy_bytes(np.zeros(3, dtype="<c8")), "unsupported", "'<c8'")
    reject("npy/unicode.npy", npy_bytes(np.array(["ab", "c"])), "unsupported", "'<U2'")
    reject("npy/truncated.npy", npy_bytes(f4(4, 4))[:-5], "truncated", "needs 64 data bytes, found 59")
    reject("npy/trailing.npy", npy_bytes(f4(4)) + b"\x00", "corrupt", "1 bytes after")
    reject("npy/version9.npy", b"\x93NUMPY\x09\x00" + npy_bytes(f4(1))[8:], "unsupported", "version 9.0")
    reject("npy/bad_header.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'\n", "corrupt", "not a Python dict")
    hdr = b"{'descr':'<f4','fortran_order':False}\n"
    reject("npy/no_shape.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr, "corrupt", "no 'shape' key")
    reject("npy/header_cut.npy", npy_bytes(f4(4))[:40], "truncated", "npy header cut short")


def npy_bytes(arr):
    f = io.BytesIO()
    np.save(f, arr)
    return f.getvalue()


def idx_bytes(arr, code):
    be = arr.astype(arr.dtype.newbyteorder(">")) if arr.dtype.itemsize > 1 else arr
    return bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape) + be.tobytes()


def idx_fixtures():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (5, 4, 3), dtype=np.uint8)
    images[0, 0, :] = [0, 255, 128]
    labels = np.array([9, 0, 3, 3, 7], dtype=np.uint8)
    for name, arr in [("images", images), ("labels", labels)]:
        add_array(f"idx/{name}.idx", arr, idx_bytes(arr, 0x08))
        add_array(f"idx/{name}.idx.gz", arr, gz(idx_bytes(arr, 0x08)))
    for code, dt in [(0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32)]:
        a = extremes(np.dtype(dt), 6, rng).reshape(2, 3)
        add_array(f"idx/{np.dtype(dt).str[1:]}.idx", a, idx_bytes(a, code), np.dtype(dt).newbyteorder(">").str if dt != np.int8 else "|i1")
    for code, dt in [(0x0D, np.float32), (0x0E, np.float64)]:
        a = rng.standard_normal((3, 2)).astype(dt)
        add_array(f"idx/{np.dtype(dt).str[1:]}.idx", a, idx_bytes(a, code), np.dtype(dt).newbyteorder(">").str)
    add_array("idx/vector.idx", np.arange(4, dtype=np.uint8), idx_bytes(np.arange(4, dtype=np.uint8), 0x08))

    def reject(rel, blob, error, text):
        put(rel, blob)
        manifest["rejects"].append({"file": rel, "error": error, "text": text})

    good = idx_bytes(images, 0x08)
    reject("idx/truncated.idx", good[:-1], "truncated", "needs 60 data bytes, found 59")
    reject("idx/truncated.idx.gz", gz(good)[:-30], "truncated", "gzip")
    reject("idx/trailing.idx", good + b"\x00", "corrupt", "1 bytes after")
    reject("idx/dims_cut.idx", good[:9], "truncated", "idx header cut short")
    reject("idx/type_0a.idx", bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 5]), "unsupported", "idx element type 0xa")
    reject("idx/huge.idx", bytes([0, 0, 0x0E, 4]) + b"\xff\xff\xff\xff" * 4, "corrupt", "too large")
    bad_crc = bytearray(gz(good))
    bad_crc[-8] ^= 1
    reject("idx/bad_crc.idx.gz", bytes(bad_crc), "corrupt", "CRC-32 mismatch")
    reject("idx/garbage.bin", bytes(rng.integers(1, 256, 100, dtype=np.uint8)), "badMagic", "not .npy, idx or gzip")
    reject("idx/empty.bin", b"", "truncated", "empty file")


def dataset_fixtures():
    rng = np.random.default_rng(4)
    put("dataset/images_f4.npy", npy_bytes(rng.standard_normal((6, 2, 2)).astype(np.float32)))
    put("dataset/images_u1.npy.gz", gz(npy_bytes(rng.integers(0, 256, (6, 3), dtype=np.uint8))))
    put("dataset/labels_i8.npy", npy_bytes(np.array([0, 1, 2, 3, 4, 5], dtype=np.int64)))
    put("dataset/labels_i4_col.npy", npy_bytes(np.array([[5], [4], [3], [2], [1], [0]], dtype=np.int32)))
    put("dataset/labels_5.npy", npy_bytes(np.arange(5, dtype=np.int64)))
    put("dataset/labels_f4.npy", npy_bytes(np.arange(6, dtype=np.float32)))
    put("dataset/labels_negative.npy", npy_bytes(np.array([0, 1, -1, 3, 4, 5], dtype=np.int64)))
    put("dataset/labels_2d.npy", npy_bytes(np.zeros((6, 2), dtype=np.int64)))


if __name__ == "__main__":
    shutil.rmtree(ROOT, ignore_errors=True)
    gzip_fixtures()
    npy_fixtures()
    idx_fixtures()
    dataset_fixtures()
    with open(os.path.join(ROOT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(ROOT) for n in ns)
    print(f"wrote {ROOT}: {total} bytes")
