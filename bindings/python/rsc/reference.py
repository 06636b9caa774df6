"""Reference forward pass of an RSC spiking network (float64, or the integer pipeline of an
`integer` model), and numpy input coding.

This is the independent reference the int8 Swift/C runtime is tested against. For a `float`
model (arithmetic 0) it follows the section "Meaning: one forward pass" of `docs/format.md`
literally:

* weights are dequantized as `w * scale[o]` in float64; biases and neuron parameters are the
  float32 values the file stores, widened to float64;
* every layer runs once per time step, in order; membrane potentials start at `v_reset` and
  persist across the T steps of one pass;
* conv2d/linear: `I = (w * scale) (*) a + bias` (cross-correlation, as PyTorch), zero padding;
* lif (SpikingJelly decay_input): `h = v + (I - (v - v_reset)) / tau`; if: `h = v + I`;
  `s = h >= v_threshold`; hard reset `v = s ? v_reset : h`, soft reset `v = h - s * v_threshold`;
  the layer outputs the spikes s (0.0 / 1.0);
* the last weighted layer has no neuron and outputs I; the logits are the mean of its output
  over the T steps (flattened channels-first); pools include the zero padding and avgpool2d
  always divides by kh*kw; flatten is channels-first (C, H, W) -> C*H*W.

Version 2 models (graphs, `rsc.graph`) run node by node in file order at every step, each node
reading the current step's outputs of earlier nodes: maxpool2d takes the max over the window
(padding never wins), global_avgpool the mean over H x W, add the sum, and `a * b`, iand
`a * (1 - b)`; lif with decay_input False is `h = v - (v - v_reset) / tau + I`. The logits are
the mean over T of the last node's output.

For an `integer` model (arithmetic 1, docs/format.md "Arithmetic") the classifier is the integer
pipeline, computed here exactly with numpy int64 (v1 models as their `rsc.graph.to_graph` form):
the inputs rounded to float32 and then to the grid, `q = clamp(rint(u * 2^e), -Q, Q)`; exact
accumulators `acc = sum w * a` (pools give window sums); currents
`I = rint(f32(f32(acc) * mult_o) + bias_o)` in binary32 and `add`s with `round(m * u)` per count; membranes
in the neuron's unit with the Q30 leak `floor((d * k + 2^29) / 2^30)`; the constants are
`rsc.fixedpoint`'s. The logits are `acc * (f64(f32(m)) * scale) + bias` per step, summed over
the T steps in order and divided by T, in float64. The runtime computes the same bits.

`encode` draws the per-step inputs u_t with numpy's generator. It is NOT rsc's Philox stream:
tests that compare against the runtime feed the same u to both.
"""

from __future__ import annotations

import numpy as np

from . import fixedpoint
from . import format as rf
from .graph import to_graph

__all__ = ["forward", "forward_batch", "encode", "encode_batch", "predict", "predict_batch",
           "firing_rates", "threshold_margins", "conv2d_ref", "pool2d_ref"]


# ---------------------------------------------------------------------------------------------
# Layer operations on a batch: arrays are (B, C, H, W) float64
# ---------------------------------------------------------------------------------------------

def _patches(a: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """im2col: the windows of `a` (B, C, H, W) after zero padding.

    Returns P with shape (B, C, kh, kw, OH, OW) where
        P[b, c, i, j, y, x] = a_padded[b, c, y * stride_h + i, x * stride_w + j]
    and OH = (H + 2 pad_h - kh) // stride_h + 1 (likewise OW)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    b, c, h, w = a.shape
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (w + 2 * pw - kw) // sw + 1
    dtype = np.int64 if np.issubdtype(a.dtype, np.integer) else np.float64  # integer maps stay exact
    ap = np.zeros((b, c, h + 2 * ph, w + 2 * pw), dtype=dtype)
    ap[:, :, ph:ph + h, pw:pw + w] = a
    p = np.empty((b, c, kh, kw, oh, ow), dtype=dtype)
    for i in range(kh):
        for j in range(kw):
            # Rows i, i + sh, ..., i + sh * (oh - 1); columns likewise.
            p[:, :, i, j] = ap[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
    return p


def conv2d_ref(a: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride=(1, 1),
               padding=(0, 0)) -> np.ndarray:
    """Cross-correlation as PyTorch's conv2d: a (B, C, H, W), weight (O, C, kh, kw) float,
    bias (O,) -> (B, O, OH, OW):
        out[b, o, y, x] = bias[o] + sum_{c,i,j} weight[o, c, i, j] * a_pad[b, c, y*sh+i, x*sw+j]
    """
    o, c, kh, kw = weight.shape
    p = _patches(a, (kh, kw), stride, padding)  # (B, C, kh, kw, OH, OW)
    b, _, _, _, oh, ow = p.shape
    cols = p.reshape(b, c * kh * kw, oh * ow)  # (B, C*kh*kw, OH*OW), (c, i, j) row order
    out = np.matmul(weight.reshape(o, c * kh * kw).astype(np.float64), cols)  # (B, O, OH*OW)
    return out.reshape(b, o, oh, ow) + np.asarray(bias, np.float64)[None, :, None, None]


def pool2d_ref(a: np.ndarray, kernel, stride, padding, average: bool) -> np.ndarray:
    """Sum (or average, dividing by kh*kw always, padding included) over each window."""
    p = _patches(a, kernel, stride, padding)
    s = p.sum(axis=(2, 3))
    return s / (kernel[0] * kernel[1]) if average else s


def _synapse(layer: rf.Layer, a: np.ndarray) -> np.ndarray:
    """The layer's input current I (or output, for pools and flatten) for one step."""
    b = a.shape[0]
    if layer.kind == "conv2d":
        return conv2d_ref(a, layer.real_weight(), layer.bias, layer.stride, layer.padding)
    if layer.kind == "linear":
        x = a.reshape(b, -1)  # (N, 1, 1) -> N
        i = x @ layer.real_weight().T + layer.bias.astype(np.float64)
        return i.reshape(b, -1, 1, 1)
    if layer.kind in ("avgpool2d", "sumpool2d"):
        return pool2d_ref(a, layer.kernel, layer.stride, layer.padding,
                          average=(layer.kind == "avgpool2d"))
    if layer.kind == "flatten":
        return a.reshape(b, -1, 1, 1)  # C-order reshape of (C, H, W): channels-first
    raise ValueError(f"unknown layer kind {layer.kind!r}")


def _neuron_step(layer: rf.Layer, v: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Advance membrane `v` (updated in place) by current `i`; return the spikes (0/1) and the
    pre-reset potential h."""
    v_reset = float(np.float32(layer.v_reset))
    v_th = float(np.float32(layer.v_threshold))
    if layer.neuron == "lif":
        tau = float(np.float32(layer.tau))
        h = v + (i - (v - v_reset)) / tau
    elif layer.neuron == "if":
        h = v + i
    else:
        raise ValueError(f"unknown neuron {layer.neuron!r}")
    s = h >= v_th
    if layer.reset == "hard":
        v[...] = np.where(s, v_reset, h)
    else:
        v[...] = h - s * v_th
    return s.astype(np.float64), h


def _run(layers: list[rf.Layer], u: np.ndarray, spike_counts: list | None = None,
         keep_steps: bool = False, margins: list | None = None) -> np.ndarray:
    """Run `layers` (no validation) over u (B, T, C, H, W).

    Returns the mean over T of the last layer's output flattened to (B, n), or with keep_steps
    its output at every step, (B, T, C', H', W'). If `spike_counts` is a list it receives, per
    layer, the total number of spikes (None for layers without neuron); `margins` likewise
    receives min |h - v_threshold| over all neurons, steps and passes."""
    bsz, t_steps = u.shape[:2]
    v = [np.full((bsz,) + tuple(l.out_shape), float(np.float32(l.v_reset)))
         if l.neuron is not None else None for l in layers]
    counts = [0.0 if l.neuron is not None else None for l in layers]
    margin = [np.inf if l.neuron is not None else None for l in layers]
    out_shape = tuple(layers[-1].out_shape)
    if keep_steps:
        steps = np.empty((bsz, t_steps) + out_shape, dtype=np.float64)
    total = np.zeros((bsz, int(np.prod(out_shape))), dtype=np.float64)
    for t in range(t_steps):
        a = u[:, t]
        for k, layer in enumerate(layers):
            a = _synapse(layer, a)
            if layer.neuron is not None:
                a, h = _neuron_step(layer, v[k], a)
                counts[k] += float(a.sum())
                if margins is not None:
                    gap = float(np.abs(h - float(np.float32(layer.v_threshold))).min())
                    margin[k] = min(margin[k], gap)
        if keep_steps:
            steps[:, t] = a
        else:
            total += a.reshape(bsz, -1)
    if spike_counts is not None:
        spike_counts[:] = counts
    if margins is not None:
        margins[:] = margin
    return steps if keep_steps else total / t_steps


def _maxpool(a: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """Max over each window; padded positions hold -inf (the lowest int64 for integer maps),
    as PyTorch's max_pool2d."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    b, c, h, w = a.shape
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (w + 2 * pw - kw) // sw + 1
    low = np.iinfo(np.int64).min if np.issubdtype(a.dtype, np.integer) else -np.inf
    ap = np.full((b, c, h + 2 * ph, w + 2 * pw), low)
    ap[:, :, ph:ph + h, pw:pw + w] = a
    out = np.full((b, c, oh, ow), low)
    for i in range(kh):
        for j in range(kw):
            out = np.maximum(out, ap[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw])
    return out


def _graph_neuron(node, v: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v_reset, v_th = float(node.v_reset), float(node.v_threshold)
    if node.kind == "lif":
        tau = float(node.tau)
        h = v + (i - (v - v_reset)) / tau if node.decay_input else v - (v - v_reset) / tau + i
    else:
        h = v + i
    s = h >= v_th
    v[...] = np.where(s, v_reset, h) if node.reset == "hard" else h - s * v_th
    return s.astype(np.float64), h


def _run_graph(model: rf.Model, u: np.ndarray, spike_counts: list | None = None,
               margins: list | None = None, per_channel: list | None = None,
               rate_node: int = -1) -> np.ndarray:
    """Run a version 2 model over u (B, T, C, H, W): the mean over T of the last node's
    output, (B, K); spike_counts / margins as in _run, per node; per_channel receives the
    per-channel firing rate of neuron node `rate_node` (0-based)."""
    nodes = model.nodes
    bsz, t_steps = u.shape[:2]
    v = [np.full((bsz,) + n.out_shape, float(n.v_reset)) if n.kind in ("lif", "if") else None
         for n in nodes]
    counts = [0.0 if n.kind in ("lif", "if") else None for n in nodes]
    margin = [np.inf if n.kind in ("lif", "if") else None for n in nodes]
    total = np.zeros((bsz, model.num_classes))
    rate = 0.0
    for t in range(t_steps):
        out = [u[:, t]]
        for k, node in enumerate(nodes):
            a = out[node.inputs[0]]
            if node.kind == "conv2d":
                y = conv2d_ref(a, node.real_weight(), node.bias, node.stride, node.padding)
            elif node.kind == "linear":
                y = (a.reshape(bsz, -1) @ node.real_weight().T
                     + node.bias.astype(np.float64)).reshape(bsz, -1, 1, 1)
            elif node.kind in ("avgpool2d", "sumpool2d"):
                y = pool2d_ref(a, node.kernel, node.stride, node.padding,
                               average=node.kind == "avgpool2d")
            elif node.kind == "maxpool2d":
                y = _maxpool(a, node.kernel, node.stride, node.padding)
            elif node.kind == "global_avgpool":
                y = a.mean(axis=(2, 3), keepdims=True)
            elif node.kind == "flatten":
                y = a.reshape(bsz, -1, 1, 1)
            elif node.kind == "add":
                y = a + out[node.inputs[1]]
            elif node.kind == "and":
                y = a * out[node.inputs[1]]
            elif node.kind == "iand":
                y = a * (1.0 - out[node.inputs[1]])
            else:
                y, h = _graph_neuron(node, v[k], a)
                counts[k] += float(y.sum())
                if per_channel is not None and k == rate_node:
                    rate = rate + y.mean(axis=(0, 2, 3)) / t_steps
                if margins is not None:
                    margin[k] = min(margin[k], float(np.abs(h - float(node.v_threshold)).min()))
            out.append(y)
        total += out[-1].reshape(bsz, -1)
    if spike_counts is not None:
        spike_counts[:] = counts
    if margins is not None:
        margins[:] = margin
    if per_channel is not None:
        per_channel[:] = [rate]
    return total / t_steps


_INT32 = (-(1 << 31), (1 << 31) - 1)


def _int32(x: np.ndarray, what: str, label: str) -> np.ndarray:
    """x, checked to lie in int32 as the kernel holds it: the plan's bounds guarantee that, so a
    value outside means rsc.fixedpoint is wrong, not that the runtime would wrap."""
    if x.size and (x.min() < _INT32[0] or x.max() > _INT32[1]):
        raise RuntimeError(f"{label}: {what} leaves int32 ({x.min()}..{x.max()}): the "
                           f"fixed-point bounds of rsc.fixedpoint do not hold")
    return x


def _int_neuron(node, c: dict, v: np.ndarray, i: np.ndarray, label: str):
    """Step 6: advance the int64 membranes v (in place) by the currents i; (spikes, h)."""
    vr, vth, k = c["v_reset"], c["v_th"], c["leak"]
    if node.kind == "lif":
        d = _int32(i - v + vr if node.decay_input else vr - v, "the leak's operand", label)
        leak = (d * k + (1 << 29)) >> 30  # floor((d * k + 2^29) / 2^30), arithmetic shift
        h = v + leak if node.decay_input else v + leak + i
    else:
        h = v + i
    h = _int32(h, "a membrane", label)
    s = h >= vth
    v[...] = h - s * vth if node.reset == "soft" else np.where(s, vr, h)
    return s.astype(np.int64), h


def _run_integer(model: rf.Model, u: np.ndarray, spike_counts: list | None = None,
                 margins: list | None = None) -> np.ndarray:
    """The integer pipeline of an `integer` model over the float32 inputs u (B, T, C, H, W):
    mean logits (B, K); spike_counts / margins (in real units, |h - v_th| / u) per node of the
    graph form, as in _run_graph."""
    p = fixedpoint.plan(model)
    g, consts, types = p.model, p.nodes, p.types
    nodes = g.nodes
    n = len(nodes)
    labels = [""] + [f"node {i} ({nd.kind})" for i, nd in enumerate(nodes, start=1)]
    q = fixedpoint.quantize_input(u, model.input_shift, model.input_limit)
    bsz, t_steps = q.shape[:2]
    weights = {i: nd.weight.astype(np.int64).reshape(nd.out_shape[0], -1)
               for i, nd in enumerate(nodes, start=1) if nd.weighted}
    per_channel = {}  # int64 constants shaped to broadcast over (B, C, H, W)
    for i, c in consts.items():
        for key in ("mult", "bias"):
            if key in c:
                per_channel[i, key] = np.asarray(c[key], dtype=np.float32)[:, None, None]
    v = [np.full((bsz,) + nd.out_shape, consts[i]["v_reset"], dtype=np.int64)
         if nd.kind in ("lif", "if") else None for i, nd in enumerate(nodes, start=1)]
    counts = [0.0 if nd.kind in ("lif", "if") else None for nd in nodes]
    margin = [np.inf if nd.kind in ("lif", "if") else None for nd in nodes]
    last = consts[n]
    logit_mult, logit_bias = np.asarray(last["logit_mult"]), np.asarray(last["logit_bias"])
    total = np.zeros((bsz, model.num_classes))
    for t in range(t_steps):
        out: list = [q[:, t]]
        for i, node in enumerate(nodes, start=1):
            a = out[node.inputs[0]]
            if node.weighted:
                w = weights[i]
                if node.kind == "conv2d":
                    cols = _patches(a, node.kernel, node.stride, node.padding)
                    oh, ow = cols.shape[4:]
                    acc = np.matmul(w, cols.reshape(bsz, -1, oh * ow)).reshape((bsz,) + node.out_shape)
                else:
                    acc = (a.reshape(bsz, -1) @ w.T).reshape(bsz, -1, 1, 1)
                _int32(acc, "an accumulator", labels[i])
                if i == n:
                    # acc * (f64(f32(m)) * scale) + bias per step, summed in step order.
                    total += acc.reshape(bsz, -1).astype(np.float64) * logit_mult + logit_bias
                    y = None
                else:
                    # rint(f32(f32(acc) * mult) + bias), each operation in binary32.
                    prod = acc.astype(np.float32) * per_channel[i, "mult"]
                    y = np.rint(prod + per_channel[i, "bias"]).astype(np.int64)
                    y = _int32(y, "a current", labels[i])
            elif node.kind in ("avgpool2d", "sumpool2d"):
                y = pool2d_ref(a, node.kernel, node.stride, node.padding, average=False)
            elif node.kind == "global_avgpool":
                y = a.sum(axis=(2, 3), keepdims=True)  # the sum; its 1/(H*W) is in m
            elif node.kind == "maxpool2d":
                y = _maxpool(a, node.kernel, node.stride, node.padding)
            elif node.kind == "flatten":
                y = a.reshape(bsz, -1, 1, 1)
            elif node.kind == "add":
                b = out[node.inputs[1]]
                if types[i] == "current":
                    c = consts[i]
                    x0 = a if types[node.inputs[0]] == "current" else a * c["add_m0"]
                    x1 = b if types[node.inputs[1]] == "current" else b * c["add_m1"]
                    y = _int32(x0 + x1, "a residual current", labels[i])
                else:
                    y = a + b
            elif node.kind == "and":
                y = a * out[node.inputs[1]]
            elif node.kind == "iand":
                y = a * (1 - out[node.inputs[1]])
            else:
                c = consts[i]
                y, h = _int_neuron(node, c, v[i - 1], a, labels[i])
                counts[i - 1] += float(y.sum())
                if margins is not None:
                    gap = float(np.abs(h - c["v_th"]).min()) / c["u"]
                    margin[i - 1] = min(margin[i - 1], gap)
            out.append(y)
    if spike_counts is not None:
        spike_counts[:] = counts
    if margins is not None:
        margins[:] = margin
    return total / t_steps


def _per_layer(model: rf.Model, per_node: list) -> list:
    """Per v1 layer, the value of its neuron node in the to_graph form (None without neuron):
    each layer up to the last weighted one became a node, followed by its neuron's node."""
    out: list = []
    k = 0
    last = max(i for i, l in enumerate(model.layers) if l.weighted)
    for i, layer in enumerate(model.layers):
        if i > last:
            out.append(None)
            continue
        k += 1
        if layer.neuron is None:
            out.append(None)
        else:
            out.append(per_node[k])
            k += 1
    return out


def _as_batch(model: rf.Model, inputs: np.ndarray, dtype=np.float64) -> np.ndarray:
    u = np.asarray(inputs, dtype=dtype)
    c, h, w = model.input_shape
    if u.ndim == 3 and u.shape[2] == c * h * w:
        u = u.reshape(u.shape[0], u.shape[1], c, h, w)
    if u.ndim != 5 or u.shape[2:] != (c, h, w):
        raise ValueError(f"inputs must be (B, T, {c}, {h}, {w}) or (B, T, {c * h * w}), "
                         f"got {np.shape(inputs)}")
    if u.shape[1] != model.time_steps:
        raise ValueError(f"inputs have {u.shape[1]} time steps, the model has "
                         f"T = {model.time_steps}")
    return u


def _logit_layers(model: rf.Model) -> list[rf.Layer]:
    last = max(i for i, l in enumerate(model.layers) if l.weighted)
    return model.layers[:last + 1]


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------

def forward_batch(model: rf.Model, inputs: np.ndarray) -> np.ndarray:
    """Logits (B, K) float64 of B independent passes; inputs (B, T, C, H, W) or (B, T, d)
    (rounded to float32 for an integer model, as the runtime receives them)."""
    rf.validate(model)
    if model.arithmetic == "integer":
        return _run_integer(model, _as_batch(model, inputs, np.float32))
    if model.nodes is not None:
        return _run_graph(model, _as_batch(model, inputs))
    return _run(_logit_layers(model), _as_batch(model, inputs))


def forward(model: rf.Model, inputs: np.ndarray) -> np.ndarray:
    """Logits (K,) float64 of one pass: the mean over T of the last weighted layer's output.
    inputs: the T per-step inputs u_t, (T, C, H, W) or (T, d)."""
    return forward_batch(model, np.asarray(inputs)[None])[0]


def predict_batch(model: rf.Model, inputs: np.ndarray) -> np.ndarray:
    """Argmax (lowest index on ties) of each pass's logits: (B,) int64."""
    return np.argmax(forward_batch(model, inputs), axis=1)


def predict(model: rf.Model, inputs: np.ndarray) -> int:
    """The base classifier: argmax of the logits of one pass, lowest index on ties."""
    return int(np.argmax(forward(model, inputs)))


def firing_rates(model: rf.Model, inputs: np.ndarray) -> list[float | None]:
    """Per layer (v1) or node (v2), the fraction of (neuron, step, pass) with a spike; None
    without neuron.
    inputs as for forward_batch."""
    rf.validate(model)
    if model.arithmetic == "integer":
        u = _as_batch(model, inputs, np.float32)
        counts: list = []
        _run_integer(model, u, counts)
        g = to_graph(model)
        node_rates = [None if n is None
                      else n / (u.shape[0] * u.shape[1] * int(np.prod(nd.out_shape)))
                      for nd, n in zip(g.nodes, counts)]
        return node_rates if model.nodes is not None else _per_layer(model, node_rates)
    u = _as_batch(model, inputs)
    counts: list = []
    if model.nodes is not None:
        items = model.nodes
        _run_graph(model, u, counts)
    else:
        items = model.layers
        _run(_logit_layers(model), u, counts)
    rates: list[float | None] = []
    for layer, n in zip(items, counts + [None] * (len(items) - len(counts))):
        rates.append(None if n is None
                     else n / (u.shape[0] * u.shape[1] * int(np.prod(layer.out_shape))))
    return rates


def threshold_margins(model: rf.Model, inputs: np.ndarray) -> list[float | None]:
    """Per layer, min |h - v_threshold| over all neurons, steps and passes (None without
    neuron): how far the pass is from flipping a spike. A runtime that approximates the
    membranes (fixed point) must reproduce the spikes exactly only where this is large. For an
    integer model: the integer membranes' margin, divided by the unit (real units)."""
    rf.validate(model)
    if model.arithmetic == "integer":
        margins = []
        _run_integer(model, _as_batch(model, inputs, np.float32), margins=margins)
        return margins if model.nodes is not None else _per_layer(model, margins)
    u = _as_batch(model, inputs)
    margins: list = []
    if model.nodes is not None:
        _run_graph(model, u, margins=margins)
        return margins
    layers = _logit_layers(model)
    _run(layers, u, margins=margins)
    return margins + [None] * (len(model.layers) - len(layers))


def encode_batch(model: rf.Model, x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n independent passes' inputs for one x: (n, T, C, H, W) float64, per the coding:
    gaussian: x + sigma*eps_t (fresh each step); gaussian-shared: x + sigma*eps (one draw per
    pass); poisson: 1[U_t < x] (fresh each step); direct: x."""
    c, h, w = model.input_shape
    x = np.asarray(x, dtype=np.float64).reshape(c, h, w)
    t = model.time_steps
    sigma = float(np.float32(model.sigma))
    shape = (n, t, c, h, w)
    if model.coding == "gaussian":
        return x + sigma * rng.standard_normal(shape)
    if model.coding == "gaussian-shared":
        eps = rng.standard_normal((n, 1, c, h, w))
        return np.broadcast_to(x + sigma * eps, shape).copy()
    if model.coding == "poisson":
        return (rng.random(shape) < x).astype(np.float64)
    if model.coding == "direct":
        return np.broadcast_to(x, shape).copy()
    raise ValueError(f"unknown coding {model.coding!r}")


def encode(model: rf.Model, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The T inputs u_1..u_T of one pass for input x ((C, H, W) or (d,)): (T, C, H, W)."""
    return encode_batch(model, x, 1, rng)[0]
