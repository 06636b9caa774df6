#!/usr/bin/env python3
"""Golden values for Sources/RSC/Statistics, computed with SciPy.

Regenerate (from the repository root; output goes to stdout):

    python3 scripts/gen_stats_golden.py > Tests/RSCTests/Fixtures/stats_golden.tsv

Output is deterministic (fixed grids, no randomness). Tab-separated, one case per line after a
header: function, arguments, expected. Floats are written with repr(), which round-trips the
double exactly. Functions and their references:

    norm_ppf    p               scipy.stats.norm.ppf
    norm_cdf    x               scipy.stats.norm.cdf
    logbeta     a b             scipy.special.betaln
    betainc     x a b           scipy.special.betainc
    betaincinv  p a b           scipy.special.betaincinv
    binom_cdf   k n p           scipy.stats.binom.cdf
    binomtest   k n p           scipy.stats.binomtest(k, n, p).pvalue (two-sided)
    cp_lower    k n alpha       0 if k == 0 else scipy.stats.beta.ppf(alpha, k, n - k + 1)
    cp_upper    k n alpha       1 if k == n else scipy.stats.beta.isf(alpha, k + 1, n - k)

cp_lower/cp_upper are the one-sided Clopper-Pearson bounds of Cohen et al. (2019), i.e.
statsmodels proportion_confint(k, n, alpha=2*alpha, method="beta"), which uses beta.ppf / beta.isf.
"""
import math
import sys

import numpy as np
import scipy
from scipy import special, stats

NS = [1, 2, 10, 100, 1000, 10000, 100000]
ALPHAS = [1e-3, 1e-2, 0.05, 1e-6]
BETA_PARAMS = [0.5, 1.0, 2.5, 10.0, 100.0, 1e4, 1e5]


def f(v):
    return repr(float(v))


def counts(n):
    """Extreme and interior success counts for n trials."""
    ks = {0, 1, n - 1, n, n // 2 - 1, n // 2, n // 2 + 1,
          int(0.9 * n), int(0.99 * n), int(0.999 * n)}
    return sorted(k for k in ks if 0 <= k <= n)


def betainc_points(a, b):
    """x at the mean, +-1 and +-4 standard deviations, and fixed points."""
    m = a / (a + b)
    sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    xs = {m, 1e-3, 0.5, 0.999}
    for z in (-4, -1, 1, 4):
        x = m + z * sd
        if 0 < x < 1:
            xs.add(x)
    return sorted(xs)


def main():
    out = sys.stdout
    out.write(f"# scipy {scipy.__version__} numpy {np.__version__}; "
              "regenerate: python3 scripts/gen_stats_golden.py > Tests/RSCTests/Fixtures/stats_golden.tsv\n")
    out.write("function\targs...\texpected\n")

    ps = [1e-310, 1e-300, 1e-100, 1e-20, 1e-10, math.exp(-25), 1e-5, 0.001, 0.02425, 0.075,
          0.1, 0.3, 0.4, 0.5, 0.6, 0.7, 0.9, 0.925, 0.975, 0.999, 1 - 1e-5, 1 - 1e-10]
    for p in ps:
        out.write(f"norm_ppf\t{f(p)}\t{f(stats.norm.ppf(p))}\n")

    for x in [-38.0, -37.0, -30.0, -20.0, -10.0, -8.0, -5.0, -3.0, -1.96, -1.0, -0.5, -0.1, 0.0,
              0.1, 0.5, 1.0, 1.96, 3.0, 5.0, 8.0, 10.0]:
        out.write(f"norm_cdf\t{f(x)}\t{f(stats.norm.cdf(x))}\n")

    for a in BETA_PARAMS:
        for b in BETA_PARAMS:
            out.write(f"logbeta\t{f(a)}\t{f(b)}\t{f(special.betaln(a, b))}\n")

    for a in BETA_PARAMS:
        for b in BETA_PARAMS:
            for x in betainc_points(a, b):
                out.write(f"betainc\t{f(x)}\t{f(a)}\t{f(b)}\t{f(special.betainc(a, b, x))}\n")

    for a in BETA_PARAMS:
        for b in BETA_PARAMS:
            for p in [1e-20, 1e-6, 1e-3, 0.05, 0.5, 0.95, 0.999, 1 - 1e-6]:
                out.write(f"betaincinv\t{f(p)}\t{f(a)}\t{f(b)}\t{f(special.betaincinv(a, b, p))}\n")

    for n in NS:
        for k in counts(n):
            for p in [0.5, 0.01, 0.3, 0.9]:
                out.write(f"binom_cdf\t{k}\t{n}\t{f(p)}\t{f(stats.binom.cdf(k, n, p))}\n")

    for n in NS:
        for k in counts(n):
            for p in [0.5, 0.3, 0.9]:
                out.write(f"binomtest\t{k}\t{n}\t{f(p)}\t{f(stats.binomtest(k, n, p).pvalue)}\n")

    for n in NS:
        for k in counts(n):
            for alpha in ALPHAS:
                lo = 0.0 if k == 0 else stats.beta.ppf(alpha, k, n - k + 1)
                hi = 1.0 if k == n else stats.beta.isf(alpha, k + 1, n - k)
                out.write(f"cp_lower\t{k}\t{n}\t{f(alpha)}\t{f(lo)}\n")
                out.write(f"cp_upper\t{k}\t{n}\t{f(alpha)}\t{f(hi)}\n")


if __name__ == "__main__":
    main()
