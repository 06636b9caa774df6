"""Convert a NIR graph (Neuromorphic Intermediate Representation, PyPI `nir`) to `.rscm`.

    from rsc.convert import nir as cn
    model, report = cn.convert_graph(graph_or_path, dt=1e-4, time_steps=8, coding="direct")
    cn.write(model, "net.rscm")

NIR describes neurons in continuous time; rsc runs them in T discrete steps of length `dt` (the
step the exporting simulator used: snnTorch exports with dt = 1e-4; docs/converters.md gives the
`dt` for Norse and Sinabs). The mapping is forward Euler, which is what discrete-time simulators
compute, and it is exact (no approximation beyond int8 weight rounding):

* `LIF` `tau dv/dt = (v_leak - v) + r I`, spike `v > v_threshold`, reset to `v_reset`.
  One Euler step: `v' = v + (dt / tau) (v_leak - v + r I)`. rsc's LIF (SpikingJelly
  decay_input) is `h = v + (I' - (v - v_reset)) / tau'`. So `tau' = tau / dt` and
  `I' = r I + (v_leak - v_reset)`: `r` multiplies the weights and bias of the layer feeding the
  neuron, and `v_leak - v_reset` is added to its bias. Hard reset to `v_reset`. (Without
  decay_input, `h = v - (v - v_reset) / tau' + I''`, the same step with `I'' = I' / tau'`: used
  where a residual input that cannot be scaled, spikes, joins the sum; see below.)
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

A chain `Input -> ... -> Output` becomes a version 1 model (as it always has). A graph with
fan-in (several edges into one node: NIR's sum of the inputs, which nirtorch writes for
`a + b`, the residual sums of ResNets) or fan-out becomes a version 2 model (`rsc.graph`): the
inputs of a node are summed by `add` nodes, a current into a neuron (`lif(add(conv, ...))`,
spiking_resnet style) or spike maps into a pool or a conv (counts, SEW-ResNet ADD style).
Each weighted node but the last feeds one neuron node (alone or with other inputs), the last
weighted node feeds the Output (its T-averaged output are the logits). Anything else raises
`ConversionError` naming the node. NIR has no input coding: give `time_steps`, `coding` and
`sigma` (for gaussian codings).

What NIR does not record: how many spikes a neuron emits per step and, in graphs made with
nir <= 1.0.4 (Sinabs pins it), how it resets: those IF / LIF nodes have no `v_reset` (nir 1.0.4
defined the reset as subtracting the threshold; nir >= 1.0.5 resets to `v_reset`, 0 when
absent). Such a graph is refused unless the caller states both with `reset=` ('subtract' or
'hard') and `spike='single'`; `spike='multi'` (Sinabs' default MultiSpike, several spikes per
step) cannot be run by rsc and is always refused.
"""

from __future__ import annotations

import errno
import os
import weakref
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .. import format as rf
from . import (ConversionError, finish_graph, finish_model, format_report,  # noqa: F401
               graph_node, input_shape3, quantization_report, weighted_layer)

__all__ = ["ConversionError", "convert_graph", "read_graph", "write", "format_report", "SUPPORTED",
           "RESETS", "SPIKES"]

SUPPORTED = ("Input", "Output", "Affine", "Linear", "Conv2d", "Flatten", "SumPool2d",
             "AvgPool2d", "LIF", "IF")
NEURON_KINDS = ("LIF", "IF")
WEIGHTED_KINDS = ("Affine", "Linear", "Conv2d")
RESETS = ("hard", "subtract")  # to v_reset (0 where a node has none) / subtract v_threshold
SPIKES = ("single", "multi")

# Neuron nodes that a .nir file read by read_graph stores without v_reset (a file written by
# nir <= 1.0.4): nir >= 1.0.5 fills in v_reset = 0 on reading, which would hide that the file
# does not say how its neurons reset.
# (NIRGraph is unhashable: keyed by id, with a weak reference that drops the entry.)
_UNSTATED_IN_FILE: dict[int, tuple] = {}


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


def _field(name: str, node, field: str):
    """node.field; a ConversionError naming the node where this nir version's class lacks it."""
    try:
        return getattr(node, field)
    except AttributeError:
        import nir
        raise ConversionError(f"node {name!r} ({type(node).__name__}) has no field {field!r} in "
                              f"nir {getattr(nir, '__version__', '?')}; rsc's converter reads "
                              "the fields of nir 1.0.4 .. 1.0.8") from None


def read_graph(path: str | os.PathLike):
    """A NIR graph from a `.nir` file (nir.read). Remembers which IF / LIF nodes the file stores
    without `v_reset` (written by nir <= 1.0.4, e.g. from Sinabs), which nir >= 1.0.5 fills in
    as 0 on reading: `convert_graph` then asks for the reset and spike semantics.

    A missing file is a FileNotFoundError; a file that is not a whole NIR graph (not HDF5, cut
    short, or missing what nir.write stores) a ConversionError saying which."""
    import nir
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "no such file", str(path))
    try:
        graph = nir.read(str(path))
        unstated = _file_nodes_without_v_reset(path)
    except OSError as e:  # h5py: not HDF5, or an HDF5 file cut short
        if "truncated" in str(e):
            raise ConversionError(f"{path}: a truncated NIR file ({e}); write it again with "
                                  "nir.write") from None
        raise ConversionError(f"{path}: not a NIR file ({e}); give a .nir file written by "
                              "nir.write") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        # HDF5 without the groups and fields nir.write stores: nir's error names only the key.
        what = f"no {e} entry" if isinstance(e, KeyError) else f"{type(e).__name__}: {e}"
        raise ConversionError(f"{path}: not a complete NIR graph ({what}; a half-written "
                              "file?); write it again with nir.write") from None
    key = id(graph)
    _UNSTATED_IN_FILE[key] = (weakref.ref(graph, lambda _, k=key: _UNSTATED_IN_FILE.pop(k, None)),
                              unstated)
    return graph


def _file_nodes_without_v_reset(path) -> frozenset:
    import h5py
    out = set()
    with h5py.File(str(path), "r") as f:
        nodes = f.get("node", {}).get("nodes", {}) if "node" in f else {}
        for name in nodes:
            g = nodes[name]
            if not hasattr(g, "keys") or "type" not in g:
                continue
            kind = g["type"][()]
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            if kind in NEURON_KINDS and "v_reset" not in g:
                out.add(str(name))
    return frozenset(out)


def _unstated_reset(graph) -> list[str]:
    """The IF / LIF nodes whose reset the graph does not state (no v_reset)."""
    entry = _UNSTATED_IN_FILE.get(id(graph))
    in_file = entry[1] if entry is not None and entry[0]() is graph else frozenset()
    return [n for n, v in graph.nodes.items() if type(v).__name__ in NEURON_KINDS
            and (getattr(v, "v_reset", None) is None or n in in_file)]


def _check_semantics(graph, reset: str | None, spike: str | None) -> list[str]:
    """Refuses what rsc cannot run or what the graph leaves open; returns the nodes without
    v_reset."""
    if reset is not None and reset not in RESETS:
        raise ConversionError(f"reset must be one of {RESETS} (or None: the graph's own), got "
                              f"{reset!r}")
    if spike is not None and spike not in SPIKES:
        raise ConversionError(f"spike must be one of {SPIKES} (or None), got {spike!r}")
    if spike == "multi":
        raise ConversionError("spike='multi' (several spikes per step, as Sinabs' default "
                              "MultiSpike: floor(v / v_threshold) spikes) cannot be run by rsc, "
                              "whose neurons emit at most one spike per step; build the "
                              "network with one spike per step (Sinabs: spike_fn=SingleSpike) "
                              "and convert it with spike='single'")
    unstated = _unstated_reset(graph)
    if unstated and (reset is None or spike is None):
        n = unstated[0]
        raise ConversionError(
            f"node {n!r} ({type(graph.nodes[n]).__name__}) has no v_reset: the graph was made "
            "with nir <= 1.0.4 (as Sinabs exports it), whose IF / LIF reset by subtracting the "
            "threshold, and Sinabs' neurons emit several spikes per step by default "
            "(MultiSpike); NIR records neither. State what the network computes: "
            "reset='subtract' (Sinabs' MembraneSubtract, its default) or reset='hard' "
            "(MembraneReset, to 0), and spike='single' (Sinabs' SingleSpike; rsc cannot run "
            "MultiSpike). Converting it as it stands would silently give another network")
    for n in unstated:
        if type(graph.nodes[n]).__name__ == "LIF":
            raise ConversionError(
                f"node {n!r} (LIF) has no v_reset (a graph from nir <= 1.0.4, e.g. Sinabs): "
                "Sinabs' LIF decays by exp(-1/tau_mem) per step (and scales its input by "
                "1 - exp(-1/tau_mem) with norm_input), not by NIR's Euler step, and the graph "
                "does not say which it means; rsc converts the IF nodes of such graphs (Sinabs' "
                "IAF) only")
    return unstated


def _check_nodes(graph):
    """Node types, edges, one Input and one Output; returns (succ, pred) in edge order."""
    import nir
    nodes, edges = graph.nodes, list(graph.edges)
    for name, node in nodes.items():
        if isinstance(node, nir.NIRGraph):
            raise ConversionError(f"node {name!r} is a subgraph (NIRGraph, e.g. a recurrent layer): "
                                  "rsc runs feed-forward graphs only")
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
        if b in succ[a]:
            continue  # a repeated edge is the same edge
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
    if pred[inputs[0]]:
        raise ConversionError(f"the Input node {inputs[0]!r} has inputs ({pred[inputs[0]]})")
    if succ[outputs[0]]:
        raise ConversionError(f"the Output node {outputs[0]!r} feeds {succ[outputs[0]]}")
    return succ, pred, inputs[0], outputs[0]


def _is_chain(succ, pred) -> bool:
    return all(len(v) <= 1 for v in succ.values()) and all(len(v) <= 1 for v in pred.values())


def _chain(graph) -> list[str]:
    """Node names from Input to Output; raises for anything but a simple chain."""
    succ, pred, first, last = _check_nodes(graph)
    for n in graph.nodes:
        if len(succ[n]) > 1:
            raise ConversionError(f"node {n!r} feeds {len(succ[n])} nodes ({succ[n]}): not a "
                                  "chain (convert_graph converts such graphs to version 2)")
        if len(pred[n]) > 1:
            raise ConversionError(f"node {n!r} has {len(pred[n])} inputs ({pred[n]}): not a "
                                  "chain (convert_graph converts such graphs to version 2)")
    order = [first]
    seen = {first}
    while succ[order[-1]]:
        nxt = succ[order[-1]][0]
        if nxt in seen:
            raise ConversionError(f"node {nxt!r} closes a cycle: rsc runs feed-forward graphs only")
        order.append(nxt)
        seen.add(nxt)
    if order[-1] != last:
        raise ConversionError(f"the chain from {first!r} ends at node {order[-1]!r}, not at the "
                              f"Output node {last!r}")
    left = [n for n in graph.nodes if n not in seen]
    if left:
        raise ConversionError(f"node {left[0]!r} is not on the path from Input to Output")
    return order


def _topological(graph, succ, pred, first, last) -> list[str]:
    """All nodes in a topological order (Kahn, ties in the graph's node order); raises for
    cycles and for nodes off every path from Input to Output."""
    names = list(graph.nodes)
    rank = {n: i for i, n in enumerate(names)}
    indeg = {n: len(pred[n]) for n in names}
    ready = sorted((n for n in names if indeg[n] == 0), key=rank.get)
    order = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
                ready.sort(key=rank.get)
    if len(order) != len(names):
        cyc = [n for n in names if indeg[n] > 0]
        raise ConversionError(f"node {cyc[0]!r} is on a cycle ({', '.join(map(repr, cyc))}): rsc "
                              "runs feed-forward graphs only (no recurrence)")
    reach = {first}
    for n in order:
        if n in reach:
            reach.update(succ[n])
    back = {last}
    for n in reversed(order):
        if n in back:
            back.update(pred[n])
    for n in order:
        if n not in reach:
            raise ConversionError(f"node {n!r} is not reached from the Input node {first!r}")
        if n not in back:
            raise ConversionError(f"node {n!r} does not lead to the Output node {last!r} (its "
                                  "output is not used)")
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
        raise ConversionError(f"Input node {name!r} has no input_type shape (give input_shape)")
    return input_shape3(t, f"the shape of Input node {name!r}")


# ---------------------------------------------------------------------------------------------
# One node's parameters (both paths)
# ---------------------------------------------------------------------------------------------

def _weighted(nname: str, node, shape) -> dict:
    """The pending conv2d / linear of an Affine / Linear / Conv2d node reading a map of `shape`."""
    kind = type(node).__name__
    if kind in ("Affine", "Linear"):
        w = _arr(_field(nname, node, "weight"))
        if w.ndim != 2:
            raise ConversionError(f"node {nname!r} ({kind}): weight must be 2-D, got {w.shape}")
        if shape[1:] != (1, 1):
            raise ConversionError(f"node {nname!r} ({kind}) gets a map of shape {shape}: put "
                                  "a Flatten node before it")
        if w.shape[1] != shape[0]:
            raise ConversionError(f"node {nname!r} ({kind}): weight {w.shape} does not fit "
                                  f"{shape[0]} inputs")
        b = _arr(_field(nname, node, "bias")).reshape(-1) if kind == "Affine" \
            else np.zeros(w.shape[0])
        if b.size != w.shape[0]:
            raise ConversionError(f"node {nname!r} ({kind}): bias has {b.size} values for "
                                  f"{w.shape[0]} outputs")
        return dict(kind="linear", name=nname, w=w, b=b)
    w = _arr(_field(nname, node, "weight"))
    if w.ndim != 4:
        raise ConversionError(f"node {nname!r} (Conv2d): weight must be (O, I, kh, kw), "
                              f"got {w.shape}")
    if int(_field(nname, node, "groups")) != 1 or \
            _pair(_field(nname, node, "dilation"), "dilation") != (1, 1):
        raise ConversionError(f"node {nname!r} (Conv2d): only groups 1 and dilation 1 "
                              "are supported")
    if w.shape[1] != shape[0]:
        raise ConversionError(f"node {nname!r} (Conv2d): weight {w.shape} expects "
                              f"{w.shape[1]} input channels, the input has shape {shape}")
    stride = _pair(_field(nname, node, "stride"), f"node {nname!r}: stride")
    pad = _field(nname, node, "padding")
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
    bias = _field(nname, node, "bias")
    b = _arr(bias).reshape(-1) if bias is not None else np.zeros(w.shape[0])
    if b.size == 1 and w.shape[0] > 1:
        b = np.full(w.shape[0], float(b[0]))
    if b.size != w.shape[0]:
        raise ConversionError(f"node {nname!r} (Conv2d): bias has {b.size} values for "
                              f"{w.shape[0]} channels")
    return dict(kind="conv2d", name=nname, w=w, b=b, stride=stride, padding=padding)


def _out_shape(p: dict, shape) -> tuple[int, int, int]:
    if p["kind"] == "linear":
        return (p["w"].shape[0], 1, 1)
    kh, kw = p["w"].shape[2:]
    (sh, sw), (ph, pw) = p["stride"], p["padding"]
    return (p["w"].shape[0], (shape[1] + 2 * ph - kh) // sh + 1,
            (shape[2] + 2 * pw - kw) // sw + 1)


def _pool_args(nname: str, node):
    k = _pair(_field(nname, node, "kernel_size"), f"node {nname!r}: kernel_size")
    stride, padding = _field(nname, node, "stride"), _field(nname, node, "padding")
    s = _pair(stride if stride is not None else k, f"node {nname!r}: stride")
    p = _pair(padding if padding is not None else 0, f"node {nname!r}: padding")
    return k, s, p


def _check_flatten(nname: str, node) -> None:
    """Only a flatten of the whole C x H x W map (to a vector) is supported."""
    start, end = _field(nname, node, "start_dim"), _field(nname, node, "end_dim")
    itype = _field(nname, node, "input_type")
    it = itype.get("input") if isinstance(itype, dict) else None
    if it is not None and np.asarray(it).size:
        from nir.ir.utils import calc_flatten_output
        out = np.asarray(calc_flatten_output(np.asarray(it), start, end))
        if out.size != 1:
            raise ConversionError(f"node {nname!r} (Flatten): start_dim {start}, "
                                  f"end_dim {end} on {list(np.asarray(it))} "
                                  f"gives {list(out)}; rsc flattens the whole map to a "
                                  "vector")
    elif start not in (0, -3) or end != -1:
        raise ConversionError(f"node {nname!r} (Flatten): only a flatten of the whole "
                              "map (start_dim 0, end_dim -1) is supported")


def _neuron(nname: str, node, oshape, dt: float, reset: str | None) -> dict:
    """An LIF / IF node as rsc's neuron (kind, tau in steps, v_threshold, v_reset, reset) and
    the per-channel `r` and `leak` = v_leak - v_reset that fold into the input current."""
    kind = type(node).__name__
    r = _per_channel(nname, "r", _arr(_field(nname, node, "r")), oshape)
    v_th = _uniform(nname, "v_threshold", _arr(_field(nname, node, "v_threshold")))
    vr = getattr(node, "v_reset", None)  # nir <= 1.0.4 has none (checked in _check_semantics)
    v_reset = _uniform(nname, "v_reset", _arr(vr)) if vr is not None else 0.0
    out = dict(v_threshold=v_th, v_reset=v_reset, r=r,
               reset="soft" if reset == "subtract" else "hard")
    if kind == "LIF":
        tau = _uniform(nname, "tau", _arr(_field(nname, node, "tau")))
        tau_steps = tau / dt
        if not tau_steps >= 1:
            raise ConversionError(f"node {nname!r} (LIF): tau / dt = {tau:g} / {dt:g} = "
                                  f"{tau_steps:g} < 1; rsc's LIF needs tau >= one step")
        leak = _per_channel(nname, "v_leak", _arr(_field(nname, node, "v_leak")), oshape) \
            - v_reset
        return dict(out, neuron="lif", tau=tau_steps, leak=leak)
    return dict(out, neuron="if", leak=np.zeros_like(r))


# ---------------------------------------------------------------------------------------------
# Conversion
# ---------------------------------------------------------------------------------------------

def convert_graph(graph, *, dt: float, time_steps: int, coding: str = "direct",
                  sigma: float = 0.0, input_shape: Sequence[int] | None = None,
                  name: str = "", class_names=None, reset: str | None = None,
                  spike: str | None = None):
    """Convert a NIR graph (a `nir.NIRGraph` or a path to a `.nir` file) to an
    `rsc.format.Model`; returns (model, report) where report lists per weighted layer the node
    names and the int8 weight rounding error (as rsc.convert.torch's report). A chain becomes a
    version 1 model, a graph with fan-in or fan-out (residual sums) a version 2 model.

    dt: the simulation time step the graph's time constants are relative to (snnTorch: 1e-4;
    Norse: the square of its dt, 1e-6 for its default dt = 1e-3; Sinabs: 1).
    reset: None (the graph's own: reset to v_reset), 'hard' (to v_reset, 0 where a node has
    none) or 'subtract' (subtract v_threshold, rsc's soft reset), for every neuron.
    spike: None or 'single' (at most one spike per step, NIR's and rsc's neuron); 'multi' is
    refused. Graphs whose neurons have no v_reset (nir <= 1.0.4, e.g. Sinabs) need both."""
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
    _check_semantics(graph, reset, spike)
    succ, pred, first, last = _check_nodes(graph)
    shape = input_shape3(input_shape, "input_shape") if input_shape is not None \
        else _input_shape(first, graph.nodes[first])
    fields = dict(time_steps=int(time_steps), coding=coding, sigma=float(sigma), name=name,
                  class_names=class_names)
    if _is_chain(succ, pred):
        return _convert_chain(graph, _chain(graph), shape, dt, reset, fields)
    order = _topological(graph, succ, pred, first, last)
    return _Dag(graph, succ, pred, shape, dt, reset).run(order, fields)


def _convert_chain(graph, order, shape, dt, reset, fields):
    """A chain Input -> ... -> Output as a version 1 model (one layer per weighted node, its
    neuron folded in)."""
    nodes = graph.nodes
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
            nk = dict(neuron=neuron["neuron"], reset=neuron["reset"], tau=neuron.get("tau", 0.0),
                      v_threshold=neuron["v_threshold"], v_reset=neuron["v_reset"])
        source = f"node {pending['name']!r}"
        layer = weighted_layer(shape, pending, nk, source)
        layers.append(layer)
        sources.append(source)
        floats.append((pending["name"], pending["w"]))
        shape = layer.out_shape
        pending = None

    for nname in order[1:-1]:
        node = nodes[nname]
        kind = type(node).__name__
        if kind in WEIGHTED_KINDS:
            flush()
            pending = _weighted(nname, node, shape)
        elif kind in NEURON_KINDS:
            if pending is None:
                raise ConversionError(f"node {nname!r} ({kind}) does not directly follow an "
                                      "Affine, Linear or Conv2d node; rsc neurons belong to a "
                                      "weighted layer")
            neuron = _neuron(nname, node, _out_shape(pending, shape), dt, reset)
            gain = neuron["r"] if kind == "LIF" else dt * neuron["r"]
            g = gain.reshape((-1,) + (1,) * (pending["w"].ndim - 1))
            pending["w"] = pending["w"] * g
            pending["b"] = pending["b"] * gain + neuron["leak"]
            pending["name"] += f"+{nname}"
            flush(neuron)
        elif kind in ("AvgPool2d", "SumPool2d"):
            flush()
            k, s, p = _pool_args(nname, node)
            fn = rf.avgpool2d if kind == "AvgPool2d" else rf.sumpool2d
            try:
                layers.append(fn(shape, k, s, p))
            except rf.FormatError as e:
                raise ConversionError(f"node {nname!r} ({kind}): {e}") from None
            sources.append(f"node {nname!r}")
            shape = layers[-1].out_shape
        elif kind == "Flatten":
            flush()
            _check_flatten(nname, node)
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
                        **fields)


@dataclass
class _Val:
    """What a NIR node gives, as the DAG walk sees it: the rsc node (0 = the model input), or
    None with `pending` set for a conv / linear not yet emitted (its neuron's r and v_leak fold
    into it); type 'analog' | 'spikes' | 'counts' | 'current'; rsc's (C, H, W) shape."""

    node: int | None
    type: str
    shape: tuple[int, int, int]
    pending: dict | None = None


_UNIT = 1e-6  # |gain - 1| below this is 1: float32 rounding of the exported r, tau and dt


class _Dag:
    """A NIR graph with fan-in / fan-out as a version 2 model (rsc.graph.Graph)."""

    def __init__(self, graph, succ, pred, shape, dt, reset):
        from .. import graph as rg
        self.nodes, self.succ, self.pred = graph.nodes, succ, pred
        self.dt, self.reset = dt, reset
        self.g = rg.Graph(shape)
        self.input_shape = shape
        self.val: dict[str, _Val] = {}
        self.sources: list[str] = []  # per rsc node, the NIR node(s) it came from
        self.floats: list[tuple[str, np.ndarray]] = []

    def _node(self, fn, source: str, *args, **kwargs) -> int:
        return graph_node(self.sources, source, fn, *args, **kwargs)

    def _emit(self, v: _Val, gain=None, offset=None) -> int:
        """The rsc node of v, emitting its pending conv / linear (times gain, plus offset)."""
        if v.pending is None:
            return v.node
        p = v.pending
        if p.get("emitted"):
            raise ConversionError(f"node {p['name']!r} ({p['nir_kind']}): its output (a current) "
                                  "is read twice")
        p["emitted"] = True
        w, b = p["w"], p["b"]
        if gain is not None:
            w = w * gain.reshape((-1,) + (1,) * (w.ndim - 1))
            b = b * gain + offset
        source = f"node {p['label']!r}"
        if p["kind"] == "conv2d":
            i = self._node(self.g.conv2d, source, p["src"], w, b, stride=p["stride"],
                           padding=p["padding"])
        else:
            i = self._node(self.g.linear, source, p["src"], w, b)
        self.floats.append((p["label"], w))
        return i

    def _inputs(self, n: str) -> list[_Val]:
        return [self.val[p] for p in self.pred[n]]

    def _sum(self, n: str, ins: list[_Val]) -> _Val:
        """The sum of a (non-neuron) node's inputs: NIR adds the signals on all its edges."""
        kind = type(self.nodes[n]).__name__
        for p, v in zip(self.pred[n], ins):
            if v.pending is not None:
                raise ConversionError(f"node {p!r} ({v.pending['nir_kind']}) feeds node {n!r} "
                                      f"({kind}); the output of a conv / linear node (a current) "
                                      "must go to a LIF / IF node (alone or summed with other "
                                      "inputs) or, for the last one, to the Output")
        if len(ins) == 1:
            return ins[0]
        return self._add_all(n, kind, ins)

    def _add_all(self, n: str, kind: str, ins: list[_Val], nodes=None) -> _Val:
        where = f"node {n!r} ({kind}), the sum of its inputs {self.pred[n]}"
        first = ins[0]
        for p, v in zip(self.pred[n], ins):
            if v.shape != first.shape:
                raise ConversionError(f"{where}: the inputs have shapes "
                                      f"{[x.shape for x in ins]}; rsc adds maps of one shape")
            if v.type == "analog":
                raise ConversionError(f"{where}: adds the model input (or a pool of it) from "
                                      f"{p!r}; rsc adds currents, spikes or counts")
        idx = nodes if nodes is not None else [self._emit(v) for v in ins]
        acc, ty = idx[0], first.type
        for i, v in zip(idx[1:], ins[1:]):
            acc = self._node(self.g.add, where, acc, i)
            ty = "current" if "current" in (ty, v.type) else "counts"
        return _Val(acc, ty, first.shape)

    def run(self, order: list[str], fields: dict):
        nodes = self.nodes
        for n in order:
            node = nodes[n]
            kind = type(node).__name__
            if kind == "Input":
                self.val[n] = _Val(0, "analog", self.input_shape)
                continue
            ins = self._inputs(n)
            if kind == "Output":
                return self.finish(n, ins, fields)
            if kind in NEURON_KINDS:
                self.val[n] = self.neuron(n, node, ins)
                continue
            v = self._sum(n, ins)
            if kind in WEIGHTED_KINDS:
                if v.type == "current":
                    raise ConversionError(f"node {n!r} ({kind}) reads a current (a conv / "
                                          "linear output summed in); put a neuron in between")
                p = _weighted(n, node, v.shape)
                p.update(src=self._emit(v), nir_kind=kind, label=n)
                self.val[n] = _Val(None, "current", _out_shape(p, v.shape), pending=p)
                consumers = self.succ[n]
                if len(consumers) != 1:
                    raise ConversionError(
                        f"node {n!r} ({kind}) feeds {len(consumers)} nodes ({consumers}); the "
                        "output of a conv / linear node (a current) goes to one LIF / IF node or "
                        "the Output (rsc folds the neuron's r and v_leak into it): use one "
                        "weighted node per consumer")
            elif kind in ("AvgPool2d", "SumPool2d"):
                if v.type == "current":
                    raise ConversionError(f"node {n!r} ({kind}) pools a current; pool spikes")
                k, s, p = _pool_args(n, node)
                fn = self.g.avgpool2d if kind == "AvgPool2d" else self.g.sumpool2d
                i = self._node(fn, f"node {n!r} ({kind})", v.node, k, stride=s, padding=p)
                self.val[n] = _Val(i, "analog" if v.type == "analog" else "counts",
                                   self.g.shape(i))
            elif kind == "Flatten":
                _check_flatten(n, node)
                if v.shape[1:] == (1, 1):
                    self.val[n] = v
                else:
                    if v.type == "current":  # pragma: no cover  (pending refused in _sum)
                        raise ConversionError(f"node {n!r} (Flatten) flattens a current")
                    i = self._node(self.g.flatten, f"node {n!r} (Flatten)", v.node)
                    self.val[n] = _Val(i, v.type, self.g.shape(i))
            else:  # pragma: no cover  (_check_nodes allows only SUPPORTED kinds)
                raise ConversionError(f"node {n!r} has type {kind}")
        raise ConversionError("the Output node is not reached")  # pragma: no cover

    def neuron(self, n: str, node, ins: list[_Val]) -> _Val:
        """A LIF / IF node: its inputs' sum is the current; r and v_leak fold into the weighted
        inputs (v_leak into the first one's bias); spikes or counts join the sum unscaled."""
        kind = type(node).__name__
        where = f"node {n!r} ({kind})"
        weighted = [v for v in ins if v.pending is not None]
        if not weighted:
            raise ConversionError(f"{where} reads no Affine, Linear or Conv2d node "
                                  f"(its inputs: {self.pred[n]}); rsc's neurons read the output "
                                  "of a weighted node, alone or summed with others")
        shape = weighted[0].shape
        for p, v in zip(self.pred[n], ins):
            if v.shape != shape:
                raise ConversionError(f"{where}: its inputs have shapes "
                                      f"{[x.shape for x in ins]}; rsc adds maps of one shape")
            if v.pending is None and v.type in ("analog", "current"):
                raise ConversionError(f"{where} reads {_type_words(v.type)} from node {p!r}; "
                                      "rsc's neurons read currents, spikes and counts")
        nr = _neuron(n, node, shape, self.dt, self.reset)
        r, leak = nr["r"], nr["leak"]
        if kind == "IF":
            gain, offset, decay = self.dt * r, leak, False
        else:
            gain, offset, decay = r, leak, True
        other = [(p, v) for p, v in zip(self.pred[n], ins) if v.pending is None]
        if other:
            # The unscaled inputs need a gain of 1: with decay_input the gain is r, without it
            # r / tau' = dt r / tau (1 for snnTorch's export, whose r = tau / dt).
            def unit(a):
                return bool(np.all(np.abs(a - 1.0) <= _UNIT))
            if kind == "LIF" and not unit(gain) and unit(r / nr["tau"]):
                gain, offset, decay = r / nr["tau"], leak / nr["tau"], False
            if not unit(gain):
                p, v = other[0]
                raise ConversionError(
                    f"{where} sums {_type_words(v.type)} from node {p!r} into its input with a "
                    f"gain of {', '.join(f'{x:g}' for x in np.unique(gain))} ("
                    + ("r with decay_input, dt r / tau without" if kind == "LIF" else "dt r")
                    + "); rsc scales only the weights of the conv / linear inputs, so the "
                    "other inputs need a gain of 1")
            gain = np.ones_like(gain)
        idx, first = [], True
        for v in ins:
            if v.pending is not None:
                if len(ins) == 1:
                    v.pending["label"] += f"+{n}"
                idx.append(self._emit(v, gain, offset if first else np.zeros_like(offset)))
                first = False
            else:
                idx.append(v.node)
        if len(ins) == 1:
            src = idx[0]
        else:
            tmp = [_Val(i, "current" if v.pending is not None else v.type, v.shape)
                   for i, v in zip(idx, ins)]
            src = self._add_all(n, kind, tmp, nodes=idx).node
        if nr["neuron"] == "lif":
            i = self._node(self.g.lif, where, src, tau=nr["tau"], v_threshold=nr["v_threshold"],
                           v_reset=nr["v_reset"], reset=nr["reset"], decay_input=decay)
        else:
            i = self._node(self.g.if_, where, src, v_threshold=nr["v_threshold"],
                           v_reset=nr["v_reset"], reset=nr["reset"])
        return _Val(i, "spikes", shape)

    def finish(self, n: str, ins: list[_Val], fields: dict):
        if len(ins) != 1:
            raise ConversionError(f"the Output node {n!r} has {len(ins)} inputs "
                                  f"({self.pred[n]}); rsc's logits are the output of one last "
                                  "Affine / Linear / Conv2d node")
        v = ins[0]
        if v.pending is None:
            what = "spikes (a LIF / IF node)" if v.type == "spikes" else _type_words(v.type)
            raise ConversionError(f"the Output node {n!r} reads {what} from node "
                                  f"{self.pred[n][0]!r}; rsc's logits are the T-averaged output "
                                  "of a last Affine / Linear / Conv2d node that feeds the Output "
                                  "directly (drop the output neurons)")
        if v.shape[1:] != (1, 1):
            raise ConversionError(f"the last weighted node {v.pending['name']!r} outputs a "
                                  f"{v.shape} map; rsc's logits are a vector (K, 1, 1)")
        self._emit(v)
        return finish_graph(self.g, self.floats, self.sources, **fields)


def _type_words(t: str) -> str:
    return {"analog": "the model input (or a pool of it)", "spikes": "spikes",
            "counts": "spike counts (a sum or pool of spikes)", "current": "a current"}[t]


def write(model: rf.Model, path: str | os.PathLike) -> None:
    rf.write_model(model, path)
