"""Version 2 graphs (residual and VGG-style networks) in the runtime, against the float64
reference, and the loader's refusal of graphs it must not run.

Tolerance as in test_native_forward.py: where every spike agrees the logits differ only by
float32 rounding (1e-5 relative); a residual sum adds its addends' currents in one fixed-point
unit per neuron (docs/kernel.md), ~1e-7 of a threshold, so a spike flips only at a threshold tie."""
import struct
import zlib

import numpy as np
import pytest

import rsc
from rsc import errors, format as rf, graph as rg, models, reference as ref

CONFIGS = {
    "spiking-resnet": dict(style="spiking"),
    "sew-add": dict(style="sew", connect="ADD"),
    "sew-and-flatten": dict(style="sew", connect="AND", head="flatten"),
    "sew-iand": dict(style="sew", connect="IAND"),
    "if-soft-avgpool": dict(style="spiking", neuron="if", reset="soft", pool="avgpool2d"),
    "lif-no-decay-input": dict(style="sew", connect="ADD", decay_input=False, tau=3.0),
    "lif-soft-no-decay": dict(style="spiking", reset="soft", decay_input=False, tau=1.5),
    "3ch-shared-noise": dict(style="spiking", input_shape=(3, 12, 12), coding="gaussian-shared",
                             sigma=0.5, blocks=3),
    "sumpool-stem": dict(style="sew", connect="ADD", pool="sumpool2d", width=12),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_graph_forward_agrees_with_reference(name, write):
    spec = models.random_resnet(seed=11, **CONFIGS[name])
    model = rsc.load(write(spec))
    assert model.info.num_layers == len(spec.nodes)
    rng = np.random.default_rng(7)
    u = np.stack([ref.encode(spec, rng.random(spec.input_shape), rng) for _ in range(500)])
    u = u.astype(np.float32)
    expected = ref.forward_batch(spec, u.astype(np.float64))
    got = np.stack([model.forward(ui) for ui in u])
    agree = (got.argmax(1) == expected.argmax(1)).mean()
    close = (np.abs(got - expected) <= 1e-5 * np.maximum(1, np.abs(expected))).all(axis=1).mean()
    print(f"{name}: argmax agreement {agree:.3f}, logits within float32 rounding {close:.3f}")
    assert agree >= 0.995
    assert close >= 0.99
    # Not degenerate: the logits depend on the input through the spikes.
    assert expected.std(axis=0).max() > 0.05


def test_graph_votes_do_not_depend_on_threads(write):
    spec = models.random_resnet(seed=3, style="sew", connect="ADD", blocks=3)
    model = rsc.load(write(spec))
    x = np.random.default_rng(0).random(model.info.input_len).astype(np.float32)
    runs = [model.predict(x, n=600, seed=9, stream=4, threads=t).counts for t in (1, 2, 3)]
    assert all(np.array_equal(runs[0], r) for r in runs[1:])
    assert runs[0].sum() == 600


def test_maxpool_of_the_analog_input(write):
    """Max pooling before the first conv takes the max of the noisy input; padding never wins."""
    g = rg.Graph((1, 9, 9))
    rng = np.random.default_rng(1)
    p = g.maxpool2d(g.input, 3, stride=2, padding=1)
    s = g.lif(g.conv2d(p, rng.standard_normal((4, 1, 3, 3)), None, padding=1), tau=2.0,
              v_threshold=0.5)
    g.linear(g.flatten(g.global_avgpool(s)), rng.standard_normal((3, 4)))
    spec = g.build(time_steps=4, coding="gaussian", sigma=0.3)
    model = rsc.load(write(spec))
    u = np.stack([ref.encode(spec, rng.random(spec.input_shape) - 2.0, rng) for _ in range(200)])
    expected = ref.forward_batch(spec, u)
    got = np.stack([model.forward(ui.astype(np.float32)) for ui in u])
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.995


# ---------------------------------------------------------------------------------------------
# Hostile graphs: written without the writer's validation, refused by the loader with a status
# and a message that names the node
# ---------------------------------------------------------------------------------------------

def _raw(model: rf.Model, nodes) -> bytes:
    """The file of `model` with `nodes`, not validated (what an attacker or a buggy writer makes)."""
    return rf._assemble(model, rf.VERSION_GRAPH, nodes, rg.pack_node)


def _base():
    return models.random_resnet(seed=2, style="spiking", blocks=1, target_rate=0.3)


def _copy(nodes):
    return [rg.Node(**{f: getattr(n, f) for f in n.__dataclass_fields__}) for n in nodes]


def _kinds(nodes, kind):
    return [i for i, n in enumerate(nodes) if n.kind == kind]


def _hostile():
    base = _base()
    n = base.nodes
    cases = {}

    def case(name, mutate, exc, words):
        nodes = _copy(n)
        mutate(nodes)
        cases[name] = (base, nodes, exc, words)

    add = _kinds(n, "add")[0]
    conv = _kinds(n, "conv2d")
    lif = _kinds(n, "lif")
    case("forward reference", lambda ns: setattr(ns[1], "inputs", (5,)), errors.InvalidFieldError,
         "node 2 (lif): input 5 is not an earlier node")
    case("self reference", lambda ns: setattr(ns[0], "inputs", (1,)), errors.InvalidFieldError,
         "not an earlier node")
    case("current read twice", lambda ns: setattr(ns[add], "inputs", (ns[add].inputs[0],) * 2),
         errors.UnsupportedError, "a current must be read by exactly one")
    case("neuron reads spikes", lambda ns: setattr(ns[lif[1]], "inputs", (lif[0] + 1,)),
         errors.UnsupportedError, "a neuron reads a current")
    pool = _kinds(n, "maxpool2d")[0]
    case("pool of a current", lambda ns: setattr(ns[pool], "inputs", (1,)), errors.UnsupportedError,
         "pools node 1's current")
    case("conv of a current", lambda ns: setattr(ns[conv[1]], "inputs", (conv[0] + 1,)),
         errors.UnsupportedError, "reads node 1's current")
    case("add shapes differ", lambda ns: setattr(ns[add], "inputs", (ns[add].inputs[0], 2)),
         errors.ShapeError, "differ in shape")
    case("and of currents", lambda ns: setattr(ns[add], "kind", "and"), errors.UnsupportedError,
         "combines spike maps")
    case("last node a neuron", lambda ns: ns.append(rg.Node("lif", (len(ns),), ns[-1].out_shape,
                                                            tau=2.0, v_threshold=1.0, decay_input=True)),
         errors.InvalidFieldError, "must be a conv2d or linear")
    case("wrong output shape", lambda ns: setattr(ns[add], "out_shape", (3, 3, 3)),
         errors.ShapeError, "output")
    c, h, w = n[1].out_shape
    cases["unused node"] = (base, _copy(n[:2]) + [rg.Node("maxpool2d", (2,), (c, h // 2, w // 2), kernel=(2, 2), stride=(2, 2))]
                            + _shift(_copy(n[2:]), 1, 3), errors.InvalidFieldError, "node 3 (maxpool2d): its output is not used")
    case("maxpool padding", lambda ns: setattr(ns[pool], "padding", (2, 2)), errors.InvalidFieldError,
         "padding")
    case("num inputs", lambda ns: setattr(ns[1], "inputs", (1, 1)), errors.InvalidFieldError,
         "num_inputs")
    return cases


def _shift(nodes, by, from_index):
    """Renumber inputs >= from_index by `by` (a node was inserted before them)."""
    for node in nodes:
        node.inputs = tuple(i + by if i >= from_index else i for i in node.inputs)
    return nodes


HOSTILE = _hostile()


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_graph_is_refused(case, tmp_path):
    model, nodes, exc, words = HOSTILE[case]
    p = tmp_path / "bad.rscm"
    p.write_bytes(_raw(model, nodes))
    with pytest.raises(exc) as info:
        rsc.load(p)
    assert words in str(info.value)
    # The Python reader refuses it too (it shares no code with the Swift loader).
    with pytest.raises(rf.FormatError):
        rf.read_model(p)


def test_counts_of_different_real_values_are_not_added(tmp_path):
    """ADD of a spike map and an average pool of spikes: counts of 1 and of 1/4 cannot share an
    integer map exactly; the plan refuses it."""
    g = rg.Graph((1, 8, 8))
    rng = np.random.default_rng(0)
    a = g.lif(g.conv2d(g.input, rng.standard_normal((2, 1, 3, 3)), None, padding=1))
    b = g.lif(g.conv2d(g.input, rng.standard_normal((2, 1, 2, 2)), None, stride=2))
    c = g.lif(g.conv2d(a, rng.standard_normal((2, 2, 2, 2)), None, stride=2))
    s = g.add(g.avgpool2d(a, 2), c)
    g.linear(g.flatten(g.add(s, b)), rng.standard_normal((2, 32)))
    p = tmp_path / "m.rscm"
    rf.write_model(g.build(time_steps=2, coding="gaussian", sigma=0.2), p)
    with pytest.raises(errors.UnsupportedError, match="adds counts of different real values"):
        rsc.load(p)


def test_residual_sum_overflow_is_refused(tmp_path):
    """The int32 rule covers the sum of residual branches: thresholds so large against the
    weights that no membrane unit fits are refused, not wrapped."""
    spec = _base()
    for node in spec.nodes:
        if node.kind == "lif":
            node.v_threshold = np.float32(3e38)
    p = tmp_path / "m.rscm"
    rf.write_model(spec, p)
    with pytest.raises(errors.UnsupportedError, match="32-bit fixed point"):
        rsc.load(p)


def test_too_many_nodes(tmp_path):
    spec = _base()
    data = bytearray(rf.to_bytes(spec))
    struct.pack_into("<I", data, 32, 5000)
    data[12:16] = b"\0\0\0\0"
    struct.pack_into("<I", data, 12, zlib.crc32(bytes(data)))
    p = tmp_path / "m.rscm"
    p.write_bytes(bytes(data))
    with pytest.raises(errors.LimitError, match="num_nodes is 5000, more than 1024"):
        rsc.load(p)


def test_work_per_pass_is_bounded(tmp_path):
    """A small file whose pass is huge: four 3x3 convolutions on a 256 x 256 map of 64 channels
    at T = 64 (about 4.6e11 operations) is refused at load, with the figure."""
    g = rg.Graph((1, 256, 256))
    x = g.lif(g.conv2d(g.input, np.ones((64, 1, 3, 3)), None, padding=1))
    for _ in range(3):
        x = g.lif(g.conv2d(x, np.ones((64, 64, 3, 3)), None, padding=1))
    g.linear(g.global_avgpool(g.maxpool2d(x, 16)), np.ones((2, 64)))
    p = tmp_path / "m.rscm"
    rf.write_model(g.build(time_steps=64, coding="gaussian", sigma=0.2), p)
    with pytest.raises(errors.LimitError, match="operations"):
        rsc.load(p)


def test_scratch_per_thread_is_bounded(tmp_path):
    """Issue 15's file: an input of 256 x 1 x 65535 and a 64 x 1 conv with padding 63 asked for
    8.7 GB of scratch per thread (the zero-padded copy of the input); with a stride that keeps
    the work small, the scratch limit is what refuses it at load."""
    g = rg.Graph((256, 1, 65535))
    x = g.lif(g.conv2d(g.input, np.ones((1, 256, 64, 1)) * 0.01, None, stride=(64, 64), padding=(63, 0)))
    g.linear(g.flatten(x), np.ones((2, 1024)))
    p = tmp_path / "m.rscm"
    try:
        rf.write_model(g.build(time_steps=1, coding="gaussian", sigma=0.2), p)
    except rf.FormatError:
        pytest.fail("the writer should accept the file: the runtime's limit is what is tested")
    with pytest.raises(errors.LimitError, match="bytes of scratch memory per thread"):
        rsc.load(p)


def test_v2_roundtrip_and_fixture_bytes():
    spec = _base()
    data = rf.to_bytes(spec)
    assert struct.unpack_from("<I", data, 8)[0] == 2
    assert rf.from_bytes(data) == spec
    # v1 files keep v1; to_graph gives the same logits in the reference.
    v1 = models.random_conv_snn(seed=4)
    assert struct.unpack_from("<I", rf.to_bytes(v1), 8)[0] == 1
    u = ref.encode_batch(v1, np.random.default_rng(0).random(v1.input_size), 4,
                         np.random.default_rng(1))
    np.testing.assert_array_equal(ref.forward_batch(v1, u), ref.forward_batch(rf.to_graph(v1), u))


def test_model_info_reports_resources(write):
    spec = models.random_resnet(seed=1, style="sew", connect="ADD")
    info = rsc.load(write(spec)).info
    assert info.format_version == 2 and info.num_layers == len(spec.nodes)
    assert 0 < info.scratch_bytes < 1 << 24 and info.plan_bytes > 0
    # The work: the conv MACs over T steps dominate; at least those, at most twice as much.
    macs = sum(int(np.prod(n.out_shape)) * n.weight.shape[1] * (n.kernel[0] * n.kernel[1])
               for n in spec.nodes if n.weighted)
    assert macs * spec.time_steps <= info.work_per_pass <= 2 * macs * spec.time_steps
    v1 = rsc.load(write(models.random_conv_snn(seed=1))).info
    assert v1.format_version == 1 and v1.num_layers == 7


def test_model_info_accepts_the_v1_struct_size(write):
    """Callers compiled against the shorter struct (before format v2) still work: the library
    fills only the fields their struct_size covers and leaves the bytes after it alone."""
    import ctypes
    from rsc import _native
    model = rsc.load(write(_base()))
    old = _native.ModelInfo.format_version.offset
    raw = _native.ModelInfo(struct_size=old)
    raw.format_version = 77
    raw.scratch_bytes = 12345
    assert model._lib.rsc_model_info(model._handle, ctypes.byref(raw)) == 0
    assert raw.struct_size == old and raw.num_classes == 10
    assert raw.format_version == 77 and raw.scratch_bytes == 12345
    raw = _native.ModelInfo(struct_size=old - 8)
    assert model._lib.rsc_model_info(model._handle, ctypes.byref(raw)) != 0


def _slow_pools(tmp_path, pools):
    """Pools of kernel 64 on a 256 x 256 map, each just under the per-operation work limit
    (2^28): about 2.6e8 operations per pool and step, seconds per pass on one core."""
    g = rg.Graph((1, 256, 256))
    x = g.input
    for _ in range(pools):
        x = g.avgpool2d(x, 64, stride=1, padding=31)
    g.linear(g.global_avgpool(x), np.ones((2, 1)))
    p = tmp_path / "slow.rscm"
    rf.write_model(g.build(time_steps=1, coding="gaussian", sigma=0.2), p)
    return rsc.load(p)


def test_cancellation_inside_a_pass(tmp_path):
    """Issue 15, item 4: a progress callback that cancels stops a call even inside its only
    pass (the kernel polls it between operations), and is polled there while the pass runs."""
    m = _slow_pools(tmp_path, 2)
    x = np.zeros(256 * 256)
    calls = []
    m.predict(x, n=1, threads=1, progress=lambda f: calls.append(f) or True)
    # Before the chunk, at least once inside the pass (5.2e8 operations, polled every 2^26 of
    # the calling thread's), and at the end.
    assert len(calls) >= 4 and calls[0] == 0 and calls[-1] == 1
    calls.clear()
    with pytest.raises(errors.CancelledError, match=r"during passes 0\.\.<1 of the call's 1 passes \(in its prediction phase\)"):
        m.predict(x, n=1, threads=1, progress=lambda f: calls.append(f) or len(calls) < 2)
    assert len(calls) == 2  # nothing after the callback said stop
    with pytest.raises(errors.CancelledError):
        m.certify(x, n0=1, n=1, threads=2, progress=lambda f: f == 0 and not calls.append(f))


def test_work_per_operation_is_bounded(tmp_path):
    """One operation may take at most 2^28 operations per step (it bounds how long a
    cancellation waits): pools that grow a 1 x 1 input by 63 per pool pass it at the fifth."""
    g = rg.Graph((1, 1, 1))
    x = g.input
    for _ in range(5):
        x = g.avgpool2d(x, 64, stride=1, padding=63)
    g.linear(g.global_avgpool(x), np.ones((2, 1)))
    p = tmp_path / "m.rscm"
    rf.write_model(g.build(time_steps=1, coding="gaussian", sigma=0.2), p)
    with pytest.raises(errors.LimitError, match=r"node 5 \(avgpool2d\) takes 409010176 operations "
                                                r"at each step, more than the 268435456"):
        rsc.load(p)


def test_a_load_option_sets_the_work_limit(tmp_path):
    """Issue 15, item 4: the work limit per pass (2^33 operations by default) is a load option,
    raised to at most 2^40 for trusted large models or lowered by a host that takes untrusted
    ones; loading from memory applies it too."""
    g = rg.Graph((1, 256, 256))
    x = g.input
    for _ in range(38):  # 38 pools of 2.6e8 down to 1.9e8 operations (the map shrinks): 8.7e9 > 2^33
        x = g.avgpool2d(x, 64, stride=1, padding=31)
    g.linear(g.global_avgpool(x), np.ones((2, 1)))
    p = tmp_path / "big.rscm"
    rf.write_model(g.build(time_steps=1, coding="gaussian", sigma=0.2), p)
    with pytest.raises(errors.LimitError, match=r"more than the 8589934592 allowed .*raises the limit up to 1099511627776"):
        rsc.load(p)
    m = rsc.load(p, max_work_per_pass=2**34)
    assert 2**33 < m.info.work_per_pass <= 2**34
    assert rsc.load_from_memory(p.read_bytes(), max_work_per_pass=2**34).info == m.info
    with pytest.raises(errors.LimitError, match="more than the 4 allowed"):
        rsc.load(p, max_work_per_pass=4)
    for bad in (0, 2**40 + 1):
        with pytest.raises(errors.InvalidArgumentError, match="max_work_per_pass"):
            rsc.load(p, max_work_per_pass=bad)
