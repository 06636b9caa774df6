import CRSCKernel
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The runnable form of a model: the kernel's C structs (Sources/CRSCKernel/include/rsc_kernel.h)
/// and the repacked weights they point to, owned here and immutable after init, so one plan is
/// shared by any number of threads. How real values map to integers is in docs/kernel.md.
final class NetworkPlan: @unchecked Sendable {
    private(set) var net = rsck_net()
    private var layers: UnsafeMutablePointer<rsck_layer>?
    private var allocations: [UnsafeMutableRawPointer] = []
    /// Bytes of scratch one thread needs (rsck_scratch_size).
    private(set) var scratchBytes = 0

    /// Largest input magnitude a dense layer is sized for; its currents saturate beyond that
    /// (images in [0, 1] plus noise of sigma <= 2 stay well inside).
    static let analogRange = 16.0
    /// Membrane values and currents stay within +-2^30, half of int32, leaving room for rounding.
    static let fixedPointBudget = 1073741824.0
    /// Largest |value| of the coded input: inputs are checked against Limits.maxInputMagnitude and
    /// the noise stays within 10 sigma (docs/kernel.md, "Randomness").
    static func inputBound(_ m: ModelDescription) -> Double {
        Double(Limits.maxInputMagnitude) + 10 * Double(m.sigma) + 1
    }
    /// float32 values (analog maps, their accumulators, the logits rsc_forward returns) must stay
    /// below this, so nothing becomes inf or NaN (inf - inf) and the argmax stays meaningful.
    static let floatBound = 1e37

    /// What the plan knows of a node's output beyond its type.
    private struct Value {
        var type: ValueType
        /// The operation whose output buffer holds it (-1: the coded input).
        var op: Int32 = -1
        /// Counts: the largest value and the real value of one count (1, or 1/(kh*kw) per avgpool).
        var maxCount = 1
        var inMult = 1.0
        /// Analog: |value| <= analogRange * gain (sum pools of the input grow it).
        var gain = 1.0
        /// Arithmetic 1: the input grid and pools of it, int16 integers with maxCount bounding
        /// |value| and inMult the real value of one unit (docs/format.md, "Arithmetic").
        var quantized = false
        /// Integers the plan sizes exactly: spikes, counts, or the quantized input.
        var isInteger: Bool { type != .analog || quantized }
    }

    /// The largest |value| of an int16 map.
    static let quantLimit = Int(Int16.max)

    /// One addend of the current a neuron reads: a weighted node, or a count map added to it.
    private enum Term { case weighted(Int), counts(Int) }

    /// The membrane unit of a neuron and the bound its currents were sized for.
    private struct Unit { var u: Double; var limit: Double; var single: Bool }

    /// Work and memory of the plan, reported by rsc_model_info and bounded at load.
    private(set) var workPerPass = 0
    private(set) var planBytes = 0
    /// Arithmetic 1: the model's classifier is the integer pipeline of docs/format.md.
    private var integer = false
    /// What each operation of the plan runs, in plan order (rsc-cli profile).
    private(set) var operationNames: [String] = []

    init(_ m: ModelDescription, options: LoadOptions = LoadOptions()) throws {
        let nodes = m.nodes
        if case .integer = m.arithmetic { integer = true }
        var values = [Value(type: .analog)]
        if case .integer(let shift, let limit) = m.arithmetic {
            values[0].quantized = true
            values[0].maxCount = limit
            values[0].inMult = Double(sign: .plus, exponent: -shift, significand: 1)
        }
        for n in nodes { values.append(Value(type: n.type)) }
        // Count and analog ranges, forward.
        for (k, n) in nodes.enumerated() {
            let i = k + 1, src = values[n.inputs[0]]
            let label = m.label(i)
            var v = values[i]
            switch n.kind {
            case .avgpool2d, .sumpool2d, .globalAvgpool:
                let window = n.kind == .globalAvgpool ? inputArea(m, n) : n.kernel.h * n.kernel.w
                if !src.isInteger {
                    v.gain = n.kind == .sumpool2d ? src.gain * Double(window) : src.gain
                } else {
                    v.maxCount = src.maxCount * window
                    v.inMult = n.kind == .sumpool2d ? src.inMult : src.inMult / Double(window)
                }
                v.quantized = src.quantized
            case .maxpool2d, .flatten:
                v.maxCount = src.maxCount; v.inMult = src.inMult; v.gain = src.gain; v.quantized = src.quantized
            case .add where n.type == .counts:
                let b = values[n.inputs[1]]
                guard src.inMult == b.inMult else {
                    throw RSCError.unsupported("\(label): adds counts of different real values (\(src.inMult) and \(b.inMult) per count: an average pool on one branch only)")
                }
                v.maxCount = src.maxCount + b.maxCount; v.inMult = src.inMult
            default:
                break
            }
            if v.quantized && v.maxCount > Self.quantLimit {
                throw RSCError.limit("\(label): sums of the quantized input can reach \(v.maxCount) grid units, more than the \(Self.quantLimit) of int16 (a smaller input_limit avoids it)")
            }
            if !v.isInteger && Self.inputBound(m) * v.gain > Self.floatBound {
                throw RSCError.unsupported("\(label): sum pools of the input can reach \(Self.inputBound(m) * v.gain), beyond float32 (the model can overflow)")
            }
            if n.kind.isWeighted {
                let l1 = l1Norms(n)
                let bound = (0..<n.output.channels).map { o -> Double in
                    let w = Double(l1[o]) * Double(n.scales[o])
                    return (!src.isInteger ? Self.inputBound(m) * src.gain : Double(src.maxCount) * src.inMult) * w
                        + abs(Double(n.biases[o]))
                }.max() ?? 0
                let accBound = !src.isInteger ? Self.inputBound(m) * src.gain * Double(l1.max() ?? 0) : 0
                guard bound <= Self.floatBound, accBound <= Self.floatBound else {
                    throw RSCError.unsupported("\(label): its outputs can reach \(max(bound, accBound)) (weights x scales x inputs), beyond float32: the model can overflow")
                }
            }
            if v.type == .counts || v.type == .spikes {
                guard v.maxCount <= Int(UInt16.max) else {
                    throw RSCError.limit("\(label): counts can reach \(v.maxCount), more than 65535")
                }
            }
            values[i] = v
        }
        // Readers, and the neuron each current flows into.
        var reader = [Int](repeating: 0, count: nodes.count + 1)
        for (k, n) in nodes.enumerated() { for j in n.inputs { reader[j] = k + 1 } }
        var sink = [Int](repeating: 0, count: nodes.count + 1)
        for i in stride(from: nodes.count - 1, through: 1, by: -1) where values[i].type == .current {
            let r = reader[i]
            sink[i] = nodes[r - 1].kind.isNeuron ? r : sink[r]
        }

        do {
            try checkResources(m, values: values, maxWork: options.maxWorkPerPass)
            // Membrane units, one per neuron, chosen over all the currents it sums.
            var units = [Int: Unit]()
            var weightedFacts = [Int: (l1: [Int], scales: [Float])]()
            for (k, n) in nodes.enumerated() where n.kind.isWeighted { weightedFacts[k + 1] = (l1Norms(n), n.scales) }
            for (k, n) in nodes.enumerated() where n.kind.isNeuron {
                let terms = collect(n.inputs[0], nodes: nodes, values: values)
                units[k + 1] = try chooseUnit(n, terms: terms, nodes: nodes, values: values, facts: weightedFacts,
                                              timeSteps: m.timeSteps, label: m.label(k + 1))
            }

            var planned: [rsck_layer] = []
            for (k, n) in nodes.enumerated() {
                let i = k + 1, src = values[n.inputs[0]]
                let label = m.label(i)
                var L = geometry(n, input: shape(m, n.inputs[0]))
                L.in0 = src.op
                L.input_kind = kernelKind(src)
                switch n.kind {
                case .flatten:
                    values[i].op = src.op  // HWC memory stays; weighted nodes after it read it through a permutation
                    continue
                case .lif, .integrateAndFire:
                    if nodes[n.inputs[0] - 1].kind.isWeighted {
                        values[i].op = values[n.inputs[0]].op  // fused into the weighted operation
                        continue
                    }
                    L.kind = Int32(RSCK_NEURON)
                    setNeuron(&L, n, unit: units[i]!)
                case .avgpool2d, .sumpool2d, .globalAvgpool:
                    L.kind = n.kind == .sumpool2d ? Int32(RSCK_SUMPOOL) : Int32(RSCK_AVGPOOL)
                case .maxpool2d:
                    L.kind = Int32(RSCK_MAXPOOL)
                case .add, .and, .iand:
                    let b = values[n.inputs[1]]
                    L.kind = n.kind == .add ? Int32(RSCK_ADD) : n.kind == .and ? Int32(RSCK_AND) : Int32(RSCK_IAND)
                    L.in1 = b.op
                    L.in1_kind = kernelKind(b)
                    if n.type == .current, let unit = units[sink[i]] {
                        L.add_m0 = src.type == .current ? 0 : Int32((src.inMult * unit.u).rounded())
                        L.add_m1 = b.type == .current ? 0 : Int32((b.inMult * unit.u).rounded())
                    }
                case .conv2d, .linear:
                    let r = reader[i]
                    let fused = i < nodes.count && nodes[r - 1].kind.isNeuron ? r : nil
                    L = try weighted(n, inShape: shape(m, n.inputs[0]), memory: memoryShape(m, n.inputs[0]),
                                     input: src, neuron: fused.map { nodes[$0 - 1] },
                                     unit: i == nodes.count ? nil : units[fused ?? sink[i]], facts: weightedFacts[i]!,
                                     label: label)
                    L.in0 = src.op
                    L.last = i == nodes.count ? 1 : 0
                    if fused == nil && i < nodes.count { L.out_kind = Int32(RSCK_CURRENT) }
                    values[i].op = Int32(planned.count)
                    planned.append(L)
                    operationNames.append(operationName(m, i, source: src, fused: fused))
                    continue
                }
                L.out_kind = kernelKind(values[i])
                values[i].op = Int32(planned.count)
                planned.append(L)
                operationNames.append(operationName(m, i, source: src, fused: nil))
            }
            let p = try allocate(planned)
            layers = p
            net.n_layers = Int32(planned.count)
            net.layers = UnsafePointer(p)
            net.in_c = Int32(m.input.channels); net.in_h = Int32(m.input.height); net.in_w = Int32(m.input.width)
            net.num_classes = Int32(m.numClasses)
            net.time_steps = Int32(m.timeSteps)
            net.coding = Int32(m.coding.rawValue)
            net.sigma = m.sigma
            if case .integer(let shift, let limit) = m.arithmetic {
                net.integer = 1; net.input_shift = Int32(shift); net.input_limit = Int32(limit)
            }
            scratchBytes = withUnsafePointer(to: net) { rsck_scratch_size($0) }
            guard scratchBytes <= Limits.maxScratchBytes else {
                throw RSCError.limit("the model needs \(scratchBytes) bytes of scratch memory per thread, more than the \(Limits.maxScratchBytes) rsc allows (docs/reliability.md)")
            }
        } catch {
            release()
            throw error
        }
    }

    /// "node 3 (conv2d) 16->32 3x3 on counts <= 4 + LIF", for profiles.
    private func operationName(_ m: ModelDescription, _ i: Int, source: Value, fused: Int?) -> String {
        let n = m.nodes[i - 1], inC = shape(m, n.inputs[0]).channels
        var s = m.label(i)
        if n.kind.isWeighted {
            s += " \(inC)->\(n.output.channels)" + (n.kind == .conv2d ? " \(n.kernel.h)x\(n.kernel.w)" : "")
        }
        let input: String
        switch source.type {
        case .analog: input = source.quantized ? (n.inputs[0] == 0 ? "the int16 input" : "int16 pools of the input") : "floats"
        case .spikes: input = "spikes"
        case .counts: input = "counts <= \(source.maxCount)"
        case .current: input = "currents"
        }
        s += " on \(input)"
        if let fused { s += " + \(m.nodes[fused - 1].kind)" }
        return s
    }

    private func kernelKind(_ v: Value) -> Int32 {
        switch v.type {
        case .analog: return v.quantized ? Int32(RSCK_QUANT) : Int32(RSCK_ANALOG)
        case .spikes, .counts: return Int32(RSCK_COUNT)
        case .current: return Int32(RSCK_CURRENT)
        }
    }

    private func shape(_ m: ModelDescription, _ j: Int) -> Shape3 { j == 0 ? m.input : m.nodes[j - 1].output }
    private func memoryShape(_ m: ModelDescription, _ j: Int) -> Shape3 { j == 0 ? m.input : m.nodes[j - 1].memory }
    private func inputArea(_ m: ModelDescription, _ n: NodeDescription) -> Int {
        let s = shape(m, n.inputs[0]); return s.height * s.width
    }
    /// The addends of the current node j: weighted nodes and count maps, through adds.
    private func collect(_ j: Int, nodes: [NodeDescription], values: [Value]) -> [Term] {
        guard values[j].type == .current else { return [.counts(j)] }
        let n = nodes[j - 1]
        if n.kind.isWeighted { return [.weighted(j)] }
        return collect(n.inputs[0], nodes: nodes, values: values) + collect(n.inputs[1], nodes: nodes, values: values)
    }

    private func l1Norms(_ n: NodeDescription) -> [Int] {
        let outC = n.output.channels, per = n.weights.count / outC
        return (0..<outC).map { o in n.weights[(o * per)..<((o + 1) * per)].reduce(0) { $0 + abs(Int($1)) } }
    }

    /// Work per pass and plan memory, checked before anything is allocated.
    private func checkResources(_ m: ModelDescription, values: [Value], maxWork: Int) throws {
        var work = m.input.count, bytes = 0
        var firstHeavyNode: (Int, Int)? = nil
        for (j, n) in m.nodes.enumerated() {
            let inShape = shape(m, n.inputs[0])
            let before = work
            defer {
                if work - before > Limits.maxWorkPerOperation, firstHeavyNode == nil { firstHeavyNode = (j, work - before) }
            }
            switch n.kind {
            case .conv2d, .linear:
                work += n.output.count * inShape.channels * n.kernel.h * n.kernel.w
                let ocStride = (n.output.channels + Int(RSCK_TILE) - 1) / Int(RSCK_TILE) * Int(RSCK_TILE)
                let rows = n.kernel.h * n.kernel.w * inShape.channels
                let src = values[n.inputs[0]]
                if src.quantized {
                    bytes += rows * ocStride + n.kernel.h * ((n.kernel.w * inShape.channels + 1) / 2) * ocStride * 4
                } else if src.type == .analog {
                    bytes += rows * ocStride * 4
                } else {
                    bytes += rows * ocStride + (src.maxCount <= 255 ? n.kernel.h * n.kernel.w * ((inShape.channels + 3) / 4 * 4) * ocStride : 0)
                    bytes += 8 * (inShape.height * n.kernel.h + inShape.width * n.kernel.w + inShape.height + inShape.width)
                }
                bytes += 24 * n.output.channels
            case .avgpool2d, .sumpool2d, .maxpool2d:
                work += n.output.count * n.kernel.h * n.kernel.w
            case .globalAvgpool:
                work += inShape.count
            default:
                work += n.output.count
            }
        }
        work *= m.timeSteps
        workPerPass = work
        planBytes = bytes
        guard work <= maxWork else {
            let raise = maxWork < Limits.maxWorkPerPassCeiling ? "; a load option raises the limit up to \(Limits.maxWorkPerPassCeiling)" : ""
            throw RSCError.limit("one pass of the model takes \(work) operations (multiply-accumulates, pooling and neuron updates over T = \(m.timeSteps) steps), more than the \(maxWork) allowed (docs/reliability.md)\(raise)")
        }
        if let (j, w) = firstHeavyNode {
            throw RSCError.limit("\(m.label(j + 1)) takes \(w) operations at each step, more than the \(Limits.maxWorkPerOperation) rsc allows for one operation (it bounds how long a cancellation takes; docs/reliability.md)")
        }
        let allowed = Limits.planBytesPerFileByte * m.fileBytes + Limits.planSlackBytes
        guard bytes <= allowed else {
            throw RSCError.limit("the model's network plan needs \(bytes) bytes, more than \(Limits.planBytesPerFileByte) x its file size + \(Limits.planSlackBytes) = \(allowed) (docs/reliability.md)")
        }
    }

    /// Fixed point: membrane unit u = S * 2^-F with S the largest channel scale of the weighted
    /// nodes the neuron's current sums, F as large as the worst case over T steps allows. LIF with
    /// decay_input is a convex combination of v and I + v_reset, so |v| stays below max|I| + |v_reset|
    /// (+ rounding), unless a soft reset by a threshold <= 0 pushes it up each step; without
    /// decay_input |v - v_reset| <= min(T, tau) max|I|; IF integrates: |v| <= T * (max|I| + |v_th|) + |v_reset|.
    /// max|I| is the sum of the addends' bounds (the residual sum included).
    private func chooseUnit(_ n: NodeDescription, terms: [Term], nodes: [NodeDescription], values: [Value],
                            facts: [Int: (l1: [Int], scales: [Float])], timeSteps: Int, label: String) throws -> Unit {
        let S = Double(terms.compactMap { t -> Float? in if case .weighted(let j) = t { return facts[j]!.scales.max()! } else { return nil } }.max()!)
        let contracts = !n.softReset || n.vThreshold > 0
        let steps: Double
        if n.kind == .lif && n.decayInput && contracts {
            steps = 2.0
        } else if n.kind == .lif && contracts {
            steps = min(Double(timeSteps), Double(n.tau).rounded(.up)) + 1
        } else {
            steps = Double(timeSteps + 1)
        }
        let channels = n.output.channels
        for F in stride(from: 20, through: 0, by: -1) {
            let u = Double(1 << F) / S
            let fixedV = abs(Double(n.vThreshold)) * u + abs(Double(n.vReset)) * u + Double(timeSteps) + 2
            var perChannel = [Double](repeating: 0, count: channels)
            for t in terms {
                switch t {
                case .weighted(let j):
                    let w = nodes[j - 1], src = values[w.inputs[0]], l1 = facts[j]!.l1
                    for o in 0..<channels { perChannel[o] += termBound(w, src: src, l1: l1[o], o: o, u: u) }
                case .counts(let j):
                    let c = values[j]
                    for o in 0..<channels { perChannel[o] += Double(c.maxCount) * (c.inMult * u).rounded() }
                }
            }
            let maxI = perChannel.max() ?? 0
            if steps * (maxI + fixedV) <= Self.fixedPointBudget {
                return Unit(u: u, limit: Self.fixedPointBudget / steps - fixedV, single: terms.count == 1)
            }
        }
        throw RSCError.unsupported("\(label): thresholds or biases too large relative to the weights for 32-bit fixed point")
    }

    /// Bound on |I| of output channel o of weighted node w in unit u.
    private func termBound(_ w: NodeDescription, src: Value, l1: Int, o: Int, u: Double) -> Double {
        let b = abs(Double(w.biases[o])) * u
        if !src.isInteger {
            return Self.analogRange * src.gain * Double(l1) * Double(w.scales[o]) * u + b
        }
        return Double(src.maxCount * l1) * Double(w.scales[o]) * src.inMult * u + b + 1
    }

    private func setNeuron(_ L: inout rsck_layer, _ n: NodeDescription, unit: Unit) {
        L.neuron = n.kind == .lif ? Int32(RSCK_NEURON_LIF) : Int32(RSCK_NEURON_IF)
        L.soft_reset = n.softReset ? 1 : 0
        L.decay_input = n.decayInput ? 1 : 0
        L.v_th = Int32((Double(n.vThreshold) * unit.u).rounded())
        L.v_reset = Int32((Double(n.vReset) * unit.u).rounded())
        // 1/tau in Q30 (2^30 / tau <= 2^30 for tau >= 1): relative error <= 2^-31 tau, where Q16
        // lost the leak entirely beyond tau = 131072 and was 0.7% off at tau = 1000.
        L.leak = n.kind == .lif ? Int32((Double(1 << 30) / Double(n.tau)).rounded()) : 0
    }

    deinit { release() }

    private func release() {
        for p in allocations { free(p) }
        allocations = []
    }

    /// 64-byte aligned copy owned by the plan.
    private func allocate<T>(_ values: [T]) throws -> UnsafeMutablePointer<T> {
        var raw: UnsafeMutableRawPointer?
        let bytes = max(1, values.count * MemoryLayout<T>.stride)
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            throw RSCError.outOfMemory("cannot allocate \(bytes) bytes for the network plan")
        }
        allocations.append(raw)
        let p = raw.bindMemory(to: T.self, capacity: max(1, values.count))
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { p.initialize(from: base, count: values.count) }
        }
        return p
    }

    /// Zero-filled, 64-byte aligned memory for count values, owned by the plan.
    private func allocate<T>(zeroed: T.Type, count: Int) throws -> UnsafeMutablePointer<T> {
        var raw: UnsafeMutableRawPointer?
        let bytes = max(1, count * MemoryLayout<T>.stride)
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            throw RSCError.outOfMemory("cannot allocate \(bytes) bytes for the network plan")
        }
        allocations.append(raw)
        memset(raw, 0, bytes)
        return raw.bindMemory(to: T.self, capacity: max(1, count))
    }

    private func geometry(_ d: NodeDescription, input: Shape3) -> rsck_layer {
        var L = rsck_layer()
        L.in_c = Int32(input.channels); L.in_h = Int32(input.height); L.in_w = Int32(input.width)
        L.out_c = Int32(d.output.channels); L.out_h = Int32(d.output.height); L.out_w = Int32(d.output.width)
        if d.kind == .globalAvgpool {
            L.kh = Int32(input.height); L.kw = Int32(input.width); L.sh = 1; L.sw = 1
        } else {
            L.kh = Int32(d.kernel.h); L.kw = Int32(d.kernel.w)
            L.sh = Int32(d.stride.h); L.sw = Int32(d.stride.w)
            L.ph = Int32(d.padding.h); L.pw = Int32(d.padding.w)
        }
        L.in0 = -1; L.in1 = -1
        return L
    }

    /// For each input row (column), the output rows (columns) it reaches and through which kernel
    /// row (column): the event loop's geometry, precomputed so that it needs no division.
    private func eventGeometry(_ L: inout rsck_layer) throws {
        func table(inSize: Int32, outSize: Int32, k: Int32, stride: Int32, pad: Int32) throws
            -> (UnsafePointer<Int32>, UnsafePointer<Int32>) {
            var map = [Int32](repeating: -1, count: Int(inSize * k)), count = [Int32](repeating: 0, count: Int(inSize))
            for i in 0..<inSize {
                for kk in 0..<k {
                    let t = i + pad - kk
                    guard t >= 0, t % stride == 0, t / stride < outSize else { continue }
                    map[Int(i * k + count[Int(i)])] = (t / stride) * 64 + kk
                    count[Int(i)] += 1
                }
            }
            return (UnsafePointer(try allocate(map)), UnsafePointer(try allocate(count)))
        }
        (L.ymap, L.ycount) = try table(inSize: L.in_h, outSize: L.out_h, k: L.kh, stride: L.sh, pad: L.ph)
        (L.xmap, L.xcount) = try table(inSize: L.in_w, outSize: L.out_w, k: L.kw, stride: L.sw, pad: L.pw)
    }

    /// Conv or linear: weights repacked to rows (ky, kx, input position in memory) of out_c values,
    /// and the fixed-point constants of its currents in the unit of the neuron that reads them
    /// (fused into this operation when it reads it directly).
    private func weighted(_ d: NodeDescription, inShape: Shape3, memory: Shape3, input: Value, neuron: NodeDescription?,
                          unit: Unit?, facts: (l1: [Int], scales: [Float]), label: String) throws -> rsck_layer {
        let analog = !input.isInteger, quantized = input.quantized, inMult = input.inMult, maxCount = input.maxCount
        var L = geometry(d, input: inShape)
        L.kind = d.kind == .conv2d ? Int32(RSCK_CONV) : Int32(RSCK_LINEAR)
        L.input_kind = kernelKind(input)
        L.out_kind = Int32(RSCK_COUNT)
        L.in_mult = Float(inMult)
        L.binary_input = maxCount == 1 && !quantized ? 1 : 0
        L.max_count = Int32(clamping: maxCount)
        if !analog && !quantized { try eventGeometry(&L) }

        // A vector input that is a flattened map lives in memory in HWC order; PyTorch's flatten,
        // which the weights follow, is CHW. logicalChannel[m] maps memory position m back.
        let inC = inShape.channels, outC = d.output.channels, kh = d.kernel.h, kw = d.kernel.w
        var logicalChannel = Array(0..<inC)
        if inShape.height == 1, inShape.width == 1, memory.height * memory.width > 1 {
            let (C, H, W) = (memory.channels, memory.height, memory.width)
            for y in 0..<H { for x in 0..<W { for c in 0..<C { logicalChannel[(y * W + x) * C + c] = c * H * W + y * W + x } } }
        }
        let ocStride = (outC + Int(RSCK_TILE) - 1) / Int(RSCK_TILE) * Int(RSCK_TILE)
        L.oc_stride = Int32(ocStride)
        // The rows are written in place into the plan's memory: padded to whole tiles and held as
        // float32 they can be 64x the file's weights, and a failed Swift array allocation would
        // abort the caller's process where allocate(zeroed:) throws RSC_E_NOMEM.
        let count = kh * kw * inC * ocStride
        let w8 = analog ? nil : try allocate(zeroed: Int8.self, count: count)
        let wf = analog ? try allocate(zeroed: Float.self, count: count) : nil
        // Counts that fit a byte also get the VNNI layout (rsc_kernel.h: w4) for dense steps.
        let inC4 = (inC + 3) / 4 * 4
        let w4 = !analog && !quantized && maxCount <= 255 ? try allocate(zeroed: Int8.self, count: kh * kw * inC4 * ocStride) : nil
        // The quantized input's pairs for vpdpwssd (rsc_kernel.h: w2).
        let pairs = (kw * inC + 1) / 2
        let w2 = quantized ? try allocate(zeroed: Int16.self, count: kh * pairs * ocStride * 2) : nil
        for o in 0..<outC {
            for ky in 0..<kh {
                for kx in 0..<kw {
                    for m in 0..<inC {
                        let w = d.weights[((o * inC + logicalChannel[m]) * kh + ky) * kw + kx]
                        let at = ((ky * kw + kx) * inC + m) * ocStride + o
                        if let wf { wf[at] = Float(w) } else { w8![at] = w }
                        w4?[(((ky * kw + kx) * (inC4 / 4) + m / 4) * ocStride + o) * 4 + m % 4] = w
                        let e = kx * inC + m  // position in the kernel row's span of kw * inC values
                        w2?[((ky * pairs + e / 2) * ocStride + o) * 2 + e % 2] = Int16(w)
                    }
                }
            }
        }
        // The int32 accumulators of a spike-fed layer hold sum(count * w) exactly only while
        // the largest count times the largest row sum |w| fits; this holds for the last layer too.
        if !analog, let widest = facts.l1.max(), maxCount * widest > Int(Int32.max) {
            throw RSCError.unsupported("\(label): input counts up to \(maxCount) times int8 weights summing to \(widest) per output can overflow the 32-bit accumulators")
        }
        if let wf { L.wf = UnsafePointer(wf) } else { L.w8 = UnsafePointer(w8) }
        if let w4 { L.w4 = UnsafePointer(w4) }
        if let w2 { L.w2 = UnsafePointer(w2) }
        L.scale = UnsafePointer(try allocate(d.scales))
        L.bias = UnsafePointer(try allocate(d.biases))
        guard let unit else { return L }  // the logits
        if let neuron { setNeuron(&L, neuron, unit: unit) }
        let u = unit.u
        if analog {
            L.an_mult = UnsafePointer(try allocate(d.scales.map { Double($0) * u }))
            L.an_bias = UnsafePointer(try allocate(d.biases.map { Double($0) * u }))
            // One addend: saturate where the worst case allows (as v1 always did); several: each at
            // its own bound, so their sum stays within the one the unit was chosen for.
            L.cur_limit = unit.single ? unit.limit
                : (0..<outC).map { termBound(d, src: input, l1: facts.l1[$0], o: $0, u: u) }.max()!
        } else {
            // The multipliers scale_c * inMult * u carry 30 significant bits (cur_shift extra ones):
            // rounding them to integers in membrane units alone would cost ~1e-3 relative error.
            let mults = d.scales.map { Double($0) * inMult * u }
            if integer {
                // Arithmetic 1: the multipliers and biases in binary32 (docs/format.md, step 5).
                L.cur_multf = UnsafePointer(try allocate(mults.map { Float($0) }))
                L.cur_biasf = UnsafePointer(try allocate(d.biases.map { Float(Double($0) * u) }))
                return L
            }
            let shift = max(0, min(40, 29 - Int(log2(mults.max()!).rounded(.up))))
            L.cur_shift = Int32(shift)
            L.cur_mult = UnsafePointer(try allocate(mults.map { Int32(($0 * Double(1 << shift)).rounded()) }))
            L.cur_bias = UnsafePointer(try allocate(d.biases.map { Int32((Double($0) * u).rounded()) }))
        }
        return L
    }
}
