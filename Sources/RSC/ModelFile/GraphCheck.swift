/// How the nodes of a graph fit together (docs/format.md, "Version 2"): shapes follow from the
/// inputs, every node's output type (analog, spikes, counts, current) is one its readers take, a
/// current is read by exactly one neuron or add, every node but the last is read, and the last
/// gives the logits. Sets each node's `type` and `memory` layout.
enum GraphCheck {
    /// version: how messages name nodes (v1 files name the layers they came from).
    static func check(_ nodes: inout [NodeDescription], input: Shape3, numClasses: Int, version: Int) throws {
        var types: [ValueType] = [.analog], shapes = [input], memory = [input]
        var readers = [[Int]](repeating: [], count: nodes.count + 1)
        var total = 0
        for i in 1...nodes.count {
            let n = nodes[i - 1]
            let label = ModelDescription.label(i, nodes: nodes, version: version)
            for j in n.inputs { readers[j].append(i) }
            let src = n.inputs[0], inShape = shapes[src], inType = types[src]
            let type: ValueType
            switch n.kind {
            case .conv2d, .linear:
                guard inType != .current else {
                    throw RSCError.unsupported("\(label): reads node \(src)'s current; a conv2d/linear reads spikes, counts or the input (a neuron must come between)")
                }
                if n.kind == .linear {
                    guard inShape.height == 1, inShape.width == 1 else {
                        throw RSCError.shape("\(label): input \(inShape) is not a vector (a flatten must come first)")
                    }
                    guard n.output.height == 1, n.output.width == 1 else {
                        throw RSCError.shape("\(label): output \(n.output) is not a vector")
                    }
                } else {
                    try window(n, input: inShape, channels: n.output.channels, label: label)
                }
                let expected = n.output.channels * inShape.channels * n.kernel.h * n.kernel.w
                guard n.weights.count == expected else {
                    throw RSCError.shape("\(label): weight_size is \(n.weights.count), expected \(expected) (= out x in x kh x kw for the input \(inShape))")
                }
                type = .current
            case .avgpool2d, .sumpool2d, .maxpool2d, .globalAvgpool:
                guard inType != .current else {
                    throw RSCError.unsupported("\(label): pools node \(src)'s current; pools read spikes, counts or the input (pool after the neuron)")
                }
                guard memory[src] == inShape else { throw RSCError.unsupported("\(label): pooling a flattened vector") }
                if n.kind == .globalAvgpool {
                    guard n.output == Shape3(inShape.channels, 1, 1) else {
                        throw RSCError.shape("\(label): output \(n.output) is not (\(inShape.channels), 1, 1)")
                    }
                } else {
                    try window(n, input: inShape, channels: inShape.channels, label: label)
                }
                type = inType == .analog ? .analog : n.kind == .maxpool2d ? inType : .counts
            case .flatten:
                guard inType != .current else { throw RSCError.unsupported("\(label): flattens node \(src)'s current") }
                guard n.output == Shape3(inShape.count, 1, 1) else {
                    throw RSCError.shape("\(label): output \(n.output) is not (\(inShape.count), 1, 1)")
                }
                type = inType
            case .add, .and, .iand:
                let (a, b) = (n.inputs[0], n.inputs[1])
                guard shapes[a] == shapes[b], memory[a] == memory[b] else {
                    throw RSCError.shape("\(label): inputs \(a) \(shapes[a]) and \(b) \(shapes[b]) differ in shape or layout")
                }
                guard n.output == shapes[a] else { throw RSCError.shape("\(label): output \(n.output) is not the inputs' shape \(shapes[a])") }
                guard types[a] != .analog, types[b] != .analog else {
                    throw RSCError.unsupported("\(label): reads the model input or a pool of it; \(n.kind) reads currents, spikes or counts")
                }
                if n.kind == .add {
                    type = types[a] == .current || types[b] == .current ? .current : .counts
                } else {
                    guard types[a] == .spikes, types[b] == .spikes else {
                        throw RSCError.unsupported("\(label): \(n.kind) combines spike maps (0/1), got \(types[a]) and \(types[b])")
                    }
                    type = .spikes
                }
            case .lif, .integrateAndFire:
                guard inType == .current else {
                    throw RSCError.unsupported("\(label): reads node \(src)'s \(inType); a neuron reads a current (a conv2d/linear, or an add of one)")
                }
                guard n.output == inShape else { throw RSCError.shape("\(label): output \(n.output) is not the input's shape \(inShape)") }
                type = .spikes
            }
            total += n.output.count
            guard total <= Limits.maxTotalElements else {
                throw RSCError.limit("nodes 1...\(i) produce \(total) elements per step, more than \(Limits.maxTotalElements)")
            }
            nodes[i - 1].type = type
            nodes[i - 1].memory = n.kind == .flatten ? memory[src] : n.output
            types.append(type); shapes.append(n.output); memory.append(nodes[i - 1].memory)
        }
        let last = nodes[nodes.count - 1], lastLabel = ModelDescription.label(nodes.count, nodes: nodes, version: version)
        guard last.kind.isWeighted else {
            throw RSCError.format("\(lastLabel): the last node gives the logits and must be a conv2d or linear")
        }
        guard last.output.height == 1, last.output.width == 1 else {
            throw RSCError.unsupported("\(lastLabel): the logits node's output \(last.output) must be (K, 1, 1)")
        }
        guard last.output.channels == numClasses else {
            throw RSCError.shape("\(lastLabel): \(last.output.channels) outputs, but the model has \(numClasses) classes")
        }
        for i in 1..<nodes.count {
            let label = ModelDescription.label(i, nodes: nodes, version: version)
            guard !readers[i].isEmpty else { throw RSCError.format("\(label): its output is not used") }
            if types[i] == .current {
                guard readers[i].count == 1, nodes[readers[i][0] - 1].kind.isNeuron || nodes[readers[i][0] - 1].kind == .add else {
                    throw RSCError.unsupported("\(label): a current must be read by exactly one neuron or add, it is read by nodes \(readers[i])")
                }
            }
        }
    }

    /// Output size of a conv or pool window from its input (floor), as PyTorch.
    private static func window(_ n: NodeDescription, input: Shape3, channels: Int, label: String) throws {
        let oh = input.height + 2 * n.padding.h - n.kernel.h, ow = input.width + 2 * n.padding.w - n.kernel.w
        guard oh >= 0, ow >= 0 else { throw RSCError.shape("\(label): kernel \(n.kernel) larger than the padded input \(input)") }
        let expect = Shape3(channels, oh / n.stride.h + 1, ow / n.stride.w + 1)
        guard n.output == expect else {
            throw RSCError.shape("\(label): output shape \(n.output) does not follow from input \(input), kernel, stride and padding (expected \(expect))")
        }
    }
}
