"""Convert a PyTorch module to an `.rscm` model.

    from rsc.convert import torch as ct
    model, report = ct.convert_module(net)                  # an rsc.nn.RSCNet: all from the net
    model, report = ct.convert_module(resnet)               # an rsc.nn.RSCResNet: a v2 graph
    model, report = ct.convert_module(seq, input_shape=(1, 28, 28), time_steps=4,
                                      coding="gaussian", sigma=0.25)   # an nn.Sequential
    ct.write(model, "net.rscm"); print(ct.format_report(report))

Supported modules, in a feed-forward chain (nested `nn.Sequential` are flattened):

| module | becomes |
|---|---|
| `nn.Conv2d` (groups 1, dilation 1, zero padding, numeric padding) | `conv2d` |
| `nn.Linear` | `linear` |
| `nn.BatchNorm2d` / `nn.BatchNorm1d` right after a conv / linear | folded into it (eval statistics) |
| `rsc.nn.LIF` / `rsc.nn.IF` right after a conv / linear (or its BN) | that layer's neuron |
| `nn.AvgPool2d` (no ceil_mode, no divisor_override) | `avgpool2d` |
| `rsc.nn.SumPool2d` | `sumpool2d` |
| `nn.Flatten` (start_dim 1, end_dim -1) | `flatten` |
| `nn.Identity`, `nn.Dropout` (identity at inference) | nothing |

An `rsc.nn.RSCResNet` (`rsc.train --arch sew-resnet`) becomes a format v2 graph
(`RSCResNet.to_model`). The last weighted layer must have no neuron: its T-averaged output is
the logits. Anything else raises `ConversionError` naming the module. The conversion is exact
in float64 except for the int8 rounding of the weights (per output channel,
`rsc.format.quantize_per_channel`); the report gives that error per layer.
"""

from __future__ import annotations

import errno
import os
import pickle
from typing import Sequence

import numpy as np

from .. import format as rf

from . import (ConversionError, finish_model, format_report, input_shape3,  # noqa: F401
               quantization_report, weighted_layer)

__all__ = ["ConversionError", "convert_module", "quantization_report", "format_report", "write",
           "convert_checkpoint", "load_checkpoint"]


def _np(t) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _modules(module, prefix: str = ""):
    """(name, module) in execution order, flattening nested nn.Sequential."""
    import torch.nn as nn
    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            yield from _modules(child, f"{prefix}.{name}" if prefix else name)
    else:
        yield prefix or module.__class__.__name__, module


def _fold_bn(w: np.ndarray, b: np.ndarray, bn, where: str) -> tuple[np.ndarray, np.ndarray]:
    if not bn.track_running_stats or bn.running_mean is None:
        raise ConversionError(f"{where}: batch norm without running statistics cannot be folded")
    if bn.num_features != w.shape[0]:
        raise ConversionError(f"{where}: {bn.num_features} features after a layer of "
                              f"{w.shape[0]} output channels")
    mean, var = _np(bn.running_mean), _np(bn.running_var)
    g = _np(bn.weight) if bn.weight is not None else np.ones_like(mean)
    beta = _np(bn.bias) if bn.bias is not None else np.zeros_like(mean)
    k = g / np.sqrt(var + bn.eps)
    return w * k.reshape((-1,) + (1,) * (w.ndim - 1)), (b - mean) * k + beta


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def convert_module(module, *, input_shape: Sequence[int] | None = None,
                   time_steps: int | None = None, coding: str | None = None,
                   sigma: float | None = None, class_names=None, name: str | None = None):
    """Convert `module` to an `rsc.format.Model`; returns (model, report).

    An `rsc.nn.RSCNet` carries its own input shape, T, coding, sigma, class names and name
    (keyword arguments override them) and its input grid (an `integer` model when it has one);
    an `rsc.nn.RSCResNet` likewise, as a version 2 graph; any other module is taken as a chain of
    layers and needs input_shape, time_steps and coding (and sigma for gaussian codings)."""
    import dataclasses

    import torch.nn as nn
    from .. import nn as rnn

    if isinstance(module, rnn.RSCResNet):
        if input_shape is not None and input_shape3(input_shape, "input_shape") != module.input_shape:
            raise ConversionError(f"input_shape {tuple(input_shape)}: an RSCResNet is built for "
                                  f"{module.input_shape}")
        model, floats = module.to_model(with_floats=True)
        over = {k: v for k, v in dict(time_steps=time_steps, coding=coding, sigma=sigma,
                                      class_names=class_names, name=name).items() if v is not None}
        if over.get("coding") in ("direct", "poisson"):
            over["sigma"] = 0.0
        try:
            model = dataclasses.replace(model, **over)
        except (rf.FormatError, ValueError, TypeError) as e:
            raise ConversionError(str(e)) from None
        return model, quantization_report(model, floats)
    body = module
    arithmetic = rnn.arithmetic_fields(module)
    if isinstance(module, rnn.RSCNet):
        body = module.body
        input_shape = input_shape or module.input_shape
        time_steps = time_steps or module.coding.time_steps
        coding = coding or module.coding.coding
        sigma = module.coding.sigma if sigma is None else sigma
        class_names = class_names if class_names is not None else module.class_names
        name = name if name is not None else module.name
    if input_shape is None or time_steps is None or coding is None:
        raise ConversionError("input_shape, time_steps and coding are needed to convert a "
                              f"{type(module).__name__} (only rsc.nn.RSCNet carries them)")
    if coding in ("direct", "poisson"):
        sigma = 0.0
    elif sigma is None:
        raise ConversionError(f"coding {coding!r} needs sigma")

    shape = input_shape = input_shape3(input_shape, "input_shape")
    layers: list[rf.Layer] = []
    sources: list[str] = []  # the module(s) each layer came from, for error messages
    floats: list[tuple[str, np.ndarray]] = []  # (module name, float64 weight) per weighted layer
    pending = None  # a weighted layer waiting for its BN / neuron: dict(kind, name, w, b, ...)

    def flush(neuron_module=None):
        nonlocal pending, shape
        if pending is None:
            return
        nk = {}
        if neuron_module is not None:
            nk = dict(neuron=neuron_module.neuron, reset=neuron_module.reset,
                      v_threshold=neuron_module.v_threshold, v_reset=neuron_module.v_reset,
                      tau=getattr(neuron_module, "tau", 0.0))
        source = f"module {pending['name']!r}"
        layer = weighted_layer(shape, pending, nk, source)
        layers.append(layer)
        sources.append(source)
        floats.append((pending["name"], pending["w"]))
        shape = layer.out_shape
        pending = None

    for mname, m in _modules(body):
        where = f"module {mname!r} ({type(m).__name__})"
        if isinstance(m, (nn.Identity, nn.Dropout)):
            continue
        if isinstance(m, nn.Conv2d):
            flush()
            if m.groups != 1 or _pair(m.dilation) != (1, 1):
                raise ConversionError(f"{where}: only groups=1, dilation=1 are supported")
            if isinstance(m.padding, str):
                raise ConversionError(f"{where}: string padding {m.padding!r} is not supported; "
                                      "give the padding as numbers")
            if m.padding_mode != "zeros":
                raise ConversionError(f"{where}: padding_mode {m.padding_mode!r} is not supported")
            if m.in_channels != shape[0]:
                raise ConversionError(f"{where}: expects {m.in_channels} input channels, the "
                                      f"input here has shape {shape}")
            w = _np(m.weight)
            b = _np(m.bias) if m.bias is not None else np.zeros(w.shape[0])
            pending = dict(kind="conv2d", name=mname, w=w, b=b, stride=_pair(m.stride),
                           padding=_pair(m.padding))
        elif isinstance(m, nn.Linear):
            flush()
            if shape[1:] != (1, 1):
                raise ConversionError(f"{where}: a linear layer needs a vector input; the input "
                                      f"here has shape {shape}: put an nn.Flatten before it")
            if m.in_features != shape[0]:
                raise ConversionError(f"{where}: expects {m.in_features} inputs, gets {shape[0]}")
            w = _np(m.weight)
            b = _np(m.bias) if m.bias is not None else np.zeros(w.shape[0])
            pending = dict(kind="linear", name=mname, w=w, b=b)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            if pending is None:
                raise ConversionError(f"{where}: batch norm must follow a conv or linear layer "
                                      "directly (it is folded into that layer)")
            pending["w"], pending["b"] = _fold_bn(pending["w"], pending["b"], m, where)
            pending["name"] += f"+{mname}"
        elif isinstance(m, rnn.SpikingNeuron):
            if pending is None:
                raise ConversionError(f"{where}: a neuron must follow a conv or linear layer "
                                      "directly (optionally after its batch norm)")
            flush(m)
        elif isinstance(m, (nn.AvgPool2d, rnn.SumPool2d)):
            flush()
            k = _pair(m.kernel_size)
            s = _pair(m.stride if m.stride is not None else m.kernel_size)
            p = _pair(m.padding)
            if isinstance(m, nn.AvgPool2d):
                if m.ceil_mode or m.divisor_override is not None:
                    raise ConversionError(f"{where}: ceil_mode and divisor_override are not "
                                          "supported")
                if p != (0, 0) and not m.count_include_pad:
                    raise ConversionError(f"{where}: padding with count_include_pad=False is not "
                                          "supported (rsc divides by kh*kw)")
            fn = rf.avgpool2d if isinstance(m, nn.AvgPool2d) else rf.sumpool2d
            try:
                layers.append(fn(shape, k, s, p))
            except rf.FormatError as e:
                raise ConversionError(f"{where}: {e}") from None
            sources.append(where)
            shape = layers[-1].out_shape
        elif isinstance(m, nn.Flatten):
            flush()
            if m.start_dim != 1 or m.end_dim != -1:
                raise ConversionError(f"{where}: only Flatten(start_dim=1, end_dim=-1) is "
                                      "supported")
            if shape[1:] != (1, 1):
                layers.append(rf.flatten(shape))
                sources.append(where)
                shape = layers[-1].out_shape
        else:
            raise ConversionError(f"{where} is not supported by the rsc converter (supported: "
                                  "Conv2d, Linear, BatchNorm1d/2d, AvgPool2d, rsc.nn.SumPool2d, "
                                  "Flatten, rsc.nn.LIF/IF, Identity, Dropout)")
    flush()
    if not layers or not any(l.weighted for l in layers):
        raise ConversionError("the module has no conv or linear layer")
    last = max(i for i, l in enumerate(layers) if l.weighted)
    if layers[last].neuron is not None:
        raise ConversionError(f"the last weighted layer ({floats[-1][0]}) has a neuron; rsc's "
                              "logits are the T-averaged output of a last layer without neuron")
    for i, l in enumerate(layers[:last]):
        if l.weighted and l.neuron is None:
            j = [k for k, ll in enumerate(layers) if ll.weighted].index(i)
            raise ConversionError(f"weighted layer {floats[j][0]} is not followed by a neuron; "
                                  "only the last weighted layer may have none")
    for l in layers[last + 1:]:
        if l.kind != "flatten":
            raise ConversionError(f"a {l.kind} follows the last weighted layer ({floats[-1][0]}); "
                                  "rsc's logits are that layer's output")
    k = layers[last].out_shape[0]
    return finish_model(layers, floats, sources, input_shape=input_shape,
                        num_classes=k, time_steps=int(time_steps), coding=coding,
                        sigma=float(sigma), name=name or "", class_names=class_names,
                        **arithmetic)


def write(model: rf.Model, path: str | os.PathLike) -> None:
    rf.write_model(model, path)


def load_checkpoint(path: str | os.PathLike):
    """The rsc.nn.RSCNet or RSCResNet (eval mode) of a checkpoint written by `rsc.train
    --checkpoint`. A missing file is a FileNotFoundError, another file a ConversionError."""
    import torch
    from .. import nn as rnn
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "no such file", str(path))
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        net = rnn.build_net(ck["config"])
        net.load_state_dict(ck["state_dict"])
    except (pickle.UnpicklingError, OSError, RuntimeError, EOFError, ValueError, KeyError,
            TypeError, AttributeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""  # torch's run to pages
        raise ConversionError(f"{path}: not a checkpoint of `rsc.train --checkpoint` "
                              f"({type(e).__name__}: {first}); give a file it wrote") from None
    net.eval()
    return net


def convert_checkpoint(path: str | os.PathLike, out: str | os.PathLike, **overrides):
    """Checkpoint (`rsc.train --checkpoint`) -> .rscm file; returns (model, report)."""
    net = load_checkpoint(path)
    model, report = convert_module(net, **overrides)
    write(model, out)
    return model, report
