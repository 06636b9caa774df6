"""Real-peer tests of rsc.convert.nir beyond the snnTorch chain (tests/test_snntorch_peer.py):
a residual snnTorch network (fan-in -> format v2 `add` nodes) and a Norse network, each exported
to NIR by the peer's own code, converted by rsc, run by rsc's runtime (`rsc_forward`, int8) and
compared with the peer's own forward on 500 noisy inputs (shipped Fashion-MNIST test images plus
N(0, 0.25^2) noise drawn fresh at every step, T = 4). Sinabs needs its own nir:
tests/test_convert_nir_sinabs.py.

Weights lie on rsc's int8 grid (rounded inside the peer before export), so the conversion is
lossless and the only differences left are float32 rounding: the peers run float32, rsc's
runtime int8 products with int32 sums and fixed-point membranes (docs/kernel.md) and returns
float32 logits. That moves a logit by ~1e-7 and flips a spike only when a membrane lies within
~1e-6 of its threshold, so: argmax agreement >= 99% of inputs, max |logit difference| per input
below 1e-4 (logits up to ~12: 1e-5 relative) on >= 99% of inputs, median below 1e-5. A semantic error (a wrong
tau or dt, a dropped residual edge, a reset on the wrong side) moves logits by 1e-2 or more on
most inputs.

* snnTorch: its own NIR export (`snntorch.export_nir.export_to_nir`, snnTorch 1.0.0) cannot
  express a residual: it calls nirtorch's deprecated module-hook tracer
  (`nirtorch.extract_nir_graph`), which does not see the `+` and writes an edge from the
  summed branch straight to the Output plus a second Input node (the test checks rsc refuses
  that graph). The graph is therefore made by nirtorch's own tracer `nirtorch.torch_to_nir`
  (torch.fx; nirtorch 2.6), which writes `a + b` as two edges into the consumer (NIR's fan-in),
  with snnTorch's own per-module mapping `snntorch.export_nir._extract_snntorch_module` (the
  same nodes export_to_nir writes). The network has both residual styles: a current plus the
  block's input spikes into a Leaky (spiking_resnet) and two spike maps summed into a pool
  (SEW ADD).
* Norse 1.1.0: `norse.torch.to_nir` of Conv2d / LIFBoxCell layers. Norse writes
  tau = dt / tau_mem_inv, so rsc's dt is Norse's dt squared (docs/converters.md).

Skips unless torch, snntorch, nir, nirtorch and norse are installed (scripts/setup.sh).
"""

import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed: pip install torch==2.13.0")
snn = pytest.importorskip("snntorch", reason="snntorch not installed: pip install snntorch==1.0.0")
nir = pytest.importorskip("nir", reason="nir not installed: pip install nir==1.0.8")
nirtorch = pytest.importorskip("nirtorch", reason="nirtorch not installed: pip install nirtorch==2.6")

pytestmark = pytest.mark.usefixtures("torch_one_thread")

from rsc import format as rf  # noqa: E402
from rsc import reference as ref  # noqa: E402
from rsc.convert import ConversionError  # noqa: E402
from rsc.convert import nir as cn  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "models" / "data"
T = 4
SIGMA = 0.25
N = 500


def noisy_inputs(n=N, seed=1):
    """(n, T, 1, 28, 28) float32: image + sigma * N(0, 1), fresh per step."""
    x = np.load(DATA / "fmnist_test_1000_images.npy")[:n].astype(np.float32)
    rng = np.random.default_rng(seed)
    return (x[:, None] + SIGMA * rng.standard_normal((n, T) + x.shape[1:])).astype(np.float32)


def snap_to_grid(net):
    """Round every conv / linear weight to rsc's int8 grid, inside the peer's own module."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                q, s = rf.quantize_per_channel(m.weight.double().numpy())
                m.weight.copy_(torch.from_numpy(
                    q.astype(np.float64) * s.astype(np.float64).reshape((-1,) + (1,) * (q.ndim - 1))))


def rsc_logits(model, u, tmp_path):
    import rsc
    path = tmp_path / "peer.rscm"
    rf.write_model(model, path)
    m = rsc.load(path)
    return np.stack([m.forward(ui) for ui in u])


def check_agreement(want, got, what):
    agree = float((got.argmax(1) == want.argmax(1)).mean())
    diff = np.abs(got - want).max(axis=1)
    scale = float(np.median(np.abs(want).max(axis=1)))
    print(f"{what}: argmax agreement {agree:.3f} on {len(want)} noisy inputs; max |logit diff| "
          f"median {np.median(diff):.2e}, 99% {np.quantile(diff, 0.99):.2e} (logit scale "
          f"{scale:.2f}); {len(set(want.argmax(1)))} classes predicted")
    assert len(set(want.argmax(1))) >= 5  # not a constant classifier: the argmax test means something
    assert agree >= 0.99
    assert np.median(diff) < 1e-5
    assert (diff < 1e-4).mean() >= 0.99


# ---------------------------------------------------------------------------------------------
# snnTorch: a residual network
# ---------------------------------------------------------------------------------------------

def leaky(shape, beta):
    # Tensors of the layer's shape, so that the exported LIF node has its shape (see
    # test_snntorch_peer.py); reset to zero, the reset NIR's LIF defines.
    return snn.Leaky(beta=torch.full(shape, beta), threshold=torch.ones(shape),
                     init_hidden=True, reset_mechanism="zero")


class ResidualSNN(torch.nn.Module):
    """s1 = lif1(conv1(x)); s2 = lif2(conv2(s1) + s1)  (a current plus spikes: spiking_resnet);
    s3 = lif3(conv3(s2)); logits = fc(flatten(avgpool(s3 + s2)))  (spike counts: SEW ADD)."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.lif1 = leaky((8, 28, 28), 0.5)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.lif2 = leaky((8, 28, 28), 0.75)
        self.conv3 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.lif3 = leaky((8, 28, 28), 0.5)
        self.pool = torch.nn.AvgPool2d(2)
        self.flat = torch.nn.Flatten()
        self.fc = torch.nn.Linear(8 * 14 * 14, 10)

    def forward(self, x):
        s1 = self.lif1(self.conv1(x))
        s2 = self.lif2(self.conv2(s1) + s1)
        s3 = self.lif3(self.conv3(s2))
        return self.fc(self.flat(self.pool(s3 + s2)))


def snn_simulate(net, u):
    """snnTorch's own simulation of u (B, T, C, H, W): states reset, T calls, T-mean."""
    from snntorch import utils
    utils.reset(net)
    out = 0
    for t in range(u.shape[1]):
        out = out + net(u[:, t])
    return out / u.shape[1]


@pytest.fixture(scope="module")
def residual_snn():
    torch.manual_seed(0)
    x = np.load(DATA / "fmnist_test_1000_images.npy")
    y = np.load(DATA / "fmnist_test_1000_labels.npy")
    net = ResidualSNN()
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(3):  # a few seconds: confident outputs, not accuracy
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 50):
            idx = perm[i:i + 50]
            u = xt[idx][:, None].expand(-1, T, -1, -1, -1)
            loss = torch.nn.functional.cross_entropy(snn_simulate(net, u), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    snap_to_grid(net)
    return net


def snn_module_map():
    from snntorch.export_nir import _extract_snntorch_module
    return {c: _extract_snntorch_module for c in
            (torch.nn.Conv2d, torch.nn.Linear, torch.nn.AvgPool2d, torch.nn.Flatten, snn.Leaky)}


def test_snntorch_residual_fan_in_to_add(residual_snn, tmp_path, librsc):
    net = residual_snn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = nirtorch.torch_to_nir(net, snn_module_map(), type_check=False)
    preds = {}
    for a, b in graph.edges:
        preds.setdefault(b, set()).add(a)
    assert preds["lif2"] == {"conv2", "lif1"} and preds["pool"] == {"lif2", "lif3"}  # fan-in
    # Through a .nir file: torch_to_nir leaves the Input untyped; give it the sample's shape.
    graph.nodes["x"] = nir.Input(input_type=np.array([1, 28, 28]))
    graph.infer_types()
    path = tmp_path / "residual.nir"
    nir.write(str(path), graph)
    model, report = cn.convert_graph(path, dt=1e-4, time_steps=T, coding="gaussian",
                                     sigma=SIGMA, input_shape=(1, 28, 28))
    assert model.layers is None  # a version 2 graph
    kinds = [(nd.kind, tuple(sorted(nd.inputs)) if nd.kind == "add" else nd.inputs)
             for nd in model.nodes]
    assert kinds == [("conv2d", (0,)), ("lif", (1,)), ("conv2d", (2,)), ("add", (2, 3)),
                     ("lif", (4,)), ("conv2d", (5,)), ("lif", (6,)), ("add", (5, 7)),
                     ("avgpool2d", (8,)), ("flatten", (9,)), ("linear", (10,))], kinds
    lif1, lif2 = model.nodes[1], model.nodes[4]
    # lif1: decay_input, tau 1/(1-beta) = 2 and weights times r = 2 (as the chain converter);
    # lif2 sums spikes, which cannot be scaled: no decay_input, gain dt r / tau = 1, tau 4.
    assert lif1.decay_input and abs(lif1.tau - 2) < 1e-5
    assert not lif2.decay_input and abs(lif2.tau - 4) < 1e-5
    assert all(r["rel_l2_error"] < 1e-6 for r in report)  # lossless: int8-grid weights
    u = noisy_inputs()
    with torch.no_grad():
        want = snn_simulate(net, torch.from_numpy(u)).double().numpy()
    got = rsc_logits(model, u, tmp_path)
    check_agreement(want, got, "snnTorch residual vs rsc_forward")
    # Without the residual edges the network is another one: the check can fail.
    g2 = nir.read(str(path))
    g2.edges = [e for e in g2.edges if e != ("lif1", "lif2")]
    m2, _ = cn.convert_graph(g2, dt=1e-4, time_steps=T, coding="gaussian", sigma=SIGMA,
                             input_shape=(1, 28, 28))
    with pytest.raises(AssertionError):
        check_agreement(want[:100], rsc_logits(m2, u[:100], tmp_path), "without the skip")


def test_snntorch_own_export_of_a_residual_is_refused(residual_snn):
    """snnTorch's export_to_nir loses the residual sum (see the module docstring): rsc must not
    convert what it writes."""
    from snntorch.export_nir import export_to_nir
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            graph = export_to_nir(residual_snn, torch.zeros(1, 1, 28, 28), ignore_dims=[0])
        except ValueError as e:  # snnTorch 1.0.0 + nir 1.0.8: its own type inference fails
            assert "Root node" in str(e)
            return
    with pytest.raises(ConversionError):
        cn.convert_graph(graph, dt=1e-4, time_steps=T)


# ---------------------------------------------------------------------------------------------
# Norse
# ---------------------------------------------------------------------------------------------

NORSE_DT = 1e-3  # Norse's default time step (LIFBoxCell(dt=0.001))


@pytest.fixture(scope="module")
def norse_net():
    pytest.importorskip("norse", reason="norse not installed: pip install --no-deps norse==1.1.0")
    import norse.torch as nt
    torch.manual_seed(1)
    # tau_mem_inv 500 / 250: tau = 2 and 4 steps of dt = 1e-3 (dt * tau_mem_inv = 1/2, 1/4).
    p1 = nt.LIFBoxParameters(tau_mem_inv=torch.tensor(500.0), v_th=torch.tensor(1.0))
    p2 = nt.LIFBoxParameters(tau_mem_inv=torch.tensor(250.0), v_th=torch.tensor(0.5))
    # Norse's to_nir maps Conv2d, Linear and its cells, not Flatten or pools: the network uses
    # convs whose kernels end in a (C, 1, 1) map, which rsc reads as a vector.
    net = nt.SequentialState(
        torch.nn.Conv2d(1, 8, 4, stride=2), nt.LIFBoxCell(p1),      # 28 -> 13
        torch.nn.Conv2d(8, 32, 13), nt.LIFBoxCell(p2),             # 13 -> 1
        torch.nn.Conv2d(32, 10, 1))
    calibrate_norse(net)
    snap_to_grid(net)
    return net


def norse_simulate(net, u):
    """Norse's own simulation: the SequentialState's state carried over the T steps (from
    None: membranes start at v_leak = 0), logits the T-mean of the last conv."""
    state, out = None, 0
    for t in range(u.shape[1]):
        y, state = net(u[:, t], state)
        out = out + y
    return (out / u.shape[1]).reshape(u.shape[0], -1)


def calibrate_norse(net, thresholds=(1.0, 0.5)):
    """Scale the random weights so that each layer's currents have mean 1.2 x threshold and
    spread 1 x threshold per channel (both LIF layers fire at healthy rates), and the logits
    spread over the classes: an untrained net, in which spikes and argmaxes vary."""
    u = torch.from_numpy(noisy_inputs(64, seed=7))
    convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
    for c, thr in zip(convs, thresholds + (None,)):
        seen = []
        h = c.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
        with torch.no_grad():
            norse_simulate(net, u)
        h.remove()
        cur = torch.cat(seen).transpose(0, 1).reshape(c.out_channels, -1)
        mean, std = cur.mean(1), cur.std(1) + 1e-9
        with torch.no_grad():
            k = (thr if thr is not None else 1.0) / std
            c.weight.mul_(k.reshape(-1, 1, 1, 1))
            c.bias.copy_((c.bias - mean) * k + (1.2 * thr if thr is not None else 0.0))


def test_norse_to_nir(norse_net, tmp_path, librsc):
    import norse.torch as nt
    net = norse_net
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = nt.to_nir(net, torch.zeros(1, 28, 28))  # one sample without a batch dim
    lifs = [v for v in graph.nodes.values() if type(v).__name__ == "LIF"]
    # Norse writes tau = dt / tau_mem_inv (= dt^2 * tau_mem), r = 1, no v_reset (NIR: 0).
    assert len(lifs) == 2 and abs(float(lifs[0].tau) - NORSE_DT / 500) < 1e-12
    # (nir.write cannot store Norse's graph: scalar parameters, untyped conv inputs.)
    path = graph
    model, report = cn.convert_graph(graph, dt=NORSE_DT ** 2, time_steps=T, coding="gaussian",
                                     sigma=SIGMA)
    assert [(l.kind, l.neuron) for l in model.layers] == [
        ("conv2d", "lif"), ("conv2d", "lif"), ("conv2d", None)]
    assert abs(model.layers[0].tau - 2) < 1e-5 and abs(model.layers[1].tau - 4) < 1e-5
    assert all(r["rel_l2_error"] < 1e-6 for r in report)
    u = noisy_inputs()
    with torch.no_grad():
        want = norse_simulate(net, torch.from_numpy(u)).double().numpy()
    got = rsc_logits(model, u, tmp_path)
    rates = [float(r) for r in ref.firing_rates(model, u[:50].astype(np.float64))[:2]]
    assert all(0.02 < r < 0.8 for r in rates), rates
    check_agreement(want, got, "Norse vs rsc_forward")
    # Norse's dt itself (the natural guess): tau / dt = 1 / tau_mem_inv < 1 step, refused.
    with pytest.raises(ConversionError, match="tau / dt"):
        cn.convert_graph(path, dt=NORSE_DT, time_steps=T)
