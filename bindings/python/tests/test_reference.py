"""The float64 reference forward pass against hand-computed cases and naive loops."""

from __future__ import annotations

import numpy as np
import pytest

from rsc import format as rf
from rsc import models as rm
from rsc import reference as ref


def exact_linear(in_n: int, w_int, bias, **neuron) -> rf.Layer:
    """A linear layer with integer weights and scale 1, so real weights are exact."""
    w = np.asarray(w_int, dtype=np.int8).reshape(-1, in_n)
    o = w.shape[0]
    return rf.Layer("linear", (in_n, 1, 1), (o, 1, 1), weight=w,
                    scale=np.ones(o, np.float32), bias=np.asarray(bias, np.float32), **neuron)


def identity_readout(n: int) -> rf.Layer:
    return exact_linear(n, np.eye(n), np.zeros(n))


def one_neuron_model(t_steps: int, **neuron) -> rf.Model:
    """input (1,1,1) -> linear 1->1 (w=1, b=0) with a neuron -> readout [s, -s]."""
    layers = [exact_linear(1, [[1]], [0.0], **neuron), exact_linear(1, [[1], [-1]], [0.0, 0.0])]
    return rf.Model((1, 1, 1), 2, t_steps, "direct", 0.0, layers)


def spikes_of(model: rf.Model, u) -> np.ndarray:
    """The spike train (T,) of the single neuron in layer 0 for one pass."""
    u = np.asarray(u, dtype=np.float64).reshape(1, -1, 1, 1, 1)
    return ref._run(model.layers[:1], u, keep_steps=True).reshape(-1)


LIF = dict(neuron="lif", tau=2.0, v_threshold=1.0, v_reset=0.0)


@pytest.mark.parametrize("reset,expect", [("hard", [0, 1, 0]), ("soft", [0, 1, 1])])
def test_lif_one_neuron(reset, expect):
    # h1 = 0 + (1.5 - 0)/2 = 0.75                      -> 0,  v = 0.75
    # h2 = 0.75 + (2 - 0.75)/2 = 1.375                  -> 1,  hard v = 0, soft v = 0.375
    # h3 hard = 0 + (1.75 - 0)/2 = 0.875                -> 0
    # h3 soft = 0.375 + (1.75 - 0.375)/2 = 1.0625       -> 1
    model = one_neuron_model(3, reset=reset, **LIF)
    u = [1.5, 2.0, 1.75]
    np.testing.assert_array_equal(spikes_of(model, u), expect)
    rate = sum(expect) / 3
    np.testing.assert_allclose(ref.forward(model, np.reshape(u, (3, 1))), [rate, -rate],
                               rtol=0, atol=1e-15)


def test_lif_threshold_is_inclusive():
    # h1 = 1.0 exactly -> spike (h >= v_threshold).
    model = one_neuron_model(1, reset="hard", **LIF)
    np.testing.assert_array_equal(spikes_of(model, [2.0]), [1])
    np.testing.assert_array_equal(spikes_of(model, [np.nextafter(2.0, 0)]), [0])


@pytest.mark.parametrize("reset,expect", [("hard", [0, 1, 0]), ("soft", [0, 1, 1])])
def test_lif_nonzero_reset_potential(reset, expect):
    # v_reset = -0.5, v_threshold = 0.5, tau 2, u = 1.5 each step; v starts at v_reset.
    # h1 = -0.5 + (1.5 - 0)/2 = 0.25                  -> 0,  v = 0.25
    # h2 = 0.25 + (1.5 - 0.75)/2 = 0.625              -> 1,  hard v = -0.5, soft v = 0.125
    # h3 hard = -0.5 + 1.5/2 = 0.25                   -> 0
    # h3 soft = 0.125 + (1.5 - 0.625)/2 = 0.5625      -> 1  (soft subtracts v_threshold)
    model = one_neuron_model(3, neuron="lif", reset=reset, tau=2.0, v_threshold=0.5,
                             v_reset=-0.5)
    np.testing.assert_array_equal(spikes_of(model, [1.5, 1.5, 1.5]), expect)


@pytest.mark.parametrize("reset,expect", [("hard", [0, 1, 0, 0]), ("soft", [0, 1, 1, 0])])
def test_if_one_neuron(reset, expect):
    # h: 0.5 | 1.25 -> spike (hard v=0, soft v=0.25) | hard 0.75, soft 1.0 -> spike (v=0)
    #    | hard 0.75, soft 0.0
    model = one_neuron_model(4, neuron="if", reset=reset, v_threshold=1.0, v_reset=0.0)
    u = [0.5, 0.75, 0.75, 0.0]
    np.testing.assert_array_equal(spikes_of(model, u), expect)
    rate = sum(expect) / 4
    np.testing.assert_allclose(ref.forward(model, np.reshape(u, (4, 1))), [rate, -rate],
                               atol=1e-15)


def test_membranes_persist_within_a_pass_and_restart_between_passes():
    model = one_neuron_model(2, neuron="if", reset="hard", v_threshold=1.0, v_reset=0.0)
    # 0.6 + 0.6 = 1.2 -> the second step spikes; a second pass starts again from 0.
    u = np.full((2, 2, 1), 0.6)
    np.testing.assert_allclose(ref.forward_batch(model, u), [[0.5, -0.5], [0.5, -0.5]])


def test_bias_and_dequantized_weights():
    # Real weight = int8 * scale; the bias is added to I each step.
    layer = rf.Layer("linear", (2, 1, 1), (2, 1, 1), weight=np.array([[2, -1], [0, 4]], np.int8),
                     scale=np.array([0.5, 0.25], np.float32),
                     bias=np.array([0.125, -1.0], np.float32))
    model = rf.Model((2, 1, 1), 2, 2, "gaussian", 1.0, [layer])
    u = np.array([[1.0, 2.0], [3.0, -2.0]])
    # step 1: [0.5*(2*1 - 2) + 0.125, 0.25*(4*2) - 1] = [0.125, 1.0]
    # step 2: [0.5*(6 + 2) + 0.125, 0.25*(-8) - 1] = [4.125, -3.0]
    np.testing.assert_allclose(ref.forward(model, u), [2.125, -1.0], atol=1e-15)


# --------------------------------------------------------------------------------------------
# conv2d, pools, flatten
# --------------------------------------------------------------------------------------------

X3 = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # [[1,2,3],[4,5,6],[7,8,9]]


def test_conv2d_by_hand_padding_and_stride():
    # Kernel [[1, 0], [0, -1]] (asymmetric: cross-correlation, not convolution), bias 0.5,
    # padding 1, stride 2 on the 3x3 input above. The padded input is
    #   0 0 0 0 0 / 0 1 2 3 0 / 0 4 5 6 0 / 0 7 8 9 0 / 0 0 0 0 0
    # out[y, x] = p[2y, 2x] - p[2y+1, 2x+1] + 0.5:
    #   (0,0): 0 - 1 + .5 = -0.5   (0,1): 0 - 3 + .5 = -2.5
    #   (1,0): 0 - 7 + .5 = -6.5   (1,1): 5 - 9 + .5 = -3.5
    expect = np.array([[-0.5, -2.5], [-6.5, -3.5]])
    w = np.array([[[[1, 0], [0, -1]]]], dtype=np.int8)
    out = ref.conv2d_ref(X3, w.astype(float), np.array([0.5]), stride=(2, 2), padding=(1, 1))
    np.testing.assert_array_equal(out[0, 0], expect)
    # The same through a model: the conv feeds a flatten and an identity logits layer.
    conv = rf.Layer("conv2d", (1, 3, 3), (1, 2, 2), kernel=(2, 2), stride=(2, 2),
                    padding=(1, 1), weight=w, scale=np.ones(1, np.float32),
                    bias=np.array([0.5], np.float32))
    np.testing.assert_array_equal(ref._synapse(conv, X3), expect[None, None])


def test_conv2d_by_hand_two_channels():
    # 2 input channels, 1x2 kernel, no padding, stride (1, 2); out channel o sums both inputs.
    a = np.stack([X3[0, 0], 10 * X3[0, 0]])[None]  # (1, 2, 3, 3)
    w = np.array([[[[1, 2]], [[0, 1]]],  # o=0: ch0 [1,2], ch1 [0,1]
                  [[[-1, 0]], [[1, 0]]]], dtype=float)  # o=1: -ch0[.,x] + ch1[.,x]
    out = ref.conv2d_ref(a, w, np.array([0.0, 1.0]), stride=(1, 2), padding=(0, 0))
    assert out.shape == (1, 2, 3, 1)
    # o=0 row r: a0[r,0] + 2 a0[r,1] + a1[r,1];  o=1: -a0[r,0] + a1[r,0] + 1
    rows = X3[0, 0]
    np.testing.assert_array_equal(out[0, 0, :, 0], rows[:, 0] + 2 * rows[:, 1] + 10 * rows[:, 1])
    np.testing.assert_array_equal(out[0, 1, :, 0], -rows[:, 0] + 10 * rows[:, 0] + 1)


def test_avgpool_vs_sumpool_by_hand():
    # kernel 2, stride 2, padding 1 on the 3x3 input: windows (with zero padding)
    #   (0,0): {0,0,0,1} = 1   (0,1): {0,0,2,3} = 5   (1,0): {0,4,0,7} = 11   (1,1): {5,6,8,9} = 28
    sums = np.array([[1.0, 5.0], [11.0, 28.0]])
    s = ref.pool2d_ref(X3, (2, 2), (2, 2), (1, 1), average=False)
    a = ref.pool2d_ref(X3, (2, 2), (2, 2), (1, 1), average=True)
    np.testing.assert_array_equal(s[0, 0], sums)
    np.testing.assert_array_equal(a[0, 0], sums / 4)  # always / (kh*kw), padding included
    for kind, expect in (("sumpool2d", sums), ("avgpool2d", sums / 4)):
        pool = getattr(rf, kind)((1, 3, 3), 2, padding=1)
        model = rf.Model((1, 3, 3), 4, 1, "direct", 0.0,
                         [pool, rf.flatten((1, 2, 2)), identity_readout(4)])
        np.testing.assert_array_equal(ref.forward(model, X3.reshape(1, 9)), expect.reshape(-1))


def test_pool_rectangular_kernel_and_stride():
    x = np.arange(20.0).reshape(1, 1, 4, 5)
    out = ref.pool2d_ref(x, (2, 3), (2, 1), (0, 0), average=False)
    assert out.shape == (1, 1, 2, 3)
    for y in range(2):
        for xx in range(3):
            assert out[0, 0, y, xx] == x[0, 0, 2 * y:2 * y + 2, xx:xx + 3].sum()


def test_flatten_is_channels_first():
    shape = (2, 2, 3)
    x = np.arange(12.0).reshape(shape)  # x[c, h, w] = 6c + 3h + w
    model = rf.Model(shape, 12, 1, "direct", 0.0, [rf.flatten(shape), identity_readout(12)])
    logits = ref.forward(model, x.reshape(1, *shape))
    np.testing.assert_array_equal(logits, np.arange(12.0))
    # Also (T, d) inputs are read channels-first.
    np.testing.assert_array_equal(ref.forward(model, x.reshape(1, 12)), np.arange(12.0))


def naive_conv(a, w, b, stride, pad):
    """Straight loops, no im2col."""
    n, c, h, wd = a.shape
    o, _, kh, kw = w.shape
    oh = (h + 2 * pad[0] - kh) // stride[0] + 1
    ow = (wd + 2 * pad[1] - kw) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    for bi in range(n):
        for oc in range(o):
            for y in range(oh):
                for x in range(ow):
                    acc = b[oc]
                    for ic in range(c):
                        for i in range(kh):
                            for j in range(kw):
                                r = y * stride[0] + i - pad[0]
                                q = x * stride[1] + j - pad[1]
                                if 0 <= r < h and 0 <= q < wd:
                                    acc += w[oc, ic, i, j] * a[bi, ic, r, q]
                    out[bi, oc, y, x] = acc
    return out


def naive_pool(a, k, stride, pad, average):
    n, c, h, wd = a.shape
    oh = (h + 2 * pad[0] - k[0]) // stride[0] + 1
    ow = (wd + 2 * pad[1] - k[1]) // stride[1] + 1
    out = np.zeros((n, c, oh, ow))
    for y in range(oh):
        for x in range(ow):
            for i in range(k[0]):
                for j in range(k[1]):
                    r, q = y * stride[0] + i - pad[0], x * stride[1] + j - pad[1]
                    if 0 <= r < h and 0 <= q < wd:
                        out[:, :, y, x] += a[:, :, r, q]
    return out / (k[0] * k[1]) if average else out


def _random_geometry(rng):
    kh, kw = rng.integers(1, 5, size=2)
    sh, sw = rng.integers(1, 4, size=2)
    ph, pw = rng.integers(0, kh), rng.integers(0, kw)
    h = int(rng.integers(max(1, kh - 2 * ph), 10))
    w = int(rng.integers(max(1, kw - 2 * pw), 10))
    return (int(kh), int(kw)), (int(sh), int(sw)), (int(ph), int(pw)), h, w


def test_conv2d_matches_naive_loops():
    rng = np.random.default_rng(0)
    for _ in range(40):
        k, s, p, h, w = _random_geometry(rng)
        c, o, n = (int(v) for v in rng.integers(1, 4, size=3))
        a = rng.normal(size=(n, c, h, w))
        wt = rng.normal(size=(o, c, *k))
        b = rng.normal(size=o)
        np.testing.assert_allclose(ref.conv2d_ref(a, wt, b, s, p), naive_conv(a, wt, b, s, p),
                                   rtol=1e-12, atol=1e-12)


def test_pools_match_naive_loops():
    rng = np.random.default_rng(1)
    for _ in range(40):
        k, s, p, h, w = _random_geometry(rng)
        a = rng.normal(size=(2, 3, h, w))
        for avg in (False, True):
            np.testing.assert_allclose(ref.pool2d_ref(a, k, s, p, avg),
                                       naive_pool(a, k, s, p, avg), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------
# A whole network against a naive per-sample, per-step loop
# --------------------------------------------------------------------------------------------

def naive_forward(model: rf.Model, u: np.ndarray) -> np.ndarray:
    """One pass, written independently of reference.py: loops over steps and layers, the
    naive conv/pool above, explicit neuron equations."""
    t_steps = model.time_steps
    u = np.asarray(u, dtype=np.float64).reshape(t_steps, *model.input_shape)
    last = max(i for i, l in enumerate(model.layers) if l.weighted)
    v = {i: np.full(l.out_shape, float(l.v_reset)) for i, l in enumerate(model.layers)
         if l.neuron}
    total = 0.0
    for t in range(t_steps):
        a = u[t]
        for i, l in enumerate(model.layers[:last + 1]):
            if l.kind == "conv2d":
                wr = l.weight.astype(float) * l.scale.astype(float)[:, None, None, None]
                a = naive_conv(a[None], wr, l.bias.astype(float), l.stride, l.padding)[0]
            elif l.kind == "linear":
                wr = l.weight.astype(float) * l.scale.astype(float)[:, None]
                a = (wr @ a.reshape(-1) + l.bias.astype(float)).reshape(-1, 1, 1)
            elif l.kind in ("avgpool2d", "sumpool2d"):
                a = naive_pool(a[None], l.kernel, l.stride, l.padding, l.kind == "avgpool2d")[0]
            else:
                a = a.reshape(-1, 1, 1)
            if l.neuron:
                vv = v[i]
                if l.neuron == "lif":
                    h = vv + (a - (vv - l.v_reset)) / l.tau
                else:
                    h = vv + a
                s = (h >= l.v_threshold).astype(float)
                v[i] = np.where(s > 0, l.v_reset, h) if l.reset == "hard" else h - s * l.v_threshold
                a = s
        total = total + a.reshape(-1)
    return total / t_steps


@pytest.mark.parametrize("kw", [
    dict(),
    dict(neuron="if", reset="soft", coding="gaussian-shared", time_steps=3, conv2_stride=2),
    dict(input_shape=(2, 7, 9), channels=(3, 4), hidden=6, classes=5, reset="soft", tau=3.0,
         v_threshold=0.5, v_reset=-0.25, coding="poisson", time_steps=5),
])
def test_network_matches_naive_loops(kw):
    model = rm.random_conv_snn(11, **kw)
    rng = np.random.default_rng(2)
    x = rng.random((6,) + model.input_shape)
    u = np.concatenate([ref.encode_batch(model, xi, 1, rng) for xi in x])
    batch = ref.forward_batch(model, u)
    for i in range(len(u)):
        expect = naive_forward(model, u[i])
        np.testing.assert_allclose(batch[i], expect, rtol=1e-10, atol=1e-10)
        np.testing.assert_array_equal(ref.forward(model, u[i]), batch[i])


def test_forward_accepts_flat_inputs_and_checks_shape():
    model = rm.random_conv_snn(0)
    u = ref.encode(model, np.full(model.input_shape, 0.5), np.random.default_rng(0))
    np.testing.assert_array_equal(ref.forward(model, u), ref.forward(model, u.reshape(4, -1)))
    with pytest.raises(ValueError, match="time steps"):
        ref.forward(model, u[:3])
    with pytest.raises(ValueError, match="inputs"):
        ref.forward(model, u.reshape(4, 12, 12))


def test_predict_lowest_index_on_ties():
    layer = exact_linear(1, [[0], [1], [1]], [0.0, 0.0, 0.0])
    model = rf.Model((1, 1, 1), 3, 1, "direct", 0.0, [layer])
    assert ref.predict(model, [[1.0]]) == 1
    assert ref.predict(model, [[0.0]]) == 0


# --------------------------------------------------------------------------------------------
# Coding
# --------------------------------------------------------------------------------------------

def _coded(coding, sigma, t=4, shape=(2, 3, 3)):
    layers = [rf.flatten(shape), rf.linear(int(np.prod(shape)), np.ones((2, 18)))]
    return rf.Model(shape, 2, t, coding, sigma, layers)


def test_encode_direct_and_poisson():
    rng = np.random.default_rng(0)
    x = np.linspace(-0.5, 1.5, 18).reshape(2, 3, 3)
    u = ref.encode(_coded("direct", 0.0), x, rng)
    assert u.shape == (4, 2, 3, 3) and np.all(u == x)
    p = ref.encode_batch(_coded("poisson", 0.0), x, 4000, rng)
    assert set(np.unique(p)) <= {0.0, 1.0}
    freq = p.mean(axis=(0, 1))
    np.testing.assert_allclose(freq, np.clip(x, 0, 1), atol=0.02)
    assert np.all(freq[x <= 0] == 0) and np.all(freq[x >= 1] == 1)


def test_encode_gaussian_fresh_vs_shared():
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 18).reshape(2, 3, 3)
    g = ref.encode_batch(_coded("gaussian", 0.5), x.reshape(-1), 3000, rng)
    s = ref.encode_batch(_coded("gaussian-shared", 0.5), x, 3000, rng)
    assert g.shape == s.shape == (3000, 4, 2, 3, 3)
    for u in (g, s):
        np.testing.assert_allclose(u.mean(axis=0), np.broadcast_to(x, (4, 2, 3, 3)), atol=0.05)
        np.testing.assert_allclose((u - x).std(axis=0), 0.5, atol=0.03)
    assert np.all(s == s[:, :1])  # one draw per pass, reused each step
    corr = np.corrcoef((g[:, 0] - x).reshape(-1), (g[:, 1] - x).reshape(-1))[0, 1]
    assert abs(corr) < 0.03  # fresh draws each step
    e = ref.encode(_coded("gaussian", 0.5), x, np.random.default_rng(1))
    assert e.shape == (4, 2, 3, 3)


# --------------------------------------------------------------------------------------------
# The models used by the tests
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [
    dict(),
    dict(neuron="if", reset="soft", coding="gaussian-shared", time_steps=3, conv2_stride=2),
    dict(coding="poisson", time_steps=8),
    dict(coding="direct", tau=4.0, v_threshold=0.5, v_reset=-0.5),
])
def test_random_conv_snn_fires_moderately(kw):
    model = rm.random_conv_snn(3, **kw)
    rng = np.random.default_rng(7)
    x = rng.random((100,) + model.input_shape)
    u = np.concatenate([ref.encode_batch(model, xi, 1, rng) for xi in x])
    rates = [r for r in ref.firing_rates(model, u) if r is not None]
    assert len(rates) == 3
    assert all(0.1 <= r <= 0.4 for r in rates), rates
    preds = ref.predict_batch(model, u)
    assert len(np.unique(preds)) >= 2  # not a constant classifier


def test_random_models_are_deterministic():
    assert rf.to_bytes(rm.random_conv_snn(9)) == rf.to_bytes(rm.random_conv_snn(9))
    assert rf.to_bytes(rm.random_conv_snn(9)) != rf.to_bytes(rm.random_conv_snn(10))


def test_linear_classifier_is_affine_in_mean_input():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(4, 6))
    b = rng.normal(size=4)
    model = rm.linear_classifier(w, b, input_shape=(1, 2, 3), time_steps=5, sigma=0.5)
    assert [l.kind for l in model.layers] == ["flatten", "linear"]
    lin = model.layers[-1]
    u = ref.encode(model, rng.random(6), rng).reshape(5, 6)
    expect = lin.real_weight() @ u.mean(axis=0) + lin.bias.astype(float)
    np.testing.assert_allclose(ref.forward(model, u), expect, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lin.real_weight(), w, atol=np.abs(w).max() / 254 + 1e-12)
    vec = rm.linear_classifier(w, b)
    assert [l.kind for l in vec.layers] == ["linear"] and vec.input_shape == (6, 1, 1)
