"""Convert a NIR graph (Neuromorphic Intermediate Representation, PyPI `nir`) to `.rscm`.

    from rsc.convert import nir as cn
    model, report = cn.convert_graph(graph_or_path, dt=1e-4, time_steps=8, coding="direct")
    cn.write(model, "net.rscm")

NIR describes neurons in continuous time; rsc runs them in T discrete steps of length `dt` (the
step the exporting simulator used: snnTorch exports with dt = 1e-4). The mapping is forward Euler,
which is what discrete-time simulators (snnTorch, SpikingJelly, Norse, Sinabs) compute, and it is
exact (no approximation beyond int8 weight rounding):

* `LIF` `tau dv/dt = (v_leak - v) + r I`, spike `v > v_threshold`, reset to `v_reset`.
  One Euler step: `v' = v + (dt / tau) (v_leak - v + r I)`. rsc's LIF (SpikingJelly
  decay_input) is `h = v + (I' - (v - v_reset)) / tau'`. So `tau' = tau / dt` and
  `I' = r I + (v_leak - v_reset)`: `r` multiplies the weights and bias of the layer feeding the
  neuron, and `v_leak - v_reset` is added to its bias. Hard reset to `v_reset`.
* `IF` `dv/dt = r I`: `v' = v + dt r I`, so `I' = dt r I` (weights and bias times `dt r`).
* `Affine` / `Linear` -> `linear`; `Conv2d` (groups 1, dilation 1) -> `conv2d`; `AvgPool2d` /
  `SumPool2d` -> `avgpool2d` / `sumpool2d` (avg divides by kh*kw, padding included); `Flatten`
  (of the whole C x H x W map) -> `flatten`; `Input` gives the input shape; `Output` ends it.

rsc needs per layer one `tau`, `v_threshold` and `v_reset`: NIR's per-neuron arrays must be
uniform over the layer (r and v_leak may vary per output channel, since they fold into weights
and bias: per neuron for linear layers, per channel for conv layers). Membranes start at
`v_reset` (NIR leaves the initial state open; snnTorch starts at 0 = its v_reset). The spike
test is `>=` in rsc and `>` in NIR: the two differ only when a membrane equals the threshold
exactly.

The graph must be a chain `Input -> ... -> Output`, each weighted layer but the last followed by
a neuron node, the last weighted layer by none (its T-averaged output are the logits). Anything
else raises `ConversionError` naming the node. NIR has no input coding: give `time_steps`,
`coding` and `sigma` (for gaussian codings).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from .. import format as rf
from . import (ConversionError, finish_model, format_report, input_shape3,  # noqa: F401
               quantization_report, weighted_layer)

__all__ = ["ConversionError", "convert_graph", "read_graph", "write", "format_report", "SUPPORTED"]

SUPPORTED = ("Input", "Output", "Affine", "Linear", "Conv2d", "Flatten", "SumPool2d",
             "AvgPool2d", "LIF", "IF")


def _arr(v) -> np.ndarray:
    """numpy float64 array from a numpy array, a number, or a torch tensor."""
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    return np.asarray(v, dtype=np.float64)


def _pair(v, what: str) -> tuple[int, int]:
    a = np.asarray(v).reshape(-1)
    if a.size == 1:
        return (int(a[0]), int(a[0]))
    if a.size == 2:
        return (int(a[0]), int(a[1]))
    raise ConversionError(f"{what} must be an int or a pair, got {v!r}")


def read_graph(path: str | os.PathLike):
    """A NIR graph from a `.nir` file (nir.read)."""
    import nir
    return nir.read(str(path))


def _chain(graph) -> list[str]:
    """Node names from Input to Output; raises for anything but a simple chain."""
    import nir
    nodes, edges = graph.nodes, list(graph.edges)
    for name, node in nodes.items():
        if isinstance(node, nir.NIRGraph):
            raise ConversionError(f"node {name!r} is a subgraph (NIRGraph, e.g. a recurrent layer): "
                                  "rsc runs feed-forward chains only")
        kind = type(node).__name__
        if kind not in SUPPORTED:
            raise ConversionError(f"node {name!r} has type {kind}, which rsc does not support "
                                  f"(supported: {', '.join(SUPPORTED)})")
    for a, b in edges:
        for n in (a, b):
            if n not in nodes:
                raise ConversionError(f"edge ({a!r}, {b!r}) names a node {n!r} that is not in the "
                                      "graph")
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    pred: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
        pred[b].append(a)
    inputs = [n for n, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [n for n, v in nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1:
        raise ConversionError(f"the graph must have exactly one Input node, it has {len(inputs)}"
                              + (f": {inputs}" if inputs else ""))
    if len(outputs) != 1:
        raise ConversionError(f"the graph must have exactly one Output node, it has "
                              f"{len(outputs)}" + (f": {outputs}" if outputs else ""))
    for n in nodes:
        if len(succ[n]) > 1:
            raise ConversionError(f"node {n!r} feeds {len(succ[n])} nodes ({succ[n]}): rsc runs "
                                  "chains only (no branches)")
        if len(pred[n]) > 1:
            raise ConversionError(f"node {n!r} has {len(pred[n])} inputs ({pred[n]}): rsc runs "
                                  "chains only (no merges or recurrence)")
    order = [inputs[0]]
    seen = {inputs[0]}
    while succ[order[-1]]:
        nxt = succ[order[-1]][0]
        if nxt in seen:
            raise ConversionError(f"node {nxt!r} closes a cycle: rsc runs feed-forward chains only")
        order.append(nxt)
        seen.add(nxt)
    if order[-1] != outputs[0]:
        raise ConversionError(f"the chain from {inputs[0]!r} ends at node {order[-1]!r}, not at the "
                              f"Output node {outputs[0]!r}")
    left = [n for n in nodes if n not in seen]
    if left:
        raise ConversionError(f"node {left[0]!r} is not on the path from Input to Output")
    return order


def _uniform(name: str, field: str, v: np.ndarray) -> float:
    v = v.reshape(-1)
    if v.size == 0:
        raise ConversionError(f"node {name!r}: {field} is empty")
    if not np.all(v == v[0]):
        raise ConversionError(f"node {name!r}: {field} varies across neurons ({v.min():g} .. "
                              f"{v.max():g}); rsc needs one value per layer")
    return float(v[0])


def _per_channel(name: str, field: str, v: np.ndarray, out_shape) -> np.ndarray:
    """A per-neuron parameter as one value per output channel (it must not vary over H, W)."""
    c, h, w = out_shape
    v = np.asarray(v, dtype=np.float64)
    if v.size == 1:
        return np.full(c, float(v.reshape(-1)[0]))
    if v.size == c:
        return v.reshape(c)
    if v.size == c * h * w:
        v = v.reshape(c, h * w)
        if not np.all(v == v[:, :1]):
            raise ConversionError(f"node {name!r}: {field} varies within a channel; rsc folds it "
                                  "into the conv weights, one value per output channel")
        return v[:, 0].copy()
    raise ConversionError(f"node {name!r}: {field} has {v.size} values for a layer of shape "
                          f"{tuple(out_shape)}")


def _input_shape(name: str, node) -> tuple[int, int, int]:
    t = node.input_type.get("input") if isinstance(node.input_type, dict) else None
    if t is None:
        raise ConversionError(f"Input node {name!r} has no input_type shape")
    return input_shape3(t, f"the shape of Input node {name!r}")


def convert_graph(graph, *, dt: float, time_steps: int, coding: str = "direct",
                  sigma: float = 0.0, input_shape: Sequence[int] | None = None,
                  name: str = "", class_names=None):
    """Convert a NIR graph (a `nir.NIRGraph` or a path to a `.nir` file) to an
    `rsc.format.Model`; returns (model, report) where report lists per weighted layer the node
    names and the int8 weight rounding error (as rsc.convert.torch's report).

    dt: the simulation time step the graph's time constants are relative to (snnTorch: 1e-4)."""
    import nir
    if isinstance(graph, (str, os.PathLike)):
        graph = read_graph(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise ConversionError(f"expected a nir.NIRGraph, got {type(graph).__name__}")
    if not (dt > 0 and np.isfinite(dt)):
        raise ConversionError(f"dt must be a positive number, got {dt}")
    if coding in ("direct", "poisson"):
        sigma = 0.0
    elif not sigma > 0:
        raise ConversionError(f"coding {coding!r} needs sigma > 0")
    order = _chain(graph)
    nodes = graph.nodes
    shape = input_shape3(input_shape, "input_shape") if input_shape is not None \
        else _input_shape(order[0], nodes[order[0]])
    model_input = shape
    layers: list[rf.Layer] = []
    sources: list[str] = []  # the node(s) each layer came from, for error messages
    floats: list[tuple[str, np.ndarray]] = []
    pending = None

    def flush(neuron: dict | None = None):
        nonlocal pending, shape
        if pending is None:
            return
        nk = {}
        if neuron is not None:
            nk = dict(neuron=neuron["neuron"], reset="hard", tau=neuron.get("tau", 0.0),
                      v_threshold=neuron["v_threshold"], v_reset=neuron["v_reset"])
        source = f"node {pending['name']!r}"
        layer = weighted_layer(shape, pending, nk, source)
        layers.append(layer)
        sources.append(source)
        floats.append((pending["name"], pending["w"]))
        shape = layer.out_shape
        pending = None

    def out_shape_of(p) -> tuple[int, int, int]:
        if p["kind"] == "linear":
            return (p["w"].shape[0], 1, 1)
        kh, kw = p["w"].shape[2:]
        (sh, sw), (ph, pw) = p["stride"], p["padding"]
        return (p["w"].shape[0], (shape[1] + 2 * ph - kh) // sh + 1,
                (shape[2] + 2 * pw - kw) // sw + 1)

    for nname in order[1:-1]:
        node = nodes[nname]
        kind = type(node).__name__
        if kind in ("Affine", "Linear"):
            flush()
            w = _arr(node.weight)
            if w.ndim != 2:
                raise ConversionError(f"node {nname!r} ({kind}): weight must be 2-D, got "
                                      f"{w.shape}")
            if shape[1:] != (1, 1):
                raise ConversionError(f"node {nname!r} ({kind}) gets a map of shape {shape}: put "
                                      "a Flatten node before it")
            if w.shape[1] != shape[0]:
                raise ConversionError(f"node {nname!r} ({kind}): weight {w.shape} does not fit "
                                      f"{shape[0]} inputs")
            b = _arr(node.bias).reshape(-1) if kind == "Affine" else np.zeros(w.shape[0])
            if b.size != w.shape[0]:
                raise ConversionError(f"node {nname!r} ({kind}): bias has {b.size} values for "
                                      f"{w.shape[0]} outputs")
            pending = dict(kind="linear", name=nname, w=w, b=b)
        elif kind == "Conv2d":
            flush()
            w = _arr(node.weight)
            if w.ndim != 4:
                raise ConversionError(f"node {nname!r} (Conv2d): weight must be (O, I, kh, kw), "
                                      f"got {w.shape}")
            if int(node.groups) != 1 or _pair(node.dilation, "dilation") != (1, 1):
                raise ConversionError(f"node {nname!r} (Conv2d): only groups 1 and dilation 1 "
                                      "are supported")
            if w.shape[1] != shape[0]:
                raise ConversionError(f"node {nname!r} (Conv2d): weight {w.shape} expects "
                                      f"{w.shape[1]} input channels, the input has shape {shape}")
            stride = _pair(node.stride, f"node {nname!r}: stride")
            pad = node.padding
            if isinstance(pad, str):
                if pad == "valid":
                    padding = (0, 0)
                elif pad == "same" and stride == (1, 1) and w.shape[2] % 2 and w.shape[3] % 2:
                    padding = (w.shape[2] // 2, w.shape[3] // 2)
                else:
                    raise ConversionError(f"node {nname!r} (Conv2d): padding {pad!r} is "
                                          "supported only as 'valid' or 'same' with stride 1 "
                                          "and odd kernels")
            else:
                padding = _pair(pad, f"node {nname!r}: padding")
            b = _arr(node.bias).reshape(-1) if node.bias is not None else np.zeros(w.shape[0])
            if b.size == 1 and w.shape[0] > 1:
                b = np.full(w.shape[0], float(b[0]))
            if b.size != w.shape[0]:
                raise ConversionError(f"node {nname!r} (Conv2d): bias has {b.size} values for "
                                      f"{w.shape[0]} channels")
            pending = dict(kind="conv2d", name=nname, w=w, b=b, stride=stride, padding=padding)
        elif kind in ("LIF", "IF"):
            if pending is None:
                raise ConversionError(f"node {nname!r} ({kind}) does not directly follow an "
                                      "Affine, Linear or Conv2d node; rsc neurons belong to a "
                                      "weighted layer")
            oshape = out_shape_of(pending)
            r = _per_channel(nname, "r", _arr(node.r), oshape)
            v_th = _uniform(nname, "v_threshold", _arr(node.v_threshold))
            v_reset = _uniform(nname, "v_reset", _arr(node.v_reset)) \
                if node.v_reset is not None else 0.0
            if kind == "LIF":
                tau = _uniform(nname, "tau", _arr(node.tau))
                tau_steps = tau / dt
                if not tau_steps >= 1:
                    raise ConversionError(f"node {nname!r} (LIF): tau / dt = {tau:g} / {dt:g} = "
                                          f"{tau_steps:g} < 1; rsc's LIF needs tau >= one step")
                gain = r
                offset = _per_channel(nname, "v_leak", _arr(node.v_leak), oshape) - v_reset
                neuron = dict(neuron="lif", tau=tau_steps, v_threshold=v_th, v_reset=v_reset)
            else:
                gain = dt * r
                offset = np.zeros_like(r)
                neuron = dict(neuron="if", v_threshold=v_th, v_reset=v_reset)
            g = gain.reshape((-1,) + (1,) * (pending["w"].ndim - 1))
            pending["w"] = pending["w"] * g
            pending["b"] = pending["b"] * gain + offset
            pending["name"] += f"+{nname}"
            flush(neuron)
        elif kind in ("AvgPool2d", "SumPool2d"):
            flush()
            k = _pair(node.kernel_size, f"node {nname!r}: kernel_size")
            s = _pair(node.stride if node.stride is not None else node.kernel_size,
                      f"node {nname!r}: stride")
            p = _pair(node.padding if node.padding is not None else 0, f"node {nname!r}: padding")
            fn = rf.avgpool2d if kind == "AvgPool2d" else rf.sumpool2d
            try:
                layers.append(fn(shape, k, s, p))
            except rf.FormatError as e:
                raise ConversionError(f"node {nname!r} ({kind}): {e}") from None
            sources.append(f"node {nname!r}")
            shape = layers[-1].out_shape
        elif kind == "Flatten":
            flush()
            it = node.input_type.get("input") if isinstance(node.input_type, dict) else None
            if it is not None:
                from nir.ir.utils import calc_flatten_output
                out = np.asarray(calc_flatten_output(np.asarray(it), node.start_dim, node.end_dim))
                if out.size != 1:
                    raise ConversionError(f"node {nname!r} (Flatten): start_dim {node.start_dim}, "
                                          f"end_dim {node.end_dim} on {list(np.asarray(it))} "
                                          f"gives {list(out)}; rsc flattens the whole map to a "
                                          "vector")
            elif node.start_dim not in (0, -3) or node.end_dim != -1:
                raise ConversionError(f"node {nname!r} (Flatten): only a flatten of the whole "
                                      "map (start_dim 0, end_dim -1) is supported")
            if shape[1:] != (1, 1):
                layers.append(rf.flatten(shape))
                sources.append(f"node {nname!r}")
                shape = layers[-1].out_shape
        else:  # pragma: no cover  (Input / Output inside the chain were rejected by _chain)
            raise ConversionError(f"node {nname!r} ({kind}) cannot appear inside the chain")
    flush()
    weighted = [i for i, l in enumerate(layers) if l.weighted]
    if not weighted:
        raise ConversionError("the graph has no Affine, Linear or Conv2d node")
    last = weighted[-1]
    if layers[last].neuron is not None:
        raise ConversionError(f"the last weighted layer ({floats[-1][0]}) feeds a neuron; rsc's "
                              "logits are the T-averaged output of a last Affine/Linear/Conv2d "
                              "node that feeds the Output directly (drop the output neurons)")
    for j, i in enumerate(weighted[:-1]):
        if layers[i].neuron is None:
            raise ConversionError(f"node {floats[j][0]!r} is not followed by a LIF or IF node; "
                                  "only the last weighted layer may have no neuron")
    after = layers[last + 1:]
    for l in after:
        if l.kind != "flatten":
            raise ConversionError(f"a {l.kind} follows the last weighted layer "
                                  f"({floats[-1][0]}); rsc's logits are that layer's output")
    c, h, w = layers[last].out_shape
    return finish_model(layers, floats, sources, input_shape=model_input, num_classes=c * h * w,
                        time_steps=int(time_steps), coding=coding, sigma=float(sigma), name=name,
                        class_names=class_names)


def write(model: rf.Model, path: str | os.PathLike) -> None:
    rf.write_model(model, path)
