"""Speed-up of rsc.distributed with K local Dask workers, against one worker and one process.

    python3 bench/bench_distributed.py                    # 20 demo images, n = 10000, 3 rounds
    python3 bench/bench_distributed.py --n 100000 --rounds 1

Configurations (each certifies the same images with the same seed; every result is checked equal
to the single-process run):
  process, T threads     Model.certify_batch in this process, rsc on T threads
  K workers x T threads  certify_dataset on a LocalCluster of K worker processes (one Dask thread
                         each), rsc on T threads per chunk

Wall times exclude starting the cluster (reported apart) but include sending the model and the
images, scheduling and writing the TSV. The configurations run in turn, round after round, so that
other load on the machine falls on all of them alike; the table gives each one's best and median.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bindings" / "python"))

import rsc  # noqa: E402
from rsc import distributed as rd  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(REPO / "models/demo/fmnist_demo.rscm"))
    p.add_argument("--images", default=str(REPO / "models/demo/test_images.npy"))
    p.add_argument("--labels", default=str(REPO / "models/demo/test_labels.npy"))
    p.add_argument("--n0", type=int, default=100)
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--alpha", type=float, default=0.001)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk-size", type=int, default=1)
    p.add_argument("--workers", type=int, default=2, help="K for the K-worker cluster (default 2)")
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()

    from distributed import Client, LocalCluster
    logging.getLogger("distributed").setLevel(logging.ERROR)

    load_start = os.getloadavg()[0]
    xs, ys = np.load(a.images), np.load(a.labels)
    cpus = len(os.sched_getaffinity(0))
    params = dict(n0=a.n0, n=a.n, alpha=a.alpha, seed=a.seed)
    model = rsc.load(a.model)
    reference = model.certify_batch(xs, ys, progress=False, threads=0, **params)

    clusters = {}
    for k in sorted({1, a.workers}):
        t0 = time.perf_counter()
        c = LocalCluster(n_workers=k, threads_per_worker=1, processes=True, dashboard_address=":0",
                         silence_logs=40)
        client = Client(c)
        started = time.perf_counter() - t0
        # Load the model on every worker before timing (done once per worker in any real run).
        rd.certify_dataset(a.model, xs[:k], client=client, chunk_size=1, n0=1, n=1, progress=False)
        clusters[k] = (c, client, started)

    configs = [(f"process, {cpus} threads", None, cpus), ("process, 1 thread", None, 1),
               (f"1 worker x {cpus} threads", 1, cpus), ("1 worker x 1 thread", 1, 1)]
    if a.workers != 1:
        configs += [(f"{a.workers} workers x 1 thread", a.workers, 1)]
        if cpus >= 2 * a.workers:
            configs += [(f"{a.workers} workers x {cpus // a.workers} threads", a.workers, cpus // a.workers)]
    times = {name: [] for name, _, _ in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(a.rounds):
            for name, k, threads in configs:
                t0 = time.perf_counter()
                if k is None:
                    got = model.certify_batch(xs, ys, progress=False, threads=threads, **params)
                else:
                    got = rd.certify_dataset(a.model, xs, ys, client=clusters[k][1],
                                             chunk_size=a.chunk_size, threads=threads,
                                             tsv=Path(tmp) / "out.tsv", resume=False,
                                             progress=False, **params)
                times[name].append(time.perf_counter() - t0)
                assert got == reference, f"{name}: results differ from the single-process run"
    for c, client, _ in clusters.values():
        client.close()
        c.close()

    print(f"# python3 bench/bench_distributed.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"# {len(xs)} images, n0 = {a.n0}, n = {a.n}, chunk size {a.chunk_size}, {cpus} CPUs, "
          f"{a.rounds} rounds; load average {load_start:.2f} before, {os.getloadavg()[0]:.2f} "
          f"after; all results identical to the single-process run")
    print("# cluster start: " + ", ".join(f"{k} worker(s) {v[2]:.1f} s" for k, v in clusters.items()))
    base = statistics.median(times["1 worker x 1 thread"])
    print("| configuration | best (s) | median (s) | s/image (median) | speed-up vs 1 worker x 1 thread (median) |")
    print("|---|---|---|---|---|")
    for name, _, _ in configs:
        t = times[name]
        med = statistics.median(t)
        print(f"| {name} | {min(t):.2f} | {med:.2f} | {med / len(xs):.3f} | {base / med:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
