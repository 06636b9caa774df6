"""rsc_forward against the float64 reference (bindings/python/rsc/reference.py).

Tolerance: where every spike agrees, rsc's logits differ from the reference only by float32
rounding: spike-fed layers add exact int8 rows into int32 and scale them in double; the analog
first layer sums in float32 (relative error ~1e-7 of the sum of |w x|); rsc_forward returns
float32. So on such draws |dlogit| <= 1e-5 * max(1, |logit|). A spike can still flip where a
membrane lands within a fixed-point unit (~1e-7 of the threshold, docs/kernel.md) of v_threshold:
that must be rare (< 1% of draws) and must almost never change the argmax (>= 99.5% agree)."""
import json
from pathlib import Path

import numpy as np
import pytest

import rsc
from rsc import models, reference as ref

FIXTURES = Path(__file__).resolve().parents[3] / "Tests" / "Fixtures"

CONFIGS = {
    "lif-hard-gaussian": dict(),
    "if-soft-gaussian": dict(neuron="if", reset="soft"),
    "lif-shared-stride2": dict(coding="gaussian-shared", sigma=0.5, conv2_stride=2),
    "lif-3ch-T8": dict(input_shape=(3, 10, 10), time_steps=8),
    # The kernel's two LIF forms: leak < 2^16 in 32-bit lanes (above), tau = 1 (leak = 2^16) in
    # 64-bit products; with soft reset, which the rows above do not combine with LIF.
    "lif-soft-tau1": dict(reset="soft", tau=1.0),
    "lif-soft-tau1.5": dict(reset="soft", tau=1.5),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_forward_agrees_with_reference_on_1000_draws(name, write):
    spec = models.random_conv_snn(seed=11, **CONFIGS[name])
    model = rsc.load(write(spec))
    rng = np.random.default_rng(2024)
    u = np.stack([ref.encode(spec, rng.random(spec.input_shape), rng) for _ in range(1000)])
    u = u.astype(np.float32)
    expected = ref.forward_batch(spec, u.astype(np.float64))
    got = np.stack([model.forward(ui) for ui in u])
    agree = (got.argmax(1) == expected.argmax(1)).mean()
    close = (np.abs(got - expected) <= 1e-5 * np.maximum(1, np.abs(expected))).all(axis=1).mean()
    print(f"{name}: argmax agreement {agree:.3f}, logits within float32 rounding {close:.3f}")
    assert agree >= 0.995
    assert close >= 0.99


@pytest.mark.parametrize("name", ["tiny_linear", "conv_lif", "conv_if_soft", "poisson_mlp", "direct_mlp"])
def test_fixture_logits(name):
    side = json.loads((FIXTURES / f"{name}.json").read_text())
    model = rsc.load(FIXTURES / f"{name}.rscm")
    logits = model.forward(np.array(side["u"], dtype=np.float32))
    np.testing.assert_allclose(logits, side["logits"], rtol=1e-5, atol=1e-5)
    assert int(np.argmax(logits)) == side["prediction"]
    assert model.info.name == side["name"] and model.info.coding == side["coding"]
    assert model.info.class_names == tuple(side["class_names"])


@pytest.mark.parametrize("pool", ["avgpool2d", "sumpool2d"])
def test_pooling_the_analog_input(pool, write):
    """Pools directly on the coded input (float maps), ahead of the first weighted layer."""
    from rsc import format as rf
    rng = np.random.default_rng(7)
    spec = rf.build_model((2, 8, 8), [
        (pool, 2),
        ("conv2d", rng.normal(0, 0.8, (6, 2, 3, 3)), rng.normal(0, 0.2, 6), {"padding": 1, "neuron": "lif"}),
        ("flatten",),
        ("linear", rng.normal(0, 1, (4, 96))),
    ], time_steps=3, coding="gaussian", sigma=0.3)
    model = rsc.load(write(spec))
    u = np.stack([ref.encode(spec, rng.random(spec.input_shape), rng) for _ in range(300)]).astype(np.float32)
    expected = ref.forward_batch(spec, u.astype(np.float64))
    got = np.stack([model.forward(ui) for ui in u])
    spikes = ref.firing_rates(spec, u.astype(np.float64))[1]
    assert 0.05 < spikes < 0.95, spikes
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.99
    assert (np.abs(got - expected) <= 1e-5 * np.maximum(1, np.abs(expected))).all(axis=1).mean() >= 0.97


@pytest.mark.parametrize("tau", [3.0, 65.06, 1000.0, 3e4, 1e5, 2e5])
def test_lif_leak_is_exact_for_any_tau(tau, write):
    """1/tau was a Q16 multiplier: 0.7% off at tau = 1000 (snnTorch's beta = 0.999 through NIR),
    53% at 1e5, and no leak at all beyond 131072. 512 steps accumulate any leak error."""
    from rsc import format as rf
    m = rf.build_model((4, 1, 1), [
        ("flatten",), ("linear", np.eye(4) * 1000.0, np.zeros(4),
                       {"neuron": "lif", "tau": tau, "v_threshold": 0.7}),
        ("linear", np.eye(4))], time_steps=512, coding="direct", sigma=0.0)
    u = np.broadcast_to(np.array([1.0, 0.3, 0.1, 0.0], np.float32), (512, 4)).copy()
    assert np.allclose(rsc.load(write(m)).forward(u), ref.forward(m, u), atol=1e-6)


def test_analog_sum_pool_gain_is_in_the_current_range(write):
    """A sum pool of the analog input multiplies its range by kh*kw; the current range ignored
    that, so a 16x16 pool of 0.9 saturated (logits 6.8x too small)."""
    from rsc import format as rf
    m = rf.build_model((1, 16, 16), [
        ("sumpool2d", 16), ("flatten",),
        ("linear", np.ones((4, 1)), np.zeros(4), {"neuron": "if", "v_threshold": 1000.0}),
        ("linear", np.eye(2, 4))], time_steps=512, coding="direct", sigma=0.0)
    u = np.full((512, 1, 16, 16), 0.9, np.float32)
    assert np.allclose(rsc.load(write(m)).forward(u), ref.forward(m, u), atol=1e-6)
