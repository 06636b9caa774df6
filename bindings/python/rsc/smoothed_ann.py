"""Cohen et al.'s randomized smoothing of an ANN, certified in PyTorch with rsc's statistics.

The baseline of the comparison "RSC-SNN against the randomized-smoothing ANN": the ANN of
`rsc.train --ann --sigma S` (the SNNs' conv architecture with ReLU, trained on x + S * eps) is
the base classifier f, and the smoothed classifier g(x) = argmax_c P(f(x + S * eps) = c) is
certified with CERTIFY (Cohen, Rosenfeld and Kolter 2019), using the same statistics as rsc's
`Model.certify` (Sources/RSC/Smoothing/Smoothing.swift, Statistics/Binomial.swift):

* n0 selection passes: cA = the most voted class, the lowest index on ties;
* n fresh estimation passes: nA = the votes for cA; pA_lower = the one-sided (1 - alpha)
  Clopper-Pearson lower bound (0 when nA = 0, else the alpha-quantile of Beta(nA, n - nA + 1),
  = statsmodels' proportion_confint(nA, n, alpha=2*alpha, method="beta")[0], as in Cohen et al.);
* abstain when pA_lower < 1/2, else radius = sigma * PhiInv(pA_lower). One draw of noise per
  pass, so the radius scale is sigma (rsc's gaussian SNNs, with T draws per pass, certify with
  sigma / sqrt(T)).

Two differences from rsc, both on the ANN's side: the noise is torch's `randn` (taken as exact
Gaussian noise, so no tail-mass correction of pA_lower, which rsc applies to its own sampler), and
the forward pass is PyTorch float32. The Clopper-Pearson bound is computed here without scipy
(regularized incomplete beta by its continued fraction, inverted by bisection; the tests check it
against scipy.stats.beta.ppf).

    python3 -m rsc.smoothed_ann models/fmnist_ann_sigma025.pt --count 100 --n 1000
    python3 -m rsc.smoothed_ann models/fmnist_ann_sigma025.pt --count 500 \
        --out ../../docs/results/fmnist_ann_sigma025_certify_n100000.tsv   # resumable

With `--out` the rows are appended to that TSV (rsc.results' columns, so `rsc.results` and
`rsc.eval` read it) and a rerun continues after the last image written; without it they go to
standard output.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = ["betainc", "clopper_pearson_lower", "certify_from_counts", "vote_counts", "certify",
           "certify_batch", "AnnCertificate"]


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (modified Lentz; Numerical Recipes' betacf)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            return h
    raise ArithmeticError(f"incomplete beta: no convergence for a={a}, b={b}, x={x}")


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), a, b > 0, x in [0, 1]."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x)
          + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(ln) * _betacf(a, b, x) / a
    return 1.0 - math.exp(ln) * _betacf(b, a, 1.0 - x) / b


def clopper_pearson_lower(successes: int, trials: int, alpha: float) -> float:
    """One-sided (1 - alpha) Clopper-Pearson lower bound on a binomial proportion: 0 when
    successes == 0, else the alpha-quantile of Beta(k, n - k + 1) (rsc's
    Statistics.clopperPearsonLower), by bisection of I_x(k, n - k + 1) = alpha to the last bit."""
    k, n = int(successes), int(trials)
    if not (0 <= k <= n and 0 < alpha < 1):
        raise ValueError(f"need 0 <= successes <= trials and 0 < alpha < 1, got {k}, {n}, {alpha}")
    if k == 0:
        return 0.0
    a, b = float(k), float(n - k + 1)
    if k == n:  # I_x(n, 1) = x^n: closed form
        return alpha ** (1.0 / n)
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if betainc(a, b, mid) < alpha:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True)
class AnnCertificate:
    """As rsc's Certificate: label -1 (abstain) when pa_lower < 1/2; counts0 / counts are the
    votes per class of the selection and estimation passes."""
    label: int
    selected: int
    count_selected: int
    n: int
    pa_lower: float
    radius: float
    counts0: np.ndarray
    counts: np.ndarray

    @property
    def abstained(self) -> bool:
        return self.label < 0


def certify_from_counts(counts0, counts, sigma: float, alpha: float) -> AnnCertificate:
    """CERTIFY's decision from the vote counts of the n0 selection and n estimation passes."""
    counts0 = np.asarray(counts0, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64)
    selected = int(np.argmax(counts0))  # the lowest index on ties, as rsc
    n, na = int(counts.sum()), int(counts[selected])
    pa = clopper_pearson_lower(na, n, alpha)
    if pa < 0.5:
        return AnnCertificate(-1, selected, na, n, pa, 0.0, counts0, counts)
    return AnnCertificate(selected, selected, na, n, pa, sigma * NormalDist().inv_cdf(pa),
                          counts0, counts)


def vote_counts(net, x, sigma: float, num: int, generator, batch: int = 250) -> np.ndarray:
    """Votes per class of `num` passes of net on x + sigma * eps (x (C, H, W) in [0, 1], one
    fresh draw of eps per pass, no clipping), in batches of `batch`, eps from `generator`."""
    import torch
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    out = None
    done = 0
    with torch.no_grad():
        while done < num:
            bs = min(batch, num - done)
            eps = torch.randn((bs,) + tuple(xt.shape), generator=generator)
            logits = net(xt.unsqueeze(0) + sigma * eps)
            if out is None:
                out = np.zeros(logits.shape[1], np.int64)
            out += np.bincount(logits.argmax(1).numpy(), minlength=len(out))
            done += bs
    return out


def _generator(seed: int, index: int):
    """The torch generator of image `index`: its own stream, whatever the order or subset."""
    import torch
    s = int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint64)[0])
    return torch.Generator().manual_seed(s & (2 ** 63 - 1))


def certify(net, x, sigma: float, n0: int = 100, n: int = 100000, alpha: float = 0.001,
            seed: int = 0, batch: int = 250, index: int = 0) -> AnnCertificate:
    """Cohen et al.'s CERTIFY of the smoothed `net` at x (C, H, W): n0 selection passes, n
    estimation passes (fresh noise), radius sigma * PhiInv(pA_lower) or abstain. The noise of
    image `index` comes from its own seeded torch.Generator (seed, index). The net should be in
    eval mode (`rsc.train.load_checkpoint` returns it so)."""
    if not (n0 >= 1 and n >= 1 and 0 < alpha < 1 and sigma > 0):
        raise ValueError(f"need n0 >= 1, n >= 1, 0 < alpha < 1, sigma > 0; got {n0}, {n}, "
                         f"{alpha}, {sigma}")
    g = _generator(seed, index)
    counts0 = vote_counts(net, x, sigma, n0, g, batch)
    counts = vote_counts(net, x, sigma, n, g, batch)
    return certify_from_counts(counts0, counts, sigma, alpha)


def certify_batch(net, x, sigma: float, n0: int = 100, n: int = 100000, alpha: float = 0.001,
                  seed: int = 0, batch: int = 250) -> list[AnnCertificate]:
    """certify of every image of x (N, C, H, W), image i with stream (seed, i)."""
    return [certify(net, xi, sigma, n0, n, alpha, seed, batch, index=i) for i, xi in enumerate(x)]


def _resume(path: str, cols: list[str], args) -> int:
    """How many images the TSV at `path` already has (0 if it does not exist). A partly written
    last line (an interrupted run) is cut off; a file of other columns or another n is refused
    rather than appended to."""
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        text = f.read()
    lines = text.split("\n")
    if lines[0].split("\t") != cols:
        raise SystemExit(f"rsc.smoothed_ann: {path} has other columns than {cols}: not appending")
    rows = [ln.split("\t") for ln in lines[1:] if ln]
    if not text.endswith("\n") or (rows and len(rows[-1]) != len(cols)):
        rows = rows[:-1]  # the interrupted last line
        with open(path, "w") as f:
            f.write("\n".join(["\t".join(cols)] + ["\t".join(r) for r in rows]) + "\n")
    for k, r in enumerate(rows):
        if int(r[0]) != k or int(r[cols.index("n")]) != args.n:
            raise SystemExit(f"rsc.smoothed_ann: {path} line {k + 2} is not image {k} at "
                             f"n = {args.n}: not appending")
    return len(rows)


def main(argv=None) -> int:
    from .train import load_checkpoint
    p = argparse.ArgumentParser(prog="python3 -m rsc.smoothed_ann",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="an rsc.train --ann checkpoint")
    p.add_argument("--sigma", type=float, default=None,
                   help="smoothing noise (default: the sigma the ANN was trained with)")
    from .results import DEFAULT_IMAGES, DEFAULT_LABELS
    p.add_argument("--images", default=str(DEFAULT_IMAGES), help="(N, C, H, W) .npy images")
    p.add_argument("--labels", default=str(DEFAULT_LABELS), help="(N,) .npy labels")
    p.add_argument("--count", type=int, default=100, help="the first N images")
    p.add_argument("--n0", type=int, default=100)
    p.add_argument("--n", type=int, default=100000)
    p.add_argument("--alpha", type=float, default=0.001)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=250,
                   help="noisy passes per torch forward (250: half the CPU time of 1000 on the "
                        "conv ANN, whose 1000-image activations no longer fit in cache)")
    p.add_argument("--compile", action="store_true",
                   help="run the forward through torch.compile (about 40 s to compile, then "
                        "about 1.5-2x fewer CPU seconds per pass on the conv ANN; a different "
                        "float32 evaluation order, so rows can differ from those without it)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="",
                   help="append the rows to this TSV, continuing after the images it has "
                        "(default: standard output)")
    args = p.parse_args(argv)
    import torch
    from .model import radius_text
    torch.set_num_threads(args.threads)
    sigma = args.sigma
    if sigma is None:
        sigma = float(torch.load(args.checkpoint, map_location="cpu",
                                 weights_only=True).get("train", {}).get("sigma") or 0.0)
    if not sigma > 0:
        p.error("--sigma is needed (the checkpoint records no training noise)")
    net = load_checkpoint(args.checkpoint)
    if args.compile:
        net = torch.compile(net)
    x = np.load(args.images)[:args.count]
    y = np.load(args.labels)[:args.count]
    from .results import CERT_COLS as cols  # the columns of rsc.results' CERTIFY TSVs
    done = _resume(args.out, cols, args) if args.out else 0
    out = open(args.out, "a") if args.out else sys.stdout
    try:
        if done == 0:
            print("\t".join(cols), file=out, flush=True)
        for i in range(done, len(x)):
            t0 = time.perf_counter()
            c = certify(net, x[i], sigma, args.n0, args.n, args.alpha, args.seed, args.batch,
                        index=i)
            # radius rounded down, as every rsc TSV: never above the certified radius
            row = dict(idx=i, label=int(y[i]), predict=c.label, radius=radius_text(c.radius),
                       correct=int(c.label == y[i]), time=f"{time.perf_counter() - t0:.3f}",
                       pa_lower=f"{c.pa_lower:.6f}", count=c.count_selected, n=c.n)
            print("\t".join(str(row[k]) for k in cols), file=out, flush=True)
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
