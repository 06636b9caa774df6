import Foundation

// NumPy .npy format, versions 1.0-3.0:
// https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
// magic "\x93NUMPY", major, minor, header length (u16 LE in v1, u32 LE in v2/v3), then a Python
// dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces
// and a newline, then the raw elements.

let npyMagic: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]  // \x93NUMPY

/// Writes float32 arrays as NumPy `.npy` (version 1.0, or 2.0 when the header needs it), byte for
/// byte as `numpy.save` would.
public enum NPY {
    /// The `.npy` bytes of `values` with `shape` (C order, `<f4`). `values.count` must equal the
    /// product of `shape`.
    public static func encode(_ values: [Float], shape: [Int]) -> [UInt8] {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count,
                     "NPY.encode: \(values.count) values do not fill shape \(shapeText(shape))")
        var dict = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText(shape)), }"
        // As numpy >= 1.24: room for the first axis to grow to 21 digits in place, then spaces
        // and "\n" so the data starts on a 64-byte boundary (a whole 64 more when already there).
        if let first = shape.first { dict += String(repeating: " ", count: max(0, 21 - String(first).count)) }
        var version: UInt8 = 1, prefix = 10
        var headerLen = dict.utf8.count + 1
        headerLen += 64 - (prefix + headerLen) % 64
        if headerLen > 0xffff {
            version = 2; prefix = 12
            headerLen = dict.utf8.count + 1
            headerLen += 64 - (prefix + headerLen) % 64
        }
        var out = npyMagic + [version, 0]
        out.reserveCapacity(prefix + headerLen + 4 * values.count)
        for i in 0..<(prefix - 8) { out.append(UInt8(truncatingIfNeeded: headerLen >> (8 * i))) }
        out += Array(dict.utf8)
        out += [UInt8](repeating: 0x20, count: headerLen - dict.utf8.count - 1) + [0x0a]
        for v in values {
            let b = v.bitPattern.littleEndian
            withUnsafeBytes(of: b) { out += $0 }
        }
        return out
    }

    public static func write(_ values: [Float], shape: [Int], to url: URL) throws {
        try Data(encode(values, shape: shape)).write(to: url, options: .atomic)
    }
}

/// Parses a whole `.npy` file held in `bytes`. `file` only names it in errors.
func parseNPY(_ bytes: [UInt8], file: String) throws -> NDArray {
    let h = try parseNPYHeader(bytes, file: file)
    try h.checkDataBytes(bytes.count - h.offset, file: file)
    return NDArray(shape: h.shape, dtype: h.dtype, data: bytes, offset: h.offset)
}

/// The header of a `.npy` file from the first bytes of the file (enough to hold the header, or
/// a truncation error says so).
func parseNPYHeader(_ bytes: [UInt8], file: String) throws -> ArrayHeader {
    func fail(_ d: String) -> DataError { .corrupt(file: file, detail: "npy header: " + d) }
    guard bytes.count >= 10 else { throw DataError.truncated(file: file, detail: "npy header cut short") }
    guard bytes.starts(with: npyMagic) else { throw DataError.badMagic(file: file, detail: "no \\x93NUMPY magic") }
    let major = bytes[6], minor = bytes[7]
    let start: Int, headerLen: Int
    switch major {
    case 1:
        start = 10
        headerLen = Int(bytes[8]) | Int(bytes[9]) << 8
    case 2, 3:
        guard bytes.count >= 12 else { throw DataError.truncated(file: file, detail: "npy header cut short") }
        start = 12
        headerLen = (8..<12).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 8)) }
    default:
        throw DataError.unsupported(file: file, detail: "npy format version \(major).\(minor)")
    }
    guard bytes.count - start >= headerLen else { throw DataError.truncated(file: file, detail: "npy header cut short") }

    var parser = PyLiteralParser(text: bytes[start..<(start + headerLen)])
    guard case let .dict(entries)? = try? parser.parseHeader() else { throw fail("not a Python dict literal") }
    // Python keeps the last of repeated keys and a reader keeping the first would see another
    // array in the same bytes: refuse the ambiguity.
    var seen = Set<String>()
    for (key, _) in entries where !seen.insert(key).inserted {
        throw fail("the key '\(key)' appears twice")
    }
    func value(_ key: String) throws -> PyValue {
        guard let v = entries.first(where: { $0.0 == key })?.1 else { throw fail("no '\(key)' key") }
        return v
    }
    guard case let .str(descr) = try value("descr") else {
        throw DataError.unsupported(file: file, detail: "structured dtype (record arrays)")
    }
    guard case let .bool(fortran) = try value("fortran_order") else { throw fail("'fortran_order' is not True/False") }
    guard case let .tuple(dims) = try value("shape") else { throw fail("'shape' is not a tuple") }
    var shape: [Int] = []
    for d in dims {
        guard case let .int(n) = d, n >= 0 else { throw fail("'shape' holds something other than sizes") }
        shape.append(n)
    }
    guard let dtype = npyDType(descr) else {
        throw DataError.unsupported(file: file, detail: "element type '\(descr)' (supported: bool, u1-u8, i1-i8, f2, f4, f8)")
    }
    guard !fortran else {
        throw DataError.unsupported(file: file, detail:
            "Fortran-order array; save it in C order (numpy.ascontiguousarray) first")
    }
    guard byteCount(shape, itemSize: dtype.size) != nil else { throw fail("shape \(shapeText(shape)) too large") }
    return ArrayHeader(shape: shape, dtype: dtype, offset: start + headerLen, what: "shape \(shapeText(shape)) of \(descr)")
}

/// `'<f4'`-style descr to DType; nil when unsupported. `=` means native order, and every
/// platform this runs on is little-endian.
func npyDType(_ descr: String) -> DType? {
    let c = Array(descr.utf8)
    guard c.count >= 3, let size = Int(String(decoding: c[2...], as: UTF8.self)) else { return nil }
    let big: Bool
    switch c[0] {
    case UInt8(ascii: "<"), UInt8(ascii: "="): big = false
    case UInt8(ascii: ">"): big = true
    case UInt8(ascii: "|"): guard size == 1 else { return nil }; big = false
    default: return nil
    }
    let kind: DType.Kind
    switch (c[1], size) {
    case (UInt8(ascii: "b"), 1): kind = .bool
    case (UInt8(ascii: "u"), 1), (UInt8(ascii: "u"), 2), (UInt8(ascii: "u"), 4), (UInt8(ascii: "u"), 8): kind = .uint
    case (UInt8(ascii: "i"), 1), (UInt8(ascii: "i"), 2), (UInt8(ascii: "i"), 4), (UInt8(ascii: "i"), 8): kind = .int
    case (UInt8(ascii: "f"), 2), (UInt8(ascii: "f"), 4), (UInt8(ascii: "f"), 8): kind = .float
    default: return nil
    }
    return DType(kind: kind, size: size, bigEndian: size > 1 && big)
}

// MARK: - The header's Python literal

enum PyValue {
    case str(String), int(Int), bool(Bool), none
    case tuple([PyValue])  // lists too
    case dict([(String, PyValue)])
}

/// Just enough of Python's literal syntax for what numpy writes in headers: dicts, tuples,
/// lists, strings, ints, True/False/None. Nesting is bounded so hostile headers can't recurse
/// deep.
struct PyLiteralParser {
    struct Failure: Error {}
    let s: [UInt8]
    var i = 0

    init(text: ArraySlice<UInt8>) { s = Array(text) }

    mutating func parseHeader() throws -> PyValue {
        let v = try parse(depth: 0)
        skipSpace()
        guard i == s.count else { throw Failure() }
        return v
    }

    mutating func skipSpace() {
        while i < s.count, s[i] == 0x20 || s[i] == 0x0a || s[i] == 0x09 || s[i] == 0x0d { i += 1 }
    }

    mutating func eat(_ c: Character) -> Bool {
        skipSpace()
        if i < s.count, s[i] == c.asciiValue! { i += 1; return true }
        return false
    }

    /// Items up to `close`, comma separated, trailing comma allowed.
    mutating func items(_ close: Character, _ item: (inout PyLiteralParser) throws -> Void) throws {
        while !eat(close) {
            try item(&self)
            if !eat(",") {
                guard eat(close) else { throw Failure() }
                return
            }
        }
    }

    mutating func parse(depth: Int) throws -> PyValue {
        guard depth < 32 else { throw Failure() }
        skipSpace()
        guard i < s.count else { throw Failure() }
        let c = s[i]
        switch c {
        case UInt8(ascii: "{"):
            i += 1
            var entries: [(String, PyValue)] = []
            try items("}") { p in
                guard case let .str(k) = try p.parse(depth: depth + 1), p.eat(":") else { throw Failure() }
                entries.append((k, try p.parse(depth: depth + 1)))
            }
            return .dict(entries)
        case UInt8(ascii: "("), UInt8(ascii: "["):
            i += 1
            var xs: [PyValue] = []
            try items(c == UInt8(ascii: "(") ? ")" : "]") { p in xs.append(try p.parse(depth: depth + 1)) }
            return .tuple(xs)
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            i += 1
            var out: [UInt8] = []
            while i < s.count, s[i] != c {
                if s[i] == UInt8(ascii: "\\") { i += 1; guard i < s.count else { throw Failure() } }
                out.append(s[i])
                i += 1
            }
            guard i < s.count else { throw Failure() }
            i += 1
            return .str(String(decoding: out, as: UTF8.self))
        default:
            let start = i
            while i < s.count, s[i] == UInt8(ascii: "-") || s[i] == UInt8(ascii: "_")
                || (s[i] | 0x20 >= UInt8(ascii: "a") && s[i] | 0x20 <= UInt8(ascii: "z"))
                || (s[i] >= UInt8(ascii: "0") && s[i] <= UInt8(ascii: "9")) { i += 1 }
            var word = String(decoding: s[start..<i], as: UTF8.self)
            switch word {
            case "True": return .bool(true)
            case "False": return .bool(false)
            case "None": return .none
            default:
                if word.hasSuffix("L") { word.removeLast() }  // Python 2 longs
                guard let n = Int(word) else { throw Failure() }
                return .int(n)
            }
        }
    }
}
