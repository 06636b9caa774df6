"""rsc.convert.torch: PyTorch modules (rsc.nn) -> .rscm, checked against independent references.

* exactness: nets whose weights lie on the int8 grid convert without loss, so the torch forward
  (rsc.nn, float64), rsc.reference (numpy float64) and rsc_forward (the int8 runtime) must agree
  on every pass (up to a rare spike exactly at threshold);
* batch norm folding is the eval-mode BN, computed independently in torch;
* the shipped trained model (its torch checkpoint, the training script's module): torch float vs
  reference and vs rsc_forward on the same noisy inputs, argmax agreement >= 99%;
* unsupported modules give an error naming the module.

Skips when torch is not installed (pip install torch==2.13.0)."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed: pip install torch==2.13.0")


pytestmark = pytest.mark.usefixtures("torch_one_thread")


from rsc import format as rf  # noqa: E402
from rsc import nn as rnn  # noqa: E402
from rsc import reference as ref  # noqa: E402
from rsc.convert import ConversionError  # noqa: E402
from rsc.convert import torch as ct  # noqa: E402
from rsc.eval import DEFAULT_RS_ANNS  # noqa: E402
from rsc.results import DEFAULT_MODELS  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "models"
IMAGES = MODELS / "data" / "fmnist_test_1000_images.npy"
LABELS = MODELS / "data" / "fmnist_test_1000_labels.npy"


def snap_to_int8_grid(net):
    """Replace every conv/linear weight by its int8 per-channel rounding (in place)."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                q, s = rf.quantize_per_channel(m.weight.double().numpy())
                deq = q.astype(np.float64) * s.astype(np.float64).reshape((-1,) + (1,) * (q.ndim - 1))
                m.weight.copy_(torch.from_numpy(deq))
                if m.bias is not None:  # biases are stored as float32
                    m.bias.copy_(m.bias.float().double())


def calibrate(net, x, target=0.2, iters=10):
    """Set each spiking layer's bias, channel by channel (bisection), so that it fires on about
    `target` of its slots: random spiking nets are otherwise silent or saturated."""
    body = list(net.body)
    u = net.coding(x, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        for j, m in enumerate(body):
            if not isinstance(m, rnn.SpikingNeuron):
                continue
            w = body[j - 1]
            lo = torch.full_like(w.bias, -8.0)
            hi = torch.full_like(w.bias, 8.0)
            for _ in range(iters):
                w.bias.copy_((lo + hi) / 2)
                a = u
                for k in range(j + 1):
                    a = body[k](a) if isinstance(body[k], rnn.SpikingNeuron) else rnn.multistep(body[k], a)
                rate = a.transpose(1, 2).reshape(a.shape[2], -1).mean(1) if a.dim() == 5 \
                    else a.mean(dim=(0, 1))
                hi = torch.where(rate > target, w.bias, hi)
                lo = torch.where(rate > target, lo, w.bias)
            w.bias.copy_(w.bias.float().double())


def small_net(seed, **kw):
    torch.manual_seed(seed)
    cfg = dict(input_shape=(1, 12, 12), channels=(6, 8), hidden=24, num_classes=5, time_steps=4,
               sigma=0.3, batch_norm=False)
    cfg.update(kw)
    net = rnn.RSCNet(**cfg).double().eval()
    snap_to_int8_grid(net)
    calibrate(net, torch.rand(64, 1, 12, 12, dtype=torch.float64,
                              generator=torch.Generator().manual_seed(seed)))
    return net


@pytest.mark.parametrize("kw", [
    dict(),
    dict(neuron="if", reset="soft", pool="sum", v_threshold=2.0),
    dict(tau=4.0, v_reset=-0.25, v_threshold=0.75, coding="gaussian-shared"),
])
def test_exact_conversion_three_ways(kw, librsc, tmp_path):
    import rsc
    net = small_net(1, **kw)
    model, report = ct.convert_module(net)
    assert [l.kind for l in model.layers] == ["conv2d", "avgpool2d" if kw.get("pool") != "sum"
                                              else "sumpool2d", "conv2d",
                                              model.layers[3].kind, "flatten", "linear", "linear"]
    assert all(r["max_abs_error"] < 1e-6 for r in report)  # on the grid: lossless
    path = tmp_path / "net.rscm"
    ct.write(model, path)
    g = torch.Generator().manual_seed(2)
    x = torch.rand(300, 1, 12, 12, generator=g, dtype=torch.float64)
    u = net.coding(x, generator=g)  # (T, B, C, H, W)
    with torch.no_grad():
        want = net.forward_steps(u).numpy()
    ub = u.permute(1, 0, 2, 3, 4).numpy()
    got_ref = ref.forward_batch(model, ub)
    m = rsc.load(path)
    got_rt = np.stack([m.forward(ub[i]) for i in range(len(ub))])
    rates = ref.firing_rates(model, ub[:50])
    assert all(0.02 < r < 0.9 for r in rates if r is not None), rates
    for got, tol in ((got_ref, 1e-9), (got_rt, 1e-4)):
        close = np.all(np.abs(got - want) <= tol * (1 + np.abs(want)), axis=1)
        assert close.mean() >= 0.99, close.mean()
        assert (got.argmax(1) == want.argmax(1)).mean() >= 0.99


def test_batch_norm_folding_is_eval_bn():
    torch.manual_seed(3)
    net = rnn.RSCNet(input_shape=(1, 10, 10), channels=(4, 6), hidden=8, num_classes=3,
                     time_steps=2, sigma=0.2, batch_norm=True).double()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.2, 3)
                m.weight.uniform_(0.5, 2)
                m.bias.uniform_(-1, 1)
    net.eval()
    model, _ = ct.convert_module(net)
    # Independent fold: run conv then eval BN in torch, compare with the converted layer's
    # dequantized weights + bias applied by the reference's conv.
    x = torch.rand(5, 1, 10, 10, dtype=torch.float64)
    with torch.no_grad():
        want = net.body[1](net.body[0](x)).numpy()
    layer = model.layers[0]
    got = ref.conv2d_ref(x.numpy(), layer.real_weight(), layer.bias, layer.stride, layer.padding)
    scale = np.abs(want).max()
    assert np.abs(got - want).max() < 0.01 * scale  # int8 rounding only
    assert layer.neuron == "lif" and model.layers[2].neuron == "lif"


def test_report_and_errors():
    net = small_net(0)
    model, report = ct.convert_module(net)
    assert [r["kind"] for r in report] == ["conv2d", "conv2d", "linear", "linear"]
    assert "rel L2 err" in ct.format_report(report)
    seq = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), rnn.LIF(),
                              torch.nn.ReLU(), torch.nn.Linear(8, 3))
    with pytest.raises(ConversionError, match=r"module '3' \(ReLU\)"):
        ct.convert_module(seq, input_shape=(1, 4, 4), time_steps=2, coding="direct")
    seq = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.Linear(8, 3))
    with pytest.raises(ConversionError, match="not followed by a neuron"):
        ct.convert_module(seq, input_shape=(1, 4, 4), time_steps=2, coding="direct")
    seq = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3), rnn.LIF())
    with pytest.raises(ConversionError, match="last weighted layer"):
        ct.convert_module(seq, input_shape=(1, 4, 4), time_steps=2, coding="direct")
    seq = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), rnn.LIF(), torch.nn.Conv2d(2, 3, 2),
                              torch.nn.AvgPool2d(1))
    with pytest.raises(ConversionError, match="avgpool2d follows the last weighted layer"):
        ct.convert_module(seq, input_shape=(1, 4, 4), time_steps=2, coding="direct")
    seq = torch.nn.Sequential(torch.nn.Linear(16, 3))
    with pytest.raises(ConversionError, match="Flatten"):
        ct.convert_module(seq, input_shape=(1, 4, 4), time_steps=2, coding="direct")
    with pytest.raises(ConversionError, match="input_shape"):
        ct.convert_module(seq)
    ok = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(), torch.nn.Linear(16, 3))
    m, _ = ct.convert_module(ok, input_shape=(1, 4, 4), time_steps=2, coding="direct")
    assert [l.kind for l in m.layers] == ["flatten", "linear"] and m.sigma == 0
    # Errors that surface in the format's checks still name the module, not only "layer i".
    seq = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(8), rnn.LIF(),
                              torch.nn.Flatten(), torch.nn.Linear(16, 3))
    with pytest.raises(ConversionError, match=r"module '1' \(BatchNorm2d\): 8 features .* 4 "):
        ct.convert_module(seq, input_shape=(1, 4, 4), time_steps=2, coding="direct")
    seq = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=3), rnn.LIF(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 8 * 8, 3))
    with pytest.raises(ConversionError, match=r"module '0', layer 0 \(conv2d\): pad_h"):
        ct.convert_module(seq, input_shape=(1, 4, 4), time_steps=2, coding="direct")
    seq = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), rnn.LIF(), torch.nn.AvgPool2d(7),
                              torch.nn.Flatten(), torch.nn.Linear(4, 3))
    with pytest.raises(ConversionError, match=r"module '2' \(AvgPool2d\): a 7x7 window"):
        ct.convert_module(seq, input_shape=(1, 8, 8), time_steps=2, coding="direct")
    m, _ = ct.convert_module(ok, input_shape=(4, 4), time_steps=2, coding="direct")  # (H, W)
    assert m.input_shape == (1, 4, 4)


def shipped_checkpoint():
    path = MODELS / "fmnist_sigma025.pt"
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path


def test_shipped_model_torch_vs_reference_vs_runtime(librsc, tmp_path):
    """The training script's module (the shipped sigma = 0.25 checkpoint), converted: on the
    same noisy inputs the torch float forward, rsc.reference and rsc_forward agree on >= 99%."""
    import rsc
    net = ct.load_checkpoint(shipped_checkpoint())
    model, report = ct.convert_module(net)
    # int8-aware fine-tuning (rsc.train --qat-steps) left the weights on the int8 grid
    assert all(r["rel_l2_error"] < 1e-6 for r in report), ct.format_report(report)
    shipped = rf.read_model(MODELS / "fmnist_sigma025.rscm")
    assert shipped == model  # the shipped .rscm is exactly this conversion
    path = tmp_path / "m.rscm"
    ct.write(model, path)
    x = np.load(IMAGES)[:200]
    y = np.load(LABELS)[:200]
    g = torch.Generator().manual_seed(5)
    u = net.coding(torch.from_numpy(x), generator=g)  # float32, (T, B, 1, 28, 28)
    with torch.no_grad():
        want = net.double().forward_steps(u.double()).numpy()
    ub = u.permute(1, 0, 2, 3, 4).double().numpy()
    got_ref = ref.forward_batch(model, ub)
    m = rsc.load(path)
    got_rt = np.stack([m.forward(ub[i]) for i in range(len(ub))])
    a_ref = (got_ref.argmax(1) == want.argmax(1)).mean()
    a_rt = (got_rt.argmax(1) == want.argmax(1)).mean()
    assert a_ref >= 0.99 and a_rt >= 0.99, (a_ref, a_rt)
    assert (got_rt.argmax(1) == got_ref.argmax(1)).mean() >= 0.99
    assert (want.argmax(1) == y).mean() > 0.8  # a real, trained model


SHIPPED = sorted(p.stem for p in DEFAULT_MODELS)


@pytest.mark.parametrize("stem", SHIPPED)
def test_every_shipped_model_is_its_checkpoint_converted(stem):
    """Each shipped .rscm (rsc.results' and rsc.eval's defaults) is exactly the conversion of the
    .pt beside it, so the attacked twin and the certified model are one network; its coding and
    sigma are the ones its name says."""
    rscm, ck = MODELS / f"{stem}.rscm", MODELS / f"{stem}.pt"
    assert rscm.exists() and ck.exists(), f"{stem}: .rscm and .pt are shipped in models/"
    model, report = ct.convert_module(ct.load_checkpoint(ck))
    assert rf.read_model(rscm) == model
    assert all(r["rel_l2_error"] < 1e-6 for r in report)  # int8-aware: on the grid
    coding = ("poisson" if "poisson" in stem else "direct" if "direct" in stem
              else "gaussian-shared" if "shared" in stem else "gaussian")
    assert model.coding == coding
    sigma = float("0." + stem.rsplit("sigma", 1)[1][1:]) if "sigma" in stem else 0.0
    assert model.sigma == pytest.approx(sigma, abs=1e-6)


@pytest.mark.parametrize("name", [p.name for p in DEFAULT_RS_ANNS])
def test_shipped_smoothed_anns_record_their_noise(name):
    from rsc import train
    ck = MODELS / name  # the checkout's (rsc may run installed elsewhere)
    assert ck.exists(), f"{name} is shipped in models/"
    net = train.load_checkpoint(ck)
    assert net.coding.coding == "direct" and net.time_steps == 1  # the clean ReLU net
    entry = torch.load(ck, weights_only=True)["train"]
    assert entry["ann"] and entry["sigma"] == pytest.approx(float("0." + ck.stem[-2:]))


def test_cli_torch(tmp_path):
    from rsc.convert.__main__ import main
    net = small_net(0)
    ck = tmp_path / "net.pt"
    cfg = dict(input_shape=(1, 12, 12), channels=(6, 8), hidden=24, num_classes=5, time_steps=4,
               sigma=0.3, batch_norm=False)
    torch.save(dict(config=cfg, state_dict=net.float().state_dict()), ck)
    out = tmp_path / "net.rscm"
    assert main(["torch", str(ck), "--out", str(out), "--name", "cli"]) == 0
    m = rf.read_model(out)
    assert m.name == "cli" and m.time_steps == 4 and m.coding == "gaussian"
