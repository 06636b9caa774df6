#!/usr/bin/env python3
"""Write the fuzzers' seed corpus into fuzz/corpus/ (deterministic: the same bytes on every run).

    python3 fuzz/make_corpus.py            # (re)write fuzz/corpus/{load,certify}/
    python3 fuzz/make_corpus.py --check    # exit 1 if the committed corpus differs

load/     valid models (the fixtures of Tests/Fixtures, v1 chains and v2 graphs, plus small models
          written with bindings/python/rsc/format.py that use every layer kind, neuron, reset and
          coding) and
          near-valid ones: a valid file with one field set to a boundary or absurd value, the
          checksum recomputed so that the intended check (not the checksum) is what fires;
          truncations, bad magic, version and checksum; and files breaking a whole-model rule
          (rule-*: no weighted layer, a neuron on the logits, K mismatch, pooled counts or maps
          or weights beyond the limits; v2: currents read twice, cycles, unused nodes, adds of
          mismatched shapes or counts, residual sums beyond fixed point...), written without the
          writer's validation; near-graph-*: one field of a v2 node record at a time; limit-*:
          valid models just below the work and scratch limits; *-integer-*: arithmetic 1 models,
          their header fields at bad values, input pools beyond int16.
certify/  inputs for fuzz/fuzz_certify.c (layout in its header comment): each fixture model with
          each call, valid arguments, and a few with NaN, infinity and huge input values.
"""
from __future__ import annotations

import argparse
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "Fixtures"
OUT = ROOT / "fuzz" / "corpus"
sys.path.insert(0, str(ROOT / "bindings" / "python"))

from rsc import format as rf  # noqa: E402
from rsc import graph as rg  # noqa: E402


def fix_crc(data: bytes | bytearray) -> bytes:
    b = bytearray(data)
    b[12:16] = b"\0\0\0\0"
    struct.pack_into("<I", b, 12, zlib.crc32(bytes(b)) & 0xFFFFFFFF)
    return bytes(b)


def patched(data: bytes, offset: int, fmt: str, value) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return fix_crc(b)


def small_models() -> dict[str, bytes]:
    rng = np.random.default_rng(7)

    def w(*shape):
        return rng.standard_normal(shape)

    every_layer = rf.build_model((3, 9, 9), [
        ("conv2d", w(4, 3, 3, 3), w(4), {"padding": 1, "stride": 2, "neuron": "lif", "reset": "soft",
                                          "tau": 3.0, "v_threshold": 0.5, "v_reset": -0.25}),
        ("avgpool2d", 2, {"padding": 1}),
        ("conv2d", w(5, 4, 2, 2), w(5), {"neuron": "if", "v_threshold": 0.75}),
        ("sumpool2d", 2, {"stride": 1}),
        ("flatten",),
        ("linear", w(6, 5), w(6), {"neuron": "lif"}),
        ("linear", w(4, 6), w(4)),
        ("flatten",),
    ], time_steps=2, coding="gaussian-shared", sigma=0.5, name="every layer",
        class_names=["a", "", "ü", "名前"])
    analog_pools = rf.build_model((2, 8, 8), [
        ("avgpool2d", 2),
        ("sumpool2d", 2, {"stride": 1, "padding": 1}),
        ("conv2d", w(3, 2, 1, 1), None, {"neuron": "lif"}),
        ("flatten",),
        ("linear", w(3, 3 * 5 * 5), w(3)),
    ], time_steps=2, coding="gaussian", sigma=0.25, name="analog pools")
    direct = rf.build_model((5, 1, 1), [("linear", w(2, 5), None)], time_steps=1, coding="direct",
                            sigma=0.0, name="")
    poisson_conv = rf.build_model((1, 6, 6), [
        ("conv2d", w(2, 1, 3, 3), None, {"neuron": "if", "reset": "soft"}),
        ("sumpool2d", 2),
        ("flatten",),
        ("linear", w(3, 8), w(3)),
    ], time_steps=3, coding="poisson", sigma=0.0, name="poisson conv")
    return {name: rf.to_bytes(m) for name, m in
            [("every_layer", every_layer), ("analog_pools", analog_pools), ("direct_linear", direct),
             ("poisson_conv", poisson_conv)]}


# Header fields (offset, name) and values that probe their limits (docs/format.md, "Limits").
U32 = [0, 1, 2, 255, 256, 257, 4096, 4097, 65535, 65536, 65537, 1 << 24, 0x7FFFFFFF, 0xFFFFFFFF]
HEADER = {8: "version", 24: "header_size", 28: "layer_size", 32: "num_layers", 36: "coding",
          40: "channels", 44: "height", 48: "width", 52: "classes", 56: "time_steps"}
LAYER = {0: "kind", 4: "neuron", 8: "reset", 12: "in_c", 16: "in_h", 20: "in_w", 24: "out_c", 28: "out_h",
         32: "out_w", 36: "kh", 40: "kw", 44: "sh", 48: "sw", 52: "ph", 56: "pw"}
LAYER_U64 = {72: "weight_offset", 80: "weight_size", 88: "scale_offset", 96: "bias_offset"}
U64 = [0, 64, 1 << 32, (1 << 63), (1 << 64) - 64]
F32 = {"nan": float("nan"), "inf": float("inf"), "neg": -1.0, "zero": 0.0, "huge": 3e38, "tiny": 1e-45}


def near_valid(valid: dict[str, bytes]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    tiny, conv, every = valid["tiny_linear"], valid["conv_lif"], valid["every_layer"]
    for off, name in HEADER.items():
        for v in U32:
            out[f"tiny-{name}-{v}"] = patched(tiny, off, "<I", v)
    for tag, v in F32.items():
        out[f"tiny-sigma-{tag}"] = patched(tiny, 60, "<f", v)
    out["tiny-strings_size-huge"] = patched(tiny, 72, "<Q", (1 << 64) - 1)
    out["tiny-strings_offset-0"] = patched(tiny, 64, "<Q", 0)
    out["tiny-name-len-huge"] = patched(tiny, 128 + 128, "<I", 0xFFFFFFF0)
    out["tiny-reserved"] = patched(tiny, 127, "<B", 1)
    # every_layer (small): layers 0 (conv, analog input), 1 (avgpool) and 2 (conv, spike input).
    for layer in (0, 1, 2):
        base = 128 + 128 * layer
        for off, name in LAYER.items():
            for v in (0, 2, 65, 0xFFFFFFFF):
                out[f"every-l{layer}-{name}-{v}"] = patched(every, base + off, "<I", v)
        if layer == 1:
            continue
        for off, name in LAYER_U64.items():
            for v in U64:
                out[f"every-l{layer}-{name}-{v}"] = patched(every, base + off, "<Q", v)
        for off, name in {60: "tau", 64: "v_threshold", 68: "v_reset"}.items():
            for tag, v in F32.items():
                out[f"every-l{layer}-{name}-{tag}"] = patched(every, base + off, "<f", v)
    # A scale and a bias of layer 0 made invalid.
    scale_off = struct.unpack_from("<Q", conv, 128 + 88)[0]
    bias_off = struct.unpack_from("<Q", conv, 128 + 96)[0]
    out["conv-scale-zero"] = patched(conv, scale_off, "<f", 0.0)
    out["conv-bias-nan"] = patched(conv, bias_off, "<f", float("nan"))
    # Whole-file damage.
    out["conv-truncated-half"] = conv[: len(conv) // 2]
    out["conv-truncated-header"] = conv[:100]
    out["conv-magic-only"] = conv[:8]
    out["conv-trailing"] = fix_crc(conv + b"\0" * 64)
    out["conv-bad-magic"] = b"GIF89a" + conv[6:]
    out["conv-bad-crc"] = conv[:12] + bytes([conv[12] ^ 1]) + conv[13:]
    out["conv-file_size-short"] = patched(conv, 16, "<Q", len(conv) - 1)
    out["empty"] = b""
    return out


# Version 2 node records (docs/format.md, "Version 2").
NODE = {0: "kind", 4: "num_inputs", 8: "input0", 12: "input1", 16: "out_c", 20: "out_h", 24: "out_w",
        28: "kh", 32: "kw", 36: "sh", 40: "sw", 44: "ph", 48: "pw", 52: "reset", 56: "decay_input"}


def near_valid_graph(graph: bytes) -> dict[str, bytes]:
    """One field of a v2 graph's nodes at a time: a conv (analog input), its neuron, a max pool,
    a conv reading spikes, an add or connect function, and the logits node."""
    from rsc import graph as rg

    nodes = rf.from_bytes(graph).nodes
    picks = {0: "conv", 1: "lif", 2: "pool"}
    picks[next(i for i, n in enumerate(nodes) if n.kind in ("add", "and", "iand"))] = "join"
    picks[next(i for i, n in enumerate(nodes) if i > 2 and n.kind == "conv2d")] = "conv-spikes"
    picks[len(nodes) - 1] = "logits"
    out: dict[str, bytes] = {}
    for i, tag in picks.items():
        base = 128 + 128 * i
        for off, name in NODE.items():
            for v in (0, 1, 2, 3, 12, 13, len(nodes), 0xFFFFFFFF):
                out[f"graph-n{i}-{tag}-{name}-{v}"] = patched(graph, base + off, "<I", v)
        for off, name in {60: "tau", 64: "v_threshold", 68: "v_reset"}.items():
            for ftag, v in F32.items():
                out[f"graph-n{i}-{tag}-{name}-{ftag}"] = patched(graph, base + off, "<f", v)
        if nodes[i].weighted:
            for off, name in LAYER_U64.items():
                for v in U64:
                    out[f"graph-n{i}-{tag}-{name}-{v}"] = patched(graph, base + off, "<Q", v)
    out["graph-num_nodes-1025"] = patched(graph, 32, "<I", 1025)
    out["graph-as-version-1"] = patched(graph, 8, "<I", 1)
    assert rg.NODE_KINDS  # the record layout above follows rsc.graph's
    return out


def structural_graph() -> dict[str, bytes]:
    """v2 graphs that break a rule only the whole graph shows (written without validation):
    currents read twice or by a pool, neurons reading spikes, adds of other shapes or of counts
    of different real values, unused nodes, cycles, a residual sum beyond 32-bit fixed point."""
    from rsc import graph as rg

    rng = np.random.default_rng(9)

    def w(*shape):
        return rng.standard_normal(shape)

    def raw(nodes, shape=(1, 6, 6), classes=2):
        m = rf.Model(shape, classes, 2, "gaussian", 0.5, None, nodes=nodes)
        return rf._assemble(m, rf.VERSION_GRAPH, nodes, rg.pack_node)

    def conv(src, oc, ic, shape):
        q, s = rf.quantize_per_channel(w(oc, ic, 3, 3))
        return rg.Node("conv2d", (src,), (oc,) + shape, kernel=(3, 3), padding=(1, 1), weight=q, scale=s,
                       bias=np.zeros(oc, np.float32))

    def lin(src, o, i):
        q, s = rf.quantize_per_channel(w(o, i))
        return rg.Node("linear", (src,), (o, 1, 1), weight=q, scale=s, bias=np.zeros(o, np.float32))

    def lif(src, shape, **kw):
        return rg.Node("lif", (src,), shape, tau=2.0, v_threshold=kw.get("vth", 1.0), decay_input=True)

    hw = (6, 6)
    c1, s1 = conv(0, 2, 1, hw), lif(1, (2, 6, 6))
    c2 = conv(2, 2, 2, hw)
    gap = rg.Node("global_avgpool", (2,), (2, 1, 1))
    out: dict[str, bytes] = {}
    out["current-read-twice"] = raw([c1, s1, c2, rg.Node("add", (3, 3), (2, 6, 6)), lif(4, (2, 6, 6)),
                                     rg.Node("global_avgpool", (5,), (2, 1, 1)), lin(6, 2, 2)])
    out["neuron-reads-spikes"] = raw([c1, s1, lif(2, (2, 6, 6)), rg.Node("global_avgpool", (3,), (2, 1, 1)),
                                      lin(4, 2, 2)])
    out["pool-of-current"] = raw([c1, rg.Node("maxpool2d", (1,), (2, 3, 3), kernel=(2, 2), stride=(2, 2)),
                                  rg.Node("global_avgpool", (2,), (2, 1, 1)), lin(3, 2, 2)])
    out["residual-sum"] = raw([c1, s1, c2, rg.Node("add", (3, 2), (2, 6, 6)), lif(4, (2, 6, 6)),
                               rg.Node("global_avgpool", (5,), (2, 1, 1)), lin(6, 2, 2)])
    out["residual-overflow"] = raw([c1, s1, c2, rg.Node("add", (3, 2), (2, 6, 6)), lif(4, (2, 6, 6), vth=3e38),
                                    rg.Node("global_avgpool", (5,), (2, 1, 1)), lin(6, 2, 2)])
    out["sew-counts-mixed"] = raw([c1, s1, rg.Node("avgpool2d", (2,), (2, 3, 3), kernel=(2, 2), stride=(2, 2)),
                                   rg.Node("maxpool2d", (2,), (2, 3, 3), kernel=(2, 2), stride=(2, 2)),
                                   rg.Node("add", (3, 4), (2, 3, 3)), rg.Node("global_avgpool", (5,), (2, 1, 1)),
                                   lin(6, 2, 2)])
    out["and-of-counts"] = raw([c1, s1, rg.Node("add", (2, 2), (2, 6, 6)), rg.Node("and", (3, 2), (2, 6, 6)),
                                rg.Node("global_avgpool", (4,), (2, 1, 1)), lin(5, 2, 2)])
    out["unused-node"] = raw([c1, s1, conv(2, 2, 2, hw), rg.Node("global_avgpool", (2,), (2, 1, 1)),
                              lin(4, 2, 2)])
    out["cycle"] = raw([rg.Node("conv2d", (2,), c1.out_shape, kernel=(3, 3), padding=(1, 1), weight=c1.weight,
                                scale=c1.scale, bias=c1.bias), s1, gap, lin(3, 2, 2)])
    out["add-shapes"] = raw([c1, s1, rg.Node("maxpool2d", (2,), (2, 3, 3), kernel=(2, 2), stride=(2, 2)),
                             rg.Node("add", (2, 3), (2, 6, 6)), rg.Node("global_avgpool", (4,), (2, 1, 1)),
                             lin(5, 2, 2)])
    return out


def integer_models(fixtures: dict[str, bytes]) -> dict[str, bytes]:
    """Arithmetic 1 (docs/format.md, "Arithmetic"): fixtures made integer models (header bytes
    80..91), the fields one at a time at bad values, and input pools whose sums leave int16."""
    def arith(data: bytes, kind: int, shift: int, limit: int) -> bytes:
        b = bytearray(data)
        struct.pack_into("<III", b, 80, kind, shift, limit)
        return fix_crc(b)

    files = {}
    for name in ("conv_lif", "sew_add", "resnet_spiking", "poisson_mlp"):
        files[f"valid-integer-{name}"] = arith(fixtures[name], 1, 12, 32767)
    base = fixtures["conv_lif"]
    for label, (kind, shift, limit) in {
            "arithmetic-2": (2, 12, 32767), "arithmetic-max": (0xFFFFFFFF, 12, 32767),
            "shift-25": (1, 25, 32767), "shift-max": (1, 0xFFFFFFFF, 32767),
            "limit-0": (1, 12, 0), "limit-32768": (1, 12, 32768), "limit-max": (1, 12, 0xFFFFFFFF),
            "float-with-shift": (0, 12, 0), "float-with-limit": (0, 0, 7)}.items():
        files[f"near-integer-{label}"] = arith(base, kind, shift, limit)
    # An average pool of the input: 4 x 32767 grid units leave int16 (refused); 8191 fit.
    g = rg.Graph((1, 6, 6))
    rng = np.random.default_rng(7)
    conv = g.lif(g.conv2d(g.avgpool2d(g.input, 2), rng.normal(0, 0.5, (2, 1, 3, 3)), padding=1))
    g.linear(g.flatten(conv), rng.normal(0, 0.5, (2, 2 * 3 * 3)))
    pooled = rf.to_bytes(g.build(time_steps=2, coding="gaussian", sigma=0.5))
    files["rule-integer-input-pool-int16"] = arith(pooled, 1, 12, 32767)
    files["valid-integer-input-pool"] = arith(pooled, 1, 12, 8191)
    return files


def certify_seeds(fixture_names: list[str]) -> dict[str, bytes]:
    """fuzz_certify.c inputs; model index = position in the sorted fixture names."""
    out: dict[str, bytes] = {}
    rng = np.random.default_rng(11)
    for mi, stem in enumerate(sorted(fixture_names)):
        x = (rng.random(64) * 255).astype(np.uint8).tobytes()
        for op, call in ((0, "predict"), (1, "certify"), (2, "forward")):
            head = bytes([mi, op, 6, 15, 7, 1, 3, 0x80]) + struct.pack("<dQQ", 0.01, 42, mi)
            out[f"{stem}-{call}"] = head + x
        raw = np.array([0.5, np.nan, np.inf, -np.inf, 1e7, -1e-40, 0.0, -0.0], dtype="<f4").tobytes()
        out[f"{stem}-predict-rawbits"] = bytes([mi, 0, 6, 7, 3, 2, 3, 0x02]) + bytes(24) + raw
        out[f"{stem}-certify-progress"] = bytes([mi, 0x21, 6, 15, 7, 2, 2, 0x80]) + bytes(24) + x
    return out


def unvalidated(model: rf.Model) -> bytes:
    """to_bytes without the writer's validation: models that only the reader must refuse."""
    check, rf.validate = rf.validate, lambda m: None
    try:
        return rf.to_bytes(model)
    finally:
        rf.validate = check


def structural() -> dict[str, bytes]:
    """Files whose every field is in range but whose network breaks a whole-model rule (checked
    after all layers were read), or whose sizes add up beyond a limit: the fuzzer does not find
    these by mutating one field (the class count is tied to the string table, a weight size to
    four shape fields)."""
    rng = np.random.default_rng(5)
    lif = {"neuron": "lif", "tau": 2.0, "v_threshold": 1.0}

    def w(*shape):
        return rng.standard_normal(shape)

    def model(shape, layers, classes=2, coding="gaussian", sigma=0.5):
        return rf.Model(shape, classes, 2, coding, sigma, layers)

    lin = rf.linear
    out: dict[str, bytes] = {}
    out["logits-with-neuron"] = unvalidated(model((4, 1, 1), [lin(4, w(2, 4), **lif)]))
    out["hidden-without-neuron"] = unvalidated(model((4, 1, 1), [lin(4, w(3, 4)), lin(3, w(2, 3))]))
    out["logits-not-K"] = unvalidated(model((4, 1, 1), [lin(4, w(3, 4))]))
    out["no-weighted-layer"] = unvalidated(model((2, 1, 1), [rf.flatten((2, 1, 1))]))
    out["logits-map"] = unvalidated(model((1, 3, 3), [rf.conv2d((1, 3, 3), w(2, 1, 2, 2))]))
    out["pool-after-logits"] = unvalidated(model((1, 4, 4), [
        rf.conv2d((1, 4, 4), w(2, 1, 1, 1), **lif), rf.flatten((2, 4, 4)), lin(32, w(2, 32)),
        rf.avgpool2d((2, 1, 1), 1)]))
    out["pooled-count-65536"] = unvalidated(model((1, 256, 256), [
        rf.conv2d((1, 256, 256), w(1, 1, 1, 1), **lif), rf.sumpool2d((1, 256, 256), 64),
        rf.sumpool2d((1, 4, 4), 4), lin(1, w(2, 1))]))
    out["pool-of-flattened"] = unvalidated(model((2, 2, 2), [
        rf.conv2d((2, 2, 2), w(2, 2, 1, 1), **lif), rf.flatten((2, 2, 2)), rf.avgpool2d((8, 1, 1), 1),
        lin(8, w(2, 8))]))
    big = (1, 4096, 4096)
    out["maps-over-limit"] = unvalidated(model(big, [rf.avgpool2d(big, 1) for _ in range(4)] + [
        rf.conv2d(big, w(1, 1, 64, 64), stride=64, **lif), rf.sumpool2d((1, 64, 64), 64), lin(1, w(2, 1))]))
    # Layer 0 of a small conv patched to 65535 outputs over a (4096, 64, 64) input with a 64x64
    # kernel and the matching weight_size: more weights than the limit (absent from the file).
    conv = unvalidated(model((1, 4, 4), [rf.conv2d((1, 4, 4), w(2, 1, 1, 1), **lif), rf.flatten((2, 4, 4)),
                                         lin(32, w(2, 32))]))
    b = bytearray(conv)
    struct.pack_into("<3I", b, 40, 4096, 64, 64)
    struct.pack_into("<6I4I", b, 128 + 12, 4096, 64, 64, 65535, 1, 1, 64, 64, 1, 1)
    struct.pack_into("<Q", b, 128 + 80, 65535 * 4096 * 64 * 64)
    out["weights-over-limit"] = fix_crc(b)
    return out


def near_limits() -> dict[str, bytes]:
    """Valid models just below the work and scratch limits (docs/reliability.md, section 6): one
    more pool, a larger window or map, a longer T, which rscm_mutator.h's operations make, takes
    them over it, so the fuzzer meets those limits from the valid side."""
    rng = np.random.default_rng(11)
    # (1, 256, 256), T = 16: two shape-keeping 63 x 63 average pools, about 8.3e9 of the 2^33
    # operations per pass.
    work = rf.build_model((1, 256, 256), [
        ("avgpool2d", 63, {"stride": 1, "padding": 31}),
        ("avgpool2d", 63, {"stride": 1, "padding": 31}),
        ("conv2d", rng.standard_normal((2, 1, 1, 1)), None, {"neuron": "lif"}),
        ("avgpool2d", 64),
        ("flatten",),
        ("linear", rng.standard_normal((2, 32)), None),
    ], time_steps=16, coding="gaussian", sigma=0.5, name="near the work limit")
    # (6, 1024, 1024) analog maps of 24 MiB each: 220 of the 256 MiB of scratch per thread.
    scratch = rf.build_model((6, 1024, 1024), [
        ("avgpool2d", 3, {"stride": 1, "padding": 1}),
        ("avgpool2d", 3, {"stride": 1, "padding": 1}),
        ("conv2d", rng.standard_normal((2, 6, 1, 1)), None, {"neuron": "if"}),
        ("avgpool2d", 64),
        ("flatten",),
        ("linear", rng.standard_normal((2, 512)), None),
    ], time_steps=1, coding="gaussian", sigma=0.5, name="near the scratch limit")
    return {"work": rf.to_bytes(work), "scratch": rf.to_bytes(scratch)}


def corpus() -> dict[str, bytes]:
    fixtures = {p.stem: p.read_bytes() for p in sorted(FIXTURES.glob("*.rscm"))}
    files: dict[str, bytes] = {}
    for name, data in fixtures.items():
        files[f"load/fixture-{name}.rscm"] = data
    for name, data in small_models().items():
        files[f"load/valid-{name}.rscm"] = data
    for name, data in near_limits().items():
        files[f"load/limit-{name}.rscm"] = data
    for name, data in near_valid({**fixtures, **small_models()}).items():
        files[f"load/near-{name}.rscm"] = data
    for name, data in structural().items():
        files[f"load/rule-{name}.rscm"] = data
    for name, data in near_valid_graph(fixtures["sew_iand"]).items():
        files[f"load/near-{name}.rscm"] = data
    for name, data in structural_graph().items():
        files[f"load/rule-{name}.rscm"] = data
    for name, data in integer_models(fixtures).items():
        files[f"load/{name}.rscm"] = data
    for name, data in certify_seeds(list(fixtures)).items():
        files[f"certify/{name}.bin"] = data
    return files


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if fuzz/corpus differs")
    args = ap.parse_args()
    files = corpus()
    existing = {str(p.relative_to(OUT)): p.read_bytes() for p in OUT.rglob("*") if p.is_file()} if OUT.exists() else {}
    if args.check:
        if existing != files:
            diff = sorted(set(existing) ^ set(files)) or sorted(k for k in files if existing.get(k) != files[k])
            print(f"fuzz/corpus differs from make_corpus.py output: {diff[:5]}", file=sys.stderr)
            return 1
        return 0
    for rel in set(existing) - set(files):
        (OUT / rel).unlink()
    for rel, data in files.items():
        p = OUT / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    total = sum(len(d) for d in files.values())
    print(f"fuzz/corpus: {len(files)} files, {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
