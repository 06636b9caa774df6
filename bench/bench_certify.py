"""Noise passes per second of rsc_certify on conv SNNs, at 1 and 2 threads.

    python3 bench/bench_certify.py [--n 20000] [--repeats 3]

Models: the shipped demo model if present, and a random conv SNN of the size named in issue 6
(conv 16 and 32 channels, fc 128, 10 classes, 28x28 input, T = 4) with neurons calibrated to
fire on ~25% of steps. Prints the median over repeats and the 2-thread / 1-thread ratio, measured
in the same run. Not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's idle BLAS threads would spin on our cores
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bindings" / "python"))
os.environ.setdefault("RSC_LIBRARY", str(REPO / ".build" / "release" / "librsc.so"))

import rsc  # noqa: E402
from rsc.results import cpu_name  # noqa: E402
from rsc import format as rf, models  # noqa: E402


def bench(model: rsc.Model, x: np.ndarray, n: int, threads: int, repeats: int) -> float:
    rates = []
    for r in range(repeats):
        t0 = time.perf_counter()
        model.certify(x, n0=100, n=n, seed=r, threads=threads)
        rates.append((100 + n) / (time.perf_counter() - t0))
    return float(np.median(rates))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    cases = []
    demo = REPO / "models" / "demo" / "fmnist_demo.rscm"
    if demo.exists():
        images = np.load(REPO / "models" / "demo" / "test_images.npy")
        cases.append(("demo model (models/demo)", rsc.load(demo), images[0]))
    path = Path(tempfile.mkdtemp()) / "conv16-32.rscm"
    spec = models.random_conv_snn(seed=0, input_shape=(1, 28, 28), channels=(16, 32), hidden=128,
                                  time_steps=4, coding="gaussian", sigma=0.25)
    rf.write_model(spec, path)
    x = np.random.default_rng(0).random(28 * 28).astype(np.float32)
    cases.append(("random conv SNN 16/32/128, 28x28, T=4", rsc.load(path), x))

    print(f"rsc {rsc.version()}, CPU: {cpu_name()}, {os.cpu_count()} hardware threads")
    print(f"certify n0=100 n={args.n}, median of {args.repeats}")
    print(f"{'model':42s} {'1 thread':>12s} {'2 threads':>12s} {'2t/1t':>6s} {'s/image @1e5 (2t)':>18s}")
    for name, model, xi in cases:
        one = bench(model, xi, args.n, 1, args.repeats)
        two = bench(model, xi, args.n, 2, args.repeats)
        print(f"{name:42s} {one:10.0f}/s {two:10.0f}/s {two / one:6.2f} {100100 / two:18.2f}")


if __name__ == "__main__":
    main()
