"""Audit the per-image results in docs/results/ against a change of the noise generator.

rsc 0.3.0 refined the radius uniform of its Box-Muller noise below 2^-16 (docs/kernel.md,
"Noise"): the new generator equals the old 24-bit one except on the Box-Muller pairs whose radius
word is below 2^16, about 2% of the passes of a Fashion-MNIST model. So a result computed with the
old generator is the result of the new one unless one of those passes votes differently. This
finds those passes from the Philox words alone, runs each through rsc's base classifier
(`rsc_forward`) with the old and the new noise, and reports every vote that changes; with
`--write` it also rewrites pa_lower and radius of the CERTIFY rows with the bound the library now
returns (the Clopper-Pearson bound minus the noise's missing tail mass, `noise_tail_mass`).

    python3 scripts/noise_audit.py [--models models/*.rscm] [--write]

Sequential rows are not audited (their looks are not recorded): regenerate them with
`python3 -m rsc.results --sequential`.
"""
from __future__ import annotations

import argparse
import csv
import ctypes
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import beta, norm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bindings" / "python"))
import rsc  # noqa: E402

PHASE_PREDICT, PHASE_SELECT, PHASE_ESTIMATE = 0, 1, 2


def build_helper(tmp: Path) -> ctypes.CDLL:
    so = tmp / "noise_audit.so"
    subprocess.run(["clang", "-O2", "-shared", "-fPIC", "-ffp-contract=off", "-fno-math-errno", "-Wno-psabi",
                    f"-I{REPO}/Sources/CRSCKernel/include", f"-I{REPO}/Sources/CRSCKernel",
                    "-o", str(so), str(REPO / "scripts" / "noise_audit.c")], check=True)
    lib = ctypes.CDLL(str(so))
    u32p, f32p = ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_float)
    lib.audit_changed_passes.argtypes = [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_uint32,
                                         ctypes.c_uint32, ctypes.c_uint32, ctypes.c_size_t, u32p, ctypes.c_size_t]
    lib.audit_changed_passes.restype = ctypes.c_size_t
    lib.audit_inputs.argtypes = [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_uint32, f32p,
                                 ctypes.c_size_t, ctypes.c_uint32, ctypes.c_int, ctypes.c_float, ctypes.c_int,
                                 f32p, f32p]
    return lib


class Auditor:
    def __init__(self, lib, model: rsc.Model, seed: int):
        self.lib, self.model, self.seed = lib, model, seed
        i = model.info
        self.d, self.T = i.input_len, i.time_steps
        self.shared = i.coding == "gaussian-shared"
        self.steps = 1 if self.shared else self.T
        self.noise = np.zeros(self.d, np.float32)
        self.buf = np.zeros(self.T * self.d, np.float32)
        self.passes = self.changed = self.logits_changed = 0

    def _vote(self, x, stream, phase, p, refine) -> tuple[int, np.ndarray]:
        f32p = ctypes.POINTER(ctypes.c_float)
        self.lib.audit_inputs(self.seed, stream, phase, p, x.ctypes.data_as(f32p), self.d, self.T, int(self.shared),
                              float(self.model.info.sigma), refine, self.noise.ctypes.data_as(f32p),
                              self.buf.ctypes.data_as(f32p))
        logits = self.model.forward(self.buf)
        return int(np.argmax(logits)), logits

    def vote_changes(self, x, stream: int, phase: int, count: int) -> list[tuple[int, int, int]]:
        """(pass, old vote, new vote) for every pass of [0, count) whose vote differs."""
        out = np.zeros(count, np.uint32)
        m = self.lib.audit_changed_passes(self.seed, stream, phase, 0, count, self.steps, self.d,
                                          out.ctypes.data_as(ctypes.POINTER(ctypes.c_uint32)), count)
        self.passes += count
        self.changed += m
        diffs = []
        for p in out[:m]:
            old, lo = self._vote(x, stream, phase, int(p), 0)
            new, ln = self._vote(x, stream, phase, int(p), 1)
            if not np.array_equal(lo, ln):
                self.logits_changed += 1
                top2 = np.sort(ln)[-2:]
                # float logits: a vote is only certain where the top two differ beyond rounding
                assert top2[1] - top2[0] > 1e-5 * max(1.0, abs(top2[1])) or old != new or \
                    np.sort(lo)[-1] - np.sort(lo)[-2] > 1e-5, f"pass {p}: top two logits within rounding"
            if old != new:
                diffs.append((int(p), old, new))
        return diffs


def adjusted_bound(count: int, n: int, alpha: float, tail: float) -> float:
    lower = 0.0 if count == 0 else float(beta.ppf(alpha, count, n - count + 1))
    if lower <= 0:
        return lower
    return max(0.0, min(np.nextafter(lower - tail, 0.0), np.nextafter(1.0, 0.0)))


def audit_table(path: Path, kind: str, aud: Auditor, images, args, tail: float, sigma_eff: float) -> list[str]:
    with path.open() as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
        fields = list(rows[0].keys()) if rows else []
    problems, rewritten = [], 0
    for row in rows:
        i = int(row["idx"])
        x = np.ascontiguousarray(images[i], dtype=np.float32).reshape(-1)
        if kind == "predict":
            for p, old, new in aud.vote_changes(x, i, PHASE_PREDICT, int(row["n"])):
                problems.append(f"{path.name} image {i}: predict pass {p} votes {new}, was {old}")
        else:
            n = int(row["n"])
            for phase, count in ((PHASE_SELECT, args.n0), (PHASE_ESTIMATE, n)):
                for p, old, new in aud.vote_changes(x, i, phase, count):
                    problems.append(f"{path.name} image {i}: phase {phase} pass {p} votes {new}, was {old}")
            pa = adjusted_bound(int(row["count"]), n, args.alpha, tail)
            radius = sigma_eff * norm.ppf(pa) if pa >= 0.5 else 0.0
            new_pa, new_r = f"{pa:.6f}", f"{radius:.4f}"
            if (new_pa, new_r) != (row["pa_lower"], row["radius"]):
                rewritten += 1
                row["pa_lower"], row["radius"] = new_pa, new_r
    if kind == "certify" and rewritten and args.write:
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, delimiter="\t", lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
    if kind == "certify":
        print(f"  {path.name}: {len(rows)} rows, pa_lower/radius printed differently with the tail subtracted: "
              f"{rewritten}{' (rewritten)' if rewritten and args.write else ''}")
    return problems


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=sorted(str(m) for m in (REPO / "models").glob("fmnist_*sigma*.rscm")))
    p.add_argument("--results", default=str(REPO / "docs" / "results"))
    p.add_argument("--images", default=str(REPO / "models" / "data" / "fmnist_test_1000_images.npy"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n0", type=int, default=100)
    p.add_argument("--alpha", type=float, default=0.001)
    p.add_argument("--write", action="store_true", help="rewrite pa_lower / radius of CERTIFY rows")
    args = p.parse_args(argv)
    images = np.load(args.images).astype(np.float32)
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        lib = build_helper(Path(tmp))
        for mpath in args.models:
            model = rsc.load(mpath)
            stem = Path(mpath).stem
            aud = Auditor(lib, model, args.seed)
            t0 = time.time()
            print(f"{stem}: noise tail mass {model.info.noise_tail_mass:.3e} per pass")
            for kind in ("predict", "certify"):
                for tsv in sorted(Path(args.results).glob(f"{stem}_{kind}_n*.tsv")):
                    problems += audit_table(tsv, kind, aud, images, args, model.info.noise_tail_mass,
                                            model.info.sigma_eff)
            print(f"  passes {aud.passes:,}, with changed noise {aud.changed:,} ({aud.changed / max(1, aud.passes):.2%}), "
                  f"changed logits {aud.logits_changed:,}, changed votes "
                  f"{sum(stem in q for q in problems):,} ({time.time() - t0:.0f} s)")
    for q in problems:
        print("CHANGED", q)
    print("no vote changes: the TSVs are the new generator's results" if not problems else
          f"{len(problems)} votes changed: rerun those images")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
