"""Converters to `.rscm`: `rsc.convert.torch` (PyTorch modules, `rsc.nn`) and `rsc.convert.nir`
(NIR graphs, e.g. exported by snnTorch). Command line: `python3 -m rsc.convert --help`.

The submodules import torch / nir only when used; `ConversionError` is shared by both."""

from __future__ import annotations

import re

import numpy as np

from .. import format as rf

__all__ = ["ConversionError", "quantization_report", "format_report"]


class ConversionError(ValueError):
    """A network cannot be expressed as an .rscm model; the message names the node/module."""


def input_shape3(shape, where: str) -> tuple[int, int, int]:
    """An input shape (N,), (H, W) or (C, H, W) as rsc's (C, H, W)."""
    try:
        s = [int(v) for v in np.asarray(shape).reshape(-1)]
    except (TypeError, ValueError):
        raise ConversionError(f"{where}: {shape!r} is not a shape") from None
    if len(s) == 1:
        return (s[0], 1, 1)
    if len(s) == 2:
        return (1, s[0], s[1])
    if len(s) == 3:
        return (s[0], s[1], s[2])
    raise ConversionError(f"{where} is {s}: rsc takes (N,), (H, W) or (C, H, W)")


def weighted_layer(shape, pending: dict, neuron: dict, where: str) -> rf.Layer:
    """The conv2d / linear layer of a converter's pending weighted node (dict kind, w, b and for
    conv stride, padding), with the neuron fields of the node after it; format errors name
    `where`."""
    try:
        if pending["kind"] == "conv2d":
            return rf.conv2d(shape, pending["w"], pending["b"], stride=pending["stride"],
                             padding=pending["padding"], **neuron)
        return rf.linear(shape, pending["w"], pending["b"], **neuron)
    except rf.FormatError as e:
        raise ConversionError(f"{where}: {e}") from None


def finish_model(layers: list[rf.Layer], floats: list[tuple[str, np.ndarray]],
                 sources: list[str], **fields):
    """The validated rf.Model of a converted layer list (`fields`: the Model's other fields) and
    its quantization report. sources[i] names what layer i came from (the module or node), so
    that an error about "layer i" names it."""
    try:
        model = rf.Model(layers=layers, **fields)
        rf.validate(model)
    except rf.FormatError as e:
        m = re.match(r"layer (\d+) \((\w+)\): ", str(e))
        if m and int(m[1]) < len(sources):
            raise ConversionError(f"{sources[int(m[1])]}, {m[0][:-2]}: {str(e)[m.end():]}") \
                from None
        raise ConversionError(str(e)) from None
    return model, quantization_report(model, floats)


def graph_node(sources: list[str], source: str, fn, *args, **kwargs) -> int:
    """Adds a node to an rsc.graph.Graph with fn (one of its methods), recording what it came
    from in sources; the graph's FormatError becomes a ConversionError naming the source."""
    try:
        i = fn(*args, **kwargs)
    except rf.FormatError as e:
        raise ConversionError(f"{source}: {e}") from None
    sources.append(source)
    return i


def finish_graph(graph, floats: list[tuple[str, np.ndarray]], sources: list[str], **fields):
    """The format-v2 counterpart of finish_model: builds an rsc.graph.Graph (`fields`: build's
    arguments) into a validated model and its report; sources[i] names what node i + 1 came from,
    so that an error about "node i" names it."""
    try:
        model = graph.build(**fields)
    except rf.FormatError as e:
        m = re.match(r"node (\d+) \((\w+)\): ", str(e))
        if m and 1 <= int(m[1]) <= len(sources):
            raise ConversionError(f"{sources[int(m[1]) - 1]}, {m[0][:-2]}: {str(e)[m.end():]}") \
                from None
        raise ConversionError(str(e)) from None
    return model, quantization_report(model, floats)


def quantization_report(model: rf.Model, floats: list[tuple[str, np.ndarray]]) -> list[dict]:
    """Per weighted layer (v1) or node (v2): the int8 rounding error of its weights against the
    float ones."""
    out = []
    weighted = [l for l in (model.layers if model.layers is not None else model.nodes)
                if l.weighted]
    for (mname, w), layer in zip(floats, weighted):
        q = layer.real_weight()
        err = q - w
        norm = float(np.linalg.norm(w))
        amax = float(np.abs(w).max())
        out.append(dict(module=mname, kind=layer.kind, shape=list(w.shape),
                        params=int(w.size),
                        max_abs_error=float(np.abs(err).max()),
                        max_abs_weight=amax,
                        rel_l2_error=float(np.linalg.norm(err) / norm) if norm else 0.0,
                        max_rel_error_per_channel=float(max(
                            (np.abs(err[o]).max() / np.abs(w[o]).max())
                            for o in range(w.shape[0]) if np.abs(w[o]).max() > 0) if amax else 0.0)))
    return out


def format_report(report: list[dict]) -> str:
    lines = ["quantization (int8, one scale per output channel):",
             f"  {'layer':<24} {'shape':<18} {'max |w|':>9} {'max |err|':>10} "
             f"{'rel L2 err':>10}"]
    for r in report:
        lines.append(f"  {r['module']:<24} {'x'.join(map(str, r['shape'])):<18} "
                     f"{r['max_abs_weight']:9.4f} {r['max_abs_error']:10.2e} "
                     f"{r['rel_l2_error']:10.2e}")
    return "\n".join(lines)
