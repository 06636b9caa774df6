import CRSCKernel
import Foundation
import XCTest

final class PhiloxTests: XCTestCase {
    /// Random123's kat_vectors for philox4x32-10.
    func testKnownAnswers() {
        let cases: [([UInt32], rsck_key, [UInt32])] = [
            ([0, 0, 0, 0], rsck_key(k0: 0, k1: 0), [0x6627_E8D5, 0xE169_C58D, 0xBC57_AC4C, 0x9B00_DBD8]),
            ([.max, .max, .max, .max], rsck_key(k0: .max, k1: .max), [0x408F_276D, 0x41C8_3B0E, 0xA20B_C7C6, 0x6D54_51FD]),
            ([0x243F_6A88, 0x85A3_08D3, 0x1319_8A2E, 0x0370_7344], rsck_key(k0: 0xA409_3822, k1: 0x299F_31D0),
             [0xD16C_FE09, 0x94FD_CCEB, 0x5001_E420, 0x2412_6EA1]),
        ]
        for (ctr, key, expected) in cases {
            var out = [UInt32](repeating: 0, count: 4)
            rsck_philox4x32_10(ctr, key, &out)
            XCTAssertEqual(out, expected)
        }
    }

    func testDerivedKeysDifferPerSeedAndStream() {
        let keys = [(0, 0), (0, 1), (1, 0), (1, 1), (UInt64.max, 0), (0, 1 << 32)].map { rsck_derive_key($0.0, $0.1) }
        let distinct = Set(keys.map { UInt64($0.k0) << 32 | UInt64($0.k1) })
        XCTAssertEqual(distinct.count, keys.count)
    }

    /// The vectorized Box-Muller (Cephes polynomials, 16 blocks at a time) against a float64
    /// Box-Muller with libm on the same Philox words: element 4b + k from lanes of block b.
    func testGaussianMatchesDoublePrecisionBoxMuller() {
        let key = rsck_derive_key(5, 9), n = 1000 + 3
        var z = [Float](repeating: 0, count: n)
        rsck_gaussian(key, 2, 77, 3, &z, n)
        var worst = 0.0
        for b in 0..<((n + 3) / 4) {
            var r = [UInt32](repeating: 0, count: 4)
            rsck_philox4x32_10([UInt32(b), 3, 77, 2], key, &r)
            for pair in 0..<2 {
                // The radius word and the angle word of the pair (u refined below 2^-16).
                let (wu, wv) = (r[2 * pair], r[2 * pair + 1])
                let fine: UInt32 = (wu << 8) | (wv & 0xFF), coarse: UInt32 = wu >> 8
                let u: Double = wu < 0x10000 ? Double(fine + 1) * 0x1p-40 : Double(coarse + 1) * 0x1p-24
                let v: Double = Double(wv >> 8) * 0x1p-24 - 0.5
                let radius = (-2 * log(u)).squareRoot(), angle = 2 * Double.pi * v
                for (k, want) in [radius * cos(angle), radius * sin(angle)].enumerated() where 4 * b + 2 * pair + k < n {
                    worst = max(worst, abs(Double(z[4 * b + 2 * pair + k]) - want))
                }
            }
        }
        XCTAssertLessThan(worst, 5e-6, "largest |float - double| over \(n) normals")
    }

    /// Moments and tail of the Box-Muller normals; and that element i does not depend on how many
    /// elements are requested (a pass generates d of them; a partial last block must agree).
    func testGaussianStream() {
        let n = 400_000
        var z = [Float](repeating: 0, count: n)
        rsck_gaussian(rsck_derive_key(42, 7), 1, 3, 2, &z, n)
        let mean = z.reduce(0.0) { $0 + Double($1) } / Double(n)
        let variance = z.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(n)
        XCTAssertEqual(mean, 0, accuracy: 5 / Double(n).squareRoot())
        XCTAssertEqual(variance, 1, accuracy: 0.01)
        let beyond2 = Double(z.filter { abs($0) > 2 }.count) / Double(n)
        XCTAssertEqual(beyond2, 0.0455, accuracy: 0.002)
        var head = [Float](repeating: 0, count: 7)
        rsck_gaussian(rsck_derive_key(42, 7), 1, 3, 2, &head, 7)
        XCTAssertEqual(head, Array(z[0..<7]))
        var other = [Float](repeating: 0, count: 7)
        rsck_gaussian(rsck_derive_key(42, 7), 1, 3, 3, &other, 7)
        XCTAssertNotEqual(head, other, "a different step must give different noise")
    }

    /// The tail the certificate assumes. A 24-bit radius uniform never draws r = |(z0, z1)| beyond
    /// sqrt(48 ln 2) = 5.77; rsck_gaussian refines the uniform to the 2^-40 grid below 2^-16.
    /// Found by their Philox words, the refined pairs (about 32 of 2^21) must follow the refined
    /// formula in double precision, and every other pair must equal the 24-bit generator's.
    func testGaussianTailIsRefined() {
        let key = rsck_derive_key(3, 1), blocks = 1 << 20, n = 4 * blocks
        var z = [Float](repeating: 0, count: n), old = [Float](repeating: 0, count: n)
        rsck_gaussian(key, 2, 5, 1, &z, n)
        rsck_gaussian_24bit(key, 2, 5, 1, &old, n)
        var refined = Set<Int>(), worst = 0.0, largest = 0.0
        var r = [UInt32](repeating: 0, count: 4)
        for b in 0..<blocks {
            rsck_philox4x32_10([UInt32(b), 1, 5, 2], key, &r)
            for pair in 0..<2 where r[2 * pair] < 0x10000 {
                let (wu, wv) = (r[2 * pair], r[2 * pair + 1])
                let u = Double((wu << 8 | wv & 0xFF) + 1) * 0x1p-40, v = Double(wv >> 8) * 0x1p-24 - 0.5
                let radius = (-2 * log(u)).squareRoot(), angle = 2 * Double.pi * v
                let e = 4 * b + 2 * pair
                refined.insert(e)
                largest = max(largest, radius)
                worst = max(worst, abs(Double(z[e]) - radius * cos(angle)), abs(Double(z[e + 1]) - radius * sin(angle)))
            }
        }
        XCTAssertGreaterThan(refined.count, 10)
        XCTAssertLessThan(worst, 1e-5, "largest |float - double| over the refined pairs")
        XCTAssertGreaterThan(largest, 4.71)
        var same = true
        for e in stride(from: 0, to: n, by: 2) where !refined.contains(e) { same = same && z[e] == old[e] && z[e + 1] == old[e + 1] }
        XCTAssertTrue(same, "pairs outside the refined cells equal the 24-bit generator's")
        let oldLargest = old.map { Double($0).magnitude }.max()!
        XCTAssertLessThanOrEqual(oldLargest, (48 * log(2.0)).squareRoot() + 1e-4)
    }
}
