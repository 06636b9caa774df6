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

enum LayerKind: UInt32 {
    case conv2d = 1, linear, avgpool2d, sumpool2d, flatten
    var isWeighted: Bool { self == .conv2d || self == .linear }
    var isPool: Bool { self == .avgpool2d || self == .sumpool2d }
}

enum Neuron: UInt32 {
    case none = 0, lif, integrateAndFire
}

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

struct ModelDescription {
    var coding: Coding
    var sigma: Float
    var input: Shape3
    var numClasses: Int
    var timeSteps: Int
    var name: String
    var classNames: [String]
    var layers: [LayerDescription]
}
