"""Version 2 of the `.rscm` format: the network as a graph of nodes (docs/format.md, "Version 2").

Residual spiking networks (SpikingJelly's `spiking_resnet`, `sew_resnet`), VGGs with max pooling
and heads with a global average pool are graphs: node 0 is the model input, nodes 1..N follow in
topological order, each reading the outputs of earlier nodes. Neurons are nodes of their own,
so a residual sum of currents before a neuron is `lif(add(conv, identity))` and SEW's connect
functions after neurons are `add` / `and` / `iand` of spike maps.

    g = Graph((1, 28, 28))
    s = g.lif(g.conv2d(g.input, w1, b1, padding=1), tau=2.0)
    r = g.lif(g.add(g.conv2d(s, w2, b2, padding=1), s))   # spiking_resnet style
    logits = g.linear(g.flatten(g.maxpool2d(r, 2)), w3, b3)  # the last node gives the logits
    model = g.build(time_steps=4, coding="gaussian", sigma=0.25)

Every node's output has a type: `analog` (the coded input, pools of it), `spikes` (0/1),
`counts` (small non-negative integers: pooled spikes, ADD of spike maps) or `current` (the
output of a conv2d/linear, or an add involving one, which only a neuron or an add may read,
exactly once). `node_types` computes them; the runtime's kernel works in those types.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from . import format as rf
from .format import FormatError

__all__ = ["Node", "Graph", "NODE_KINDS", "to_graph", "node_types", "validate_nodes",
           "pack_node", "read_nodes"]

NODE_KINDS = {"conv2d": 1, "linear": 2, "avgpool2d": 3, "sumpool2d": 4, "flatten": 5,
              "maxpool2d": 6, "global_avgpool": 7, "add": 8, "and": 9, "iand": 10,
              "lif": 11, "if": 12}
_KIND_NAMES = {v: k for k, v in NODE_KINDS.items()}
WEIGHTED = ("conv2d", "linear")
WINDOWED = ("avgpool2d", "sumpool2d", "maxpool2d")
POOLS = WINDOWED + ("global_avgpool",)
BINARY = ("add", "and", "iand")
NEURONS = ("lif", "if")

# kind, num_inputs, input0, input1, out C/H/W, kernel h/w, stride h/w, pad h/w, reset,
# decay_input, tau, v_threshold, v_reset, weight_offset, weight_size, scale_offset,
# bias_offset, reserved[24].
_NODE = struct.Struct("<IIIIIIIIIIIIIIIfffQQQQ24s")
assert _NODE.size == rf.LAYER_SIZE


@dataclass(eq=False)
class Node:
    """One node record. `inputs` are node indices: 0 is the model input, i >= 1 the output of
    node i (nodes are numbered from 1 in file order). Floats are rounded to float32 and arrays
    converted to the file's dtypes on construction, as for `rsc.format.Layer`."""

    kind: str
    inputs: tuple[int, ...]
    out_shape: tuple[int, int, int]
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    reset: str = "hard"  # neurons: 'hard' (to v_reset) | 'soft' (subtract v_threshold)
    decay_input: bool = False  # lif: SpikingJelly's decay_input
    tau: float = 0.0
    v_threshold: float = 0.0
    v_reset: float = 0.0
    weight: np.ndarray | None = None  # int8 (O, I, kh, kw) conv2d, (O, I) linear
    scale: np.ndarray | None = None  # float32 (O,), > 0
    bias: np.ndarray | None = None  # float32 (O,)

    def __post_init__(self) -> None:
        try:
            self.inputs = tuple(int(i) for i in self.inputs)
        except TypeError:
            raise FormatError(f"inputs must be a tuple of node indices, got {self.inputs!r}") from None
        self.out_shape = rf._shape3(self.out_shape, "out_shape")
        self.kernel = rf._pair(self.kernel, "kernel")
        self.stride = rf._pair(self.stride, "stride")
        self.padding = rf._pair(self.padding, "padding")
        self.decay_input = bool(self.decay_input)
        rf._normalize_record(self)

    @property
    def weighted(self) -> bool:
        return self.kind in WEIGHTED

    real_weight = rf.Layer.real_weight

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Node):
            return NotImplemented
        return rf._records_equal(self, other, ("kind", "inputs", "out_shape", "kernel", "stride",
                                               "padding", "reset", "decay_input", "tau",
                                               "v_threshold", "v_reset"))

    __hash__ = None  # type: ignore[assignment]


# ---------------------------------------------------------------------------------------------
# Validation: types and shapes of every node (the writer and the reader share it)
# ---------------------------------------------------------------------------------------------

def node_types(model: rf.Model) -> list[str]:
    """The output type of node 0 (the input: 'analog') and of every node; validates."""
    validate_nodes(model)
    return _walk(model)[0]


def validate_nodes(model: rf.Model) -> None:
    """Every rule of docs/format.md (version 2) that applies to the in-memory graph."""
    nodes = model.nodes
    if not 1 <= len(nodes) <= rf.MAX_NODES:
        raise FormatError(f"num_nodes must be 1..{rf.MAX_NODES}, got {len(nodes)}")
    _walk(model)


def _walk(model: rf.Model):
    nodes = model.nodes
    n = len(nodes)
    types = ["analog"]
    shapes = [tuple(model.input_shape)]
    memory = [tuple(model.input_shape)]  # the map as laid out in memory (a flatten relabels it)
    readers: list[list[int]] = [[] for _ in range(n + 1)]
    total = 0
    for i, node in enumerate(nodes, start=1):
        if not isinstance(node, Node):
            raise FormatError(f"node {i}: expected a Node, got {type(node).__name__}")
        where = f"node {i} ({node.kind})"

        def bad(msg: str, where=where):
            raise FormatError(f"{where}: {msg}")

        if node.kind not in NODE_KINDS:
            raise FormatError(f"node {i}: kind must be one of {sorted(NODE_KINDS)}, "
                              f"got {node.kind!r}")
        want = 2 if node.kind in BINARY else 1
        if len(node.inputs) != want:
            bad(f"takes {want} input(s), got {len(node.inputs)}")
        for j in node.inputs:
            if not 0 <= j < i:
                bad(f"input {j} is not an earlier node (0 is the model input, 1..{i - 1} "
                    f"the nodes before it)")
            readers[j].append(i)
        for v, f in zip(node.out_shape, ("channels", "height", "width")):
            if not 1 <= v <= rf.MAX_DIM:
                bad(f"out_{f} must be 1..{rf.MAX_DIM}, got {v}")
        ins = [shapes[j] for j in node.inputs]
        tys = [types[j] for j in node.inputs]
        src = node.inputs[0]
        (ci, hi, wi), (co, ho, wo) = ins[0], node.out_shape
        if node.kind not in ("conv2d",) + WINDOWED:
            if (node.kernel, node.stride, node.padding) != ((1, 1), (1, 1), (0, 0)):
                bad("kernel/stride/padding must be 1/1/0")
        if node.kind not in NEURONS:
            if node.reset != "hard" or node.decay_input or node.tau or node.v_threshold \
                    or node.v_reset:
                bad("reset, decay_input, tau, v_threshold and v_reset are for neurons only "
                    "(must be hard/0)")
        if node.kind in WEIGHTED:
            if tys[0] == "current":
                bad(f"reads node {src}'s current; a conv2d/linear reads spikes, counts or the "
                    f"input (put a neuron in between)")
            if node.kind == "linear":
                if (hi, wi) != (1, 1):
                    bad(f"input {ins[0]} is not a vector (N, 1, 1): flatten it first")
                if (ho, wo) != (1, 1):
                    bad(f"output {node.out_shape} must be a vector (N, 1, 1)")
                expect = (co, ci)
            else:
                _check_window(node, ins[0], bad, conv=True)
                expect = (co, ci, *node.kernel)
            if node.weight is None or node.scale is None or node.bias is None:
                bad("weighted nodes need weight, scale and bias")
            if node.weight.shape != expect:
                bad(f"weight shape {node.weight.shape} != {expect}")
            if node.weight.nbytes > rf.MAX_WEIGHT_BYTES:
                bad(f"weight_size {node.weight.nbytes} exceeds 2^28 bytes")
            for f in ("scale", "bias"):
                a = getattr(node, f)
                if a.shape != (co,):
                    bad(f"{f} shape {a.shape} != ({co},)")
                if not np.all(np.isfinite(a)):
                    bad(f"{f} has non-finite values")
            if not np.all(node.scale > 0):
                bad("scale must be > 0 in every channel")
            ty = "current"
        else:
            for f in ("weight", "scale", "bias"):
                if getattr(node, f) is not None:
                    bad(f"{f} must be None for {node.kind}")
        if node.kind in POOLS:
            if tys[0] == "current":
                bad(f"pools node {src}'s current; pools read spikes, counts or the input "
                    f"(pool after the neuron)")
            if memory[src] != shapes[src]:
                bad(f"pools a flattened vector (node {src})")
            if node.kind == "global_avgpool":
                if node.out_shape != (ci, 1, 1):
                    bad(f"out_shape {node.out_shape} != ({ci}, 1, 1)")
            else:
                _check_window(node, ins[0], bad, conv=False)
                if co != ci:
                    bad(f"out_channels {co} != in_channels {ci} (pools keep channels)")
            if tys[0] == "analog":
                ty = "analog"
            elif node.kind == "maxpool2d":
                ty = tys[0]
            else:
                ty = "counts"
        if node.kind == "flatten":
            if tys[0] == "current":
                bad(f"flattens node {src}'s current; flatten spikes, counts or the input")
            if node.out_shape != (ci * hi * wi, 1, 1):
                bad(f"out_shape {node.out_shape} != ({ci * hi * wi}, 1, 1)")
            ty = tys[0]
        if node.kind in BINARY:
            a, b = node.inputs
            if ins[0] != ins[1] or memory[a] != memory[b]:
                bad(f"inputs {a} {ins[0]} and {b} {ins[1]} differ in shape or layout")
            if node.out_shape != ins[0]:
                bad(f"out_shape {node.out_shape} != the inputs' shape {ins[0]}")
            if "analog" in tys:
                bad("adds the model input or a pool of it; add reads currents, spikes or counts")
            if node.kind == "add":
                ty = "current" if "current" in tys else "counts"
            else:
                if tys != ["spikes", "spikes"]:
                    bad(f"{node.kind} combines spike maps (0/1), got {tys[0]} and {tys[1]}")
                ty = "spikes"
        if node.kind in NEURONS:
            if tys[0] != "current":
                bad(f"reads node {src}'s {tys[0]}; a neuron reads a current (a conv2d/linear "
                    f"or an add of one)")
            if node.out_shape != ins[0]:
                bad(f"out_shape {node.out_shape} != the input's shape {ins[0]}")
            if node.reset not in rf.RESETS:
                bad(f"reset must be 'hard' or 'soft', got {node.reset!r}")
            if node.kind == "lif":
                if not (np.isfinite(node.tau) and node.tau >= 1):
                    bad(f"tau must be finite and >= 1 for 'lif', got {node.tau}")
            elif node.tau != 0 or node.decay_input:
                bad("tau and decay_input must be 0 for 'if'")
            for f in ("v_threshold", "v_reset"):
                if not np.isfinite(getattr(node, f)):
                    bad(f"{f} must be finite, got {getattr(node, f)}")
            ty = "spikes"
        types.append(ty)
        shapes.append(node.out_shape)
        memory.append(memory[src] if node.kind == "flatten" else node.out_shape)
        total += int(np.prod(node.out_shape))
        if total > rf.MAX_TOTAL_ELEMENTS:
            bad(f"nodes 1..{i} produce {total} elements per step, more than 2^26")

    last = nodes[-1]
    if not last.weighted:
        raise FormatError(f"node {n} ({last.kind}): the last node gives the logits and must be "
                          f"a conv2d or linear")
    if last.out_shape[1:] != (1, 1) or last.out_shape[0] != model.num_classes:
        raise FormatError(f"node {n} ({last.kind}): the logits node's output {last.out_shape} "
                          f"must be (num_classes = {model.num_classes}, 1, 1)")
    for i in range(1, n):
        r = readers[i]
        if not r:
            raise FormatError(f"node {i} ({nodes[i - 1].kind}): its output is not used")
        if types[i] == "current":
            if len(r) != 1 or nodes[r[0] - 1].kind not in NEURONS + ("add",):
                raise FormatError(f"node {i} ({nodes[i - 1].kind}): a current must be read by "
                                  f"exactly one neuron or add, got nodes {r}")
    return types, shapes, memory


def _check_window(node: Node, in_shape, bad, conv: bool) -> None:
    (_, hi, wi), (_, ho, wo) = in_shape, node.out_shape
    for v, f in zip(node.kernel, ("kernel_h", "kernel_w")):
        if not 1 <= v <= rf.MAX_KERNEL:
            bad(f"{f} must be 1..{rf.MAX_KERNEL}, got {v}")
    for v, f in zip(node.stride, ("stride_h", "stride_w")):
        if not 1 <= v <= rf.MAX_STRIDE:
            bad(f"{f} must be 1..{rf.MAX_STRIDE}, got {v}")
    for v, k, f in zip(node.padding, node.kernel, ("pad_h", "pad_w")):
        limit = k // 2 if node.kind == "maxpool2d" else k - 1
        if not 0 <= v <= limit:
            bad(f"{f} must be 0..{limit} for kernel size {k}, got {v}")
    eh, ew = rf._out_hw((hi, wi), node.kernel, node.stride, node.padding)
    if eh < 1 or ew < 1:
        bad(f"output size ({eh}, {ew}) < 1: kernel larger than the padded input")
    if (ho, wo) != (eh, ew):
        bad(f"out_height/out_width ({ho}, {wo}) != ({eh}, {ew}) from the input, kernel, "
            "stride and padding")


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------

def pack_node(buf: bytearray, at: int, node: Node, tensors: tuple[int, int, int, int]) -> None:
    ins = list(node.inputs) + [0] * (2 - len(node.inputs))
    _NODE.pack_into(buf, at, NODE_KINDS[node.kind], len(node.inputs), ins[0], ins[1],
                    *node.out_shape, *node.kernel, *node.stride, *node.padding,
                    rf.RESETS[node.reset], int(node.decay_input), node.tau, node.v_threshold,
                    node.v_reset, *tensors, bytes(24))


def read_nodes(data: bytes, n: int, strings_end: int, file_size: int) -> list[Node]:
    nodes: list[Node] = []
    for i in range(1, n + 1):
        (kind, nin, in0, in1, oc, oh, ow, kh, kw, sh, sw, ph, pw, reset, decay, tau, vth, vr,
         w_off, w_size, s_off, b_off, res) = _NODE.unpack_from(data, rf.HEADER_SIZE + rf.LAYER_SIZE * (i - 1))
        if kind not in _KIND_NAMES:
            raise FormatError(f"node {i}: kind must be 1..{len(NODE_KINDS)}, got {kind}")
        name = _KIND_NAMES[kind]
        where = f"node {i} ({name})"
        if nin not in (1, 2):
            raise FormatError(f"{where}: num_inputs must be 1 or 2, got {nin}")
        if nin == 1 and in1 != 0:
            raise FormatError(f"{where}: input1 must be 0 for a node with one input")
        if reset not in (0, 1) or decay not in (0, 1):
            raise FormatError(f"{where}: reset and decay_input must be 0 or 1")
        if any(res):
            raise FormatError(f"{where}: reserved bytes (104..127) must be zero")
        fields = dict(kind=name, inputs=(in0, in1)[:nin], out_shape=(oc, oh, ow),
                      kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw),
                      reset="soft" if reset else "hard", decay_input=bool(decay), tau=tau,
                      v_threshold=vth, v_reset=vr)
        if name in WEIGHTED:
            if not (1 <= oc <= rf.MAX_DIM and 1 <= kh <= rf.MAX_KERNEL and 1 <= kw <= rf.MAX_KERNEL):
                raise FormatError(f"{where}: out_channels or kernel out of range")
            if w_size % (oc * kh * kw) or w_size > rf.MAX_WEIGHT_BYTES:
                raise FormatError(f"{where}: weight_size {w_size} is not out_channels * "
                                  f"in_channels * kernel_h * kernel_w")
            ic = w_size // (oc * kh * kw)
            arrays = {}
            for f, off, nbytes in (("weight", w_off, w_size), ("scale", s_off, 4 * oc),
                                   ("bias", b_off, 4 * oc)):
                if off % rf.ALIGN or off < strings_end or off + nbytes > file_size:
                    raise FormatError(f"{where}: {f}_offset {off} is misaligned or outside the "
                                      f"tensor area")
                arrays[f] = data[off:off + nbytes]
            shape = (oc, ic, kh, kw) if name == "conv2d" else (oc, ic)
            fields["weight"] = np.frombuffer(arrays["weight"], dtype=np.int8).reshape(shape).copy()
            fields["scale"] = np.frombuffer(arrays["scale"], dtype="<f4").astype(np.float32)
            fields["bias"] = np.frombuffer(arrays["bias"], dtype="<f4").astype(np.float32)
        elif w_off or w_size or s_off or b_off:
            raise FormatError(f"{where}: tensor offsets and sizes must be 0 for {name}")
        try:
            nodes.append(Node(**fields))
        except FormatError as e:
            raise FormatError(f"{where}: {e}") from None
    return nodes


# ---------------------------------------------------------------------------------------------
# Builder and the v1 -> v2 translation
# ---------------------------------------------------------------------------------------------

class Graph:
    """Builds a version 2 model node by node; each method returns the new node's index.
    Weighted nodes take float weights and quantize them per output channel
    (`rsc.format.quantize_per_channel`)."""

    def __init__(self, input_shape) -> None:
        self.input_shape = rf._shape3(input_shape, "input_shape")
        self.nodes: list[Node] = []

    input = 0

    def shape(self, i: int) -> tuple[int, int, int]:
        if i == 0:
            return self.input_shape
        if not 1 <= i <= len(self.nodes):
            raise FormatError(f"no node {i} (the graph has nodes 1..{len(self.nodes)})")
        return self.nodes[i - 1].out_shape

    def _add(self, node: Node) -> int:
        for j in node.inputs:
            self.shape(j)
        self.nodes.append(node)
        return len(self.nodes)

    def conv2d(self, src: int, w_float, b=None, stride=1, padding=0) -> int:
        c, h, w = self.shape(src)
        wf = np.asarray(w_float, dtype=np.float64)
        if wf.ndim != 4 or wf.shape[1] != c:
            raise FormatError(f"conv2d weight must be (O, {c}, kh, kw), got {wf.shape}")
        kernel = (wf.shape[2], wf.shape[3])
        stride, padding = rf._pair(stride, "stride"), rf._pair(padding, "padding")
        oh, ow = rf._out_hw((h, w), kernel, stride, padding)
        q, s = rf.quantize_per_channel(wf)
        return self._add(Node("conv2d", (src,), (wf.shape[0], oh, ow), kernel=kernel,
                              stride=stride, padding=padding, weight=q, scale=s,
                              bias=rf._bias(b, wf.shape[0])))

    def linear(self, src: int, w_float, b=None) -> int:
        n, h, w = self.shape(src)
        if (h, w) != (1, 1):
            raise FormatError(f"linear needs a vector input (N, 1, 1), got {(n, h, w)}; "
                              "flatten it first")
        wf = np.asarray(w_float, dtype=np.float64)
        if wf.ndim != 2 or wf.shape[1] != n:
            raise FormatError(f"linear weight must be (O, {n}), got {wf.shape}")
        q, s = rf.quantize_per_channel(wf)
        return self._add(Node("linear", (src,), (wf.shape[0], 1, 1), weight=q, scale=s,
                              bias=rf._bias(b, wf.shape[0])))

    def _window(self, kind: str, src: int, k, stride, padding) -> int:
        c, h, w = self.shape(src)
        kernel = rf._pair(k, "kernel")
        stride = kernel if stride is None else rf._pair(stride, "stride")
        padding = rf._pair(padding, "padding")
        oh, ow = rf._out_hw((h, w), kernel, stride, padding)
        if oh < 1 or ow < 1:
            raise FormatError(f"a {kernel[0]}x{kernel[1]} window (padding {padding}) does not "
                              f"fit the {h}x{w} input")
        return self._add(Node(kind, (src,), (c, oh, ow), kernel=kernel, stride=stride,
                              padding=padding))

    def avgpool2d(self, src: int, k, stride=None, padding=0) -> int:
        """Average pool; divides by kh*kw, padding included (count_include_pad=True)."""
        return self._window("avgpool2d", src, k, stride, padding)

    def sumpool2d(self, src: int, k, stride=None, padding=0) -> int:
        return self._window("sumpool2d", src, k, stride, padding)

    def maxpool2d(self, src: int, k, stride=None, padding=0) -> int:
        """Max over each window; padding never wins (PyTorch pads with -inf)."""
        return self._window("maxpool2d", src, k, stride, padding)

    def global_avgpool(self, src: int) -> int:
        c, _, _ = self.shape(src)
        return self._add(Node("global_avgpool", (src,), (c, 1, 1)))

    def flatten(self, src: int) -> int:
        c, h, w = self.shape(src)
        return self._add(Node("flatten", (src,), (c * h * w, 1, 1)))

    def add(self, a: int, b: int) -> int:
        return self._add(Node("add", (a, b), self.shape(a)))

    def and_(self, a: int, b: int) -> int:
        """a * b of two spike maps (SEW-ResNet's AND)."""
        return self._add(Node("and", (a, b), self.shape(a)))

    def iand(self, a: int, b: int) -> int:
        """a * (1 - b) of two spike maps (SEW-ResNet's IAND)."""
        return self._add(Node("iand", (a, b), self.shape(a)))

    def lif(self, src: int, tau: float = 2.0, v_threshold: float = 1.0, v_reset: float = 0.0,
            reset: str = "hard", decay_input: bool = True) -> int:
        return self._add(Node("lif", (src,), self.shape(src), reset=reset,
                              decay_input=decay_input, tau=tau, v_threshold=v_threshold,
                              v_reset=v_reset))

    def if_(self, src: int, v_threshold: float = 1.0, v_reset: float = 0.0,
            reset: str = "hard") -> int:
        return self._add(Node("if", (src,), self.shape(src), reset=reset,
                              v_threshold=v_threshold, v_reset=v_reset))

    def build(self, *, time_steps: int, coding: str, sigma: float, num_classes: int | None = None,
              name: str = "", class_names: list[str] | None = None, arithmetic: str = "float",
              input_shift: int = 0, input_limit: int = 0) -> rf.Model:
        """The model (version 2), validated; num_classes defaults to the last node's size;
        arithmetic, input_shift and input_limit as in `rsc.format.Model`."""
        if not self.nodes:
            raise FormatError("the graph has no nodes")
        if num_classes is None:
            num_classes = int(np.prod(self.nodes[-1].out_shape))
        model = rf.Model(input_shape=self.input_shape, num_classes=num_classes,
                         time_steps=time_steps, coding=coding, sigma=sigma, layers=None,
                         nodes=list(self.nodes), name=name, class_names=class_names,
                         arithmetic=arithmetic, input_shift=input_shift, input_limit=input_limit)
        rf.validate(model)
        return model


def to_graph(model: rf.Model) -> rf.Model:
    """The same network as a version 2 model: a v1 weighted layer with a neuron becomes a
    weighted node read by a neuron node (LIF with decay_input, v1's only LIF); flatten layers
    after the last weighted layer are dropped (they do not change the logits). A v2 model is
    returned as it is."""
    if model.nodes is not None:
        return model
    rf.validate(model)
    last = max(i for i, l in enumerate(model.layers) if l.weighted)
    nodes: list[Node] = []
    src = 0
    for L in model.layers[:last + 1]:
        fields = dict(kernel=L.kernel, stride=L.stride, padding=L.padding)
        if L.weighted:
            nodes.append(Node(L.kind, (src,), L.out_shape, weight=L.weight, scale=L.scale,
                              bias=L.bias, **fields))
        else:
            nodes.append(Node(L.kind, (src,), L.out_shape, **fields))
        src = len(nodes)
        if L.neuron is not None:
            nodes.append(Node(L.neuron, (src,), L.out_shape, reset=L.reset,
                              decay_input=L.neuron == "lif", tau=L.tau,
                              v_threshold=L.v_threshold, v_reset=L.v_reset))
            src = len(nodes)
    out = rf.Model(input_shape=model.input_shape, num_classes=model.num_classes,
                   time_steps=model.time_steps, coding=model.coding, sigma=model.sigma,
                   layers=None, nodes=nodes, name=model.name, class_names=model.class_names,
                   arithmetic=model.arithmetic, input_shift=model.input_shift,
                   input_limit=model.input_limit)
    rf.validate(out)
    return out
