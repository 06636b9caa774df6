"""Batch calls against single calls: CERTIFY (n0 = 100) on the first N images of the shipped test
set, A/B alternated (the machine is shared), median of the repetitions, checking that both give
identical certificates. Usage: python3 bench/batch_bench.py [REPS] (bench/RESULTS.md, section 5)."""
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bindings" / "python"))
import rsc  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
model = rsc.load(ROOT / "models" / "fmnist_sigma025.rscm")
images = np.load(ROOT / "models" / "data" / "fmnist_test_1000_images.npy")
rows = np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.float32)
print(f"rsc {rsc.version()}, CERTIFY n0=100 alpha=0.001 seed 0, {model.info.name}")
print("    n  images threads   singles s    batch s  speed-up  same")
for n, count in [(100, 200), (1000, 50)]:
    xs = rows[:count]
    for threads in (1, 2):
        single, batch, same = [], [], True
        for _ in range(reps):
            t0 = time.perf_counter()
            a = [model.certify(x, n0=100, n=n, stream=i, threads=threads) for i, x in enumerate(xs)]
            single.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            b = model._batch("certify", xs, 0, n0=100, n=n, alpha=0.001, seed=0, threads=threads)
            batch.append(time.perf_counter() - t0)
            same &= a == b
        s, b = statistics.median(single), statistics.median(batch)
        print(f"{n:5d} {count:7d} {threads:7d} {s:11.2f} {b:10.2f} {s / b:8.2f}x  {same}", flush=True)
