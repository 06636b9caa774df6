#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Regularized incomplete beta function and its inverse.
//
// The hard part at n ~ 1e5 is the prefactor x^a y^b / B(a, b): its logarithm is a difference of
// terms of size ~1e6, so the naive lgamma form loses ~1e-10. We follow DiDonato & Morris,
// "Significant digit computation of the incomplete beta function ratios", ACM TOMS 18 (1992),
// Algorithm 708 (brcomp, betaln, algdiv, rlog1, bcorr), and evaluate the remaining factor by its
// continued fraction (bfrac, in Boost's ibeta_fraction2 form), falling back to its power series
// (bpser) where the fraction could only give the wanted tail as a cancelling complement.

extension Statistics {
    /// ln B(a, b), accurate even when a or b is ~1e5 (no lgamma cancellation).
    public static func logBeta(_ a: Double, _ b: Double) -> Double {
        guard a > 0, b > 0, a.isFinite, b.isFinite else { return .nan }
        let lo = min(a, b), hi = max(a, b)
        if hi < 10 { return lnGamma(lo) + lnGamma(hi) - lnGamma(lo + hi) }
        if lo < 10 { return lnGamma(lo) - lnGammaRatio(lo, hi) }
        // TOMS 708 betaln: Stirling for all three gammas, regrouped so every large term has the
        // same sign (no cancellation); only the small mu corrections remain.
        return 0.5 * log(2 * Double.pi) - 0.5 * log(lo + hi)
            - (lo - 0.5) * log1p(hi / lo) - (hi - 0.5) * log1p(lo / hi)
            + stirlingCorrection(lo) + stirlingCorrection(hi) - stirlingCorrection(lo + hi)
    }

    /// Regularized incomplete beta I_x(a, b), a, b > 0, x in [0, 1].
    public static func regularizedIncompleteBeta(x: Double, a: Double, b: Double) -> Double {
        guard a > 0, b > 0, a.isFinite, b.isFinite, x >= 0, x <= 1 else { return .nan }
        return betaTails(x: x, y: 1 - x, a: a, b: b).lower
    }

    /// The x with I_x(a, b) = p, p in [0, 1].
    public static func inverseRegularizedIncompleteBeta(p: Double, a: Double, b: Double) -> Double {
        guard a > 0, b > 0, a.isFinite, b.isFinite, p >= 0, p <= 1 else { return .nan }
        return inverseBeta(p: p, q: 1 - p, a: a, b: b)
    }

    // MARK: - Internals

    /// Thread-safe ln|Gamma| (plain lgamma writes the global signgam).
    static func lnGamma(_ z: Double) -> Double {
        var sign: Int32 = 0
        return lgamma_r(z, &sign)
    }

    /// mu(z) = ln Gamma(z) - [(z - 1/2) ln z - z + ln(2 pi)/2], the Stirling correction (TOMS 708
    /// bcorr uses the same series). For z >= 10 the first omitted term is below 2e-18.
    static func stirlingCorrection(_ z: Double) -> Double {
        let r = 1 / z, r2 = r * r
        return r * (1.0 / 12 + r2 * (-1.0 / 360 + r2 * (1.0 / 1260 + r2 * (-1.0 / 1680 + r2 * (1.0 / 1188
            + r2 * (-691.0 / 360360 + r2 * (1.0 / 156 + r2 * (-3617.0 / 122400))))))))
    }

    /// ln Gamma(a + b) - ln Gamma(b) for a < 10 <= b (TOMS 708 algdiv): Stirling on both, with the
    /// large (b - 1/2) ln b pieces combined into a log1p so nothing of size b ln b cancels.
    static func lnGammaRatio(_ a: Double, _ b: Double) -> Double {
        (b - 0.5) * log1p(a / b) + a * log(a + b) - a + stirlingCorrection(a + b) - stirlingCorrection(b)
    }

    /// t - ln(1 + t) without cancellation near t = 0 (TOMS 708 rlog1). With r = t / (2 + t),
    /// ln(1 + t) = 2 atanh(r) and t - 2r = t r, so t - ln(1 + t) = t r - 2 (r^3/3 + r^5/5 + ...).
    static func rlog1(_ t: Double) -> Double {
        if abs(t) > 0.5 { return t - log1p(t) }
        let r = t / (2 + t), r2 = r * r  // |r| <= 1/3: at most ~17 terms
        var term = r * r2, sum = 0.0, k = 3.0
        for _ in 0..<40 {
            let c = term / k
            sum += c
            if abs(c) <= 1e-17 * abs(sum) { break }
            term *= r2
            k += 2
        }
        return t * r - 2 * sum
    }

    /// ln(x^a y^b / B(a, b)) with y = 1 - x carried separately; the smaller of x, y is taken as
    /// exact and the other as its rounded complement (so pass p and 1 - p, not a rounded pair).
    static func logBetaPrefactor(x: Double, y: Double, a: Double, b: Double) -> Double {
        if min(a, b) >= 10 {
            // TOMS 708 brcomp (Temme's form): with x0 = a/(a+b), y0 = b/(a+b),
            // x^a y^b / B = sqrt(ab / (2 pi (a+b))) exp(-(a u + b v) + mu(a+b) - mu(a) - mu(b)),
            // u = rlog1(e1), v = rlog1(e2), e1 = x/x0 - 1 = -lambda/a, e2 = y/y0 - 1 = lambda/b.
            // The exponent is O(1) near the mean, so its absolute error (= the result's relative
            // error) stays ~eps instead of ~eps * a. Far from the mean (|e| > 0.6) ln(1 + e) is
            // taken as ln(x/x0): 1 + e itself would cancel as x -> 0.
            let s = a + b, x0 = a / s, y0 = b / s
            let lambda = lambdaBeta(x: x, y: y, a: a, b: b)
            let e1 = -lambda / a, e2 = lambda / b
            let u = abs(e1) > 0.6 ? e1 - log(x / x0) : rlog1(e1)
            let v = abs(e2) > 0.6 ? e2 - log(y / y0) : rlog1(e2)
            return 0.5 * log(a * y0 / (2 * Double.pi)) - (a * u + b * v)
                + stirlingCorrection(s) - stirlingCorrection(a) - stirlingCorrection(b)
        }
        // One parameter < 10: ln B is well conditioned (lnGammaRatio), and the terms here are
        // at most ~10 ln(1e5) in size.
        let lnx = x <= y ? log(x) : log1p(-y)
        let lny = y <= x ? log(y) : log1p(-x)
        return a * lnx + b * lny - logBeta(a, b)
    }

    /// a - (a + b) x = (a + b) y - b, from the exact one of x, y with a single rounding (fma).
    static func lambdaBeta(x: Double, y: Double, a: Double, b: Double) -> Double {
        x <= y ? a.addingProduct(-(a + b), x) : (-b).addingProduct(a + b, y)
    }

    /// x^a y^b / (B(a, b) I_x(a, b)) by continued fraction, fast for x < (a + 1)/(a + b + 2), in
    /// O(sqrt(max(a, b))) terms. This is the even part of the classical fraction (Numerical
    /// Recipes betacf), in the form of DiDonato & Morris (TOMS 708 bfrac) as written in Boost
    /// (ibeta_fraction2): every term is built from lambda = a - (a + b) x = a y - b x, taken
    /// from the exact variable with one rounding (fma). The classical form instead starts from
    /// 1 - (a + b) x / (a + 1), which cancels to ~1e-5 when a ~ 1e5 and x is near 1 and cost
    /// ~1e-11 there. Evaluated by modified Lentz; NaN when 100,000 terms do not converge (a or b
    /// beyond ~1e10), rather than an unconverged value that is not even a probability.
    static func betaFraction(x: Double, y: Double, a: Double, b: Double) -> Double {
        let lambda = lambdaBeta(x: x, y: y, a: a, b: b)
        let tiny = 1e-300
        var f = a * (lambda + 1) / (a + 1)
        if f == 0 { f = tiny }
        var c = f, d = 0.0
        for i in 1...100_000 {
            // a + (m - 1), not (a + m) - 1: the latter rounds away a tiny a at m = 1.
            let m = Double(i), den = a + (2 * m - 1)
            let an = (m * (a + (m - 1)) / den) * ((a + b + (m - 1)) / den) * (b - m) * x * x
            let bn = m + m * (b - m) * x / den + (a + m) * (lambda + 1 + m * (1 + y)) / (den + 2)
            d = bn + an * d
            if d == 0 { d = tiny }
            c = bn + an / c
            if c == 0 { c = tiny }
            d = 1 / d
            let delta = c * d
            f *= delta
            if abs(delta - 1) <= Double.ulpOfOne { return f }
        }
        return .nan
    }

    /// Both tails of Beta(a, b) at x (y = 1 - x carried separately, see logBetaPrefactor), with
    /// logs. The tail evaluated by the continued fraction is relative-accurate however small; the
    /// other is its complement. Also returns ln(x^a y^b / B(a, b)), which the inverse needs.
    struct BetaTails {
        var lower: Double, upper: Double, logLower: Double, logUpper: Double, logPrefactor: Double
    }

    static func betaTails(x: Double, y: Double, a: Double, b: Double) -> BetaTails {
        if x <= 0 { return BetaTails(lower: 0, upper: 1, logLower: -.infinity, logUpper: 0, logPrefactor: -.infinity) }
        if y <= 0 { return BetaTails(lower: 1, upper: 0, logLower: 0, logUpper: -.infinity, logPrefactor: -.infinity) }
        let lp = logBetaPrefactor(x: x, y: y, a: a, b: b)
        // Usual symmetry switch: run the fraction on the side where it converges fast.
        // Summing logs (not multiplying exp(lp) by the fraction) avoids spurious underflow.
        if x < (a + 1) / (a + b + 2) {
            let lt = lp - log(betaFraction(x: x, y: y, a: a, b: b))
            let t = exp(lt)
            if t > 0.9 && a < 1 && y <= 0.999 {  // upper = 1 - t would cancel: sum it directly
                let lu = logBetaSeries(x: y, y: x, a: b, b: a), u = exp(lu)
                return BetaTails(lower: 1 - u, upper: u, logLower: log1p(-u), logUpper: lu, logPrefactor: lp)
            }
            return BetaTails(lower: t, upper: 1 - t, logLower: lt, logUpper: log1p(-t), logPrefactor: lp)
        }
        let lt = lp - log(betaFraction(x: y, y: x, a: b, b: a))
        let t = exp(lt)
        if t > 0.9 && b < 1 && x <= 0.999 {  // lower = 1 - t would cancel: sum it directly
            let ll = logBetaSeries(x: x, y: y, a: a, b: b), l = exp(ll)
            return BetaTails(lower: l, upper: 1 - l, logLower: ll, logUpper: log1p(-l), logPrefactor: lp)
        }
        return BetaTails(lower: 1 - t, upper: t, logLower: log1p(-t), logUpper: lt, logPrefactor: lp)
    }

    /// ln I_x(a, b) by the power series of TOMS 708 bpser,
    /// I_x(a, b) = x^a / (a B(a, b)) [1 + a sum_{j>=1} (1-b)(2-b)...(j-b) x^j / (j! (a + j))],
    /// for b < 1, where every term is positive. Only reached when the fraction would give this tail
    /// as 1 - (something near 1), i.e. for small b with x past the switch point; x <= 0.999 caps
    /// the work at a few times 1e4 terms. (Beyond that, tiny b keeps ~eps / I_x relative error.)
    static func logBetaSeries(x: Double, y: Double, a: Double, b: Double) -> Double {
        var c = 1.0, sum = 0.0, j = 0.0
        while j < 100_000 {
            j += 1
            c *= (1 - b / j) * x
            let term = c / (a + j)
            sum += term
            if term <= 1e-17 * sum { break }
        }
        let lnx = x <= y ? log(x) : log1p(-y)
        return a * lnx - log(a) - logBeta(a, b) + log1p(a * sum)
    }

    /// Solves I_x(a, b) = p with q = 1 - p supplied separately, so that an upper-tail target such
    /// as 1 - alpha keeps alpha's full precision. Returns x.
    ///
    /// Safeguarded Newton: matches ln(smaller tail) = ln(min(p, q)), iterating in ln v where v is
    /// the smaller of x and 1 - x (so v keeps full relative precision even when the root is within
    /// 1e-12 of 0 or 1). In those variables tails behave like powers of v, so Newton is nearly
    /// exact from the start; a bracket [lo, hi] with bisection catches any bad step.
    static func inverseBeta(p: Double, q: Double, a: Double, b: Double) -> Double {
        if p <= 0 { return 0 }
        if q <= 0 { return 1 }
        let useLower = p <= q
        let lnTarget = log(useLower ? p : q)
        let (x0, y0) = initialGuess(p: p, q: q, a: a, b: b)
        var inX = x0 <= y0
        let guess = inX ? x0 : y0
        var v = guess.isNaN ? 0.25 : min(max(guess, Double.leastNormalMagnitude), 0.5)
        var lo = 0.0, hi = 1.0  // bracket on v
        var previousStep = Double.infinity
        for _ in 0..<100 {
            if v > 0.5 {  // keep v the smaller of x, 1 - x
                inX.toggle()
                v = 1 - v
                (lo, hi) = (1 - hi, 1 - lo)
            }
            let t = betaTails(x: inX ? v : 1 - v, y: inX ? 1 - v : v, a: a, b: b)
            let lnTail = useLower ? t.logLower : t.logUpper
            let g = lnTail - lnTarget
            if g == 0 { break }
            let increasing = useLower == inX  // does g increase with v?
            if (g < 0) == increasing { lo = v } else { hi = v }
            // d ln T / d ln v = v |dI/dv| / T = x^a y^b / (B(a, b) (1 - v) T).
            let slope = exp(t.logPrefactor - log1p(-v) - lnTail)
            let step = -g / (increasing ? slope : -slope)
            var next = v * exp(step)
            if next == 0 && lo == 0 { v = 0; break }  // root below the smallest double
            var newton = true
            if !(next > lo && next < hi) {
                newton = false
                let l = max(lo, Double.leastNormalMagnitude)
                next = hi > 4 * l ? (l * hi).squareRoot() : 0.5 * (lo + hi)
            }
            let change = abs(next - v) / v
            v = next
            if newton {
                // Done at ~2 ulp, or when steps stop shrinking at the noise floor of g.
                if change <= 4.5e-16 || (change < 1e-12 && change >= 0.5 * previousStep) { break }
                previousStep = change
            }
            if hi - lo <= 2 * hi.ulp { break }
        }
        return inX ? v : 1 - v
    }

    /// Starting point for inverseBeta (Numerical Recipes invbetai, after AS 109 / Cornish-Fisher
    /// for a, b >= 1), returned as (x, 1 - x) each computed directly.
    static func initialGuess(p: Double, q: Double, a: Double, b: Double) -> (Double, Double) {
        if a >= 1 && b >= 1 {
            let z = p <= q ? -normalQuantile(p) : normalQuantile(q)
            let al = (z * z - 3) / 6
            let h = 2 / (1 / (2 * a - 1) + 1 / (2 * b - 1))
            let w = z * (al + h).squareRoot() / h - (1 / (2 * b - 1) - 1 / (2 * a - 1)) * (al + 5.0 / 6 - 2 / (3 * h))
            let lr = log(b / a) + 2 * w  // x = 1 / (1 + e^lr)
            return (1 / (1 + exp(lr)), 1 / (1 + exp(-lr)))
        }
        let lna = log(a / (a + b)), lnb = log(b / (a + b))
        let t = exp(a * lna) / a, u = exp(b * lnb) / b, w = t + u
        if p < t / w {
            let x = pow(a * w * p, 1 / a)
            return (x, 1 - x)
        }
        let y = pow(b * w * q, 1 / b)
        return (1 - y, y)
    }
}
