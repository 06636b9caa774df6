"""rsc.convert.nir: NIR graphs -> .rscm, against an independent simulation of the NIR graph.

`simulate_nir` below runs a NIR chain in discrete time straight from the NIR definitions
(forward Euler with step dt: LIF `v += dt / tau * (v_leak - v + r I)`, IF `v += dt * r I`, spike
when v crosses v_threshold, reset to v_reset), with the graph's own float weights. Graphs here
use int8-grid weights and power-of-two r, dt and tau/dt so that rsc's conversion is lossless:
the converted model must then reproduce the NIR simulation on every pass.

Skips when nir is not installed (pip install nir==1.0.8)."""

import numpy as np
import pytest

nir = pytest.importorskip("nir", reason="nir not installed: pip install nir==1.0.8")

from rsc import format as rf  # noqa: E402
from rsc import reference as ref  # noqa: E402
from rsc.convert import ConversionError  # noqa: E402
from rsc.convert import nir as cn  # noqa: E402


def grid(rng, shape, amax=1.0):
    """Random weights on the int8 grid of their own per-output-channel scale."""
    w = rng.normal(size=shape)
    q, s = rf.quantize_per_channel(w * amax / np.abs(w).max())
    return q.astype(np.float64) * s.astype(np.float64).reshape((-1,) + (1,) * (len(shape) - 1))


def simulate_nir(graph, u, dt):
    """u: (B, T, ...) -> T-mean of the Output node's input, (B, K). A plain NIR interpreter."""
    order = cn._chain(graph)
    state = {}
    total = 0
    steps = u.shape[1]
    for t in range(steps):
        a = u[:, t]
        for name in order[1:-1]:
            n = graph.nodes[name]
            kind = type(n).__name__
            if kind in ("Affine", "Linear"):
                a = a.reshape(a.shape[0], -1) @ np.asarray(n.weight, float).T
                if kind == "Affine":
                    a = a + np.asarray(n.bias, float)
            elif kind == "Conv2d":
                pad = n.padding if not isinstance(n.padding, str) else (0, 0)
                a = ref.conv2d_ref(a, np.asarray(n.weight, float), np.asarray(n.bias, float),
                                   tuple(np.broadcast_to(n.stride, 2)), tuple(np.broadcast_to(pad, 2)))
            elif kind in ("SumPool2d", "AvgPool2d"):
                k = tuple(int(v) for v in np.broadcast_to(n.kernel_size, 2))
                a = ref.pool2d_ref(a, k, tuple(int(v) for v in np.broadcast_to(n.stride, 2)),
                                   tuple(int(v) for v in np.broadcast_to(n.padding, 2)),
                                   average=(kind == "AvgPool2d"))
            elif kind == "Flatten":
                a = a.reshape(a.shape[0], -1)
            elif kind in ("LIF", "IF"):
                shape = np.asarray(n.v_threshold).shape
                i = a.reshape((a.shape[0],) + shape)
                v = state.get(name, np.broadcast_to(np.asarray(n.v_reset, float), i.shape).copy())
                if kind == "LIF":
                    v = v + dt / np.asarray(n.tau, float) * (np.asarray(n.v_leak, float) - v
                                                             + np.asarray(n.r, float) * i)
                else:
                    v = v + dt * np.asarray(n.r, float) * i
                z = v >= np.asarray(n.v_threshold, float)  # NIR: v > thr; equal never happens here
                state[name] = np.where(z, np.asarray(n.v_reset, float), v)
                a = z.astype(float).reshape(a.shape)
        total = total + a.reshape(a.shape[0], -1)
    return total / steps


def conv_graph(dt=0.5):
    """Input (1, 8, 8) -> Conv2d(4, 3x3, pad 1) -> LIF -> SumPool2d(2) -> Flatten -> Affine(12)
    -> IF -> Linear(5) -> Output, with per-channel r and v_leak and a v_reset != 0."""
    rng = np.random.default_rng(0)
    c = 4
    r_c = np.array([1.0, 2.0, 0.5, 1.0])
    leak_c = np.array([0.0, 0.25, -0.125, 0.5])
    full = (c, 8, 8)
    nodes = {
        "in": nir.Input(input_type=np.array([1, 8, 8])),
        "conv": nir.Conv2d(input_shape=(8, 8), weight=grid(rng, (c, 1, 3, 3), 2.0), stride=1,
                           padding=1, dilation=1, groups=1, bias=rng.uniform(-0.5, 1.0, c)),
        "lif": nir.LIF(tau=np.full(full, 2.0 * dt), r=np.broadcast_to(r_c[:, None, None], full).copy(),
                       v_leak=np.broadcast_to(leak_c[:, None, None], full).copy(),
                       v_threshold=np.full(full, 1.0), v_reset=np.full(full, 0.125)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                              padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([c, 4, 4])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=grid(rng, (12, c * 16), 0.5), bias=rng.uniform(-0.3, 0.3, 12)),
        "if": nir.IF(r=np.full(12, 1.0 / dt), v_threshold=np.full(12, 1.5), v_reset=np.zeros(12)),
        "out_fc": nir.Linear(weight=grid(rng, (5, 12), 1.0)),
        "out": nir.Output(output_type=np.array([5])),
    }
    names = list(nodes)
    edges = [(a, b) for a, b in zip(names, names[1:])]
    return nir.NIRGraph(nodes=nodes, edges=edges[::-1])  # edge order must not matter


def test_conversion_matches_nir_simulation(librsc, tmp_path):
    import rsc
    dt = 0.5
    g = conv_graph(dt)
    model, report = cn.convert_graph(g, dt=dt, time_steps=6, coding="gaussian", sigma=0.2)
    kinds = [(l.kind, l.neuron) for l in model.layers]
    assert kinds == [("conv2d", "lif"), ("sumpool2d", None), ("flatten", None), ("linear", "if"),
                     ("linear", None)]
    lif = model.layers[0]
    assert lif.tau == 2.0 and lif.v_reset == 0.125 and lif.reset == "hard"
    assert all(r["max_abs_error"] < 1e-6 for r in report)  # lossless on these graphs
    rng = np.random.default_rng(1)
    u = np.stack([ref.encode_batch(model, rng.random((1, 8, 8)), 1, rng)[0] for _ in range(400)])
    want = simulate_nir(g, u, dt)
    got = ref.forward_batch(model, u)
    assert np.abs(got - want).max() < 1e-9
    rates = ref.firing_rates(model, u[:100])
    assert 0.05 < rates[0] < 0.9 and 0.05 < rates[3] < 0.9, rates
    # through a .nir file, the CLI and the runtime
    path = tmp_path / "g.nir"
    nir.write(str(path), g)
    from rsc.convert.__main__ import main
    out = tmp_path / "g.rscm"
    assert main(["nir", str(path), "--out", str(out), "--dt", str(dt), "--time-steps", "6",
                 "--coding", "gaussian", "--sigma", "0.2"]) == 0
    assert rf.read_model(out) == model
    m = rsc.load(out)
    rt = np.stack([m.forward(u[i]) for i in range(len(u))])
    close = np.all(np.abs(rt - want) <= 1e-4 * (1 + np.abs(want)), axis=1)
    assert close.mean() >= 0.99 and (rt.argmax(1) == want.argmax(1)).mean() >= 0.99


def test_dt_scales_time_constants():
    g = conv_graph(dt=0.25)
    m, _ = cn.convert_graph(g, dt=0.25, time_steps=2)
    assert m.layers[0].tau == 2.0 and m.coding == "direct" and m.sigma == 0
    m, _ = cn.convert_graph(g, dt=0.125, time_steps=2)
    assert m.layers[0].tau == 4.0
    with pytest.raises(ConversionError, match=r"node 'lif' \(LIF\): tau / dt"):
        cn.convert_graph(g, dt=1.0, time_steps=2)


def chain(*nodes):
    d = {"in": nir.Input(input_type=np.array([6]))}
    d.update({f"n{i}": n for i, n in enumerate(nodes)})
    d["out"] = nir.Output(output_type=np.array([3]))
    names = list(d)
    return nir.NIRGraph(nodes=d, edges=list(zip(names, names[1:])), type_check=False)


def lif(n=4, **kw):
    p = dict(tau=np.full(n, 2.0), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n))
    p.update(kw)
    return nir.LIF(**p)


def test_errors_name_the_node():
    rng = np.random.default_rng(0)
    a1 = nir.Affine(weight=rng.normal(size=(4, 6)), bias=np.zeros(4))
    a2 = nir.Affine(weight=rng.normal(size=(3, 4)), bias=np.zeros(3))
    ok, _ = cn.convert_graph(chain(a1, lif(), a2), dt=1, time_steps=2)
    assert ok.num_classes == 3
    cuba = nir.CubaLIF(tau_syn=np.full(4, 2.0), tau_mem=np.full(4, 2.0), r=np.ones(4),
                       v_leak=np.zeros(4), v_threshold=np.ones(4))
    with pytest.raises(ConversionError, match=r"node 'n1' has type CubaLIF"):
        cn.convert_graph(chain(a1, cuba, a2), dt=1, time_steps=2)
    with pytest.raises(ConversionError, match=r"node 'n1': tau varies"):
        cn.convert_graph(chain(a1, lif(tau=np.array([2.0, 2, 3, 2])), a2), dt=1, time_steps=2)
    with pytest.raises(ConversionError, match=r"node 'n1': v_threshold varies"):
        cn.convert_graph(chain(a1, lif(v_threshold=np.array([1.0, 2, 1, 1])), a2), dt=1,
                         time_steps=2)
    with pytest.raises(ConversionError, match="'n0' is not followed by a LIF or IF"):
        cn.convert_graph(chain(a1, a2), dt=1, time_steps=2)
    with pytest.raises(ConversionError, match="feeds a neuron"):
        cn.convert_graph(chain(a1, lif(), a2, lif(3)), dt=1, time_steps=2)
    with pytest.raises(ConversionError, match=r"node 'n0' \(LIF\) does not directly follow"):
        cn.convert_graph(chain(lif(6), a1, lif(), a2), dt=1, time_steps=2)
    with pytest.raises(ConversionError, match="needs sigma"):
        cn.convert_graph(chain(a1, lif(), a2), dt=1, time_steps=2, coding="gaussian")
    # branches, merges, cycles, subgraphs
    g = chain(a1, lif(), a2)
    g.edges.append(("n0", "out"))
    with pytest.raises(ConversionError, match=r"node 'n0' \(Affine\) feeds 2 nodes"):
        cn.convert_graph(g, dt=1, time_steps=2)
    g = chain(a1, lif(), a2)
    g.edges.append(("n2", "n1"))
    with pytest.raises(ConversionError, match="node 'n1' is on a cycle"):
        cn.convert_graph(g, dt=1, time_steps=2)
    sub = chain(a1, lif(), a2)
    g = chain(a1, lif(), a2)
    g.nodes["n1"] = sub
    with pytest.raises(ConversionError, match="node 'n1' is a subgraph"):
        cn.convert_graph(g, dt=1, time_steps=2)
    flat = nir.Flatten(input_type={"input": np.array([2, 3, 4])}, start_dim=1, end_dim=-1)
    g = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([2, 3, 4])), "f": flat,
                            "out": nir.Output(output_type=np.array([2, 12]))},
                     edges=[("in", "f"), ("f", "out")], type_check=False)
    with pytest.raises(ConversionError, match=r"node 'f' \(Flatten\)"):
        cn.convert_graph(g, dt=1, time_steps=2)


def test_pool_too_large_names_the_node_and_input_shape_override():
    rng = np.random.default_rng(0)
    nodes = {"in": nir.Input(input_type=np.array([1, 6, 6])),
             "conv": nir.Conv2d(input_shape=(6, 6), weight=rng.normal(size=(2, 1, 3, 3)),
                                stride=1, padding=0, dilation=1, groups=1, bias=np.zeros(2)),
             "lif": nir.LIF(
                 tau=np.full((2, 4, 4), 2.0), r=np.ones((2, 4, 4)), v_leak=np.zeros((2, 4, 4)),
                 v_threshold=np.ones((2, 4, 4))),
             "pool": nir.SumPool2d(kernel_size=np.array([8, 8]), stride=np.array([8, 8]),
                                   padding=np.array([0, 0])),
             "flat": nir.Flatten(input_type={"input": np.array([2, 1, 1])}, start_dim=0),
             "fc": nir.Affine(weight=rng.normal(size=(3, 2)), bias=np.zeros(3)),
             "out": nir.Output(output_type=np.array([3]))}
    names = list(nodes)
    g = nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), type_check=False)
    with pytest.raises(ConversionError, match=r"node 'pool' \(SumPool2d\): a 8x8 window"):
        cn.convert_graph(g, dt=1, time_steps=2)
    a = nir.Affine(weight=rng.normal(size=(3, 16)), bias=np.zeros(3))
    g = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([1, 4, 4])),
                            "f": nir.Flatten(input_type={"input": np.array([1, 4, 4])},
                                             start_dim=0),
                            "a": a, "out": nir.Output(output_type=np.array([3]))},
                     edges=[("in", "f"), ("f", "a"), ("a", "out")], type_check=False)
    m, _ = cn.convert_graph(g, dt=1, time_steps=2, input_shape=(4, 4))  # (H, W), as Input nodes
    assert m.input_shape == (1, 4, 4)
    with pytest.raises(ConversionError, match="input_shape"):
        cn.convert_graph(g, dt=1, time_steps=2, input_shape=(1, 2, 2, 4))


def test_cli_removes_a_file_the_runtime_refuses(tmp_path, capsys, librsc):
    """A valid file the integer kernel cannot run exactly (a threshold 1e30 times the currents:
    beyond 32-bit fixed point) fails the command, with the runtime's reason, and is removed."""
    from rsc.convert.__main__ import main
    rng = np.random.default_rng(0)
    g = chain(nir.Affine(weight=1e-6 * rng.normal(size=(4, 6)), bias=np.zeros(4)),
              lif(v_threshold=np.full(4, 1e30)),
              nir.Affine(weight=rng.normal(size=(3, 4)), bias=np.zeros(3)))
    path, out = tmp_path / "g.nir", tmp_path / "g.rscm"
    nir.write(str(path), g)
    assert main(["nir", str(path), "--out", str(out), "--dt", "1", "--time-steps", "2"]) == 1
    assert "runtime refuses" in capsys.readouterr().err and not out.exists()
    g = chain(nir.Affine(weight=rng.normal(size=(4, 6)), bias=np.zeros(4)), lif(),
              nir.Affine(weight=rng.normal(size=(3, 4)), bias=np.zeros(3)))
    nir.write(str(path), g)
    assert main(["nir", str(path), "--out", str(out), "--dt", "1", "--time-steps", "2",
                 "--input-shape", "6"]) == 0
    assert "loads in librsc" in capsys.readouterr().out and out.exists()


def test_cli_reports_errors(tmp_path, capsys):
    from rsc.convert.__main__ import main
    rng = np.random.default_rng(0)
    cuba = nir.CubaLIF(tau_syn=np.full(4, 2.0), tau_mem=np.full(4, 2.0), r=np.ones(4),
                       v_leak=np.zeros(4), v_threshold=np.ones(4))
    g = chain(nir.Affine(weight=rng.normal(size=(4, 6)), bias=np.zeros(4)), cuba,
              nir.Affine(weight=rng.normal(size=(3, 4)), bias=np.zeros(3)))
    path = tmp_path / "bad.nir"
    nir.write(str(path), g)
    assert main(["nir", str(path), "--out", str(tmp_path / "x.rscm"), "--dt", "1",
                 "--time-steps", "2"]) == 1
    assert "CubaLIF" in capsys.readouterr().err
