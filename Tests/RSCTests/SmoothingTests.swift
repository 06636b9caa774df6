import Foundation
import XCTest

@testable import RSC

/// The Swift API of predict/certify on a fixture: determinism across thread counts, stream keying,
/// argument errors. (Statistical correctness of the certificate: bindings/python/tests.)
final class SmoothingTests: XCTestCase {
    let model = try! Model(contentsOf: FixtureTests.directory.appendingPathComponent("conv_lif.rscm"))
    let x: [Float] = (0..<144).map { Float(($0 * 37) % 100) / 100 }

    func testCountsDoNotDependOnThreads() throws {
        let one = try model.predict(x, parameters: PredictParameters(n: 2500, seed: 3, threads: 1))
        let two = try model.predict(x, parameters: PredictParameters(n: 2500, seed: 3, threads: 2))
        let four = try model.predict(x, parameters: PredictParameters(n: 2500, seed: 3, threads: 4))
        XCTAssertEqual(one, two)
        XCTAssertEqual(one, four)
        XCTAssertEqual(one.counts.reduce(0, +), 2500)
        let c1 = try model.certify(x, parameters: CertifyParameters(n0: 64, n: 3000, seed: 3, threads: 1))
        let c2 = try model.certify(x, parameters: CertifyParameters(n0: 64, n: 3000, seed: 3, threads: 2))
        XCTAssertEqual(c1, c2)
    }

    /// A batch equals one call per input on streams first + i, whatever the thread count: the
    /// (input, pass) items may be split across threads and chunks in any way.
    func testBatchEqualsSingleCalls() throws {
        let inputs: [[Float]] = (0..<5).map { k in x.map { min(1, $0 + Float(k) * 0.1) } }
        let flat = inputs.flatMap { $0 }
        for threads in [1, 2, 3] {
            let c = try flat.withUnsafeBufferPointer {
                try model.certifyBatch($0, count: 5, parameters: CertifyParameters(n0: 30, n: 200, seed: 4, stream: 10,
                                                                                   threads: threads), progress: nil)
            }
            let p = try flat.withUnsafeBufferPointer {
                try model.predictBatch($0, count: 5, parameters: PredictParameters(n: 150, seed: 4, stream: 10,
                                                                                   threads: threads), progress: nil)
            }
            for (i, xi) in inputs.enumerated() {
                XCTAssertEqual(c[i], try model.certify(xi, parameters: CertifyParameters(n0: 30, n: 200, seed: 4,
                                                                                        stream: 10 + UInt64(i), threads: 1)))
                XCTAssertEqual(p[i], try model.predict(xi, parameters: PredictParameters(n: 150, seed: 4,
                                                                                        stream: 10 + UInt64(i), threads: 1)))
            }
        }
        XCTAssertThrowsError(try flat.withUnsafeBufferPointer {
            try model.predictBatch($0, count: 4, parameters: PredictParameters(n: 10), progress: nil)
        }) { guard case .inputSize = $0 as? RSCError else { return XCTFail("\($0)") } }
    }

    func testStreamsAreIndependentNoise() throws {
        let a = try model.predict(x, parameters: PredictParameters(n: 2000, stream: 1))
        let b = try model.predict(x, parameters: PredictParameters(n: 2000, stream: 2))
        XCTAssertNotEqual(a.counts, b.counts)
        XCTAssertEqual(a, try model.predict(x, parameters: PredictParameters(n: 2000, stream: 1)))
    }

    func testArgumentErrors() {
        XCTAssertThrowsError(try model.predict(x, parameters: PredictParameters(n: 0))) {
            XCTAssertEqual(($0 as? RSCError)?.status, 2)
        }
        XCTAssertThrowsError(try model.certify(x, parameters: CertifyParameters(alpha: 1))) {
            XCTAssertEqual(($0 as? RSCError)?.status, 2)
        }
        XCTAssertThrowsError(try model.certify(Array(x.dropLast()))) {
            guard case .inputSize = $0 as? RSCError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try model.forward([Float](repeating: .nan, count: 4 * 144))) {
            guard case .inputValue = $0 as? RSCError else { return XCTFail("\($0)") }
        }
        // The same checks without running anything (rsc-cli validates its options this way).
        XCTAssertThrowsError(try PredictParameters(n: 0).validate()) { XCTAssertEqual(($0 as? RSCError)?.status, 2) }
        XCTAssertThrowsError(try CertifyParameters(n0: 0).validate()) { XCTAssertEqual(($0 as? RSCError)?.status, 2) }
        XCTAssertThrowsError(try CertifyParameters(alpha: .nan).validate()) { XCTAssertEqual(($0 as? RSCError)?.status, 2) }
        XCTAssertThrowsError(try PredictParameters(threads: -1).validate()) { XCTAssertEqual(($0 as? RSCError)?.status, 2) }
        XCTAssertNoThrow(try CertifyParameters().validate())
        XCTAssertEqual(try model.certificateScale(), model.info.sigmaEffective)
        XCTAssertThrowsError(try Model(contentsOf: URL(string: "https://example.com/model.rscm")!)) {
            XCTAssertEqual(($0 as? RSCError)?.status, 2)
        }
    }

    func testCancellation() {
        var calls = 0
        XCTAssertThrowsError(try model.certify(x, parameters: CertifyParameters(n: 50_000)) { _ in
            calls += 1
            return calls < 3
        }) { XCTAssertEqual(($0 as? RSCError)?.status, 16) }
        XCTAssertEqual(calls, 3)
    }

    func testBadBytesThrowNotTrap() {
        for bytes in [[UInt8](), [0x89, 0x52], [UInt8](repeating: 0xFF, count: 300)] {
            XCTAssertThrowsError(try Model(bytes: bytes))
        }
    }
}
