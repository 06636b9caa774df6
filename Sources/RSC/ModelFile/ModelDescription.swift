/// The validated content of an `.rscm` file (docs/format.md), before it becomes a runnable plan.

/// How a pass turns the input x into the T per-step inputs of the network.
public enum Coding: UInt32, Sendable, CaseIterable {
    /// x itself at every step: no noise, no certificate.
    case direct = 0
    /// x + sigma * eps_t with fresh noise at every step (RSC).
    case gaussian = 1
    /// x + sigma * eps with one draw per pass, reused for all T steps.
    case gaussianShared = 2
    /// Bernoulli(clip(x, 0, 1)) spikes at every step: predict only.
    case poisson = 3

    /// The name used in files, docs and the CLI.
    public var name: String {
        switch self {
        case .direct: return "direct"
        case .gaussian: return "gaussian"
        case .gaussianShared: return "gaussian-shared"
        case .poisson: return "poisson"
        }
    }
}

/// A channels-first shape (C, H, W); vectors are (N, 1, 1). Made only by the library, from a
/// validated model (each dimension <= 65535, C*H*W <= 2^24), so `count` cannot overflow.
public struct Shape3: Equatable, Sendable, CustomStringConvertible {
    public internal(set) var channels: Int, height: Int, width: Int
    init(_ channels: Int, _ height: Int, _ width: Int) {
        self.channels = channels; self.height = height; self.width = width
    }
    public var count: Int { channels * height * width }
    public var description: String { "(\(channels), \(height), \(width))" }
}

/// Kinds of version 1 layer records.
enum LayerKind: UInt32 {
    case conv2d = 1, linear, avgpool2d, sumpool2d, flatten
    var isWeighted: Bool { self == .conv2d || self == .linear }
    var isPool: Bool { self == .avgpool2d || self == .sumpool2d }
}

enum Neuron: UInt32 {
    case none = 0, lif, integrateAndFire
}

/// A version 1 layer record, as read; the parser turns the chain into nodes.
struct LayerDescription {
    var kind: LayerKind
    var neuron: Neuron
    var softReset: Bool
    var input: Shape3
    var output: Shape3
    var kernel: (h: Int, w: Int)
    var stride: (h: Int, w: Int)
    var padding: (h: Int, w: Int)
    var tau: Float
    var vThreshold: Float
    var vReset: Float
    /// int8, [out][in_c][kh][kw] (conv) or [out][in] (linear); empty for pools and flatten.
    var weights: [Int8]
    var scales: [Float]
    var biases: [Float]
}

/// Kinds of version 2 node records (docs/format.md, "Version 2").
enum NodeKind: UInt32, CustomStringConvertible {
    case conv2d = 1, linear, avgpool2d, sumpool2d, flatten, maxpool2d, globalAvgpool, add, and, iand, lif, integrateAndFire
    var isWeighted: Bool { self == .conv2d || self == .linear }
    var isWindowed: Bool { self == .avgpool2d || self == .sumpool2d || self == .maxpool2d }
    var isPool: Bool { isWindowed || self == .globalAvgpool }
    var isBinary: Bool { self == .add || self == .and || self == .iand }
    var isNeuron: Bool { self == .lif || self == .integrateAndFire }
    var description: String {
        switch self {
        case .conv2d: return "conv2d"
        case .linear: return "linear"
        case .avgpool2d: return "avgpool2d"
        case .sumpool2d: return "sumpool2d"
        case .flatten: return "flatten"
        case .maxpool2d: return "maxpool2d"
        case .globalAvgpool: return "global_avgpool"
        case .add: return "add"
        case .and: return "and"
        case .iand: return "iand"
        case .lif: return "lif"
        case .integrateAndFire: return "if"
        }
    }
}

/// What a node's output holds, which decides how the kernel stores and consumes it.
enum ValueType: Equatable, CustomStringConvertible {
    /// The coded input or pools of it: real values.
    case analog
    /// 0/1 spike maps.
    case spikes
    /// Small non-negative integers: pooled spikes, sums of spike maps.
    case counts
    /// A conv2d/linear output or a sum involving one: read by exactly one neuron or add.
    case current
    var description: String {
        switch self {
        case .analog: return "analog values"
        case .spikes: return "spikes"
        case .counts: return "counts"
        case .current: return "a current"
        }
    }
}

/// One node of the graph. Node 0 is the model input; nodes are numbered from 1 in file order.
struct NodeDescription {
    var kind: NodeKind
    /// Indices of the nodes read (0 = the model input), each smaller than this node's.
    var inputs: [Int]
    var output: Shape3
    var kernel: (h: Int, w: Int) = (1, 1)
    var stride: (h: Int, w: Int) = (1, 1)
    var padding: (h: Int, w: Int) = (0, 0)
    var softReset = false
    /// LIF: SpikingJelly's decay_input (v1's LIF is decay_input).
    var decayInput = false
    var tau: Float = 0
    var vThreshold: Float = 0
    var vReset: Float = 0
    var weights: [Int8] = []
    var scales: [Float] = []
    var biases: [Float] = []
    /// Set by the parser's graph check.
    var type: ValueType = .analog
    /// The shape as laid out in memory: a flatten relabels its input's map without moving it.
    var memory: Shape3
}

/// Which arithmetic defines the base classifier (docs/format.md, "Arithmetic").
public enum Arithmetic: Sendable, Equatable {
    /// A float32 first layer on the coded input, as every file before rsc 0.4.
    case float
    /// The coded input rounded to the grid 2^-shift, clamped to +-limit; integers throughout.
    case integer(shift: Int, limit: Int)
}

struct ModelDescription {
    var version: Int
    var coding: Coding
    var sigma: Float
    var arithmetic: Arithmetic
    var input: Shape3
    var numClasses: Int
    var timeSteps: Int
    var name: String
    var classNames: [String]
    /// Layer (v1) or node (v2) records in the file.
    var records: Int
    /// Size of the file: the plan's memory is bounded by a multiple of it.
    var fileBytes: Int
    /// The network as a graph, for either version; the last node gives the logits.
    var nodes: [NodeDescription]

    /// How messages name node i: "node i (kind)", or for a v1 file the layer it came from.
    func label(_ i: Int) -> String { Self.label(i, nodes: nodes, version: version) }

    static func label(_ i: Int, nodes: [NodeDescription], version: Int) -> String {
        let n = nodes[i - 1]
        guard version == 1 else { return "node \(i) (\(n.kind))" }
        // A v1 layer with a neuron became a weighted node and the neuron node after it.
        let layer = nodes[..<i].filter { !$0.kind.isNeuron }.count - 1
        return "layer \(layer) (\(n.kind.isNeuron ? nodes[i - 2].kind : n.kind))"
    }
}
