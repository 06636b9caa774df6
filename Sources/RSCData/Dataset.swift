import Foundation

/// A data set: `count` samples of `shape` each, and optional integer class labels, as rsc-cli and
/// the Python binding (`rsc.data`) read them (`import RSCData`, the library product RSCData).
///
/// Files are recognised by content, not by name: NumPy `.npy` (v1-v3), idx (MNIST style), and
/// either of them gzipped. Image values become Float as follows:
/// - uint8 (`|u1`, idx 0x08) is scaled to [0, 1] by dividing by 255, the usual encoding of 8-bit
///   pixels;
/// - floats are taken as is;
/// - other integer and bool types are converted as is, without scaling.
/// Labels must have an integer (or bool) type, shape (N) or (N, 1), and no negative values.
public struct Dataset {
    /// Shape of one sample (the file's shape without its leading count axis).
    public let shape: [Int]
    /// Samples in the file.
    public let count: Int
    /// The samples read (all of them unless `load` was given `start` / `count`): `values` and
    /// `labels` hold these, and nothing else was decoded.
    public let range: Range<Int>
    /// `range.count * shape.reduce(1, *)` values, row-major, sample after sample.
    public let values: [Float]
    /// `range.count` labels.
    public let labels: [Int]?

    /// Sample i of the file (i in `range`).
    public func sample(_ i: Int) -> ArraySlice<Float> {
        let per = shape.reduce(1, *), j = i - range.lowerBound
        return values[(j * per)..<((j + 1) * per)]
    }

    /// The label of sample i (i in `range`), or nil without labels.
    public func label(_ i: Int) -> Int? { labels?[i - range.lowerBound] }

    /// Default cap on the decompressed size of one gzipped file (2 GiB): far above any real
    /// data set here, far below what a small forged file could make us allocate.
    public static let defaultMaxDecompressedBytes = 1 << 31

    /// Reads samples [start, start + count) of a data set (count nil: to the end; both clamped to
    /// the file), and their labels: one per sample of the file, or exactly one per sample read
    /// (the first for sample `range.lowerBound`). Memory follows the samples read: an
    /// uncompressed file is read only there, a gzipped one inflated only up to their end (at most
    /// maxDecompressedBytes; its checksum is checked only when that reaches the file's end).
    public static func load(images: URL, labels: URL? = nil, start: Int = 0, count: Int? = nil,
                            maxDecompressedBytes: Int = defaultMaxDecompressedBytes) throws -> Dataset {
        let imagePath = images.path
        let (img, total) = try readSamples(images, maxDecompressedBytes: maxDecompressedBytes, start: start, count: count)
        guard img.shape.count >= 2 else {
            throw DataError.unsupported(file: imagePath, detail:
                "images need shape (N, ...) with at least 2 axes, got \(shapeText(img.shape))")
        }
        // With no samples the file's own size check multiplies by 0: the sample size must fit on
        // its own, or users of `shape` overflow.
        guard byteCount(Array(img.shape.dropFirst()), itemSize: 1) != nil else {
            throw DataError.unsupported(file: imagePath, detail: "samples of shape \(shapeText(Array(img.shape.dropFirst()))) are too large")
        }
        let values = img.floats(scaleUInt8: true)
        let first = min(max(0, start), total), range = first..<(first + img.shape[0])

        var labelValues: [Int]?
        if let labels {
            let labelPath = labels.path
            var (lab, labelTotal) = try readSamples(labels, maxDecompressedBytes: maxDecompressedBytes, start: start,
                                                    count: count)
            // Labels for just the selected samples (the usual way to cut a range out of a data
            // set) are read from their start; only the whole file's length or the range's is
            // unambiguous, since both are the same when the range is the whole file.
            if labelTotal != total && labelTotal == range.count {
                (lab, labelTotal) = try readSamples(labels, maxDecompressedBytes: maxDecompressedBytes, start: 0,
                                                    count: range.count)
            }
            guard lab.shape.count == 1 || (lab.shape.count == 2 && lab.shape[1] == 1) else {
                throw DataError.unsupported(file: labelPath, detail:
                    "labels need shape (N) or (N, 1), got \(shapeText(lab.shape))")
            }
            guard lab.dtype.kind != .float else {
                throw DataError.unsupported(file: labelPath, detail:
                    "labels must be integers, got element type \(lab.dtype.name)")
            }
            guard labelTotal == total || labelTotal == range.count else {
                throw DataError.countMismatch(images: imagePath, imageCount: total,
                                              labels: labelPath, labelCount: labelTotal, selected: range)
            }
            let ints = try lab.ints(file: labelPath)
            if let i = ints.firstIndex(where: { $0 < 0 }) {
                throw DataError.corrupt(file: labelPath, detail: "negative label \(ints[i]) at index \(first + i)")
            }
            labelValues = ints
        }
        return Dataset(shape: Array(img.shape.dropFirst()), count: total, range: range, values: values,
                       labels: labelValues)
    }
}

public enum DataError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case truncated(file: String, detail: String)
    case badMagic(file: String, detail: String)
    case unsupported(file: String, detail: String)
    /// Structurally invalid content: bad header, failed checksum, impossible values.
    case corrupt(file: String, detail: String)
    /// A gzipped file inflates past the cap given to `Dataset.load`.
    case tooLarge(file: String, limit: Int)
    /// Labels that cover neither all the samples nor exactly the `selected` ones.
    case countMismatch(images: String, imageCount: Int, labels: String, labelCount: Int, selected: Range<Int>)

    public var description: String {
        switch self {
        case let .unreadable(f, r): return "\(f): cannot read: \(r)"
        case let .truncated(f, d): return "\(f): truncated: \(d)"
        case let .badMagic(f, d): return "\(f): unrecognised format: \(d)"
        case let .unsupported(f, d): return "\(f): unsupported: \(d)"
        case let .corrupt(f, d): return "\(f): corrupt: \(d)"
        case let .tooLarge(f, l): return "\(f): decompresses to more than \(l) bytes; refusing"
        case let .countMismatch(i, ic, l, lc, sel):
            let range = sel.count == ic || sel.isEmpty ? "" : " or exactly the \(sel.count) selected (samples \(sel.lowerBound) to \(sel.upperBound - 1))"
            return "\(i) holds \(ic) samples but \(l) holds \(lc) labels; labels must cover all \(ic) samples\(range)"
        }
    }
}

// MARK: - Shared array representation

/// Element type of a stored array, as NumPy names it (`<f4`, `|u1`, ...).
struct DType: Equatable {
    enum Kind { case bool, uint, int, float }
    let kind: Kind
    let size: Int
    let bigEndian: Bool

    var name: String {
        let k: Character = switch kind { case .bool: "b"; case .uint: "u"; case .int: "i"; case .float: "f" }
        return "\(size == 1 ? "|" : bigEndian ? ">" : "<")\(k)\(size)"
    }
}

/// An n-d array still in its file's bytes: `data` holds the elements from `offset` on, so a
/// multi-megabyte payload is never copied before conversion.
struct NDArray {
    let shape: [Int]
    let dtype: DType
    let data: [UInt8]
    let offset: Int

    var count: Int { shape.reduce(1, *) }

    /// Values as Float; uint8 divided by 255 when `scaleUInt8` (see `Dataset`).
    func floats(scaleUInt8: Bool) -> [Float] {
        let n = count, big = dtype.bigEndian
        return data.withUnsafeBytes { all in
            let raw = UnsafeRawBufferPointer(rebasing: all[offset...])
            return [Float](unsafeUninitializedCapacity: n) { out, done in
                func fill<T: FixedWidthInteger>(_: T.Type, _ f: (T) -> Float) {
                    for i in 0..<n {
                        let v = raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)
                        out[i] = f(big ? T(bigEndian: v) : T(littleEndian: v))
                    }
                }
                switch (dtype.kind, dtype.size) {
                // Separate literals, not a closure picked at run time, so each loop inlines.
                case (.uint, 1) where scaleUInt8: fill(UInt8.self) { Float($0) / 255 }
                case (.uint, 1): fill(UInt8.self) { Float($0) }
                case (.bool, 1): fill(UInt8.self) { $0 != 0 ? 1 : 0 }
                case (.int, 1): fill(Int8.self) { Float($0) }
                case (.uint, 2): fill(UInt16.self) { Float($0) }
                case (.int, 2): fill(Int16.self) { Float($0) }
                case (.uint, 4): fill(UInt32.self) { Float($0) }
                case (.int, 4): fill(Int32.self) { Float($0) }
                case (.uint, 8): fill(UInt64.self) { Float($0) }
                case (.int, 8): fill(Int64.self) { Float($0) }
                case (.float, 2): fill(UInt16.self) { halfToFloat($0) }
                case (.float, 4): fill(UInt32.self) { Float(bitPattern: $0) }
                case (.float, 8): fill(UInt64.self) { Float(Double(bitPattern: $0)) }
                default: preconditionFailure("DType \(dtype) escaped validation")
                }
                done = n
            }
        }
    }

    /// Values as Int, for integer and bool types; uint64 values above Int.max throw.
    func ints(file: String) throws -> [Int] {
        let n = count, big = dtype.bigEndian
        precondition(dtype.kind != .float)
        return try data.withUnsafeBytes { all in
            let raw = UnsafeRawBufferPointer(rebasing: all[offset...])
            var out = [Int](repeating: 0, count: n)
            func fill<T: FixedWidthInteger>(_: T.Type) throws {
                for i in 0..<n {
                    let v = raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)
                    guard let x = Int(exactly: big ? T(bigEndian: v) : T(littleEndian: v)) else {
                        throw DataError.corrupt(file: file, detail: "value at index \(i) does not fit in Int")
                    }
                    out[i] = x
                }
            }
            switch (dtype.kind, dtype.size) {
            case (.bool, 1): try fill(UInt8.self); for i in 0..<n where out[i] != 0 { out[i] = 1 }
            case (.uint, 1): try fill(UInt8.self)
            case (.int, 1): try fill(Int8.self)
            case (.uint, 2): try fill(UInt16.self)
            case (.int, 2): try fill(Int16.self)
            case (.uint, 4): try fill(UInt32.self)
            case (.int, 4): try fill(Int32.self)
            case (.uint, 8): try fill(UInt64.self)
            case (.int, 8): try fill(Int64.self)
            default: preconditionFailure("DType \(dtype) escaped validation")
            }
            return out
        }
    }
}

/// IEEE 754 binary16 to Float, by hand: Float16 is not available on every platform Swift targets.
func halfToFloat(_ h: UInt16) -> Float {
    let sign: Float = h & 0x8000 != 0 ? -1 : 1
    let exp = Int(h >> 10) & 0x1f, frac = Float(h & 0x3ff)
    switch exp {
    case 0: return sign * frac * 0x1p-24                       // zero, subnormal
    case 31: return frac == 0 ? sign * .infinity : .nan
    default: return sign * (1 + frac / 1024) * Float(sign: .plus, exponent: exp - 15, significand: 1)
    }
}

func shapeText(_ shape: [Int]) -> String {
    shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
}

/// Product of `dims` times `itemSize`, or nil when it overflows Int.
func byteCount(_ dims: [Int], itemSize: Int) -> Int? {
    var n = itemSize
    for d in dims {
        let (m, o) = n.multipliedReportingOverflow(by: d)
        if o { return nil }
        n = m
    }
    return n
}
