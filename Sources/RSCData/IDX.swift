// idx, the format of the MNIST and Fashion-MNIST files (http://yann.lecun.com/exdb/mnist/):
// two zero bytes, an element-type byte, the number of axes, one big-endian UInt32 per axis,
// then the elements, big-endian. Images are 0x00000803 (uint8, N x H x W), labels 0x00000801
// (uint8, N). Gzipped files are inflated by `readArray` before they get here.

/// Element type of an idx type byte, or nil when there is none.
func idxDType(_ code: UInt8) -> DType? {
    switch code {
    case 0x08: return DType(kind: .uint, size: 1, bigEndian: false)
    case 0x09: return DType(kind: .int, size: 1, bigEndian: false)
    case 0x0B: return DType(kind: .int, size: 2, bigEndian: true)
    case 0x0C: return DType(kind: .int, size: 4, bigEndian: true)
    case 0x0D: return DType(kind: .float, size: 4, bigEndian: true)
    case 0x0E: return DType(kind: .float, size: 8, bigEndian: true)
    default: return nil
    }
}

/// Parses a whole (uncompressed) idx file held in `bytes`. `file` only names it in errors.
func parseIDX(_ bytes: [UInt8], file: String) throws -> NDArray {
    let h = try parseIDXHeader(bytes, file: file)
    try h.checkDataBytes(bytes.count - h.offset, file: file)
    return NDArray(shape: h.shape, dtype: h.dtype, data: bytes, offset: h.offset)
}

/// The header of an idx file from its first bytes.
func parseIDXHeader(_ bytes: [UInt8], file: String) throws -> ArrayHeader {
    guard bytes.count >= 4 else { throw DataError.truncated(file: file, detail: "idx header cut short") }
    guard bytes[0] == 0, bytes[1] == 0 else { throw DataError.badMagic(file: file, detail: "idx magic must start with two zero bytes") }
    guard let dtype = idxDType(bytes[2]) else {
        throw DataError.unsupported(file: file, detail: "idx element type 0x\(String(bytes[2], radix: 16))")
    }
    let rank = Int(bytes[3])
    let offset = 4 + 4 * rank
    guard bytes.count >= offset else { throw DataError.truncated(file: file, detail: "idx header cut short") }
    let shape = (0..<rank).map { a in (0..<4).reduce(0) { $0 << 8 | Int(bytes[4 + 4 * a + $1]) } }
    guard byteCount(shape, itemSize: dtype.size) != nil else {
        throw DataError.corrupt(file: file, detail: "idx shape \(shapeText(shape)) too large")
    }
    return ArrayHeader(shape: shape, dtype: dtype, offset: offset, what: "idx shape \(shapeText(shape))",
                       arrayName: "idx " + shapeText(shape))
}
