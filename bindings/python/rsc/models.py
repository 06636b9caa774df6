"""Random and analytic models for tests, fixtures and examples.

`random_conv_snn`, `random_mlp` and `random_resnet` (a version 2 graph) draw weights from a seeded numpy generator and then
calibrate every spiking layer's biases, channel by channel, so that each channel fires on
about `target_rate` of its (neuron, step) slots for inputs x ~ U[0, 1]^d passed through the
model's own coding. Without this, random spiking networks are mostly silent or saturated and
tests of the spike path test nothing. Everything is deterministic for a given seed.
"""

from __future__ import annotations

import math

import numpy as np

from . import format as rf
from . import reference as ref

__all__ = ["random_conv_snn", "random_mlp", "random_resnet", "linear_classifier",
           "calibration_inputs"]


def calibration_inputs(input_shape, time_steps: int, coding: str, sigma: float,
                       rng: np.random.Generator, n: int = 64) -> np.ndarray:
    """n passes' inputs (n, T, C, H, W): x ~ U[0, 1]^d per pass, then the coding's noise."""
    c, h, w = input_shape
    x = rng.random((n, c, h, w))
    shape = (n, time_steps, c, h, w)
    if coding == "gaussian":
        return x[:, None] + sigma * rng.standard_normal(shape)
    if coding == "gaussian-shared":
        return np.broadcast_to((x + sigma * rng.standard_normal(x.shape))[:, None], shape).copy()
    if coding == "poisson":
        return (rng.random(shape) < x[:, None]).astype(np.float64)
    if coding == "direct":
        return np.broadcast_to(x[:, None], shape).copy()
    raise ValueError(f"unknown coding {coding!r}")


def _currents(layer: rf.Layer, inp: np.ndarray) -> np.ndarray:
    """The layer's input currents without bias, (B, T, C, H, W), for layer inputs `inp`."""
    saved = layer.bias
    layer.bias = np.zeros_like(saved)
    try:
        return np.stack([ref._synapse(layer, inp[:, t]) for t in range(inp.shape[1])], axis=1)
    finally:
        layer.bias = saved


def _channel_stats(layer: rf.Layer, currents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run one spiking layer with its current bias on the bias-free `currents` (see
    _currents). Per output channel: the fraction of (pass, step, position) with a spike, and
    min |h - v_threshold| (the threshold margin). Bit-identical to the reference, which also
    computes (w (*) a) + bias."""
    bsz, t_steps = currents.shape[:2]
    c = layer.out_shape[0]
    bias = layer.bias.astype(np.float64)[None, :, None, None]
    v = np.full((bsz,) + tuple(layer.out_shape), float(np.float32(layer.v_reset)))
    count = np.zeros(c)
    margin = np.full(c, np.inf)
    for t in range(t_steps):
        s, h = ref._neuron_step(layer, v, currents[:, t] + bias)
        count += s.sum(axis=(0, 2, 3))
        gap = np.abs(h - float(np.float32(layer.v_threshold))).min(axis=(0, 2, 3))
        margin = np.minimum(margin, gap)
    return count / (bsz * t_steps * layer.out_shape[1] * layer.out_shape[2]), margin


def _calibrate_bias(layer: rf.Layer, inp: np.ndarray, target: float, iters: int = 30) -> None:
    """Set layer.bias (per channel, float32) so each channel fires on about `target` of its
    slots for the layer inputs `inp` (B, T, C, H, W). Modifies `layer` in place.

    Bisection alone would end exactly where some input pattern crosses the threshold (that is
    where the rate jumps), and with spike inputs the same pattern recurs on other inputs: the
    model would sit on a knife edge that a fixed-point runtime flips. So after bisecting, each
    channel moves to the bias in a small neighbourhood that keeps its rate within +-40% of the
    target and has the largest threshold margin on the calibration inputs."""
    unit = abs(layer.v_threshold - layer.v_reset) or 1.0
    tau = layer.tau if layer.neuron == "lif" else 1.0
    w_l1 = np.abs(layer.real_weight().reshape(layer.out_shape[0], -1)).sum(axis=1)
    span = (tau + 1.0) * unit + float(np.abs(inp).max()) * float(w_l1.max()) + unit
    currents = _currents(layer, inp)
    lo = np.full(layer.out_shape[0], -span)
    hi = np.full(layer.out_shape[0], span)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        layer.bias = mid.astype(np.float32)
        low = _channel_stats(layer, currents)[0] < target
        lo = np.where(low, mid, lo)
        hi = np.where(low, hi, mid)
    center = 0.5 * (lo + hi)
    best_b = center.copy()
    best_m = np.full_like(center, -1.0)
    best_err = np.full_like(center, np.inf)
    for delta in np.linspace(-0.1, 0.1, 41) * unit:
        b = (center + delta).astype(np.float32)
        layer.bias = b
        rate, margin = _channel_stats(layer, currents)
        err = np.abs(rate - target)
        ok = err <= 0.4 * target
        # Among candidates within the band, the largest margin; else the closest rate.
        better = np.where(ok, margin > best_m, (best_m < 0) & (err < best_err))
        best_b = np.where(better, b, best_b)
        best_m = np.where(better & ok, margin, best_m)
        best_err = np.where(better, err, best_err)
    layer.bias = best_b.astype(np.float32)


def _calibrate(layers: list[rf.Layer], u: np.ndarray, target: float) -> None:
    """Calibrate every spiking layer in order (each sees the already calibrated ones), then
    center the logits: the last layer's bias becomes minus its mean bias-free output on the
    calibration passes, so that no class wins for every input just by its offset (random
    inputs look alike to a random network)."""
    inp = u
    for layer in layers[:-1]:
        if layer.neuron is not None:
            _calibrate_bias(layer, inp, target)
        inp = ref._run([layer], inp, keep_steps=True)
    last = layers[-1]
    mean = _currents(last, inp).mean(axis=(0, 1)).reshape(last.out_shape[0], -1).mean(axis=1)
    last.bias = (-mean).astype(np.float32)


def _weights(rng: np.random.Generator, shape, gain: float) -> np.ndarray:
    fan_in = int(np.prod(shape[1:]))
    return rng.standard_normal(shape) * (gain / math.sqrt(fan_in))


def random_conv_snn(seed: int, input_shape=(1, 12, 12), channels=(6, 8), hidden: int = 32,
                    classes: int = 10, time_steps: int = 4, coding: str = "gaussian",
                    sigma: float = 0.25, neuron: str = "lif", reset: str = "hard",
                    tau: float = 2.0, v_threshold: float = 1.0, v_reset: float = 0.0,
                    conv2_stride: int = 1, target_rate: float = 0.25,
                    name: str | None = None) -> rf.Model:
    """A small random convolutional SNN:

        conv2d(3x3, pad 1) -> neuron -> avgpool2d(2)
        -> conv2d(3x3, pad 1, stride conv2_stride) -> neuron
        -> sumpool2d(2)            (stride 1: kernel 2 stride 2;  stride 2: kernel 2 stride 2 pad 1)
        -> flatten -> linear(hidden) -> neuron -> linear(classes)   (logits)

    With input (1, 12, 12): (6,12,12) -> (6,6,6) -> (8,6,6) -> (8,3,3) -> 72 -> 32 -> 10, or with
    conv2_stride=2: (8,3,3) -> (8,2,2) -> 32 -> 32 -> 10. Spiking biases are calibrated to
    `target_rate` (see the module docstring). Direct/poisson coding take sigma 0."""
    rng = np.random.default_rng(seed)
    c0 = input_shape[0]
    c1, c2 = channels
    if coding in ("direct", "poisson"):
        sigma = 0.0
    nkw = dict(neuron=neuron, reset=reset, tau=tau, v_threshold=v_threshold, v_reset=v_reset)
    unit = abs(v_threshold - v_reset) or 1.0
    spec = [
        ("conv2d", _weights(rng, (c1, c0, 3, 3), 2.0 * unit), None, dict(padding=1, **nkw)),
        ("avgpool2d", 2),
        ("conv2d", _weights(rng, (c2, c1, 3, 3), 2.0 * unit), None,
         dict(padding=1, stride=conv2_stride, **nkw)),
        ("sumpool2d", 2) if conv2_stride == 1 else ("sumpool2d", 2, dict(stride=2, padding=1)),
        ("flatten",),
    ]
    shape = tuple(input_shape)
    layers: list[rf.Layer] = []
    fns = {"conv2d": rf.conv2d, "avgpool2d": rf.avgpool2d, "sumpool2d": rf.sumpool2d,
           "flatten": rf.flatten}
    for fn, *args in spec:
        kwargs = args.pop() if args and isinstance(args[-1], dict) else {}
        layers.append(fns[fn](shape, *args, **kwargs))
        shape = layers[-1].out_shape
    n = shape[0]
    layers.append(rf.linear(n, _weights(rng, (hidden, n), 1.0 * unit), None, **nkw))
    layers.append(rf.linear(hidden, _weights(rng, (classes, hidden), 4.0)))
    u = calibration_inputs(input_shape, time_steps, coding, sigma, rng)
    _calibrate(layers, u, target_rate)
    model = rf.Model(input_shape=tuple(input_shape), num_classes=classes,
                     time_steps=time_steps, coding=coding, sigma=sigma, layers=layers,
                     name=name if name is not None else f"random_conv_snn(seed={seed})")
    rf.validate(model)
    return model


def random_mlp(seed: int, input_shape=(1, 8, 8), hidden=(32,), classes: int = 10,
               time_steps: int = 8, coding: str = "poisson", sigma: float = 0.0,
               neuron: str = "lif", reset: str = "hard", tau: float = 2.0,
               v_threshold: float = 1.0, v_reset: float = 0.0, target_rate: float = 0.25,
               name: str | None = None) -> rf.Model:
    """flatten -> [linear(h) -> neuron] for h in hidden -> linear(classes) (logits), with
    calibrated spiking biases."""
    rng = np.random.default_rng(seed)
    if coding in ("direct", "poisson"):
        sigma = 0.0
    unit = abs(v_threshold - v_reset) or 1.0
    layers = [rf.flatten(input_shape)]
    n = layers[0].out_shape[0]
    for i, h in enumerate(hidden):
        gain = (2.0 if i == 0 else 1.0) * unit
        layers.append(rf.linear(n, _weights(rng, (h, n), gain), None, neuron=neuron,
                                reset=reset, tau=tau, v_threshold=v_threshold,
                                v_reset=v_reset))
        n = h
    layers.append(rf.linear(n, _weights(rng, (classes, n), 4.0)))
    u = calibration_inputs(input_shape, time_steps, coding, sigma, rng)
    _calibrate(layers, u, target_rate)
    model = rf.Model(input_shape=tuple(input_shape), num_classes=classes,
                     time_steps=time_steps, coding=coding, sigma=sigma, layers=layers,
                     name=name if name is not None else f"random_mlp(seed={seed})")
    rf.validate(model)
    return model


def linear_classifier(w, b=None, input_shape=None, time_steps: int = 1,
                      coding: str = "gaussian", sigma: float = 0.25, name: str = "",
                      class_names=None) -> rf.Model:
    """A linear classifier logits = (w*scale) x + b: a single linear layer (the last weighted
    layer, no neuron), so the logits are the mean over T of the per-step linear outputs.

    w: (K, d) float (quantized per row to int8); b: (K,) or None. input_shape defaults to
    (d, 1, 1); an input with H*W > 1 gets a flatten in front (the format requires it)."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"w must be (K, d), got {w.shape}")
    k, d = w.shape
    if input_shape is None:
        input_shape = (d, 1, 1)
    input_shape = tuple(int(v) for v in input_shape)
    if int(np.prod(input_shape)) != d:
        raise ValueError(f"input_shape {input_shape} does not have d = {d} elements")
    layers = []
    if input_shape[1:] != (1, 1):
        layers.append(rf.flatten(input_shape))
    layers.append(rf.linear(d, w, b))
    if coding in ("direct", "poisson"):
        sigma = 0.0
    model = rf.Model(input_shape=input_shape, num_classes=k, time_steps=time_steps,
                     coding=coding, sigma=sigma, layers=layers, name=name,
                     class_names=class_names)
    rf.validate(model)
    return model


def random_resnet(seed: int, style: str = "spiking", connect: str = "ADD", input_shape=(1, 12, 12),
                  width: int = 8, blocks: int = 2, classes: int = 10, time_steps: int = 4,
                  coding: str = "gaussian", sigma: float = 0.25, neuron: str = "lif",
                  reset: str = "hard", decay_input: bool = True, tau: float = 2.0,
                  v_threshold: float = 1.0, v_reset: float = 0.0, pool: str = "maxpool2d",
                  head: str = "global_avgpool", target_rate: float = 0.25,
                  name: str | None = None) -> rf.Model:
    """A small random residual SNN (a version 2 graph), SpikingJelly's two block styles:

        stem: conv2d(3x3, pad 1) -> neuron -> pool (2x2, `pool`)
        `blocks` blocks at `width` channels, the first of them downsampling (stride 2) with a
        1x1 conv branch:
          style "spiking" (spiking_resnet): neuron(conv(neuron(conv(x))) + identity), identity
            = x, or the downsample branch's current (conv 1x1, no neuron);
          style "sew" (sew_resnet): connect(identity, neuron(conv(neuron(conv(x))))), identity
            = x or neuron(conv1x1(x)), connect = ADD | AND | IAND;
        head: global_avgpool -> linear(classes), or flatten -> linear(classes).

    Biases are calibrated per channel so that every neuron fires on about target_rate."""
    from . import graph as rg

    rng = np.random.default_rng(seed)
    if coding in ("direct", "poisson"):
        sigma = 0.0
    unit = abs(v_threshold - v_reset) or 1.0
    g = rg.Graph(input_shape)

    def spike(src: int) -> int:
        if neuron == "if":
            return g.if_(src, v_threshold=v_threshold, v_reset=v_reset, reset=reset)
        return g.lif(src, tau=tau, v_threshold=v_threshold, v_reset=v_reset, reset=reset,
                     decay_input=decay_input)

    def conv(src: int, out: int, k: int, stride: int = 1) -> int:
        c = g.shape(src)[0]
        return g.conv2d(src, _weights(rng, (out, c, k, k), 2.0 * unit), None, stride=stride,
                        padding=k // 2)

    x = spike(conv(g.input, width, 3))
    x = getattr(g, pool)(x, 2)
    for b in range(blocks):
        stride = 2 if b == 0 else 1
        out = spike(conv(x, width, 3, stride))
        out = conv(out, width, 3)
        down = conv(x, width, 1, stride) if stride != 1 else None
        if style == "spiking":
            x = spike(g.add(out, down if down is not None else x))
        else:
            identity = spike(down) if down is not None else x
            out = spike(out)
            fn = {"ADD": g.add, "AND": g.and_, "IAND": g.iand}[connect]
            x = fn(identity, out)
    x = g.global_avgpool(x) if head == "global_avgpool" else g.flatten(x)
    n = g.shape(x)[0]
    g.linear(x, _weights(rng, (classes, n), 4.0))
    model = g.build(time_steps=time_steps, coding=coding, sigma=sigma,
                    name=name if name is not None else f"random_resnet(seed={seed}, {style})")
    u = calibration_inputs(input_shape, time_steps, coding, sigma, rng)
    _calibrate_graph(model, u, target_rate)
    return model


def _calibrate_graph(model: rf.Model, u: np.ndarray, target: float, iters: int = 12) -> None:
    """Per neuron node in order, shift the bias of the first weighted node of its current so
    that each channel fires on about `target` of its slots (bisection on the bias)."""
    nodes = model.nodes
    for k, node in enumerate(nodes):
        if node.kind not in ("lif", "if"):
            continue
        j = node.inputs[0]
        while not nodes[j - 1].weighted:  # an add: its first input carries a weighted node
            j = nodes[j - 1].inputs[0]
        w = nodes[j - 1]
        c = w.out_shape[0]
        lo, hi = np.full(c, -8.0), np.full(c, 8.0)
        sub = rf.Model(input_shape=model.input_shape, num_classes=model.num_classes,
                       time_steps=model.time_steps, coding=model.coding, sigma=model.sigma,
                       layers=None, nodes=nodes, name=model.name)
        for _ in range(iters):
            mid = (lo + hi) / 2
            w.bias = mid.astype(np.float32)
            rates = _node_rates(sub, u, k)
            hi = np.where(rates > target, mid, hi)
            lo = np.where(rates > target, lo, mid)
        w.bias = ((lo + hi) / 2).astype(np.float32)
    rf.validate(model)


def _node_rates(model: rf.Model, u: np.ndarray, k: int) -> np.ndarray:
    """Per channel firing rate of neuron node k (0-based) over the passes u."""
    counts: list = []
    spikes = []
    ref._run_graph(model, u, counts, per_channel=spikes, rate_node=k)
    return spikes[0]
