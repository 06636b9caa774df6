"""Sinabs -> NIR -> rsc, against Sinabs' own forward.

Sinabs 3.1.3 requires nir <= 1.0.4 (with nirtorch 2.0.2), beside this project's nir 1.0.8, so
it lives in its own virtualenv, made by scripts/setup.sh at $RSC_SINABS_VENV (default
~/.cache/rsc/venv-sinabs; it reuses the system torch through --system-site-packages). The test
runs a script inside that venv (`SCRIPT` below: rsc's converter running on nir 1.0.4) which
builds a Sinabs network (Conv2d - IAFSqueeze - SumPool2d - Flatten - Linear - IAFSqueeze -
Linear, weights calibrated for healthy firing and put on rsc's int8 grid), simulates it with
Sinabs on 500 noisy Fashion-MNIST inputs (T = 4, sigma 0.25, fresh noise per step), exports it
with `sinabs.to_nir` and converts it with `rsc.convert.nir.convert_graph`:

* Sinabs' defaults (MultiSpike, MembraneSubtract): refused with a message naming the missing
  v_reset and MultiSpike (NIR records neither); spike='multi' is refused even when stated (rsc's
  neurons emit at most one spike per step);
* SingleSpike + MembraneSubtract converted with reset='subtract', spike='single', and
  SingleSpike + MembraneReset with reset='hard', spike='single': rsc's runtime (`rsc_forward`,
  here, on nir 1.0.8) must then match Sinabs: argmax agreement >= 99%, max |logit difference|
  below 1e-4 on >= 99% of inputs, median below 1e-5 (float32 rounding only, as in
  test_convert_nir_peers.py: the weights are on the int8 grid, Sinabs' IAF `v += I`, spike
  `v >= thr`, subtract / reset to 0 are rsc's IF with dt = 1, r = 1, soft / hard reset);
* the file Sinabs' nir 1.0.4 writes, read here by nir 1.0.8 (which fills in v_reset = 0 on
  reading), is refused in the same way and converts, with the options, to the same model.

Fails (under RSC_TEST_REQUIRE_EXTRAS=1) when the venv is missing: run scripts/setup.sh."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir", reason="nir not installed: pip install nir==1.0.8")

import rsc  # noqa: E402
from rsc import format as rf  # noqa: E402
from rsc.convert import ConversionError  # noqa: E402
from rsc.convert import nir as cn  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
IMAGES = REPO / "models" / "data" / "fmnist_test_1000_images.npy"
VENV = Path(os.environ.get("RSC_SINABS_VENV", Path.home() / ".cache" / "rsc" / "venv-sinabs"))
PYTHON = VENV / "bin" / "python"
T = 4

SCRIPT = r'''
import json, sys, warnings
import numpy as np
rsc_path, out, images = sys.argv[1:4]
sys.path.insert(0, rsc_path)
import torch
torch.set_num_threads(1)
import nir, sinabs, sinabs.layers as sl
from sinabs.activation import MembraneReset, MembraneSubtract, SingleSpike
from rsc import format as rf
from rsc.convert import ConversionError
from rsc.convert import nir as cn
T, N, SIGMA = 4, 500, 0.25
info = dict(nir=nir.__version__, sinabs=sinabs.__version__, torch=torch.__version__,
            rsc=cn.__file__)


def make(**neuron):
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), sl.IAFSqueeze(num_timesteps=T, **neuron),
        sl.SumPool2d(2), torch.nn.Flatten(), torch.nn.Linear(8 * 14 * 14, 64),
        sl.IAFSqueeze(num_timesteps=T, **neuron), torch.nn.Linear(64, 10))


def simulate(net, u):
    """Sinabs' own forward: (B, T, ...) as (B*T, ...) for the Squeeze layers, states reset."""
    sinabs.reset_states(net)
    with torch.no_grad():
        y = net(torch.from_numpy(u.reshape((-1,) + u.shape[2:])))
    sinabs.reset_states(net)
    return y.reshape(u.shape[0], T, -1).mean(1).double().numpy()


x = np.load(images)[:N].astype(np.float32)
rng = np.random.default_rng(3)
u = (x[:, None] + SIGMA * rng.standard_normal((N, T) + x.shape[1:])).astype(np.float32)
torch.manual_seed(0)
net = make(spike_fn=SingleSpike, reset_fn=MembraneSubtract())
# Calibrate (currents of mean 0.3, spread 1 per channel: IF neurons fire at 0.1-0.5; logits
# spread over the classes), then put the weights on rsc's int8 grid.
lin = [m for m in net if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
for m, mean_to in zip(lin, (0.3, 0.3, 0.0)):
    seen = []
    h = m.register_forward_hook(lambda mod, i, o: seen.append(o.detach()))
    simulate(net, u[:64])
    h.remove()
    cur = seen[0].transpose(0, 1).reshape(seen[0].shape[1], -1)
    k = 1.0 / (cur.std(1) + 1e-9)
    with torch.no_grad():
        m.weight.mul_(k.reshape((-1,) + (1,) * (m.weight.dim() - 1)))
        m.bias.copy_((m.bias - cur.mean(1)) * k + mean_to)
with torch.no_grad():
    for m in lin:
        q, s = rf.quantize_per_channel(m.weight.double().numpy())
        m.weight.copy_(torch.from_numpy(q * s.astype(np.float64).reshape((-1,) + (1,) * (q.ndim - 1))))
state = {k: v.clone() for k, v in net.state_dict().items() if k.endswith(("weight", "bias"))}


def export(net):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = sinabs.to_nir(net, torch.zeros(T, 1, 28, 28))
    sinabs.reset_states(net)
    return g


def refusal(g, **kw):
    try:
        cn.convert_graph(g, dt=1, time_steps=T, **kw)
    except ConversionError as e:
        return str(e)
    return None


results = dict(info=info)
defaults = make()  # Sinabs' defaults: MultiSpike, MembraneSubtract
defaults.load_state_dict(state, strict=False)
g = export(defaults)
results["defaults"] = refusal(g)
results["multi_stated"] = refusal(g, reset="subtract", spike="multi")
results["reset_only"] = refusal(g, reset="subtract")
for key, reset, fn in (("subtract", "subtract", MembraneSubtract()),
                       ("hard", "hard", MembraneReset())):
    m = make(spike_fn=SingleSpike, reset_fn=fn)
    m.load_state_dict(state, strict=False)
    want = simulate(m, u)
    g = export(m)
    results[key + "_default"] = refusal(g)
    model, report = cn.convert_graph(g, dt=1, time_steps=T, reset=reset, spike="single")
    rf.write_model(model, f"{out}/{key}.rscm")
    np.save(f"{out}/{key}_want.npy", want)
    results[key + "_report"] = max(r["rel_l2_error"] for r in report)
    if key == "subtract":
        g.infer_types()
        nir.write(f"{out}/subtract.nir", g)
np.save(f"{out}/u.npy", u)
with open(f"{out}/results.json", "w") as f:
    json.dump(results, f)
'''


@pytest.fixture(scope="module")
def sinabs_run(tmp_path_factory):
    if not PYTHON.exists():
        pytest.skip(f"the Sinabs virtualenv is not installed at {VENV}: run scripts/setup.sh "
                    "(or set RSC_SINABS_VENV)")
    out = tmp_path_factory.mktemp("sinabs")
    # The rsc package this test imports (source tree or installed), alone on a path of its own:
    # the venv's own nir 1.0.4 must win over anything else.
    pkg = out / "pkg"
    pkg.mkdir()
    (pkg / "rsc").symlink_to(Path(rsc.__file__).resolve().parent)
    script = out / "run_sinabs.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["OMP_NUM_THREADS"] = "1"
    p = subprocess.run([str(PYTHON), str(script), str(pkg), str(out), str(IMAGES)], env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"the Sinabs script failed:\n{p.stdout}\n{p.stderr[-4000:]}"
    res = json.loads((out / "results.json").read_text())
    return out, res


def test_runs_in_sinabs_venv_with_its_nir(sinabs_run):
    _, res = sinabs_run
    info = res["info"]
    assert info["nir"] == "1.0.4" and info["sinabs"] == "3.1.3", info
    assert info["torch"].split("+")[0] == "2.13.0", info
    assert Path(info["rsc"]).resolve() == Path(cn.__file__).resolve()


def test_sinabs_defaults_are_refused(sinabs_run):
    _, res = sinabs_run
    for key in ("defaults", "reset_only", "subtract_default", "hard_default"):
        msg = res[key]
        assert msg is not None, key
        assert "has no v_reset" in msg and "MultiSpike" in msg and "reset='subtract'" in msg \
            and "spike='single'" in msg, msg
    assert "spike='multi'" in res["multi_stated"] and "at most one spike" in res["multi_stated"]


@pytest.mark.parametrize("key", ["subtract", "hard"])
def test_sinabs_stated_semantics_match(sinabs_run, key, librsc):
    out, res = sinabs_run
    assert res[key + "_report"] < 1e-6  # lossless: int8-grid weights
    model = rf.read_model(out / f"{key}.rscm")
    assert [(l.kind, l.neuron, l.reset) for l in model.layers] == [
        ("conv2d", "if", "soft" if key == "subtract" else "hard"), ("sumpool2d", None, "hard"),
        ("flatten", None, "hard"), ("linear", "if", "soft" if key == "subtract" else "hard"),
        ("linear", None, "hard")]
    u = np.load(out / "u.npy")
    want = np.load(out / f"{key}_want.npy")
    m = rsc.load(out / f"{key}.rscm")
    got = np.stack([m.forward(ui) for ui in u])
    agree = float((got.argmax(1) == want.argmax(1)).mean())
    diff = np.abs(got - want).max(axis=1)
    print(f"Sinabs SingleSpike + {key} reset vs rsc_forward: argmax agreement {agree:.3f}; max "
          f"|logit diff| median {np.median(diff):.2e}, 99% {np.quantile(diff, 0.99):.2e} "
          f"(logit scale {np.median(np.abs(want).max(1)):.2f})")
    from rsc import reference as ref
    rates = ref.firing_rates(model, u[:50].astype(np.float64))
    assert 0.02 < rates[0] < 0.9 and 0.02 < rates[3] < 0.9, rates
    assert len(set(want.argmax(1))) >= 5
    assert agree >= 0.99
    assert np.median(diff) < 1e-5
    assert (diff < 1e-4).mean() >= 0.99


def test_nir_104_file_read_by_nir_108(sinabs_run):
    """nir 1.0.8 reads the 1.0.4 file's IF nodes with v_reset = 0 filled in: the converter still
    sees that the file does not say how they reset."""
    out, _ = sinabs_run
    path = out / "subtract.nir"
    with pytest.raises(ConversionError, match="has no v_reset"):
        cn.convert_graph(path, dt=1, time_steps=T)
    with pytest.raises(ConversionError, match="has no v_reset"):
        cn.convert_graph(cn.read_graph(path), dt=1, time_steps=T, reset="subtract")
    model, _ = cn.convert_graph(path, dt=1, time_steps=T, reset="subtract", spike="single")
    assert model == rf.read_model(out / "subtract.rscm")
