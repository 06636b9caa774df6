// gzip (RFC 1952) and DEFLATE (RFC 1951) decoding. Written here because Swift on Linux has no
// zlib binding and the project takes no outside packages. Every malformed input throws: all
// reads are bounds-checked against the input, every back-reference against the output, and the
// output never grows past a caller-given cap (a few KB of gzip can claim gigabytes).

enum InflateError: Error, Equatable {
    case truncated(String)
    case corrupt(String)
    case tooLarge(limit: Int)
    /// Internal: the output reached the prefix the caller asked for (gunzipPrefix).
    case reachedPrefix
}

/// Block types seen while decoding, for tests that check each kind was exercised.
struct InflateStats: Equatable {
    var stored = 0, fixed = 0, dynamic = 0, members = 0
}

/// Decompresses a whole gzip file: every member, concatenated, each checked against its CRC-32
/// and ISIZE. Zero bytes between or after members are skipped (as gzip(1) and Python do); any
/// other trailing data throws.
func gunzip(_ input: [UInt8], maxOutput: Int) throws -> [UInt8] {
    try gunzipWithStats(input, maxOutput: maxOutput).bytes
}

/// The first `prefix` bytes (or more, by up to one DEFLATE block's copy) of a gzip file's data,
/// without decompressing the rest; `complete` when the whole file was decompressed (and its CRCs
/// checked) because it holds no more than that. Memory and time follow the prefix, not the file.
func gunzipPrefix(_ input: [UInt8], maxOutput: Int, prefix: Int) throws -> (bytes: [UInt8], complete: Bool) {
    do {
        return (try gunzipWithStats(input, maxOutput: maxOutput, stopAt: prefix).bytes, true)
    } catch let e as PrefixReached {
        return (e.bytes, false)
    }
}

private struct PrefixReached: Error { let bytes: [UInt8] }

func gunzipWithStats(_ input: [UInt8], maxOutput: Int, stopAt: Int = Int.max) throws -> (bytes: [UInt8], stats: InflateStats) {
    try input.withUnsafeBufferPointer { buf in
        guard buf.count >= 2, buf[0] == 0x1f, buf[1] == 0x8b else { throw InflateError.corrupt("not a gzip stream (bad magic)") }
        // The last member's ISIZE is the whole size for the usual single-member file; it is only a
        // hint, bounded by the cap and by DEFLATE's best ratio (~1032:1) so a forged one can't
        // make us allocate much.
        var hint = 1 << 16
        if buf.count >= 18 {
            let e = buf.count
            let isize = Int(buf[e - 4]) | Int(buf[e - 3]) << 8 | Int(buf[e - 2]) << 16 | Int(buf[e - 1]) << 24
            hint = min(max(isize, 1 << 10), maxOutput, buf.count * 1032)
        }
        var inf = Inflater(input: buf, maxOutput: maxOutput, capacityHint: min(hint, stopAt))
        inf.stopAt = stopAt
        defer { inf.release() }
        do {
            try members(&inf, buf)
        } catch InflateError.reachedPrefix {
            throw PrefixReached(bytes: Array(UnsafeBufferPointer(start: inf.out, count: inf.outCount)))
        }
        return (Array(UnsafeBufferPointer(start: inf.out, count: inf.outCount)), inf.stats)
    }
}

private func members(_ inf: inout Inflater, _ buf: UnsafeBufferPointer<UInt8>) throws {
    while true {
        if inf.stats.members > 0 {
            while inf.pos < buf.count && buf[inf.pos] == 0 { inf.pos += 1 }
            if inf.pos == buf.count { break }
        }
        try inf.gzipHeader()
        let start = inf.outCount
        try inf.inflateStream()
        inf.alignToByte()
        guard buf.count - inf.pos >= 8 else { throw InflateError.truncated("gzip trailer cut short") }
        let p = inf.pos
        func le32(_ i: Int) -> UInt32 {
            UInt32(buf[i]) | UInt32(buf[i + 1]) << 8 | UInt32(buf[i + 2]) << 16 | UInt32(buf[i + 3]) << 24
        }
        let crc = crc32(UnsafeBufferPointer(start: inf.out + start, count: inf.outCount - start))
        guard crc == le32(p) else { throw InflateError.corrupt("CRC-32 mismatch (data corrupted)") }
        guard UInt32(truncatingIfNeeded: inf.outCount - start) == le32(p + 4) else {
            throw InflateError.corrupt("length mismatch (ISIZE)")
        }
        inf.pos += 8
        inf.stats.members += 1
        if inf.pos == buf.count { break }
    }
}

/// Decompresses one raw DEFLATE stream (no header); bytes after its final block are ignored.
func inflateRaw(_ input: [UInt8], maxOutput: Int) throws -> [UInt8] {
    try input.withUnsafeBufferPointer { buf in
        var inf = Inflater(input: buf, maxOutput: maxOutput, capacityHint: min(maxOutput, 1 << 16))
        defer { inf.release() }
        try inf.inflateStream()
        return Array(UnsafeBufferPointer(start: inf.out, count: inf.outCount))
    }
}

// MARK: - CRC-32 (slicing by 8: the check is a second full pass over the output)

private let crcTables: [UInt32] = {
    var t = [UInt32](repeating: 0, count: 8 * 256)
    for n in 0..<256 {
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        t[n] = c
    }
    for k in 1..<8 {
        for n in 0..<256 {
            let prev = t[(k - 1) * 256 + n]
            t[k * 256 + n] = (prev >> 8) ^ t[Int(prev & 0xff)]
        }
    }
    return t
}()

func crc32(_ data: UnsafeBufferPointer<UInt8>, initial: UInt32 = 0) -> UInt32 {
    crcTables.withUnsafeBufferPointer { t in
        var c = ~initial
        var i = 0
        let n = data.count
        if n >= 8, let p = data.baseAddress {
            while i + 8 <= n {
                let w = UInt64(littleEndian: UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self))
                let lo = UInt32(truncatingIfNeeded: w) ^ c
                let hi = UInt32(truncatingIfNeeded: w >> 32)
                c = t[7 * 256 + Int(lo & 0xff)] ^ t[6 * 256 + Int((lo >> 8) & 0xff)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xff)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xff)] ^ t[2 * 256 + Int((hi >> 8) & 0xff)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xff)] ^ t[Int(hi >> 24)]
                i += 8
            }
        }
        while i < n {
            c = t[Int((c ^ UInt32(data[i])) & 0xff)] ^ (c >> 8)
            i += 1
        }
        return ~c
    }
}

func crc32(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBufferPointer { crc32($0) } }

// MARK: - Inflater

// Huffman table entry, one UInt32 per (bit-reversed) code prefix, zlib style, so the hot loop
// needs no side tables:
//   bits 0-3   code length (0 = no code has this prefix: invalid)
//   bits 4-5   kind: 0 literal, 1 length/distance base, 2 end of block, 3 invalid symbol
//   bits 8-12  extra bits to read after the code
//   bits 16-31 literal byte, base value, or (code-length code) the symbol
private let kindLiteral: UInt32 = 0, kindBase: UInt32 = 1, kindEnd: UInt32 = 2, kindInvalid: UInt32 = 3

private let lengthBase: [UInt32] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59,
                                    67, 83, 99, 115, 131, 163, 195, 227, 258]
private let lengthExtra: [UInt32] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
private let distBase: [UInt32] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
                                  1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
private let distExtra: [UInt32] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10,
                                   11, 11, 12, 12, 13, 13]
/// Order in which code-length code lengths are sent (RFC 1951 3.2.7).
private let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

private func litLenEntry(_ sym: Int) -> UInt32 {
    switch sym {
    case 0..<256: return kindLiteral << 4 | UInt32(sym) << 16
    case 256: return kindEnd << 4
    case 257...285: return kindBase << 4 | lengthExtra[sym - 257] << 8 | lengthBase[sym - 257] << 16
    default: return kindInvalid << 4  // 286, 287: part of the fixed code, never valid in data
    }
}

private func distEntry(_ sym: Int) -> UInt32 {
    sym < 30 ? kindBase << 4 | distExtra[sym] << 8 | distBase[sym] << 16 : kindInvalid << 4
}

private func codeLenEntry(_ sym: Int) -> UInt32 { UInt32(sym) << 16 }

/// State for decoding DEFLATE from `input` into a growing, manually managed output buffer
/// (Array appends cost too much in the hot loop). Call `release()` when done.
struct Inflater {
    let input: UnsafeBufferPointer<UInt8>
    var pos = 0
    var bitBuf: UInt64 = 0
    /// Valid bits in bitBuf. Bits above it may hold the true next input bits (the word refill
    /// loads ahead) or zeros, never anything else.
    var bitCount = 0

    var out: UnsafeMutablePointer<UInt8>
    var outCount = 0
    var outCap: Int
    let maxOutput: Int
    /// Stop (InflateError.reachedPrefix) once this much output exists: the caller wants a prefix.
    var stopAt = Int.max
    /// Where the current DEFLATE stream began: back-references may not reach before it.
    var streamStart = 0
    var stats = InflateStats()

    // Tables sized for the longest code allowed (15 bits); each block uses 1 << maxLen of it.
    let litTable = UnsafeMutablePointer<UInt32>.allocate(capacity: 1 << 15)
    let distTable = UnsafeMutablePointer<UInt32>.allocate(capacity: 1 << 15)
    let lenTable = UnsafeMutablePointer<UInt32>.allocate(capacity: 1 << 7)

    init(input: UnsafeBufferPointer<UInt8>, maxOutput: Int, capacityHint: Int) {
        self.input = input
        self.maxOutput = max(0, maxOutput)
        outCap = max(1, min(capacityHint, self.maxOutput))
        out = .allocate(capacity: outCap)
    }

    func release() {
        out.deallocate()
        litTable.deallocate()
        distTable.deallocate()
        lenTable.deallocate()
    }

    // MARK: Bits

    /// Tops bitBuf up to at least 56 valid bits while input lasts.
    @inline(__always) mutating func refill() {
        if input.count - pos >= 8 {
            let w = UnsafeRawPointer(input.baseAddress! + pos).loadUnaligned(as: UInt64.self)
            bitBuf |= UInt64(littleEndian: w) &<< UInt64(bitCount)
            let bytes = (63 - bitCount) >> 3
            pos += bytes
            bitCount += bytes << 3
        } else {
            while bitCount <= 56 && pos < input.count {
                bitBuf |= UInt64(input[pos]) &<< UInt64(bitCount)
                pos += 1
                bitCount += 8
            }
        }
    }

    @inline(__always) mutating func bits(_ n: Int) throws -> Int {
        if bitCount < n {
            refill()
            guard bitCount >= n else { throw InflateError.truncated("DEFLATE stream cut short") }
        }
        let v = Int(truncatingIfNeeded: bitBuf & ((1 &<< UInt64(n)) &- 1))
        bitBuf &>>= UInt64(n)
        bitCount -= n
        return v
    }

    /// Reads one Huffman-coded symbol; the caller has refilled (or accepts a refill here).
    @inline(__always) mutating func decode(_ table: UnsafeMutablePointer<UInt32>, _ tableBits: Int) throws -> UInt32 {
        if bitCount < tableBits { refill() }
        let e = table[Int(truncatingIfNeeded: bitBuf & ((1 &<< UInt64(tableBits)) &- 1))]
        let len = Int(e & 15)
        guard len != 0 && len <= bitCount else {
            // Past the end of input the lookup saw zero padding, so a bad code there means cut short.
            throw bitCount < tableBits ? InflateError.truncated("DEFLATE stream cut short")
                                       : InflateError.corrupt("invalid Huffman code")
        }
        bitBuf &>>= UInt64(len)
        bitCount -= len
        return e
    }

    /// Drops the bits left in the current byte and hands whole buffered bytes back to the input.
    mutating func alignToByte() {
        pos -= bitCount >> 3
        bitBuf = 0
        bitCount = 0
    }

    // MARK: Output

    @inline(__always) mutating func reserve(_ n: Int) throws {
        if outCap - outCount < n { try grow(n) }
    }

    mutating func grow(_ n: Int) throws {
        if outCount >= stopAt { throw InflateError.reachedPrefix }
        let need = outCount + n
        guard need <= maxOutput else { throw InflateError.tooLarge(limit: maxOutput) }
        // Up to the prefix plus one copy (a match or a stored block), not doubling past it.
        let limit = stopAt == Int.max ? maxOutput : min(maxOutput, max(need, stopAt))
        let cap = min(max(need, outCap > limit / 2 ? limit : outCap * 2), limit)
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: cap)
        p.update(from: out, count: outCount)
        out.deallocate()
        out = p
        outCap = cap
    }

    // MARK: gzip

    mutating func gzipHeader() throws {
        let b = input
        func need(_ n: Int) throws {
            guard b.count - pos >= n else { throw InflateError.truncated("gzip header cut short") }
        }
        let start = pos
        guard b.count - pos < 2 || (b[pos] == 0x1f && b[pos + 1] == 0x8b) else {
            throw InflateError.corrupt("trailing garbage after gzip data")
        }
        try need(10)
        guard b[pos + 2] == 8 else { throw InflateError.corrupt("unknown gzip compression method \(b[pos + 2])") }
        let flags = b[pos + 3]
        guard flags & 0xe0 == 0 else { throw InflateError.corrupt("reserved gzip header flags set") }
        pos += 10
        if flags & 4 != 0 {  // FEXTRA
            try need(2)
            let xlen = Int(b[pos]) | Int(b[pos + 1]) << 8
            pos += 2
            try need(xlen)
            pos += xlen
        }
        for flag: UInt8 in [8, 16] where flags & flag != 0 {  // FNAME, FCOMMENT: zero-terminated
            while true {
                try need(1)
                pos += 1
                if b[pos - 1] == 0 { break }
            }
        }
        if flags & 2 != 0 {  // FHCRC: low 16 bits of the header's CRC-32
            try need(2)
            let crc = crc32(UnsafeBufferPointer(rebasing: b[start..<pos]))
            guard UInt16(truncatingIfNeeded: crc) == UInt16(b[pos]) | UInt16(b[pos + 1]) << 8 else {
                throw InflateError.corrupt("gzip header CRC mismatch")
            }
            pos += 2
        }
    }

    // MARK: DEFLATE

    /// Decodes one DEFLATE stream, from the current position through its final block.
    mutating func inflateStream() throws {
        streamStart = outCount
        bitBuf = 0
        bitCount = 0
        while true {
            let final = try bits(1)
            switch try bits(2) {
            case 0: try storedBlock(); stats.stored += 1
            case 1:
                try fixedTables()
                try codes(litBits: 9, distBits: 5)
                stats.fixed += 1
            case 2:
                let (lb, db) = try dynamicTables()
                try codes(litBits: lb, distBits: db)
                stats.dynamic += 1
            default: throw InflateError.corrupt("invalid DEFLATE block type 3")
            }
            if final == 1 { return }
        }
    }

    mutating func storedBlock() throws {
        alignToByte()
        guard input.count - pos >= 4 else { throw InflateError.truncated("DEFLATE stream cut short") }
        let len = Int(input[pos]) | Int(input[pos + 1]) << 8
        let nlen = Int(input[pos + 2]) | Int(input[pos + 3]) << 8
        guard len == nlen ^ 0xffff else { throw InflateError.corrupt("stored block length check failed") }
        pos += 4
        guard input.count - pos >= len else { throw InflateError.truncated("DEFLATE stream cut short") }
        try reserve(len)
        (out + outCount).update(from: input.baseAddress! + pos, count: len)
        outCount += len
        pos += len
    }

    mutating func fixedTables() throws {
        var lengths = [UInt8](repeating: 8, count: 288)
        for i in 144..<256 { lengths[i] = 9 }
        for i in 256..<280 { lengths[i] = 7 }
        _ = try buildTable(lengths[...], into: litTable, entry: litLenEntry, allowIncomplete: false)
        _ = try buildTable([UInt8](repeating: 5, count: 32)[...], into: distTable, entry: distEntry, allowIncomplete: false)
    }

    /// Reads a dynamic block's code descriptions and builds its tables; returns their index widths.
    mutating func dynamicTables() throws -> (Int, Int) {
        let hlit = try bits(5) + 257
        let hdist = try bits(5) + 1
        let hclen = try bits(4) + 4
        guard hlit <= 286, hdist <= 30 else { throw InflateError.corrupt("too many length or distance codes") }
        var clens = [UInt8](repeating: 0, count: 19)
        for i in 0..<hclen { clens[codeLengthOrder[i]] = UInt8(try bits(3)) }
        let cbits = try buildTable(clens[...], into: lenTable, entry: codeLenEntry, allowIncomplete: false)

        // Literal/length and distance lengths form one sequence; repeats may cross between them.
        var lengths = [UInt8](repeating: 0, count: hlit + hdist)
        var i = 0
        while i < lengths.count {
            let sym = try decode(lenTable, cbits) >> 16
            var repeatValue: UInt8 = 0, count = 0
            switch sym {
            case 0..<16: lengths[i] = UInt8(sym); i += 1; continue
            case 16:
                guard i > 0 else { throw InflateError.corrupt("repeat of a code length with none before it") }
                repeatValue = lengths[i - 1]
                count = 3 + (try bits(2))
            case 17: count = 3 + (try bits(3))
            default: count = 11 + (try bits(7))
            }
            guard i + count <= lengths.count else { throw InflateError.corrupt("code lengths overrun their count") }
            for j in i..<(i + count) { lengths[j] = repeatValue }
            i += count
        }
        guard lengths[256] != 0 else { throw InflateError.corrupt("no end-of-block code") }
        let lb = try buildTable(lengths[0..<hlit], into: litTable, entry: litLenEntry, allowIncomplete: true)
        let db = try buildTable(lengths[hlit...], into: distTable, entry: distEntry, allowIncomplete: true)
        return (lb, db)
    }

    /// Builds a canonical Huffman lookup table indexed by the next `maxLen` input bits (codes
    /// arrive most significant bit first, so each code is entered bit-reversed and repeated for
    /// every value of the bits after it). As zlib does, it rejects over-subscribed codes and
    /// incomplete ones, except a lone code of length 1 where allowed (RFC 1951 permits one
    /// distance code); an empty code builds a table in which every lookup throws.
    func buildTable(_ lengths: ArraySlice<UInt8>, into table: UnsafeMutablePointer<UInt32>,
                    entry: (Int) -> UInt32, allowIncomplete: Bool) throws -> Int {
        var count = [Int](repeating: 0, count: 16)
        for l in lengths { count[Int(l)] += 1 }
        count[0] = 0
        guard let maxLen = (1...15).last(where: { count[$0] > 0 }) else {
            table.update(repeating: 0, count: 2)
            return 1
        }
        var left = 1
        for len in 1...15 {
            left = (left << 1) - count[len]
            guard left >= 0 else { throw InflateError.corrupt("over-subscribed Huffman code") }
        }
        if left > 0 {
            guard allowIncomplete && maxLen == 1 else { throw InflateError.corrupt("incomplete Huffman code") }
            table.update(repeating: 0, count: 1 << maxLen)
        }
        var next = [Int](repeating: 0, count: 16)
        var code = 0
        for len in 1...15 {
            code = (code + count[len - 1]) << 1
            next[len] = code
        }
        let size = 1 << maxLen
        for (i, l) in lengths.enumerated() where l != 0 {
            let len = Int(l)
            let c = next[len]
            next[len] += 1
            var rev = 0
            for b in 0..<len where c & (1 << b) != 0 { rev |= 1 << (len - 1 - b) }
            let e = entry(i) | UInt32(len)
            var k = rev
            while k < size {
                table[k] = e
                k += 1 << len
            }
        }
        return maxLen
    }

    /// Decodes a Huffman-coded block's literals and matches up to its end-of-block code.
    mutating func codes(litBits: Int, distBits: Int) throws {
        while true {
            // One refill gives >= 56 bits when input remains: enough for a length code and its
            // extra bits (15 + 5) and a distance code and its extra bits (15 + 13).
            if bitCount < 48 { refill() }
            let e = try decode(litTable, litBits)
            let kind = (e >> 4) & 3
            if kind == kindLiteral {
                if outCount == outCap { try grow(1) }
                out[outCount] = UInt8(truncatingIfNeeded: e >> 16)
                outCount += 1
                continue
            }
            if kind == kindEnd { return }
            guard kind == kindBase else { throw InflateError.corrupt("invalid literal/length symbol") }
            let length = Int(e >> 16) + (try bits(Int((e >> 8) & 31)))
            let d = try decode(distTable, distBits)
            guard (d >> 4) & 3 == kindBase else { throw InflateError.corrupt("invalid distance symbol") }
            let dist = Int(d >> 16) + (try bits(Int((d >> 8) & 31)))
            guard dist <= outCount - streamStart else { throw InflateError.corrupt("distance too far back") }
            try reserve(length)
            let dst = out + outCount
            let src = dst - dist
            if dist >= length {
                dst.update(from: src, count: length)
            } else if dist == 1 {
                dst.update(repeating: src.pointee, count: length)
            } else {
                for j in 0..<length { dst[j] = src[j] }  // overlapping: must repeat byte by byte
            }
            outCount += length
        }
    }
}
