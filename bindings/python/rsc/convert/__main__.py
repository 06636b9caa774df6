"""python3 -m rsc.convert {torch,nir,spikingjelly} ...: convert a trained network to .rscm.

    python3 -m rsc.convert torch checkpoint.pt --out net.rscm         # from `rsc.train --checkpoint`
    python3 -m rsc.convert nir net.nir --out net.rscm --dt 1e-4 --time-steps 8 [--coding gaussian --sigma 0.25]
    python3 -m rsc.convert spikingjelly net.pt --out net.rscm --input-shape 1 28 28 --time-steps 4 \
        [--state-dict weights.pt] [--coding gaussian --sigma 0.25]   # net.pt: torch.save(net)

Prints the layers and the int8 quantization error per layer. On an error (a missing or unreadable
file, a network that cannot be converted) it prints one line `error: what; how to fix` naming the
file, module or node, and exits 1; usage errors exit 2. The written file is loaded once with the
runtime (when librsc.so is found), which can refuse a valid file it cannot run exactly; such a
file is removed again and the command fails with the runtime's reason.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import ConversionError, format_report


def _summary(model) -> str:
    lines = [f"model {model.name!r}: input {model.input_shape}, {model.num_classes} classes, "
             f"T = {model.time_steps}, coding {model.coding}, sigma {model.sigma:g}"]
    if model.nodes is not None:  # version 2: a graph
        for i, nd in enumerate(model.nodes, start=1):
            extra = ""
            if nd.kind in ("lif", "if"):
                extra = " (" + (f"tau {nd.tau:g}, " + ("" if nd.decay_input else
                                                       "no decay_input, ")
                                if nd.kind == "lif" else "") + \
                    f"v_th {nd.v_threshold:g}, v_reset {nd.v_reset:g}, {nd.reset} reset)"
            ins = ", ".join(map(str, nd.inputs))
            lines.append(f"  {i}: {nd.kind}({ins}) -> {nd.out_shape}{extra}")
        return "\n".join(lines)
    for i, l in enumerate(model.layers):
        extra = ""
        if l.neuron:
            extra = f" {l.neuron} (" + (f"tau {l.tau:g}, " if l.neuron == "lif" else "") + \
                f"v_th {l.v_threshold:g}, v_reset {l.v_reset:g}, {l.reset} reset)"
        lines.append(f"  {i}: {l.kind} {l.in_shape} -> {l.out_shape}{extra}")
    return "\n".join(lines)


def _runtime_check(path: str) -> tuple[bool, str]:
    """(accepted, note): loads the file with librsc.so if the library can be found."""
    from .. import _native
    from ..errors import RSCError
    from ..model import Model
    try:
        _native.lib()
    except OSError:
        return True, "not checked with the runtime: librsc.so not found (RSC_LIBRARY)"
    try:
        Model(path).close()
    except RSCError as e:
        return False, f"the runtime refuses the converted model: {e}"
    return True, "loads in librsc"


def _error(what: str, fix: str = "") -> int:
    """One line on stderr and exit status 1 (argparse's usage errors: 2)."""
    print(f"error: {what}" + (f"; {fix}" if fix else ""), file=sys.stderr)
    return 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m rsc.convert", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="source", required=True)
    t = sub.add_parser("torch", help="a checkpoint written by `python3 -m rsc.train --checkpoint`")
    t.add_argument("checkpoint")
    n = sub.add_parser("nir", help="a .nir graph (nir.write), e.g. from snnTorch's export_to_nir")
    n.add_argument("graph")
    n.add_argument("--dt", type=float, required=True,
                   help="the simulation time step of the graph's time constants (snnTorch: 1e-4)")
    n.add_argument("--time-steps", type=int, required=True)
    n.add_argument("--input-shape", type=int, nargs="+", help="override the Input node's shape")
    n.add_argument("--reset", choices=["hard", "subtract"],
                   help="reset semantics of every neuron, for graphs that do not carry them "
                        "(nir <= 1.0.4, e.g. Sinabs); default: the graph's own")
    n.add_argument("--spike", choices=["single", "multi"],
                   help="spike semantics: 'single' (at most one spike per step) states what such "
                        "graphs mean; 'multi' is refused")
    s = sub.add_parser("spikingjelly", help="a SpikingJelly network: a file written by "
                       "torch.save(net) (unpickled: only trusted files) or MODULE:FUNCTION "
                       "returning the network")
    s.add_argument("network")
    s.add_argument("--state-dict", help="weights to load into it (torch.save(net.state_dict()))")
    s.add_argument("--input-shape", type=int, nargs="+", default=[1, 28, 28],
                   help="one sample's shape: C H W, H W or N (default 1 28 28)")
    s.add_argument("--time-steps", type=int, default=4)
    for q in (t, n, s):
        q.add_argument("--out", required=True, help="the .rscm file to write")
        q.add_argument("--coding", choices=["direct", "gaussian", "gaussian-shared", "poisson"],
                       default=None if q is t else "direct")
        q.add_argument("--sigma", type=float, default=None if q is t else 0.0)
        q.add_argument("--name", default=None if q is t else "")
        q.add_argument("--class-names", default=None, help="comma-separated")
    s.set_defaults(coding="gaussian", sigma=0.25)
    a = p.parse_args(argv)
    from .. import format as rf
    names = a.class_names.split(",") if a.class_names else None
    try:
        if a.source == "torch":
            from . import torch as ct
            net = ct.load_checkpoint(a.checkpoint)
            kw = {k: v for k, v in dict(coding=a.coding, sigma=a.sigma, name=a.name,
                                         class_names=names).items() if v is not None}
            model, report = ct.convert_module(net, **kw)
        elif a.source == "spikingjelly":
            from . import spikingjelly as csj
            net = csj.load_network(a.network, a.state_dict)
            model, report = csj.convert_module(net, input_shape=a.input_shape,
                                               time_steps=a.time_steps, coding=a.coding,
                                               sigma=a.sigma, name=a.name, class_names=names)
        else:
            from . import nir as cn
            model, report = cn.convert_graph(a.graph, dt=a.dt, time_steps=a.time_steps,
                                             coding=a.coding, sigma=a.sigma, name=a.name,
                                             class_names=names, input_shape=a.input_shape,
                                             reset=a.reset, spike=a.spike)
        rf.write_model(model, a.out)
    except (ConversionError, rf.FormatError) as e:
        return _error(str(e))
    except FileNotFoundError as e:
        return _error(f"{e.filename}: no such file or directory", "check the path")
    except OSError as e:  # e.g. --out in a directory that is not there
        return _error(f"{e.filename}: {e.strerror}" if e.filename else str(e))
    ok, note = _runtime_check(a.out)
    if not ok:
        os.remove(a.out)
        return _error(note)
    print(_summary(model))
    print(format_report(report))
    print(f"wrote {a.out} ({note})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
