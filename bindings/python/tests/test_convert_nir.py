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


# ---------------------------------------------------------------------------------------------
# Fan-in: NIR's sum of the edges into a node -> version 2 add nodes
# ---------------------------------------------------------------------------------------------

def simulate_nir_dag(graph, u, dt):
    """A plain NIR interpreter for DAGs: each node's input is the sum of its predecessors'
    outputs at the same step (NIR's fan-in), nodes in a topological order of their own."""
    preds = {n: [a for a, b in graph.edges if b == n] for n in graph.nodes}
    order, done = [], set()
    while len(order) < len(graph.nodes):
        for n in graph.nodes:
            if n not in done and all(p in done for p in preds[n]):
                order.append(n)
                done.add(n)
    state, total = {}, 0
    for t in range(u.shape[1]):
        out = {}
        for name in order:
            n = graph.nodes[name]
            kind = type(n).__name__
            if kind == "Input":
                out[name] = u[:, t]
                continue
            a = sum(out[p] for p in preds[name])
            if kind == "Affine":
                a = a.reshape(a.shape[0], -1) @ np.asarray(n.weight, float).T + np.asarray(n.bias, float)
            elif kind == "Conv2d":
                a = ref.conv2d_ref(a, np.asarray(n.weight, float), np.asarray(n.bias, float),
                                   tuple(np.broadcast_to(n.stride, 2)), tuple(np.broadcast_to(n.padding, 2)))
            elif kind == "SumPool2d":
                a = ref.pool2d_ref(a, tuple(int(v) for v in np.broadcast_to(n.kernel_size, 2)),
                                   tuple(int(v) for v in np.broadcast_to(n.stride, 2)), (0, 0),
                                   average=False)
            elif kind == "Flatten":
                a = a.reshape(a.shape[0], -1)
            elif kind in ("LIF", "IF"):
                v = state.get(name, np.broadcast_to(np.asarray(n.v_reset, float), a.shape).copy())
                if kind == "LIF":
                    v = v + dt / np.asarray(n.tau, float) * (np.asarray(n.v_leak, float) - v
                                                             + np.asarray(n.r, float) * a)
                else:
                    v = v + dt * np.asarray(n.r, float) * a
                z = v >= np.asarray(n.v_threshold, float)
                state[name] = np.where(z, np.asarray(n.v_reset, float), v)
                a = z.astype(float)
            out[name] = a
            if kind == "Output":
                total = total + a.reshape(a.shape[0], -1)
    return total / u.shape[1]


def residual_graph(dt=0.5):
    """in -> c1 -> l1 (LIF); l1 -> c2 -> l2 <- l1 (a current plus spikes: r = tau / dt, so the
    spikes' gain dt r / tau is 1); l2 -> c3 -> i3 (IF) <- c4 <- l1 (two currents, a 1x1 conv
    branch, any r); pool <- l2, i3 (spike counts); flatten -> fc -> out."""
    rng = np.random.default_rng(5)
    c, full = 4, (4, 6, 6)
    tau = 2.0 * dt

    def lif_node(r, leak=0.0, v_reset=0.0, thr=1.0, tau=tau):
        return nir.LIF(tau=np.full(full, tau), r=np.full(full, r), v_leak=np.full(full, leak),
                       v_threshold=np.full(full, thr), v_reset=np.full(full, v_reset))

    def conv(cin, k, amax):
        return nir.Conv2d(input_shape=(6, 6), weight=grid(rng, (c, cin, k, k), amax), stride=1,
                          padding=k // 2, dilation=1, groups=1, bias=rng.uniform(-0.2, 0.6, c))
    nodes = {
        "in": nir.Input(input_type=np.array([1, 6, 6])),
        "c1": conv(1, 3, 2.0), "l1": lif_node(1.5, leak=0.25, v_reset=0.125),
        "c2": conv(c, 3, 0.8), "l2": lif_node(tau / dt, thr=1.25),
        "c3": conv(c, 3, 0.8), "c4": conv(c, 1, 0.5),
        "i3": nir.IF(r=np.full(full, 0.5 / dt), v_threshold=np.full(full, 1.0),
                     v_reset=np.zeros(full)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                              padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([c, 3, 3])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=grid(rng, (5, c * 9), 0.5), bias=rng.uniform(-0.3, 0.3, 5)),
        "out": nir.Output(output_type=np.array([5])),
    }
    edges = [("in", "c1"), ("c1", "l1"), ("l1", "c2"), ("c2", "l2"), ("l1", "l2"),
             ("l2", "c3"), ("c3", "i3"), ("l1", "c4"), ("c4", "i3"), ("l2", "pool"),
             ("i3", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def test_fan_in_becomes_add_and_matches_nir_simulation(librsc, tmp_path):
    import rsc
    dt = 0.5
    g = residual_graph(dt)
    model, report = cn.convert_graph(g, dt=dt, time_steps=5, coding="gaussian", sigma=0.2)
    assert model.layers is None
    kinds = [n.kind for n in model.nodes]
    assert kinds.count("add") == 3 and kinds[-1] == "linear", kinds
    l2 = [n for n in model.nodes if n.kind == "lif"][1]
    assert not l2.decay_input and l2.tau == 2.0 and l2.v_threshold == 1.25
    assert all(r["max_abs_error"] < 1e-6 for r in report)
    rng = np.random.default_rng(2)
    u = np.stack([ref.encode_batch(model, rng.random((1, 6, 6)), 1, rng)[0] for _ in range(300)])
    want = simulate_nir_dag(g, u, dt)
    got = ref.forward_batch(model, u)
    assert np.abs(got - want).max() < 1e-7  # biases (b r + v_leak - v_reset) stored as float32
    rates = ref.firing_rates(model, u[:100])
    assert all(0.03 < r < 0.95 for r in rates if r is not None), rates
    # Without the spikes of l1 in l2's sum the network differs (the test can see it).
    g2 = residual_graph(dt)
    g2.edges.remove(("l1", "l2"))
    m2, _ = cn.convert_graph(g2, dt=dt, time_steps=5)
    assert np.abs(ref.forward_batch(m2, u) - want).max() > 0.05
    # A .nir file round trip and the runtime.
    path = tmp_path / "res.nir"
    nir.write(str(path), g)
    m_file, _ = cn.convert_graph(path, dt=dt, time_steps=5, coding="gaussian", sigma=0.2)
    assert m_file == model
    out = tmp_path / "res.rscm"
    rf.write_model(model, out)
    rt = np.stack([rsc.load(out).forward(ui) for ui in u])
    close = np.all(np.abs(rt - want) <= 1e-4 * (1 + np.abs(want)), axis=1)
    assert close.mean() >= 0.99 and (rt.argmax(1) == want.argmax(1)).mean() >= 0.99


def test_fan_in_errors():
    dt = 0.5
    g = residual_graph(dt)
    g.nodes["l2"].r[:] = 3.0  # spikes join with gain dt r / tau = 1.5 (and r = 3 with decay)
    with pytest.raises(ConversionError, match=r"node 'l2' \(LIF\) sums spikes from node 'l1'"):
        cn.convert_graph(g, dt=dt, time_steps=2)
    g = residual_graph(dt)
    g.edges.append(("c4", "pool"))
    with pytest.raises(ConversionError, match=r"node 'c4' \(Conv2d\) feeds 2 nodes"):
        cn.convert_graph(g, dt=dt, time_steps=2)
    g = residual_graph(dt)
    g.edges = [e for e in g.edges if e != ("c4", "i3")] + [("c4", "pool")]
    with pytest.raises(ConversionError, match=r"node 'c4' \(Conv2d\) feeds node 'pool'"):
        cn.convert_graph(g, dt=dt, time_steps=2)
    g = residual_graph(dt)
    g.edges.append(("in", "pool"))
    with pytest.raises(ConversionError, match="shapes|model input"):
        cn.convert_graph(g, dt=dt, time_steps=2)
    g = residual_graph(dt)
    g.edges.append(("flat", "out"))
    with pytest.raises(ConversionError, match="the Output node 'out' has 2 inputs"):
        cn.convert_graph(g, dt=dt, time_steps=2)
    g = residual_graph(dt)
    g.edges.append(("i3", "c2"))
    with pytest.raises(ConversionError, match="is on a cycle"):
        cn.convert_graph(g, dt=dt, time_steps=2)
    g = residual_graph(dt)
    g.edges = [e for e in g.edges if e not in (("c2", "l2"),)] + [("c2", "i3")]
    with pytest.raises(ConversionError, match=r"node 'l2' \(LIF\) reads no Affine"):
        cn.convert_graph(g, dt=dt, time_steps=2)


def without_v_reset(g):
    """The graph as nir <= 1.0.4 has it: IF / LIF nodes without a v_reset field."""
    for n in g.nodes.values():
        if type(n).__name__ in ("IF", "LIF"):
            del n.v_reset
    return g


def if_chain():
    rng = np.random.default_rng(0)
    return chain(nir.Affine(weight=grid(rng, (4, 6)), bias=np.full(4, 0.2)),
                 nir.IF(r=np.ones(4), v_threshold=np.ones(4), v_reset=np.zeros(4)),
                 nir.Affine(weight=grid(rng, (3, 4)), bias=np.zeros(3)))


def test_unstated_reset_and_spikes(tmp_path):
    """nir <= 1.0.4 graphs (Sinabs'; the real one: test_convert_nir_sinabs.py) have no
    v_reset: refused unless reset= and spike= are given; spike='multi' always refused."""
    g = without_v_reset(if_chain())
    for kw in ({}, dict(reset="subtract"), dict(spike="single")):
        with pytest.raises(ConversionError, match=r"node 'n1' \(IF\) has no v_reset.*MultiSpike"):
            cn.convert_graph(g, dt=1, time_steps=2, **kw)
    with pytest.raises(ConversionError, match="spike='multi'.*at most one spike"):
        cn.convert_graph(if_chain(), dt=1, time_steps=2, spike="multi", reset="subtract")
    with pytest.raises(ConversionError, match="reset must be one of"):
        cn.convert_graph(if_chain(), dt=1, time_steps=2, reset="zero")
    m, _ = cn.convert_graph(g, dt=1, time_steps=2, reset="subtract", spike="single")
    assert m.layers[0].neuron == "if" and m.layers[0].reset == "soft" and m.layers[0].v_reset == 0
    m, _ = cn.convert_graph(g, dt=1, time_steps=2, reset="hard", spike="single")
    assert m.layers[0].reset == "hard"
    # the default (a graph with v_reset) is unchanged; reset='subtract' applies to it too
    m, _ = cn.convert_graph(if_chain(), dt=1, time_steps=2)
    assert m.layers[0].reset == "hard"
    assert cn.convert_graph(if_chain(), dt=1, time_steps=2, reset="subtract")[0].layers[0].reset \
        == "soft"
    gl = without_v_reset(chain(nir.Affine(weight=np.ones((4, 6)), bias=np.zeros(4)), lif(),
                               nir.Affine(weight=np.ones((3, 4)), bias=np.zeros(3))))
    with pytest.raises(ConversionError, match=r"node 'n1' \(LIF\) has no v_reset.*exp"):
        cn.convert_graph(gl, dt=1, time_steps=2, reset="subtract", spike="single")
    # a file without v_reset (as nir 1.0.4 writes it): nir 1.0.8 fills in 0 when reading
    import h5py
    path = tmp_path / "old.nir"
    nir.write(str(path), if_chain())
    with h5py.File(path, "r+") as f:
        del f["node"]["nodes"]["n1"]["v_reset"]
    assert np.all(nir.read(str(path)).nodes["n1"].v_reset == 0)
    with pytest.raises(ConversionError, match="has no v_reset"):
        cn.convert_graph(path, dt=1, time_steps=2)
    assert cn.convert_graph(path, dt=1, time_steps=2, reset="subtract",
                            spike="single")[0].layers[0].reset == "soft"
    # a field the installed nir's class lacks is a ConversionError, not an AttributeError
    g = if_chain()
    del g.nodes["n0"].bias
    with pytest.raises(ConversionError, match=r"node 'n0' \(Affine\) has no field 'bias'"):
        cn.convert_graph(g, dt=1, time_steps=2)


def test_cli_reset_and_spike_options(tmp_path, capsys):
    """--reset / --spike reach convert_graph: the file equals the Python conversion with the same
    options, and --spike multi is refused with the converter's message."""
    from rsc.convert.__main__ import main
    dt = 0.5
    g = conv_graph(dt)
    path = tmp_path / "g.nir"
    nir.write(str(path), g)
    out = tmp_path / "g.rscm"
    assert main(["nir", str(path), "--out", str(out), "--dt", str(dt), "--time-steps", "3",
                 "--reset", "subtract", "--spike", "single"]) == 0
    want, _ = cn.convert_graph(g, dt=dt, time_steps=3, reset="subtract", spike="single")
    got = rf.read_model(out)
    assert got == want and got.layers[0].reset == "soft"
    assert main(["nir", str(path), "--out", str(tmp_path / "m.rscm"), "--dt", str(dt),
                 "--time-steps", "3", "--spike", "multi"]) == 1
    assert "multi" in capsys.readouterr().err.lower()
    assert not (tmp_path / "m.rscm").exists()
