"""Convert a SpikingJelly (`spikingjelly.activation_based`) network to an `.rscm` model (version 2,
a graph of nodes: `rsc.graph`).

    from rsc.convert import spikingjelly as csj
    model, report = csj.convert_module(net, input_shape=(1, 28, 28), time_steps=4,
                                       coding="gaussian", sigma=0.25)
    rsc.format.write_model(model, "net.rscm"); print(csj.format_report(report))

What converts (docs/converters.md, "SpikingJelly", has the full table and the reasons):

* layers: `layer.Conv2d / Linear / BatchNorm2d / BatchNorm1d / MaxPool2d / AvgPool2d /
  AdaptiveAvgPool2d / Flatten / Dropout / Dropout2d` and their `torch.nn` twins, `nn.Identity`,
  `nn.Sequential`, `layer.SeqToANNContainer`, `layer.MultiStepContainer`. A BatchNorm folds into
  the conv / linear right before it (eval statistics); dropout is the identity (inference);
  AdaptiveAvgPool2d becomes a global average pool, an average pool or nothing when the output
  size divides the input size.
* neurons: `neuron.LIFNode` (decay_input True or False, hard reset to v_reset or soft reset
  `v_reset=None`), `neuron.IFNode`, `neuron.ParametricLIFNode` (an LIF with its trained
  tau = 1 / sigmoid(w)), each in single-step or multi-step mode, with any built-in surrogate
  (the surrogate only shapes the gradient: the forward is heaviside(h - v_threshold)).
* the model zoo (`spikingjelly.activation_based.model`): `sew_resnet.SEWResNet` (connect
  functions ADD, AND, IAND; BasicBlock and Bottleneck), `spiking_resnet.SpikingResNet`,
  `spiking_vgg.SpikingVGG` (with or without BN); their residual forward is rebuilt as a graph.

The network's T-averaged output of its last conv / linear are rsc's logits (SpikingJelly users
average the fc output over T, `net(x_seq).mean(0)` after `functional.reset_net(net)`). The
conversion is of the network in eval mode (running BN statistics, no dropout), and it is exact
up to float rounding and the int8 rounding of the weights that the report gives per layer:
anything SpikingJelly would compute differently raises `ConversionError` naming the module.
"""

from __future__ import annotations

import importlib
import math
import pickle
import sys
import types
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .. import format as rf
from . import (ConversionError, finish_graph, format_report, graph_node,  # noqa: F401
               input_shape3, quantization_report)

__all__ = ["ConversionError", "convert_module", "import_zoo", "format_report", "write"]

ZOO = "spikingjelly.activation_based.model"
_ZOO_MODULES = ("sew_resnet", "spiking_resnet", "spiking_vgg")
SUPPORTED = ("Conv2d, Linear, BatchNorm1d/2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten, "
             "Dropout, Identity, Sequential, layer.SeqToANNContainer, layer.MultiStepContainer, "
             "neuron.LIFNode, neuron.IFNode, neuron.ParametricLIFNode, and the zoo's SEWResNet, "
             "SpikingResNet and SpikingVGG")


def _stub_load_state_dict_from_url(*args, **kwargs):
    raise RuntimeError("pretrained weights need torchvision (and a network): rsc imported "
                       "SpikingJelly's model zoo with a stand-in for torchvision")


def import_zoo():
    """SpikingJelly's zoo modules (sew_resnet, spiking_resnet, spiking_vgg), imported.

    They import torchvision only for `load_state_dict_from_url` (pretrained weights). Where
    torchvision is missing or broken (torchvision builds must match the torch build), a stand-in
    module that provides just that name (raising if called) is put in `sys.modules` for the
    import and taken out again afterwards; the zoo's classes are the real ones."""
    names = [f"{ZOO}.{m}" for m in _ZOO_MODULES]
    if all(n in sys.modules for n in names):
        return tuple(sys.modules[n] for n in names)
    try:
        return tuple(importlib.import_module(n) for n in names)
    except Exception:  # noqa: BLE001 - torchvision missing (ImportError) or broken (any error)
        pass
    saved = {k: sys.modules.pop(k) for k in list(sys.modules)
             if k == "torchvision" or k.startswith("torchvision.")}
    stub = types.ModuleType("torchvision")
    stub.__path__ = []  # a package, so `torchvision.models.utils` fails with ImportError
    sub = types.ModuleType("torchvision._internally_replaced_utils")
    sub.load_state_dict_from_url = _stub_load_state_dict_from_url
    stub._internally_replaced_utils = sub
    sys.modules["torchvision"] = stub
    sys.modules["torchvision._internally_replaced_utils"] = sub
    try:
        return tuple(importlib.import_module(n) for n in names)
    finally:
        for k in ("torchvision", "torchvision._internally_replaced_utils"):
            if sys.modules.get(k) in (stub, sub):
                del sys.modules[k]
        sys.modules.update(saved)


def _zoo_loaded():
    """The zoo modules that are imported (a zoo network's class is only there if they are)."""
    return {m: sys.modules.get(f"{ZOO}.{m}") for m in _ZOO_MODULES}


def write(model: rf.Model, path) -> None:
    rf.write_model(model, path)


def load_network(spec: str, state_dict: str | None = None):
    """The network for `python3 -m rsc.convert spikingjelly`, in eval mode: `spec` is a file
    written by `torch.save(net)` (unpickling runs code from the file: only trusted files; the
    zoo is imported first, with the torchvision stand-in where needed, so zoo networks load) or
    `MODULE:FUNCTION`, a function called without arguments that returns the network.
    `state_dict`: a file of `torch.save(net.state_dict())` to load into it (weights only)."""
    import os
    import torch
    try:
        import spikingjelly.activation_based  # noqa: F401
    except ImportError as e:
        raise ConversionError(f"spikingjelly is not installed ({e})") from None
    try:
        import_zoo()
    except Exception:  # noqa: BLE001 - a network without zoo classes still loads
        pass
    if not os.path.exists(spec) and ":" in spec:
        mod, _, fn = spec.partition(":")
        try:
            net = getattr(importlib.import_module(mod), fn)()
        except (ImportError, AttributeError) as e:
            raise ConversionError(f"{spec}: {e}") from None
    else:
        try:
            net = torch.load(spec, map_location="cpu", weights_only=False)
        except (pickle.UnpicklingError, OSError, RuntimeError, EOFError, ValueError) as e:
            raise ConversionError(f"{spec}: cannot load a network: {e}") from None
    if not isinstance(net, torch.nn.Module):
        raise ConversionError(f"{spec}: gives a {type(net).__name__}, not a torch.nn.Module")
    if state_dict is not None:
        try:
            sd = torch.load(state_dict, map_location="cpu", weights_only=True)
            net.load_state_dict(sd)
        except (pickle.UnpicklingError, OSError, RuntimeError, EOFError, ValueError, KeyError) as e:
            raise ConversionError(f"{state_dict}: cannot load the weights: {e}") from None
    return net.eval()


# ---------------------------------------------------------------------------------------------
# Values flowing through the walk
# ---------------------------------------------------------------------------------------------

@dataclass
class _Val:
    """A tensor of the SpikingJelly network as the walk sees it.

    node: the graph node that holds it (0 = the model input), or None while it is `pending`: a
    conv / linear not yet emitted, so that a BatchNorm after it can still fold in.
    type: 'analog' (the input), 'spikes', 'counts' (sums / pools of spikes) or 'current'.
    shape: rsc's (C, H, W); vec: the torch tensor is a vector per sample ((N, F) or (T, N, F))."""

    node: int | None
    type: str
    shape: tuple[int, int, int]
    vec: bool = False
    pending: dict | None = None


def _scalar(v, what: str, where: str) -> float:
    import torch
    if isinstance(v, torch.Tensor):
        if v.numel() != 1:
            raise ConversionError(f"{where}: {what} has {v.numel()} values (per channel or per "
                                  f"neuron); rsc has one {what} per node")
        v = v.detach().double().item()
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ConversionError(f"{where}: {what} {v!r} is not a number") from None
    if not math.isfinite(f):
        raise ConversionError(f"{where}: {what} is {f}")
    return f


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else (int(v[0]), int(v[1]))


class _Converter:
    def __init__(self, input_shape, vec: bool):
        import torch.nn as nn
        from spikingjelly.activation_based import layer, neuron, surrogate
        self.nn, self.layer, self.neuron, self.surrogate = nn, layer, neuron, surrogate
        self.zoo = _zoo_loaded()
        self.g = rf.Graph(input_shape)
        self.floats: list[tuple[str, np.ndarray]] = []
        self.sources: list[str] = []  # per node, what it came from
        self.input = _Val(0, "analog", tuple(input_shape), vec=vec)
        L = layer
        self.CONV = (nn.Conv2d, L.Conv2d)
        self.LINEAR = (nn.Linear, L.Linear)
        self.BN2 = (nn.BatchNorm2d, L.BatchNorm2d)
        self.BN1 = (nn.BatchNorm1d, L.BatchNorm1d)
        self.MAXPOOL = (nn.MaxPool2d, L.MaxPool2d)
        self.AVGPOOL = (nn.AvgPool2d, L.AvgPool2d)
        self.ADAPTIVE = (nn.AdaptiveAvgPool2d, L.AdaptiveAvgPool2d)
        self.FLATTEN = (nn.Flatten, L.Flatten)
        self.DROPOUT = (nn.Dropout, nn.Dropout2d, L.Dropout, L.Dropout2d)
        self.NEURONS = (neuron.LIFNode, neuron.IFNode, neuron.ParametricLIFNode)

    # -- graph emission ----------------------------------------------------------------------

    def _node(self, fn, source: str, *args, **kwargs) -> int:
        return graph_node(self.sources, source, fn, *args, **kwargs)

    def emit(self, v: _Val) -> int:
        """The node of v, emitting its pending conv / linear."""
        if v.pending is None:
            return v.node
        p = v.pending
        if p["kind"] == "conv2d":
            i = self._node(self.g.conv2d, p["source"], p["src"], p["w"], p["b"],
                           stride=p["stride"], padding=p["padding"])
        else:
            i = self._node(self.g.linear, p["source"], p["src"], p["w"], p["b"])
        self.floats.append((p["name"], p["w"]))
        return i

    # -- dispatch ----------------------------------------------------------------------------

    def module(self, name: str, m, v: _Val, ctx: str) -> _Val:
        """Run module m (named `name`) on v in context ctx: 'm' (the tensor is the sequence
        [T, N, ...]), 's' (one time step [N, ...]) or 'ann' (inside a SeqToANNContainer:
        [T*N, ...], stateless modules only)."""
        nn = self.nn
        where = f"module {name!r} ({type(m).__name__})"
        if getattr(m, "_forward_hooks", None) or getattr(m, "_forward_pre_hooks", None):
            raise ConversionError(f"{where} has forward hooks, which may change its output; "
                                  "remove them to convert")
        zoo = self.zoo
        if zoo["sew_resnet"] is not None:
            z = zoo["sew_resnet"]
            if _same_forward(m, z.SEWResNet, ("forward", "_forward_impl")):
                return self.resnet(name, m, v, ctx, sew=True)
            if _same_forward(m, z.BasicBlock) or _same_forward(m, z.Bottleneck):
                return self.sew_block(name, m, v, ctx, z)
        if zoo["spiking_resnet"] is not None:
            z = zoo["spiking_resnet"]
            if _same_forward(m, z.SpikingResNet, ("forward", "_forward_impl")):
                return self.resnet(name, m, v, ctx, sew=False)
            if _same_forward(m, z.BasicBlock) or _same_forward(m, z.Bottleneck):
                return self.spiking_block(name, m, v, ctx, z)
        if zoo["spiking_vgg"] is not None and _same_forward(m, zoo["spiking_vgg"].SpikingVGG):
            return self.vgg(name, m, v, ctx)
        L = self.layer
        if type(m) in (L.MultiStepContainer, L.SeqToANNContainer):
            if ctx != "m":
                raise ConversionError(f"{where} runs on a sequence [T, N, ...] but is used in a "
                                      f"{_ctx_words(ctx)}: in a multi-step network only")
            inner = "s" if type(m) is L.MultiStepContainer else "ann"
            return self.children(name, m, v, inner)
        if isinstance(m, nn.Sequential):
            if type(m).forward is not nn.Sequential.forward:
                raise ConversionError(f"{where} is an nn.Sequential with its own forward, "
                                      "which rsc cannot follow")
            return self.children(name, m, v, ctx)
        if type(m) in self.NEURONS:
            return self.spiking_neuron(name, m, v, ctx)
        if isinstance(m, self.surrogate.SurrogateFunctionBase):
            raise ConversionError(f"{where}: a surrogate function used as a layer (heaviside of "
                                  "its input, without a membrane) is not a neuron rsc can run; "
                                  "use neuron.IFNode / LIFNode")
        if isinstance(m, self.neuron.BaseNode) or isinstance(m, getattr(
                self.neuron, "SimpleBaseNode", ())):
            raise ConversionError(f"{where}: rsc converts neuron.LIFNode, IFNode and "
                                  "ParametricLIFNode (exactly these classes: a subclass may "
                                  "change the dynamics)")
        t = type(m)
        if t is nn.Identity:
            return v
        if t in self.DROPOUT:
            return v  # identity at inference (layer.Dropout too: its mask applies in training)
        if t in self.CONV:
            handler = lambda: self.conv(name, where, m, v)  # noqa: E731
        elif t in self.LINEAR:
            handler = lambda: self.linear(name, where, m, v)  # noqa: E731
        elif t in self.BN2 or t in self.BN1:
            handler = lambda: self.batch_norm(name, where, m, v)  # noqa: E731
        elif t in self.MAXPOOL or t in self.AVGPOOL or t in self.ADAPTIVE:
            handler = lambda: self.pool(where, m, v)  # noqa: E731
        elif t in self.FLATTEN:
            handler = lambda: self.flatten(where, m, v, ctx)  # noqa: E731
        else:
            raise ConversionError(f"{where} is not supported by the rsc converter (supported: "
                                  f"{SUPPORTED})")
        self._check_mode(where, m, ctx)
        return handler()

    def children(self, name: str, m, v: _Val, ctx: str) -> _Val:
        for cname, child in m.named_children():
            v = self.module(f"{name}.{cname}" if name else cname, child, v, ctx)
        return v

    def _check_mode(self, where: str, m, ctx: str) -> None:
        """A stateless layer computes the same per sample in every context, if its step_mode
        matches how it is called. A plain torch layer sees the raw tensor."""
        nn = self.nn
        t = type(m)
        sj = hasattr(m, "step_mode") and not t.__module__.startswith("torch.")
        if t in self.LINEAR:
            return  # a linear map of the last dimension: the same on [N, F] and [T, N, F]
        if sj:
            want = "m" if ctx == "m" else "s"
            if m.step_mode != want:
                raise ConversionError(f"{where} has step_mode {m.step_mode!r} but is called "
                                      f"in a {_ctx_words(ctx)}: SpikingJelly would "
                                      f"{'treat T as the batch' if want == 'm' else 'treat the batch as T'}"
                                      f" (or fail); set step_mode={want!r}")
        elif ctx == "m" and not isinstance(m, nn.Flatten):
            raise ConversionError(f"{where} is a plain torch layer called on the sequence "
                                  "[T, N, ...]; wrap it in layer.SeqToANNContainer or use "
                                  "the layer.* module with step_mode='m'")

    # -- layers ------------------------------------------------------------------------------

    def _reads_map(self, where: str, v: _Val, what: str) -> None:
        if v.type == "current":
            raise ConversionError(f"{where} {what} the output of a conv / linear layer (a "
                                  "current); rsc's layers read spikes, counts or the input: put "
                                  "a neuron in between")

    def conv(self, name: str, where: str, m, v: _Val) -> _Val:
        from .torch import _np
        self._reads_map(where, v, "convolves")
        if v.vec:
            raise ConversionError(f"{where}: convolves a flattened vector")
        if m.groups != 1 or _pair(m.dilation) != (1, 1):
            raise ConversionError(f"{where}: only groups=1, dilation=1 are supported (got "
                                  f"groups={m.groups}, dilation={m.dilation})")
        if m.padding_mode != "zeros":
            raise ConversionError(f"{where}: padding_mode {m.padding_mode!r} is not supported")
        k = _pair(m.kernel_size)
        stride = _pair(m.stride)
        if m.padding == "valid":
            padding = (0, 0)
        elif m.padding == "same":
            if stride != (1, 1) or k[0] % 2 == 0 or k[1] % 2 == 0:
                raise ConversionError(f"{where}: padding 'same' needs stride 1 and odd kernels")
            padding = (k[0] // 2, k[1] // 2)
        else:
            padding = _pair(m.padding)
        if m.in_channels != v.shape[0]:
            raise ConversionError(f"{where}: expects {m.in_channels} input channels, the input "
                                  f"here has shape {v.shape}")
        w = _np(m.weight)
        b = _np(m.bias) if m.bias is not None else np.zeros(w.shape[0])
        src = self.emit(v)
        (_, h, wd) = v.shape
        oh, ow = rf._out_hw((h, wd), k, stride, padding)
        if oh < 1 or ow < 1:
            raise ConversionError(f"{where}: a {k[0]}x{k[1]} kernel does not fit the input "
                                  f"{v.shape}")
        return _Val(None, "current", (w.shape[0], oh, ow), pending=dict(
            kind="conv2d", name=name, source=where, src=src, w=w, b=b, stride=stride,
            padding=padding))

    def linear(self, name: str, where: str, m, v: _Val) -> _Val:
        from .torch import _np
        self._reads_map(where, v, "reads")
        if not v.vec:
            raise ConversionError(f"{where}: a linear layer needs a vector input; the input here "
                                  f"is a map of shape {v.shape}: flatten it first")
        if m.in_features != v.shape[0]:
            raise ConversionError(f"{where}: expects {m.in_features} inputs, gets {v.shape[0]}")
        w = _np(m.weight)
        b = _np(m.bias) if m.bias is not None else np.zeros(w.shape[0])
        src = self.emit(v)
        return _Val(None, "current", (w.shape[0], 1, 1), vec=True, pending=dict(
            kind="linear", name=name, source=where, src=src, w=w, b=b))

    def batch_norm(self, name: str, where: str, m, v: _Val) -> _Val:
        from .torch import _fold_bn
        if v.pending is None:
            raise ConversionError(f"{where}: batch norm must follow a conv or linear layer "
                                  "directly (it is folded into that layer)")
        if (type(m) in self.BN1) != v.vec:
            raise ConversionError(f"{where}: {'BatchNorm1d' if not v.vec else 'BatchNorm2d'} "
                                  "is needed here (BatchNorm1d after a linear layer, BatchNorm2d "
                                  "after a conv)")
        p = dict(v.pending)
        p["w"], p["b"] = _fold_bn(p["w"], p["b"], m, where)
        p["name"] = f"{p['name']}+{name}"
        return _Val(None, "current", v.shape, vec=v.vec, pending=p)

    def pool(self, where: str, m, v: _Val) -> _Val:
        if v.vec:
            raise ConversionError(f"{where}: pools a flattened vector")
        c, h, w = v.shape
        t = type(m)
        if t in self.ADAPTIVE:
            out = m.output_size
            out = (out, out) if isinstance(out, int) else tuple(out)
            oh, ow = (h if out[0] is None else int(out[0])), (w if out[1] is None else int(out[1]))
            if (oh, ow) == (h, w):
                return v  # the identity (SpikingVGG's 7x7 pool of a 7x7 map)
        self._reads_map(where, v, "pools")
        if t in self.ADAPTIVE:
            if (oh, ow) == (1, 1):
                return _Val(self._node(self.g.global_avgpool, where, self.emit(v)),
                            self._pooled(v), (c, 1, 1))
            if h % oh or w % ow:
                raise ConversionError(f"{where}: adaptive pooling of {h}x{w} to {oh}x{ow} has "
                                      "windows of unequal size; rsc pools with one window size "
                                      "(output size must divide the input size)")
            k = (h // oh, w // ow)
            i = self._node(self.g.avgpool2d, where, self.emit(v), k, stride=k, padding=0)
            return _Val(i, self._pooled(v), self.g.shape(i))
        k = _pair(m.kernel_size)
        s = _pair(m.stride if m.stride is not None else m.kernel_size)
        p = _pair(m.padding)
        if m.ceil_mode:
            raise ConversionError(f"{where}: ceil_mode is not supported")
        if t in self.MAXPOOL:
            if _pair(m.dilation) != (1, 1) or m.return_indices:
                raise ConversionError(f"{where}: dilation and return_indices are not supported")
            i = self._node(self.g.maxpool2d, where, self.emit(v), k, stride=s, padding=p)
            return _Val(i, v.type, self.g.shape(i))
        if m.divisor_override is not None:
            raise ConversionError(f"{where}: divisor_override is not supported")
        if p != (0, 0) and not m.count_include_pad:
            raise ConversionError(f"{where}: padding with count_include_pad=False is not "
                                  "supported (rsc divides by kh*kw)")
        i = self._node(self.g.avgpool2d, where, self.emit(v), k, stride=s, padding=p)
        return _Val(i, self._pooled(v), self.g.shape(i))

    @staticmethod
    def _pooled(v: _Val) -> str:
        return "analog" if v.type == "analog" else "counts"

    def flatten(self, where: str, m, v: _Val, ctx: str) -> _Val:
        # The tensor's leading (batch) dimensions: [T, N] when a plain torch Flatten sees the
        # sequence, [N] (or [T*N]) otherwise (layer.Flatten in 'm' mode flattens T*N first).
        sj = hasattr(m, "step_mode") and not type(m).__module__.startswith("torch.")
        lead = 2 if (ctx == "m" and not sj) else 1
        rank = lead + (1 if v.vec else 3)
        start, end = m.start_dim % rank, m.end_dim % rank
        if (start, end) != (lead, rank - 1):
            raise ConversionError(f"{where}: flattens dims {m.start_dim}..{m.end_dim} of a "
                                  f"rank-{rank} tensor; rsc flattens a sample's whole C x H x W "
                                  f"map (here start_dim={lead}, end_dim=-1)")
        return self._flat(where, v)

    def _flat(self, where: str, v: _Val) -> _Val:
        if v.vec:
            return v
        if v.shape[1:] == (1, 1):  # (C, 1, 1) is already laid out as a vector
            return _Val(v.node, v.type, v.shape, vec=True, pending=v.pending)
        if v.type == "current":
            raise ConversionError(f"{where} flattens the output of a conv layer (a current); "
                                  "flatten spikes (after a neuron) or pooled spikes")
        i = self._node(self.g.flatten, where, self.emit(v))
        return _Val(i, v.type, self.g.shape(i), vec=True)

    # -- neurons -----------------------------------------------------------------------------

    def neuron_params(self, where: str, m) -> dict:
        """rsc's neuron node for a LIFNode / IFNode / ParametricLIFNode, checked."""
        import torch
        sf = m.surrogate_function
        S = self.surrogate
        if not isinstance(sf, S.SurrogateFunctionBase) or type(sf).__module__ != S.__name__:
            raise ConversionError(f"{where}: surrogate function {type(sf).__name__} is not one "
                                  "of SpikingJelly's built-in surrogates; its forward is "
                                  "unknown to rsc")
        if not sf.spiking:
            raise ConversionError(f"{where}: the surrogate function is not in spiking mode "
                                  "(spiking=False: the forward is its smooth primitive, not a "
                                  "spike)")
        probe = torch.tensor([-1.0, -1e-7, 0.0, 1e-7, 1.0], dtype=torch.float64)
        with torch.no_grad():
            if not torch.equal(sf(probe), (probe >= 0).to(probe)):
                raise ConversionError(f"{where}: the surrogate function's forward is not "
                                      "heaviside(x) (x >= 0)")
        if getattr(m, "_neuron_precision", None) is not None:
            raise ConversionError(f"{where}: a reduced-precision neuron state "
                                  "(spikingjelly precision conversion) is not modelled; convert "
                                  "the float32 network")
        v_th = _scalar(m.v_threshold, "v_threshold", where)
        if m.v_reset is None:
            reset, v_reset = "soft", 0.0  # SpikingJelly: leak towards 0, start at 0
        else:
            reset, v_reset = "hard", _scalar(m.v_reset, "v_reset", where)
        rv = getattr(m, "_memories_rv", {}).get("v", v_reset)
        init = _scalar(rv, "initial membrane", where) if not (
            isinstance(rv, torch.Tensor) and rv.numel() != 1) else None
        if init != v_reset:
            raise ConversionError(f"{where}: membranes start at {rv!r} after reset_net, not at "
                                  f"{'v_reset' if reset == 'hard' else '0 (soft reset)'} "
                                  f"{v_reset}; rsc starts them there")
        out = dict(reset=reset, v_threshold=v_th, v_reset=v_reset)
        if type(m) is self.neuron.IFNode:
            return dict(out, kind="if")
        if type(m) is self.neuron.LIFNode:
            tau = _scalar(m.tau, "tau", where)
        else:
            w = m.w
            if w.numel() != 1:
                raise ConversionError(f"{where}: w has {w.numel()} values (a tau per channel or "
                                      "neuron); rsc has one tau per node")
            tau = 1.0 / float(torch.sigmoid(w.detach().double()).item())
        if not (math.isfinite(tau) and tau >= 1.0):
            raise ConversionError(f"{where}: tau = {tau} (rsc needs tau >= 1)")
        return dict(out, kind="lif", tau=tau, decay_input=bool(m.decay_input))

    def spiking_neuron(self, name: str, m, v: _Val, ctx: str) -> _Val:
        where = f"module {name!r} ({type(m).__name__})"
        if ctx == "ann":
            raise ConversionError(f"{where} is inside a SeqToANNContainer, which runs the T*N "
                                  "samples as one step of a stateless layer: the membrane would "
                                  "not carry over time steps; use MultiStepContainer")
        want = "m" if ctx == "m" else "s"
        if m.step_mode != want:
            raise ConversionError(f"{where} has step_mode {m.step_mode!r} but is called in a "
                                  f"{_ctx_words(ctx)}; set step_mode={want!r} (e.g. "
                                  "functional.set_step_mode)")
        p = self.neuron_params(where, m)
        return self.fire(where, p, v)

    def fire(self, where: str, p: dict, v: _Val) -> _Val:
        if v.type != "current":
            raise ConversionError(f"{where} reads {_type_words(v.type)}; rsc's neurons read the "
                                  "output of a conv / linear layer (after its BN) or a sum "
                                  "involving one")
        src = self.emit(v)
        if p["kind"] == "if":
            i = self._node(self.g.if_, where, src, v_threshold=p["v_threshold"],
                           v_reset=p["v_reset"], reset=p["reset"])
        else:
            i = self._node(self.g.lif, where, src, tau=p["tau"], v_threshold=p["v_threshold"],
                           v_reset=p["v_reset"], reset=p["reset"], decay_input=p["decay_input"])
        return _Val(i, "spikes", v.shape, vec=v.vec)

    # -- merges ------------------------------------------------------------------------------

    def add(self, where: str, a: _Val, b: _Val) -> _Val:
        if a.shape != b.shape or a.vec != b.vec:
            raise ConversionError(f"{where}: adds tensors of shapes {a.shape} and {b.shape}")
        if "analog" in (a.type, b.type):
            raise ConversionError(f"{where}: adds the model input (or a pool of it); rsc adds "
                                  "currents, spikes or counts")
        ia, ib = self.emit(a), self.emit(b)
        i = self._node(self.g.add, where, ia, ib)
        ty = "current" if "current" in (a.type, b.type) else "counts"
        return _Val(i, ty, a.shape, vec=a.vec)

    def sew(self, where: str, cnf, x: _Val, y: _Val) -> _Val:
        """sew_function(x, y, cnf): ADD x + y, AND x * y, IAND x * (1 - y)."""
        if cnf == "ADD":
            return self.add(where, x, y)
        if cnf not in ("AND", "IAND"):
            raise ConversionError(f"{where}: connect function cnf={cnf!r} is not ADD, AND or "
                                  "IAND")
        if x.type != "spikes" or y.type != "spikes":
            raise ConversionError(f"{where}: {cnf} combines two spike maps (0/1), got "
                                  f"{_type_words(x.type)} and {_type_words(y.type)}")
        fn = self.g.and_ if cnf == "AND" else self.g.iand
        return _Val(self._node(fn, f"{where} ({cnf})", self.emit(x), self.emit(y)), "spikes",
                    x.shape, vec=x.vec)

    # -- the model zoo -----------------------------------------------------------------------

    def _sub(self, name: str, m, attr: str) -> tuple[str, object]:
        return (f"{name}.{attr}" if name else attr), getattr(m, attr)

    def _run(self, name: str, m, attrs: Sequence[str], v: _Val, ctx: str) -> _Val:
        for a in attrs:
            v = self.module(*self._sub(name, m, a), v, ctx)
        return v

    def _zoo_flatten(self, name: str, m, v: _Val, ctx: str) -> _Val:
        """The zoo's `torch.flatten(x, 1 if avgpool.step_mode == 's' else 2)` after avgpool."""
        where = f"module {name or type(m).__name__!r} ({type(m).__name__}), the flatten after " \
                "avgpool"
        mode = getattr(m.avgpool, "step_mode", None)
        want = "m" if ctx == "m" else "s"
        if mode != want:
            raise ConversionError(f"{where}: avgpool.step_mode is {mode!r} in a "
                                  f"{_ctx_words(ctx)}; the zoo's forward then flattens the wrong "
                                  f"dimensions (or fails): set step_mode={want!r}")
        return self._flat(where, v)

    def resnet(self, name: str, m, v: _Val, ctx: str, sew: bool) -> _Val:
        # _forward_impl: conv1, bn1, sn1, maxpool, layer1..4, avgpool, flatten, fc
        v = self._run(name, m, ("conv1", "bn1", "sn1", "maxpool"), v, ctx)
        for lname in ("layer1", "layer2", "layer3", "layer4"):
            v = self.module(*self._sub(name, m, lname), v, ctx)
        v = self.module(*self._sub(name, m, "avgpool"), v, ctx)
        v = self._zoo_flatten(name, m, v, ctx)
        return self.module(*self._sub(name, m, "fc"), v, ctx)

    def sew_block(self, name: str, b, x: _Val, ctx: str, zoo) -> _Val:
        """SEW-ResNet blocks (sew_resnet.py): out = sn_k(bn_k(conv_k(...))) down the branch;
        identity = x, or downsample_sn(downsample(x)); BasicBlock returns
        sew_function(identity, out), Bottleneck sew_function(out, identity)."""
        where = f"module {name!r} ({type(b).__name__})"
        basic = _same_forward(b, zoo.BasicBlock)
        n = 2 if basic else 3
        out = x
        for k in range(1, n + 1):
            out = self._run(name, b, (f"conv{k}", f"bn{k}", f"sn{k}"), out, ctx)
        identity = x
        if b.downsample is not None:
            identity = self._run(name, b, ("downsample", "downsample_sn"), x, ctx)
        if basic:
            return self.sew(where, b.cnf, identity, out)
        return self.sew(where, b.cnf, out, identity)

    def spiking_block(self, name: str, b, x: _Val, ctx: str, zoo) -> _Val:
        """Spiking-ResNet blocks (spiking_resnet.py): the last conv's BN output plus identity
        (x, or downsample(x): conv + BN, no neuron) is summed before the last neuron."""
        where = f"module {name!r} ({type(b).__name__})"
        n = 2 if _same_forward(b, zoo.BasicBlock) else 3
        out = x
        for k in range(1, n):
            out = self._run(name, b, (f"conv{k}", f"bn{k}", f"sn{k}"), out, ctx)
        out = self._run(name, b, (f"conv{n}", f"bn{n}"), out, ctx)
        identity = x
        if b.downsample is not None:
            identity = self.module(*self._sub(name, b, "downsample"), x, ctx)
        s = self.add(f"{where}, out += identity", out, identity)
        return self.module(*self._sub(name, b, f"sn{n}"), s, ctx)

    def vgg(self, name: str, m, v: _Val, ctx: str) -> _Val:
        # forward: features, avgpool, flatten, classifier
        v = self._run(name, m, ("features", "avgpool"), v, ctx)
        v = self._zoo_flatten(name, m, v, ctx)
        return self.module(*self._sub(name, m, "classifier"), v, ctx)


def _same_forward(m, cls, methods: Sequence[str] = ("forward",)) -> bool:
    """m is a cls (or a subclass that does not override the forward path)."""
    return isinstance(m, cls) and all(getattr(type(m), f) is getattr(cls, f) for f in methods)


def _ctx_words(ctx: str) -> str:
    return {"m": "multi-step context (the tensor is [T, N, ...])",
            "s": "single-step context (one time step [N, ...])",
            "ann": "SeqToANNContainer (the tensor is [T*N, ...])"}[ctx]


def _type_words(t: str) -> str:
    return {"analog": "the model input (or a pool of it)", "spikes": "a spike map",
            "counts": "spike counts (a sum or pool of spikes)", "current": "a current"}[t]


def _step_mode(net) -> str:
    """How the network is called: 'm' (x_seq [T, N, ...]) if its neurons outside containers are
    multi-step or it has MultiStepContainer / SeqToANNContainer outside them (without neurons:
    if its SpikingJelly layers are multi-step), else 's'."""
    from spikingjelly.activation_based import base, layer, neuron
    containers = (layer.MultiStepContainer, layer.SeqToANNContainer)
    modes, layer_modes, has_container = set(), set(), False
    stack = [net]
    while stack:
        m = stack.pop()
        if isinstance(m, containers):
            has_container = True
            continue
        if isinstance(m, neuron.BaseNode):
            modes.add(m.step_mode)
        elif isinstance(m, base.StepModule) and not isinstance(m, layer.Linear):
            try:
                layer_modes.add(m.step_mode)
            except AttributeError:
                pass
        stack.extend(m.children())
    if not modes and not has_container and len(layer_modes) == 1:
        modes = layer_modes  # no neurons: the layers' mode
    if len(modes) > 1:
        raise ConversionError("the network's neurons mix step modes 's' and 'm' outside "
                              "containers (functional.set_step_mode(net, 'm') sets them all)")
    if modes:
        mode = modes.pop()
        if has_container and mode == "s":
            raise ConversionError("the network has single-step neurons and multi-step "
                                  "containers (MultiStepContainer / SeqToANNContainer) at the "
                                  "same level")
        return mode
    return "m" if has_container else "s"


def convert_module(net, *, input_shape: Sequence[int] = (1, 28, 28), time_steps: int = 4,
                   coding: str = "gaussian", sigma: float | None = 0.25, class_names=None,
                   name: str = ""):
    """Convert a SpikingJelly network to an `rsc.format.Model` (version 2); returns
    (model, report), report as `rsc.convert.quantization_report` (one entry per conv / linear).

    The network is the one SpikingJelly runs in eval mode on inputs of `input_shape` (C, H, W)
    per sample, in its step mode: multi-step networks take x_seq [T, N, C, H, W], single-step
    ones are called once per time step; either way rsc's logits are the mean over the T steps of
    the last layer's output. rsc feeds step t the coded input (x + noise for gaussian coding)."""
    try:
        import torch  # noqa: F401
        import spikingjelly.activation_based  # noqa: F401
    except ImportError as e:
        raise ConversionError(f"converting a SpikingJelly network needs torch and spikingjelly "
                              f"({e})") from None
    if coding in ("direct", "poisson"):
        sigma = 0.0
    elif sigma is None:
        raise ConversionError(f"coding {coding!r} needs sigma")
    shape = input_shape3(input_shape, "input_shape")
    vec = len(np.asarray(input_shape).reshape(-1)) == 1
    c = _Converter(shape, vec)
    v = c.module("", net, c.input, _step_mode(net))
    if v.pending is None:
        what = "spikes (a neuron)" if v.type == "spikes" else _type_words(v.type)
        raise ConversionError(f"the network ends with {what}; rsc's logits are the T-averaged "
                              "output of a last conv / linear layer without a neuron after it")
    if v.shape[1:] != (1, 1):
        raise ConversionError(f"the last layer ({v.pending['source']}) outputs a {v.shape} map; "
                              "rsc's logits are a vector of class scores (K, 1, 1)")
    c.emit(v)
    return finish_graph(c.g, c.floats, c.sources, time_steps=time_steps, coding=coding,
                        sigma=float(sigma), name=name or "", class_names=class_names)
