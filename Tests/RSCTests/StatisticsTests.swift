import Foundation
import XCTest

@testable import RSC

/// Statistics numerics against SciPy golden values (Fixtures/stats_golden.tsv, written by
/// scripts/gen_stats_golden.py), plus properties that do not depend on any reference.
final class StatisticsTests: XCTestCase {
    /// Required accuracy: relative error against SciPy; absolute where SciPy's value is 0 or subnormal.
    static let relativeTolerance = 1e-10
    static let absoluteTolerance = 1e-300

    struct GoldenRow {
        let function: String
        let args: [String]
        let expected: Double
        let text: String
    }

    static let golden: Result<[GoldenRow], Error> = Result {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/stats_golden.tsv")
        let text = try String(contentsOf: url, encoding: .utf8)
        var rows: [GoldenRow] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix("function\t") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 3, let expected = Double(fields[fields.count - 1]) else {
                throw NSError(domain: "StatisticsTests", code: 1, userInfo: [NSLocalizedDescriptionKey: "bad line: \(line)"])
            }
            rows.append(GoldenRow(function: fields[0], args: Array(fields[1..<(fields.count - 1)]),
                                  expected: expected, text: String(line)))
        }
        return rows
    }

    /// Runs every golden row of `function` through `compute`; fails any row off by more than the
    /// tolerance and prints the family's worst case.
    func checkGolden(_ function: String, minimumRows: Int = 10, _ compute: ([String]) -> Double) throws {
        let rows = try Self.golden.get().filter { $0.function == function }
        XCTAssertGreaterThanOrEqual(rows.count, minimumRows, "too few golden rows for \(function)")
        var worst = (error: 0.0, row: "", got: 0.0)
        for row in rows {
            let got = compute(row.args)
            let expected = row.expected
            let error: Double
            let ok: Bool
            if expected == 0 || expected.isSubnormal {
                error = abs(got - expected)
                ok = error <= Self.absoluteTolerance
            } else if expected.isInfinite {
                error = got == expected ? 0 : .infinity
                ok = got == expected
            } else {
                error = abs(got - expected) / abs(expected)
                ok = error <= Self.relativeTolerance
            }
            XCTAssertTrue(ok, "\(row.text): got \(got), error \(error)")
            if !(error <= worst.error) { worst = (error, row.text, got) }  // NaN counts as worst
        }
        print("worst \(function) over \(rows.count) rows: error \(worst.error) at [\(worst.row)] got \(worst.got)")
    }

    private func d(_ s: String) -> Double { Double(s)! }
    private func i(_ s: String) -> Int { Int(s)! }

    // MARK: - Golden families

    func testNormalQuantileGolden() throws {
        try checkGolden("norm_ppf") { Statistics.normalQuantile(d($0[0])) }
    }

    func testNormalCDFGolden() throws {
        try checkGolden("norm_cdf") { Statistics.normalCDF(d($0[0])) }
    }

    func testLogBetaGolden() throws {
        try checkGolden("logbeta") { Statistics.logBeta(d($0[0]), d($0[1])) }
    }

    func testIncompleteBetaGolden() throws {
        try checkGolden("betainc", minimumRows: 100) {
            Statistics.regularizedIncompleteBeta(x: d($0[0]), a: d($0[1]), b: d($0[2]))
        }
    }

    func testInverseIncompleteBetaGolden() throws {
        try checkGolden("betaincinv", minimumRows: 100) {
            Statistics.inverseRegularizedIncompleteBeta(p: d($0[0]), a: d($0[1]), b: d($0[2]))
        }
    }

    func testBinomialCDFGolden() throws {
        try checkGolden("binom_cdf", minimumRows: 100) { Statistics.binomialCDF(i($0[0]), n: i($0[1]), p: d($0[2])) }
    }

    func testBinomialTestGolden() throws {
        try checkGolden("binomtest", minimumRows: 100) {
            Statistics.binomialTestPValue(i($0[0]), n: i($0[1]), p: d($0[2]))
        }
    }

    func testClopperPearsonLowerGolden() throws {
        try checkGolden("cp_lower", minimumRows: 100) {
            Statistics.clopperPearsonLower(successes: i($0[0]), trials: i($0[1]), alpha: d($0[2]))
        }
    }

    func testClopperPearsonUpperGolden() throws {
        try checkGolden("cp_upper", minimumRows: 100) {
            Statistics.clopperPearsonUpper(successes: i($0[0]), trials: i($0[1]), alpha: d($0[2]))
        }
    }

    // MARK: - Properties

    func testClopperPearsonBracketsTheEstimateAndIsMonotone() {
        for n in [1, 2, 10, 100, 1000, 100_000] {
            let ks = Set([0, 1, n / 2, (9 * n) / 10, (99 * n) / 100, n - 1, n]).filter { (0...n).contains($0) }.sorted()
            for alpha in [1e-6, 1e-3, 0.05] {
                var previousLower = -1.0, previousUpper = -1.0
                for k in ks {
                    let lo = Statistics.clopperPearsonLower(successes: k, trials: n, alpha: alpha)
                    let hi = Statistics.clopperPearsonUpper(successes: k, trials: n, alpha: alpha)
                    let phat = Double(k) / Double(n)
                    XCTAssertLessThanOrEqual(lo, phat, "n=\(n) k=\(k) alpha=\(alpha)")
                    XCTAssertGreaterThanOrEqual(hi, phat, "n=\(n) k=\(k) alpha=\(alpha)")
                    if k > 0 { XCTAssertLessThan(lo, phat) }
                    if k < n { XCTAssertGreaterThan(hi, phat) }
                    XCTAssertGreaterThan(lo, previousLower, "lower bound not increasing in k: n=\(n) k=\(k)")
                    XCTAssertGreaterThan(hi, previousUpper, "upper bound not increasing in k: n=\(n) k=\(k)")
                    previousLower = lo
                    previousUpper = hi
                }
            }
        }
        // Every k at n = 1000: strictly increasing lower bound, and a smaller alpha is more conservative.
        var previous = -1.0
        for k in 0...1000 {
            let lo = Statistics.clopperPearsonLower(successes: k, trials: 1000, alpha: 1e-3)
            XCTAssertGreaterThan(lo, previous, "k=\(k)")
            if k > 0 {
                XCTAssertLessThan(Statistics.clopperPearsonLower(successes: k, trials: 1000, alpha: 1e-6), lo)
            }
            previous = lo
        }
    }

    func testClopperPearsonClosedForms() {
        // k = n: lower = alpha^(1/n); k = 0: upper = 1 - alpha^(1/n) (computed without cancellation).
        for n in [1, 10, 1000, 100_000] {
            for alpha in [1e-6, 1e-3, 0.05] {
                let lower = Statistics.clopperPearsonLower(successes: n, trials: n, alpha: alpha)
                XCTAssertEqual(lower, exp(log(alpha) / Double(n)), accuracy: 1e-15 * lower)
                let upper = Statistics.clopperPearsonUpper(successes: 0, trials: n, alpha: alpha)
                let want = -expm1(log(alpha) / Double(n))
                XCTAssertEqual(upper, want, accuracy: 1e-14 * want)
            }
        }
    }

    func testNormalRoundTrips() {
        var x = -37.5
        while x <= 0 {  // lower tail: Phi is relative-accurate, so the round trip is too
            let back = Statistics.normalQuantile(Statistics.normalCDF(x))
            XCTAssertEqual(back, x, accuracy: 1e-14 * max(1, abs(x)), "x=\(x)")
            x += 0.37
        }
        for x in stride(from: 0.05, through: 3.0, by: 0.05) {  // upper: limited by Phi's rounding near 1
            XCTAssertEqual(Statistics.normalQuantile(Statistics.normalCDF(x)), x, accuracy: 1e-12, "x=\(x)")
        }
        for e in stride(from: -300.0, through: -1.0, by: 7.0) {
            let p = pow(10, e)
            XCTAssertEqual(Statistics.normalCDF(Statistics.normalQuantile(p)), p, accuracy: 1e-12 * p, "p=\(p)")
        }
        XCTAssertEqual(Statistics.normalQuantile(0.5), 0)
        XCTAssertEqual(Statistics.normalQuantile(0.975), 1.959963984540054, accuracy: 1e-15)
        XCTAssertEqual(Statistics.normalQuantile(0.3), -Statistics.normalQuantile(0.7), accuracy: 1e-16)
    }

    func testIncompleteBetaIdentities() {
        for (a, b) in [(0.5, 0.5), (1.0, 3.0), (2.5, 10.0), (100.0, 37.0), (1e5, 2.0), (1e5, 1e5)] {
            for x in [1e-6, 0.01, 0.3, a / (a + b), 0.7, 0.99] {
                let lower = Statistics.regularizedIncompleteBeta(x: x, a: a, b: b)
                let upper = Statistics.regularizedIncompleteBeta(x: 1 - x, a: b, b: a)
                XCTAssertEqual(lower + upper, 1, accuracy: 1e-14, "x=\(x) a=\(a) b=\(b)")
                if lower > 1e-300 && lower < 1 - 1e-12 {
                    let back = Statistics.inverseRegularizedIncompleteBeta(p: lower, a: a, b: b)
                    XCTAssertEqual(back, x, accuracy: 1e-9 * x, "x=\(x) a=\(a) b=\(b)")
                }
            }
        }
        // Closed forms: I_x(1, b) = 1 - (1 - x)^b, I_x(a, 1) = x^a.
        XCTAssertEqual(Statistics.regularizedIncompleteBeta(x: 1e-3, a: 1, b: 1e5), -expm1(1e5 * log1p(-1e-3)),
                       accuracy: 1e-15)
        XCTAssertEqual(Statistics.regularizedIncompleteBeta(x: 0.999, a: 1e5, b: 1), pow(0.999, 1e5),
                       accuracy: 1e-12 * pow(0.999, 1e5))
        XCTAssertEqual(Statistics.regularizedIncompleteBeta(x: 0, a: 2, b: 3), 0)
        XCTAssertEqual(Statistics.regularizedIncompleteBeta(x: 1, a: 2, b: 3), 1)
        XCTAssertEqual(Statistics.inverseRegularizedIncompleteBeta(p: 0, a: 2, b: 3), 0)
        XCTAssertEqual(Statistics.inverseRegularizedIncompleteBeta(p: 1, a: 2, b: 3), 1)
        // ln B against lgamma where the latter is exact enough (small arguments).
        XCTAssertEqual(Statistics.logBeta(2, 3), log(1.0 / 12), accuracy: 1e-15)
        XCTAssertEqual(Statistics.logBeta(0.5, 0.5), log(Double.pi), accuracy: 1e-15)
    }

    func testBinomialCDFAgainstDirectSum() {
        for p in [0.5, 0.01, 0.3, 0.97] {
            let n = 30
            let pmf = (0...n).map { k -> Double in
                var c = 1.0
                for j in 0..<k { c = c * Double(n - j) / Double(j + 1) }
                return c * pow(p, Double(k)) * pow(1 - p, Double(n - k))
            }
            var cdf = 0.0
            for k in 0..<n {
                cdf += pmf[k]
                XCTAssertEqual(Statistics.binomialCDF(k, n: n, p: p), cdf, accuracy: 1e-13 * cdf, "k=\(k) p=\(p)")
            }
        }
        XCTAssertEqual(Statistics.binomialCDF(-1, n: 10, p: 0.5), 0)
        XCTAssertEqual(Statistics.binomialCDF(10, n: 10, p: 0.5), 1)
        XCTAssertEqual(Statistics.binomialCDF(3, n: 10, p: 0), 1)
        XCTAssertEqual(Statistics.binomialCDF(3, n: 10, p: 1), 0)
    }

    func testBinomialTestProperties() {
        for n in [2, 10, 100, 1000, 100_000] {
            XCTAssertEqual(Statistics.binomialTestPValue(n / 2, n: n), 1, "n=\(n)")
            for k in [0, 1, n / 3] {
                XCTAssertEqual(Statistics.binomialTestPValue(k, n: n), Statistics.binomialTestPValue(n - k, n: n))
            }
        }
        // k = n at p = 0.5: 2^(1-n) exactly.
        XCTAssertEqual(Statistics.binomialTestPValue(100, n: 100), pow(2, -99), accuracy: 1e-14 * pow(2, -99))
        XCTAssertEqual(Statistics.binomialTestPValue(1000, n: 1000), pow(2, -999), accuracy: 1e-13 * pow(2, -999))
        XCTAssertLessThan(Statistics.binomialTestPValue(100_000, n: 100_000), 1e-300)
        // At p = 0.5 the two-sided value is min(1, 2 P(X <= min(k, n - k))).
        for k in [0, 3, 40, 48] {
            let want = min(1, 2 * Statistics.binomialCDF(k, n: 100, p: 0.5))
            XCTAssertEqual(Statistics.binomialTestPValue(k, n: 100), want, accuracy: 1e-15 * want)
        }
        XCTAssertEqual(Statistics.binomialTestPValue(0, n: 0), 1)
        XCTAssertEqual(Statistics.binomialTestPValue(0, n: 10, p: 0), 1)
        XCTAssertEqual(Statistics.binomialTestPValue(3, n: 10, p: 0), 0)
    }

    func testOutOfDomainGivesNaNWithoutTrapping() {
        let nan = Double.nan
        XCTAssertTrue(Statistics.normalCDF(nan).isNaN)
        XCTAssertEqual(Statistics.normalCDF(-.infinity), 0)
        XCTAssertEqual(Statistics.normalCDF(.infinity), 1)
        XCTAssertTrue(Statistics.normalQuantile(nan).isNaN)
        XCTAssertEqual(Statistics.normalQuantile(0), -.infinity)
        XCTAssertEqual(Statistics.normalQuantile(-1), -.infinity)
        XCTAssertEqual(Statistics.normalQuantile(1), .infinity)
        XCTAssertEqual(Statistics.normalQuantile(2), .infinity)

        for (a, b) in [(0.0, 1.0), (-1.0, 2.0), (1.0, nan), (.infinity, 1.0), (nan, nan)] {
            XCTAssertTrue(Statistics.logBeta(a, b).isNaN, "logBeta(\(a), \(b))")
            XCTAssertTrue(Statistics.regularizedIncompleteBeta(x: 0.5, a: a, b: b).isNaN)
            XCTAssertTrue(Statistics.inverseRegularizedIncompleteBeta(p: 0.5, a: a, b: b).isNaN)
        }
        for x in [-0.1, 1.1, nan, .infinity] {
            XCTAssertTrue(Statistics.regularizedIncompleteBeta(x: x, a: 2, b: 3).isNaN, "x=\(x)")
            XCTAssertTrue(Statistics.inverseRegularizedIncompleteBeta(p: x, a: 2, b: 3).isNaN, "p=\(x)")
        }

        XCTAssertTrue(Statistics.binomialCDF(3, n: -1, p: 0.5).isNaN)
        XCTAssertTrue(Statistics.binomialCDF(3, n: 10, p: 1.5).isNaN)
        XCTAssertTrue(Statistics.binomialCDF(3, n: 10, p: nan).isNaN)
        XCTAssertTrue(Statistics.binomialTestPValue(11, n: 10).isNaN)
        XCTAssertTrue(Statistics.binomialTestPValue(-1, n: 10).isNaN)
        XCTAssertTrue(Statistics.binomialTestPValue(3, n: 10, p: nan).isNaN)
        XCTAssertTrue(Statistics.binomialTestPValue(3, n: 10, p: -0.5).isNaN)
        for (k, n, alpha) in [(11, 10, 0.01), (-1, 10, 0.01), (3, -1, 0.01), (3, 10, nan), (3, 10, 1.5), (3, 10, -1)] {
            XCTAssertTrue(Statistics.clopperPearsonLower(successes: k, trials: n, alpha: alpha).isNaN, "\(k) \(n) \(alpha)")
            XCTAssertTrue(Statistics.clopperPearsonUpper(successes: k, trials: n, alpha: alpha).isNaN, "\(k) \(n) \(alpha)")
        }
        // Past 2^32 trials (rsc's pass counts stay below): NaN rather than an overflow trap or an
        // unconverged continued fraction (at 2^53 that gave 0.14 for P(X <= n/2), p = 1/2).
        XCTAssertTrue(Statistics.binomialCDF(3, n: Int.max, p: 0.5).isNaN)
        XCTAssertTrue(Statistics.binomialCDF(1 << 52, n: 1 << 53, p: 0.5).isNaN)
        XCTAssertTrue(Statistics.regularizedIncompleteBeta(x: 0.5, a: 1e16, b: 1e16).isNaN)
        XCTAssertEqual(Statistics.binomialCDF(1 << 31, n: 1 << 32, p: 0.5), 0.5000060873761003, accuracy: 1e-12)  // scipy
        XCTAssertTrue(Statistics.binomialTestPValue(Int.max, n: Int.max, p: 1).isNaN)
        XCTAssertTrue(Statistics.clopperPearsonLower(successes: Int.max, trials: Int.max, alpha: 0.01).isNaN)
        XCTAssertTrue(Statistics.clopperPearsonUpper(successes: 0, trials: Int.max, alpha: 0.01).isNaN)
        // Boundary cases that are in the domain.
        XCTAssertEqual(Statistics.clopperPearsonLower(successes: 0, trials: 10, alpha: 0.01), 0)
        XCTAssertEqual(Statistics.clopperPearsonUpper(successes: 10, trials: 10, alpha: 0.01), 1)
        XCTAssertEqual(Statistics.clopperPearsonLower(successes: 0, trials: 0, alpha: 0.01), 0)
        XCTAssertEqual(Statistics.clopperPearsonUpper(successes: 0, trials: 0, alpha: 0.01), 1)
    }

    func testLargeCountsStayFastAndSane() {
        // n = 1e7: the continued fraction needs ~sqrt(n) terms; this must neither hang nor lose the bracket.
        let n = 10_000_000, k = 9_990_000
        let lo = Statistics.clopperPearsonLower(successes: k, trials: n, alpha: 1e-3)
        let hi = Statistics.clopperPearsonUpper(successes: k, trials: n, alpha: 1e-3)
        XCTAssertLessThan(lo, 0.999)
        XCTAssertGreaterThan(lo, 0.9989)
        XCTAssertGreaterThan(hi, 0.999)
        XCTAssertLessThan(hi, 0.9991)
        // The lower bound L solves P(X >= k | L) = alpha.
        XCTAssertEqual(Statistics.binomialCDF(k - 1, n: n, p: lo), 1 - 1e-3, accuracy: 1e-12)
    }
}
