/// Version 2 node records (docs/format.md, "Version 2"): the fields of one record, each checked
/// on its own; how nodes fit together is GraphCheck's.
extension ModelFileParser {
    static func readNode(_ r: ByteReader, index i: Int, at o: Int, tensors: inout TensorCursor) throws -> NodeDescription {
        guard let kind = NodeKind(rawValue: r.u32(o)) else {
            throw RSCError.format("node \(i): kind is \(r.u32(o)), not 1..12")
        }
        let label = "node \(i) (\(kind))"
        let numInputs = Int(r.u32(o + 4)), in0 = Int(r.u32(o + 8)), in1 = Int(r.u32(o + 12))
        let want = kind.isBinary ? 2 : 1
        guard numInputs == want else { throw RSCError.format("\(label): num_inputs is \(numInputs), \(kind) takes \(want)") }
        guard want == 2 || in1 == 0 else { throw RSCError.format("\(label): input1 is \(in1), must be 0 for a node with one input") }
        for j in [in0, in1].prefix(want) where j >= i {
            throw RSCError.format("\(label): input \(j) is not an earlier node (0 is the model input, 1..\(i - 1) the nodes before it)")
        }
        let out = try shape(r, at: o + 16, what: "\(label) output")
        guard out.count <= Limits.maxElements else {
            throw RSCError.limit("\(label): output has \(out.count) elements, more than \(Limits.maxElements)")
        }
        let g = (0..<6).map { Int(r.u32(o + 28 + 4 * $0)) }
        let reset = r.u32(o + 52), decay = r.u32(o + 56)
        let tau = r.f32(o + 60), vTh = r.f32(o + 64), vReset = r.f32(o + 68)
        let wOff = r.u64(o + 72), wSize = r.u64(o + 80), sOff = r.u64(o + 88), bOff = r.u64(o + 96)
        guard r.isZero((o + 104)..<(o + 128)) else { throw RSCError.format("\(label): reserved bytes are not zero") }

        var node = NodeDescription(kind: kind, inputs: Array([in0, in1].prefix(want)), output: out, memory: out)
        if kind == .conv2d || kind.isWindowed {
            for (v, n) in zip(g[0..<4], ["kernel_h", "kernel_w", "stride_h", "stride_w"]) {
                guard v >= 1 else { throw RSCError.format("\(label): \(n) is 0") }
                guard v <= Limits.maxKernelOrStride else {
                    throw RSCError.limit("\(label): \(n) is \(v), more than \(Limits.maxKernelOrStride)")
                }
            }
            // PyTorch's rule for max pooling (padding never wins the max); zero padding < kernel otherwise.
            let limit = kind == .maxpool2d ? (g[0] / 2, g[1] / 2) : (g[0] - 1, g[1] - 1)
            guard g[4] <= limit.0, g[5] <= limit.1 else {
                throw RSCError.format("\(label): padding (\(g[4]), \(g[5])) must be at most \(limit) for the kernel (\(g[0]), \(g[1]))")
            }
            node.kernel = (g[0], g[1]); node.stride = (g[2], g[3]); node.padding = (g[4], g[5])
        } else if g != [1, 1, 1, 1, 0, 0] {
            throw RSCError.format("\(label): kernel/stride/padding must be 1/1/0 for \(kind)")
        }
        if kind.isNeuron {
            guard reset <= 1 else { throw RSCError.format("\(label): reset is \(reset), not 0 or 1") }
            guard vTh.isFinite, vReset.isFinite else { throw RSCError.format("\(label): v_threshold and v_reset must be finite") }
            if kind == .lif {
                guard decay <= 1 else { throw RSCError.format("\(label): decay_input is \(decay), not 0 or 1") }
                guard tau.isFinite, tau >= 1 else { throw RSCError.format("\(label): tau is \(tau), LIF needs a finite tau >= 1") }
            } else {
                guard tau == 0, decay == 0 else { throw RSCError.format("\(label): tau and decay_input must be 0 for IF neurons") }
            }
            node.softReset = reset == 1; node.decayInput = decay == 1
            node.tau = tau; node.vThreshold = vTh; node.vReset = vReset
        } else {
            guard reset == 0, decay == 0, tau == 0, vTh == 0, vReset == 0 else {
                throw RSCError.format("\(label): reset, decay_input, tau, v_threshold and v_reset must be 0 for \(kind)")
            }
        }
        if kind.isWeighted {
            let taps = out.channels * node.kernel.h * node.kernel.w
            guard wSize % UInt64(taps) == 0, wSize > 0 else {
                throw RSCError.shape("\(label): weight_size is \(wSize), not a multiple of out_channels x kh x kw = \(taps)")
            }
            guard wSize <= UInt64(Limits.maxWeightBytes) else {
                throw RSCError.limit("\(label): \(wSize) weights, more than \(Limits.maxWeightBytes)")
            }
            (node.weights, node.scales, node.biases) = try tensors.weightedTensors(
                weight: wOff, weightBytes: Int(wSize), scale: sOff, bias: bOff, channels: out.channels, label: label)
        } else {
            guard wOff == 0, wSize == 0, sOff == 0, bOff == 0 else {
                throw RSCError.format("\(label): tensor offsets and sizes must be 0 for a node without weights")
            }
        }
        return node
    }
}
