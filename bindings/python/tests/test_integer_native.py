"""Arithmetic 1 (docs/format.md, "Arithmetic"): the runtime computes the integer pipeline that
`rsc.reference` computes, to the last bit, and every hand-written kernel path gives the same.

For an integer model the classifier is defined by integers (the input grid, exact int32
accumulators, binary32 currents, int32 membranes), so there is no tolerance here: rsc_forward's
float32 logits must equal the reference's float64 logits rounded to float32, on every draw. The
models cover conv chains (LIF/IF, hard/soft reset, strides, 3 channels, T = 8, tau 1 and 1.5),
an MLP, residual graphs of both styles (sum of currents, SEW ADD and IAND, decay_input False),
and pools of the quantized input itself."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rsc
from rsc import format as rf
from rsc import graph as rg
from rsc import models
from rsc import reference as ref

REPO = Path(__file__).resolve().parents[3]


def integer(model: rf.Model, shift: int = 12, limit: int = 32767) -> rf.Model:
    model.arithmetic, model.input_shift, model.input_limit = "integer", shift, limit
    return model


CASES = {
    "conv-lif-hard": lambda: models.random_conv_snn(11),
    "conv-if-soft": lambda: models.random_conv_snn(12, neuron="if", reset="soft"),
    "conv-shared-stride2": lambda: models.random_conv_snn(13, coding="gaussian-shared", sigma=0.5, conv2_stride=2),
    "conv-3ch-T8": lambda: models.random_conv_snn(14, input_shape=(3, 10, 10), time_steps=8),
    "conv-soft-tau1": lambda: models.random_conv_snn(15, reset="soft", tau=1.0),
    "conv-soft-tau1.5": lambda: models.random_conv_snn(16, reset="soft", tau=1.5),
    "mlp-gaussian": lambda: models.random_mlp(17, coding="gaussian", sigma=0.4, time_steps=4),
    # IF over 1024 steps: the unit is coarse (about 1e-3 of the threshold, docs/kernel.md), so a
    # current rounded the other way shows in the spikes.
    "mlp-if-T1024": lambda: models.random_mlp(23, coding="gaussian", sigma=0.4, time_steps=1024, neuron="if"),
    "resnet-spiking": lambda: models.random_resnet(18, style="spiking"),
    "resnet-sew-add": lambda: models.random_resnet(19, style="sew"),
    "resnet-sew-iand-nodecay": lambda: models.random_resnet(20, style="sew", connect="IAND", decay_input=False),
}


def pools_of_the_input() -> rf.Model:
    """maxpool2d and avgpool2d of the quantized input itself (int16 window maxima and sums)."""
    rng = np.random.default_rng(21)
    g = rg.Graph((2, 8, 8))
    a = g.lif(g.conv2d(g.maxpool2d(g.input, 2), rng.normal(0, 0.6, (6, 2, 3, 3)), rng.normal(0.4, 0.1, 6),
                       padding=1))
    b = g.lif(g.conv2d(g.avgpool2d(g.input, 2), rng.normal(0, 0.6, (6, 2, 3, 3)), rng.normal(0.4, 0.1, 6),
                       padding=1))
    g.linear(g.flatten(g.add(a, b)), rng.normal(0, 0.3, (5, 96)))
    return g.build(time_steps=4, coding="gaussian", sigma=0.3, name="input-pools")


CASES["input-pools"] = pools_of_the_input


def draws(model: rf.Model, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    u = np.stack([ref.encode(model, rng.random(model.input_shape), rng) for _ in range(n)])
    return u.astype(np.float32)


@pytest.mark.parametrize("name", CASES)
def test_forward_equals_the_reference_bit_for_bit(name, write):
    spec = integer(CASES[name](), 10, 8000)  # 8000 x 4 (an input pool's window) fits int16
    model = rsc.load(write(spec))
    u = draws(spec, 300, 7)
    expected = ref.forward_batch(spec, u).astype(np.float32)
    got = np.stack([model.forward(ui) for ui in u])
    mismatched = int((got != expected).any(axis=1).sum())
    assert mismatched == 0, f"{name}: {mismatched} of {len(u)} draws differ"
    # Not a constant classifier: the draws reach several classes.
    assert len(set(expected.argmax(1).tolist())) >= 2


def test_the_clamp_and_half_to_even_rounding_match(write):
    """Inputs far outside the grid's range and exactly halfway between grid points."""
    spec = integer(models.random_conv_snn(22, time_steps=2), 2, 9)  # grid 1/4, clamp at +-2.25
    model = rsc.load(write(spec))
    rng = np.random.default_rng(1)
    halves = (rng.integers(-12, 12, (200, 2) + spec.input_shape) + 0.5) / 4  # k/4 + 1/8
    u = np.concatenate([halves, rng.normal(0, 5, (200, 2) + spec.input_shape)]).astype(np.float32)
    expected = ref.forward_batch(spec, u).astype(np.float32)
    got = np.stack([model.forward(ui) for ui in u])
    assert np.array_equal(got, expected)


CHILD = r"""
import json, sys
import numpy as np
import rsc
out = {}
for path in json.loads(sys.argv[1]):
    m = rsc.load(path)
    rng = np.random.default_rng(3)
    xs = [rng.random(m.info.input_len) for _ in range(2)]
    out[path] = [m.predict(x, n=300, seed=5, stream=i, threads=2).counts.tolist() for i, x in enumerate(xs)]
print(json.dumps(out))
"""


def votes(paths, **env_set) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RSC_DISABLE_")}
    env.update(env_set)
    r = subprocess.run([sys.executable, "-c", CHILD, json.dumps(paths)], env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_every_kernel_path_gives_the_same_votes(write):
    """The int16 input layer runs as AVX-512 VNNI vpdpwssd, AVX2 vpmaddwd or portable code, chosen
    per CPU; the switches force the others (read once per process, hence the subprocesses)."""
    paths = [write(integer(CASES[n](), 10, 8000)) for n in ("conv-3ch-T8", "resnet-sew-add", "input-pools")]
    default = votes(paths)
    for switch in ("RSC_DISABLE_VNNI", "RSC_DISABLE_AVX512", "RSC_DISABLE_AVX2"):
        assert votes(paths, **{switch: "1"}) == default, switch


def test_the_arithmetic_is_reported(write):
    spec = models.random_conv_snn(24)
    assert (rsc.load(write(spec)).info.arithmetic, rsc.load(write(spec)).info.input_shift) == ("float", 0)
    m = rsc.load(write(integer(spec, 11, 30000)))
    assert (m.info.arithmetic, m.info.input_shift, m.info.input_limit) == ("integer", 11, 30000)
    assert "integer arithmetic" in repr(m)
    cli = REPO / ".build" / "release" / "rsc-cli"  # as tests/test_cli.py
    out = subprocess.run([str(cli), "info", m.path], capture_output=True, text=True).stdout
    assert "arithmetic   integer (input grid 2^-11, clamped to +-30000)" in out


def test_input_sums_beyond_int16_are_refused_alike(write):
    """An average pool of the input sums 4 grid values: with the clamp at 32767 they can leave
    int16, and the loader and rsc.fixedpoint refuse the model with the same status."""
    from rsc import fixedpoint
    from rsc.errors import LimitError
    spec = integer(pools_of_the_input(), 10, 32767)
    with pytest.raises(LimitError, match="int16"):
        rsc.load(write(spec))
    with pytest.raises(LimitError):
        fixedpoint.plan(spec)
    assert rsc.load(write(integer(pools_of_the_input(), 10, 8191))).info.arithmetic == "integer"
