/// Parameters and results of the smoothed classifier (Cohen, Rosenfeld, Kolter 2019).

/// PREDICT: n noisy passes, two-sided binomial test on the top two counts.
public struct PredictParameters: Sendable, Equatable {
    public var n: Int = 100_000
    public var alpha: Double = 0.001
    /// Seed and stream key the noise: the same (seed, stream) gives the same counts, whatever the
    /// thread count. Use the input's index in a data set as its stream.
    public var seed: UInt64 = 0
    public var stream: UInt64 = 0
    /// 0 = the library default (`Model.defaultThreadCount`, else all hardware threads).
    public var threads: Int = 0
    public init() {}
    public init(n: Int = 100_000, alpha: Double = 0.001, seed: UInt64 = 0, stream: UInt64 = 0, threads: Int = 0) {
        self.n = n; self.alpha = alpha; self.seed = seed; self.stream = stream; self.threads = threads
    }
}

/// CERTIFY: n0 passes select a class, n fresh passes bound its probability from below.
public struct CertifyParameters: Sendable, Equatable {
    public var n0: Int = 100
    public var n: Int = 100_000
    public var alpha: Double = 0.001
    public var seed: UInt64 = 0
    public var stream: UInt64 = 0
    public var threads: Int = 0
    public init() {}
    public init(n0: Int = 100, n: Int = 100_000, alpha: Double = 0.001, seed: UInt64 = 0, stream: UInt64 = 0,
                threads: Int = 0) {
        self.n0 = n0; self.n = n; self.alpha = alpha; self.seed = seed; self.stream = stream; self.threads = threads
    }
}

public struct Prediction: Sendable, Equatable {
    /// The predicted class, or nil when the test cannot tell the top two classes apart (abstain).
    public var label: Int?
    /// The most and second most voted classes (lowest index first on ties) and their counts.
    public var top: Int
    public var runnerUp: Int
    public var countTop: Int
    public var countRunnerUp: Int
    /// Two-sided binomial test p-value of countTop in countTop + countRunnerUp trials at 1/2.
    public var pValue: Double
    /// Votes per class over the n passes.
    public var counts: [Int]
}

public struct Certificate: Sendable, Equatable {
    /// The certified class, or nil (abstain) when pALower < 1/2.
    public var label: Int?
    /// The class chosen by the n0 selection passes.
    public var selected: Int
    /// Votes for `selected` among the n estimation passes.
    public var countSelected: Int
    /// One-sided (1 - alpha) Clopper-Pearson lower bound of P(f(x + noise) = selected).
    public var pALower: Double
    /// Certified L2 radius sigmaEffective * PhiInv(pALower); 0 when abstaining.
    public var radius: Double
}

/// Progress of a long call: the fraction done in [0, 1]; return false to cancel it.
public typealias ProgressHandler = (Double) -> Bool
