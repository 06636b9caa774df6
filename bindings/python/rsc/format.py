"""The `.rscm` model file (version 1: a chain of layers; version 2: a graph of nodes): in-memory
model, writer and reader.

The byte layout and every rule checked here are specified in `docs/format.md`; this module is
the Python writer (and a full reader, used by the tests and by tools). Only numpy and the
standard library are used.

    model = build_model((1, 28, 28), [...])    # v1 chain: the layer helpers conv2d(), linear(), ...
    g = Graph((1, 28, 28)); ...; model = g.build(...)   # v2 graph: residual nets, max pooling
    write_model(model, "net.rscm")
    same = read_model("net.rscm")

The writer validates the model with the same rules as the reader and raises `FormatError` (a
`ValueError`) naming the field and layer at fault; it never writes a file the reader rejects.
The runtime can still refuse a valid file it cannot run exactly in its integer kernel (pooled
spike counts above 65535, sums or thresholds beyond 32-bit fixed point: docs/kernel.md);
`rsc.load` says why, and `python3 -m rsc.convert` checks every file it writes that way.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from os import PathLike
from typing import Sequence

import numpy as np

__all__ = [
    "FormatError",
    "Layer",
    "Model",
    "MAGIC",
    "VERSION",
    "HEADER_SIZE",
    "LAYER_SIZE",
    "ALIGN",
    "CODINGS",
    "ARITHMETICS",
    "KINDS",
    "NEURONS",
    "RESETS",
    "quantize_per_channel",
    "validate",
    "to_bytes",
    "write_model",
    "from_bytes",
    "read_model",
    "checksum",
    "conv2d",
    "linear",
    "avgpool2d",
    "sumpool2d",
    "flatten",
    "build_model",
    "Node",
    "Graph",
    "NODE_KINDS",
    "to_graph",
    "node_types",
]

MAGIC = b"\x89RSCM\r\n\x1a"
VERSION = 1  # a chain of layers (Model.layers)
VERSION_GRAPH = 2  # a graph of nodes (Model.nodes)
HEADER_SIZE = 128
LAYER_SIZE = 128
ALIGN = 64

CODINGS = {"direct": 0, "gaussian": 1, "gaussian-shared": 2, "poisson": 3}
KINDS = {"conv2d": 1, "linear": 2, "avgpool2d": 3, "sumpool2d": 4, "flatten": 5}
NEURONS = {None: 0, "lif": 1, "if": 2}
RESETS = {"hard": 0, "soft": 1}
# What defines the classifier (docs/format.md, "Arithmetic"): the float network the runtime
# approximates, or the integer pipeline on the int16 input grid 2^-input_shift.
ARITHMETICS = {"float": 0, "integer": 1}
_CODING_NAMES = {v: k for k, v in CODINGS.items()}
_KIND_NAMES = {v: k for k, v in KINDS.items()}
_NEURON_NAMES = {v: k for k, v in NEURONS.items()}
_RESET_NAMES = {v: k for k, v in RESETS.items()}
_ARITHMETIC_NAMES = {v: k for k, v in ARITHMETICS.items()}

WEIGHTED = ("conv2d", "linear")
POOLS = ("avgpool2d", "sumpool2d")

# Limits (docs/format.md, "Limits").
MAX_LAYERS = 256
MAX_NODES = 1024  # version 2
MAX_TIME_STEPS = 4096
MAX_CLASSES = 65536
MAX_DIM = 65535
MAX_KERNEL = 64
MAX_STRIDE = 64
MAX_ELEMENTS = 1 << 24
MAX_TOTAL_ELEMENTS = 1 << 26  # all layers' outputs together
MAX_SIGMA = 1e4
MAX_WEIGHT_BYTES = 1 << 28
MAX_STRING = 4096
MAX_INPUT_SHIFT = 24  # integer arithmetic: the grid step 2^-e, e in 0..24
MAX_INPUT_LIMIT = 32767  # and its clamp Q, 1..32767 (int16)

# Header: magic, version, checksum, file_size, header_size, layer_size, num_layers, coding,
# C, H, W, num_classes, time_steps, sigma, strings_offset, strings_size, arithmetic,
# input_shift, input_limit, reserved[36].
_HEADER = struct.Struct("<8sIIQIIIIIIIIIfQQIII36s")
# Layer: kind, neuron, reset, in C/H/W, out C/H/W, kernel h/w, stride h/w, pad h/w,
# tau, v_threshold, v_reset, weight_offset, weight_size, scale_offset, bias_offset, reserved[24].
_LAYER = struct.Struct("<IIIIIIIIIIIIIIIfffQQQQ24s")
assert _HEADER.size == HEADER_SIZE and _LAYER.size == LAYER_SIZE
_CHECKSUM_OFFSET = 12


class FormatError(ValueError):
    """A model (in memory or in a file) breaks a rule of docs/format.md."""


def _f32(x) -> float:
    """The float32 value a file stores for `x`, as a Python float."""
    return float(np.float32(x)) + 0.0  # + 0.0 turns -0.0 into +0.0 (unused fields are zero)


def _integer(v, what: str) -> int:
    """v as an int; a float with a fraction (time_steps=2.7) is an error, not truncated."""
    try:
        i = int(v)
    except (TypeError, ValueError):
        raise FormatError(f"{what} must be an integer, got {v!r}") from None
    if i != v:
        raise FormatError(f"{what} must be an integer, got {v!r}")
    return i


def _shape3(s, what: str) -> tuple[int, int, int]:
    try:
        t = tuple(int(v) for v in s)
    except TypeError:
        raise FormatError(f"{what} must be a (C, H, W) tuple, got {s!r}") from None
    if len(t) != 3:
        raise FormatError(f"{what} must be a (C, H, W) tuple, got {s!r}")
    return t  # type: ignore[return-value]


def _pair(s, what: str) -> tuple[int, int]:
    if isinstance(s, (int, np.integer)):
        return (int(s), int(s))
    t = tuple(int(v) for v in s)
    if len(t) != 2:
        raise FormatError(f"{what} must be an int or a pair, got {s!r}")
    return t  # type: ignore[return-value]


@dataclass(eq=False)
class Layer:
    """One layer record. Shapes are (C, H, W); vectors (linear in/out) are (N, 1, 1).

    Floats (tau, v_threshold, v_reset) are rounded to float32 and arrays are converted to the
    file's dtypes (weight int8, scale/bias float32) on construction, so a Layer always holds
    exactly what a file holds."""

    kind: str  # 'conv2d' | 'linear' | 'avgpool2d' | 'sumpool2d' | 'flatten'
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    neuron: str | None = None  # 'lif' | 'if' | None
    reset: str = "hard"  # 'hard' | 'soft'
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    tau: float = 0.0
    v_threshold: float = 0.0
    v_reset: float = 0.0
    weight: np.ndarray | None = None  # int8 (O, I, kh, kw) conv, (O, I) linear
    scale: np.ndarray | None = None  # float32 (O,), > 0
    bias: np.ndarray | None = None  # float32 (O,)

    def __post_init__(self) -> None:
        self.in_shape = _shape3(self.in_shape, "in_shape")
        self.out_shape = _shape3(self.out_shape, "out_shape")
        self.kernel = _pair(self.kernel, "kernel")
        self.stride = _pair(self.stride, "stride")
        self.padding = _pair(self.padding, "padding")
        _normalize_record(self)

    @property
    def weighted(self) -> bool:
        return self.kind in WEIGHTED

    def real_weight(self) -> np.ndarray:
        """The real (dequantized) weight `w * scale[o]` in float64."""
        assert self.weight is not None and self.scale is not None
        s = self.scale.astype(np.float64).reshape((-1,) + (1,) * (self.weight.ndim - 1))
        return self.weight.astype(np.float64) * s

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Layer):
            return NotImplemented
        return _records_equal(self, other, ("kind", "in_shape", "out_shape", "neuron", "reset",
                                             "kernel", "stride", "padding", "tau", "v_threshold",
                                             "v_reset"))

    __hash__ = None  # type: ignore[assignment]


def _normalize_record(r) -> None:
    """A layer's or node's floats as the float32 a file stores, its arrays as the file's dtypes."""
    r.tau = _f32(r.tau)
    r.v_threshold = _f32(r.v_threshold)
    r.v_reset = _f32(r.v_reset)
    if r.weight is not None:
        r.weight = _as_int8(r.weight, "weight")
    if r.scale is not None:
        r.scale = np.ascontiguousarray(np.asarray(r.scale, dtype=np.float32))
    if r.bias is not None:
        r.bias = np.ascontiguousarray(np.asarray(r.bias, dtype=np.float32))


def _records_equal(a, b, fields: tuple[str, ...]) -> bool:
    """The fields equal and the weight, scale and bias arrays equal with their dtypes."""
    if any(getattr(a, f) != getattr(b, f) for f in fields):
        return False
    for name in ("weight", "scale", "bias"):
        x, y = getattr(a, name), getattr(b, name)
        if (x is None) != (y is None):
            return False
        if x is not None and not (x.dtype == y.dtype and np.array_equal(x, y)):
            return False
    return True


@dataclass(eq=False)
class Model:
    """A whole network: header fields plus layers. `class_names` defaults to '0' .. 'K-1';
    `sigma` is rounded to float32 (what the file stores). `arithmetic="integer"` (with
    `input_shift` e and `input_limit` Q) makes the integer pipeline of docs/format.md the
    classifier (`rsc.fixedpoint`, `rsc.reference`)."""

    input_shape: tuple[int, int, int]
    num_classes: int
    time_steps: int
    coding: str  # 'direct' | 'gaussian' | 'gaussian-shared' | 'poisson'
    sigma: float
    layers: list[Layer] | None
    name: str = ""
    class_names: list[str] | None = None
    # Version 2: a graph of nodes (rsc.format.Graph builds one); layers is then None.
    nodes: list | None = None
    # 'float' | 'integer' (docs/format.md, "Arithmetic"); integer: grid step 2^-input_shift,
    # clamp +-input_limit (both 0 for float).
    arithmetic: str = "float"
    input_shift: int = 0
    input_limit: int = 0

    def __post_init__(self) -> None:
        self.input_shape = _shape3(self.input_shape, "input_shape")
        self.num_classes = _integer(self.num_classes, "num_classes")
        self.time_steps = _integer(self.time_steps, "time_steps")
        self.input_shift = _integer(self.input_shift, "input_shift")
        self.input_limit = _integer(self.input_limit, "input_limit")
        self.sigma = _f32(self.sigma)
        if (self.layers is None) == (self.nodes is None):
            raise FormatError("a model has either layers (version 1) or nodes (version 2)")
        if self.layers is not None:
            self.layers = list(self.layers)
        else:
            self.nodes = list(self.nodes)
        if self.class_names is None:
            self.class_names = [str(i) for i in range(self.num_classes)]
        else:
            self.class_names = list(self.class_names)

    @property
    def version(self) -> int:
        return VERSION if self.layers is not None else VERSION_GRAPH

    @property
    def input_size(self) -> int:
        c, h, w = self.input_shape
        return c * h * w

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Model):
            return NotImplemented
        return (self.input_shape == other.input_shape
                and self.num_classes == other.num_classes
                and self.time_steps == other.time_steps
                and self.coding == other.coding
                and self.sigma == other.sigma
                and self.arithmetic == other.arithmetic
                and self.input_shift == other.input_shift
                and self.input_limit == other.input_limit
                and self.name == other.name
                and self.class_names == other.class_names
                and self.version == other.version
                and len(self.items) == len(other.items)
                and all(a == b for a, b in zip(self.items, other.items)))

    @property
    def items(self) -> list:
        """The layers (v1) or nodes (v2)."""
        return self.layers if self.layers is not None else self.nodes

    __hash__ = None  # type: ignore[assignment]


def _as_int8(w, what: str) -> np.ndarray:
    a = np.asarray(w)
    if a.dtype == np.int8:
        return np.ascontiguousarray(a)
    if not np.issubdtype(a.dtype, np.integer):
        raise FormatError(f"{what} must be int8 (quantize float weights with "
                          f"quantize_per_channel), got dtype {a.dtype}")
    if a.size and (a.min() < -128 or a.max() > 127):
        raise FormatError(f"{what} has values outside the int8 range")
    return np.ascontiguousarray(a.astype(np.int8))


# ---------------------------------------------------------------------------------------------
# Quantization and layer helpers
# ---------------------------------------------------------------------------------------------

def quantize_per_channel(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 quantization with one scale per output channel (axis 0).

    scale[o] = max|w[o]| / 127 (as float32), q = round(w / scale) clipped to [-127, 127];
    an all-zero channel gets scale 1 (and zero weights). Returns (q int8, scale float32)."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim < 1 or w.shape[0] == 0:
        raise FormatError("weight must have at least one output channel")
    if not np.all(np.isfinite(w)):
        raise FormatError("weight has non-finite values")
    flat = w.reshape(w.shape[0], -1)
    amax = np.abs(flat).max(axis=1) if flat.shape[1] else np.zeros(w.shape[0])
    scale = (amax / 127.0).astype(np.float32)
    # A channel whose max is so small that the float32 scale underflows counts as zero.
    zero = scale == 0
    scale[zero] = np.float32(1.0)
    s64 = scale.astype(np.float64).reshape((-1,) + (1,) * (w.ndim - 1))
    q = np.clip(np.rint(w / s64), -127, 127)
    q[zero] = 0
    return q.astype(np.int8), scale


def _out_hw(in_hw: tuple[int, int], kernel, stride, padding) -> tuple[int, int]:
    return tuple((i + 2 * p - k) // s + 1 for i, k, s, p in zip(in_hw, kernel, stride, padding))  # type: ignore[return-value]


def _neuron_fields(neuron, reset, tau, v_threshold, v_reset) -> dict:
    """Neuron parameters as stored: unused ones are zero, so IF has tau 0 and a layer without
    neuron has all of them zero and a hard reset."""
    if neuron is None:
        return dict(neuron=None, reset="hard", tau=0.0, v_threshold=0.0, v_reset=0.0)
    return dict(neuron=neuron, reset=reset, tau=tau if neuron == "lif" else 0.0,
                v_threshold=v_threshold, v_reset=v_reset)


def _bias(b, out: int) -> np.ndarray:
    if b is None:
        return np.zeros(out, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32).reshape(-1)
    if b.shape != (out,):
        raise FormatError(f"bias must have {out} values, got {b.shape[0]}")
    return b


def conv2d(in_shape, w_float, b=None, stride=1, padding=0, neuron=None, tau=2.0,
           v_threshold=1.0, v_reset=0.0, reset="hard") -> Layer:
    """A conv2d layer from float weights (O, I, kh, kw): quantizes them and computes out_shape.
    `tau` is used only by 'lif'; neuron=None makes the (last) non-spiking weighted layer."""
    c, h, w = _shape3(in_shape, "in_shape")
    wf = np.asarray(w_float, dtype=np.float64)
    if wf.ndim != 4 or wf.shape[1] != c:
        raise FormatError(f"conv2d weight must be (O, {c}, kh, kw), got {wf.shape}")
    kernel = (wf.shape[2], wf.shape[3])
    stride, padding = _pair(stride, "stride"), _pair(padding, "padding")
    oh, ow = _out_hw((h, w), kernel, stride, padding)
    q, s = quantize_per_channel(wf)
    return Layer("conv2d", (c, h, w), (wf.shape[0], oh, ow), kernel=kernel, stride=stride,
                 padding=padding, weight=q, scale=s, bias=_bias(b, wf.shape[0]),
                 **_neuron_fields(neuron, reset, tau, v_threshold, v_reset))


def linear(in_shape, w_float, b=None, neuron=None, tau=2.0, v_threshold=1.0, v_reset=0.0,
           reset="hard") -> Layer:
    """A linear layer from float weights (O, I); `in_shape` is an int N or (N, 1, 1)."""
    if isinstance(in_shape, (int, np.integer)):
        in_shape = (int(in_shape), 1, 1)
    n, h, w = _shape3(in_shape, "in_shape")
    if (h, w) != (1, 1):
        raise FormatError(f"linear needs a vector input (N, 1, 1), got {in_shape}; "
                          "put a flatten before it")
    wf = np.asarray(w_float, dtype=np.float64)
    if wf.ndim != 2 or wf.shape[1] != n:
        raise FormatError(f"linear weight must be (O, {n}), got {wf.shape}")
    q, s = quantize_per_channel(wf)
    return Layer("linear", (n, 1, 1), (wf.shape[0], 1, 1), weight=q, scale=s,
                 bias=_bias(b, wf.shape[0]),
                 **_neuron_fields(neuron, reset, tau, v_threshold, v_reset))


def _pool(kind, in_shape, k, stride, padding) -> Layer:
    c, h, w = _shape3(in_shape, "in_shape")
    kernel = _pair(k, "kernel")
    stride = kernel if stride is None else _pair(stride, "stride")
    padding = _pair(padding, "padding")
    oh, ow = _out_hw((h, w), kernel, stride, padding)
    if oh < 1 or ow < 1:
        raise FormatError(f"a {kernel[0]}x{kernel[1]} window (padding {padding}) does not fit the "
                          f"{h}x{w} input")
    return Layer(kind, (c, h, w), (c, oh, ow), kernel=kernel, stride=stride, padding=padding)


def avgpool2d(in_shape, k, stride=None, padding=0) -> Layer:
    """Average pool (stride defaults to the kernel); divides by kh*kw, padding included."""
    return _pool("avgpool2d", in_shape, k, stride, padding)


def sumpool2d(in_shape, k, stride=None, padding=0) -> Layer:
    """Sum pool (stride defaults to the kernel)."""
    return _pool("sumpool2d", in_shape, k, stride, padding)


def flatten(in_shape) -> Layer:
    c, h, w = _shape3(in_shape, "in_shape")
    return Layer("flatten", (c, h, w), (c * h * w, 1, 1))


def build_model(input_shape, layers_spec: Sequence, *, time_steps: int, coding: str,
                sigma: float, num_classes: int | None = None, name: str = "",
                class_names: list[str] | None = None, arithmetic: str = "float",
                input_shift: int = 0, input_limit: int = 0) -> Model:
    """Chain layers, inferring each layer's input shape from the previous output.

    Each spec item is either a ready `Layer` (its in_shape must fit) or a tuple
    `(fn, *args)` or `(fn, *args, kwargs_dict)` where fn is one of conv2d, linear, avgpool2d,
    sumpool2d, flatten (or their names), called as fn(in_shape, *args, **kwargs), e.g.
    `("conv2d", w, b, {"padding": 1, "neuron": "lif"})`, `("avgpool2d", 2)`, `("flatten",)`.
    `num_classes` defaults to the size of the last weighted layer's output; arithmetic,
    input_shift and input_limit as in `Model`. Validates."""
    fns = {"conv2d": conv2d, "linear": linear, "avgpool2d": avgpool2d,
           "sumpool2d": sumpool2d, "flatten": flatten}
    shape = _shape3(input_shape, "input_shape")
    layers: list[Layer] = []
    for item in layers_spec:
        if isinstance(item, Layer):
            layer = item
        else:
            fn, *args = item
            fn = fns[fn] if isinstance(fn, str) else fn
            kwargs = args.pop() if args and isinstance(args[-1], dict) else {}
            layer = fn(shape, *args, **kwargs)
        layers.append(layer)
        shape = layer.out_shape
    if num_classes is None:
        last = [l for l in layers if l.weighted]
        if not last:
            raise FormatError("model has no weighted layer")
        num_classes = int(np.prod(last[-1].out_shape))
    model = Model(input_shape=_shape3(input_shape, "input_shape"), num_classes=num_classes,
                  time_steps=time_steps, coding=coding, sigma=sigma, layers=layers, name=name,
                  class_names=class_names, arithmetic=arithmetic, input_shift=input_shift,
                  input_limit=input_limit)
    validate(model)
    return model


# ---------------------------------------------------------------------------------------------
# Validation (shared by the writer and the reader)
# ---------------------------------------------------------------------------------------------

def _finite(x: float) -> bool:
    return math.isfinite(x)


def _check_string(s: str, what: str) -> bytes:
    if not isinstance(s, str):
        raise FormatError(f"{what} must be a str, got {type(s).__name__}")
    try:
        b = s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise FormatError(f"{what} is not valid UTF-8 text: {e.reason} at {e.start}") from None
    if b"\x00" in b:
        raise FormatError(f"{what} contains a NUL byte")
    if len(b) > MAX_STRING:
        raise FormatError(f"{what} is {len(b)} bytes of UTF-8, more than {MAX_STRING}")
    return b


def _check_arithmetic(arithmetic: str, shift: int, limit: int) -> None:
    if arithmetic not in ARITHMETICS:
        raise FormatError(f"arithmetic must be one of {sorted(ARITHMETICS)}, got {arithmetic!r}")
    if arithmetic == "float":
        if shift != 0 or limit != 0:
            raise FormatError(f"input_shift and input_limit must be 0 for arithmetic 'float' "
                              f"(they define the integer input grid), got {shift} and {limit}")
        return
    if not 0 <= shift <= MAX_INPUT_SHIFT:
        raise FormatError(f"input_shift must be 0..{MAX_INPUT_SHIFT} for arithmetic 'integer' "
                          f"(grid step 2^-input_shift), got {shift}")
    if not 1 <= limit <= MAX_INPUT_LIMIT:
        raise FormatError(f"input_limit must be 1..{MAX_INPUT_LIMIT} for arithmetic 'integer' "
                          f"(the int16 grid's clamp), got {limit}")


def validate(model: Model) -> None:
    """Check every rule of docs/format.md that applies to the in-memory model; raise
    FormatError naming the field (and the layer) at fault."""
    if not isinstance(model, Model):
        raise FormatError(f"expected a Model, got {type(model).__name__}")
    if model.coding not in CODINGS:
        raise FormatError(f"coding must be one of {sorted(CODINGS)}, got {model.coding!r}")
    if model.layers is not None:
        n = len(model.layers)
        if not 1 <= n <= MAX_LAYERS:
            raise FormatError(f"num_layers must be 1..{MAX_LAYERS}, got {n}")
    c, h, w = model.input_shape
    for v, f in ((c, "input_channels"), (h, "input_height"), (w, "input_width")):
        if not 1 <= v <= MAX_DIM:
            raise FormatError(f"{f} must be 1..{MAX_DIM}, got {v}")
    if c * h * w > MAX_ELEMENTS:
        raise FormatError(f"input size d = C*H*W = {c * h * w} exceeds 2^24")
    if not 2 <= model.num_classes <= MAX_CLASSES:
        raise FormatError(f"num_classes must be 2..{MAX_CLASSES}, got {model.num_classes}")
    if not 1 <= model.time_steps <= MAX_TIME_STEPS:
        raise FormatError(f"time_steps must be 1..{MAX_TIME_STEPS}, got {model.time_steps}")
    sigma = model.sigma
    if model.coding in ("gaussian", "gaussian-shared"):
        if not (_finite(sigma) and sigma > 0):
            raise FormatError(f"sigma must be finite and > 0 for coding {model.coding!r}, "
                              f"got {sigma}")
        if sigma > MAX_SIGMA:
            raise FormatError(f"sigma is {sigma}, more than {MAX_SIGMA:g}")
    elif sigma != 0:
        raise FormatError(f"sigma must be 0 for coding {model.coding!r}, got {sigma}")
    _check_arithmetic(model.arithmetic, model.input_shift, model.input_limit)
    _check_string(model.name, "name")
    names = model.class_names
    if names is None or len(names) != model.num_classes:
        raise FormatError(f"class_names must have num_classes = {model.num_classes} entries, "
                          f"got {None if names is None else len(names)}")
    for i, s in enumerate(names):
        _check_string(s, f"class_names[{i}]")
    if model.nodes is not None:
        from . import graph
        graph.validate_nodes(model)
        return

    shape = model.input_shape
    weighted = [i for i, l in enumerate(model.layers) if isinstance(l, Layer) and l.weighted]
    last_weighted = weighted[-1] if weighted else None
    total = 0
    memory = model.input_shape  # the map as laid out in memory: a flatten only relabels it
    for i, layer in enumerate(model.layers):
        if not isinstance(layer, Layer):
            raise FormatError(f"layer {i}: expected a Layer, got {type(layer).__name__}")
        _validate_layer(i, layer, shape, is_last_weighted=(i == last_weighted))
        total += int(np.prod(layer.out_shape))
        if total > MAX_TOTAL_ELEMENTS:
            raise FormatError(f"layers 0...{i} produce {total} elements per step, more than "
                              f"2^26")
        if layer.kind in POOLS and tuple(layer.in_shape) != tuple(memory):
            raise FormatError(f"layer {i} ({layer.kind}): pooling a flattened vector")
        if layer.kind != "flatten":
            memory = layer.out_shape
        shape = layer.out_shape
    if last_weighted is None:
        raise FormatError("model has no weighted layer (conv2d or linear) to produce logits")
    for i in range(last_weighted + 1, n):
        if model.layers[i].kind != "flatten":
            raise FormatError(f"layer {i} ({model.layers[i].kind}): only flatten may follow the "
                              f"last weighted layer (layer {last_weighted})")
    oc, oh, ow = model.layers[last_weighted].out_shape
    if (oh, ow) != (1, 1):
        raise FormatError(f"layer {last_weighted} ({model.layers[last_weighted].kind}): the logits "
                          f"layer's output {model.layers[last_weighted].out_shape} must be (K, 1, 1)")
    out = oc
    if out != model.num_classes:
        raise FormatError(f"layer {last_weighted} ({model.layers[last_weighted].kind}): output "
                          f"size {out} of the last weighted layer != num_classes "
                          f"{model.num_classes}")


def _validate_layer(i: int, L: Layer, in_shape, is_last_weighted: bool) -> None:
    where = f"layer {i} ({L.kind})"

    def bad(msg: str):
        raise FormatError(f"{where}: {msg}")

    if L.kind not in KINDS:
        raise FormatError(f"layer {i}: kind must be one of {sorted(KINDS)}, got {L.kind!r}")
    if L.neuron not in NEURONS:
        bad(f"neuron must be 'lif', 'if' or None, got {L.neuron!r}")
    if L.reset not in RESETS:
        bad(f"reset must be 'hard' or 'soft', got {L.reset!r}")
    for shp, nm in ((L.in_shape, "in"), (L.out_shape, "out")):
        for v, f in zip(shp, ("channels", "height", "width")):
            if not 1 <= v <= MAX_DIM:
                bad(f"{nm}_{f} must be 1..{MAX_DIM}, got {v}")
    if tuple(L.in_shape) != tuple(in_shape):
        prev = "the model input" if i == 0 else f"layer {i - 1}'s output"
        bad(f"in_shape {tuple(L.in_shape)} != {prev} {tuple(in_shape)}")
    if int(np.prod(L.out_shape)) > MAX_ELEMENTS:
        bad(f"output of {int(np.prod(L.out_shape))} elements exceeds 2^24")
    ci, hi, wi = L.in_shape
    co, ho, wo = L.out_shape

    # Geometry.
    if L.kind in ("conv2d",) + POOLS:
        for v, f in zip(L.kernel, ("kernel_h", "kernel_w")):
            if not 1 <= v <= MAX_KERNEL:
                bad(f"{f} must be 1..{MAX_KERNEL}, got {v}")
        for v, f in zip(L.stride, ("stride_h", "stride_w")):
            if not 1 <= v <= MAX_STRIDE:
                bad(f"{f} must be 1..{MAX_STRIDE}, got {v}")
        for v, k, f in zip(L.padding, L.kernel, ("pad_h", "pad_w")):
            if not 0 <= v < k:
                bad(f"{f} must be 0 <= pad < kernel size {k}, got {v}")
        eh, ew = _out_hw((hi, wi), L.kernel, L.stride, L.padding)
        if eh < 1 or ew < 1:
            bad(f"output size ({eh}, {ew}) < 1: kernel larger than the padded input")
        if (ho, wo) != (eh, ew):
            bad(f"out_height/out_width ({ho}, {wo}) != ({eh}, {ew}) from the input, kernel, "
                "stride and padding")
        if L.kind in POOLS and co != ci:
            bad(f"out_channels {co} != in_channels {ci} (pools keep channels)")
    else:
        if tuple(L.kernel) != (1, 1):
            bad(f"kernel_h/kernel_w must be 1 for {L.kind}, got {tuple(L.kernel)}")
        if tuple(L.stride) != (1, 1):
            bad(f"stride_h/stride_w must be 1 for {L.kind}, got {tuple(L.stride)}")
        if tuple(L.padding) != (0, 0):
            bad(f"pad_h/pad_w must be 0 for {L.kind}, got {tuple(L.padding)}")
    if L.kind == "linear":
        if (hi, wi) != (1, 1):
            bad(f"input must be a vector (N, 1, 1), got {tuple(L.in_shape)}; a linear layer "
                "after a map with H*W > 1 needs a flatten before it")
        if (ho, wo) != (1, 1):
            bad(f"output must be a vector (N, 1, 1), got {tuple(L.out_shape)}")
    if L.kind == "flatten" and tuple(L.out_shape) != (ci * hi * wi, 1, 1):
        bad(f"out_shape {tuple(L.out_shape)} != ({ci * hi * wi}, 1, 1)")

    # Neuron.
    if L.kind in WEIGHTED and not is_last_weighted and L.neuron is None:
        bad("every weighted layer but the last needs a neuron ('lif' or 'if')")
    if L.kind in WEIGHTED and is_last_weighted and L.neuron is not None:
        bad(f"the last weighted layer must have no neuron (its output is the logits), "
            f"got {L.neuron!r}")
    if L.kind not in WEIGHTED and L.neuron is not None:
        bad(f"pools and flatten have no neuron, got {L.neuron!r}")
    if L.neuron is None:
        if L.reset != "hard":
            bad("reset must be 'hard' (0) for a layer without neuron")
        for f in ("tau", "v_threshold", "v_reset"):
            if getattr(L, f) != 0:
                bad(f"{f} must be 0 for a layer without neuron, got {getattr(L, f)}")
    else:
        if L.neuron == "lif":
            if not (_finite(L.tau) and L.tau >= 1):
                bad(f"tau must be finite and >= 1 for 'lif', got {L.tau}")
        elif L.tau != 0:
            bad(f"tau must be 0 for 'if', got {L.tau}")
        for f in ("v_threshold", "v_reset"):
            if not _finite(getattr(L, f)):
                bad(f"{f} must be finite, got {getattr(L, f)}")

    # Tensors.
    if L.kind in WEIGHTED:
        expect = (co, ci, *L.kernel) if L.kind == "conv2d" else (co, ci)
        if L.weight is None or L.scale is None or L.bias is None:
            bad("weighted layers need weight, scale and bias")
        wt = _as_int8(L.weight, f"{where}: weight")
        if wt.shape != expect:
            bad(f"weight shape {wt.shape} != {expect}")
        if wt.nbytes > MAX_WEIGHT_BYTES:
            bad(f"weight_size {wt.nbytes} exceeds 2^28 bytes")
        for f in ("scale", "bias"):
            a = np.asarray(getattr(L, f), dtype=np.float32)
            if a.shape != (co,):
                bad(f"{f} shape {a.shape} != ({co},)")
            if not np.all(np.isfinite(a)):
                bad(f"{f} has non-finite values")
        if not np.all(np.asarray(L.scale, dtype=np.float32) > 0):
            bad("scale must be > 0 in every channel")
    else:
        for f in ("weight", "scale", "bias"):
            if getattr(L, f) is not None:
                bad(f"{f} must be None for {L.kind}")


# ---------------------------------------------------------------------------------------------
# Writer
# ---------------------------------------------------------------------------------------------

def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def to_bytes(model: Model) -> bytes:
    """Serialize a model to `.rscm` bytes, version 1 (layers) or 2 (nodes); validates first."""
    validate(model)
    if model.nodes is not None:
        from . import graph
        return _assemble(model, VERSION_GRAPH, model.nodes, graph.pack_node)
    return _assemble(model, VERSION, model.layers, _pack_layer)


def _pack_layer(buf: bytearray, at: int, L: Layer, tensors: tuple[int, int, int, int]) -> None:
    _LAYER.pack_into(buf, at, KINDS[L.kind], NEURONS[L.neuron], RESETS[L.reset],
                     *L.in_shape, *L.out_shape, *L.kernel, *L.stride, *L.padding,
                     L.tau, L.v_threshold, L.v_reset, *tensors, bytes(24))


def _assemble(model: Model, version: int, records: list, pack) -> bytes:
    """Header, record table (128 bytes each, written by pack), string table, then the tensors
    in record order (weight, scale, bias) in the canonical layout: each at the first multiple
    of 64 after the previous one, zero padding, the file ending with the last tensor."""
    n = len(records)
    strings = bytearray()
    for s in [model.name] + list(model.class_names or []):
        b = s.encode("utf-8")
        strings += struct.pack("<I", len(b)) + b
    strings_offset = HEADER_SIZE + LAYER_SIZE * n
    pos = strings_offset + len(strings)
    chunks: list[tuple[int, bytes]] = []
    offsets: list[tuple[int, int, int, int]] = []

    def place(data: bytes) -> int:
        nonlocal pos
        off = _align(pos)
        chunks.append((off, data))
        pos = off + len(data)
        return off

    for r in records:
        if r.weighted:
            w = _as_int8(r.weight, "weight").tobytes()
            wo = place(w)
            so = place(np.asarray(r.scale, dtype="<f4").tobytes())
            bo = place(np.asarray(r.bias, dtype="<f4").tobytes())
            offsets.append((wo, len(w), so, bo))
        else:
            offsets.append((0, 0, 0, 0))
    file_size = pos

    buf = bytearray(file_size)
    c, h, w = model.input_shape
    _HEADER.pack_into(buf, 0, MAGIC, version, 0, file_size, HEADER_SIZE, LAYER_SIZE, n,
                      CODINGS[model.coding], c, h, w, model.num_classes, model.time_steps,
                      model.sigma, strings_offset, len(strings), ARITHMETICS[model.arithmetic],
                      model.input_shift, model.input_limit, bytes(36))
    for i, (r, t) in enumerate(zip(records, offsets)):
        pack(buf, HEADER_SIZE + LAYER_SIZE * i, r, t)
    buf[strings_offset:strings_offset + len(strings)] = strings
    for off, data in chunks:
        buf[off:off + len(data)] = data
    struct.pack_into("<I", buf, _CHECKSUM_OFFSET, zlib.crc32(buf) & 0xFFFFFFFF)
    return bytes(buf)


def write_model(model: Model, path: str | PathLike) -> None:
    """Validate and write `model` to `path`."""
    data = to_bytes(model)
    with open(path, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------------------------------------
# Reader
# ---------------------------------------------------------------------------------------------

def checksum(data: bytes) -> int:
    """CRC-32 of `data` with the checksum field (bytes 12..15) taken as zero."""
    crc = zlib.crc32(data[:_CHECKSUM_OFFSET])
    crc = zlib.crc32(b"\0\0\0\0", crc)
    return zlib.crc32(data[_CHECKSUM_OFFSET + 4:], crc) & 0xFFFFFFFF


def from_bytes(data: bytes) -> Model:
    """Parse and fully validate `.rscm` bytes (version 1 or 2). Raises FormatError naming the
    field."""
    data = bytes(data)
    size = len(data)
    if size < HEADER_SIZE:
        raise FormatError(f"truncated file: {size} bytes, the header alone needs {HEADER_SIZE}")
    (magic, version, crc, file_size, header_size, layer_size, n, coding, c, h, w, k, t, sigma,
     strings_offset, strings_size, arithmetic, input_shift, input_limit,
     reserved) = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise FormatError(f"bad magic {magic!r}, expected {MAGIC!r} (not an .rscm file)")
    if version not in (VERSION, VERSION_GRAPH):
        raise FormatError(f"unsupported version {version} (this reader handles "
                          f"{VERSION} and {VERSION_GRAPH})")
    if file_size > size:
        raise FormatError(f"truncated file: file_size says {file_size} bytes, got {size}")
    if file_size != size:
        raise FormatError(f"file_size {file_size} does not match the actual size {size} "
                          "(trailing bytes)")
    actual = checksum(data)
    if crc != actual:
        raise FormatError(f"checksum mismatch: header says {crc:#010x}, data has {actual:#010x}")
    if header_size != HEADER_SIZE:
        raise FormatError(f"header_size must be {HEADER_SIZE}, got {header_size}")
    if layer_size != LAYER_SIZE:
        raise FormatError(f"layer_size must be {LAYER_SIZE}, got {layer_size}")
    if any(reserved):
        raise FormatError("header reserved bytes (92..127) must be zero")
    if arithmetic not in _ARITHMETIC_NAMES:
        raise FormatError(f"arithmetic must be 0 (float) or 1 (integer), got {arithmetic}")
    arithmetic_name = _ARITHMETIC_NAMES[arithmetic]
    _check_arithmetic(arithmetic_name, input_shift, input_limit)
    max_records = MAX_LAYERS if version == VERSION else MAX_NODES
    if not 1 <= n <= max_records:
        raise FormatError(f"num_{'layers' if version == VERSION else 'nodes'} must be "
                          f"1..{max_records}, got {n}")
    if coding not in _CODING_NAMES:
        raise FormatError(f"coding must be 0..3, got {coding}")
    for v, f in ((c, "input_channels"), (h, "input_height"), (w, "input_width")):
        if not 1 <= v <= MAX_DIM:
            raise FormatError(f"{f} must be 1..{MAX_DIM}, got {v}")
    if c * h * w > MAX_ELEMENTS:
        raise FormatError(f"input size d = C*H*W = {c * h * w} exceeds 2^24")
    if not 2 <= k <= MAX_CLASSES:
        raise FormatError(f"num_classes must be 2..{MAX_CLASSES}, got {k}")
    if not 1 <= t <= MAX_TIME_STEPS:
        raise FormatError(f"time_steps must be 1..{MAX_TIME_STEPS}, got {t}")
    coding_name = _CODING_NAMES[coding]
    if coding_name in ("gaussian", "gaussian-shared"):
        if not (math.isfinite(sigma) and sigma > 0):
            raise FormatError(f"sigma must be finite and > 0 for coding {coding_name!r}, "
                              f"got {sigma}")
    elif sigma != 0:
        raise FormatError(f"sigma must be 0 for coding {coding_name!r}, got {sigma}")
    if strings_offset != HEADER_SIZE + LAYER_SIZE * n:
        raise FormatError(f"strings_offset must be 128 + 128 * num_layers = "
                          f"{HEADER_SIZE + LAYER_SIZE * n}, got {strings_offset}")
    strings_end = strings_offset + strings_size
    if strings_end > file_size:
        raise FormatError(f"string table (strings_offset {strings_offset} + strings_size "
                          f"{strings_size}) runs past the end of the file ({file_size})")

    # String table.
    strings: list[str] = []
    pos = strings_offset
    for j in range(1 + k):
        what = "name" if j == 0 else f"class name {j - 1}"
        if pos + 4 > strings_end:
            raise FormatError(f"string table: {what} length runs past strings_size")
        (ln,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if ln > MAX_STRING:
            raise FormatError(f"string table: {what} is {ln} bytes, more than {MAX_STRING}")
        if pos + ln > strings_end:
            raise FormatError(f"string table: {what} ({ln} bytes) runs past strings_size")
        raw = data[pos:pos + ln]
        pos += ln
        if b"\0" in raw:
            raise FormatError(f"string table: {what} contains a NUL byte")
        try:
            strings.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise FormatError(f"string table: {what} is not valid UTF-8") from None
    if pos != strings_end:
        raise FormatError(f"string table: strings_size {strings_size} leaves "
                          f"{strings_end - pos} unused bytes")

    if version == VERSION_GRAPH:
        from . import graph
        nodes = graph.read_nodes(data, n, strings_end, file_size)
        model = Model(input_shape=(c, h, w), num_classes=k, time_steps=t, coding=coding_name,
                      sigma=sigma, layers=None, nodes=nodes, name=strings[0],
                      class_names=strings[1:], arithmetic=arithmetic_name,
                      input_shift=input_shift, input_limit=input_limit)
        validate(model)
        _check_layout(model, data)
        return model

    # Layer records.
    layers: list[Layer] = []
    for i in range(n):
        (kind, neuron, reset, ic, ih, iw, oc, oh, ow, kh, kw, sh, sw, ph, pw, tau, vth, vr,
         w_off, w_size, s_off, b_off, lres) = _LAYER.unpack_from(data, HEADER_SIZE + LAYER_SIZE * i)
        if kind not in _KIND_NAMES:
            raise FormatError(f"layer {i}: kind must be 1..5, got {kind}")
        kname = _KIND_NAMES[kind]
        where = f"layer {i} ({kname})"
        if neuron not in _NEURON_NAMES:
            raise FormatError(f"{where}: neuron must be 0..2, got {neuron}")
        if reset not in _RESET_NAMES:
            raise FormatError(f"{where}: reset must be 0 or 1, got {reset}")
        if any(lres):
            raise FormatError(f"{where}: reserved bytes (104..127) must be zero")
        fields = dict(kind=kname, in_shape=(ic, ih, iw), out_shape=(oc, oh, ow),
                      neuron=_NEURON_NAMES[neuron], reset=_RESET_NAMES[reset],
                      kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw),
                      tau=tau, v_threshold=vth, v_reset=vr)
        if kname in WEIGHTED:
            for v, f in ((oc, "out_channels"), (ic, "in_channels")):
                if not 1 <= v <= MAX_DIM:
                    raise FormatError(f"{where}: {f} must be 1..{MAX_DIM}, got {v}")
            for v, f in zip((kh, kw), ("kernel_h", "kernel_w")):
                if not 1 <= v <= MAX_KERNEL:
                    raise FormatError(f"{where}: {f} must be 1..{MAX_KERNEL}, got {v}")
            expect = oc * ic * kh * kw if kname == "conv2d" else oc * ic
            if w_size != expect:
                raise FormatError(f"{where}: weight_size {w_size} != {expect} "
                                  "(out_channels * in_channels * kernel_h * kernel_w)")
            if w_size > MAX_WEIGHT_BYTES:
                raise FormatError(f"{where}: weight_size {w_size} exceeds 2^28 bytes")
            arrays = {}
            for f, off, nbytes in (("weight_offset", w_off, w_size),
                                   ("scale_offset", s_off, 4 * oc),
                                   ("bias_offset", b_off, 4 * oc)):
                if off % ALIGN:
                    raise FormatError(f"{where}: {f} {off} is not a multiple of {ALIGN}")
                if off < strings_end:
                    raise FormatError(f"{where}: {f} {off} lies before the end of the string "
                                      f"table ({strings_end})")
                if off + nbytes > file_size:
                    raise FormatError(f"{where}: {f} {off} + {nbytes} bytes runs past the end "
                                      f"of the file ({file_size})")
                arrays[f] = data[off:off + nbytes]
            shape = (oc, ic, kh, kw) if kname == "conv2d" else (oc, ic)
            fields["weight"] = np.frombuffer(arrays["weight_offset"], dtype=np.int8).reshape(shape).copy()
            fields["scale"] = np.frombuffer(arrays["scale_offset"], dtype="<f4").astype(np.float32)
            fields["bias"] = np.frombuffer(arrays["bias_offset"], dtype="<f4").astype(np.float32)
        else:
            for v, f in ((w_off, "weight_offset"), (w_size, "weight_size"),
                         (s_off, "scale_offset"), (b_off, "bias_offset")):
                if v != 0:
                    raise FormatError(f"{where}: {f} must be 0 for {kname}, got {v}")
        try:
            layers.append(Layer(**fields))
        except FormatError as e:
            raise FormatError(f"{where}: {e}") from None

    model = Model(input_shape=(c, h, w), num_classes=k, time_steps=t, coding=coding_name,
                  sigma=sigma, layers=layers, name=strings[0], class_names=strings[1:],
                  arithmetic=arithmetic_name, input_shift=input_shift, input_limit=input_limit)
    validate(model)
    _check_layout(model, data)
    return model


def _check_layout(model: Model, data: bytes) -> None:
    """The tensors lie where the canonical writer puts them, padding is zero and nothing
    follows the last tensor: the file is exactly what to_bytes writes for its content."""
    canonical = to_bytes(model)
    if canonical != data:
        at = next((i for i, (a, b) in enumerate(zip(canonical, data)) if a != b),
                  min(len(canonical), len(data)))
        raise FormatError(f"the tensors are not in the canonical layout (each at the first "
                          f"multiple of 64 after the previous one, zero padding, nothing "
                          f"after the last): first difference at byte {at}")


def read_model(path: str | PathLike) -> Model:
    """Read and validate an `.rscm` file."""
    with open(path, "rb") as f:
        return from_bytes(f.read())


def __getattr__(name: str):
    # The version 2 graph API lives in rsc.graph (imported lazily: it builds on this module).
    if name in ("Node", "Graph", "NODE_KINDS", "to_graph", "node_types"):
        from . import graph
        return getattr(graph, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
