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

    init(_ m: ModelDescription) throws {
        var planned: [rsck_layer] = []
        var analog = true                  // layer input: the coded image (or pools of it) vs spikes
        var memory = m.input               // the (C, H, W) map as laid out in memory (HWC)
        var inMult = 1.0                   // real value of one count of a spike map
        var maxCount = 1                   // largest count a spike map can hold
        var analogGain = 1.0               // analog sum pools before the first weighted layer scale |x|
        do {
            for (i, d) in m.layers.enumerated() {
                let label = "layer \(i) (\(d.kind))"
                switch d.kind {
                case .flatten:
                    continue  // HWC memory stays; weighted layers after it read it through a permutation
                case .avgpool2d, .sumpool2d:
                    guard d.input == memory else { throw RSCError.unsupported("\(label): pooling a flattened vector") }
                    var L = geometry(d, input: memory)
                    L.kind = d.kind == .avgpool2d ? Int32(RSCK_AVGPOOL) : Int32(RSCK_SUMPOOL)
                    L.input_kind = analog ? Int32(RSCK_ANALOG) : Int32(RSCK_COUNT)
                    if !analog {
                        maxCount *= d.kernel.h * d.kernel.w
                        guard maxCount <= Int(UInt16.max) else {
                            throw RSCError.limit("\(label): pooled spike counts can reach \(maxCount), more than 65535")
                        }
                        if d.kind == .avgpool2d { inMult /= Double(d.kernel.h * d.kernel.w) }
                    } else if d.kind == .sumpool2d {
                        analogGain *= Double(d.kernel.h * d.kernel.w)
                    }
                    planned.append(L)
                    memory = d.output
                case .conv2d, .linear:
                    let isLast = d.neuron == .none
                    var L = try weighted(d, memory: memory, analog: analog, inMult: inMult, maxCount: maxCount,
                                         analogGain: analogGain, timeSteps: m.timeSteps, label: label)
                    L.last = isLast ? 1 : 0
                    planned.append(L)
                    analog = false
                    memory = d.output
                    inMult = 1
                    maxCount = 1
                }
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
            scratchBytes = withUnsafePointer(to: net) { rsck_scratch_size($0) }
        } catch {
            release()
            throw error
        }
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

    private func geometry(_ d: LayerDescription, input: Shape3) -> rsck_layer {
        var L = rsck_layer()
        L.in_c = Int32(input.channels); L.in_h = Int32(input.height); L.in_w = Int32(input.width)
        L.out_c = Int32(d.output.channels); L.out_h = Int32(d.output.height); L.out_w = Int32(d.output.width)
        L.kh = Int32(d.kernel.h); L.kw = Int32(d.kernel.w)
        L.sh = Int32(d.stride.h); L.sw = Int32(d.stride.w)
        L.ph = Int32(d.padding.h); L.pw = Int32(d.padding.w)
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
    /// and for neuron layers the fixed-point constants.
    private func weighted(_ d: LayerDescription, memory: Shape3, analog: Bool, inMult: Double, maxCount: Int,
                          analogGain: Double, timeSteps: Int, label: String) throws -> rsck_layer {
        var L = geometry(d, input: d.input)
        L.kind = d.kind == .conv2d ? Int32(RSCK_CONV) : Int32(RSCK_LINEAR)
        L.input_kind = analog ? Int32(RSCK_ANALOG) : Int32(RSCK_COUNT)
        L.in_mult = Float(inMult)
        L.binary_input = maxCount == 1 ? 1 : 0
        if !analog { try eventGeometry(&L) }

        // A vector input that is a flattened map lives in memory in HWC order; PyTorch's flatten,
        // which the weights follow, is CHW. logicalChannel[m] maps memory position m back.
        let inC = d.input.channels, outC = d.output.channels, kh = d.kernel.h, kw = d.kernel.w
        var logicalChannel = Array(0..<inC)
        if d.input.height == 1, d.input.width == 1, memory.height * memory.width > 1 {
            let (C, H, W) = (memory.channels, memory.height, memory.width)
            for y in 0..<H { for x in 0..<W { for c in 0..<C { logicalChannel[(y * W + x) * C + c] = c * H * W + y * W + x } } }
        }
        let ocStride = (outC + Int(RSCK_TILE) - 1) / Int(RSCK_TILE) * Int(RSCK_TILE)
        L.oc_stride = Int32(ocStride)
        // The rows are written in place into the plan's memory: padded to whole tiles and held as
        // float32 they can be 64x the file's weights (a 16 MB file, 1 GiB), and a failed Swift array
        // allocation would abort the caller's process where allocate(zeroed:) throws RSC_E_NOMEM.
        let count = kh * kw * inC * ocStride
        let w8 = analog ? nil : try allocate(zeroed: Int8.self, count: count)
        let wf = analog ? try allocate(zeroed: Float.self, count: count) : nil
        // Counts that fit a byte also get the VNNI layout (rsc_kernel.h: w4) for dense steps.
        let inC4 = (inC + 3) / 4 * 4
        let w4 = !analog && maxCount <= 255 ? try allocate(zeroed: Int8.self, count: kh * kw * inC4 * ocStride) : nil
        var l1 = [Int](repeating: 0, count: outC)
        for o in 0..<outC {
            for ky in 0..<kh {
                for kx in 0..<kw {
                    for m in 0..<inC {
                        let w = d.weights[((o * inC + logicalChannel[m]) * kh + ky) * kw + kx]
                        let at = ((ky * kw + kx) * inC + m) * ocStride + o
                        if let wf { wf[at] = Float(w) } else { w8![at] = w }
                        w4?[(((ky * kw + kx) * (inC4 / 4) + m / 4) * ocStride + o) * 4 + m % 4] = w
                        l1[o] += abs(Int(w))
                    }
                }
            }
        }
        // The int32 accumulators of a spike-fed layer hold sum(count * w) exactly only while
        // the largest count times the largest row sum |w| fits; this holds for the last layer too.
        if !analog, let widest = l1.max(), maxCount * widest > Int(Int32.max) {
            throw RSCError.unsupported("\(label): input counts up to \(maxCount) times int8 weights summing to \(widest) per output can overflow the 32-bit accumulators")
        }
        if let wf { L.wf = UnsafePointer(wf) } else { L.w8 = UnsafePointer(w8) }
        if let w4 { L.w4 = UnsafePointer(w4) }
        L.scale = UnsafePointer(try allocate(d.scales))
        L.bias = UnsafePointer(try allocate(d.biases))
        guard d.neuron != .none else { return L }

        // Fixed point: membrane unit u = S * 2^-F with S the largest channel scale, F as large as the
        // worst case over T steps allows. LIF's update is a convex combination of v and
        // I + v_reset, so |v| stays below max|I| + |v_reset| (+ rounding), unless a soft reset by a
        // threshold <= 0 pushes it up each step; IF integrates: |v| <= T * (max|I| + |v_th|) + |v_reset|.
        L.neuron = d.neuron == .lif ? Int32(RSCK_NEURON_LIF) : Int32(RSCK_NEURON_IF)
        L.soft_reset = d.softReset ? 1 : 0
        let S = Double(d.scales.max()!)
        let bounded = d.neuron == .lif && (!d.softReset || d.vThreshold > 0)
        let steps = bounded ? 2.0 : Double(timeSteps + 1)
        var chosen: (f: Double, limit: Double)?
        for F in stride(from: 20, through: 0, by: -1) {
            let u = Double(1 << F) / S  // membrane units per real unit
            let fixedV = abs(Double(d.vThreshold)) * u + abs(Double(d.vReset)) * u + Double(timeSteps) + 2
            var maxI = 0.0
            for o in 0..<outC {
                let b = abs(Double(d.biases[o])) * u
                if analog {
                    maxI = max(maxI, Self.analogRange * analogGain * Double(l1[o]) * Double(d.scales[o]) * u + b)
                } else {
                    maxI = max(maxI, Double(maxCount * l1[o]) * Double(d.scales[o]) * inMult * u + b + 1)
                }
            }
            if steps * (maxI + fixedV) <= Self.fixedPointBudget {
                chosen = (u, Self.fixedPointBudget / steps - fixedV)
                break
            }
        }
        guard let (u, limit) = chosen else {
            throw RSCError.unsupported("\(label): thresholds or biases too large relative to the weights for 32-bit fixed point")
        }
        L.v_th = Int32((Double(d.vThreshold) * u).rounded())
        L.v_reset = Int32((Double(d.vReset) * u).rounded())
        // 1/tau in Q30 (2^30 / tau <= 2^30 for tau >= 1): relative error <= 2^-31 tau, where Q16
        // lost the leak entirely beyond tau = 131072 and was 0.7% off at tau = 1000.
        L.leak = d.neuron == .lif ? Int32((Double(1 << 30) / Double(d.tau)).rounded()) : 0
        if analog {
            L.an_mult = UnsafePointer(try allocate(d.scales.map { Double($0) * u }))
            L.an_bias = UnsafePointer(try allocate(d.biases.map { Double($0) * u }))
            L.cur_limit = limit
        } else {
            // The multipliers scale_c * inMult * u carry 30 significant bits (cur_shift extra ones):
            // rounding them to integers in membrane units alone would cost ~1e-3 relative error.
            let mults = d.scales.map { Double($0) * inMult * u }
            let shift = max(0, min(40, 29 - Int(log2(mults.max()!).rounded(.up))))
            L.cur_shift = Int32(shift)
            L.cur_mult = UnsafePointer(try allocate(mults.map { Int32(($0 * Double(1 << shift)).rounded()) }))
            L.cur_bias = UnsafePointer(try allocate(d.biases.map { Int32((Double($0) * u).rounded()) }))
        }
        return L
    }
}
