"""rsc.nn.RSCResNet (residual spiking networks, format v2 graphs) and the fused neurons: the torch
module, its graph (`to_model`), rsc.reference and the runtime (rsc_forward) compute the same
network; `rsc.train --arch sew-resnet` trains, exports and resumes.

Skips when torch is not installed (pip install torch==2.13.0)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed: pip install torch==2.13.0")

pytestmark = pytest.mark.usefixtures("torch_one_thread")

from rsc import format as rf, graph as rg, nn as rnn, reference as ref  # noqa: E402

CONFIGS = {
    "sew-add": dict(style="sew", connect="ADD"),
    "sew-iand": dict(style="sew", connect="IAND"),
    "sew-and-nopool": dict(style="sew", connect="AND", stem_pool="none"),
    "spiking": dict(style="spiking"),
    "sew-add-flatten-hidden": dict(style="sew", connect="ADD", head="flatten", hidden=12),
    "spiking-if-soft": dict(style="spiking", neuron="if", reset="soft", v_threshold=0.8),
}


@pytest.mark.parametrize("cls,kw", [
    (rnn.LIF, dict(tau=2.0)),
    (rnn.LIF, dict(tau=3.0, reset="soft", v_reset=-0.1)),
    (rnn.LIF, dict(tau=2.0, v_reset=0.2, v_threshold=0.9, detach_reset=True)),
    (rnn.IF, dict(v_threshold=0.7)),
    (rnn.IF, dict(reset="soft", detach_reset=True)),
])
def test_fused_neuron_equals_autograd_loop(cls, kw):
    """fused=True: the same spikes (bit for bit) and the same gradient as the autograd loop."""
    g = torch.Generator().manual_seed(1)
    cur = torch.randn(6, 8, 11, generator=g, dtype=torch.float64) * 1.5 + 0.5
    w = torch.randn(6, 8, 11, generator=g, dtype=torch.float64)
    res = []
    for fused in (False, True):
        c = cur.clone().requires_grad_()
        out = cls(fused=fused, **kw)(c)
        (out * w).sum().backward()
        res.append((out.detach(), c.grad))
    assert torch.equal(res[0][0], res[1][0])
    assert 0.05 < float(res[0][0].mean()) < 0.95
    assert torch.allclose(res[0][1], res[1][1], rtol=0, atol=1e-12)
    assert float(res[0][1].abs().max()) > 0.01  # gradients flow


BN_BIAS = {"sew-and-nopool": (0.8, 1.6)}  # AND needs both maps to fire often


def _tiny(name, seed=0, **over):
    torch.manual_seed(seed)
    cfg = dict(input_shape=(1, 12, 12), stem=4, widths=(4, 8, 8), num_classes=5, time_steps=4,
               sigma=0.3, **CONFIGS[name])
    cfg.update(over)
    net = rnn.RSCResNet(**cfg).double()
    # Batch norm statistics and affine parameters that make every layer fire (a freshly
    # initialised net in eval mode is nearly silent).
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.1, 0.5)
                m.weight.uniform_(0.8, 2.0)
                m.bias.uniform_(*BN_BIAS.get(name, (0.2, 1.0)))
        net.fc.weight.mul_(5.0)  # logits that spread (the pooled features are small)
        if net.hidden is not None:
            net.hidden.weight.mul_(4.0)
            net.hidden.bias.uniform_(0.5, 1.5)
    return net.eval()


def _passes(net, count, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((count,) + net.input_shape, generator=g, dtype=torch.float64)
    return net.coding(x, generator=g)  # (T, B, C, H, W)


@pytest.mark.parametrize("name", CONFIGS)
def test_fold_quantize_export_matches_reference(name):
    net = _tiny(name)
    u = _passes(net, 64, 3)
    folded = rnn.fold_batch_norm(net).double().eval()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        a, b = net.forward_steps(u), folded.forward_steps(u)
    assert torch.allclose(a, b, atol=1e-9)
    # Int8-aware: weights on the int8 grid, the module is what the graph computes.
    rnn.quantize_weights(folded)
    rnn.quantize_weights(folded, enable=False)
    model, floats = folded.to_model(with_floats=True)
    assert model.nodes is not None and rf.validate(model) is None
    from rsc.convert import quantization_report
    assert all(r["rel_l2_error"] < 1e-6 for r in quantization_report(model, floats))
    with torch.no_grad():
        want = folded.forward_steps(u).numpy()
    got = ref.forward_batch(model, u.permute(1, 0, 2, 3, 4).numpy())
    assert np.abs(got - want).max() < 1e-6
    assert want.std(axis=0).max() > 0.01  # not degenerate: the logits depend on the input
    rates = folded.firing_rates(torch.rand((16,) + net.input_shape, dtype=torch.float64))
    neurons = [n for n in model.nodes if n.kind in ("lif", "if")]
    assert len(rates) == len(neurons)
    assert all(0 < r < 1 for r in rates), rates


def test_graph_layout_of_sew_add():
    """stem conv-LIF-maxpool, blocks conv-LIF-conv-LIF (+ conv1x1-LIF when downsampling), ADD,
    global average pool, linear: the counts of the ADDs feed the next block."""
    net = rnn.fold_batch_norm(_tiny("sew-add"))
    model = net.to_model()
    kinds = [n.kind for n in model.nodes]
    assert kinds[:4] == ["conv2d", "lif", "maxpool2d", "conv2d"]
    assert kinds[-2:] == ["global_avgpool", "linear"]
    assert kinds.count("add") == 3 and kinds.count("conv2d") == 1 + 2 * 3 + 1
    types = rg.node_types(model)
    adds = [types[i + 1] for i, k in enumerate(kinds) if k == "add"]
    assert adds == ["counts"] * 3
    assert model.nodes[-3].kind == "add" and model.nodes[-1].out_shape == (5, 1, 1)
    assert [n.out_shape for n in model.nodes if n.kind == "add"] == \
        [(4, 6, 6), (8, 3, 3), (8, 3, 3)]


@pytest.mark.parametrize("name", ["sew-add", "spiking", "sew-add-flatten-hidden"])
def test_runtime_agrees_with_torch(name, write, librsc):
    import rsc
    net = rnn.fold_batch_norm(_tiny(name, seed=5))
    rnn.quantize_weights(net)
    rnn.quantize_weights(net, enable=False)
    model = net.to_model()
    m = rsc.load(write(model))
    assert m.info.time_steps == 4 and m.info.sigma == pytest.approx(0.3)
    u = _passes(net, 400, 9)
    with torch.no_grad():
        want = net.forward_steps(u).numpy()
    uu = u.permute(1, 0, 2, 3, 4).numpy()
    got = np.stack([m.forward(ui) for ui in uu])
    agree = float((got.argmax(1) == want.argmax(1)).mean())
    print(f"{name}: rsc_forward argmax agreement with torch float64 {agree:.4f}")
    assert agree >= 0.995


def test_build_net_and_config_round_trip():
    net = _tiny("sew-iand")
    again = rnn.build_net(net.config)
    assert isinstance(again, rnn.RSCResNet) and again.config == net.config
    conv = rnn.build_net(rnn.RSCNet(input_shape=(1, 8, 8), channels=(2, 2), hidden=4).config)
    assert isinstance(conv, rnn.RSCNet)
    with pytest.raises(ValueError):
        rnn.build_net(dict(net.config, arch="vgg"))
    with pytest.raises(ValueError):
        rnn.RSCResNet(stem_pool="avg")  # avgpooled counts must not be added to spike maps


@pytest.fixture
def tiny_data(tmp_path, make_fmnist_idx):
    d = tmp_path / "data"
    d.mkdir()
    return make_fmnist_idx(d, 128, 32)


TINY = ["--arch", "sew-resnet", "--stem", "4", "--widths", "4", "8", "--sigma", "0.25",
        "--batch", "32", "--threads", "1", "--eval-count", "16", "--no-compile"]


@pytest.mark.parametrize("arch", ["sew-resnet", "spiking-resnet"])
def test_train_resnet_smoke(arch, tmp_path, tiny_data, librsc):
    """python3 -m rsc.train --arch sew-resnet / spiking-resnet end to end: trains, int8-aware
    fine-tunes, writes a v2 graph, validates it with the runtime; the checkpoint rebuilds the
    same file."""
    import rsc
    from rsc import train
    out, ck = tmp_path / "m.rscm", tmp_path / "m.pt"
    assert train.main(TINY + ["--arch", arch, "--epochs", "1", "--qat-steps", "2", "--data", str(tiny_data),
                              "--out", str(out), "--checkpoint", str(ck),
                              "--validate-count", "4", "--validate-predict", "2",
                              "--predict-n", "20"]) == 0
    m = rsc.load(out)
    assert m.info.sigma == pytest.approx(0.25) and m.info.time_steps == 4
    assert m.info.class_names[0] == "T-shirt/top"
    assert not (tmp_path / "m.pt.state").exists()  # removed when the run completes
    net = train.load_checkpoint(ck)
    assert isinstance(net, rnn.RSCResNet) and net.config["arch"] == arch
    model, report = train.convert_net(net)
    assert all(r["rel_l2_error"] < 1e-6 for r in report)  # int8-aware: on the grid
    again = tmp_path / "again.rscm"
    rf.write_model(model, again)
    assert again.read_bytes() == out.read_bytes()
    # The converter and rsc.eval take the residual checkpoint as they take a conv net's.
    from rsc import eval as ev
    from rsc.convert import __main__ as convert_cli, torch as ct
    assert convert_cli.main(["torch", str(ck), "--out", str(tmp_path / "cli.rscm")]) == 0
    assert (tmp_path / "cli.rscm").read_bytes() == out.read_bytes()
    renamed, _ = ct.convert_module(ct.load_checkpoint(ck), name="renamed")
    assert renamed.name == "renamed" and renamed.nodes == model.nodes
    with pytest.raises(ct.ConversionError, match="input_shape"):
        ct.convert_module(net, input_shape=(1, 32, 32))
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    r = ev.evaluate_snn(out, x, np.arange(4) % 10, [ev.Attack("fgsm", "linf", 0.1)],
                        checkpoint=ck, predict_n=20, eot=2, results_dir=tmp_path, batch=4)
    assert r["attacks"]["fgsm-linf-0.1"]["max_linf"] <= 0.1 + 1e-6


def test_train_resume_continues_exactly(tmp_path, tiny_data):
    """--stop-after 1, then --resume: the same weights as one uninterrupted run."""
    from rsc import train
    common = TINY + ["--epochs", "2", "--qat-steps", "0", "--data", str(tiny_data),
                     "--validate-count", "0", "--validate-predict", "0", "--train-limit", "64"]
    a_out, a_ck = tmp_path / "a.rscm", tmp_path / "a.pt"
    assert train.main(common + ["--out", str(a_out), "--checkpoint", str(a_ck)]) == 0
    b_out, b_ck = tmp_path / "b.rscm", tmp_path / "b.pt"
    state = tmp_path / "b.state"
    with pytest.raises(SystemExit) as e:
        train.main(common + ["--out", str(b_out), "--checkpoint", str(b_ck),
                             "--state", str(state), "--stop-after", "1"])
    assert e.value.code == 3 and state.is_file() and not b_ck.exists()
    assert train.main(common + ["--out", str(b_out), "--checkpoint", str(b_ck),
                                "--state", str(state), "--resume"]) == 0
    assert not state.exists()
    sa = torch.load(a_ck, weights_only=True)["state_dict"]
    sb = torch.load(b_ck, weights_only=True)["state_dict"]
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a_out.read_bytes() == b_out.read_bytes()
