import CRSCKernel
import Synchronization

/// PREDICT and CERTIFY exactly as in Cohen et al. (2019), Algorithms 1 and 2, on top of the
/// kernel's vote counting. The noise of pass p in phase q is keyed by (seed, stream) and counted
/// by (element block, step, p, q): the three phases below never share a draw.
enum Phase: UInt32 {
    case predict = 0, select = 1, estimate = 2
}

extension Model {
    /// Threads used when a call asks for 0: set by `rsc_set_num_threads`; 0 = all hardware threads.
    public static var defaultThreadCount: Int {
        get { defaultThreads.load(ordering: .relaxed) }
        set { defaultThreads.store(max(0, newValue), ordering: .relaxed) }
    }

    /// The smoothed prediction g(x) = argmax_c P(f(x + noise) = c), or abstention.
    public func predict(_ x: [Float], parameters p: PredictParameters = PredictParameters(),
                        progress: ProgressHandler? = nil) throws -> Prediction {
        try x.withUnsafeBufferPointer { try predict($0, parameters: p, progress: progress) }
    }

    /// Certifies x: the smoothed classifier's prediction and an L2 radius around x within which it
    /// provably does not change (with probability at least 1 - alpha over the noise).
    public func certify(_ x: [Float], parameters p: CertifyParameters = CertifyParameters(),
                        progress: ProgressHandler? = nil) throws -> Certificate {
        try x.withUnsafeBufferPointer { try certify($0, parameters: p, progress: progress) }
    }

    public func predict(_ x: UnsafeBufferPointer<Float>, parameters p: PredictParameters,
                 progress: ProgressHandler?) throws -> Prediction {
        try predictInputs(x, count: 1, batch: false, parameters: p, progress: progress)[0]
    }

    public func certify(_ x: UnsafeBufferPointer<Float>, parameters p: CertifyParameters,
                 progress: ProgressHandler?) throws -> Certificate {
        try certifyInputs(x, count: 1, batch: false, parameters: p, progress: progress)[0]
    }

    /// PREDICT for `count` inputs of d floats each, laid out one after another in xs: input i uses
    /// stream p.stream + i, so the results equal `count` single calls with those streams. One
    /// kernel call runs passes of several inputs at once (all threads busy even when p.n is small);
    /// progress reports the fraction of all passes done.
    public func predictBatch(_ xs: UnsafeBufferPointer<Float>, count: Int, parameters p: PredictParameters,
                             progress: ProgressHandler?) throws -> [Prediction] {
        try predictInputs(xs, count: count, batch: true, parameters: p, progress: progress)
    }

    /// predict (batch false: one input, x in messages) and predictBatch (xs[i] in messages).
    private func predictInputs(_ xs: UnsafeBufferPointer<Float>, count: Int, batch: Bool, parameters p: PredictParameters,
                               progress: ProgressHandler?) throws -> [Prediction] {
        try checkInputs(xs, count: count, batch: batch, stream: p.stream, passes: p.n)
        try p.validate()
        let counter = try VoteCounter(model: self, xs: xs, count: count, seed: p.seed, firstStream: p.stream,
                                      threads: p.threads, passes: p.n, polled: progress != nil)
        let total = Double(count) * Double(p.n)
        let span = PassSpan(phase: "prediction", before: 0, total: count * p.n)  // checked by checkInputs
        let counts = try counter.countAll(.predict, passes: p.n, span: span) { progress?(Double($0) / total) ?? true }
        return counts.map { prediction($0, alpha: p.alpha) }
    }

    /// CERTIFY for `count` inputs (laid out as in `predictBatch`), input i on stream p.stream + i:
    /// the selection passes of all inputs, then their estimation passes.
    public func certifyBatch(_ xs: UnsafeBufferPointer<Float>, count: Int, parameters p: CertifyParameters,
                             progress: ProgressHandler?) throws -> [Certificate] {
        try certifyInputs(xs, count: count, batch: true, parameters: p, progress: progress)
    }

    /// certify (batch false: one input, x in messages) and certifyBatch (xs[i] in messages).
    private func certifyInputs(_ xs: UnsafeBufferPointer<Float>, count: Int, batch: Bool, parameters p: CertifyParameters,
                               progress: ProgressHandler?) throws -> [Certificate] {
        let sigmaEff = try certificateScale()
        let (sum, over) = p.n0.addingReportingOverflow(p.n)  // validated after the inputs
        try checkInputs(xs, count: count, batch: batch, stream: p.stream, passes: over ? Int.max : sum)
        try p.validate()
        let counter = try VoteCounter(model: self, xs: xs, count: count, seed: p.seed, firstStream: p.stream,
                                      threads: p.threads, passes: max(p.n0, p.n), polled: progress != nil)
        let total = Double(count) * (Double(p.n0) + Double(p.n))
        // count x (n0 + n) fits an Int: checked by checkInputs.
        let callPasses = count * (p.n0 + p.n), selectionPasses = count * p.n0
        let selection = try counter.countAll(.select, passes: p.n0,
                                             span: PassSpan(phase: "selection", before: 0, total: callPasses)) {
            progress?(Double($0) / total) ?? true
        }
        let done = Double(selectionPasses)
        let estimation = try counter.countAll(.estimate, passes: p.n,
                                              span: PassSpan(phase: "estimation", before: selectionPasses, total: callPasses)) {
            progress?((done + Double($0)) / total) ?? true
        }
        return zip(selection, estimation).map { s, e in
            let selected = argmax(s), nA = e[selected]
            let pA = Statistics.noiseAdjustedLower(
                Statistics.clopperPearsonLower(successes: nA, trials: p.n, alpha: p.alpha), tailMass: info.noiseTailMass)
            guard pA >= 0.5 else {
                return Certificate(label: nil, selected: selected, countSelected: nA, pALower: pA, radius: 0)
            }
            return Certificate(label: selected, selected: selected, countSelected: nA, pALower: pA,
                               radius: sigmaEff * Statistics.normalQuantile(pA))
        }
    }

    /// PREDICT's decision on one input's votes: top two by count (lowest index first on ties), a
    /// two-sided binomial test between them.
    func prediction(_ counts: [Int], alpha: Double) -> Prediction {
        let order = counts.indices.sorted { counts[$0] != counts[$1] ? counts[$0] > counts[$1] : $0 < $1 }
        let (a, b) = (order[0], order[1])
        let pValue = Statistics.binomialTestPValue(counts[a], n: counts[a] + counts[b], p: 0.5)
        return Prediction(label: pValue <= alpha ? a : nil, top: a, runnerUp: b, countTop: counts[a],
                          countRunnerUp: counts[b], pValue: pValue, counts: counts)
    }

    /// The most voted class, the lowest index on ties.
    func argmax(_ counts: [Int]) -> Int {
        var best = 0
        for (k, c) in counts.enumerated() where c > counts[best] { best = k }
        return best
    }

    func checkInput(_ x: UnsafeBufferPointer<Float>) throws {
        guard x.count == info.inputShape.count else {
            throw RSCError.inputSize("x has \(x.count) values, the model takes \(info.inputShape.count) (\(info.inputShape))")
        }
        try InputCheck.values(x, name: "x")
    }

    /// The inputs of a call: one (batch false: exactly checkInput, messages name x), or a batch
    /// (messages name xs and xs[i], whatever count): count >= 1 inputs of d values, streams
    /// first .. first + count - 1 without wrapping, and the call's count x passes passes (passes:
    /// all of one input's, n0 + n for certify) and count x K votes within Int. Every size is
    /// checked, with overflow, before any value of xs is read or anything is allocated.
    func checkInputs(_ xs: UnsafeBufferPointer<Float>, count: Int, batch: Bool, stream: UInt64, passes: Int) throws {
        guard count >= 1 else { throw RSCError.invalidArgument("num_inputs is \(count), at least 1 input is needed") }
        if !batch { precondition(count == 1, "a single call has one input"); return try checkInput(xs) }
        let d = info.inputShape.count, K = info.numClasses
        let (len, over) = count.multipliedReportingOverflow(by: d)
        guard !over else {
            throw RSCError.inputSize("num_inputs x d = \(count) x \(d) overflows; no buffer holds that many values")
        }
        guard xs.count == len else {
            throw RSCError.inputSize("xs has \(xs.count) values, \(count) inputs of \(d) (\(info.inputShape)) are \(len)")
        }
        guard stream <= UInt64.max - UInt64(count - 1) else {
            throw RSCError.invalidArgument("streams \(stream) + 0 ..< \(count) pass 2^64 - 1; use a smaller first stream")
        }
        guard !count.multipliedReportingOverflow(by: max(passes, 1)).overflow else {
            throw RSCError.invalidArgument("num_inputs x passes = \(count) x \(passes) passes is more than \(Int.max) (2^63 - 1); split the batch")
        }
        guard !count.multipliedReportingOverflow(by: K).overflow else {
            throw RSCError.invalidArgument("num_inputs x num_classes = \(count) x \(K) votes is more than \(Int.max) (2^63 - 1); split the batch")
        }
        for i in 0..<count {
            try InputCheck.values(UnsafeBufferPointer(rebasing: xs[(i * d)..<((i + 1) * d)]), name: "xs[\(i)]")
        }
    }

    /// sigma_eff, the radius scale of certify, or the error certify gives on a model whose coding
    /// has no certificate (direct, poisson).
    public func certificateScale() throws -> Double {
        guard let sigmaEff = info.sigmaEffective else {
            throw RSCError.unsupported("certify needs gaussian or gaussian-shared coding; this model uses \(info.coding.name) coding, which gives no certificate (use predict)")
        }
        return sigmaEff
    }
}

/// The argument checks of predict and certify, callable before any work (the CLI checks its
/// options before it reads a data set).
func checkPasses(_ n: Int, name: String) throws {
    guard n >= 1 else { throw RSCError.invalidArgument("\(name) is \(n), at least 1 pass is needed") }
    guard n <= Limits.maxPasses else { throw RSCError.invalidArgument("\(name) is \(n), more than \(Limits.maxPasses)") }
}

func checkCommon(alpha: Double, threads: Int) throws {
    guard alpha > 0, alpha < 1 else { throw RSCError.invalidArgument("alpha is \(alpha), it must lie in (0, 1)") }
    guard threads >= 0 else { throw RSCError.invalidArgument("threads is \(threads), it must be >= 0") }
}

extension PredictParameters {
    /// Throws the error predict would give for these parameters.
    public func validate() throws {
        try checkPasses(n, name: "n")
        try checkCommon(alpha: alpha, threads: threads)
    }
}

extension CertifyParameters {
    /// Throws the error certify would give for these parameters (the model's coding aside:
    /// `Model.certificateScale`).
    public func validate() throws {
        try checkPasses(n0, name: "n0")
        try checkPasses(n, name: "n")
        try checkCommon(alpha: alpha, threads: threads)
    }
}

private let defaultThreads = Atomic<Int>(0)

/// Where a phase's passes lie among those of the whole call, for cancellation messages: phase
/// pass j is pass before + j of the call's total (atMost: a sequential call's cap, n0 + n_max).
struct PassSpan {
    let phase: String
    let before: Int
    let total: Int
    var atMost = false

    private var of: String { "of the call's \(atMost ? "at most " : "")\(total) passes" }

    func cancelled(after done: Int) -> RSCError {
        .cancelled("cancelled by the progress callback after \(before + done) \(of) (in its \(phase) phase)")
    }

    func cancelled(during start: Int, _ end: Int) -> RSCError {
        .cancelled("cancelled by the progress callback during passes \(before + start)..<\(before + end) \(of) (in its \(phase) phase)")
    }
}

/// What the kernel's poll callback needs: the progress closure and the passes done before the chunk.
private final class PollContext {
    let progress: (Int) -> Bool
    let base: Int
    init(progress: @escaping (Int) -> Bool, base: Int) {
        self.progress = progress
        self.base = base
    }
}

/// Counts base-classifier votes over chunks of passes, reporting progress between chunks (outside
/// the OpenMP region, so the callback runs on the caller's thread) and stopping when it says so.
/// With a callback (`polled`) the kernel also calls it from inside the passes, on the calling
/// thread, every `pollWork` operations of that thread's work, so that a call on a slow model
/// stops within a bounded time (docs/reliability.md), not only between chunks.
/// A counter holds one input or a batch: the kernel's items are (input, pass) pairs, input-major.
struct VoteCounter {
    static let chunk = 2048
    /// Some tens of milliseconds of one core's work between polls inside a chunk: a cancellation
    /// lands quickly, and a callback (a Python one through ctypes, say) costs nothing measurable.
    static let pollWork: UInt64 = 1 << 26
    let model: Model
    let xs: UnsafeBufferPointer<Float>
    let keys: [rsck_key]
    let threads: Int
    let scratch: Scratch
    let polled: Bool

    init(model: Model, x: UnsafeBufferPointer<Float>, seed: UInt64, stream: UInt64, threads requested: Int,
         passes: Int, polled: Bool = false) throws {
        try self.init(model: model, xs: x, count: 1, seed: seed, firstStream: stream, threads: requested,
                      passes: passes, polled: polled)
    }

    /// count inputs of d floats in xs, input i keyed by (seed, firstStream + i); passes: the most
    /// any phase counts per input (threads beyond count x passes would idle).
    init(model: Model, xs: UnsafeBufferPointer<Float>, count: Int, seed: UInt64, firstStream: UInt64,
         threads requested: Int, passes: Int, polled: Bool = false) throws {
        self.polled = polled
        let fallback = Model.defaultThreadCount > 0 ? Model.defaultThreadCount : Int(rsck_max_threads())
        let items = count.multipliedReportingOverflow(by: passes)
        let work = items.overflow ? Int.max : items.partialValue
        // More threads than passes would only idle.
        // And no more than the system can create now: libomp would abort the process instead.
        threads = Int(rsck_usable_threads(Int32(max(1, min(requested > 0 ? requested : fallback, work,
                                                                Int(RSCK_MAX_THREADS))))))
        self.model = model
        self.xs = xs
        keys = (0..<count).map { rsck_derive_key(seed, firstStream &+ UInt64($0)) }
        scratch = try Scratch(bytes: model.plan.scratchBytes, threads: threads)
    }

    /// Votes of passes start..<n of a phase for a one-input counter (each pass's vote depends
    /// only on its index, so the counts of consecutive ranges add up to those of their union);
    /// progress gets the passes done of the phase, start first. span: where the phase's pass 0
    /// lies among the call's passes (for messages).
    func count(_ phase: Phase, from start: Int, to n: Int, span: PassSpan, progress: (Int) -> Bool) throws -> [Int] {
        precondition(keys.count == 1, "count(from:to:) takes a one-input counter")
        return try countItems(phase, passes: n, from: start, to: n, span: span, progress: progress).map { Int($0) }
    }

    /// Votes of passes 0..<n of a phase for every input, [input][class]; progress gets the
    /// passes done over all inputs.
    func countAll(_ phase: Phase, passes n: Int, span: PassSpan, progress: (Int) -> Bool) throws -> [[Int]] {
        let K = model.info.numClasses
        let (items, over) = keys.count.multipliedReportingOverflow(by: n)
        guard !over else {
            throw RSCError.invalidArgument("num_inputs x passes = \(keys.count) x \(n) passes is more than \(Int.max) (2^63 - 1)")
        }
        let votes = try countItems(phase, passes: n, from: 0, to: items, span: span, progress: progress)
        return (0..<keys.count).map { i in votes[(i * K)..<((i + 1) * K)].map { Int($0) } }
    }

    /// Items start..<end (item j: pass j % passes of input j / passes), in chunks of
    /// `chunk` x threads items: [input * K + class] votes.
    private func countItems(_ phase: Phase, passes: Int, from start: Int, to end: Int, span: PassSpan,
                            progress: (Int) -> Bool) throws -> [UInt64] {
        let (size, over) = keys.count.multipliedReportingOverflow(by: model.info.numClasses)
        guard !over else {
            throw RSCError.invalidArgument("num_inputs x num_classes = \(keys.count) x \(model.info.numClasses) votes is more than \(Int.max) (2^63 - 1)")
        }
        var votes = [UInt64](repeating: 0, count: size)
        var done = start
        while done < end {
            guard progress(done) else { throw span.cancelled(after: done) }
            let m = min(Self.chunk * threads, end - done)
            let stopped = withoutActuallyEscaping(progress) {
                runChunk(phase, passes: passes, from: done, count: m, votes: &votes, progress: $0)
            }
            if stopped { throw span.cancelled(during: done, done + m) }
            done += m
        }
        guard progress(end) else { throw span.cancelled(after: end) }
        return votes
    }

    /// One kernel call over items start..<start + count, adding to votes; true when the progress
    /// callback stopped it from inside (polled only).
    private func runChunk(_ phase: Phase, passes: Int, from start: Int, count: Int, votes: inout [UInt64],
                          progress: @escaping (Int) -> Bool) -> Bool {
        let box = PollContext(progress: progress, base: start)  // lives for this call only
        var poll = rsck_poll(fn: { ctx, finished in
            let box = Unmanaged<PollContext>.fromOpaque(ctx!).takeUnretainedValue()
            return box.progress(box.base + Int(finished)) ? 0 : 1
        }, ctx: Unmanaged.passUnretained(box).toOpaque(), every: Self.pollWork)
        return withExtendedLifetime(box) {
            withUnsafePointer(to: model.plan.net) { net in
                scratch.blocks.withUnsafeBufferPointer { blocks in
                    keys.withUnsafeBufferPointer { k in
                        votes.withUnsafeMutableBufferPointer { v in
                            withUnsafePointer(to: &poll) { pollPointer in
                                rsck_count_votes_batch(net, xs.baseAddress, k.baseAddress, phase.rawValue, UInt64(passes),
                                                       UInt64(start), UInt64(count), Int32(threads), blocks.baseAddress,
                                                       v.baseAddress, polled ? pollPointer : nil) != 0
                            }
                        }
                    }
                }
            }
        }
    }
}
