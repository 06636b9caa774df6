"""rsc against the same network in ONNX Runtime (CPU provider; float32 and int8), certifying the same images.

    python3 bench/bench_vs_ort.py [MODEL.rscm] [--images N] [--n 100000] [--threads 1 2] [--reps 3]

The network is bench_vs_torch.py's multi-step PyTorch twin (imported, not copied: built from the
.rscm itself, v1 chains and v2 graphs), exported with torch.onnx.export (TorchScript exporter,
opset 17) with the T steps unrolled; the exported graph takes the clean image x (1, C, H, W) and
the standard-normal noise eps (B, T, C, H, W) ((B, 1, C, H, W) for constant coding) and computes
x + sigma * eps itself. It runs on the CPU execution provider with intra-op threads = rsc's thread
count, inter-op threads 1, sequential execution and every graph optimization (ORT_ENABLE_ALL).
The int8 forms come from onnxruntime.quantization (weights per channel, activations calibrated on
noisy images that are not timed nor checked): static QDQ on every conv / fc node, static QDQ with
the first conv (on the noisy analog input) left float as rsc does, the same with the conv / fc
outputs left float (ORT then runs the convs in float after DequantizeLinear: reported, not counted
as int8), and dynamic quantization of the convs. Each is checked for argmax agreement with the
float twin on noisy inputs; the fastest form that runs its convs (all but possibly the first) as
integer kernels and agrees on >= 99% of them (--min-agree) is the "ORT int8" column.

Noise is generated as an ORT user must: numpy's Generator(PCG64).standard_normal(dtype=float32)
into a preallocated buffer, inside the timed loop. CERTIFY is Cohen et al.'s (n0 selection
passes, n estimation passes, Clopper-Pearson at alpha = 0.001), the batch size of each engine
swept on image 0 (--batches) and the fastest used. Engines are timed in rounds (--reps), the
order rotating each round, on the same images; the table gives the median passes per second of
the rounds and the ratios rsc / engine. The PyTorch twin itself is timed too (--no-torch skips
it), as bench_vs_torch.py times it.

Checks printed first: the exported float model against the PyTorch twin (max |dlogit|, argmax
agreement) and against rsc_forward (rsc.Model.forward, argmax agreement), and each int8 form
against the float twin and rsc, on --check-images x --check-draws noisy inputs. --profile prints
where ORT spends a pass (its profiler, by operator type, one thread). Needs onnxruntime, onnx
and torch (extras `bench` and `torch`).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.stats  # noqa: E402,F401  (imported before any timing: CERTIFY's bounds use it)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_vs_torch as bt  # noqa: E402  (sets RSC_LIBRARY and the binding's path)
import rsc  # noqa: E402
from rsc import format as rf  # noqa: E402

REPO = bt.REPO


def noise_shape(spec: rf.Model, bs: int) -> tuple:
    return (bs, spec.time_steps if spec.coding == "gaussian" else 1) + tuple(spec.input_shape)


def export_onnx(spec: rf.Model, path: str) -> None:
    """The multi-step twin, T unrolled, taking (x, eps) and computing x + sigma * eps in the graph."""
    import torch

    twin = bt.torch_multistep_twin(spec, onnx=True)
    T, sigma = spec.time_steps, float(spec.sigma)

    class Net(torch.nn.Module):
        def forward(self, x, eps):
            u = x.unsqueeze(1) + sigma * eps
            if u.shape[1] != T:
                u = u.expand((-1, T) + tuple(u.shape[2:]))
            return twin(u)

    x = torch.zeros((1,) + tuple(spec.input_shape))
    eps = torch.zeros(noise_shape(spec, 8))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Net(), (x, eps), path, dynamo=False, opset_version=17,
                          input_names=["x", "eps"], output_names=["logits"],
                          dynamic_axes={"eps": {0: "B"}, "logits": {0: "B"}})


def session(path: str, threads: int, profile: str | None = None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if profile:
        so.enable_profiling = True
        so.profile_file_prefix = profile
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def optimized_ops(path: str) -> dict[str, int]:
    """Operator counts of the graph ORT actually runs (after its fusions, e.g. DQ-Conv-Q -> QLinearConv)."""
    import onnx
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.optimized_model_filepath = path + ".opt.onnx"
    so.log_severity_level = 3
    ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    ops: dict[str, int] = {}
    for n in onnx.load(path + ".opt.onnx").graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    return ops


def calibration_reader(spec: rf.Model, xs: np.ndarray, draws: int, bs: int = 32):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            rng = np.random.Generator(np.random.PCG64(12345))
            self.items = []
            for x in xs:
                for k in range(0, draws, bs):
                    eps = rng.standard_normal(noise_shape(spec, min(bs, draws - k)), dtype=np.float32)
                    self.items.append({"x": x.reshape((1,) + tuple(spec.input_shape)), "eps": eps})
            self.it = iter(self.items)

        def get_next(self):
            return next(self.it, None)

        def rewind(self):
            self.it = iter(self.items)

    return Reader()


def quantized_variants(spec: rf.Model, fp32: str, workdir: str, calib_xs: np.ndarray) -> dict[str, str]:
    """int8 forms of the exported model: name -> path (a form that fails to build is reported and skipped)."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = os.path.join(workdir, "pre.onnx")
    quant_pre_process(fp32, pre, skip_symbolic_shape=True)
    m = onnx.load(pre)
    convs = [n.name for n in m.graph.node if n.op_type == "Conv"]
    out = {}
    static = dict(quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                  weight_type=QuantType.QInt8, op_types_to_quantize=["Conv", "Gemm", "MatMul"])
    forms = [
        ("static QDQ per-channel, all conv/fc", lambda p: quantize_static(
            pre, p, calibration_reader(spec, calib_xs, 64), **static)),
        ("static QDQ per-channel, first conv float", lambda p: quantize_static(
            pre, p, calibration_reader(spec, calib_xs, 64), nodes_to_exclude=convs[:1], **static)),
        ("static QDQ per-channel, first conv float, float outputs", lambda p: quantize_static(
            pre, p, calibration_reader(spec, calib_xs, 64), nodes_to_exclude=convs[:1],
            extra_options={"OpTypesToExcludeOutputQuantization": ["Conv", "Gemm", "MatMul"]}, **static)),
        ("dynamic per-channel, convs", lambda p: quantize_dynamic(
            pre, p, per_channel=True, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv", "MatMul"])),
    ]
    for i, (name, make) in enumerate(forms):
        p = os.path.join(workdir, f"int8_{i}.onnx")
        try:
            make(p)
            ops = optimized_ops(p)
            # int8 compute: ORT runs the convs (all, or all but the first) as integer kernels;
            # a QDQ form whose Conv keeps float after ORT's fusions is only fake-quantized
            integer = ops.get("QLinearConv", 0) + ops.get("ConvInteger", 0)
            is_int8 = integer > 0 and ops.get("Conv", 0) <= 1
            print(f"int8 form '{name}': ORT runs " + ", ".join(
                f"{k} x{ops[k]}" for k in ("Conv", "QLinearConv", "ConvInteger", "Gemm", "QGemm",
                                           "DynamicQuantizeMatMul", "MatMulIntegerToFloat") if k in ops)
                  + ("" if is_int8 else " -> convs in float: not counted as int8"))
            if is_int8:
                out[name] = p
        except Exception as e:  # noqa: BLE001 - reported, the others still run
            print(f"int8 form '{name}' failed: {type(e).__name__}: {str(e)[:200]}")
    return out


def ort_certify(sess, spec: rf.Model, x: np.ndarray, n0: int, n: int, alpha: float, rng,
                batch: int, buf: np.ndarray) -> tuple[int, float]:
    xi = np.ascontiguousarray(x.reshape((1,) + tuple(spec.input_shape)), dtype=np.float32)

    def counts(num: int) -> np.ndarray:
        c = np.zeros(spec.num_classes, np.int64)
        done = 0
        while done < num:
            bs = min(batch, num - done)
            eps = buf[:bs]
            rng.standard_normal(out=eps, dtype=np.float32)
            logits = sess.run(None, {"x": xi, "eps": eps})[0]
            c += np.bincount(logits.argmax(1), minlength=spec.num_classes)
            done += bs
        return c

    return bt.cohen_certify(counts, spec, n0, n, alpha)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", default=str(REPO / "models" / "fmnist_sigma025.rscm"))
    ap.add_argument("--data", default=str(REPO / "models" / "data" / "fmnist_test_1000_images.npy"))
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--n0", type=int, default=100)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=3, help="timed rounds per thread count (median reported)")
    ap.add_argument("--batches", type=int, nargs="+", default=[16, 32, 64, 128, 256, 512],
                    help="batch sizes swept on image 0 for ORT and PyTorch (the fastest is used)")
    ap.add_argument("--check-images", type=int, default=16)
    ap.add_argument("--check-draws", type=int, default=32)
    ap.add_argument("--min-agree", type=float, default=0.99,
                    help="an int8 form must agree with the float twin's argmax on this share of noisy inputs")
    ap.add_argument("--no-torch", action="store_true", help="time rsc and ORT only")
    ap.add_argument("--profile", action="store_true", help="print ORT's time by operator type (one thread)")
    args = ap.parse_args()
    import onnxruntime as ort
    import torch

    spec = rf.read_model(args.model)
    model = rsc.load(args.model)
    data = np.load(args.data).astype(np.float32)
    d = int(np.prod(spec.input_shape))
    xs = data[: args.images].reshape(args.images, -1)
    workdir = tempfile.mkdtemp(prefix="rsc_ort_")
    fp32 = os.path.join(workdir, "fp32.onnx")
    export_onnx(spec, fp32)
    calib = data[500:532].reshape(-1, d)  # calibration images: neither timed nor checked
    int8 = quantized_variants(spec, fp32, workdir, calib)
    print(f"model {args.model}: {spec.num_classes} classes, T={spec.time_steps}, sigma={spec.sigma}, "
          f"coding {spec.coding}; rsc {rsc.version()}, torch {torch.__version__}, onnxruntime {ort.__version__}")

    # Checks: the same noisy inputs through the torch twin, ORT float, every int8 form and rsc_forward.
    rng = np.random.Generator(np.random.PCG64(7))
    cx = data[: args.check_images].reshape(args.check_images, -1)
    X = np.repeat(cx, args.check_draws, 0).reshape((-1, 1) + tuple(spec.input_shape))
    E = rng.standard_normal(noise_shape(spec, len(X)), dtype=np.float32)
    U = X + np.float32(spec.sigma) * E  # (N, T or 1, C, H, W) as the graph computes it
    if U.shape[1] != spec.time_steps:
        U = np.broadcast_to(U, (len(U), spec.time_steps) + U.shape[2:])
    twin = bt.torch_multistep_twin(spec)
    with torch.inference_mode():
        ref = twin(torch.tensor(np.ascontiguousarray(U))).numpy()
    ours = np.stack([model.forward(u) for u in U])

    def run_all(path: str) -> np.ndarray:  # one batch per image (its check_draws noise draws)
        s = session(path, 2)
        k = args.check_draws
        return np.concatenate([s.run(None, {"x": X[j:j + 1, 0], "eps": E[j:j + k]})[0] for j in range(0, len(X), k)])

    fl = run_all(fp32)
    N = len(X)
    print(f"checks on {N} noisy inputs ({args.check_images} images x {args.check_draws} draws):")
    print(f"  torch twin vs rsc_forward: argmax agreement {(ref.argmax(1) == ours.argmax(1)).mean():.4f}, "
          f"max |dlogit| {np.abs(ref - ours).max():.2e}")
    print(f"  ORT float vs torch twin:   argmax agreement {(fl.argmax(1) == ref.argmax(1)).mean():.4f}, "
          f"max |dlogit| {np.abs(fl - ref).max():.2e}")
    print(f"  ORT float vs rsc_forward:  argmax agreement {(fl.argmax(1) == ours.argmax(1)).mean():.4f}, "
          f"max |dlogit| {np.abs(fl - ours).max():.2e}")
    agree = {}
    for name, p in int8.items():
        q = run_all(p)
        agree[name] = (q.argmax(1) == fl.argmax(1)).mean()
        print(f"  ORT int8 [{name}]: vs float twin {agree[name]:.4f}, vs rsc_forward "
              f"{(q.argmax(1) == ours.argmax(1)).mean():.4f}, max |dlogit| vs float {np.abs(q - fl).max():.2e}")
    ok = {k: v for k, v in int8.items() if agree[k] >= args.min_agree}

    def sweep(run_batch, label: str) -> int:
        speed = {}
        for bs in args.batches:
            run_batch(bs, 1)  # warm-up (allocations, ORT's first-run planning)
            reps = max(2, 2048 // bs)
            t0 = time.perf_counter()
            run_batch(bs, reps)
            speed[bs] = reps * bs / (time.perf_counter() - t0)
        best = max(speed, key=speed.get)
        print(f"  {label}: passes/s by batch " + ", ".join(f"{b}: {v:.0f}" for b, v in speed.items()) + f" -> {best}")
        return best

    if args.profile:
        for name, p in [("float", fp32)] + [(k, v) for k, v in ok.items()]:
            s = session(p, 1, profile=os.path.join(workdir, "prof"))
            buf = np.empty(noise_shape(spec, 128), np.float32)
            g = np.random.Generator(np.random.PCG64(0))
            for _ in range(10):
                g.standard_normal(out=buf, dtype=np.float32)
                s.run(None, {"x": xs[0].reshape((1,) + tuple(spec.input_shape)), "eps": buf})
            prof = json.load(open(s.end_profiling()))
            by = {}
            for e in prof:
                if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                    op = e["args"].get("op_name", "?")
                    by[op] = by.get(op, 0) + e["dur"]
            tot = sum(by.values())
            print(f"ORT profile [{name}], 1 thread, batch 128, 10 runs: {tot / 10 / 128:.1f} us per pass in kernels; "
                  + ", ".join(f"{k} {v / tot:.0%}" for k, v in sorted(by.items(), key=lambda kv: -kv[1])[:8]))

    passes = args.images * (args.n0 + args.n)
    print(f"CERTIFY n0={args.n0} n={args.n} alpha=0.001 on {args.images} images, {args.reps} rounds; "
          f"median noise passes per second (noise generation included)")
    int8_name = None
    rows = []
    for th in args.threads:
        torch.set_num_threads(th)
        print(f"threads {th}:")
        engines = {}
        fsess = session(fp32, th)
        isess = {k: session(p, th) for k, p in ok.items()}

        def ort_runner(s):
            def run_batch(bs, reps):
                buf = np.empty(noise_shape(spec, bs), np.float32)
                g = np.random.Generator(np.random.PCG64(1))
                xi = xs[0].reshape((1,) + tuple(spec.input_shape))
                for _ in range(reps):
                    g.standard_normal(out=buf, dtype=np.float32)
                    s.run(None, {"x": xi, "eps": buf})
            return run_batch

        def torch_runner(bs, reps):
            with torch.inference_mode():
                gen = torch.Generator().manual_seed(1)
                xt = torch.tensor(xs[0].reshape(spec.input_shape))
                for _ in range(reps):
                    twin(xt + spec.sigma * torch.randn(noise_shape(spec, bs), generator=gen)
                         .expand((bs, spec.time_steps) + tuple(spec.input_shape)))

        fb = sweep(ort_runner(fsess), "ORT float")
        ib = {k: sweep(ort_runner(s), f"ORT int8 [{k}]") for k, s in isess.items()}
        if isess:  # the fastest int8 form that keeps the agreement, at this thread count
            per = {}
            for k, s in isess.items():
                ort_runner(s)(ib[k], 1)
                t0 = time.perf_counter()
                ort_runner(s)(ib[k], max(2, 4096 // ib[k]))
                per[k] = time.perf_counter() - t0
            int8_name = min(per, key=per.get)
            print(f"  int8 form timed: {int8_name}")

        def ort_engine(s, bs):
            def go():
                res = []
                for i, x in enumerate(xs):
                    buf = np.empty(noise_shape(spec, bs), np.float32)
                    res.append(ort_certify(s, spec, x, args.n0, args.n, 0.001,
                                           np.random.Generator(np.random.PCG64(i)), bs, buf))
                return res
            return go

        engines["rsc"] = lambda: [model.certify(x, n0=args.n0, n=args.n, seed=0, stream=i, threads=th)
                                  for i, x in enumerate(xs)]
        if not args.no_torch:
            tb = sweep(torch_runner, "PyTorch")
            engines["torch"] = lambda: [bt.torch_certify(twin, spec, x, args.n0, args.n, 0.001,
                                                         torch.Generator().manual_seed(i), batch=tb)
                                        for i, x in enumerate(xs)]
        engines["ORT float"] = ort_engine(fsess, fb)
        if int8_name:
            engines["ORT int8"] = ort_engine(isess[int8_name], ib[int8_name])
        names = list(engines)
        speed = {k: [] for k in names}
        labels = {}
        for r in range(args.reps):
            order = names[r % len(names):] + names[: r % len(names)]
            for k in order:
                t0 = time.perf_counter()
                res = engines[k]()
                speed[k].append(passes / (time.perf_counter() - t0))
                labels[k] = [o.label if hasattr(o, "label") else o[0] for o in res]
            print(f"  round {r + 1} ({', '.join(order)}): " + ", ".join(f"{k} {speed[k][-1]:.0f}" for k in names))
        med = {k: statistics.median(v) for k, v in speed.items()}
        same = {k: sum(a == b for a, b in zip(labels["rsc"], labels[k])) for k in names}
        rows.append((th, med, same))
    names = list(rows[0][1])
    print()
    print("| threads | " + " | ".join(f"{k} passes/s" for k in names) + " | "
          + " | ".join(f"rsc / {k}" for k in names[1:]) + " | same class as rsc |")
    print("|---:|" + "---:|" * (2 * len(names) - 1) + "---|")
    for th, med, same in rows:
        print(f"| {th} | " + " | ".join(f"{med[k]:.0f}" for k in names) + " | "
              + " | ".join(f"{med['rsc'] / med[k]:.2f}x" for k in names[1:]) + " | "
              + ", ".join(f"{k} {same[k]}/{args.images}" for k in names[1:]) + " |")
    if int8_name:
        print(f"ORT int8 = {int8_name} (argmax agreement with the float twin {agree[int8_name]:.4f})")


if __name__ == "__main__":
    main()
