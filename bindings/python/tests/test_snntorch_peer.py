"""The real-peer test: a network built and simulated by snnTorch, exported with snnTorch's own
NIR export (`snntorch.export_nir.export_to_nir`), converted by rsc (`rsc.convert.nir`), run by
rsc's runtime (`rsc_forward`, int8). Direct coding, T = 4, 500 shipped Fashion-MNIST images.

Conventions (docs/converters.md): snnTorch's `Leaky(beta, reset_mechanism="zero")` is
`m_t = beta * m_{t-1} * (1 - s_{t-1}) + I_t`, spike `m_t > threshold`; snnTorch exports it as NIR
`LIF(tau = dt / (1 - beta), r = tau / dt, v_leak = 0, v_reset = 0)` with dt = 1e-4; rsc maps
that to its LIF with `tau = 1 / (1 - beta)` steps and weights times `r`, hard reset to 0, which
is the same recurrence. The network is trained for a few seconds (on the 1000 shipped images:
accuracy is not the point, confident outputs make the argmax comparison meaningful).

* float weights as trained: argmax agreement >= 99%, logits close (int8 weight rounding is the
  only difference);
* the same network with its weights rounded to rsc's int8 grid inside snnTorch: the conversion
  is then lossless and rsc must reproduce snnTorch to float32 rounding.

Skips unless torch, snntorch and nir are installed:
    pip install torch==2.13.0 && pip install snntorch==1.0.0 nir==1.0.8 nirtorch==2.6 -c <(echo torch==2.13.0)
"""

import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed: pip install torch==2.13.0")
snn = pytest.importorskip("snntorch", reason="snntorch not installed: pip install snntorch==1.0.0")
nir = pytest.importorskip("nir", reason="nir not installed: pip install nir==1.0.8")
pytest.importorskip("nirtorch", reason="nirtorch not installed: pip install nirtorch==2.6")

from rsc import format as rf  # noqa: E402
from rsc.convert import nir as cn  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "models" / "data"
T = 4
DT = 1e-4  # snnTorch's export_to_nir time step


def leaky(shape, beta):
    # Per-neuron beta/threshold tensors: snnTorch's NIR export needs them to give the LIF node
    # its shape; reset_mechanism="zero" is the reset NIR's LIF defines (to v_reset = 0).
    return snn.Leaky(beta=torch.full(shape, beta), threshold=torch.ones(shape),
                     init_hidden=True, reset_mechanism="zero")


def simulate(net, x):
    """snnTorch's own simulation: T calls of the Sequential, states reset first; the logits
    are the T-mean of the last Linear layer's output."""
    from snntorch import utils
    utils.reset(net)
    out = 0
    for _ in range(T):
        out = out + net(x)
    return out / T


@pytest.fixture(scope="module")
def peer():
    from snntorch.export_nir import export_to_nir
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: one thread is faster, and robust to a busy machine
    x = np.load(DATA / "fmnist_test_1000_images.npy")
    y = np.load(DATA / "fmnist_test_1000_labels.npy")
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), leaky((8, 28, 28), 0.5), torch.nn.AvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(8 * 14 * 14, 64), leaky((64,), 0.75),
        torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(6):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 50):
            idx = perm[i:i + 50]
            loss = torch.nn.functional.cross_entropy(simulate(net, xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    torch.set_num_threads(threads)

    def export(path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = export_to_nir(net, torch.zeros(1, 1, 28, 28), ignore_dims=[0])
        nir.write(str(path), graph)  # through snnTorch's graph as a file
        return path

    return dict(net=net, x=x[:500], y=y[:500], export=export)


def compare(net, x, nir_path, tmp_path):
    import rsc
    with torch.no_grad():
        want = simulate(net, torch.from_numpy(x)).numpy()
    model, report = cn.convert_graph(nir_path, dt=DT, time_steps=T, coding="direct")
    assert [(l.kind, l.neuron) for l in model.layers] == [
        ("conv2d", "lif"), ("avgpool2d", None), ("flatten", None), ("linear", "lif"),
        ("linear", None)]
    assert abs(model.layers[0].tau - 2.0) < 1e-6 and abs(model.layers[3].tau - 4.0) < 1e-6
    path = tmp_path / "peer.rscm"
    rf.write_model(model, path)
    m = rsc.load(path)
    got = np.stack([m.forward(np.broadcast_to(xi, (T,) + xi.shape)) for xi in x])
    agree = float((got.argmax(1) == want.argmax(1)).mean())
    diff = np.abs(got - want).max(axis=1)
    scale = float(np.median(np.abs(want).max(axis=1)))
    return agree, diff, scale, report, want


def test_snntorch_float_weights(peer, tmp_path, librsc):
    agree, diff, scale, report, want = compare(peer["net"], peer["x"],
                                               peer["export"](tmp_path / "net.nir"), tmp_path)
    print(f"snnTorch vs rsc_forward, 500 images: argmax agreement {agree:.3f}; max |logit diff| "
          f"median {np.median(diff):.4f}, 99% {np.quantile(diff, 0.99):.4f} (logit scale "
          f"{scale:.2f}); snnTorch accuracy {(want.argmax(1) == peer['y']).mean():.3f}")
    assert (want.argmax(1) == peer["y"]).mean() > 0.6  # trained, confident outputs
    assert agree >= 0.99
    assert np.median(diff) <= 0.02 * scale
    assert all(r["rel_l2_error"] < 0.02 for r in report)


def test_snntorch_int8_grid_weights_exact(peer, tmp_path, librsc):
    net = peer["net"]
    saved = {k: v.clone() for k, v in net.state_dict().items()}
    try:
        with torch.no_grad():
            for mod in net:
                if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
                    q, s = rf.quantize_per_channel(mod.weight.double().numpy())
                    deq = q.astype(np.float64) * s.astype(np.float64).reshape(
                        (-1,) + (1,) * (q.ndim - 1))
                    mod.weight.copy_(torch.from_numpy(deq))
        agree, diff, scale, report, _ = compare(net, peer["x"],
                                                peer["export"](tmp_path / "grid.nir"), tmp_path)
    finally:
        net.load_state_dict(saved)
    print(f"int8-grid weights: argmax agreement {agree:.3f}; max |logit diff| median "
          f"{np.median(diff):.2e}, 99% {np.quantile(diff, 0.99):.2e}")
    assert all(r["rel_l2_error"] < 1e-6 for r in report)
    assert agree >= 0.998
    assert np.median(diff) < 1e-5
    assert (diff < 1e-4).mean() >= 0.99
