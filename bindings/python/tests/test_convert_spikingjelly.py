"""rsc.convert.spikingjelly: SpikingJelly networks -> .rscm (format v2), checked against
SpikingJelly's own forward.

* the model zoo (sew_resnet ADD and IAND, spiking_resnet, spiking_vgg with and without BN) at
  small widths on 28x28 single-channel inputs: the real zoo classes, built through their own
  constructors / `_make_layer`, with the stem conv replaced to take 1 channel and the widths
  reduced (see `small_sew_resnet`); BN with non-trivial running statistics; weights set so that
  the BN-folded weights lie on rsc's int8 grid and the folded biases are float32 (the
  conversion is then lossless). SpikingJelly's multi-step forward (float64, `reset_net` before)
  and `rsc.reference.forward_batch` on the converted model must agree on the argmax on >= 99%
  of 500 noisy inputs and on the logits to 1e-9 (relative) on >= 99% of them;
* single modules (LIF decay_input False, soft reset, ParametricLIF's tau, IF, BN1d after
  Linear, Dropout, MultiStepContainer / SeqToANNContainer, single-step mode);
* every ConversionError;
* the runtime (`rsc.load(path).forward`) on the converted zoo models, once librsc reads v2.

Why 1e-9: the converted network computes the same arithmetic as SpikingJelly's (the same LIF
expressions, rsc.reference in float64), except that BN is folded into the weights (w*k instead of
conv-then-scale) and sums run in another order: currents differ by ~1e-16 relative, so spikes
are identical unless a membrane lies within that of the threshold, and the logits (T-means of
the fc output) differ by ~1e-15. Any semantic difference (a wrong reset, leak, connect function
or argument order) moves them by far more than 1e-9.

Skips when torch or spikingjelly is not installed (scripts/setup.sh installs both)."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed: pip install torch==2.13.0")
pytest.importorskip("spikingjelly.activation_based",
                    reason="spikingjelly not installed: see scripts/setup.sh")

pytestmark = pytest.mark.usefixtures("torch_one_thread")

from spikingjelly.activation_based import functional, layer, neuron, surrogate  # noqa: E402

from rsc import format as rf  # noqa: E402
from rsc import reference as ref  # noqa: E402
from rsc.convert import ConversionError  # noqa: E402
from rsc.convert import spikingjelly as csj  # noqa: E402

sew_resnet, spiking_resnet, spiking_vgg = csj.import_zoo()

REPO = Path(__file__).resolve().parents[3]
IMAGES = REPO / "models" / "data" / "fmnist_test_1000_images.npy"
T = 4
SIGMA = 0.25


def images(n, offset=0):
    if IMAGES.exists():
        return np.load(IMAGES)[offset:offset + n].astype(np.float64)
    return np.random.default_rng(offset).random((n, 1, 28, 28))


def noisy(x, seed, t=T, sigma=SIGMA):
    """(B, T, C, H, W): x + sigma * N(0, 1), fresh per step (rsc's gaussian coding)."""
    rng = np.random.default_rng(seed)
    return x[:, None] + sigma * rng.standard_normal((x.shape[0], t) + x.shape[1:])


def sj_forward(net, u, mode="m"):
    """SpikingJelly's logits: the T-mean of the network's output; u (B, T, C, H, W)."""
    x = torch.from_numpy(np.ascontiguousarray(u.transpose(1, 0, *range(2, u.ndim))))
    functional.reset_net(net)
    with torch.no_grad():
        if mode == "m":
            out = net(x).mean(0)
        else:
            out = sum(net(x[t]) for t in range(x.shape[0])) / x.shape[0]
    functional.reset_net(net)
    return out.numpy()


# ---------------------------------------------------------------------------------------------
# Making random networks that behave like trained ones and convert losslessly
# ---------------------------------------------------------------------------------------------

WEIGHTED = (torch.nn.Conv2d, torch.nn.Linear)
BNS = (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)


def units(net):
    """(weighted module, its BN or None) in registration order (= an order in which each
    unit's input depends only on earlier units, for the zoo and for sequential nets)."""
    mods = list(net.modules())
    out = []
    for i, m in enumerate(mods):
        if isinstance(m, WEIGHTED):
            bn = mods[i + 1] if i + 1 < len(mods) and isinstance(mods[i + 1], BNS) else None
            out.append((m, bn))
    return out


def _per_channel(t, conv):
    c = t.shape[-3] if conv else t.shape[-1]
    a = t.movedim(-3 if conv else -1, 0).reshape(c, -1)
    return a.mean(1), a.std(1) + 1e-3


def calibrate_and_snap(net, u, v_threshold=1.0, seed=0, mode="m", gain=1.0):
    """Set every unit's statistics so that its neurons fire at healthy rates, then put the
    BN-folded weights on the int8 grid (per output channel: q * s, s float32, max |q| = 127) and
    the folded biases on float32, writing the float weights / BN parameters back so that
    SpikingJelly's network is exactly that folded one (to float64 rounding).

    Per unit, in order: the pre-BN output x of the conv / linear on the calibration inputs u is
    measured, and the unit is made to output I = gain * v_threshold * (a + b z) with z ~ the
    standardized x, a ~ U(0.1, 0.7), b ~ U(0.5, 1.2) per channel (gain > 1 for a leaky neuron
    that charges slowly, e.g. tau 4 with decay_input: 68% of I after 4 steps); BN gets running statistics
    near (not equal to) the measured ones, a weight and a bias; the last unit (the logits) is
    centred per class and scaled to unit spread."""
    g = torch.Generator().manual_seed(seed)
    us = units(net)
    for j, (m, bn) in enumerate(us):
        conv = isinstance(m, torch.nn.Conv2d)
        last = j == len(us) - 1
        with torch.no_grad():
            if True:
                seen = []
                h = m.register_forward_hook(lambda mod, i, o: seen.append(o.detach()))
                sj_forward(net, u, mode)
                h.remove()
                mean, std = _per_channel(torch.cat([s.reshape(-1, *s.shape[-3 if conv else -1:])
                                                    for s in seen]), conv)
                c = mean.numel()
                if last:  # the logits: centred per class, unit spread (argmax not constant)
                    if bn is None and m.bias is not None:
                        f = 1 / std.mean()
                        m.weight.mul_(f)
                        m.bias.copy_((m.bias - mean) * f)
                    snap(m, bn)
                    continue
                a = (torch.rand(c, generator=g, dtype=torch.float64) * 0.6 + 0.1) * gain
                b = (torch.rand(c, generator=g, dtype=torch.float64) * 0.7 + 0.5) * gain
                if bn is not None:
                    bn.running_mean.copy_(mean + 0.1 * std * torch.randn(c, generator=g,
                                                                         dtype=torch.float64))
                    bn.running_var.copy_(std ** 2 * (0.7 + 0.7 * torch.rand(
                        c, generator=g, dtype=torch.float64)) - bn.eps)
                    rstd = 1 / torch.sqrt(bn.running_var + bn.eps)
                    bn.weight.copy_(v_threshold * b * std * rstd)
                    bn.bias.copy_(v_threshold * a)
                else:
                    shape = (-1,) + (1,) * (m.weight.dim() - 1)
                    f = v_threshold * b / std
                    bias = m.bias if m.bias is not None else torch.zeros(c, dtype=torch.float64)
                    m.weight.mul_(f.reshape(shape))
                    if m.bias is not None:
                        m.bias.copy_((bias - mean) * f + v_threshold * a)
            snap(m, bn)


def snap(m, bn):
    """The folded weights of (m, bn) onto the int8 grid, the folded bias onto float32."""
    w = m.weight.detach().double()
    b = m.bias.detach().double() if m.bias is not None else torch.zeros(w.shape[0],
                                                                         dtype=torch.float64)
    shape = (-1,) + (1,) * (w.dim() - 1)
    if bn is not None:
        k = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        wf, bf = w * k.reshape(shape), (b - bn.running_mean) * k + bn.bias
    else:
        k, wf, bf = None, w, b
    q, s = rf.quantize_per_channel(wf.numpy())
    wq = torch.from_numpy(q.astype(np.float64) * s.astype(np.float64).reshape(shape))
    bq = torch.from_numpy(bf.numpy().astype(np.float32).astype(np.float64))
    if bn is None:
        m.weight.copy_(wq)
        if m.bias is not None:
            m.bias.copy_(bq)
        else:
            assert np.all(bq.numpy() == 0)
    else:
        m.weight.copy_(wq / k.reshape(shape))
        bn.bias.copy_(bq - (b - bn.running_mean) * k)


# ---------------------------------------------------------------------------------------------
# The zoo at small widths
# ---------------------------------------------------------------------------------------------

def small_sew_resnet(cnf, blocks=(1, 1, 1, 1), widths=(8, 16, 16, 32), num_classes=10,
                     spiking_neuron=neuron.IFNode, block=None, **neuron_kw):
    """The zoo's SEWResNet (BasicBlock) for 1 x 28 x 28: the class builds its fixed ImageNet
    widths (64..512, 3-channel stem), so the stem conv is replaced by a 1-channel 3x3 one
    (stride 1, padding 1, as CIFAR-style SEW-ResNets: 28 -> 28, the zoo's maxpool -> 14, then
    14, 7, 4, 2 in layer1..4, so the zoo's AdaptiveAvgPool2d((1, 1)) pools a 2x2 map), and
    layer1..4 are rebuilt at `widths` by the class's own `_make_layer` (so blocks, downsample
    branches and neurons are the zoo's); fc takes widths[3]."""
    block = block or sew_resnet.BasicBlock
    torch.manual_seed(0)
    net = sew_resnet.SEWResNet(block, list(blocks), num_classes=num_classes,
                               cnf=cnf, spiking_neuron=spiking_neuron, **neuron_kw)
    return _shrink_resnet(net, block, blocks, widths, num_classes,
                          dict(cnf=cnf), spiking_neuron, neuron_kw)


def small_spiking_resnet(blocks=(1, 1, 1, 1), widths=(8, 16, 16, 32), num_classes=10,
                         spiking_neuron=neuron.LIFNode, block=None, **neuron_kw):
    block = block or spiking_resnet.BasicBlock
    torch.manual_seed(0)
    net = spiking_resnet.SpikingResNet(block, list(blocks), num_classes=num_classes,
                                       spiking_neuron=spiking_neuron, **neuron_kw)
    return _shrink_resnet(net, block, blocks, widths, num_classes, {}, spiking_neuron,
                          neuron_kw)


def _shrink_resnet(net, block, blocks, widths, num_classes, extra, spiking_neuron, neuron_kw):
    net.conv1 = layer.Conv2d(1, widths[0], kernel_size=3, stride=1, padding=1, bias=False)
    net.bn1 = layer.BatchNorm2d(widths[0])
    net.inplanes = widths[0]
    for i, (n, w) in enumerate(zip(blocks, widths)):
        setattr(net, f"layer{i + 1}", net._make_layer(block, w, n, stride=1 if i == 0 else 2,
                                                      spiking_neuron=spiking_neuron,
                                                      **extra, **neuron_kw))
    net.fc = layer.Linear(widths[3] * block.expansion, num_classes)
    functional.set_step_mode(net, "m")
    return net.double().eval()


def small_vgg(batch_norm, cfg=(8, "M", 16, "M"), hidden=32, num_classes=10,
              spiking_neuron=neuron.IFNode, **neuron_kw):
    """The zoo's SpikingVGG with a small cfg: its make_layers starts from 3 channels, so the
    first conv is replaced by a 1-channel one (3x3, padding 1); 28 -> 7 after two 'M', where the
    zoo's AdaptiveAvgPool2d((7, 7)) is the identity; the classifier (built for 512*7*7 ->
    4096 -> 4096) is rebuilt with the zoo's structure at `hidden` units."""
    torch.manual_seed(0)
    net = spiking_vgg.SpikingVGG(list(cfg), batch_norm=batch_norm, num_classes=num_classes,
                                 spiking_neuron=spiking_neuron, **neuron_kw)
    net.features[0] = layer.Conv2d(1, cfg[0], kernel_size=3, padding=1)
    c = [v for v in cfg if v != "M"][-1]
    net.classifier = torch.nn.Sequential(
        layer.Linear(c * 7 * 7, hidden), spiking_neuron(**neuron_kw), layer.Dropout(),
        layer.Linear(hidden, hidden), spiking_neuron(**neuron_kw), layer.Dropout(),
        layer.Linear(hidden, num_classes))
    functional.set_step_mode(net, "m")
    return net.double().eval()


def prepared(net, v_threshold=1.0, seed=0, mode="m", input_shape=(1, 28, 28), gain=1.0):
    x = images(48, offset=900) if input_shape == (1, 28, 28) else \
        np.random.default_rng(seed).random((48,) + input_shape)
    calibrate_and_snap(net, noisy(x, seed + 100), v_threshold=v_threshold, seed=seed,
                       mode=mode, gain=gain)
    return net


def agreement(net, model, n=500, mode="m", seed=1, input_shape=(1, 28, 28)):
    """(argmax agreement, fraction of passes with logits within 1e-9, max |diff|, u, want)."""
    x = images(n) if input_shape == (1, 28, 28) else \
        np.random.default_rng(seed).random((n,) + input_shape)
    u = noisy(x, seed)
    want = sj_forward(net, u, mode)
    got = ref.forward_batch(model, u)
    close = np.all(np.abs(got - want) <= 1e-9 * (1 + np.abs(want)), axis=1)
    return (got.argmax(1) == want.argmax(1)).mean(), close.mean(), np.abs(got - want).max(), u, \
        want


def check_exact(net, model, n=500, mode="m", input_shape=(1, 28, 28), rates=True):
    a, close, diff, u, want = agreement(net, model, n, mode, input_shape=input_shape)
    assert a >= 0.99 and close >= 0.99, (a, close, diff)
    assert len(set(want.argmax(1))) > 1  # not a constant classifier
    if rates:
        r = [x for x in ref.firing_rates(model, u[:50]) if x is not None]
        assert r and all(0.01 < x < 0.95 for x in r), r
    return a, close, diff, u


def kinds(model):
    return [nd.kind for nd in model.nodes]


# The zoo cases, built once per module (the reference and the runtime tests share them).
ZOO_CASES = {
    "sew_resnet-ADD-LIF": lambda: prepared(small_sew_resnet(
        "ADD", (2, 1, 1, 1), spiking_neuron=neuron.LIFNode, tau=2.0, detach_reset=True)),
    "sew_resnet-IAND-IF-soft": lambda: prepared(small_sew_resnet(
        "IAND", (1, 1, 1, 1), spiking_neuron=neuron.IFNode, v_reset=None)),
    "spiking_resnet-LIF-no-decay-input": lambda: prepared(small_spiking_resnet(
        spiking_neuron=neuron.LIFNode, tau=4.0, decay_input=False, v_threshold=0.75,
        v_reset=-0.25), v_threshold=0.75),
    "sew_resnet-Bottleneck-IAND-LIF": lambda: prepared(small_sew_resnet(
        "IAND", (1, 1, 1, 1), (4, 8, 8, 8), spiking_neuron=neuron.LIFNode,
        block=sew_resnet.Bottleneck, tau=2.0), gain=1.3),
    "spiking_resnet-Bottleneck-IF": lambda: prepared(small_spiking_resnet(
        (1, 1, 1, 1), (4, 8, 8, 8), spiking_neuron=neuron.IFNode,
        block=spiking_resnet.Bottleneck)),
    "spiking_vgg-BN-PLIF": lambda: prepared(small_vgg(
        True, spiking_neuron=neuron.ParametricLIFNode, init_tau=4.0), gain=1.6),
    "spiking_vgg-IF": lambda: prepared(small_vgg(False, spiking_neuron=neuron.IFNode)),
}
_built: dict = {}


def zoo_case(key):
    """(net, model) of a zoo case, converted once."""
    if key not in _built:
        net = ZOO_CASES[key]()
        model, report = csj.convert_module(net, input_shape=(1, 28, 28), time_steps=T,
                                           sigma=SIGMA, name=key)
        # the folded weights were put on the int8 grid: the conversion is lossless
        assert all(r["max_abs_error"] <= 1e-12 * r["max_abs_weight"] for r in report), report
        _built[key] = net, model
    return _built[key]


def test_sew_resnet_add():
    net, model = zoo_case("sew_resnet-ADD-LIF")
    k = kinds(model)
    assert k[:4] == ["conv2d", "lif", "maxpool2d", "conv2d"]
    assert k[-2:] == ["global_avgpool", "linear"]  # (C, 1, 1) needs no flatten
    assert k.count("add") == 5 and "iand" not in k and "and" not in k
    assert all(nd.tau == 2.0 and nd.decay_input and nd.reset == "hard" and nd.v_reset == 0
               for nd in model.nodes if nd.kind == "lif")
    check_exact(net, model)


def test_sew_resnet_iand():
    net, model = zoo_case("sew_resnet-IAND-IF-soft")
    k = kinds(model)
    assert k.count("iand") == 4 and "add" not in k
    assert all(nd.reset == "soft" and nd.v_reset == 0 for nd in model.nodes if nd.kind == "if")
    # BasicBlock computes sew_function(identity, out) = identity * (1 - out): layer1's block
    # has no downsample, so its iand reads (the maxpool, the block's sn2)
    first = model.nodes[k.index("iand")]
    assert [model.nodes[i - 1].kind for i in first.inputs] == ["maxpool2d", "if"]
    assert first.inputs[0] < first.inputs[1]
    check_exact(net, model)


def test_spiking_resnet():
    net, model = zoo_case("spiking_resnet-LIF-no-decay-input")
    k = kinds(model)
    # each block: conv, lif, conv, [downsample conv], add, lif (the sum before sn2)
    assert k.count("add") == 4 and "iand" not in k
    for i, nd in enumerate(model.nodes, start=1):
        if nd.kind == "add":
            assert model.nodes[i].kind == "lif"  # read by the block's sn2
            assert all(model.nodes[j - 1].kind in ("conv2d", "lif", "maxpool2d")
                       for j in nd.inputs)
    assert all(nd.tau == 4.0 and not nd.decay_input and nd.v_reset == -0.25 and
               nd.v_threshold == 0.75 and nd.reset == "hard"
               for nd in model.nodes if nd.kind == "lif")
    check_exact(net, model)


@pytest.mark.parametrize("key", ["sew_resnet-Bottleneck-IAND-LIF",
                                 "spiking_resnet-Bottleneck-IF"])
def test_bottleneck_resnets(key):
    """Bottleneck blocks: SEW's calls sew_function(out, identity) (IAND = out AND NOT identity,
    the other order than BasicBlock's); Spiking-ResNet's sums before sn3."""
    net, model = zoo_case(key)
    k = kinds(model)
    if "sew" in key:
        assert k.count("iand") == 4
        first = model.nodes[k.index("iand")]
        # layer1's block has a downsample (4 -> 16 channels): out = sn3 is emitted before
        # identity = downsample_sn, and iand reads (out, identity)
        assert first.inputs[0] < first.inputs[1]
        assert model.nodes[first.inputs[1] - 2].kind == "conv2d"  # downsample conv, then its sn
    else:
        assert k.count("add") == 4
    check_exact(net, model)


@pytest.mark.parametrize("key", ["spiking_vgg-BN-PLIF", "spiking_vgg-IF"])
def test_spiking_vgg(key):
    net, model = zoo_case(key)
    n = "lif" if "PLIF" in key else "if"
    # the zoo's AdaptiveAvgPool2d((7, 7)) of the 7x7 map is the identity: no node
    assert kinds(model) == ["conv2d", n, "maxpool2d", "conv2d", n, "maxpool2d", "flatten",
                            "linear", n, "linear", n, "linear"]
    if n == "lif":
        assert all(nd.tau == 4.0 and nd.decay_input for nd in model.nodes if nd.kind == "lif")
    check_exact(net, model)


@pytest.mark.parametrize("key", list(ZOO_CASES))
def test_zoo_runtime(key, librsc, tmp_path):
    """The int8 runtime (rsc_forward) on the converted zoo models, same inputs: argmax agreement
    with SpikingJelly >= 99%, logits within 1e-4 (relative; fixed-point membranes) on >= 99%."""
    import rsc
    net, model = zoo_case(key)
    path = tmp_path / "net.rscm"
    rf.write_model(model, path)
    m = rsc.load(path)
    x = images(500)
    u = noisy(x, 1)
    want = sj_forward(net, u)
    got = np.stack([m.forward(u[i]) for i in range(len(u))])
    close = np.all(np.abs(got - want) <= 1e-4 * (1 + np.abs(want)), axis=1).mean()
    a = (got.argmax(1) == want.argmax(1)).mean()
    assert a >= 0.99 and close >= 0.99, (a, close)


# ---------------------------------------------------------------------------------------------
# Single modules
# ---------------------------------------------------------------------------------------------

SMALL = (1, 8, 8)


def convert_small(net, **kw):
    kw.setdefault("input_shape", SMALL)
    return csj.convert_module(net, **kw)[0]


def check_small(net, mode="m", n=300, **kw):
    """Calibrate + snap a small net on random 8x8 inputs, convert, compare (as check_exact)."""
    prepared(net, mode=mode, input_shape=SMALL, **kw)
    model = convert_small(net)
    check_exact(net, model, n=n, mode=mode, input_shape=SMALL)
    return model


def ms(*mods):
    net = torch.nn.Sequential(*mods)
    functional.set_step_mode(net, "m")
    return net.double().eval()


def test_lif_decay_input_false_bn1d_after_linear_dropout():
    torch.manual_seed(1)
    net = ms(layer.Flatten(), layer.Linear(64, 16), layer.BatchNorm1d(16),
             neuron.LIFNode(tau=3.0, decay_input=False, v_threshold=0.5, v_reset=-0.5),
             layer.Dropout(0.3), torch.nn.Dropout(0.2), layer.Linear(16, 4))
    model = check_small(net, v_threshold=0.5)
    assert kinds(model) == ["flatten", "linear", "lif", "linear"]
    lif = model.nodes[2]
    assert (lif.tau, lif.decay_input, lif.v_threshold, lif.v_reset, lif.reset) == \
        (3.0, False, 0.5, -0.5, "hard")


def test_soft_reset_lif_and_if():
    torch.manual_seed(2)
    net = ms(layer.Conv2d(1, 4, 3, padding=1), neuron.LIFNode(v_reset=None, v_threshold=0.75),
             layer.AvgPool2d(2), layer.Conv2d(4, 6, 3),
             neuron.IFNode(v_reset=None, v_threshold=1.5), layer.Flatten(),
             layer.Linear(6 * 2 * 2, 3))
    # calibrate toward the first threshold; the IF integrates, so it fires anyway
    model = check_small(net, v_threshold=0.75)
    assert kinds(model) == ["conv2d", "lif", "avgpool2d", "conv2d", "if", "flatten", "linear"]
    assert [(nd.reset, nd.v_reset, nd.v_threshold) for nd in model.nodes
            if nd.kind in ("lif", "if")] == [("soft", 0.0, 0.75), ("soft", 0.0, 1.5)]


@pytest.mark.parametrize("decay_input", [True, False])
def test_parametric_lif_tau(decay_input):
    """ParametricLIFNode charges with sigmoid(w): an LIF with tau = 1 / sigmoid(w), the trained
    value (stored as float32, 6e-8 relative: the logits still agree to 1e-9 on >= 99%)."""
    torch.manual_seed(3)
    net = ms(layer.Conv2d(1, 4, 3, padding=1),
             neuron.ParametricLIFNode(init_tau=2.0, decay_input=decay_input),
             layer.MaxPool2d(2), layer.Flatten(), layer.Linear(64, 3))
    with torch.no_grad():
        net[1].w.fill_(0.3)  # "trained": tau = 1 + exp(-0.3) = 1.7408...
    model = check_small(net, gain=1.3)
    lif = model.nodes[1]
    assert lif.kind == "lif" and lif.decay_input == decay_input
    assert lif.tau == np.float32(1 + np.exp(-0.3))


def test_if_hard_reset_containers():
    """SeqToANNContainer of plain torch layers (conv, BN, pools, flatten, linear) and
    MultiStepContainer of single-step ones, with multi-step neurons between them."""
    torch.manual_seed(4)
    net = torch.nn.Sequential(
        layer.SeqToANNContainer(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4)),
        neuron.IFNode(step_mode="m", v_threshold=1.0, v_reset=0.0),
        layer.SeqToANNContainer(torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                                torch.nn.Linear(64, 12), torch.nn.BatchNorm1d(12)),
        neuron.LIFNode(step_mode="m"),
        layer.MultiStepContainer(torch.nn.Linear(12, 10), neuron.IFNode(), torch.nn.Dropout(),
                                 torch.nn.Linear(10, 3))).double().eval()
    model = check_small(net)
    assert kinds(model) == ["conv2d", "if", "maxpool2d", "flatten", "linear", "lif", "linear",
                            "if", "linear"]


def test_single_step_mode():
    """Single-step networks (called once per time step, as SpikingJelly's default): plain torch
    layers with single-step neurons, and a zoo network set to step mode 's'."""
    torch.manual_seed(5)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                              neuron.LIFNode(), torch.nn.AvgPool2d(2),
                              torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(),
                              torch.nn.Linear(16, 3)).double().eval()
    model = check_small(net, mode="s")
    assert kinds(model) == ["conv2d", "lif", "avgpool2d", "avgpool2d", "flatten", "linear"]
    assert model.nodes[3].kernel == (2, 2)
    zoo = prepared(small_vgg(False, spiking_neuron=neuron.IFNode))
    functional.set_step_mode(zoo, "s")
    model = csj.convert_module(zoo)[0]
    check_exact(zoo, model, n=200, mode="s")


def test_adaptive_pools():
    torch.manual_seed(6)
    net = ms(layer.Conv2d(1, 4, 3, padding=1), neuron.IFNode(), layer.AdaptiveAvgPool2d(4),
             layer.AdaptiveAvgPool2d((None, 2)), layer.AdaptiveAvgPool2d(1), layer.Flatten(),
             layer.Linear(4, 3))
    model = check_small(net)
    assert kinds(model) == ["conv2d", "if", "avgpool2d", "avgpool2d", "global_avgpool", "linear"]
    assert [model.nodes[i].out_shape for i in (2, 3, 4)] == [(4, 4, 4), (4, 4, 2), (4, 1, 1)]


# ---------------------------------------------------------------------------------------------
# Errors: everything that SpikingJelly would compute differently
# ---------------------------------------------------------------------------------------------

def conv_if(*tail, neuron_module=None):
    """conv(1->4) -> neuron -> *tail (-> flatten -> linear if tail is empty), multi-step."""
    n = neuron_module if neuron_module is not None else neuron.IFNode()
    if not tail:
        tail = (layer.Flatten(), layer.Linear(4 * 8 * 8, 3))
    return ms(layer.Conv2d(1, 4, 3, padding=1), n, *tail)


def raises(net, match, **kw):
    with pytest.raises(ConversionError, match=match):
        convert_small(net, **kw)


def test_errors_neurons():
    lif = neuron.LIFNode()
    lif.tau = torch.full((4,), 2.0)
    raises(conv_if(neuron_module=lif), r"module '1' \(LIFNode\): tau has 4 values")
    plif = neuron.ParametricLIFNode()
    plif.w = torch.nn.Parameter(torch.zeros(4, 1, 1))
    raises(conv_if(neuron_module=plif), r"'1' \(ParametricLIFNode\): w has 4 values")
    n = neuron.IFNode()
    n.v_threshold = torch.ones(4, 8, 8)
    raises(conv_if(neuron_module=n), "v_threshold has 256 values")

    class MyLIF(neuron.LIFNode):
        pass
    raises(conv_if(neuron_module=MyLIF()), r"'1' \(MyLIF\): rsc converts neuron.LIFNode")
    raises(conv_if(neuron_module=neuron.IFNode(surrogate_function=surrogate.ATan(
        spiking=False))), "not in spiking mode")

    class Odd(surrogate.ATan):
        pass
    raises(conv_if(neuron_module=neuron.IFNode(surrogate_function=Odd())),
           "not one of SpikingJelly's built-in surrogates")
    n = neuron.LIFNode()
    n.set_reset_value("v", 0.5)
    raises(conv_if(neuron_module=n), "membranes start at 0.5")
    n = neuron.IFNode()
    n._neuron_precision = (torch.float16, "fp32", "fp32")
    raises(conv_if(neuron_module=n), "reduced-precision neuron state")
    raises(conv_if(neuron_module=neuron.IzhikevichNode()), "rsc converts neuron.LIFNode")
    # a neuron not reading a conv / linear: spikes, or the input itself
    raises(ms(layer.Conv2d(1, 4, 3, padding=1), neuron.IFNode(), neuron.IFNode(),
              layer.Flatten(), layer.Linear(256, 3)), r"module '2' \(IFNode\) reads a spike map")
    raises(ms(neuron.IFNode(), layer.Flatten(), layer.Linear(64, 3)), "reads the model input")
    # inside a SeqToANNContainer, where the membrane would not carry over steps
    raises(torch.nn.Sequential(layer.SeqToANNContainer(torch.nn.Conv2d(1, 4, 3, padding=1),
                                                       neuron.IFNode()),
                               layer.SeqToANNContainer(torch.nn.Flatten(),
                                                       torch.nn.Linear(256, 3))),
           "inside a SeqToANNContainer")
    # the network must end with the logits layer, not spikes
    raises(conv_if(layer.Flatten(), layer.Linear(256, 3), neuron.IFNode()),
           "ends with spikes")


def test_errors_layers():
    raises(conv_if(torch.nn.ReLU(), layer.Flatten(), layer.Linear(256, 3)),
           r"module '2' \(ReLU\) is not supported")
    raises(conv_if(surrogate.ATan(), layer.Flatten(), layer.Linear(256, 3)),
           r"module '2' \(ATan\): a surrogate function used as a layer")
    raises(ms(layer.Conv2d(1, 4, 3, padding=1), layer.MaxPool2d(2), neuron.IFNode(),
              layer.Flatten(), layer.Linear(64, 3)), r"'1' \(MaxPool2d\) pools the output of a")
    raises(conv_if(layer.BatchNorm2d(4), layer.Flatten(), layer.Linear(256, 3)),
           r"'2' \(BatchNorm2d\): batch norm must follow a conv or linear")
    raises(ms(layer.Conv2d(1, 4, 3, padding=1, groups=1, dilation=2), neuron.IFNode(),
              layer.Flatten(), layer.Linear(4 * 6 * 6, 3)), "dilation=1")
    raises(ms(layer.Conv2d(1, 4, 3, padding=1), neuron.IFNode(), layer.Conv2d(4, 4, 3, groups=2),
              neuron.IFNode(), layer.Flatten(), layer.Linear(144, 3)), "groups=1")
    raises(conv_if(layer.AdaptiveAvgPool2d(3), layer.Flatten(), layer.Linear(36, 3)),
           "windows of unequal size")
    raises(conv_if(layer.Linear(8, 3)), "needs a vector input")
    raises(conv_if(layer.MaxPool2d(2, ceil_mode=True), layer.Flatten(), layer.Linear(64, 3)),
           "ceil_mode")
    raises(conv_if(layer.Flatten(), layer.Linear(256, 8), layer.BatchNorm2d(8), neuron.IFNode(),
                   layer.Linear(8, 3)), "BatchNorm1d after a linear layer")
    raises(ms(layer.Conv2d(1, 3, 3, padding=1)), r"outputs a \(3, 8, 8\) map")
    raises(ms(layer.WSConv2d(1, 4, 3, padding=1), neuron.IFNode(), layer.Flatten(),
              layer.Linear(256, 3)), r"'0' \(WSConv2d\) is not supported")
    net = conv_if()
    net[0].register_forward_hook(lambda m, i, o: o * 2)
    raises(net, "forward hooks")


def test_errors_step_modes():
    # a single-step layer in a multi-step network (SpikingJelly would fail or mix T and N)
    net = conv_if()
    net[0].step_mode = "s"
    raises(net, r"'0' \(Conv2d\) has step_mode 's' but is called in a multi-step")
    # neurons of both modes
    net = conv_if(layer.Flatten(), layer.Linear(256, 8), neuron.IFNode(), layer.Linear(8, 3))
    net[4].step_mode = "s"
    raises(net, "mix step modes")
    # plain torch layers on the sequence [T, N, ...]
    raises(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1),
                               neuron.IFNode(step_mode="m"), torch.nn.Flatten(),
                               torch.nn.Linear(256, 3)).double(), "plain torch layer")
    # Flatten(1) on [T, N, C, H, W] flattens N into the features; Flatten(2) is right
    ok = torch.nn.Sequential(layer.SeqToANNContainer(torch.nn.Conv2d(1, 4, 3, padding=1)),
                             neuron.IFNode(step_mode="m"), torch.nn.Flatten(2),
                             torch.nn.Linear(256, 3)).double()
    assert kinds(convert_small(ok)) == ["conv2d", "if", "flatten", "linear"]
    ok[2] = torch.nn.Flatten(1)
    raises(ok, r"'2' \(Flatten\): flattens dims 1..-1 of a rank-5 tensor")
    # containers in a single-step network
    raises(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), neuron.IFNode(),
                               layer.SeqToANNContainer(torch.nn.Flatten(),
                                                       torch.nn.Linear(256, 3))),
           "single-step neurons and multi-step containers")


def test_errors_zoo():
    net = small_sew_resnet("ADD")
    net.layer1[0].cnf = "OR"
    with pytest.raises(ConversionError, match=r"'layer1.0' \(BasicBlock\): connect function"):
        csj.convert_module(net)
    net = small_sew_resnet("AND", spiking_neuron=neuron.IFNode)
    assert kinds(csj.convert_module(net)[0]).count("and") == 4
    # the zoo's forward flattens by avgpool's step mode: it must match the network's
    net = small_sew_resnet("ADD")
    net.avgpool.step_mode = "s"
    with pytest.raises(ConversionError, match=r"'avgpool' \(AdaptiveAvgPool2d\) has step_mode 's'"):
        csj.convert_module(net)
    # resnext (grouped convs) and dilation are not in rsc
    torch.manual_seed(0)
    net = spiking_resnet.SpikingResNet(spiking_resnet.Bottleneck, [1, 1, 1, 1], groups=2,
                                       width_per_group=4, spiking_neuron=neuron.IFNode)
    net.conv1 = layer.Conv2d(1, 64, 7, 2, 3, bias=False)
    functional.set_step_mode(net, "m")
    with pytest.raises(ConversionError, match=r"'layer1.0.conv2' \(Conv2d\): only groups=1"):
        csj.convert_module(net)
    # a subclass overriding the forward is not the zoo's network
    class Mine(spiking_vgg.SpikingVGG):
        def forward(self, x):
            return super().forward(x) * 2
    with pytest.raises(ConversionError, match=r"\(Mine\) is not supported"):
        csj.convert_module(Mine([8, "M"], spiking_neuron=neuron.IFNode))


def test_import_zoo_stub_is_removed():
    """import_zoo put a torchvision stand-in in sys.modules only for the zoo's import (a real
    torchvision, if any, has a module spec; the stand-in has none)."""
    import sys
    tv = sys.modules.get("torchvision")
    assert tv is None or tv.__spec__ is not None
    assert "torchvision._internally_replaced_utils" not in sys.modules or tv is not None
    with pytest.raises(RuntimeError, match="pretrained weights need torchvision"):
        sew_resnet.sew_resnet18(pretrained=True, cnf="ADD", spiking_neuron=neuron.IFNode)


def test_cli_spikingjelly(tmp_path, librsc):
    from rsc.convert.__main__ import main
    net, model = zoo_case("spiking_vgg-IF")
    path = tmp_path / "vgg.pt"
    torch.save(net, path)
    out = tmp_path / "vgg.rscm"
    assert main(["spikingjelly", str(path), "--out", str(out), "--name", "cli",
                 "--class-names", ",".join("abcdefghij")]) == 0
    m = rf.read_model(out)
    assert m.name == "cli" and m.time_steps == 4 and m.coding == "gaussian" and \
        m.sigma == np.float32(0.25) and m.class_names == list("abcdefghij")
    assert m.nodes == model.nodes
    # weights from a state dict into a network made by MODULE:FUNCTION
    sd = tmp_path / "sd.pt"
    torch.save(net.state_dict(), sd)
    out2 = tmp_path / "vgg2.rscm"
    assert main(["spikingjelly", f"{__name__}:_cli_vgg", "--state-dict", str(sd), "--out",
                 str(out2), "--time-steps", "8", "--coding", "direct"]) == 0
    m2 = rf.read_model(out2)
    assert m2.nodes == model.nodes and m2.time_steps == 8 and m2.sigma == 0
    bad = tmp_path / "bad.pt"
    torch.save(torch.nn.Sequential(torch.nn.ReLU()), bad)
    assert main(["spikingjelly", str(bad), "--out", str(tmp_path / "b.rscm")]) == 1
    assert not (tmp_path / "b.rscm").exists()


def _cli_vgg():
    return small_vgg(False, spiking_neuron=neuron.IFNode)


def test_full_width_factory_converts():
    """The zoo's factory at its real widths (sew_resnet18, 64..512 channels, 11M weights), with
    the stem conv taking 1 channel: the graph has the expected shape. (Agreement is checked on
    the small nets above; at full width SpikingJelly and rsc.reference agreed on 50 of 50
    calibrated passes, identical logits, but that takes minutes.)"""
    torch.manual_seed(0)
    net = sew_resnet.sew_resnet18(cnf="ADD", spiking_neuron=neuron.IFNode, num_classes=10)
    net.conv1 = layer.Conv2d(1, 64, 7, 2, 3, bias=False)
    functional.set_step_mode(net, "m")
    model, report = csj.convert_module(net.eval())
    k = kinds(model)
    assert len(k) == 50 and k.count("add") == 8 and k.count("if") == 1 + 8 * 2 + 3
    # 28 -> 14 (stem) -> 7 (maxpool) -> 7, 4, 2, 1: the zoo's AdaptiveAvgPool2d((1, 1)) of the
    # 1x1 map is the identity
    assert k[-2:] == ["add", "linear"] and model.num_classes == 10
    assert [r["module"] for r in report][:3] == ["conv1+bn1", "layer1.0.conv1+layer1.0.bn1",
                                                 "layer1.0.conv2+layer1.0.bn2"]
