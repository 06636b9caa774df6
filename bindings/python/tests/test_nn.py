"""rsc.nn (the torch building blocks) against docs/format.md, written out here in numpy.

Skips when torch is not installed (pip install torch==2.13.0)."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed: pip install torch==2.13.0")


pytestmark = pytest.mark.usefixtures("torch_one_thread")


from rsc import nn as rnn  # noqa: E402


def numpy_neuron(currents, neuron, tau, v_th, v_reset, reset):
    """docs/format.md, literally: currents (T, ...) float64 -> spikes (T, ...)."""
    v = np.full(currents.shape[1:], v_reset, dtype=np.float64)
    out = []
    for i in currents:
        h = v + (i - (v - v_reset)) / tau if neuron == "lif" else v + i
        s = h >= v_th
        v = np.where(s, v_reset, h) if reset == "hard" else h - s * v_th
        out.append(s.astype(np.float64))
    return np.stack(out)


@pytest.mark.parametrize("neuron,tau,v_th,v_reset,reset", [
    ("lif", 2.0, 1.0, 0.0, "hard"),
    ("lif", 3.5, 0.7, -0.2, "hard"),
    ("lif", 2.0, 1.0, 0.0, "soft"),
    ("if", 0.0, 1.0, 0.0, "hard"),
    ("if", 0.0, 0.5, 0.1, "soft"),
])
def test_neuron_matches_format(neuron, tau, v_th, v_reset, reset):
    rng = np.random.default_rng(0)
    cur = rng.normal(0.6, 1.0, size=(8, 64, 5))
    kw = dict(v_threshold=v_th, v_reset=v_reset, reset=reset)
    mod = rnn.LIF(tau=tau, **kw) if neuron == "lif" else rnn.IF(**kw)
    got = mod(torch.from_numpy(cur)).numpy()
    want = numpy_neuron(cur, neuron, tau, v_th, v_reset, reset)
    assert np.array_equal(got, want)
    assert 0.05 < want.mean() < 0.95  # the test exercises both spikes and silence


def test_spike_at_exact_threshold():
    # h == v_threshold spikes (>=), as rsc's runtime and reference do.
    mod = rnn.IF(v_threshold=1.0)
    s = mod(torch.tensor([[1.0], [0.5], [0.5]], dtype=torch.float64))
    assert s.flatten().tolist() == [1.0, 0.0, 1.0]


def test_surrogate_gradient_is_atan():
    x = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    rnn.spike(x, 2.0).sum().backward()
    want = 1.0 / (1 + (math.pi * x.detach()) ** 2)  # alpha/2 / (1 + (pi/2 alpha x)^2), alpha 2
    assert torch.allclose(x.grad, want)


def test_lif_backpropagates_through_time():
    cur = torch.full((4, 3), 0.9, dtype=torch.float64, requires_grad=True)
    rnn.LIF(tau=2.0)(cur).sum().backward()
    assert cur.grad is not None and torch.all(cur.grad[0] > 0)


def test_coding():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 1, 6, 6, generator=g, dtype=torch.float64)
    u = rnn.RSCCoding(4, "gaussian", 0.5)(x, generator=g)
    assert u.shape == (4, 16, 1, 6, 6)
    noise = u - x
    assert abs(float(noise.std()) - 0.5) < 0.03 and abs(float(noise.mean())) < 0.03
    assert not torch.equal(u[0], u[1])  # fresh noise each step
    s = rnn.RSCCoding(4, "gaussian-shared", 0.5)(x, generator=g)
    assert torch.equal(s[0], s[3]) and not torch.equal(s[0], x)
    d = rnn.RSCCoding(3, "direct")(x)
    assert d.shape == (3, 16, 1, 6, 6) and torch.equal(d[2], x)
    p = rnn.RSCCoding(50, "poisson")(x, generator=g)
    assert set(p.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(p.mean(0), x, atol=0.25)
    # Its gradient is that of the expectation (straight through), so attacks see one; the values
    # are the same draws as without gradient.
    xg = x.clone().requires_grad_(True)
    g2 = torch.Generator().manual_seed(5)
    pg = rnn.RSCCoding(50, "poisson")(xg, generator=g2)
    assert torch.equal(pg.detach(), rnn.RSCCoding(50, "poisson")(x, generator=g2.manual_seed(5)))
    (pg * torch.arange(50, dtype=x.dtype).view(50, 1, 1, 1, 1)).sum().backward()
    assert torch.allclose(xg.grad, torch.full_like(x, 49 * 50 / 2))
    with pytest.raises(ValueError):
        rnn.RSCCoding(4, "gaussian", 0.0)


def test_rscnet_multistep_equals_step_by_step():
    """Layer-by-layer over all T (training) == rsc's loop: every layer once per step."""
    torch.manual_seed(0)
    net = rnn.RSCNet(input_shape=(1, 12, 12), channels=(4, 6), hidden=16, num_classes=5,
                     time_steps=4, sigma=0.3, batch_norm=False).double().eval()
    with torch.no_grad():
        for m in net.body:
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.weight.mul_(4.0)
    u = net.coding(torch.rand(8, 1, 12, 12, dtype=torch.float64))
    want = net.forward_steps(u)
    # step by step with explicit membranes
    layers = list(net.body)
    v = {}
    total = 0
    for t in range(u.shape[0]):
        a = u[t]
        for k, m in enumerate(layers):
            if isinstance(m, rnn.SpikingNeuron):
                vk = v.get(k, torch.full_like(a, m.v_reset))
                h = m.charge(vk, a)
                s = (h >= m.v_threshold).to(a.dtype)
                v[k] = torch.where(s > 0, torch.full_like(h, m.v_reset), h)
                a = s
            else:
                a = m(a)
        total = total + a
    assert torch.allclose(want, total / u.shape[0])
    rates = net.firing_rates(torch.rand(8, 1, 12, 12, dtype=torch.float64))
    assert len(rates) == 3 and all(0 <= r <= 1 for r in rates)


def test_rscnet_shapes_and_training_step():
    torch.manual_seed(0)
    net = rnn.RSCNet(time_steps=2, sigma=0.25)
    x = torch.rand(4, 1, 28, 28)
    y = torch.tensor([0, 1, 2, 3])
    out = net(x)
    assert out.shape == (4, 10)
    loss = torch.nn.functional.cross_entropy(out, y)
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())
    sum_net = rnn.RSCNet(input_shape=(1, 8, 8), channels=(2, 2), hidden=4, pool="sum",
                         neuron="if", batch_norm=False)
    assert sum_net(torch.rand(2, 1, 8, 8)).shape == (2, 10)


def test_fold_batch_norm_and_int8_parametrization():
    from rsc import format as rf
    torch.manual_seed(4)
    net = rnn.RSCNet(input_shape=(1, 10, 10), channels=(4, 6), hidden=8, num_classes=3,
                     time_steps=3, sigma=0.2).double()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.2, 3)
                m.weight.uniform_(0.5, 2)
                m.bias.uniform_(-1, 1)
    net.eval()
    folded = rnn.fold_batch_norm(net).double().eval()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    u = net.coding(torch.rand(6, 1, 10, 10, dtype=torch.float64))
    with torch.no_grad():
        a = rnn.multistep(net.body[1], rnn.multistep(net.body[0], u))
        b = rnn.multistep(folded.body[0], u)
    assert torch.allclose(a, b, atol=1e-12)
    # Int8PerChannel rounds exactly as rsc.format.quantize_per_channel; removing it keeps
    # the rounded weights.
    rnn.quantize_weights(folded)
    w = folded.body[3].weight.detach().numpy()
    q, s = rf.quantize_per_channel(w)
    assert np.abs(q * s.astype(np.float64)[:, None, None, None] - w).max() < 1e-12
    x = folded.body[3].parametrizations.weight.original
    x.grad = None
    folded.body[3].weight.sum().backward()
    assert torch.all(x.grad == 1)  # straight-through
    rnn.quantize_weights(folded, enable=False)
    assert np.array_equal(folded.body[3].weight.detach().numpy(), w)


def test_train_script_smoke(tmp_path, librsc, make_fmnist_idx):
    """python3 -m rsc.train end to end on a tiny data set (idx files made from the shipped
    images): trains, int8-aware fine-tunes, converts, writes, validates with the runtime."""
    import rsc
    from rsc import train
    from rsc.convert import torch as ct
    make_fmnist_idx(tmp_path, 256, 64)
    out, ck = tmp_path / "m.rscm", tmp_path / "m.pt"
    assert train.main(["--sigma", "0.25", "--epochs", "1", "--batch", "64", "--qat-steps", "2",
                       "--data", str(tmp_path), "--out", str(out), "--checkpoint", str(ck),
                       "--threads", "1", "--eval-count", "32", "--validate-count", "4",
                       "--validate-predict", "2", "--predict-n", "20"]) == 0
    m = rsc.load(out)
    assert m.info.sigma == pytest.approx(0.25) and m.info.time_steps == 4
    assert m.info.class_names[0] == "T-shirt/top"
    net = ct.load_checkpoint(ck)
    model, report = ct.convert_module(net)
    assert all(r["rel_l2_error"] < 1e-6 for r in report)  # int8-aware: on the grid
