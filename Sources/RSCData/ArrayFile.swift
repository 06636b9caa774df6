import Foundation

/// What the header of an `.npy` or idx file says: the array's shape and element type, and where
/// its elements begin.
struct ArrayHeader {
    let shape: [Int]
    let dtype: DType
    let offset: Int
    /// How messages name the array: "shape (2, 3) of <f4" and "the (2, 3) array" (npy), "idx
    /// shape (2, 3)" and "the idx (2, 3) array".
    let what: String
    let arrayName: String

    init(shape: [Int], dtype: DType, offset: Int, what: String, arrayName: String? = nil) {
        self.shape = shape; self.dtype = dtype; self.offset = offset; self.what = what
        self.arrayName = arrayName ?? shapeText(shape)
    }

    /// Validated by the parsers: fits in Int.
    var dataBytes: Int { byteCount(shape, itemSize: dtype.size)! }
    /// Bytes of one element of the leading axis (a sample); nil when that overflows (possible
    /// with no samples: the whole array then has 0 bytes).
    var sampleBytes: Int? { byteCount(Array(shape.dropFirst()), itemSize: dtype.size) }

    /// The file holds exactly the elements its header declares.
    func checkDataBytes(_ have: Int, file: String) throws {
        let need = dataBytes
        guard have >= need else {
            throw DataError.truncated(file: file, detail: "\(what) needs \(need) data bytes, found \(have)")
        }
        guard have == need else {
            throw DataError.corrupt(file: file, detail: "\(have - need) bytes after the \(arrayName) array")
        }
    }
}

/// Reads a whole file and decodes it by its content: gzip is inflated first, then `.npy` or idx.
func readArray(_ url: URL, maxDecompressedBytes: Int) throws -> NDArray {
    try readSamples(url, maxDecompressedBytes: maxDecompressedBytes, start: 0, count: nil).array
}

/// Samples [start, start + count) of a file (count nil: to the end), clamped to the file's N
/// samples (its leading axis): the array holds only those, and `total` is N. Memory follows the
/// samples read: an uncompressed file is read only there (its size still checked against its
/// header); a gzipped one is inflated only up to their end (its checksums are then not checked,
/// since the rest is never decompressed).
func readSamples(_ url: URL, maxDecompressedBytes: Int, start: Int, count: Int?) throws -> (array: NDArray, total: Int) {
    let path = url.path
    let source = try ArraySource(url, maxDecompressedBytes: maxDecompressedBytes)
    var head = try source.prefix(1 << 16)
    guard !head.isEmpty else {
        throw DataError.truncated(file: path, detail: source.gzip ? "gzip holds no data" : "empty file")
    }
    let header: ArrayHeader
    if head.starts(with: npyMagic) {
        // A header longer than the first read (npy allows up to 4 GiB): read as much as it says.
        if head.count >= 12, head[6] >= 2 {
            let len = (8..<12).reduce(0) { $0 | Int(head[$1]) << (8 * ($1 - 8)) }
            if 12 + len > head.count { head = try source.prefix(12 + len) }
        }
        header = try parseNPYHeader(head, file: path)
    } else if head.count >= 3, head[0] == 0, head[1] == 0, (0x08...0x0E).contains(head[2]) {
        // Type bytes 0x08-0x0E are idx's range, so an unknown one inside it gets idx's own error.
        header = try parseIDXHeader(head, file: path)
    } else {
        let hex = head.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        throw DataError.badMagic(file: path, detail: "not .npy, idx or gzip (starts with \(hex))")
    }
    let n = header.shape.first ?? 1
    guard let per = header.shape.isEmpty ? header.dataBytes : header.sampleBytes else {
        throw DataError.unsupported(file: path, detail: "samples of shape \(shapeText(Array(header.shape.dropFirst()))) are too large")
    }
    let first = min(max(0, start), n)
    let end = first + min(count ?? n, n - first)
    let (bytes, complete) = try source.read(header.offset + first * per, header.offset + end * per)
    if complete { try header.checkDataBytes(source.size - header.offset, file: path) }
    var shape = header.shape
    if !shape.isEmpty { shape[0] = end - first }
    return (NDArray(shape: shape, dtype: header.dtype, data: bytes, offset: 0), n)
}

/// The bytes of a data file, read only as far as needed: a regular file by position, a gzipped
/// one by inflating a prefix.
private final class ArraySource {
    let path: String
    let gzip: Bool
    private var handle: FileHandle?
    private var compressed: [UInt8] = []
    private let maxDecompressedBytes: Int
    /// The file's size, or the decompressed size once the whole file has been inflated.
    private(set) var size: Int
    private var inflated: [UInt8] = []
    private var inflatedAll = false

    init(_ url: URL, maxDecompressedBytes: Int) throws {
        path = url.path
        self.maxDecompressedBytes = maxDecompressedBytes
        let h: FileHandle
        do {
            h = try FileHandle(forReadingFrom: url)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "\(error)" : "no such file"
            throw DataError.unreadable(file: path, reason: reason)
        }
        let end = try Self.io(path) { try h.seekToEnd() }
        size = Int(end)
        try Self.io(path) { try h.seek(toOffset: 0) }
        let magic = try Self.io(path) { try h.read(upToCount: 2) } ?? Data()
        gzip = magic.count == 2 && magic[magic.startIndex] == 0x1f && magic[magic.startIndex + 1] == 0x8b
        if gzip {
            try Self.io(path) { try h.seek(toOffset: 0) }
            compressed = [UInt8](try Self.io(path) { try h.readToEnd() } ?? Data())
            try? h.close()
        } else {
            handle = h
        }
    }

    deinit { try? handle?.close() }

    private static func io<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw DataError.unreadable(file: path, reason: "\(error)") }
    }

    /// The first n bytes (fewer when the data is shorter).
    func prefix(_ n: Int) throws -> [UInt8] {
        if gzip {
            try inflate(to: n)
            return Array(inflated.prefix(n))
        }
        return try read(from: 0, count: min(n, size))
    }

    /// Bytes [from, to) of the data and whether all of it has been seen (so its size is known).
    func read(_ from: Int, _ to: Int) throws -> (bytes: [UInt8], complete: Bool) {
        if gzip {
            try inflate(to: to)
            if inflatedAll && inflated.count < to { return ([], true) }  // the size check names it
            guard inflated.count >= to else {
                throw DataError.truncated(file: path, detail: "gzip data ends at \(inflated.count) bytes, \(to) needed")
            }
            return (Array(inflated[from..<to]), inflatedAll)
        }
        guard size >= to else { return ([], true) }  // the size check then names what is missing
        return (try read(from: from, count: to - from), true)
    }

    private func read(from: Int, count: Int) throws -> [UInt8] {
        guard let h = handle, count > 0 else { return [] }
        try Self.io(path) { try h.seek(toOffset: UInt64(from)) }
        let d = try Self.io(path) { try h.read(upToCount: count) } ?? Data()
        guard d.count == count else {
            throw DataError.truncated(file: path, detail: "\(path) shrank while reading")
        }
        return [UInt8](d)
    }

    private func inflate(to n: Int) throws {
        guard !inflatedAll, inflated.count < n else { return }
        do {
            let (bytes, complete) = try gunzipPrefix(compressed, maxOutput: maxDecompressedBytes, prefix: n)
            inflated = bytes
            inflatedAll = complete
            if complete { size = bytes.count }
        } catch let e as InflateError {
            switch e {
            case let .truncated(m): throw DataError.truncated(file: path, detail: "gzip: " + m)
            case let .corrupt(m): throw DataError.corrupt(file: path, detail: "gzip: " + m)
            case let .tooLarge(l): throw DataError.tooLarge(file: path, limit: l)
            case .reachedPrefix: throw DataError.corrupt(file: path, detail: "gzip: internal error")
            }
        }
    }
}
