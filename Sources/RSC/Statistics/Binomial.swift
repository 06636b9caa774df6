#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Binomial tails, the exact two-sided binomial test, and Clopper-Pearson bounds, all through the
// incomplete beta function so that n = 1e5 costs one continued fraction, not a sum of 1e5 terms.

extension Statistics {
    /// P(X <= k) for X ~ Binomial(n, p).
    public static func binomialCDF(_ k: Int, n: Int, p: Double) -> Double {
        guard n >= 0, n <= maxTrials, p >= 0, p <= 1 else { return .nan }
        return binomialTails(k, n, p).lower
    }

    /// Two-sided exact binomial test p-value of k successes in n trials at probability p, as
    /// scipy.stats.binomtest(k, n, p).pvalue (at p = 0.5: min(1, 2 P(X <= min(k, n - k)))).
    /// n = 0 -> 1.
    public static func binomialTestPValue(_ k: Int, n: Int, p: Double = 0.5) -> Double {
        guard n >= 0, n <= maxTrials, k >= 0, k <= n, p >= 0, p <= 1 else { return .nan }
        if n == 0 { return 1 }
        // SciPy's algorithm, step for step (including its float comparisons and its 1 + 1e-7
        // tolerance on pmf ties), so results agree where the choice of the far tail is a coin flip.
        let d = binomialPMF(k, n, p)
        let rerr = 1 + 1e-7
        let pn = p * Double(n)
        let pval: Double
        if Double(k) == pn {
            return 1
        } else if Double(k) < pn {
            let ix = searchBinomTest({ -binomialPMF($0, n, p) }, -d * rerr, Int(pn.rounded(.up)), n)
            let y = n - ix + (d * rerr == binomialPMF(ix, n, p) ? 1 : 0)
            pval = binomialTails(k, n, p).lower + binomialTails(n - y, n, p).upper
        } else {
            let ix = searchBinomTest({ binomialPMF($0, n, p) }, d * rerr, 0, Int(pn.rounded(.down)))
            let y = ix + 1
            pval = binomialTails(y - 1, n, p).lower + binomialTails(k - 1, n, p).upper
        }
        return min(1, pval)
    }

    /// A lower bound on pA under the exact Gaussian from one under the noise rsc draws: the two
    /// probabilities of any event differ by at most the total variation distance of the noises,
    /// at most `tailMass` per pass (ModelInfo.noiseTailMass). One ulp lower than the rounded
    /// difference, so the subtraction never rounds the bound up; kept below 1 (a bound that rounds
    /// to 1 when alpha is within ~1e-16 of 1 would give an infinite radius) and at least 0.
    public static func noiseAdjustedLower(_ lower: Double, tailMass: Double) -> Double {
        guard lower > 0 else { return lower }
        let v = tailMass > 0 ? (lower - tailMass).nextDown : lower
        return max(0, min(v, 1.0.nextDown))
    }

    /// One-sided (1 - alpha) Clopper-Pearson lower confidence bound on a binomial proportion:
    /// 0 when k == 0, else the alpha-quantile of Beta(k, n - k + 1)
    /// (= statsmodels proportion_confint(k, n, alpha=2*alpha, method="beta")[0], as in Cohen et al.).
    public static func clopperPearsonLower(successes k: Int, trials n: Int, alpha: Double) -> Double {
        guard n >= 0, n <= maxTrials, k >= 0, k <= n, alpha >= 0, alpha <= 1 else { return .nan }
        if k == 0 { return 0 }
        return inverseBeta(p: alpha, q: 1 - alpha, a: Double(k), b: Double(n - k) + 1)
    }

    /// The matching upper bound: 1 when k == n, else the (1 - alpha)-quantile of Beta(k + 1, n - k).
    /// Solved as an upper-tail problem in alpha itself (like scipy.stats.beta.isf), so 1 - alpha's
    /// rounding does not cost ~1e-16/alpha of relative accuracy.
    public static func clopperPearsonUpper(successes k: Int, trials n: Int, alpha: Double) -> Double {
        guard n >= 0, n <= maxTrials, k >= 0, k <= n, alpha >= 0, alpha <= 1 else { return .nan }
        if k == n { return 1 }
        return inverseBeta(p: 1 - alpha, q: alpha, a: Double(k) + 1, b: Double(n - k))
    }

    // MARK: - Internals

    /// The binomial functions return NaN beyond 2^32 trials: rsc's pass counts stay below
    /// (Limits.maxPasses), the golden values cover them, and the incomplete beta's continued
    /// fraction needs ~sqrt(n) terms, which stops converging in its term budget near n ~ 1e10.
    static let maxTrials = 1 << 32

    /// (P(X <= k), P(X > k)), each relative-accurate when small: P(X <= k) = I_{1-p}(n - k, k + 1),
    /// with p passed as the exact complement variable.
    static func binomialTails(_ k: Int, _ n: Int, _ p: Double) -> (lower: Double, upper: Double) {
        if k < 0 { return (0, 1) }
        if k >= n { return (1, 0) }
        if p == 0 { return (1, 0) }
        if p == 1 { return (0, 1) }
        let t = betaTails(x: 1 - p, y: p, a: Double(n - k), b: Double(k) + 1)
        return (t.lower, t.upper)
    }

    /// P(X = k) = x^a y^b / (B(a, b) p (1 - p) (n + 1)) with a = k + 1, b = n - k + 1, x = p,
    /// via the cancellation-free prefactor.
    static func binomialPMF(_ k: Int, _ n: Int, _ p: Double) -> Double {
        if k < 0 || k > n { return 0 }
        if p == 0 { return k == 0 ? 1 : 0 }
        if p == 1 { return k == n ? 1 : 0 }
        let lp = logBetaPrefactor(x: p, y: 1 - p, a: Double(k) + 1, b: Double(n - k) + 1)
        return exp(lp - log(p) - log1p(-p) - log(Double(n) + 1))
    }

    /// scipy.stats._binomtest._binary_search_for_binom_tst: the i in [lo, hi] with
    /// f(i) <= d < f(i + 1) for f ascending on that range.
    private static func searchBinomTest(_ f: (Int) -> Double, _ d: Double, _ lo0: Int, _ hi0: Int) -> Int {
        var lo = lo0, hi = hi0
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            let value = f(mid)
            if value < d { lo = mid + 1 } else if value > d { hi = mid - 1 } else { return mid }
        }
        return f(lo) <= d ? lo : lo - 1
    }
}
