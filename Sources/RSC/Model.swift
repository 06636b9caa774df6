import CRSCKernel
// URL only, for Swift users' Model(contentsOf:). scripts/install.sh builds librsc.so (C callers
// pass paths) with RSC_NO_FOUNDATION: statically linked, FoundationEssentials alone is ~9 MB of its
// 14 (full Foundation ~60 MB).
#if !RSC_NO_FOUNDATION
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#endif
#if canImport(Glibc)
import Glibc
#endif

/// What a loaded model is: its input, classes, time steps and coding.
public struct ModelInfo: Sendable, Equatable {
    public let name: String
    /// Channels-first input shape; inputs are flat arrays of `inputShape.count` floats.
    public let inputShape: Shape3
    public let numClasses: Int
    public let timeSteps: Int
    public let coding: Coding
    /// Noise scale per step (0 for direct and poisson coding).
    public let sigma: Double
    public let classNames: [String]
    /// Records of the file: layers (format version 1) or nodes (version 2).
    public let numLayers: Int
    public let formatVersion: Int
    /// Kernel scratch memory per thread of a call, in bytes.
    public let scratchBytes: Int
    /// Operations of one pass (multiply-accumulates, pooling, neuron updates, over T steps).
    public let workPerPass: Int
    /// Memory of the loaded network (repacked weights and tables), in bytes.
    public let planBytes: Int
    /// The arithmetic that defines the base classifier (docs/format.md, "Arithmetic").
    public let arithmetic: Arithmetic

    /// Gaussian mass per pass that the noise generator does not draw (its radius uniform stops
    /// at 2^-40, docs/kernel.md "Noise"): a bound on the total variation distance between the
    /// noise of one pass and exact Gaussian noise, which CERTIFY subtracts from its bound on pA.
    /// One Box-Muller pair per two input elements and noisy step; 0 without gaussian coding.
    public var noiseTailMass: Double {
        let steps: Int
        switch coding {
        case .gaussian: steps = timeSteps
        case .gaussianShared: steps = 1
        case .direct, .poisson: return 0
        }
        return Double(steps * ((inputShape.count + 1) / 2)) * RSCK_GAUSSIAN_TAIL_PER_PAIR
    }

    /// The noise scale the certified radius is expressed in: the pass sees T independent draws
    /// for `gaussian` coding, i.e. smooths (x, ..., x) in R^(dT), where an input perturbation moves
    /// that point sqrt(T) times as far, hence sigma / sqrt(T). `gaussian-shared`: sigma.
    /// nil where the coding gives no certificate.
    public var sigmaEffective: Double? {
        switch coding {
        case .gaussian: return sigma / Double(timeSteps).squareRoot()
        case .gaussianShared: return sigma
        case .direct, .poisson: return nil
        }
    }
}

/// A loaded RSC spiking network. Immutable after loading: share one instance between threads.
public final class Model: Sendable {
    public let info: ModelInfo
    let plan: NetworkPlan

    public convenience init(path: String, options: LoadOptions = LoadOptions()) throws {
        try options.validate()
        try self.init(description: ModelFileParser.load(path: path), options: options)
    }

    /// Loads the file a C path names, its bytes passed to open() unchanged (need not be UTF-8).
    public convenience init(cPath: UnsafePointer<CChar>, options: LoadOptions = LoadOptions()) throws {
        try options.validate()
        try self.init(description: ModelFileParser.load(cPath: cPath), options: options)
    }

    /// Loads a model from the bytes of an `.rscm` file, validated as a file is.
    public convenience init(bytes: [UInt8], options: LoadOptions = LoadOptions()) throws {
        guard bytes.count <= Limits.maxFileBytes else {
            throw RSCError.limit("the model is \(bytes.count) bytes, more than the \(Limits.maxFileBytes) rsc accepts")
        }
        try options.validate()
        try self.init(description: ModelFileParser.parse(bytes), options: options)
    }

    /// The same from caller-owned memory (copied; the caller may free it afterwards).
    public convenience init(bytes: UnsafeRawBufferPointer, options: LoadOptions = LoadOptions()) throws {
        guard bytes.count <= Limits.maxFileBytes else {
            throw RSCError.limit("the model is \(bytes.count) bytes, more than the \(Limits.maxFileBytes) rsc accepts")
        }
        try self.init(bytes: [UInt8](bytes), options: options)
    }

    init(description m: ModelDescription, options: LoadOptions) throws {
        plan = try NetworkPlan(m, options: options)
        info = ModelInfo(name: m.name, inputShape: m.input, numClasses: m.numClasses, timeSteps: m.timeSteps,
                         coding: m.coding, sigma: Double(m.sigma), classNames: m.classNames,
                         numLayers: m.records, formatVersion: m.version, scratchBytes: plan.scratchBytes,
                         workPerPass: plan.workPerPass, planBytes: plan.planBytes, arithmetic: m.arithmetic)
    }

    /// Runs the base SNN once on caller-given per-step inputs (T x d floats, e.g. already noised)
    /// and returns the T-averaged logits.
    public func forward(_ inputs: [Float]) throws -> [Double] {
        var logits = [Double](repeating: 0, count: info.numClasses)
        try inputs.withUnsafeBufferPointer { i in
            try logits.withUnsafeMutableBufferPointer { try forward(i, logits: $0) }
        }
        return logits
    }

    /// The same on caller-owned memory (no copies); logits needs room for numClasses values.
    public func forward(_ inputs: UnsafeBufferPointer<Float>, logits: UnsafeMutableBufferPointer<Double>) throws {
        let d = info.inputShape.count, T = info.timeSteps
        guard inputs.count == T * d else {
            throw RSCError.inputSize("forward takes T x d = \(T) x \(d) = \(T * d) floats, got \(inputs.count)")
        }
        guard logits.count >= info.numClasses else {
            throw RSCError.inputSize("logits has room for \(logits.count) values, the model has \(info.numClasses) classes")
        }
        try InputCheck.values(inputs, name: "inputs")
        let scratch = try Scratch(bytes: plan.scratchBytes, threads: 1)
        withUnsafePointer(to: plan.net) { net in
            rsck_forward(net, inputs.baseAddress, scratch.blocks[0], logits.baseAddress)
        }
    }
}

/// Input validation shared by forward, predict and certify.
enum InputCheck {
    static func values(_ x: UnsafeBufferPointer<Float>, name: String) throws {
        for (i, v) in x.enumerated() where !(abs(v) <= Limits.maxInputMagnitude) {
            if v.isNaN || v.isInfinite { throw RSCError.inputValue("\(name)[\(i)] is \(v); inputs must be finite") }
            throw RSCError.inputValue("\(name)[\(i)] is \(v); |x| must be at most \(Limits.maxInputMagnitude)")
        }
    }
}

/// Per-thread kernel scratch for one call, 64-byte aligned, freed when the call ends.
final class Scratch {
    private(set) var blocks: [UnsafeMutableRawPointer?] = []

    init(bytes: Int, threads: Int) throws {
        for _ in 0..<threads {
            var p: UnsafeMutableRawPointer?
            guard posix_memalign(&p, 64, max(bytes, 64)) == 0, p != nil else {
                throw RSCError.outOfMemory("cannot allocate \(threads) x \(bytes) bytes of scratch")
            }
            blocks.append(p)
        }
    }

    deinit { for p in blocks { free(p) } }
}

#if !RSC_NO_FOUNDATION
extension Model {
    /// Loads and validates an `.rscm` file (a file URL).
    public convenience init(contentsOf url: URL, options: LoadOptions = LoadOptions()) throws {
        guard url.isFileURL else {
            throw RSCError.invalidArgument("\(url) is not a file URL; rsc loads local files")
        }
        try self.init(path: url.path, options: options)
    }
}
#endif
