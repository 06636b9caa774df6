import XCTest

@testable import RSC

/// Sequential certification in Swift: the schedule, the decision rule on hand-fed counts,
/// determinism and the agreement with CERTIFY. (Statistical validity: bindings/python/tests/
/// test_sequential.py, on the analytic linear model.)
final class SequentialTests: XCTestCase {
    let model = try! Model(contentsOf: FixtureTests.directory.appendingPathComponent("conv_lif.rscm"))
    let x: [Float] = (0..<144).map { Float(($0 * 37) % 100) / 100 }

    func testSchedule() {
        let s = SequentialCertifyParameters(nMax: 100_000, alpha: 0.001).schedule
        XCTAssertEqual(s.prefix(5).map(\.passes), [64, 96, 144, 216, 324])
        XCTAssertEqual(s.last?.passes, 100_000)
        XCTAssertEqual(s.count, 20)
        XCTAssertEqual(s.map(\.alpha).reduce(0, +), 0.001, accuracy: 1e-15)
        XCTAssert(zip(s, s.dropFirst()).allSatisfy { $0.passes < $1.passes })
        let one = SequentialCertifyParameters(nMax: 64, alpha: 0.01).schedule
        XCTAssertEqual(one.map(\.passes), [64])
        XCTAssertEqual(one[0].alpha, 0.01)
    }

    func testDecisionOnHandFedCounts() {
        let p = SequentialCertifyParameters(nMax: 100_000, alpha: 0.001)
        let thresholds = [0.5, Statistics.normalCDF(2), Statistics.normalCDF(4)]
        // Unanimous votes: 1/2 and Phi(2) certified once 0.00005^(1/n) >= Phi(2), i.e. at the
        // first look >= 431 (486); Phi(4) (n ~ 3e5 unanimous passes) is out of reach from the
        // first look on.
        var d = SequentialDecision(schedule: p.schedule, thresholds: thresholds)
        var looks: [Int] = []
        while let (_, to) = d.nextBlock {
            d.look(successes: to)
            looks.append(to)
        }
        XCTAssertEqual(looks, [64, 96, 144, 216, 324, 486])
        XCTAssertEqual(d.certified, 2)
        XCTAssertEqual(d.passes, 486)
        XCTAssertEqual(d.lower, pow(0.001 / 20, 1.0 / 486), accuracy: 1e-12)
        // Votes at rate 0.9: 1/2 certified at once, Phi(2) dropped when the upper bound at the
        // projected count shows it cannot be reached.
        d = SequentialDecision(schedule: p.schedule, thresholds: thresholds)
        while let (_, to) = d.nextBlock { d.look(successes: Int(0.9 * Double(to))) }
        XCTAssertEqual(d.certified, 1)
        XCTAssertLessThan(d.passes, 1000)
        // A rate just at the threshold takes long to decide, and is not certified: it is dropped
        // once even the upper bound's rate would not lift a later lower bound to it.
        d = SequentialDecision(schedule: p.schedule, thresholds: [0.8])
        while let (_, to) = d.nextBlock { d.look(successes: Int(0.8 * Double(to))) }
        XCTAssertEqual(d.certified, 0)
        XCTAssertGreaterThan(d.passes, 10_000)
        // Undecided at nMax: not certified, stopped there.
        d = SequentialDecision(schedule: SequentialCertifyParameters(nMax: 1000, alpha: 0.001).schedule,
                               thresholds: [0.5, 0.9])
        while let (_, to) = d.nextBlock { d.look(successes: Int(0.93 * Double(to))) }
        XCTAssertEqual(d.certified, 1)
        XCTAssertEqual(d.passes, 1000)
        // The running lower bound never decreases.
        d = SequentialDecision(schedule: p.schedule, thresholds: [0.99999])
        var last = 0.0
        var k = 0
        while let (from, to) = d.nextBlock {
            k += (to - from) - (d.looks == 3 ? 50 : 0)
            d.look(successes: k)
            XCTAssertGreaterThanOrEqual(d.lower, last)
            last = d.lower
        }
    }

    func testDeterministicAcrossThreads() throws {
        let radii = [0.0, 0.05, 0.1, 0.3]
        let runs = try [1, 2, 4].map {
            try model.certifySequential(x, parameters: SequentialCertifyParameters(n0: 50, nMax: 20_000, alpha: 0.01,
                                                                                   radii: radii, seed: 3, threads: $0))
        }
        XCTAssertEqual(runs[0], runs[1])
        XCTAssertEqual(runs[0], runs[2])
        XCTAssertTrue(SequentialCertifyParameters(nMax: 20_000, alpha: 0.01).schedule.map(\.passes)
            .contains(runs[0].passes))
    }

    func testOneLookIsCertify() throws {
        let c = try model.certify(x, parameters: CertifyParameters(n0: 40, n: 60, alpha: 0.01, seed: 5, stream: 2))
        let s = try model.certifySequential(x, parameters: SequentialCertifyParameters(
            n0: 40, nMax: 60, alpha: 0.01, radii: [0], seed: 5, stream: 2))
        XCTAssertEqual(s.selected, c.selected)
        XCTAssertEqual(s.countSelected, c.countSelected)
        XCTAssertEqual(s.pALower, c.pALower)
        XCTAssertEqual(s.label, c.label)
        XCTAssertEqual(s.passes, 60)
    }

    func testArgumentErrors() {
        for p in [SequentialCertifyParameters(nMax: 0), SequentialCertifyParameters(radii: [-1]),
                  SequentialCertifyParameters(radii: [.nan]), SequentialCertifyParameters(alpha: 0),
                  SequentialCertifyParameters(radii: Array(repeating: 0.1, count: 1025))] {
            XCTAssertThrowsError(try model.certifySequential(x, parameters: p)) {
                XCTAssertEqual(($0 as? RSCError)?.status, 2)
            }
        }
    }
}
