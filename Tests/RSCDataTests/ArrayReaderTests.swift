import XCTest
@testable import RSCData

/// .npy and idx readers, on the fixtures and on hand-made files.
final class ArrayReaderTests: XCTestCase {
    /// Each dtype (u1, i1, u2, i2, u4, i4, u8, i8, f2, f4, f8, bool, big-endian ones), shapes from
    /// () to 5-D and empty, npy v1/v2/v3, gzipped npy, idx of each type byte, raw and gzipped.
    func testFixturesRead() throws {
        let manifest = try Manifest.load()
        XCTAssertGreaterThanOrEqual(manifest.arrays.count, 36)
        for c in manifest.arrays {
            let a = try readArray(fixture(c.file), maxDecompressedBytes: 1 << 20)
            XCTAssertEqual(a.shape, c.shape, c.file)
            XCTAssertEqual(a.dtype.name, c.dtype, c.file)
            let floats = a.floats(scaleUInt8: false)
            // Integers go to Float in one rounding, as Float(Int) does; JSON doubles would round twice.
            let expected = c.ints.map { $0.map(Float.init) } ?? c.values.map { Float($0) }
            XCTAssertEqual(floats, expected, c.file)
            if let ints = c.ints { XCTAssertEqual(try a.ints(file: c.file), ints, c.file) }
        }
    }

    func testRejects() throws {
        let manifest = try Manifest.load()
        XCTAssertGreaterThanOrEqual(manifest.rejects.count, 15)
        for c in manifest.rejects {
            assertDataError(c.error, c.text, fixture(c.file).path) { try readArray(fixture(c.file), maxDecompressedBytes: 1 << 20) }
        }
    }

    func testIDXMatchesGzippedIDX() throws {
        for name in ["images", "labels"] {
            let raw = try readArray(fixture("idx/\(name).idx"), maxDecompressedBytes: 1 << 20)
            let gz = try readArray(fixture("idx/\(name).idx.gz"), maxDecompressedBytes: 1 << 20)
            XCTAssertEqual(raw.shape, gz.shape)
            XCTAssertEqual(raw.floats(scaleUInt8: false), gz.floats(scaleUInt8: false))
        }
        let labels = try readArray(fixture("idx/labels.idx.gz"), maxDecompressedBytes: 1 << 20)
        XCTAssertEqual(try labels.ints(file: ""), [9, 0, 3, 3, 7])
        let images = try readArray(fixture("idx/images.idx"), maxDecompressedBytes: 1 << 20)
        XCTAssertEqual(images.shape, [5, 4, 3])
        XCTAssertEqual(Array(images.floats(scaleUInt8: true)[..<3]), [0, 1, 128 / 255])
    }

    func testUInt64AboveIntMax() throws {
        let payload: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff] + [1, 0, 0, 0, 0, 0, 0, 0]
        let a = try parseNPY(npyFile(descr: "<u8", shape: "(2,)", payload: payload), file: "big.npy")
        XCTAssertEqual(a.floats(scaleUInt8: false), [0x1p64, 1])
        assertDataError("corrupt", "big.npy", "index 0 does not fit") { try a.ints(file: "big.npy") }
    }

    func testHeaderVariants() throws {
        let payload = (0..<6).flatMap { i in withUnsafeBytes(of: Float(i).bitPattern.littleEndian, Array.init) }
        for shape in ["(2, 3)", "(2,3,)", "[2, 3]", "(2L, 3L)"] {
            let a = try parseNPY(npyFile(descr: "<f4", shape: shape, payload: payload), file: "x.npy")
            XCTAssertEqual(a.shape, [2, 3], shape)
            XCTAssertEqual(a.floats(scaleUInt8: false), [0, 1, 2, 3, 4, 5])
        }
        assertDataError("corrupt", "'shape' holds") { try parseNPY(npyFile(descr: "<f4", shape: "(2, -3)", payload: payload), file: "x") }
        assertDataError("corrupt", "'shape' is not a tuple") { try parseNPY(npyFile(descr: "<f4", shape: "6", payload: payload), file: "x") }
        assertDataError("corrupt", "too large") {
            try parseNPY(npyFile(descr: "<f8", shape: "(\(Int.max), 2)", payload: payload), file: "x")
        }
        assertDataError("unsupported", "element type '<f16'") { try parseNPY(npyFile(descr: "<f16", shape: "(2,)", payload: payload), file: "x") }
        assertDataError("unsupported", "element type '|u2'") { try parseNPY(npyFile(descr: "|u2", shape: "(2,)", payload: payload), file: "x") }
        // Deep nesting is refused, not recursed into.
        let deep = String(repeating: "(", count: 10_000)
        assertDataError("corrupt", "not a Python dict") { try parseNPY(npyFile(descr: "<f4", shape: deep, payload: payload), file: "x") }
    }

    func testHalfFloats() {
        XCTAssertEqual(halfToFloat(0x3c00), 1)
        XCTAssertEqual(halfToFloat(0xc000), -2)
        XCTAssertEqual(halfToFloat(0x7bff), 65504)
        XCTAssertEqual(halfToFloat(0x0001), 0x1p-24)
        XCTAssertEqual(halfToFloat(0x03ff), 1023 * 0x1p-24)
        XCTAssertEqual(halfToFloat(0x8000).sign, .minus)
        XCTAssertEqual(halfToFloat(0x7c00), .infinity)
        XCTAssertEqual(halfToFloat(0xfc00), -.infinity)
        XCTAssertTrue(halfToFloat(0x7e00).isNaN)
    }

    // MARK: Writer

    /// NPY.encode must give numpy.save's exact bytes.
    func testWriterMatchesNumpy() throws {
        XCTAssertEqual(NPY.encode((0..<24).map { Float($0) / 7 }, shape: [4, 6]), try fixtureBytes("npy/f4_writer_ref.npy"))
        XCTAssertEqual(NPY.encode((0..<10).map(Float.init), shape: [10]), try fixtureBytes("npy/f4_writer_ref_1d.npy"))
    }

    func testWriterRoundTrip() throws {
        var rng = SplitMix64(state: 3)
        for shape in [[], [0], [3], [2, 3, 4], [1, 2, 1, 3], [0, 5], Array(repeating: 1, count: 25_000) + [2]] {
            let values = (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1e6...1e6, using: &rng) }
            let url = try tempFile("rt.npy", [])
            try NPY.write(values, shape: shape, to: url)
            let bytes = try fixtureBytesAt(url)
            XCTAssertEqual(bytes[6], shape.count > 20_000 ? 2 : 1, "version for \(shape.count) axes")
            XCTAssertEqual(bytes.count % 64, (4 * values.count) % 64, "data starts on a 64-byte boundary")
            let a = try readArray(url, maxDecompressedBytes: 0)
            XCTAssertEqual(a.shape, shape)
            XCTAssertEqual(a.dtype.name, "<f4")
            XCTAssertEqual(a.floats(scaleUInt8: false), values)
        }
    }

    private func fixtureBytesAt(_ url: URL) throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }
}
