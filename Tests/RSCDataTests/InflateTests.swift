import XCTest
@testable import RSCData

final class InflateTests: XCTestCase {
    func testCRC32CheckValue() {
        XCTAssertEqual(crc32(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(crc32([]), 0)
        // The 8-byte and 1-byte paths must agree at every split.
        let data = (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for n in 0...data.count {
            let whole = crc32(Array(data[..<n]))
            var bytewise: UInt32 = 0xFFFF_FFFF
            for b in data[..<n] { bytewise = (0..<8).reduce(bytewise ^ UInt32(b)) { c, _ in c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 } }
            XCTAssertEqual(whole, ~bytewise, "length \(n)")
        }
    }

    /// Levels 0, 1, 6, 9, zlib's fixed/Huffman-only/RLE strategies, multi-member, every header
    /// field, zero padding, empty: each must inflate to the original, using the block kinds named.
    func testFixturesInflate() throws {
        let manifest = try Manifest.load()
        XCTAssertGreaterThanOrEqual(manifest.gzip.count, 12)
        for c in manifest.gzip {
            let (out, stats) = try gunzipWithStats(fixtureBytes(c.file), maxOutput: 1 << 24)
            XCTAssertEqual(out, try fixtureBytes(c.expect), c.file)
            switch c.blocks {
            case "stored": XCTAssert(stats.stored > 0 && stats.fixed == 0 && stats.dynamic == 0, "\(c.file): \(stats)")
            case "fixed": XCTAssert(stats.fixed > 0 && stats.dynamic == 0, "\(c.file): \(stats)")
            case "dynamic": XCTAssert(stats.dynamic > 0, "\(c.file): \(stats)")
            default: break
            }
        }
        let multi = try gunzipWithStats(fixtureBytes("gzip/payload.multi.gz"), maxOutput: 1 << 24).stats
        XCTAssertEqual(multi.members, 4)
        XCTAssert(multi.stored > 0 && multi.dynamic > 0, "\(multi)")
    }

    func testOutputCap() throws {
        let bomb = try fixtureBytes("gzip/zeros4m.gz")
        XCTAssertEqual(try gunzip(bomb, maxOutput: 4 << 20).count, 4 << 20)
        for cap in [0, 1 << 20, (4 << 20) - 1] {
            XCTAssertThrowsError(try gunzip(bomb, maxOutput: cap)) { XCTAssertEqual($0 as? InflateError, .tooLarge(limit: cap)) }
        }
    }

    func testChecksumsAreVerified() throws {
        let good = try fixtureBytes("gzip/payload.l6.gz")
        for (offset, message) in [(8, "CRC-32 mismatch (data corrupted)"), (4, "length mismatch (ISIZE)")] {
            var bad = good
            bad[bad.count - offset] ^= 0x10
            XCTAssertThrowsError(try gunzip(bad, maxOutput: 1 << 24)) { XCTAssertEqual($0 as? InflateError, .corrupt(message)) }
        }
        var badHeader = try fixtureBytes("gzip/small.headers.gz")
        badHeader[20] ^= 1  // inside FEXTRA, covered by FHCRC
        XCTAssertThrowsError(try gunzip(badHeader, maxOutput: 1 << 20)) {
            XCTAssertEqual($0 as? InflateError, .corrupt("gzip header CRC mismatch"))
        }
    }

    /// Every strict prefix of a single-member file is cut short somewhere, and must say so.
    func testTruncationThrows() throws {
        for (name, step) in [("gzip/small.headers.gz", 1), ("gzip/small.gz", 1), ("gzip/payload.l6.gz", 37),
                             ("gzip/payload.l0.gz", 101), ("gzip/payload.fixed.gz", 41)] {
            let full = try fixtureBytes(name)
            for n in Swift.stride(from: 0, to: full.count, by: step) {
                XCTAssertThrowsError(try gunzip(Array(full[..<n]), maxOutput: 1 << 24)) { e in
                    guard case .truncated? = e as? InflateError else {
                        if n >= 2 { return XCTFail("\(name)[..<\(n)]: \(e)") }
                        return XCTAssertEqual(e as? InflateError, .corrupt("not a gzip stream (bad magic)"))
                    }
                }
            }
        }
    }

    func testGarbageThrows() throws {
        var rng = SplitMix64(state: 7)
        for n in [0, 1, 5, 100, 5000] {
            let junk = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            XCTAssertThrowsError(try gunzip(junk, maxOutput: 1 << 20))
            XCTAssertThrowsError(try gunzip([0x1f, 0x8b, 8, 0] + Array(repeating: 0, count: 6) + junk, maxOutput: 1 << 20))
        }
        let small = try fixtureBytes("gzip/small.gz")
        XCTAssertThrowsError(try gunzip(small + Array("junk".utf8), maxOutput: 1 << 20)) {
            XCTAssertEqual($0 as? InflateError, .corrupt("trailing garbage after gzip data"))
        }
        var method = small
        method[2] = 7
        XCTAssertThrowsError(try gunzip(method, maxOutput: 1 << 20))
        var flags = small
        flags[3] = 0x20
        XCTAssertThrowsError(try gunzip(flags, maxOutput: 1 << 20))
    }

    /// Random bit flips must never trap or read out of bounds; a flip inside the compressed data
    /// either throws or (in unused padding bits) still yields the original.
    func testBitFlipsNeverCrash() throws {
        var rng = SplitMix64(state: 42)
        for name in ["gzip/payload.l6.gz", "gzip/payload.fixed.gz", "gzip/payload.l1.gz", "gzip/small.headers.gz"] {
            let good = try fixtureBytes(name)
            let original = try gunzip(good, maxOutput: 1 << 24)
            for _ in 0..<150 {
                var bad = good
                let flips = Int.random(in: 1...3, using: &rng)
                for _ in 0..<flips {
                    let i = Int.random(in: 10..<(bad.count - 8), using: &rng)
                    bad[i] ^= 1 << UInt8.random(in: 0...7, using: &rng)
                }
                if let out = try? gunzip(bad, maxOutput: 1 << 24) {
                    XCTAssertEqual(out, original, name)
                }
            }
        }
    }

    // MARK: Hand-made raw DEFLATE

    func testHandMadeBlocks() throws {
        // Stored "abc".
        XCTAssertEqual(try inflateRaw([0x01, 3, 0, 0xfc, 0xff] + Array("abc".utf8), maxOutput: 10), Array("abc".utf8))
        // Fixed: 'a', then a length-3 distance-1 match (an overlapping copy), end of block.
        var w = BitWriter()
        w.put(1, 1); w.put(1, 2)
        w.fixedLit(0x61); w.fixedLit(257); w.code(0, 5); w.fixedLit(256)
        XCTAssertEqual(try inflateRaw(w.finished, maxOutput: 10), Array("aaaa".utf8))
        XCTAssertThrowsError(try inflateRaw(w.finished, maxOutput: 3)) { XCTAssertEqual($0 as? InflateError, .tooLarge(limit: 3)) }
        // Two blocks, the second (final) one empty and stored.
        w = BitWriter()
        w.put(0, 1); w.put(1, 2); w.fixedLit(0x62); w.fixedLit(256)
        w.put(1, 1); w.put(0, 2)
        XCTAssertEqual(try inflateRaw(w.finished + [0, 0, 0xff, 0xff], maxOutput: 10), [0x62])
    }

    func testHandMadeErrors() {
        func expect(_ bytes: [UInt8], _ error: InflateError, line: UInt = #line) {
            XCTAssertThrowsError(try inflateRaw(bytes, maxOutput: 1000), line: line) {
                XCTAssertEqual($0 as? InflateError, error, line: line)
            }
        }
        expect([0x07], .corrupt("invalid DEFLATE block type 3"))
        expect([0x01, 5, 0, 0, 0], .corrupt("stored block length check failed"))
        expect([0x01, 5, 0, 0xfa, 0xff, 1, 2], .truncated("DEFLATE stream cut short"))
        expect([], .truncated("DEFLATE stream cut short"))

        var w = BitWriter()  // a match before any output
        w.put(1, 1); w.put(1, 2); w.fixedLit(257); w.code(0, 5); w.fixedLit(256)
        expect(w.finished, .corrupt("distance too far back"))
        w = BitWriter()  // literal/length symbol 286 exists in the fixed code but is invalid
        w.put(1, 1); w.put(1, 2); w.fixedLit(0x61); w.fixedLit(286)
        expect(w.finished, .corrupt("invalid literal/length symbol"))
        w = BitWriter()  // distance symbol 30 likewise
        w.put(1, 1); w.put(1, 2); w.fixedLit(0x61); w.fixedLit(257); w.code(30, 5)
        expect(w.finished, .corrupt("invalid distance symbol"))

        // Dynamic headers. The code-length code gives symbols 0 and 8 one bit each (0 -> "0", 8 -> "1").
        func dynamic(hlit: Int = 257, _ lengths: (inout BitWriter) -> Void, clens: [Int] = [0, 0, 0, 1, 1]) -> [UInt8] {
            var w = BitWriter()
            w.put(1, 1); w.put(2, 2)
            w.put(hlit - 257, 5); w.put(0, 5); w.put(clens.count - 4, 4)
            for l in clens { w.put(l, 3) }
            lengths(&w)
            return w.finished + [0, 0, 0, 0]
        }
        expect(dynamic({ _ in }, clens: [0, 0, 0, 1, 1, 1, 1]), .corrupt("over-subscribed Huffman code"))
        expect(dynamic({ _ in }, clens: [0, 0, 0, 1, 2]), .corrupt("incomplete Huffman code"))
        // All 256 literals 8 bits, no end-of-block code, no distance code.
        expect(dynamic({ w in for _ in 0..<256 { w.code(1, 1) }; w.code(0, 1); w.code(0, 1) }),
               .corrupt("no end-of-block code"))
        // 200 literals and end-of-block at 8 bits: an incomplete literal/length code.
        expect(dynamic({ w in
            for i in 0..<257 { w.code(i < 200 || i == 256 ? 1 : 0, 1) }
            w.code(0, 1)
        }), .corrupt("incomplete Huffman code"))
        // Repeat-previous (16) as the very first length.
        expect(dynamic({ w in w.code(1, 1); w.put(0, 2) }, clens: [1, 0, 0, 1]), .corrupt("repeat of a code length with none before it"))
        // A zero run (18: 11 + 127 = 138) that overruns the 258 lengths.
        expect(dynamic({ w in w.code(1, 1); w.put(127, 7); w.code(1, 1); w.put(127, 7) }, clens: [0, 0, 1, 1]),
               .corrupt("code lengths overrun their count"))
        expect(dynamic(hlit: 287, { _ in }), .corrupt("too many length or distance codes"))
    }
}
