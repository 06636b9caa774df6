import Foundation
import XCTest

@testable import RSC

/// The Swift reader and kernel against the fixtures written by the Python writer
/// (scripts/make_fixtures.py): header fields, and forward logits against the float64 reference.
final class FixtureTests: XCTestCase {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let names = ["tiny_linear", "conv_lif", "conv_if_soft", "poisson_mlp", "direct_mlp",
                        "resnet_spiking", "sew_iand", "sew_add"]  // the last three: version 2 graphs

    struct Sidecar: Decodable {
        let name: String, coding: String, sigma: Double, time_steps: Int, num_classes: Int
        let input_shape: [Int], class_names: [String], layer_kinds: [String]
        let u: [[Float]], logits: [Double], prediction: Int
    }

    func sidecar(_ name: String) throws -> Sidecar {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent("\(name).json"))
        return try JSONDecoder().decode(Sidecar.self, from: data)
    }

    func testHeaderFieldsMatchTheWriter() throws {
        for name in Self.names {
            let s = try sidecar(name)
            let m = try Model(contentsOf: Self.directory.appendingPathComponent("\(name).rscm"))
            XCTAssertEqual(m.info.name, s.name)
            XCTAssertEqual(m.info.coding.name, s.coding)
            XCTAssertEqual(m.info.sigma, s.sigma, accuracy: 1e-7)
            XCTAssertEqual(m.info.timeSteps, s.time_steps)
            XCTAssertEqual(m.info.numClasses, s.num_classes)
            XCTAssertEqual([m.info.inputShape.channels, m.info.inputShape.height, m.info.inputShape.width], s.input_shape)
            XCTAssertEqual(m.info.classNames, s.class_names)
            XCTAssertEqual(m.info.numLayers, s.layer_kinds.count)
        }
    }

    /// The int8 / fixed-point kernel follows the float64 reference: same class, logits within the
    /// quantization error (docs/kernel.md derives the bound this tolerance stays under).
    func testForwardMatchesReference() throws {
        for name in Self.names {
            let s = try sidecar(name)
            let m = try Model(contentsOf: Self.directory.appendingPathComponent("\(name).rscm"))
            let logits = try m.forward(s.u.flatMap { $0 })
            let worst = zip(logits, s.logits).map { abs($0 - $1) }.max()!
            print("\(name): max |logit - reference| = \(worst)")
            XCTAssertEqual(logits.indices.max { logits[$0] < logits[$1] }, s.prediction, name)
            XCTAssertLessThan(worst, 0.02, name)
        }
    }
}
