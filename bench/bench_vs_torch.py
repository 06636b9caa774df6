"""rsc against the same network in PyTorch (float32, CPU), certifying the same images.

    python3 bench/bench_vs_torch.py [MODEL.rscm] [--images N] [--n 100000] [--threads 1 2]

The PyTorch twin is built from the .rscm itself (dequantized int8 weights, the exact forward of
docs/format.md, v1 chains and v2 graphs: LIF / IF, resets, pools, residual adds, SEW connect
functions, T-averaged logits) and certifies with Cohen et al.'s CERTIFY under
torch.inference_mode, torch.set_num_threads equal to rsc's thread count. By default it is written
as a PyTorch user writes it for speed: multi-step, node by node (each layer on all T steps of a
batch at once, the neuron looping over T), with the batch size swept (--batches) and the fastest
used; `--twin stepwise` is the older form (one step at a time, batches of 1000, v1 only). Both run in this process
on the same images; the script prints noise passes per second, the ratio rsc / PyTorch, time per
certified image, and whether both certify the same class on every image (their noise differs, so
borderline images may legitimately differ; the count is reported). Needs torch (extra `torch`).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bindings" / "python"))
os.environ.setdefault("RSC_LIBRARY", str(REPO / ".build" / "release" / "librsc.so"))

import rsc  # noqa: E402
from rsc import format as rf  # noqa: E402


def torch_twin(spec: rf.Model):
    import torch
    import torch.nn.functional as F

    layers = []
    for L in spec.layers:
        w = b = None
        if L.weight is not None:
            w = torch.tensor(L.weight.astype(np.float32) * L.scale.reshape((-1,) + (1,) * (L.weight.ndim - 1)))
            b = torch.tensor(L.bias.astype(np.float32))
        layers.append((L, w, b))

    def forward(u: "torch.Tensor") -> "torch.Tensor":
        """u: (B, T, C, H, W) -> mean logits (B, K)."""
        B, T = u.shape[:2]
        v = {}
        out = 0
        for t in range(T):
            a = u[:, t]
            for i, (L, w, b) in enumerate(layers):
                if L.kind == "conv2d":
                    a = F.conv2d(a, w, b, stride=L.stride, padding=L.padding)
                elif L.kind == "linear":
                    a = F.linear(a, w, b)
                elif L.kind in ("avgpool2d", "sumpool2d"):
                    a = F.avg_pool2d(a, L.kernel, L.stride, L.padding, count_include_pad=True)
                    if L.kind == "sumpool2d":
                        a = a * (L.kernel[0] * L.kernel[1])
                    continue
                else:  # flatten
                    a = a.flatten(1)
                    continue
                if L.neuron is None:
                    out = out + a
                    continue
                vi = v.get(i, torch.full_like(a, L.v_reset))
                h = vi + (a - (vi - L.v_reset)) / L.tau if L.neuron == "lif" else vi + a
                s = (h >= L.v_threshold).to(a.dtype)
                v[i] = h - s * L.v_threshold if L.reset == "soft" else torch.where(s > 0, torch.full_like(h, L.v_reset), h)
                a = s
        return out / T

    return forward


def torch_multistep_twin(spec: rf.Model, onnx: bool = False):
    """The network the way a PyTorch user writes it for speed: multi-step, node by node (each
    conv/linear/pool on all T steps of the batch in one call, as (T*B, C, H, W); the neuron loops
    over T elementwise), for v1 chains (through rsc.graph.to_graph) and v2 graphs alike.
    onnx=True: the same network written for export to ONNX (bench_vs_ort.py): the steps split in
    one op and the spikes concatenated (not indexed and assigned in place, which exports as
    Gather / ScatterND copies of the whole tensor per step), the input current scaled by 1 / tau
    once for all steps, and the reset as arithmetic (Where costs more in ONNX Runtime)."""
    import torch
    import torch.nn.functional as F

    g = rf.to_graph(spec)
    params = []
    for n in g.nodes:
        if n.weighted:
            w = n.weight.astype(np.float32) * n.scale.reshape((-1,) + (1,) * (n.weight.ndim - 1))
            params.append((torch.tensor(w), torch.tensor(n.bias.astype(np.float32))))
        else:
            params.append((None, None))

    def forward(u: "torch.Tensor") -> "torch.Tensor":
        """u: (B, T, C, H, W) -> mean logits (B, K)."""
        B, T = u.shape[:2]
        out = [u.transpose(0, 1).reshape((T * B,) + tuple(u.shape[2:]))]  # (T*B, ...), step-major
        for n, (w, b) in zip(g.nodes, params):
            a = out[n.inputs[0]]
            if n.kind == "conv2d":
                y = F.conv2d(a, w, b, stride=n.stride, padding=n.padding)
            elif n.kind == "linear":
                y = F.linear(a.flatten(1), w, b)[:, :, None, None]
            elif n.kind == "avgpool2d":
                y = F.avg_pool2d(a, n.kernel, n.stride, n.padding, count_include_pad=True)
            elif n.kind == "sumpool2d":
                y = F.avg_pool2d(a, n.kernel, n.stride, n.padding, count_include_pad=True) * (n.kernel[0] * n.kernel[1])
            elif n.kind == "maxpool2d":
                y = F.max_pool2d(a, n.kernel, n.stride, n.padding)
            elif n.kind == "global_avgpool":
                y = a.mean(dim=(2, 3), keepdim=True)
            elif n.kind == "flatten":
                y = a.reshape(a.shape[0], -1, 1, 1)
            elif n.kind == "add":
                y = a + out[n.inputs[1]]
            elif n.kind == "and":
                y = a * out[n.inputs[1]]
            elif n.kind == "iand":
                y = a * (1 - out[n.inputs[1]])
            elif onnx:  # lif / if for export: fewer, cheaper ONNX nodes per step
                cur = a.reshape((T, B) + tuple(a.shape[1:]))
                lif = n.kind == "lif"
                if lif and n.decay_input:
                    cur = cur / n.tau  # h = v (1 - 1/tau) + (x + v_reset) / tau
                    k, c = 1 - 1 / n.tau, n.v_reset / n.tau
                elif lif:
                    k, c = 1 - 1 / n.tau, n.v_reset / n.tau  # h = v (1 - 1/tau) + v_reset / tau + x
                else:
                    k, c = 1.0, 0.0
                v, spikes = None, []
                for t, x_t in enumerate(cur.unbind(0)):
                    if v is None:  # v starts at v_reset
                        h = x_t + (n.v_reset * k + c) if (n.v_reset * k + c) != 0 else x_t
                    else:
                        h = (v * k if k != 1 else v) + x_t
                        if c != 0:
                            h = h + c
                    s = (h >= n.v_threshold).to(h.dtype)
                    if t < T - 1:
                        if n.reset == "soft":
                            v = h - s * n.v_threshold
                        elif n.v_reset == 0:
                            v = h - h * s
                        else:
                            v = h + s * (n.v_reset - h)
                    spikes.append(s)
                y = torch.stack(spikes).reshape(a.shape)
            else:  # lif / if: the loop over T, elementwise
                cur = a.reshape((T, B) + tuple(a.shape[1:]))
                v = torch.full_like(cur[0], n.v_reset)
                spikes = torch.empty_like(cur)
                for t in range(T):
                    if n.kind == "if":
                        h = v + cur[t]
                    elif n.decay_input:
                        h = v + (cur[t] - (v - n.v_reset)) / n.tau
                    else:
                        h = v - (v - n.v_reset) / n.tau + cur[t]
                    s = (h >= n.v_threshold).to(h.dtype)
                    v = h - s * n.v_threshold if n.reset == "soft" else torch.where(s > 0, n.v_reset, h)
                    spikes[t] = s
                y = spikes.reshape(a.shape)
            out.append(y)
        return out[-1].reshape(T, B, -1).mean(0)

    return forward


def torch_certify(forward, spec: rf.Model, x: np.ndarray, n0: int, n: int, alpha: float, gen,
                  batch: int = 1000) -> tuple[int, float]:
    import torch

    T, sigma = spec.time_steps, spec.sigma
    xt = torch.tensor(x.reshape(spec.input_shape), dtype=torch.float32)

    def counts(num: int) -> np.ndarray:
        c = np.zeros(spec.num_classes, np.int64)
        done = 0
        while done < num:
            bs = min(batch, num - done)
            shape = (bs, T) + tuple(spec.input_shape)
            if spec.coding == "gaussian":
                noise = torch.randn(shape, generator=gen)
            else:
                noise = torch.randn((bs, 1) + tuple(spec.input_shape), generator=gen).expand(shape)
            c += np.bincount(forward(xt + sigma * noise).argmax(1).numpy(), minlength=spec.num_classes)
            done += bs
        return c

    with torch.inference_mode():
        return cohen_certify(counts, spec, n0, n, alpha)


def cohen_certify(counts, spec: rf.Model, n0: int, n: int, alpha: float) -> tuple[int, float]:
    """Cohen et al.'s CERTIFY from a baseline's vote counter counts(m) (class counts of m noise
    passes): n0 passes select cA, n fresh ones bound pA (Clopper-Pearson); (-1, 0) abstains."""
    from scipy.stats import beta, norm
    ca = int(counts(n0).argmax())
    na = int(counts(n)[ca])
    pa = beta.ppf(alpha, na, n - na + 1) if na > 0 else 0.0
    sigma_eff = spec.sigma / np.sqrt(spec.time_steps) if spec.coding == "gaussian" else spec.sigma
    return (ca, sigma_eff * norm.ppf(pa)) if pa >= 0.5 else (-1, 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", default=str(REPO / "models" / "demo" / "fmnist_demo.rscm"))
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--n0", type=int, default=100)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--data", default=str(REPO / "models" / "demo" / "test_images.npy"))
    ap.add_argument("--twin", choices=["stepwise", "multistep"], default="multistep",
                    help="PyTorch form: one time step at a time, or multi-step node by node (default)")
    ap.add_argument("--batches", type=int, nargs="+", default=[32, 64, 128, 256, 512],
                    help="PyTorch batch sizes swept on image 0 (the fastest is used; stepwise: 1000)")
    args = ap.parse_args()
    import torch

    spec = rf.read_model(args.model)
    model = rsc.load(args.model)
    forward = torch_twin(spec) if args.twin == "stepwise" else torch_multistep_twin(spec)
    xs = np.load(args.data)[: args.images].reshape(args.images, -1).astype(np.float32)
    # The twin must be the same network: compare with the float64 reference on noisy inputs.
    from rsc import reference
    u = reference.encode_batch(spec, xs[0], 16, np.random.default_rng(0))
    with torch.inference_mode():
        twin = forward(torch.tensor(u, dtype=torch.float32)).numpy()
    want = reference.forward_batch(spec, u)
    agree = (twin.argmax(1) == want.argmax(1)).mean()
    print(f"PyTorch twin vs reference on 16 noisy passes: argmax agreement {agree:.2f}, "
          f"max |dlogit| {np.abs(twin - want).max():.2e}")
    passes = args.images * (args.n0 + args.n)
    print(f"model {args.model}: {spec.num_classes} classes, T={spec.time_steps}, sigma={spec.sigma}, coding {spec.coding}")
    print(f"CERTIFY n0={args.n0} n={args.n} alpha=0.001 on {args.images} images; rsc {rsc.version()}, torch {torch.__version__}")
    print(f"{'threads':>7s} {'rsc passes/s':>13s} {'torch passes/s':>15s} {'ratio':>7s} {'rsc s/img':>10s} {'torch s/img':>12s} {'same class':>10s}")
    for th in args.threads:
        torch.set_num_threads(th)
        batch = 1000
        if args.twin == "multistep":
            speed = {}
            for bs in args.batches:  # passes per second of each batch size, on image 0
                gen = torch.Generator().manual_seed(1)
                t0 = time.perf_counter()
                torch_certify(forward, spec, xs[0], 0 * args.n0 + 1, 8 * bs, 0.001, gen, batch=bs)
                speed[bs] = 8 * bs / (time.perf_counter() - t0)
            batch = max(speed, key=speed.get)
            print(f"threads {th}: PyTorch passes/s by batch " + ", ".join(f"{b}: {v:.0f}" for b, v in speed.items())
                  + f" -> batch {batch}")
        t0 = time.perf_counter()
        ours = [model.certify(x, n0=args.n0, n=args.n, seed=0, stream=i, threads=th) for i, x in enumerate(xs)]
        t_rsc = time.perf_counter() - t0
        gen = torch.Generator().manual_seed(0)
        t0 = time.perf_counter()
        theirs = [torch_certify(forward, spec, x, args.n0, args.n, 0.001, gen, batch=batch) for x in xs]
        t_torch = time.perf_counter() - t0
        same = sum(o.label == t[0] for o, t in zip(ours, theirs))
        print(f"{th:7d} {passes / t_rsc:13.0f} {passes / t_torch:15.0f} {t_torch / t_rsc:7.1f} "
              f"{t_rsc / args.images:10.2f} {t_torch / args.images:12.2f} {same:>6d}/{args.images}")


if __name__ == "__main__":
    main()
