/// The canonical tensor layout (docs/format.md, "Tensors"): tensors follow each other in record
/// order (weight, scale, bias of each weighted record), each at the first multiple of 64 after
/// the previous one (the first after the string table), zero bytes in between, and the file
/// ends with the last. So tensors are disjoint, every byte of the file is accounted for, and
/// memory at load is bounded by the file size (a shared tensor cannot be copied per record).
struct TensorCursor {
    let bytes: ByteReader
    /// End of the previous tensor (or of the string table).
    private(set) var position: Int
    let fileSize: Int

    init(bytes: ByteReader, position: Int, fileSize: Int) {
        self.bytes = bytes
        self.position = position
        self.fileSize = fileSize
    }

    /// Validates the next tensor's placement and returns its offset.
    mutating func take(_ offset: UInt64, bytes count: Int, field: String, _ label: String) throws -> Int {
        let expected = (position + 63) / 64 * 64
        guard offset == UInt64(expected) else {
            throw RSCError.format("\(label): \(field)_offset is \(offset), expected \(expected) (tensors follow each other in record order, each at the next multiple of 64)")
        }
        guard count <= fileSize - min(expected, fileSize) else {
            throw RSCError.outOfBounds("\(label): \(field) tensor (\(count) bytes at \(offset)) runs past the end of the file (\(fileSize))")
        }
        guard bytes.isZero(position..<expected) else {
            throw RSCError.format("\(label): the padding before the \(field) tensor (bytes \(position)..<\(expected)) is not zero")
        }
        position = expected + count
        return expected
    }

    /// weight (int8), scale and bias (f32 per output channel) of one weighted record, checked.
    mutating func weightedTensors(weight: UInt64, weightBytes: Int, scale: UInt64, bias: UInt64, channels: Int,
                                  label: String) throws -> ([Int8], [Float], [Float]) {
        let w = try take(weight, bytes: weightBytes, field: "weight", label)
        let s = try take(scale, bytes: 4 * channels, field: "scale", label)
        let b = try take(bias, bytes: 4 * channels, field: "bias", label)
        let scales = bytes.f32Array(s, count: channels), biases = bytes.f32Array(b, count: channels)
        if let c = scales.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
            throw RSCError.format("\(label): scale[\(c)] is \(scales[c]), scales must be finite and > 0")
        }
        if let c = biases.firstIndex(where: { !$0.isFinite }) {
            throw RSCError.format("\(label): bias[\(c)] is \(biases[c]), biases must be finite")
        }
        return (bytes.i8Array(w, count: weightBytes), scales, biases)
    }

    /// Nothing may follow the last tensor.
    func finish() throws {
        guard position == fileSize else {
            throw RSCError.format("the file has \(fileSize - position) bytes after its last tensor (it must end there)")
        }
    }
}
