"""The constants of the integer pipeline (docs/format.md, "Arithmetic", steps 1-7) of a model
with `arithmetic="integer"`: a port of `Sources/RSC/Network/NetworkPlan.swift` (the forward
propagation of each map's value per unit and bound in `init`, `chooseUnit`, `termBound`,
`weighted`, `setNeuron`).

    p = plan(model)          # v1 or v2; a v1 model is planned as rsc.graph.to_graph makes it
    p.maps[j]                # IntMap(m, M) of node j's integer map (0: the input grid)
    p.nodes[i]               # dict of node i's constants (below); constants(model) = p.nodes

Every binary64 value is computed in the order the Swift code computes it (left to right,
float32 fields widened), and Swift's `.rounded()` is round-half-away-from-zero, not Python's
`round`, so the constants equal the runtime's bit for bit. Keys of `p.nodes[i]`:

* neuron (`lif`, `if`): `u`, `F` (its membrane unit u = 2^F / S), `v_th`, `v_reset`, `leak`
  (Q30 1/tau, 0 for `if`);
* conv2d / linear whose current feeds a neuron (directly or through adds): `u`, `F`, `neuron`
  (that neuron's index), `mult` and `bias` (per channel, binary32 values as Python floats:
  `I_o = rint(f32(f32(acc_o) * mult_o) + bias_o)`, every operation in binary32);
* the last node (the logits): `logit_mult` (`f64(f32(m)) * scale_o`) and `logit_bias`
  (`bias_o` widened): `acc_o * logit_mult_o + logit_bias_o` per step;
* add into a current: `u`, `F`, `neuron`, `add_m0`, `add_m1` (membrane units per count of a
  count input, 0 for a current input).

Where the runtime refuses the model, `plan` raises what `rsc.load` would: `LimitError` (a map
from the input beyond int16, counts beyond 65535) or `UnsupportedError` (counts of different
real values added, int32 accumulators that can overflow, no fixed-point unit F in 20..0). The
resource limits of docs/format.md (work per pass, plan and scratch memory) are not checked here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import format as rf
from .errors import LimitError, UnsupportedError
from .graph import NEURONS, node_types, to_graph

__all__ = ["IntMap", "Plan", "plan", "constants", "quantize_input", "round_away",
           "FIXED_POINT_BUDGET", "MAX_INPUT_MAP", "MAX_COUNT", "MAX_ACCUMULATOR"]

FIXED_POINT_BUDGET = float(1 << 30)  # membranes and currents stay within +-2^30 (half of int32)
MAX_INPUT_MAP = 32767  # maps reached from the input are int16 in the kernel
MAX_COUNT = 65535  # spike counts are uint16
MAX_ACCUMULATOR = (1 << 31) - 1  # int32 accumulators
MAX_F = 20


@dataclass(frozen=True)
class IntMap:
    """An integer map: its values a are worth `m` each (binary64) and |a| <= M."""
    m: float
    M: int


@dataclass
class Plan:
    """The planned integer pipeline of a model (see the module docstring)."""
    model: rf.Model  # the version 2 form that was planned
    types: list[str]  # node 0 (the input) .. N: analog, spikes, counts, current
    maps: dict[int, IntMap]  # every node that is not a current, 0 included
    nodes: dict[int, dict]  # constants per node index 1..N (nodes without any are absent)


def round_away(x: float) -> int:
    """Swift's `.rounded()` (C's `round`): the nearest integer, halves away from zero. Exact:
    `floor(|x| + 0.5)` would round 0.49999999999999994 up."""
    a = abs(x)
    f = math.floor(a)
    r = f + 1 if a - f >= 0.5 else f  # a - f is exact in binary64
    return -r if x < 0 else r


def quantize_input(u: np.ndarray, input_shift: int, input_limit: int) -> np.ndarray:
    """Step 1: `clamp(rint(f32(u) * 2^e), -Q, Q)` as int64 (rint: half to even). u is rounded
    to float32 first (the runtime's input type); scaling by 2^e is then exact in binary64."""
    u32 = np.asarray(u, dtype=np.float32)
    if not np.all(np.isfinite(u32)):
        raise ValueError("inputs must be finite")
    q = np.rint(u32.astype(np.float64) * float(1 << input_shift))
    return np.clip(q, -input_limit, input_limit).astype(np.int64)


def _label(model: rf.Model, nodes: list, i: int) -> str:
    """How the runtime names node i: 'layer k (kind)' for a v1 model, else 'node i (kind)'."""
    node = nodes[i - 1]
    if model.version == rf.VERSION:
        layer = sum(1 for n in nodes[:i] if n.kind not in NEURONS) - 1
        kind = nodes[i - 2].kind if node.kind in NEURONS else node.kind
        return f"layer {layer} ({kind})"
    return f"node {i} ({node.kind})"


def _shape(g: rf.Model, j: int) -> tuple[int, int, int]:
    return tuple(g.input_shape) if j == 0 else g.nodes[j - 1].out_shape


def _propagate(model: rf.Model, g: rf.Model, types: list[str]) -> dict[int, IntMap]:
    """Step 2: (m, M) of every map, forward, with the runtime's limits."""
    e, q = model.input_shift, model.input_limit
    maps = {0: IntMap(math.ldexp(1.0, -e), q)}
    for i, node in enumerate(g.nodes, start=1):
        ty = types[i]
        if ty == "current":
            continue
        src = maps.get(node.inputs[0])
        label = _label(model, g.nodes, i)
        if node.kind in ("avgpool2d", "sumpool2d", "global_avgpool"):
            if node.kind == "global_avgpool":
                _, h, w = _shape(g, node.inputs[0])
                window = h * w
            else:
                window = node.kernel[0] * node.kernel[1]
            # No division happens: the window sum is kept, worth m / window for an average.
            m = src.m if node.kind == "sumpool2d" else src.m / float(window)
            v = IntMap(m, src.M * window)
        elif node.kind in ("maxpool2d", "flatten"):
            v = src
        elif node.kind == "add":  # of two count maps (an add into a current is a current)
            b = maps[node.inputs[1]]
            if src.m != b.m:
                raise UnsupportedError(f"{label}: adds counts of different real values ({src.m} "
                                       f"and {b.m} per count: an average pool on one branch only)")
            v = IntMap(src.m, src.M + b.M)
        else:  # neurons, and, iand: spikes
            v = IntMap(1.0, 1)
        if ty == "analog" and v.M > MAX_INPUT_MAP:
            raise LimitError(f"{label}: values of the input grid can reach {v.M}, more than "
                             f"{MAX_INPUT_MAP} (int16)")
        if ty in ("spikes", "counts") and v.M > MAX_COUNT:
            raise LimitError(f"{label}: counts can reach {v.M}, more than {MAX_COUNT}")
        maps[i] = v
    return maps


def _collect(j: int, nodes: list, types: list[str]) -> list[tuple[str, int]]:
    """The addends of the current node j, depth first (input0 before input1): weighted nodes
    and count maps, through adds."""
    if types[j] != "current":
        return [("counts", j)]
    node = nodes[j - 1]
    if node.weighted:
        return [("weighted", j)]
    return _collect(node.inputs[0], nodes, types) + _collect(node.inputs[1], nodes, types)


def _term_bound(w, src: IntMap, l1: np.ndarray, u: float) -> np.ndarray:
    """Per channel bound on |I| of weighted node w in unit u (NetworkPlan.termBound):
    `Double(M * l1) * Double(scale) * m * u + |bias| * u + 1`, left to right."""
    b = np.abs(w.bias.astype(np.float64)) * u
    return (src.M * l1).astype(np.float64) * w.scale.astype(np.float64) * src.m * u + b + 1.0


def _choose_unit(neuron, terms: list[tuple[str, int]], nodes: list, maps: dict[int, IntMap],
                 l1: dict[int, np.ndarray], time_steps: int, label: str) -> tuple[float, int]:
    """Step 4 (NetworkPlan.chooseUnit): (u, F) of a neuron, F the largest of 20..0 for which
    steps * (maxI + fixedV) <= 2^30."""
    S = float(max(np.float32(nodes[j - 1].scale.max()) for kind, j in terms
                  if kind == "weighted"))
    contracts = neuron.reset != "soft" or neuron.v_threshold > 0
    if neuron.kind == "lif" and neuron.decay_input and contracts:
        steps = 2.0
    elif neuron.kind == "lif" and contracts:
        steps = min(float(time_steps), float(math.ceil(neuron.tau))) + 1
    else:
        steps = float(time_steps + 1)
    channels = neuron.out_shape[0]
    for F in range(MAX_F, -1, -1):
        u = float(1 << F) / S
        fixed_v = abs(neuron.v_threshold) * u + abs(neuron.v_reset) * u + float(time_steps) + 2
        per_channel = np.zeros(channels)
        for kind, j in terms:
            if kind == "weighted":
                w = nodes[j - 1]
                per_channel += _term_bound(w, maps[w.inputs[0]], l1[j], u)
            else:
                c = maps[j]
                per_channel += float(c.M) * float(round_away(c.m * u))
        max_i = float(per_channel.max())
        if steps * (max_i + fixed_v) <= FIXED_POINT_BUDGET:
            return u, F
    raise UnsupportedError(f"{label}: thresholds or biases too large relative to the weights "
                           f"for 32-bit fixed point")


def plan(model: rf.Model) -> Plan:
    """Every integer constant of an `integer` model (see the module docstring)."""
    if model.arithmetic != "integer":
        raise ValueError(f"rsc.fixedpoint plans integer models; this one has arithmetic "
                         f"{model.arithmetic!r}")
    g = to_graph(model)
    types = node_types(g)  # validates
    nodes = g.nodes
    n = len(nodes)
    maps = _propagate(model, g, types)

    # Who reads each node, and the neuron each current flows into (through adds).
    reader = [0] * (n + 1)
    for i, node in enumerate(nodes, start=1):
        for j in node.inputs:
            reader[j] = i
    sink = [0] * (n + 1)
    for i in range(n - 1, 0, -1):
        if types[i] == "current":
            r = reader[i]
            sink[i] = r if nodes[r - 1].kind in NEURONS else sink[r]

    l1 = {i: np.abs(node.weight.astype(np.int64)).reshape(node.out_shape[0], -1).sum(axis=1)
          for i, node in enumerate(nodes, start=1) if node.weighted}
    units: dict[int, tuple[float, int]] = {}
    for i, node in enumerate(nodes, start=1):
        if node.kind in NEURONS:
            terms = _collect(node.inputs[0], nodes, types)
            units[i] = _choose_unit(node, terms, nodes, maps, l1, model.time_steps,
                                    _label(model, nodes, i))

    consts: dict[int, dict] = {}
    for i, node in enumerate(nodes, start=1):
        if node.kind in NEURONS:
            u, F = units[i]
            leak = round_away(float(1 << 30) / node.tau) if node.kind == "lif" else 0
            consts[i] = dict(u=u, F=F, v_th=round_away(node.v_threshold * u),
                             v_reset=round_away(node.v_reset * u), leak=leak)
        elif node.kind == "add" and types[i] == "current":
            u, F = units[sink[i]]
            a, b = node.inputs
            consts[i] = dict(u=u, F=F, neuron=sink[i],
                             add_m0=0 if types[a] == "current" else round_away(maps[a].m * u),
                             add_m1=0 if types[b] == "current" else round_away(maps[b].m * u))
        elif node.weighted:
            src = maps[node.inputs[0]]
            widest = int(l1[i].max())
            if src.M * widest > MAX_ACCUMULATOR:
                raise UnsupportedError(
                    f"{_label(model, nodes, i)}: input values up to {src.M} times int8 weights "
                    f"summing to {widest} per output can overflow the 32-bit accumulators")
            scale = node.scale.astype(np.float64)
            if i == n:
                m32 = float(np.float32(src.m))  # the kernel holds m as float32
                consts[i] = dict(logit_mult=(m32 * scale).tolist(),
                                 logit_bias=node.bias.astype(np.float64).tolist())
                continue
            r = reader[i]
            neuron = r if nodes[r - 1].kind in NEURONS else sink[i]
            u, F = units[neuron]
            # Step 5: the multipliers and biases rounded once to binary32.
            consts[i] = dict(u=u, F=F, neuron=neuron,
                             mult=(scale * src.m * u).astype(np.float32).astype(np.float64).tolist(),
                             bias=(node.bias.astype(np.float64) * u).astype(np.float32).astype(np.float64).tolist())
    return Plan(model=g, types=types, maps=maps, nodes=consts)


def constants(model: rf.Model) -> dict[int, dict]:
    """plan(model).nodes: the constants per node index (1..N of the graph form)."""
    return plan(model).nodes
