/// Sequential certification (docs/sequential.md): CERTIFY's selection, then estimation passes
/// counted in the blocks of a fixed geometric schedule n_1 < n_2 < ... < n_J = nMax (64, 96,
/// 144, ...: each look half again the passes of the last, then nMax), with a
/// one-sided Clopper-Pearson test at level alpha / J after each block. A union bound over the J
/// looks makes every lower bound of the run valid at once, so whatever the block at which the run
/// stops, the probability that any requested radius is certified beyond the smoothed
/// classifier's true radius is at most alpha.

/// Sequential CERTIFY: n0 passes select a class, then at most nMax estimation passes decide, for
/// each requested radius, whether the smoothed classifier is certified there.
public struct SequentialCertifyParameters: Sendable, Equatable {
    public var n0: Int = 100
    /// The cap on the estimation passes (the schedule's last look).
    public var nMax: Int = 100_000
    public var alpha: Double = 0.001
    /// The L2 radii to decide (>= 0, any order). Radius 0, i.e. whether the class is certified at
    /// all, is always decided; an empty list decides only that.
    public var radii: [Double] = []
    public var seed: UInt64 = 0
    public var stream: UInt64 = 0
    public var threads: Int = 0
    public init() {}
    public init(n0: Int = 100, nMax: Int = 100_000, alpha: Double = 0.001, radii: [Double] = [],
                seed: UInt64 = 0, stream: UInt64 = 0, threads: Int = 0) {
        self.n0 = n0; self.nMax = nMax; self.alpha = alpha; self.radii = radii
        self.seed = seed; self.stream = stream; self.threads = threads
    }

    /// The first look of the schedule; each further look adds half the passes so far (the ratio
    /// 3/2 and 64 were chosen by simulation, docs/sequential.md).
    public static let firstLook = 64
    /// At most this many radii per call (each look compares every one).
    public static let maxRadii = 1024

    /// The looks (estimation passes counted so far) and the level of the test at each: n_1 =
    /// firstLook, n_{j+1} = n_j + floor(n_j / 2) while below nMax, then nMax; alpha_j = alpha / J,
    /// so the levels sum to alpha. With nMax <= firstLook there is one look at level alpha:
    /// CERTIFY itself.
    public var schedule: [(passes: Int, alpha: Double)] {
        var looks: [Int] = []
        var n = Self.firstLook
        while n < nMax {
            looks.append(n)
            n += n / 2
        }
        looks.append(nMax)
        let level = alpha / Double(looks.count)
        return looks.map { ($0, level) }
    }

    /// Throws the error certifySequential would give for these parameters (the model's coding
    /// aside: `Model.certificateScale`).
    public func validate() throws {
        try checkPasses(n0, name: "n0")
        try checkPasses(nMax, name: "n_max")
        try checkCommon(alpha: alpha, threads: threads)
        guard radii.count <= Self.maxRadii else {
            throw RSCError.invalidArgument("\(radii.count) radii, at most \(Self.maxRadii)")
        }
        for (i, r) in radii.enumerated() where !(r.isFinite && r >= 0) {
            throw RSCError.invalidArgument("radii[\(i)] is \(r), a radius must be finite and >= 0")
        }
    }
}

public struct SequentialCertificate: Sendable, Equatable {
    /// The certified class, or nil (abstain) when the bound never reached 1/2.
    public var label: Int?
    /// The class chosen by the n0 selection passes.
    public var selected: Int
    /// Votes for `selected` among the `passes` estimation passes.
    public var countSelected: Int
    /// Estimation passes used (a look of the schedule, at most nMax).
    public var passes: Int
    /// The largest of the Clopper-Pearson lower bounds of P(f(x + noise) = selected) at the looks
    /// made, each at its level alpha_j: a (1 - alpha) lower bound whatever the stopping time.
    public var pALower: Double
    /// The largest requested radius certified (every requested radius <= it is certified); 0 when
    /// none is, or on abstention.
    public var radius: Double
    /// How many of the requested radii are certified.
    public var certifiedCount: Int
}

extension Model {
    /// Sequential certification of x at the radii of `p` (docs/sequential.md).
    public func certifySequential(_ x: [Float], parameters p: SequentialCertifyParameters,
                                  progress: ProgressHandler? = nil) throws -> SequentialCertificate {
        try x.withUnsafeBufferPointer { try certifySequential($0, parameters: p, progress: progress) }
    }

    public func certifySequential(_ x: UnsafeBufferPointer<Float>, parameters p: SequentialCertifyParameters,
                                  progress: ProgressHandler?) throws -> SequentialCertificate {
        let sigmaEff = try certificateScale()
        try checkInput(x)
        try p.validate()
        let total = Double(p.n0) + Double(p.nMax)
        let counter = try VoteCounter(model: self, x: x, seed: p.seed, stream: p.stream, threads: p.threads,
                                      passes: max(p.n0, p.nMax), polled: progress != nil)
        let callPasses = p.n0 + p.nMax  // both <= Limits.maxPasses (validate): no overflow
        let selection = try counter.count(.select, from: 0, to: p.n0,
                                          span: PassSpan(phase: "selection", before: 0, total: callPasses, atMost: true)) {
            progress?(Double($0) / total) ?? true
        }
        let selected = argmax(selection)
        // The probabilities to certify, ascending: 1/2 (the class itself), then Phi(r / sigma_eff).
        let thresholds = Array(Set([0.5] + p.radii.map { Statistics.normalCDF($0 / sigmaEff) })).sorted()
        var decision = SequentialDecision(schedule: p.schedule, thresholds: thresholds,
                                          tailMass: info.noiseTailMass)
        var votes = 0
        while let (from, to) = decision.nextBlock {
            let counts = try counter.count(.estimate, from: from, to: to,
                                           span: PassSpan(phase: "estimation", before: p.n0, total: callPasses, atMost: true)) {
                progress?((Double(p.n0) + Double($0)) / total) ?? true
            }
            votes += counts[selected]
            decision.look(successes: votes)
        }
        // Decided, maybe well before nMax: the call is done.
        guard progress?(1) ?? true else {
            throw RSCError.cancelled("cancelled by the progress callback after \(decision.passes) passes, all decided")
        }
        let pA = decision.lower
        let certified = decision.certified > 0
        let radii = certified ? p.radii.filter { Statistics.normalCDF($0 / sigmaEff) <= pA } : []
        return SequentialCertificate(label: certified ? selected : nil, selected: selected, countSelected: votes,
                                     passes: decision.passes, pALower: pA, radius: radii.max() ?? 0,
                                     certifiedCount: radii.count)
    }
}

/// The decision rule of sequential certification, apart from the passes: feed it the successes
/// counted up to each look, and it says which block to count next (nil: decided).
///
/// thresholds[i] is certified once the running lower bound reaches it; it is dropped (not
/// certified) once it cannot be reached at a later look even if the remaining passes succeed at
/// the rate of the current Clopper-Pearson upper bound (at the same level), or at the last look.
/// Certified thresholds are a prefix of the ascending list, dropped ones a suffix; the run stops
/// when they meet.
public struct SequentialDecision: Sendable {
    public let schedule: [(passes: Int, alpha: Double)]
    public let thresholds: [Double]
    /// Looks made so far.
    public private(set) var looks = 0
    /// The largest lower bound so far (0 before the first look).
    public private(set) var lower = 0.0
    /// thresholds[..<certified] are certified, thresholds[open...] are dropped.
    public private(set) var certified = 0
    public private(set) var open: Int

    /// The noise's missing Gaussian mass per pass (ModelInfo.noiseTailMass), subtracted from
    /// every bound as in CERTIFY.
    public let tailMass: Double

    public init(schedule: [(passes: Int, alpha: Double)], thresholds: [Double], tailMass: Double = 0) {
        self.schedule = schedule
        self.thresholds = thresholds
        self.tailMass = tailMass
        open = thresholds.count
    }

    private func bound(_ k: Int, _ n: Int, _ a: Double) -> Double {
        Statistics.noiseAdjustedLower(Statistics.clopperPearsonLower(successes: k, trials: n, alpha: a), tailMass: tailMass)
    }

    /// Estimation passes counted so far.
    public var passes: Int { looks == 0 ? 0 : schedule[looks - 1].passes }

    /// The passes [from, to) to count before the next look; nil once everything is decided.
    public var nextBlock: (from: Int, to: Int)? {
        guard certified < open, looks < schedule.count else { return nil }
        return (passes, schedule[looks].passes)
    }

    /// The look after the block `nextBlock`: `successes` of the `passes` counted so far.
    public mutating func look(successes k: Int) {
        let (n, a) = schedule[looks]
        looks += 1
        lower = max(lower, bound(k, n, a))
        while certified < open, thresholds[certified] <= lower { certified += 1 }
        guard certified < open else { return }
        guard looks < schedule.count else {  // nMax reached: what is left is not certified
            open = certified
            return
        }
        // The best lower bound a later look could give if the remaining passes succeeded at the
        // rate u of the upper bound: thresholds above it are out of reach.
        let u = Statistics.clopperPearsonUpper(successes: k, trials: n, alpha: a)
        var best = lower
        for (m, am) in schedule[looks...] {
            let projected = min(m, Int((Double(k) + Double(m - n) * u).rounded(.down)))
            best = max(best, bound(projected, m, am))
        }
        while open > certified, thresholds[open - 1] > best { open -= 1 }
    }
}
