#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Statistics numerics for certification (Cohen et al. 2019): normal quantiles, the regularized
/// incomplete beta function, binomial tails and Clopper-Pearson bounds. Accuracy target: 1e-10
/// relative against SciPy for n up to 1e5 (see Tests/RSCTests/StatisticsTests.swift).
/// Out-of-domain arguments give NaN, never a trap.
public enum Statistics {}

extension Statistics {
    /// Standard normal CDF Phi(x), accurate in both tails (use erfc).
    public static func normalCDF(_ x: Double) -> Double {
        // Same split as Cephes ndtr (SciPy): erfc of |z| keeps the far lower tail relative-accurate
        // down to the underflow near x = -38.5; near 0 the erf form is exact enough.
        let z = x * 0.70710678118654752440
        if abs(z) < 0.70710678118654752440 { return 0.5 + 0.5 * erf(z) }
        let t = 0.5 * erfc(abs(z))
        return z > 0 ? 1 - t : t
    }

    /// Phi^-1(p) for p in (0,1), Wichura's AS241 (PPND16), ~1e-16 relative.
    /// p <= 0 -> -inf, p >= 1 -> +inf, NaN -> NaN.
    ///
    /// Wichura, M. J. (1988) Algorithm AS 241: The percentage points of the normal distribution.
    /// Applied Statistics 37(3), 477-484. Coefficients verbatim from the paper.
    public static func normalQuantile(_ p: Double) -> Double {
        if p.isNaN { return .nan }
        if p <= 0 { return -.infinity }
        if p >= 1 { return .infinity }
        let q = p - 0.5
        if abs(q) <= 0.425 {
            let r = 0.180625 - q * q
            return q * poly(r, as241A) / poly(r, as241B)
        }
        // 1 - p is exact for p > 0.5 (Sterbenz), so the upper tail loses nothing here.
        var r = (q < 0 ? p : 1 - p)
        r = (-log(r)).squareRoot()
        let v: Double
        if r <= 5 {
            r -= 1.6
            v = poly(r, as241C) / poly(r, as241D)
        } else {
            r -= 5
            v = poly(r, as241E) / poly(r, as241F)
        }
        return q < 0 ? -v : v
    }

    /// Horner evaluation, coefficients in ascending powers.
    @inline(__always)
    static func poly(_ x: Double, _ c: [Double]) -> Double {
        var acc = 0.0
        for coefficient in c.reversed() { acc = acc * x + coefficient }
        return acc
    }

    // AS241 PPND16 coefficients, ascending powers (denominators lead with 1).
    private static let as241A: [Double] = [
        3.3871328727963666080e0, 1.3314166789178437745e+2, 1.9715909503065514427e+3,
        1.3731693765509461125e+4, 4.5921953931549871457e+4, 6.7265770927008700853e+4,
        3.3430575583588128105e+4, 2.5090809287301226727e+3,
    ]
    private static let as241B: [Double] = [
        1, 4.2313330701600911252e+1, 6.8718700749205790830e+2, 5.3941960214247511077e+3,
        2.1213794301586595867e+4, 3.9307895800092710610e+4, 2.8729085735721942674e+4,
        5.2264952788528545610e+3,
    ]
    private static let as241C: [Double] = [
        1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0,
        3.64784832476320460504e0, 1.27045825245236838258e0, 2.41780725177450611770e-1,
        2.27238449892691845833e-2, 7.74545014278341407640e-4,
    ]
    private static let as241D: [Double] = [
        1, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
        1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
        1.05075007164441684324e-9,
    ]
    private static let as241E: [Double] = [
        6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0,
        2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
        2.71155556874348757815e-5, 2.01033439929228813265e-7,
    ]
    private static let as241F: [Double] = [
        1, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
        7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7,
        2.04426310338993978564e-15,
    ]
}
