#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads and validates an `.rscm` file, version 1 (a chain of layers) or 2 (a graph of nodes)
/// (docs/format.md). Every field is checked against the file size and the other fields before
/// any tensor is read; the first violation throws an RSCError whose message names the field
/// (and layer or node). Either version becomes the same graph description.
enum ModelFileParser {
    static let magic: [UInt8] = [0x89, 0x52, 0x53, 0x43, 0x4D, 0x0D, 0x0A, 0x1A]
    static let versions: ClosedRange<UInt32> = 1...2
    static let headerSize = 128
    static let layerSize = 128

    /// Plain POSIX I/O: the core stays free of Foundation, so librsc.so stays small.
    static func load(path: String) throws -> ModelDescription {
        try path.withCString { try load(cPath: $0) }
    }

    /// The caller's path bytes go to open() unchanged: a path that is not UTF-8 must name the file
    /// it names, not the one its decoding with U+FFFD would (`model\xff` opened `model\u{FFFD}`).
    static func load(cPath: UnsafePointer<CChar>) throws -> ModelDescription {
        let path = printable(cPath)
        // O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer; only regular files
        // pass the check below, and reading those ignores the flag.
        let fd = open(cPath, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw RSCError.io("cannot open '\(path)': \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw RSCError.io("cannot stat '\(path)': \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw RSCError.io("'\(path)' is not a regular file") }
        guard st.st_size <= Limits.maxFileBytes else {
            throw RSCError.limit("'\(path)' is \(st.st_size) bytes, more than the \(Limits.maxFileBytes) rsc accepts")
        }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var got = 0
        while got < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, $0.count - got) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw RSCError.io("cannot read '\(path)': \(String(cString: strerror(errno)))") }
            guard n > 0 else { break }  // the file shrank while reading: parse what is there
            got += n
        }
        return try parse(Array(bytes[0..<got]))
    }

    /// A path for messages: UTF-8 as is, other bytes and control characters as \xNN.
    static func printable(_ cPath: UnsafePointer<CChar>) -> String {
        let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(cPath).assumingMemoryBound(to: UInt8.self), count: strlen(cPath))
        if let s = String(validating: Array(bytes), as: UTF8.self), !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            return s
        }
        var out = ""
        for b in bytes {
            if b >= 0x20 && b < 0x7f { out.append(Character(Unicode.Scalar(b))) } else {
                out += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
            }
        }
        return out
    }

    static func parse(_ bytes: [UInt8]) throws -> ModelDescription {
        let r = ByteReader(bytes: bytes)
        let size = bytes.count

        // Identity first, so that a wrong file gets the plainest message.
        let head = min(size, magic.count)
        guard Array(bytes[0..<head]) == Array(magic[0..<head]) else {
            throw RSCError.badMagic("not an rsc model: the file does not start with the .rscm magic")
        }
        guard size >= 12 else { throw RSCError.truncated("file is \(size) bytes, shorter than the 128-byte header") }
        let v = r.u32(8)
        guard versions.contains(v) else {
            throw RSCError.unsupportedVersion("format version \(v) is not supported (this rsc reads versions 1 and 2)")
        }
        let graph = v == 2
        guard size >= headerSize else {
            throw RSCError.truncated("file is \(size) bytes, shorter than the 128-byte header")
        }
        let declared = r.u64(16)
        if declared > UInt64(size) {
            throw RSCError.truncated("file is \(size) bytes but its header declares file_size \(declared)")
        }
        if declared < UInt64(size) {
            throw RSCError.format("file_size is \(declared) but the file has \(UInt64(size) - declared) more bytes")
        }
        let stored = r.u32(12)
        let zero: [UInt8] = [0, 0, 0, 0]
        let crc = bytes.withUnsafeBytes { raw in
            zero.withUnsafeBytes { z in
                CRC32.update(CRC32.update(CRC32.update(0, UnsafeRawBufferPointer(rebasing: raw[0..<12])), z),
                             UnsafeRawBufferPointer(rebasing: raw[16...]))
            }
        }
        guard crc == stored else {
            throw RSCError.checksum("checksum mismatch: the file stores \(hex(stored)), its content gives \(hex(crc)) (corrupted file?)")
        }

        // Header fields.
        guard r.u32(24) == UInt32(headerSize) else { throw RSCError.format("header_size is \(r.u32(24)), expected 128") }
        guard r.u32(28) == UInt32(layerSize) else { throw RSCError.format("layer_size is \(r.u32(28)), expected 128") }
        guard r.isZero(92..<128) else { throw RSCError.format("header reserved bytes 92..127 are not zero") }
        let arithmetic = try readArithmetic(r)
        let numLayers = Int(r.u32(32))
        let records = graph ? "num_nodes" : "num_layers", maxRecords = graph ? Limits.maxNodes : Limits.maxLayers
        guard numLayers >= 1 else { throw RSCError.format("\(records) is 0") }
        guard numLayers <= maxRecords else {
            throw RSCError.limit("\(records) is \(numLayers), more than \(maxRecords)")
        }
        guard let coding = Coding(rawValue: r.u32(36)) else { throw RSCError.format("coding is \(r.u32(36)), not 0..3") }
        let input = try shape(r, at: 40, what: "input")
        guard input.count <= Limits.maxElements else {
            throw RSCError.limit("input has \(input.count) elements, more than \(Limits.maxElements)")
        }
        let numClasses = Int(r.u32(52))
        guard numClasses >= 2 else { throw RSCError.format("num_classes is \(numClasses), at least 2 are needed") }
        guard numClasses <= Limits.maxClasses else {
            throw RSCError.limit("num_classes is \(numClasses), more than \(Limits.maxClasses)")
        }
        let timeSteps = Int(r.u32(56))
        guard timeSteps >= 1 else { throw RSCError.format("time_steps is 0") }
        guard timeSteps <= Limits.maxTimeSteps else {
            throw RSCError.limit("time_steps is \(timeSteps), more than \(Limits.maxTimeSteps)")
        }
        let sigma = r.f32(60)
        switch coding {
        case .gaussian, .gaussianShared:
            guard sigma.isFinite, sigma > 0 else { throw RSCError.format("sigma is \(sigma): \(coding.name) coding needs a finite sigma > 0") }
            guard sigma <= Limits.maxSigma else { throw RSCError.limit("sigma is \(sigma), more than \(Limits.maxSigma)") }
        case .direct, .poisson:
            guard sigma == 0 else { throw RSCError.format("sigma is \(sigma): \(coding.name) coding takes sigma 0") }
        }
        let stringsOffset = r.u64(64), stringsSize = r.u64(72)
        let tableEnd = UInt64(headerSize + layerSize * numLayers)
        guard stringsOffset == tableEnd else {
            throw RSCError.format("strings_offset is \(stringsOffset), expected \(tableEnd) (right after the \(graph ? "node" : "layer") table)")
        }
        guard tableEnd <= UInt64(size) else {
            throw RSCError.outOfBounds("the \(graph ? "node" : "layer") table (\(numLayers) records) ends at \(tableEnd), past the end of the file (\(size))")
        }
        guard stringsSize <= UInt64(size) - stringsOffset else {
            throw RSCError.outOfBounds("the string table (\(stringsSize) bytes at \(stringsOffset)) runs past the end of the file (\(size))")
        }
        let stringsEnd = Int(stringsOffset + stringsSize)
        let strings = try readStrings(r, from: Int(stringsOffset), to: stringsEnd, count: 1 + numClasses)

        var tensors = TensorCursor(bytes: r, position: stringsEnd, fileSize: size)
        var nodes: [NodeDescription]
        if graph {
            nodes = []
            for i in 1...numLayers {
                nodes.append(try readNode(r, index: i, at: headerSize + (i - 1) * layerSize, tensors: &tensors))
            }
        } else {
            var layers: [LayerDescription] = []
            var current = input
            for i in 0..<numLayers {
                let layer = try readLayer(r, index: i, at: headerSize + i * layerSize, input: current, tensors: &tensors)
                layers.append(layer)
                current = layer.output
            }
            try checkStructure(layers, numClasses: numClasses)
            nodes = chainNodes(layers, input: input)
        }
        try tensors.finish()
        try GraphCheck.check(&nodes, input: input, numClasses: numClasses, version: Int(v))
        return ModelDescription(version: Int(v), coding: coding, sigma: sigma, arithmetic: arithmetic, input: input, numClasses: numClasses,
                                timeSteps: timeSteps, name: strings[0], classNames: Array(strings.dropFirst()),
                                records: numLayers, fileBytes: size, nodes: nodes)
    }

    /// Header bytes 80..91: which arithmetic defines the classifier (docs/format.md, "Arithmetic").
    private static func readArithmetic(_ r: ByteReader) throws -> Arithmetic {
        let kind = r.u32(80), shift = r.u32(84), limit = r.u32(88)
        switch kind {
        case 0:
            guard shift == 0, limit == 0 else {
                throw RSCError.format("input_shift is \(shift) and input_limit \(limit): a float model (arithmetic 0) has no input grid, both must be 0")
            }
            return .float
        case 1:
            guard shift <= 24 else { throw RSCError.format("input_shift is \(shift), more than 24") }
            guard limit >= 1, limit <= 32767 else { throw RSCError.format("input_limit is \(limit), not 1..32767") }
            return .integer(shift: Int(shift), limit: Int(limit))
        default:
            throw RSCError.format("arithmetic is \(kind), not 0 (float) or 1 (integer)")
        }
    }

    /// A v1 chain as graph nodes: a weighted layer with a neuron becomes a weighted node read by
    /// a neuron node (v1's LIF is SpikingJelly's decay_input); flattens after the last weighted
    /// layer, which do not change the logits, are dropped.
    static func chainNodes(_ layers: [LayerDescription], input: Shape3) -> [NodeDescription] {
        let last = layers.lastIndex(where: { $0.kind.isWeighted })!
        var nodes: [NodeDescription] = []
        for l in layers[...last] {
            let kind: NodeKind
            switch l.kind {
            case .conv2d: kind = .conv2d
            case .linear: kind = .linear
            case .avgpool2d: kind = .avgpool2d
            case .sumpool2d: kind = .sumpool2d
            case .flatten: kind = .flatten
            }
            nodes.append(NodeDescription(kind: kind, inputs: [nodes.count], output: l.output, kernel: l.kernel,
                                         stride: l.stride, padding: l.padding, weights: l.weights, scales: l.scales,
                                         biases: l.biases, memory: l.output))
            if l.neuron != .none {
                nodes.append(NodeDescription(kind: l.neuron == .lif ? .lif : .integrateAndFire, inputs: [nodes.count],
                                             output: l.output, softReset: l.softReset, decayInput: l.neuron == .lif,
                                             tau: l.tau, vThreshold: l.vThreshold, vReset: l.vReset, memory: l.output))
            }
        }
        return nodes
    }

    private static func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

    static func shape(_ r: ByteReader, at: Int, what: String) throws -> Shape3 {
        let c = Int(r.u32(at)), h = Int(r.u32(at + 4)), w = Int(r.u32(at + 8))
        for (v, n) in [(c, "channels"), (h, "height"), (w, "width")] {
            guard v >= 1 else { throw RSCError.shape("\(what) \(n) is 0") }
            guard v <= Limits.maxDimension else {
                throw RSCError.limit("\(what) \(n) is \(v), more than \(Limits.maxDimension)")
            }
        }
        return Shape3(c, h, w)
    }

    private static func readStrings(_ r: ByteReader, from: Int, to end: Int, count: Int) throws -> [String] {
        var out: [String] = []
        out.reserveCapacity(count)
        var at = from
        for i in 0..<count {
            let what = i == 0 ? "model name" : "class name \(i - 1)"
            guard end - at >= 4 else { throw RSCError.outOfBounds("string table ends before the \(what)") }
            let n = Int(r.u32(at))
            at += 4
            guard n <= Limits.maxStringBytes else { throw RSCError.limit("\(what) is \(n) bytes, more than \(Limits.maxStringBytes)") }
            guard n <= end - at else { throw RSCError.outOfBounds("\(what) (\(n) bytes) runs past the string table") }
            let raw = Array(r.bytes[at..<(at + n)])
            guard !raw.contains(0), let s = String(validating: raw, as: UTF8.self) else {
                throw RSCError.format("\(what) is not UTF-8 without NUL bytes")
            }
            out.append(s)
            at += n
        }
        guard at == end else { throw RSCError.format("string table has \(end - at) unused bytes") }
        return out
    }

    private static func readLayer(_ r: ByteReader, index i: Int, at o: Int, input: Shape3,
                                  tensors: inout TensorCursor) throws -> LayerDescription {
        let name = "layer \(i)"
        guard let kind = LayerKind(rawValue: r.u32(o)) else { throw RSCError.format("\(name): kind is \(r.u32(o)), not 1..5") }
        let label = "\(name) (\(kind))"
        guard let neuron = Neuron(rawValue: r.u32(o + 4)) else {
            throw RSCError.format("\(label): neuron is \(r.u32(o + 4)), not 0..2")
        }
        let reset = r.u32(o + 8)
        guard reset <= 1 else { throw RSCError.format("\(label): reset is \(reset), not 0 or 1") }
        guard r.isZero((o + 104)..<(o + 128)) else { throw RSCError.format("\(label): reserved bytes are not zero") }
        let inShape = try shape(r, at: o + 12, what: "\(label) input")
        let outShape = try shape(r, at: o + 24, what: "\(label) output")
        guard inShape == input else {
            throw RSCError.shape("\(label): input shape \(inShape) does not match the previous output \(input)")
        }
        guard outShape.count <= Limits.maxElements else {
            throw RSCError.limit("\(label): output has \(outShape.count) elements, more than \(Limits.maxElements)")
        }
        let g = (0..<6).map { Int(r.u32(o + 36 + 4 * $0)) }
        let kernel = (h: g[0], w: g[1]), stride = (h: g[2], w: g[3]), padding = (h: g[4], w: g[5])
        let tau = r.f32(o + 60), vTh = r.f32(o + 64), vReset = r.f32(o + 68)
        let wOff = r.u64(o + 72), wSize = r.u64(o + 80), sOff = r.u64(o + 88), bOff = r.u64(o + 96)

        // Geometry.
        switch kind {
        case .conv2d, .avgpool2d, .sumpool2d:
            for (v, n) in [(kernel.h, "kernel_h"), (kernel.w, "kernel_w"), (stride.h, "stride_h"), (stride.w, "stride_w")] {
                guard v >= 1 else { throw RSCError.format("\(label): \(n) is 0") }
                guard v <= Limits.maxKernelOrStride else {
                    throw RSCError.limit("\(label): \(n) is \(v), more than \(Limits.maxKernelOrStride)")
                }
            }
            guard padding.h < kernel.h, padding.w < kernel.w else {
                throw RSCError.format("\(label): padding \(padding) must be smaller than the kernel \(kernel)")
            }
            let oh = (inShape.height + 2 * padding.h - kernel.h), ow = (inShape.width + 2 * padding.w - kernel.w)
            guard oh >= 0, ow >= 0 else { throw RSCError.shape("\(label): kernel \(kernel) larger than the padded input \(inShape)") }
            let outC = kind == .conv2d ? outShape.channels : inShape.channels
            let expect = Shape3(outC, oh / stride.h + 1, ow / stride.w + 1)
            guard outShape == expect else {
                throw RSCError.shape("\(label): output shape \(outShape) does not follow from input \(inShape), kernel, stride and padding (expected \(expect))")
            }
        case .linear, .flatten:
            guard g == [1, 1, 1, 1, 0, 0] else {
                throw RSCError.format("\(label): kernel/stride/padding must be 1/1/0 for \(kind)")
            }
            if kind == .linear {
                guard inShape.height == 1, inShape.width == 1 else {
                    throw RSCError.shape("\(label): input \(inShape) is not a vector (a flatten layer must come first)")
                }
                guard outShape.height == 1, outShape.width == 1 else {
                    throw RSCError.shape("\(label): output \(outShape) is not a vector")
                }
            } else {
                guard outShape == Shape3(inShape.count, 1, 1) else {
                    throw RSCError.shape("\(label): output \(outShape) is not (\(inShape.count), 1, 1)")
                }
            }
        }

        // Neuron fields.
        switch neuron {
        case .none:
            guard reset == 0, tau == 0, vTh == 0, vReset == 0 else {
                throw RSCError.format("\(label): tau, v_threshold, v_reset and reset must be 0 without a neuron")
            }
        case .lif, .integrateAndFire:
            guard kind.isWeighted else { throw RSCError.format("\(label): only conv2d and linear layers take a neuron") }
            guard vTh.isFinite, vReset.isFinite else { throw RSCError.format("\(label): v_threshold and v_reset must be finite") }
            if neuron == .lif {
                guard tau.isFinite, tau >= 1 else { throw RSCError.format("\(label): tau is \(tau), LIF needs a finite tau >= 1") }
            } else {
                guard tau == 0 else { throw RSCError.format("\(label): tau is \(tau), IF neurons take tau 0") }
            }
        }

        // Tensors.
        var weights: [Int8] = [], scales: [Float] = [], biases: [Float] = []
        if kind.isWeighted {
            let outC = outShape.channels
            let expected = outC * inShape.channels * kernel.h * kernel.w
            guard wSize == UInt64(expected) else {
                throw RSCError.shape("\(label): weight_size is \(wSize), expected \(expected) (= out x in x kh x kw)")
            }
            guard expected <= Limits.maxWeightBytes else {
                throw RSCError.limit("\(label): \(expected) weights, more than \(Limits.maxWeightBytes)")
            }
            (weights, scales, biases) = try tensors.weightedTensors(weight: wOff, weightBytes: expected, scale: sOff,
                                                                     bias: bOff, channels: outC, label: label)
        } else {
            guard wOff == 0, wSize == 0, sOff == 0, bOff == 0 else {
                throw RSCError.format("\(label): tensor offsets and sizes must be 0 for a layer without weights")
            }
        }
        return LayerDescription(kind: kind, neuron: neuron, softReset: reset == 1, input: inShape, output: outShape,
                                kernel: kernel, stride: stride, padding: padding, tau: tau, vThreshold: vTh,
                                vReset: vReset, weights: weights, scales: scales, biases: biases)
    }

    /// Whole-network rules: neurons on every weighted layer but the last, which yields the logits.
    private static func checkStructure(_ layers: [LayerDescription], numClasses: Int) throws {
        guard let last = layers.lastIndex(where: { $0.kind.isWeighted }) else {
            throw RSCError.format("the model has no conv2d or linear layer")
        }
        for (i, l) in layers.enumerated() where l.kind.isWeighted {
            if i == last {
                guard l.neuron == .none else {
                    throw RSCError.format("layer \(i) (\(l.kind)): the last weighted layer gives the logits and takes no neuron")
                }
            } else if l.neuron == .none {
                throw RSCError.unsupported("layer \(i) (\(l.kind)): a weighted layer other than the last needs a neuron (lif or if)")
            }
        }
        if let i = layers[(last + 1)...].firstIndex(where: { $0.kind != .flatten }) {
            throw RSCError.unsupported("layer \(i) (\(layers[i].kind)): only flatten may follow the last weighted layer")
        }
        let out = layers[last].output
        guard out.height == 1, out.width == 1 else {
            throw RSCError.unsupported("layer \(last): the logits layer's output \(out) must be (K, 1, 1)")
        }
        guard out.channels == numClasses else {
            throw RSCError.shape("layer \(last): \(out.channels) outputs, but the model has \(numClasses) classes")
        }
    }
}
