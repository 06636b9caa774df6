/// Little-endian reads from the file image. Callers check ranges first; reads past the end trap,
/// which is why every offset is validated before it is used (ModelFileParser).
struct ByteReader {
    let bytes: [UInt8]

    func u32(_ at: Int) -> UInt32 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian }
    }
    func u64(_ at: Int) -> UInt64 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt64.self).littleEndian }
    }
    func f32(_ at: Int) -> Float { Float(bitPattern: u32(at)) }
    func isZero(_ range: Range<Int>) -> Bool { bytes[range].allSatisfy { $0 == 0 } }
    func f32Array(_ at: Int, count: Int) -> [Float] { (0..<count).map { f32(at + 4 * $0) } }
    func i8Array(_ at: Int, count: Int) -> [Int8] { bytes[at..<(at + count)].map { Int8(bitPattern: $0) } }
}
