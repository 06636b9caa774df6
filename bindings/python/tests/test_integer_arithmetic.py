"""Arithmetic 1 (`integer`, docs/format.md "Arithmetic"): the header fields in rsc.format and
rsc.graph, the constants of rsc.fixedpoint on models small enough to check by hand, and the
integer pipeline of rsc.reference against a plain Python-int recomputation."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest

from rsc import errors
from rsc import fixedpoint as fp
from rsc import format as rf
from rsc import graph as rg
from rsc import models as rm
from rsc import reference as ref

FIXTURES = Path(__file__).resolve().parents[3] / "Tests" / "Fixtures"


def integer(model: rf.Model, shift: int = 12, limit: int = 32767) -> rf.Model:
    model.arithmetic, model.input_shift, model.input_limit = "integer", shift, limit
    return model


def patch_header(data: bytes, offset: int, value: int) -> bytes:
    b = bytearray(data)
    struct.pack_into("<I", b, offset, value)
    struct.pack_into("<I", b, 12, 0)
    struct.pack_into("<I", b, 12, rf.checksum(bytes(b)))
    return bytes(b)


# --------------------------------------------------------------------------------------------
# Header fields
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: rm.random_conv_snn(0),
                                  lambda: rm.random_resnet(1, style="sew")])
def test_integer_header_round_trip(make):
    model = integer(make(), shift=9, limit=1234)
    data = rf.to_bytes(model)
    assert struct.unpack_from("<III", data, 80) == (1, 9, 1234)
    assert data[92:128] == bytes(36)
    back = rf.from_bytes(data)
    assert (back.arithmetic, back.input_shift, back.input_limit) == ("integer", 9, 1234)
    assert back == model and rf.to_bytes(back) == data
    assert "arithmetic='integer'" in repr(back) and "input_shift=9" in repr(back)
    # The same network in float arithmetic is another model.
    other = rf.from_bytes(data)
    other.arithmetic, other.input_shift, other.input_limit = "float", 0, 0
    assert other != model and rf.to_bytes(other)[80:92] == bytes(12)


def test_v1_to_graph_keeps_the_arithmetic():
    g = rg.to_graph(integer(rm.random_mlp(2), shift=3, limit=7))
    assert (g.arithmetic, g.input_shift, g.input_limit) == ("integer", 3, 7)
    assert rf.from_bytes(rf.to_bytes(g)) == g


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.rscm")), ids=lambda p: p.stem)
def test_fixtures_read_as_float_and_rewrite_byte_for_byte(path):
    data = path.read_bytes()
    model = rf.from_bytes(data)
    assert (model.arithmetic, model.input_shift, model.input_limit) == ("float", 0, 0)
    assert rf.to_bytes(model) == data


@pytest.mark.parametrize("fields,match", [
    (("float", 12, 0), "must be 0 for arithmetic 'float'"),
    (("float", 0, 32767), "must be 0 for arithmetic 'float'"),
    (("fixed", 0, 0), "arithmetic must be one of"),
    (("integer", 25, 100), "input_shift must be 0..24"),
    (("integer", -1, 100), "input_shift must be 0..24"),
    (("integer", 12, 0), "input_limit must be 1..32767"),
    (("integer", 12, 32768), "input_limit must be 1..32767"),
])
def test_writer_rejects_bad_arithmetic(fields, match):
    model = rm.random_mlp(3)
    model.arithmetic, model.input_shift, model.input_limit = fields
    with pytest.raises(rf.FormatError, match=match):
        rf.to_bytes(model)


def test_integer_limits_are_inclusive():
    for shift, limit in ((0, 1), (24, 32767)):
        model = integer(rm.random_mlp(3), shift, limit)
        assert rf.from_bytes(rf.to_bytes(model)) == model


def test_reader_rejects_bad_arithmetic():
    data = rf.to_bytes(rm.random_mlp(4))
    good = rf.to_bytes(integer(rm.random_mlp(4), 12, 100))
    cases = [
        (patch_header(data, 80, 2), "arithmetic must be 0 \\(float\\) or 1 \\(integer\\), got 2"),
        (patch_header(data, 84, 12), "must be 0 for arithmetic 'float'"),
        (patch_header(data, 88, 5), "must be 0 for arithmetic 'float'"),
        (patch_header(data, 80, 1), "input_limit must be 1..32767"),  # integer without a grid
        (patch_header(good, 84, 25), "input_shift must be 0..24"),
        (patch_header(good, 88, 40000), "input_limit must be 1..32767"),
        (patch_header(good, 92, 1), "reserved bytes \\(92..127\\)"),
        (patch_header(good, 124, 1 << 24), "reserved bytes \\(92..127\\)"),
    ]
    for bad, match in cases:
        with pytest.raises(rf.FormatError, match=match):
            rf.from_bytes(bad)


def test_builders_take_the_arithmetic():
    g = rg.Graph((2, 1, 1))
    g.linear(g.input, np.eye(2))
    model = g.build(time_steps=1, coding="direct", sigma=0, arithmetic="integer", input_shift=5,
                    input_limit=99)
    assert rf.from_bytes(rf.to_bytes(model)) == model and model.input_limit == 99
    v1 = rf.build_model((2, 1, 1), [("linear", np.eye(2))], time_steps=1, coding="direct",
                        sigma=0, arithmetic="integer", input_shift=5, input_limit=99)
    assert (v1.arithmetic, v1.input_shift) == ("integer", 5)


# --------------------------------------------------------------------------------------------
# Helpers of rsc.fixedpoint
# --------------------------------------------------------------------------------------------

def test_round_away_is_swifts_rounded():
    cases = {0.5: 1, -0.5: -1, 1.5: 2, 2.5: 3, -2.5: -3, 0.49999999999999994: 0,
             -0.49999999999999994: 0, 4503599627370497.0: 4503599627370497, 1.4999999999: 1,
             -7.0: -7, 0.0: 0}
    for x, want in cases.items():
        assert fp.round_away(x) == want, x
    assert round(2.5) == 2  # why round_away exists


def test_quantize_input_rounds_half_to_even_and_clamps():
    e = 4  # step 1/16
    u = np.array([2.5, 3.5, -2.5, 0.49, 100.0, -100.0, 1.0 / 3.0]) / 16
    assert fp.quantize_input(u, e, 1000).tolist() == [2, 4, -2, 0, 100, -100, 0]
    assert fp.quantize_input(u, e, 50).tolist() == [2, 4, -2, 0, 50, -50, 0]
    # float32 first: 0.1 in float64 * 2^24 is 1677721.6, in float32 1677721.625 (rounds up).
    assert fp.quantize_input(np.array([0.1]), 24, 32767).tolist() == [32767]
    assert fp.quantize_input(np.array([1e-3]), 24, 32767).tolist() == \
        [int(np.rint(np.float64(np.float32(1e-3)) * 2 ** 24))]
    with pytest.raises(ValueError, match="finite"):
        fp.quantize_input(np.array([np.nan]), 4, 10)


# --------------------------------------------------------------------------------------------
# Constants on hand-checkable models
# --------------------------------------------------------------------------------------------

def one_conv_model(bias: float = 0.5, v_threshold: float = 1.0, time_steps: int = 3) -> rf.Model:
    """input (1, 2, 2) on the grid 2^-4 clamped at 100 -> conv 2x2 (weights 1 -2 3 4, scale 1/4,
    bias) -> LIF (tau 2, decay_input) -> linear 1 -> 2 (scale 1/2) -> logits."""
    nodes = [
        rg.Node("conv2d", (0,), (1, 1, 1), kernel=(2, 2),
                weight=np.array([[[[1, -2], [3, 4]]]], np.int8), scale=[0.25], bias=[bias]),
        rg.Node("lif", (1,), (1, 1, 1), tau=2.0, v_threshold=v_threshold, v_reset=0.0,
                decay_input=True),
        rg.Node("linear", (2,), (2, 1, 1), weight=np.array([[1], [-1]], np.int8),
                scale=[0.5, 0.5], bias=[0.0, 0.25]),
    ]
    return rf.Model(input_shape=(1, 2, 2), num_classes=2, time_steps=time_steps,
                    coding="gaussian", sigma=0.25, layers=None, nodes=nodes,
                    arithmetic="integer", input_shift=4, input_limit=100)


def test_one_conv_constants_by_hand():
    p = fp.plan(one_conv_model())
    assert p.maps[0] == fp.IntMap(1 / 16, 100) and p.maps[2] == fp.IntMap(1.0, 1)
    # l1 = 10, S = 1/4, LIF with decay_input: steps = 2. At F = 20, u = 2^20 / (1/4) = 2^22;
    # maxI = 100 * 10 * 1/4 * 1/16 * 2^22 + 0.5 * 2^22 + 1 = 67633153, fixedV = 2^22 + 3 + 2;
    # 2 * (maxI + fixedV) = 143654924 <= 2^30, so F = 20.
    # mult = 1/4 * 1/16 * 2^22 = 2^16, bias = 0.5 * 2^22 = 2^21 (both exact in binary32).
    assert p.nodes[1] == dict(u=2.0 ** 22, F=20, neuron=2, mult=[2.0 ** 16], bias=[2.0 ** 21])
    assert p.nodes[2] == dict(u=2.0 ** 22, F=20, v_th=1 << 22, v_reset=0, leak=1 << 29)
    assert p.nodes[3] == dict(logit_mult=[0.5, 0.5], logit_bias=[0.0, 0.25])
    assert fp.constants(one_conv_model()) == p.nodes


def test_unit_shrinks_with_a_large_bias():
    # bias 1000: 2 (1016.625 u + 1 + u + 5) <= 2^30 needs u <= 2^19 = 2^(F + 2): F = 17.
    p = fp.plan(one_conv_model(bias=1000.0))
    assert p.nodes[2]["F"] == 17 and p.nodes[2]["u"] == 2.0 ** 19
    # mult = 2^-6 * 2^19 = 2^13; bias = 1000 * 2^19.
    assert p.nodes[1]["mult"] == [2.0 ** 13] and p.nodes[1]["bias"] == [1000.0 * 2 ** 19]


def test_steps_follow_the_neuron():
    """IF and soft resets by thresholds <= 0 hold T steps of currents: a smaller unit."""
    base = one_conv_model(bias=1000.0, time_steps=16)
    assert fp.plan(base).nodes[2]["F"] == 17  # LIF with decay_input: 2 steps whatever T
    m = one_conv_model(bias=1000.0, time_steps=16)
    m.nodes[1] = rg.Node("if", (1,), (1, 1, 1), v_threshold=1.0)
    # 17 (1016.625 u + u + 19) <= 2^30: u <= 62124, u = 2^(F + 2): F = 13.
    assert fp.plan(m).nodes[2]["F"] == 13 and fp.plan(m).nodes[2]["leak"] == 0
    m.nodes[1] = rg.Node("lif", (1,), (1, 1, 1), tau=3.5, v_threshold=1.0, decay_input=False)
    # min(T, ceil(3.5)) + 1 = 5 steps: u <= 2^30 / 5 / 1017.625 = 211018: F = 15.
    c = fp.plan(m).nodes[2]
    assert c["F"] == 15 and c["leak"] == round(2 ** 30 / 3.5)
    m.nodes[1] = rg.Node("lif", (1,), (1, 1, 1), tau=2.0, v_threshold=-0.5, reset="soft",
                         decay_input=True)
    # Soft reset by a threshold <= 0: T + 1 = 17 steps, |v_th| = 0.5: F = 13 again.
    c = fp.plan(m).nodes[2]
    assert c["F"] == 13 and c["v_th"] == -(1 << 14)


def test_add_of_a_current_and_spikes():
    """spiking_resnet style: lif(add(conv(s), s)); add_m1 = round(1 * u) membrane units per
    spike, and the unit is chosen over both addends."""
    nodes = [
        rg.Node("conv2d", (0,), (1, 1, 1), kernel=(2, 2),
                weight=np.array([[[[1, -2], [3, 4]]]], np.int8), scale=[0.25], bias=[0.5]),
        rg.Node("lif", (1,), (1, 1, 1), tau=2.0, v_threshold=1.0, decay_input=True),
        rg.Node("linear", (2,), (1, 1, 1), weight=np.array([[-3]], np.int8), scale=[0.375],
                bias=[0.0]),
        rg.Node("add", (3, 2), (1, 1, 1)),
        rg.Node("lif", (4,), (1, 1, 1), tau=2.0, v_threshold=1.0, decay_input=True),
        rg.Node("linear", (5,), (2, 1, 1), weight=np.array([[1], [2]], np.int8),
                scale=[1.0, 1.0], bias=[0.0, 0.0]),
    ]
    model = rf.Model(input_shape=(1, 2, 2), num_classes=2, time_steps=4, coding="direct",
                     sigma=0, layers=None, nodes=nodes, arithmetic="integer", input_shift=4,
                     input_limit=100)
    p = fp.plan(model)
    # Neuron 5's terms: linear 3 (M = 1, l1 = 3, S = 0.375) then the spikes of node 2 (M = 1):
    # F = 20, u = 2^20 / 0.375; maxI = 3 * 0.375 * u + 1 + round(u), well within 2^29.
    u = 2.0 ** 20 / 0.375
    assert p.nodes[5]["u"] == u and p.nodes[5]["F"] == 20
    assert p.nodes[4] == dict(u=u, F=20, neuron=5, add_m0=0, add_m1=fp.round_away(u))
    assert fp.round_away(u) == 2796203  # 2796202.67
    # linear 3's current is in neuron 5's unit: mult = 0.375 u = 2^20.
    assert p.nodes[3] == dict(u=u, F=20, neuron=5, mult=[2.0 ** 20], bias=[0.0])
    # Swapping the add's inputs swaps add_m0 and add_m1.
    model.nodes[3] = rg.Node("add", (2, 3), (1, 1, 1))
    assert fp.plan(model).nodes[4] == dict(u=u, F=20, neuron=5, add_m0=2796203, add_m1=0)


def test_pools_scale_m_and_bound_M():
    g = rg.Graph((1, 4, 4))
    s = g.lif(g.conv2d(g.input, np.ones((2, 1, 1, 1))), v_threshold=0.5)
    a = g.avgpool2d(s, 2)  # window sums of spikes, each worth 1/4
    b = g.sumpool2d(a, 2)  # of counts up to 4: up to 16, still worth 1/4
    f = g.flatten(b)
    g.linear(f, np.ones((2, 2)))
    model = g.build(time_steps=2, coding="direct", sigma=0, arithmetic="integer",
                    input_shift=12, input_limit=32767)
    p = fp.plan(model)
    assert p.maps[a] == fp.IntMap(0.25, 4) and p.maps[b] == fp.IntMap(0.25, 16)
    assert p.maps[f] == p.maps[b]
    # The logits read counts worth 1/4: f64(f32(0.25)) * scale.
    scale = model.nodes[-1].scale.astype(np.float64)
    assert p.nodes[len(model.nodes)]["logit_mult"] == (0.25 * scale).tolist()


def test_logit_mult_rounds_m_to_float32():
    g = rg.Graph((1, 3, 3))
    s = g.lif(g.conv2d(g.input, np.ones((1, 1, 1, 1))))
    g.linear(g.flatten(g.global_avgpool(s)), np.ones((2, 1)))  # counts worth 1/9
    model = g.build(time_steps=1, coding="direct", sigma=0, arithmetic="integer",
                    input_shift=0, input_limit=1)
    p = fp.plan(model)
    assert p.maps[3] == fp.IntMap(1 / 9, 9)
    assert float(np.float32(1 / 9)) != 1 / 9
    scale = float(model.nodes[-1].scale[0])
    assert p.nodes[5]["logit_mult"][0] == float(np.float32(1 / 9)) * scale


# --------------------------------------------------------------------------------------------
# Refusals (what rsc.load refuses, with the same error classes)
# --------------------------------------------------------------------------------------------

def test_float_models_have_no_plan():
    with pytest.raises(ValueError, match="integer models"):
        fp.plan(rm.random_mlp(0))


def test_refuses_an_input_map_beyond_int16():
    g = rg.Graph((1, 4, 4))
    p = g.avgpool2d(g.input, 2)
    g.linear(g.flatten(p), np.ones((2, 4)))
    ok = g.build(time_steps=1, coding="direct", sigma=0, arithmetic="integer", input_shift=12,
                 input_limit=8191)
    assert fp.plan(ok).maps[1] == fp.IntMap(2.0 ** -14, 32764)
    bad = g.build(time_steps=1, coding="direct", sigma=0, arithmetic="integer", input_shift=12,
                  input_limit=8192)
    with pytest.raises(errors.LimitError, match=r"node 1 \(avgpool2d\).*32768, more than 32767"):
        fp.plan(bad)


def test_refuses_counts_beyond_65535():
    g = rg.Graph((1, 256, 256))
    s = g.lif(g.conv2d(g.input, np.ones((1, 1, 1, 1))))
    g.linear(g.flatten(g.global_avgpool(s)), np.ones((2, 1)))
    model = g.build(time_steps=1, coding="direct", sigma=0, arithmetic="integer",
                    input_shift=12, input_limit=32767)
    with pytest.raises(errors.LimitError, match="counts can reach 65536, more than 65535"):
        fp.plan(model)


def test_refuses_accumulators_beyond_int32():
    w = np.full((2, 600), 127.0)  # l1 = 76200: 32767 * 76200 > 2^31 - 1
    for limit, ok in ((28182, True), (28183, False)):  # 28182 * 76200 = 2147468400
        model = rf.build_model((600, 1, 1), [("linear", w)], time_steps=1, coding="direct",
                               sigma=0, arithmetic="integer", input_shift=12, input_limit=limit)
        if ok:
            fp.plan(model)
        else:
            with pytest.raises(errors.UnsupportedError, match=r"layer 0 \(linear\).*32-bit acc"):
                fp.plan(model)


def test_refuses_thresholds_beyond_fixed_point():
    with pytest.raises(errors.UnsupportedError, match="32-bit fixed point"):
        fp.plan(one_conv_model(v_threshold=1e30))


def _two_branch(pool: str) -> tuple[rf.Model, int]:
    g = rg.Graph((1, 4, 4))
    s1 = g.lif(g.conv2d(g.input, np.ones((1, 1, 1, 1))))
    s2 = g.lif(g.conv2d(g.input, np.ones((1, 1, 1, 1)), stride=2))
    a = g.add(getattr(g, pool)(s1, 2), s2)
    g.linear(g.flatten(a), np.ones((2, 4)))
    return g.build(time_steps=1, coding="direct", sigma=0, arithmetic="integer",
                   input_shift=12, input_limit=32767), a


def test_adds_counts_of_equal_values_and_refuses_different_ones():
    model, a = _two_branch("sumpool2d")
    assert fp.plan(model).maps[a] == fp.IntMap(1.0, 5)
    model, a = _two_branch("avgpool2d")
    with pytest.raises(errors.UnsupportedError, match=r"node 6 \(add\).*different real values"):
        fp.plan(model)


# --------------------------------------------------------------------------------------------
# The integer forward pass
# --------------------------------------------------------------------------------------------

def python_int_forward(model: rf.Model, u: np.ndarray) -> tuple[list[float], list]:
    """input (N, 1, 1) -> linear -> neuron -> linear (logits), in Python ints and floats,
    literally as docs/format.md's steps 1-7 say (the constants from rsc.fixedpoint): the logits
    and, per step, the currents and pre-reset membranes h of the neurons."""
    c = fp.constants(model)
    lin, neuron, out = rg.to_graph(model).nodes
    e, Q = model.input_shift, model.input_limit
    w1, w2 = lin.weight.astype(int).tolist(), out.weight.astype(int).tolist()
    k, vr, vth = c[2]["leak"], c[2]["v_reset"], c[2]["v_th"]
    mult, bias = c[1]["mult"], c[1]["bias"]
    f32 = np.float32  # one binary32 rounding per operation, as the doc's step 5
    v = [vr] * len(w1)
    total = [0.0] * len(w2)
    trace = []
    for ut in u:
        # Python's round is half to even on floats, exactly.
        q = [max(-Q, min(Q, round(float(np.float32(x)) * 2 ** e))) for x in ut.reshape(-1)]
        spikes, currents, hs = [], [], []
        for o, row in enumerate(w1):
            acc = sum(a * b for a, b in zip(row, q))
            current = int(np.rint(f32(f32(f32(acc) * f32(mult[o])) + f32(bias[o]))))  # the doc's
            if neuron.kind == "lif" and neuron.decay_input:
                h = v[o] + (((current - v[o] + vr) * k + (1 << 29)) >> 30)
            elif neuron.kind == "lif":
                h = v[o] + (((vr - v[o]) * k + (1 << 29)) >> 30) + current
            else:
                h = v[o] + current
            s = int(h >= vth)
            v[o] = h - s * vth if neuron.reset == "soft" else (vr if s else h)
            spikes.append(s)
            currents.append(current)
            hs.append(h)
        trace.append((currents, hs))
        for o, row in enumerate(w2):
            acc = sum(a * b for a, b in zip(row, spikes))
            total[o] = total[o] + (acc * c[3]["logit_mult"][o] + c[3]["logit_bias"][o])
    return [t / len(u) for t in total], trace


def assert_matches_python_ints(model: rf.Model, u: np.ndarray, monkeypatch) -> np.ndarray:
    """rsc.reference's logits (and, recorded at its neuron step, currents and membranes) of
    every pass in u equal python_int_forward's."""
    got = ref.forward_batch(model, u)
    seen = []
    step = ref._int_neuron

    def record(node, c, v, i, label):
        s, h = step(node, c, v, i, label)
        seen.append((i.reshape(-1).tolist(), h.reshape(-1).tolist()))
        return s, h

    monkeypatch.setattr(ref, "_int_neuron", record)
    negative = 0
    for b in range(len(u)):
        seen.clear()
        logits, trace = python_int_forward(model, u[b])
        assert ref.forward(model, u[b]).tolist() == logits == got[b].tolist()
        assert seen == trace
        negative += sum(x < 0 for currents, _ in trace for x in currents)
    assert negative  # negative currents: floor and truncation differ there
    monkeypatch.undo()
    return got


@pytest.mark.parametrize("neuron,reset", [("lif", "hard"), ("if", "soft")])
def test_reference_matches_python_ints_v1(neuron, reset, monkeypatch):
    rng = np.random.default_rng(11)
    model = rf.build_model((6, 1, 1), [
        ("linear", rng.normal(0, 0.6, (5, 6)), rng.normal(0.2, 0.2, 5),
         {"neuron": neuron, "tau": 3.0, "v_threshold": 0.4, "v_reset": -0.1, "reset": reset}),
        ("linear", rng.normal(0, 1, (3, 5)), rng.normal(0, 0.1, 3)),
    ], time_steps=6, coding="gaussian", sigma=0.5, arithmetic="integer", input_shift=5,
        input_limit=40)  # a coarse grid that clamps the larger inputs
    x = rng.random(6)
    u = ref.encode_batch(model, x, 30, rng)
    assert_matches_python_ints(model, u, monkeypatch)
    rates = ref.firing_rates(model, u)
    assert 0.05 < rates[0] < 0.95 and rates[1] is None  # spikes and silence both exercised
    assert np.abs(u * 32).max() > 40  # and the clamp


def test_reference_matches_python_ints_v2_nodecay(monkeypatch):
    rng = np.random.default_rng(12)
    g = rg.Graph((4, 1, 1))
    g.linear(g.lif(g.linear(g.input, rng.normal(0, 0.8, (6, 4)), rng.normal(0.3, 0.1, 6)),
                   tau=2.5, v_threshold=0.3, v_reset=0.05, decay_input=False),
             rng.normal(0, 1, (2, 6)))
    model = g.build(time_steps=5, coding="gaussian", sigma=0.3, arithmetic="integer",
                    input_shift=11, input_limit=32767)
    u = ref.encode_batch(model, rng.random(4), 30, rng)
    got = assert_matches_python_ints(model, u, monkeypatch)
    assert 0.05 < ref.firing_rates(model, u)[1] < 0.95
    assert ref.predict(model, u[0]) == int(np.argmax(got[0]))


def test_one_conv_forward_by_hand():
    """The one-conv model (T = 1) by hand. u = (1, 0.5, -0.5, 0.25) gives q = (16, 8, -8, 4) on
    the 1/16 grid: acc = 16 - 16 - 24 + 16 = -8; I = -8 2^16 + 2^21 = 1572864; from v = 0, h = floor((1572864 2^29 + 2^29) / 2^30) = 786432 < v_th = 2^22: no
    spike, the logits are the biases (0, 0.25)."""
    model = one_conv_model(time_steps=1)
    u = np.array([[1.0, 0.5, -0.5, 0.25]])
    assert ref.forward(model, u).tolist() == [0.0, 0.25]
    assert ref.threshold_margins(model, u[None])[1] == ((1 << 22) - 786432) / 2.0 ** 22
    # u = (6, 0, 6, 6): q = (96, 0, 96, 96), acc = 768, I = 768 2^16 + 2^21 = 52428800,
    # h = 26214400 >= 2^22: a spike; logits (1 * 0.5 + 0, -1 * 0.5 + 0.25).
    assert ref.forward(model, np.array([[6.0, 0.0, 6.0, 6.0]])).tolist() == [0.5, -0.25]
    # The clamp at 100: 7 and 6.25 both give q = 100 (and 6.2 gives 99).
    at = [ref.forward_batch(model, np.array([[[x, 0.0, -x, x]]])) for x in (7.0, 6.25, 6.2)]
    assert np.array_equal(at[0], at[1]) and fp.quantize_input(np.array([6.2]), 4, 100)[0] == 99
    assert ref.firing_rates(model, np.array([[[7.0, 0.0, -7.0, 7.0]]]))[1] in (0.0, 1.0)


def test_integer_pipeline_matches_the_float_meaning_on_the_grid():
    """On inputs already on the grid the integer pipeline computes the float meaning up to the
    fixed point's rounding: the same spikes on all but rare threshold ties."""
    cases = [rm.random_conv_snn(0), rm.random_conv_snn(4, neuron="if", reset="soft"),
             rm.random_resnet(1, style="spiking"), rm.random_resnet(2, style="sew"),
             rm.random_resnet(6, style="sew", connect="IAND", decay_input=False),
             rm.random_mlp(3)]
    rng = np.random.default_rng(5)
    for model in cases:
        u = ref.encode_batch(model, rng.random(model.input_shape), 40, rng)
        integer(model, 10, 32767)
        li = ref.forward_batch(model, u)
        on_grid = fp.quantize_input(u, 10, 32767) / 2.0 ** 10
        model.arithmetic, model.input_shift, model.input_limit = "float", 0, 0
        lf = ref.forward_batch(model, on_grid)
        close = np.abs(li - lf).max(axis=1) <= 1e-6 * np.maximum(1, np.abs(lf).max(axis=1))
        assert close.mean() >= 0.95, model.name
        assert (li.argmax(1) == lf.argmax(1)).mean() >= 0.95, model.name


def test_integer_forward_takes_float32_inputs():
    model = one_conv_model(time_steps=1)
    u64 = np.array([[1.0 + 2 ** -30, 0.5, -0.5, 0.25]])
    assert ref.forward(model, u64).tolist() == ref.forward(model, u64.astype(np.float32)).tolist()
