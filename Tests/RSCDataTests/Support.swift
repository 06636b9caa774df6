import Foundation
import XCTest
@testable import RSCData

/// Committed fixtures, written by scripts/make_data_fixtures.py.
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

func fixture(_ rel: String) -> URL { fixtures.appendingPathComponent(rel) }

func fixtureBytes(_ rel: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: fixture(rel))) }

/// manifest.json: every fixture and what the readers must make of it.
struct Manifest: Decodable {
    struct Gzip: Decodable { let file, expect, blocks: String }
    struct Array: Decodable {
        let file: String
        let shape: [Int]
        let dtype: String
        let values: [Double]
        let ints: [Int]?
    }
    struct Reject: Decodable { let file, error, text: String }
    let gzip: [Gzip]
    let arrays: [Array]
    let rejects: [Reject]

    static func load() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: fixture("manifest.json")))
    }
}

func caseName(_ e: DataError) -> String {
    switch e {
    case .unreadable: return "unreadable"
    case .truncated: return "truncated"
    case .badMagic: return "badMagic"
    case .unsupported: return "unsupported"
    case .corrupt: return "corrupt"
    case .tooLarge: return "tooLarge"
    case .countMismatch: return "countMismatch"
    }
}

/// Asserts `body` throws a DataError of case `name` whose message contains each of `texts`.
func assertDataError<T>(_ name: String, _ texts: String..., file: StaticString = #filePath, line: UInt = #line,
                        _ body: () throws -> T) {
    do {
        _ = try body()
        XCTFail("expected DataError.\(name), got a result", file: file, line: line)
    } catch let e as DataError {
        XCTAssertEqual(caseName(e), name, "\(e)", file: file, line: line)
        for t in texts { XCTAssertTrue(e.description.contains(t), "'\(e)' lacks '\(t)'", file: file, line: line) }
    } catch {
        XCTFail("expected DataError.\(name), got \(error)", file: file, line: line)
    }
}

/// SplitMix64: a seedable generator so fuzz cases are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Writes DEFLATE bit streams by hand: fields LSB first, Huffman codes MSB first.
struct BitWriter {
    var bytes: [UInt8] = []
    var acc = 0, n = 0
    mutating func put(_ v: Int, _ count: Int) {
        for i in 0..<count {
            acc |= ((v >> i) & 1) << n
            n += 1
            if n == 8 { bytes.append(UInt8(acc)); acc = 0; n = 0 }
        }
    }
    mutating func code(_ c: Int, _ len: Int) {
        for i in stride(from: len - 1, through: 0, by: -1) { put((c >> i) & 1, 1) }
    }
    /// Fixed-code literal/length symbol (RFC 1951 3.2.6).
    mutating func fixedLit(_ s: Int) {
        switch s {
        case 0..<144: code(0x30 + s, 8)
        case 144..<256: code(0x190 + s - 144, 9)
        case 256..<280: code(s - 256, 7)
        default: code(0xC0 + s - 280, 8)
        }
    }
    var finished: [UInt8] { n > 0 ? bytes + [UInt8(acc)] : bytes }
}

/// A `.npy` v1 file with the given header fields and raw payload.
func npyFile(descr: String, shape: String, fortran: Bool = false, payload: [UInt8]) -> [UInt8] {
    var h = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shape), }"
    h += String(repeating: " ", count: 63 - (10 + h.utf8.count) % 64) + "\n"
    return npyMagic + [1, 0, UInt8(h.utf8.count & 0xff), UInt8(h.utf8.count >> 8)] + Array(h.utf8) + payload
}

func tempFile(_ name: String, _ bytes: [UInt8]) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rsc-data-tests-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let url = dir.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url
}
