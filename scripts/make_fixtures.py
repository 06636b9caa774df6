#!/usr/bin/env python3
"""Write the committed `.rscm` fixtures and their JSON sidecars into Tests/Fixtures/.

    python3 scripts/make_fixtures.py            # (re)write Tests/Fixtures/*
    python3 scripts/make_fixtures.py --check    # exit 1 if the committed files differ

Everything is deterministic (fixed seeds): the same bytes on every run. Each `<name>.rscm` gets a
`<name>.json` with the header fields, the layer (v1) or node (v2) table, one fixed input x and the T per-step inputs
`u` of one pass (float32 values, `u[t]` is the flattened C*H*W input of step t), and the float64
reference logits (`rsc.reference.forward`), prediction, per-layer firing rates and threshold
margins (min |h - v_threshold|, how close a spike came to flipping) for that `u`. The Swift reader and
runtime tests load both. `bindings/python/tests/test_format.py` regenerates these in memory and
checks the committed files byte for byte.
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "Fixtures"
sys.path.insert(0, str(ROOT / "bindings" / "python"))

from rsc import format as rf  # noqa: E402
from rsc import models as rm  # noqa: E402
from rsc import reference as ref  # noqa: E402


def fixture_models() -> dict[str, rf.Model]:
    """The fixture models, by file stem. The builder calls here are the definition."""
    tiny = rm.linear_classifier(
        np.array([[1.0, -0.5, 0.25, 0.0],
                  [-1.0, 0.5, 0.0, 2.0]]),
        np.array([0.125, -0.25]),
        input_shape=(4, 1, 1), time_steps=1, coding="gaussian", sigma=0.5,
        name="tiny_linear", class_names=["left", "right"])
    conv_lif = rm.random_conv_snn(1, time_steps=4, coding="gaussian", sigma=0.25,
                                  neuron="lif", reset="hard", name="conv_lif")
    conv_if_soft = rm.random_conv_snn(2, time_steps=3, coding="gaussian-shared", sigma=0.5,
                                      neuron="if", reset="soft", conv2_stride=2,
                                      name="conv_if_soft")
    poisson_mlp = rm.random_mlp(3, input_shape=(1, 8, 8), hidden=(32,), classes=10,
                                time_steps=8, coding="poisson", neuron="lif", tau=2.0,
                                name="poisson_mlp")
    direct_mlp = rm.random_mlp(4, input_shape=(2, 4, 4), hidden=(24, 16), classes=3,
                               time_steps=5, coding="direct", neuron="lif", reset="soft",
                               tau=3.0, v_threshold=0.75, v_reset=-0.25, name="direct_mlp")
    direct_mlp.class_names = ["zero", "één", "二"]  # exercises non-ASCII UTF-8
    # Version 2 graphs: SpikingJelly's two residual styles, max and global average pooling.
    resnet_spiking = rm.random_resnet(6, style="spiking", name="resnet_spiking")
    sew_iand = rm.random_resnet(7, style="sew", connect="IAND", neuron="if", reset="soft",
                                time_steps=3, coding="gaussian-shared", sigma=0.5,
                                name="sew_iand")
    sew_add = rm.random_resnet(8, style="sew", connect="ADD", decay_input=False, tau=3.0,
                               input_shape=(2, 10, 10), pool="avgpool2d", head="flatten",
                               name="sew_add")
    return {"tiny_linear": tiny, "conv_lif": conv_lif, "conv_if_soft": conv_if_soft,
            "poisson_mlp": poisson_mlp, "direct_mlp": direct_mlp,
            "resnet_spiking": resnet_spiking, "sew_iand": sew_iand, "sew_add": sew_add}


def fixture_input(stem: str, model: rf.Model, candidates: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """One fixed clean input x (d,) and the T inputs u (T, d) of one pass, both float32.

    Of `candidates` draws (x ~ U[0, 1]^d, then the model's coding) it keeps the one whose
    smallest threshold margin is largest, so that a runtime with fixed-point membranes can be
    expected to reproduce the fixture's spikes (and logits) closely."""
    rng = np.random.default_rng(zlib.crc32(stem.encode()))  # a fixed seed per fixture
    best = None
    for _ in range(candidates):
        x = rng.random(model.input_size).astype(np.float32)
        u = ref.encode(model, x, rng).reshape(model.time_steps, -1).astype(np.float32)
        margins = [m for m in ref.threshold_margins(model, u.astype(np.float64)[None])
                   if m is not None]
        score = min(margins) if margins else np.inf
        if best is None or score > best[0]:
            best = (score, x, u)
    return best[1], best[2]


def _layer_json(layer: rf.Layer) -> dict:
    d = {"kind": layer.kind, "neuron": layer.neuron, "reset": layer.reset,
         "in_shape": list(layer.in_shape), "out_shape": list(layer.out_shape),
         "kernel": list(layer.kernel), "stride": list(layer.stride),
         "padding": list(layer.padding), "tau": layer.tau, "v_threshold": layer.v_threshold,
         "v_reset": layer.v_reset}
    return d


def _node_json(node) -> dict:
    return {"kind": node.kind, "inputs": list(node.inputs), "out_shape": list(node.out_shape),
            "kernel": list(node.kernel), "stride": list(node.stride),
            "padding": list(node.padding), "reset": node.reset, "decay_input": node.decay_input,
            "tau": node.tau, "v_threshold": node.v_threshold, "v_reset": node.v_reset}


def sidecar(stem: str, model: rf.Model, data: bytes) -> dict:
    x, u = fixture_input(stem, model)
    logits = ref.forward(model, u.astype(np.float64))
    rates = ref.firing_rates(model, u.astype(np.float64)[None])
    margins = ref.threshold_margins(model, u.astype(np.float64)[None])
    return {
        "file": f"{stem}.rscm",
        "version": model.version,
        "file_size": len(data),
        "checksum": int.from_bytes(data[12:16], "little"),
        "name": model.name,
        "coding": model.coding,
        "sigma": model.sigma,
        "time_steps": model.time_steps,
        "num_classes": model.num_classes,
        "input_shape": list(model.input_shape),
        "class_names": list(model.class_names),
        "layer_kinds": [l.kind for l in model.items],
        "layers": [_layer_json(l) if model.layers is not None else _node_json(l) for l in model.items],
        "x": [float(v) for v in x],
        "u": [[float(v) for v in row] for row in u],
        "logits": [float(v) for v in logits],
        "prediction": int(np.argmax(logits)),
        "firing_rates": rates,
        "threshold_margins": margins,
    }


def _dump(obj: dict) -> str:
    """JSON with one top-level key per line and each row of `u` on its own line."""
    lines = []
    items = list(obj.items())
    for i, (k, v) in enumerate(items):
        comma = "," if i + 1 < len(items) else ""
        if k == "u":
            rows = ",\n    ".join(json.dumps(r) for r in v)
            lines.append(f'  "u": [\n    {rows}\n  ]{comma}')
        elif k == "layers":
            rows = ",\n    ".join(json.dumps(r, ensure_ascii=False) for r in v)
            lines.append(f'  "layers": [\n    {rows}\n  ]{comma}')
        else:
            lines.append(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}{comma}")
    return "{\n" + "\n".join(lines) + "\n}\n"


def build_fixtures() -> dict[str, bytes]:
    """All fixture files, file name -> bytes."""
    out: dict[str, bytes] = {}
    for stem, model in fixture_models().items():
        data = rf.to_bytes(model)
        out[f"{stem}.rscm"] = data
        out[f"{stem}.json"] = _dump(sidecar(stem, model, data)).encode("utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true",
                   help="compare with the files in Tests/Fixtures instead of writing")
    p.add_argument("--out", type=Path, default=FIXTURES, help="output folder")
    args = p.parse_args(argv)
    files = build_fixtures()
    if args.check:
        bad = [n for n, b in files.items()
               if not (args.out / n).is_file() or (args.out / n).read_bytes() != b]
        for n in bad:
            print(f"differs: {args.out / n}", file=sys.stderr)
        return 1 if bad else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for n, b in files.items():
        (args.out / n).write_bytes(b)
        print(f"wrote {args.out / n} ({len(b)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
