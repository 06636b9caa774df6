"""The .rscm v1 writer and reader (docs/format.md) and the committed fixtures."""

from __future__ import annotations

import copy
import importlib.util
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from rsc import format as rf
from rsc import models as rm
from rsc import reference as ref

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "Tests" / "Fixtures"
FIXTURE_STEMS = ["tiny_linear", "conv_lif", "conv_if_soft", "poisson_mlp", "direct_mlp"]


def _load_make_fixtures():
    spec = importlib.util.spec_from_file_location("make_fixtures",
                                                  REPO / "scripts" / "make_fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def make_fixtures():
    return _load_make_fixtures()


@pytest.fixture(scope="module")
def regenerated(make_fixtures):
    return make_fixtures.build_fixtures()


def _random_models():
    yield rm.random_conv_snn(0)
    yield rm.random_conv_snn(5, input_shape=(3, 9, 7), channels=(4, 5), hidden=12, classes=3,
                             neuron="if", reset="soft", coding="gaussian-shared", sigma=0.5,
                             time_steps=2, conv2_stride=2)
    yield rm.random_conv_snn(6, coding="poisson", time_steps=6, tau=4.0, v_threshold=0.5,
                             v_reset=-0.5)
    yield rm.random_mlp(7, input_shape=(1, 5, 5), hidden=(10, 9, 8), classes=4,
                        coding="direct", time_steps=2)
    yield rm.linear_classifier(np.random.default_rng(8).normal(size=(3, 12)), None,
                               input_shape=(3, 2, 2), time_steps=5, sigma=0.125)


# --------------------------------------------------------------------------------------------
# Helpers to build corrupted files
# --------------------------------------------------------------------------------------------

LAYER0 = rf.HEADER_SIZE
LAYER_FIELDS = {  # name -> (offset in the record, struct format)
    "kind": (0, "<I"), "neuron": (4, "<I"), "reset": (8, "<I"),
    "in_channels": (12, "<I"), "in_height": (16, "<I"), "in_width": (20, "<I"),
    "out_channels": (24, "<I"), "out_height": (28, "<I"), "out_width": (32, "<I"),
    "kernel_h": (36, "<I"), "kernel_w": (40, "<I"), "stride_h": (44, "<I"),
    "stride_w": (48, "<I"), "pad_h": (52, "<I"), "pad_w": (56, "<I"),
    "tau": (60, "<f"), "v_threshold": (64, "<f"), "v_reset": (68, "<f"),
    "weight_offset": (72, "<Q"), "weight_size": (80, "<Q"), "scale_offset": (88, "<Q"),
    "bias_offset": (96, "<Q"),
}
HEADER_FIELDS = {
    "version": (8, "<I"), "checksum": (12, "<I"), "file_size": (16, "<Q"),
    "header_size": (24, "<I"), "layer_size": (28, "<I"), "num_layers": (32, "<I"),
    "coding": (36, "<I"), "input_channels": (40, "<I"), "input_height": (44, "<I"),
    "input_width": (48, "<I"), "num_classes": (52, "<I"), "time_steps": (56, "<I"),
    "sigma": (60, "<f"), "strings_offset": (64, "<Q"), "strings_size": (72, "<Q"),
}


def fix_crc(data: bytearray) -> bytearray:
    struct.pack_into("<I", data, 12, 0)
    struct.pack_into("<I", data, 12, zlib.crc32(data) & 0xFFFFFFFF)
    return data


def patch_header(data: bytes, field: str, value, crc: bool = True) -> bytes:
    off, fmt = HEADER_FIELDS[field]
    b = bytearray(data)
    struct.pack_into(fmt, b, off, value)
    return bytes(fix_crc(b) if crc else b)


def get_layer(data: bytes, i: int, field: str):
    off, fmt = LAYER_FIELDS[field]
    return struct.unpack_from(fmt, data, LAYER0 + rf.LAYER_SIZE * i + off)[0]


def patch_layer(data: bytes, i: int, field: str, value) -> bytes:
    off, fmt = LAYER_FIELDS[field]
    b = bytearray(data)
    struct.pack_into(fmt, b, LAYER0 + rf.LAYER_SIZE * i + off, value)
    return bytes(fix_crc(b))


def patch_bytes(data: bytes, offset: int, raw: bytes, crc: bool = True) -> bytes:
    b = bytearray(data)
    b[offset:offset + len(raw)] = raw
    return bytes(fix_crc(b) if crc else b)


@pytest.fixture(scope="module")
def conv_bytes() -> bytes:
    return (FIXTURES / "conv_lif.rscm").read_bytes()


# --------------------------------------------------------------------------------------------
# Round trips and the fixtures
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stem", FIXTURE_STEMS)
def test_fixture_round_trip(stem):
    data = (FIXTURES / f"{stem}.rscm").read_bytes()
    model = rf.read_model(FIXTURES / f"{stem}.rscm")
    assert rf.to_bytes(model) == data  # the writer is canonical
    assert rf.from_bytes(rf.to_bytes(model)) == model


@pytest.mark.parametrize("stem", FIXTURE_STEMS)
def test_fixture_files_reproduced_byte_for_byte(stem, regenerated):
    assert regenerated[f"{stem}.rscm"] == (FIXTURES / f"{stem}.rscm").read_bytes(), \
        "run python3 scripts/make_fixtures.py"
    new = json.loads(regenerated[f"{stem}.json"])
    old = json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))
    # Logits are float64 sums whose last bits could depend on the BLAS; all else is exact.
    np.testing.assert_allclose(new.pop("logits"), old.pop("logits"), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.array(new.pop("threshold_margins"), dtype=float),
                               np.array(old.pop("threshold_margins"), dtype=float),
                               rtol=1e-9, atol=1e-12)
    assert new == old


def test_fixture_generation_is_deterministic(make_fixtures, regenerated):
    assert make_fixtures.build_fixtures() == regenerated


@pytest.mark.parametrize("stem", FIXTURE_STEMS)
def test_fixture_sidecar_matches_model(stem):
    model = rf.read_model(FIXTURES / f"{stem}.rscm")
    side = json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))
    data = (FIXTURES / f"{stem}.rscm").read_bytes()
    assert side["file_size"] == len(data)
    assert side["checksum"] == struct.unpack_from("<I", data, 12)[0]
    assert side["name"] == model.name == stem
    assert side["coding"] == model.coding
    assert side["sigma"] == model.sigma
    assert side["time_steps"] == model.time_steps
    assert side["num_classes"] == model.num_classes
    assert tuple(side["input_shape"]) == model.input_shape
    assert side["class_names"] == model.class_names
    assert side["layer_kinds"] == [l.kind for l in model.layers]
    for lj, l in zip(side["layers"], model.layers):
        assert (lj["kind"], lj["neuron"], lj["reset"]) == (l.kind, l.neuron, l.reset)
        assert tuple(lj["in_shape"]) == l.in_shape and tuple(lj["out_shape"]) == l.out_shape
    u = np.array(side["u"], dtype=np.float32)
    assert u.shape == (model.time_steps, model.input_size)
    logits = ref.forward(model, u.astype(np.float64))
    np.testing.assert_allclose(logits, side["logits"], rtol=1e-12, atol=1e-12)
    assert side["prediction"] == ref.predict(model, u)


def test_fixture_contents():
    """The fixtures cover what the brief promises."""
    m = {s: rf.read_model(FIXTURES / f"{s}.rscm") for s in FIXTURE_STEMS}
    t = m["tiny_linear"]
    assert [l.kind for l in t.layers] == ["linear"] and t.num_classes == 2
    assert (t.coding, t.time_steps) == ("gaussian", 1)
    c = m["conv_lif"]
    assert (c.coding, c.time_steps) == ("gaussian", 4)
    assert {l.neuron for l in c.layers if l.weighted} == {"lif", None}
    s = m["conv_if_soft"]
    assert (s.coding, s.time_steps) == ("gaussian-shared", 3)
    assert "sumpool2d" in [l.kind for l in s.layers]
    assert {(l.neuron, l.reset) for l in s.layers if l.neuron} == {("if", "soft")}
    p = m["poisson_mlp"]
    assert (p.coding, p.time_steps, p.input_shape, p.sigma) == ("poisson", 8, (1, 8, 8), 0.0)
    assert [l.kind for l in p.layers] == ["flatten", "linear", "linear"]
    d = m["direct_mlp"]
    assert (d.coding, d.sigma) == ("direct", 0.0)


def test_random_models_round_trip():
    for model in _random_models():
        data = rf.to_bytes(model)
        back = rf.from_bytes(data)
        assert back == model
        assert rf.to_bytes(back) == data


def test_write_and_read_file(tmp_path):
    model = rm.random_mlp(1, hidden=(8,), classes=3)
    path = tmp_path / "m.rscm"
    rf.write_model(model, path)
    assert path.read_bytes() == rf.to_bytes(model)
    assert rf.read_model(path) == model
    assert rf.read_model(str(path)) == model


def test_layout(conv_bytes):
    data = conv_bytes
    model = rf.from_bytes(data)
    (magic, version, crc, file_size, hs, ls, n, coding, c, h, w, k, t, sigma, so, ss,
     arithmetic, shift, limit, reserved) = struct.unpack_from("<8sIIQIIIIIIIIIfQQIII36s", data, 0)
    assert magic == b"\x89RSCM\r\n\x1a" and version == 1
    assert file_size == len(data) and (hs, ls) == (128, 128)
    assert n == len(model.layers) and coding == 1 and (c, h, w) == model.input_shape
    assert (k, t, sigma) == (model.num_classes, model.time_steps, model.sigma)
    assert so == 128 + 128 * n and (arithmetic, shift, limit, reserved) == (0, 0, 0, bytes(36))
    zeroed = bytearray(data)
    zeroed[12:16] = bytes(4)
    assert crc == zlib.crc32(zeroed)
    # String table: name then class names, exactly strings_size bytes.
    pos, strings = so, []
    for _ in range(1 + k):
        (ln,) = struct.unpack_from("<I", data, pos)
        strings.append(data[pos + 4:pos + 4 + ln].decode())
        pos += 4 + ln
    assert pos == so + ss and strings == [model.name] + model.class_names
    # Tensors: 64-aligned, in layer order (weight, scale, bias), zero padding between, and
    # the file ends with the last tensor.
    cursor = so + ss
    for i, layer in enumerate(model.layers):
        offs = [get_layer(data, i, f) for f in ("weight_offset", "scale_offset", "bias_offset")]
        wsize = get_layer(data, i, "weight_size")
        assert data[LAYER0 + 128 * i + 104:LAYER0 + 128 * (i + 1)] == bytes(24)
        if not layer.weighted:
            assert offs == [0, 0, 0] and wsize == 0
            continue
        assert wsize == layer.weight.size
        for off, size in zip(offs, (wsize, 4 * layer.out_shape[0], 4 * layer.out_shape[0])):
            assert off % 64 == 0 and off >= cursor and off - cursor < 64
            assert data[cursor:off] == bytes(off - cursor)
            cursor = off + size
        assert data[offs[0]:offs[0] + wsize] == layer.weight.tobytes()
        assert data[offs[1]:offs[1] + 4 * layer.out_shape[0]] == layer.scale.astype("<f4").tobytes()
    assert cursor == len(data)


def test_unused_fields_are_zero_or_one():
    model = rm.random_conv_snn(3, neuron="if")
    data = rf.to_bytes(model)
    for i, layer in enumerate(model.layers):
        if layer.kind in ("linear", "flatten"):
            assert [get_layer(data, i, f) for f in ("kernel_h", "kernel_w", "stride_h",
                                                   "stride_w", "pad_h", "pad_w")] == [1, 1, 1, 1, 0, 0]
        if layer.neuron != "lif":
            assert get_layer(data, i, "tau") == 0.0
        if layer.neuron is None:
            assert [get_layer(data, i, f) for f in ("neuron", "reset", "v_threshold",
                                                   "v_reset")] == [0, 0, 0.0, 0.0]


def test_class_names_default_and_utf8():
    model = rm.random_mlp(2, hidden=(4,), classes=3)
    assert model.class_names == ["0", "1", "2"]
    model.class_names = ["ä", "", "日本"]
    model.name = "naïve"
    back = rf.from_bytes(rf.to_bytes(model))
    assert back.class_names == ["ä", "", "日本"] and back.name == "naïve"


# --------------------------------------------------------------------------------------------
# Quantization
# --------------------------------------------------------------------------------------------

def test_quantize_per_channel():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(5, 3, 3, 3))
    w[2] = 0.0
    w[3] *= 1e3
    q, s = rf.quantize_per_channel(w)
    assert q.dtype == np.int8 and s.dtype == np.float32 and s.shape == (5,)
    assert s[2] == 1.0 and not q[2].any()
    for o in (0, 1, 3, 4):
        assert np.abs(q[o]).max() == 127
        assert s[o] == np.float32(np.abs(w[o]).max() / 127)
        assert np.abs(q[o] * np.float64(s[o]) - w[o]).max() <= 0.5 * s[o] * (1 + 1e-6)
    assert q.min() >= -127


# --------------------------------------------------------------------------------------------
# The reader rejects corrupt files, naming the problem
# --------------------------------------------------------------------------------------------

def reject(data: bytes, match: str):
    with pytest.raises(rf.FormatError, match=match):
        rf.from_bytes(data)


def test_reject_bad_magic(conv_bytes):
    reject(patch_bytes(conv_bytes, 0, b"\x89RSCN"), "magic")
    reject(b"PK\x03\x04" + conv_bytes[4:], "magic")


def test_reject_version(conv_bytes):
    reject(patch_header(conv_bytes, "version", 3), "version")
    reject(patch_header(conv_bytes, "version", 0), "version")


def test_reject_truncated(conv_bytes):
    reject(conv_bytes[:-1], "truncated")
    reject(conv_bytes[:500], "truncated")
    reject(conv_bytes[:100], "truncated")
    reject(b"", "truncated")


def test_reject_trailing_bytes(conv_bytes):
    reject(conv_bytes + b"\0", "file_size")


def test_reject_checksum_mismatch(conv_bytes):
    # Anything after magic, version and file_size (which are checked first).
    for offset in (24, 40, 60, 100, 300, 1000, len(conv_bytes) - 1):
        b = bytearray(conv_bytes)
        b[offset] ^= 0x01
        reject(bytes(b), "checksum")
    reject(patch_header(conv_bytes, "checksum", 0, crc=False), "checksum")


def test_reject_offset_past_end(conv_bytes):
    n = len(conv_bytes)
    last = [i for i in range(7) if get_layer(conv_bytes, i, "weight_size")][-1]
    end = (n + 63) // 64 * 64
    reject(patch_layer(conv_bytes, last, "bias_offset", end), "bias_offset.*past the end")
    reject(patch_layer(conv_bytes, last, "scale_offset", end + 64), "scale_offset.*past the end")
    # Starts inside the file but the tensor runs past its end.
    w0 = get_layer(conv_bytes, 0, "weight_size")
    reject(patch_layer(conv_bytes, 0, "weight_offset", (n - w0 + 64) // 64 * 64),
           "weight_offset.*past the end")
    reject(patch_layer(conv_bytes, 0, "weight_offset", 1 << 62), "weight_offset.*past the end")


def test_reject_unaligned_offset(conv_bytes):
    for field in ("weight_offset", "scale_offset", "bias_offset"):
        off = get_layer(conv_bytes, 0, field)
        reject(patch_layer(conv_bytes, 0, field, off + 4), f"{field}.*multiple of 64")


def test_reject_offset_inside_header_or_strings(conv_bytes):
    reject(patch_layer(conv_bytes, 0, "weight_offset", 128), "weight_offset.*string table")
    reject(patch_layer(conv_bytes, 0, "scale_offset", 0), "scale_offset.*string table")


def test_reject_inconsistent_shapes(conv_bytes):
    # conv_lif: conv(1->6,12x12) avgpool conv(6->8) sumpool flatten linear linear
    reject(patch_layer(conv_bytes, 0, "out_height", 11), "layer 0 .*out_height")
    reject(patch_layer(conv_bytes, 0, "in_channels", 2), "weight_size")
    reject(patch_layer(conv_bytes, 1, "in_width", 13), "layer 1 .*in_shape")
    reject(patch_layer(conv_bytes, 1, "out_channels", 5), "layer 1 .*out_channels")
    reject(patch_layer(conv_bytes, 4, "out_channels", 71), "layer 4 .*out_shape")
    reject(patch_layer(conv_bytes, 0, "weight_size", 53), "weight_size")
    reject(patch_layer(conv_bytes, 0, "pad_h", 3), "pad_h")
    reject(patch_layer(conv_bytes, 0, "stride_w", 0), "stride_w")
    reject(patch_header(conv_bytes, "input_height", 13), "in_shape")
    reject(patch_header(conv_bytes, "num_classes", 9), "num_classes|string table")


def test_reject_shape_inconsistent_model_written_consistently():
    """A model that is self-consistent per record but whose last layer's output is not K."""
    model = rm.random_mlp(1, hidden=(4,), classes=3)
    model.num_classes = 4
    model.class_names = list("abcd")
    with pytest.raises(ValueError, match="num_classes"):
        rf.to_bytes(model)


def test_reject_nonzero_reserved(conv_bytes):
    reject(patch_bytes(conv_bytes, 92, b"\x01"), "reserved")
    reject(patch_bytes(conv_bytes, 127, b"\x01"), "reserved")
    reject(patch_bytes(conv_bytes, LAYER0 + 128 * 2 + 104, b"\x01"), "layer 2 .*reserved")
    reject(patch_bytes(conv_bytes, LAYER0 + 128 * 2 + 127, b"\xff"), "layer 2 .*reserved")


def test_reject_unused_fields_nonzero(conv_bytes):
    reject(patch_layer(conv_bytes, 1, "tau", 2.0), "layer 1 .*tau")  # avgpool
    reject(patch_layer(conv_bytes, 1, "weight_offset", 64 * 1000), "layer 1 .*weight_offset")
    reject(patch_layer(conv_bytes, 4, "kernel_h", 2), "layer 4 .*kernel_h")  # flatten
    reject(patch_layer(conv_bytes, 6, "v_threshold", 1.0), "layer 6 .*v_threshold")  # logits
    reject(patch_layer(conv_bytes, 6, "reset", 1), "layer 6 .*reset")
    soft = rf.to_bytes(rm.random_conv_snn(2, neuron="if", reset="soft"))
    reject(patch_layer(soft, 0, "tau", 2.0), "layer 0 .*tau")  # IF stores tau 0


def test_reject_bad_enums_and_neurons(conv_bytes):
    reject(patch_layer(conv_bytes, 0, "kind", 9), "layer 0.*kind")
    reject(patch_layer(conv_bytes, 0, "neuron", 3), "neuron")
    reject(patch_layer(conv_bytes, 0, "reset", 2), "reset")
    reject(patch_layer(conv_bytes, 0, "neuron", 0), "needs a neuron")
    reject(patch_layer(conv_bytes, 6, "neuron", 2), "last weighted layer must have no neuron")
    reject(patch_layer(conv_bytes, 1, "neuron", 1), "no neuron")
    reject(patch_layer(conv_bytes, 0, "tau", 0.5), "tau")
    reject(patch_layer(conv_bytes, 0, "tau", float("inf")), "tau")
    reject(patch_layer(conv_bytes, 0, "v_threshold", float("nan")), "v_threshold")
    reject(patch_header(conv_bytes, "coding", 4), "coding")


def test_reject_sigma(conv_bytes):
    for bad in (0.0, -0.25, float("nan"), float("inf")):
        reject(patch_header(conv_bytes, "sigma", bad), "sigma")
    direct = (FIXTURES / "direct_mlp.rscm").read_bytes()
    reject(patch_header(direct, "sigma", 0.5), "sigma")
    poisson = (FIXTURES / "poisson_mlp.rscm").read_bytes()
    reject(patch_header(poisson, "sigma", 0.5), "sigma")


def test_reject_header_fields(conv_bytes):
    reject(patch_header(conv_bytes, "header_size", 64), "header_size")
    reject(patch_header(conv_bytes, "layer_size", 256), "layer_size")
    reject(patch_header(conv_bytes, "num_layers", 0), "num_layers")
    reject(patch_header(conv_bytes, "num_layers", 257), "num_layers")
    reject(patch_header(conv_bytes, "num_layers", 6), "strings_offset")
    reject(patch_header(conv_bytes, "strings_offset", 128 + 128 * 7 + 64), "strings_offset")
    reject(patch_header(conv_bytes, "time_steps", 0), "time_steps")
    reject(patch_header(conv_bytes, "time_steps", 4097), "time_steps")
    reject(patch_header(conv_bytes, "num_classes", 1), "num_classes")
    reject(patch_header(conv_bytes, "input_channels", 0), "input_channels")
    reject(patch_header(conv_bytes, "input_width", 70000), "input_width")


def test_reject_string_table():
    data = (FIXTURES / "tiny_linear.rscm").read_bytes()
    so = 128 + 128
    (ss,) = struct.unpack_from("<Q", data, 72)
    reject(patch_header(data, "strings_size", ss - 1), "string table")
    reject(patch_header(data, "strings_size", ss + 1), "string table")
    reject(patch_header(data, "strings_size", 1 << 40), "string table")
    reject(patch_bytes(data, so, struct.pack("<I", 5000)), "more than 4096")
    reject(patch_bytes(data, so + 4, b"\x00"), "NUL")
    reject(patch_bytes(data, so + 4, b"\xff"), "UTF-8")


# --------------------------------------------------------------------------------------------
# The writer validates with the same rules
# --------------------------------------------------------------------------------------------

def test_writer_rejects_invalid_models():
    base = rm.random_conv_snn(4, neuron="if")
    rf.to_bytes(base)

    def bad(mutate, match):
        model = copy.deepcopy(base)
        mutate(model)
        with pytest.raises(ValueError, match=match):
            rf.to_bytes(model)

    def set_(obj, **kw):
        for k, v in kw.items():
            setattr(obj, k, v)

    bad(lambda m: set_(m, sigma=0.0), "sigma")
    bad(lambda m: set_(m, coding="direct"), "sigma")
    bad(lambda m: set_(m, coding="uniform"), "coding")
    bad(lambda m: set_(m, time_steps=0), "time_steps")
    bad(lambda m: set_(m, class_names=["a"] * 9), "class_names")
    bad(lambda m: set_(m, name="a\0b"), "NUL")
    bad(lambda m: set_(m, name="x" * 5000), "4096")
    bad(lambda m: set_(m.layers[0], tau=2.0), "layer 0 .*tau")
    bad(lambda m: set_(m.layers[0], neuron=None), "layer 0 .*neuron")
    bad(lambda m: set_(m.layers[6], neuron="lif", tau=2.0), "layer 6 .*no neuron")
    bad(lambda m: set_(m.layers[0], scale=np.zeros(6, np.float32)), "layer 0 .*scale")
    bad(lambda m: set_(m.layers[0], bias=np.full(6, np.nan, np.float32)), "layer 0 .*bias")
    bad(lambda m: set_(m.layers[0], weight=m.layers[0].weight[:, :, :2]), "layer 0 .*weight")
    bad(lambda m: set_(m.layers[0], padding=(3, 1)), "layer 0 .*pad_h")
    bad(lambda m: set_(m.layers[1], kind="maxpool2d"), "layer 1.*kind")
    bad(lambda m: m.layers.pop(4), r"layer 4 \(linear\): in_shape")
    bad(lambda m: m.layers.append(rf.avgpool2d(m.layers[-1].out_shape, 1)), "only flatten")


def test_writer_applies_the_readers_limits_and_plan_rules():
    """Files the runtime's loader refuses are not written: sigma and total-size limits, a pool of
    a flattened vector; types that would be silently truncated or fail late are errors too."""
    rng = np.random.default_rng(0)
    flat = [("flatten",), ("linear", rng.normal(size=(3, 16)))]
    with pytest.raises(rf.FormatError, match="sigma is 100000.0, more than 10000"):
        rf.build_model((1, 4, 4), flat, time_steps=1, coding="gaussian", sigma=1e5)
    assert rf.build_model((1, 4, 4), flat, time_steps=1, coding="gaussian", sigma=1e4)
    with pytest.raises(rf.FormatError, match=r"layer 1 \(avgpool2d\): pooling a flattened"):
        rf.build_model((1, 4, 4), [("flatten",), ("avgpool2d", 1),
                                   ("linear", rng.normal(size=(3, 16)))],
                       time_steps=1, coding="gaussian", sigma=0.5)
    # A flatten of a vector keeps the memory layout: pooling after it is fine.
    assert rf.build_model((16, 1, 1), [("flatten",), ("avgpool2d", 1),
                                       ("linear", rng.normal(size=(3, 16)))],
                          time_steps=1, coding="gaussian", sigma=0.5)
    with pytest.raises(rf.FormatError, match=r"layers 0...4 produce 83886080 elements"):
        rf.build_model((1, 4096, 4096), [("avgpool2d", 1, 1)] * 5 + [
            ("avgpool2d", 64), ("flatten",), ("linear", np.ones((2, 4096)))],
            time_steps=1, coding="gaussian", sigma=0.5)
    with pytest.raises(rf.FormatError, match="time_steps must be an integer, got 2.7"):
        rf.build_model((1, 4, 4), flat, time_steps=2.7, coding="gaussian", sigma=0.5)
    with pytest.raises(rf.FormatError, match="name is not valid UTF-8"):
        rf.build_model((1, 4, 4), flat, time_steps=1, coding="gaussian", sigma=0.5,
                       name="\ud800")
    with pytest.raises(rf.FormatError, match="a 8x8 window"):
        rf.avgpool2d((1, 4, 4), 8)


def test_writer_accepts_flatten_after_logits():
    model = rm.random_conv_snn(4)
    model.layers.append(rf.flatten(model.layers[-1].out_shape))
    assert rf.from_bytes(rf.to_bytes(model)) == model


def test_conv_logits_layer_must_be_a_vector():
    """The logits layer's output is (K, 1, 1): a conv head must reduce to 1x1."""
    rng = np.random.default_rng(0)
    with pytest.raises(rf.FormatError, match=r"must be \(K, 1, 1\)"):
        rf.build_model((2, 3, 3), [("conv2d", rng.normal(size=(2, 2, 2, 2)), None,
                                    {"stride": 2, "padding": 1})],
                       time_steps=2, coding="gaussian", sigma=0.5)
    model = rf.build_model((2, 3, 3), [("conv2d", rng.normal(size=(4, 2, 3, 3)), None)],
                           time_steps=2, coding="gaussian", sigma=0.5)
    assert model.num_classes == 4
    assert rf.from_bytes(rf.to_bytes(model)) == model


def test_build_model_infers_shapes():
    rng = np.random.default_rng(0)
    model = rf.build_model(
        (3, 10, 10),
        [("conv2d", rng.normal(size=(4, 3, 3, 3)), None, {"stride": 2, "padding": 1,
                                                          "neuron": "lif"}),
         ("avgpool2d", 2, {"padding": 1}),
         ("sumpool2d", (2, 1), {"stride": 1}),
         ("flatten",),
         ("linear", rng.normal(size=(5, 4 * 2 * 3)), None),
         ], time_steps=3, coding="poisson", sigma=0.0)
    assert [l.out_shape for l in model.layers] == [(4, 5, 5), (4, 3, 3), (4, 2, 3), (24, 1, 1),
                                                  (5, 1, 1)]
    assert model.num_classes == 5
    with pytest.raises(ValueError, match="flatten"):
        rf.linear((4, 2, 3), rng.normal(size=(5, 24)))
