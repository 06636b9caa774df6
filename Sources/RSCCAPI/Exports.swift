#if canImport(Glibc)
import Glibc
#endif
import CRSCKernel
import RSC
import Synchronization

// The C ABI of include/rsc.h, one @_cdecl function per declaration; nothing else is exported
// under an rsc_ name (Tests check the symbol list against the header).

/// What an rsc_model* points to: the Swift model and the C strings rsc_model_info hands out.
final class ModelHandle {
    let model: Model
    let name: UnsafeMutablePointer<CChar>
    let classNames: UnsafeMutablePointer<UnsafePointer<CChar>?>

    init(_ model: Model) {
        self.model = model
        name = strdup(model.info.name)
        classNames = .allocate(capacity: model.info.numClasses)
        for (k, s) in model.info.classNames.enumerated() { classNames[k] = UnsafePointer(strdup(s)) }
    }

    deinit {
        free(name)
        for k in 0..<model.info.numClasses { free(UnsafeMutableRawPointer(mutating: classNames[k])) }
        classNames.deallocate()
    }

    static func from(_ p: OpaquePointer?) throws -> ModelHandle {
        guard let p else { throw RSCError.nullPointer("model is NULL") }
        guard live.withLock({ $0.contains(UInt(bitPattern: p)) }) else {
            throw RSCError.invalidArgument("model \(p) is not a loaded model: freed already, or not from rsc_load")
        }
        return Unmanaged<ModelHandle>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue()
    }

    /// The models rsc_load handed out and rsc_free has not released. Every call looks its model
    /// up here, so a call after rsc_free (or on a pointer that never was a model) gets
    /// RSC_E_ARG instead of reading freed memory, and a second rsc_free does nothing. Not a
    /// guarantee: a later rsc_load may return the freed address again, and a call racing with
    /// rsc_free on the same model stays undefined (rsc.h).
    static let live = Mutex<Set<UInt>>([])

    static func register(_ h: ModelHandle) -> OpaquePointer {
        let p = OpaquePointer(Unmanaged.passRetained(h).toOpaque())
        _ = live.withLock { $0.insert(UInt(bitPattern: p)) }
        return p
    }
}

// nonisolated(unsafe): an immortal C string, never written after this initialisation.
nonisolated(unsafe) private let versionString: UnsafePointer<CChar> = UnsafePointer(strdup("\(RSC_VERSION_MAJOR).\(RSC_VERSION_MINOR).\(RSC_VERSION_PATCH)")!)

@_cdecl("rsc_version")
public func capiVersion() -> UnsafePointer<CChar> { versionString }

@_cdecl("rsc_last_error")
public func capiLastError() -> UnsafePointer<CChar> { LastError.message }

@_cdecl("rsc_status_string")
public func capiStatusString(_ status: rsc_status) -> UnsafePointer<CChar> { StatusNames.string(status) }

@_cdecl("rsc_load")
public func capiLoad(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> rsc_status {
    load("rsc_load", out) { try Model(cPath: try nonNull(path, "path")) }
}

@_cdecl("rsc_load_with_options")
public func capiLoadWithOptions(_ path: UnsafePointer<CChar>?, _ options: UnsafePointer<rsc_load_options>?,
                                _ out: UnsafeMutablePointer<OpaquePointer?>?) -> rsc_status {
    load("rsc_load_with_options", out) {
        try Model(cPath: try nonNull(path, "path"), options: try loadOptions(options))
    }
}

@_cdecl("rsc_load_from_memory")
public func capiLoadFromMemory(_ data: UnsafeRawPointer?, _ size: Int,
                               _ out: UnsafeMutablePointer<OpaquePointer?>?) -> rsc_status {
    load("rsc_load_from_memory", out) { try Model(bytes: try memory(data, size)) }
}

@_cdecl("rsc_load_from_memory_with_options")
public func capiLoadFromMemoryWithOptions(_ data: UnsafeRawPointer?, _ size: Int,
                                          _ options: UnsafePointer<rsc_load_options>?,
                                          _ out: UnsafeMutablePointer<OpaquePointer?>?) -> rsc_status {
    load("rsc_load_from_memory_with_options", out) {
        try Model(bytes: try memory(data, size), options: try loadOptions(options))
    }
}

@_cdecl("rsc_load_default_options")
public func capiLoadDefaultOptions() -> rsc_load_options {
    var o = rsc_load_options()
    o.struct_size = UInt32(MemoryLayout<rsc_load_options>.size)
    o.max_work_per_pass = UInt64(LoadOptions().maxWorkPerPass)
    return o
}

/// Every load: *out is NULL unless the model loaded.
private func load(_ name: String, _ out: UnsafeMutablePointer<OpaquePointer?>?, _ make: () throws -> Model) -> rsc_status {
    out?.pointee = nil
    return guarded(name) {
        guard let out else { throw RSCError.nullPointer("out is NULL") }
        out.pointee = ModelHandle.register(ModelHandle(try make()))
    }
}

private func nonNull<T>(_ p: T?, _ name: String) throws -> T {
    guard let p else { throw RSCError.nullPointer("\(name) is NULL") }
    return p
}

private func memory(_ data: UnsafeRawPointer?, _ size: Int) throws -> UnsafeRawBufferPointer {
    let data = try nonNull(data, "data")
    let n = try length(size, "size")
    return UnsafeRawBufferPointer(start: data, count: n)
}

private func loadOptions(_ p: UnsafePointer<rsc_load_options>?) throws -> LoadOptions {
    guard let p else { return LoadOptions() }
    try checkStructSize(p.pointee.struct_size, MemoryLayout<rsc_load_options>.size, "rsc_load_options")
    guard p.pointee.max_work_per_pass <= UInt64(Limits.maxWorkPerPassCeiling) else {
        throw RSCError.invalidArgument("max_work_per_pass is \(p.pointee.max_work_per_pass), at most \(Limits.maxWorkPerPassCeiling)")
    }
    return LoadOptions(maxWorkPerPass: Int(p.pointee.max_work_per_pass))
}

@_cdecl("rsc_free")
public func capiFree(_ model: OpaquePointer?) {
    guard let model, ModelHandle.live.withLock({ $0.remove(UInt(bitPattern: model)) != nil }) else { return }
    Unmanaged<ModelHandle>.fromOpaque(UnsafeRawPointer(model)).release()
}

@_cdecl("rsc_model_info")
public func capiModelInfo(_ model: OpaquePointer?, _ out: UnsafeMutablePointer<rsc_model_info>?) -> rsc_status {
    guarded("rsc_model_info") {
        let h = try ModelHandle.from(model)
        guard let out else { throw RSCError.nullPointer("out is NULL") }
        // The struct grew with format v2: the v1 size (up to class_names) is still accepted and
        // filled as far as it reaches.
        let given = Int(out.pointee.struct_size), full = MemoryLayout<rsc_model_info>.size
        var probe = rsc_model_info()
        let v1Size = withUnsafeMutablePointer(to: &probe) { p in
            withUnsafeMutablePointer(to: &p.pointee.format_version) { UnsafeRawPointer($0) - UnsafeRawPointer(p) }
        }
        try checkStructSize(out.pointee.struct_size, v1Size, "rsc_model_info")
        let i = h.model.info
        var r = rsc_model_info()
        r.struct_size = UInt32(MemoryLayout<rsc_model_info>.size)
        r.input_channels = UInt32(i.inputShape.channels)
        r.input_height = UInt32(i.inputShape.height)
        r.input_width = UInt32(i.inputShape.width)
        r.input_len = UInt64(i.inputShape.count)
        r.num_classes = UInt32(i.numClasses)
        r.time_steps = UInt32(i.timeSteps)
        r.coding = i.coding.rawValue
        r.num_layers = UInt32(i.numLayers)
        r.sigma = i.sigma
        r.sigma_eff = i.sigmaEffective ?? 0
        r.name = UnsafePointer(h.name)
        r.class_names = UnsafePointer(h.classNames)
        r.format_version = UInt32(i.formatVersion)
        r.scratch_bytes = UInt64(i.scratchBytes)
        r.work_per_pass = UInt64(i.workPerPass)
        r.plan_bytes = UInt64(i.planBytes)
        r.noise_tail_mass = i.noiseTailMass
        if case .integer(let shift, let limit) = i.arithmetic {
            r.arithmetic = 1; r.input_shift = UInt32(shift); r.input_limit = UInt32(limit)
        }
        r.struct_size = UInt32(min(given, full))
        withUnsafeBytes(of: &r) { src in
            UnsafeMutableRawPointer(out).copyMemory(from: src.baseAddress!, byteCount: min(given, full))
        }
    }
}

@_cdecl("rsc_forward")
public func capiForward(_ model: OpaquePointer?, _ inputs: UnsafePointer<Float>?, _ inputsLen: Int,
                        _ logits: UnsafeMutablePointer<Float>?, _ logitsLen: Int) -> rsc_status {
    guarded("rsc_forward") {
        let h = try ModelHandle.from(model)
        guard let inputs else { throw RSCError.nullPointer("inputs is NULL") }
        guard let logits else { throw RSCError.nullPointer("logits is NULL") }
        let K = h.model.info.numClasses
        let nInputs = try length(inputsLen, "inputs_len"), nLogits = try length(logitsLen, "logits_len")
        guard nLogits >= K else { throw RSCError.inputSize("logits_len is \(nLogits), the model has \(K) classes") }
        var out = [Double](repeating: 0, count: K)
        try out.withUnsafeMutableBufferPointer {
            try h.model.forward(UnsafeBufferPointer(start: inputs, count: nInputs), logits: $0)
        }
        for k in 0..<K { logits[k] = Float(out[k]) }
    }
}

@_cdecl("rsc_predict_default_params")
public func capiPredictDefaults() -> rsc_predict_params {
    let d = PredictParameters()
    var p = rsc_predict_params()
    p.struct_size = UInt32(MemoryLayout<rsc_predict_params>.size)
    p.n = UInt64(d.n)
    p.alpha = d.alpha
    return p
}

@_cdecl("rsc_certify_default_params")
public func capiCertifyDefaults() -> rsc_certify_params {
    let d = CertifyParameters()
    var p = rsc_certify_params()
    p.struct_size = UInt32(MemoryLayout<rsc_certify_params>.size)
    p.n0 = UInt64(d.n0)
    p.n = UInt64(d.n)
    p.alpha = d.alpha
    return p
}

@_cdecl("rsc_predict")
public func capiPredict(_ model: OpaquePointer?, _ x: UnsafePointer<Float>?, _ xLen: Int,
                        _ params: UnsafePointer<rsc_predict_params>?,
                        _ out: UnsafeMutablePointer<rsc_prediction>?) -> rsc_status {
    guarded("rsc_predict") {
        let h = try ModelHandle.from(model)
        guard let x else { throw RSCError.nullPointer("x is NULL") }
        guard let out else { throw RSCError.nullPointer("out is NULL") }
        try checkStructSize(out.pointee.struct_size, MemoryLayout<rsc_prediction>.size, "rsc_prediction")
        let c = params?.pointee ?? capiPredictDefaults()
        try checkStructSize(c.struct_size, MemoryLayout<rsc_predict_params>.size, "rsc_predict_params")
        let p = PredictParameters(n: try passes(c.n, "n"), alpha: c.alpha, seed: c.seed, stream: c.stream,
                                  threads: Int(c.num_threads))
        let r = try h.model.predict(UnsafeBufferPointer(start: x, count: try length(xLen, "x_len")), parameters: p,
                                    progress: progressHandler(c.progress, c.progress_user))
        if let counts = c.counts { for (k, v) in r.counts.enumerated() { counts[k] = UInt64(v) } }
        out.pointee = predictionStruct(r)
    }
}

@_cdecl("rsc_certify")
public func capiCertify(_ model: OpaquePointer?, _ x: UnsafePointer<Float>?, _ xLen: Int,
                        _ params: UnsafePointer<rsc_certify_params>?,
                        _ out: UnsafeMutablePointer<rsc_certificate>?) -> rsc_status {
    guarded("rsc_certify") {
        let h = try ModelHandle.from(model)
        guard let x else { throw RSCError.nullPointer("x is NULL") }
        guard let out else { throw RSCError.nullPointer("out is NULL") }
        try checkStructSize(out.pointee.struct_size, MemoryLayout<rsc_certificate>.size, "rsc_certificate")
        let p = try certifyParameters(params)
        let r = try h.model.certify(UnsafeBufferPointer(start: x, count: try length(xLen, "x_len")), parameters: p,
                                    progress: progressHandler(params?.pointee.progress, params?.pointee.progress_user))
        out.pointee = certificateStruct(r, n: p.n)
    }
}

// Output structs ready to pass: struct_size set, everything else zero. C's `= {sizeof x}` idiom
// fails -Wmissing-field-initializers (-Wextra) in C and C++; a call compiles clean everywhere.

@_cdecl("rsc_model_info_init")
public func capiModelInfoInit() -> rsc_model_info {
    var o = rsc_model_info()
    o.struct_size = UInt32(MemoryLayout<rsc_model_info>.size)
    return o
}

@_cdecl("rsc_prediction_init")
public func capiPredictionInit() -> rsc_prediction {
    var o = rsc_prediction()
    o.struct_size = UInt32(MemoryLayout<rsc_prediction>.size)
    return o
}

@_cdecl("rsc_certificate_init")
public func capiCertificateInit() -> rsc_certificate {
    var o = rsc_certificate()
    o.struct_size = UInt32(MemoryLayout<rsc_certificate>.size)
    return o
}

@_cdecl("rsc_sequential_certificate_init")
public func capiSequentialCertificateInit() -> rsc_sequential_certificate {
    var o = rsc_sequential_certificate()
    o.struct_size = UInt32(MemoryLayout<rsc_sequential_certificate>.size)
    return o
}

@_cdecl("rsc_predict_batch")
public func capiPredictBatch(_ model: OpaquePointer?, _ xs: UnsafePointer<Float>?, _ xsLen: Int, _ numInputs: Int,
                             _ params: UnsafePointer<rsc_predict_params>?,
                             _ out: UnsafeMutablePointer<rsc_prediction>?) -> rsc_status {
    guarded("rsc_predict_batch") {
        let h = try ModelHandle.from(model)
        let (xs, n) = try batchInputs(xs, xsLen, numInputs)
        let stride = try outputStride(out, numInputs, rsc_prediction.self, "rsc_prediction")
        let c = params?.pointee ?? capiPredictDefaults()
        try checkStructSize(c.struct_size, MemoryLayout<rsc_predict_params>.size, "rsc_predict_params")
        let K = h.model.info.numClasses
        guard c.counts == nil || !n.multipliedReportingOverflow(by: K).overflow else {
            throw RSCError.inputSize("num_inputs x num_classes = \(n) x \(K) counts overflow")
        }
        let p = PredictParameters(n: try passes(c.n, "n"), alpha: c.alpha, seed: c.seed, stream: c.stream,
                                  threads: Int(c.num_threads))
        let rs = try h.model.predictBatch(xs, count: n, parameters: p,
                                          progress: progressHandler(c.progress, c.progress_user))
        for (i, r) in rs.enumerated() {
            if let counts = c.counts { for (k, v) in r.counts.enumerated() { counts[i * K + k] = UInt64(v) } }
            write(predictionStruct(r), to: out!, index: i, stride: stride)
        }
    }
}

@_cdecl("rsc_certify_batch")
public func capiCertifyBatch(_ model: OpaquePointer?, _ xs: UnsafePointer<Float>?, _ xsLen: Int, _ numInputs: Int,
                             _ params: UnsafePointer<rsc_certify_params>?,
                             _ out: UnsafeMutablePointer<rsc_certificate>?) -> rsc_status {
    guarded("rsc_certify_batch") {
        let h = try ModelHandle.from(model)
        let (xs, n) = try batchInputs(xs, xsLen, numInputs)
        let stride = try outputStride(out, numInputs, rsc_certificate.self, "rsc_certificate")
        let p = try certifyParameters(params)
        let rs = try h.model.certifyBatch(xs, count: n, parameters: p,
                                          progress: progressHandler(params?.pointee.progress, params?.pointee.progress_user))
        for (i, r) in rs.enumerated() { write(certificateStruct(r, n: p.n), to: out!, index: i, stride: stride) }
    }
}

@_cdecl("rsc_certify_sequential_default_params")
public func capiSequentialDefaults() -> rsc_sequential_params {
    let d = SequentialCertifyParameters()
    var p = rsc_sequential_params()
    p.struct_size = UInt32(MemoryLayout<rsc_sequential_params>.size)
    p.n0 = UInt64(d.n0)
    p.n_max = UInt64(d.nMax)
    p.alpha = d.alpha
    return p
}

@_cdecl("rsc_certify_sequential")
public func capiCertifySequential(_ model: OpaquePointer?, _ x: UnsafePointer<Float>?, _ xLen: Int,
                                  _ params: UnsafePointer<rsc_sequential_params>?,
                                  _ out: UnsafeMutablePointer<rsc_sequential_certificate>?) -> rsc_status {
    guarded("rsc_certify_sequential") {
        let h = try ModelHandle.from(model)
        guard let x else { throw RSCError.nullPointer("x is NULL") }
        guard let out else { throw RSCError.nullPointer("out is NULL") }
        try checkStructSize(out.pointee.struct_size, MemoryLayout<rsc_sequential_certificate>.size,
                            "rsc_sequential_certificate")
        let c = params?.pointee ?? capiSequentialDefaults()
        try checkStructSize(c.struct_size, MemoryLayout<rsc_sequential_params>.size, "rsc_sequential_params")
        guard c.num_radii <= UInt64(SequentialCertifyParameters.maxRadii) else {
            throw RSCError.invalidArgument("num_radii is \(c.num_radii), at most \(SequentialCertifyParameters.maxRadii)")
        }
        var radii: [Double] = []
        if c.num_radii > 0 {
            guard let r = c.radii else { throw RSCError.nullPointer("radii is NULL but num_radii is \(c.num_radii)") }
            radii = Array(UnsafeBufferPointer(start: r, count: Int(c.num_radii)))
        }
        let p = SequentialCertifyParameters(n0: try passes(c.n0, "n0"), nMax: try passes(c.n_max, "n_max"),
                                            alpha: c.alpha, radii: radii, seed: c.seed, stream: c.stream,
                                            threads: Int(c.num_threads))
        let r = try h.model.certifySequential(UnsafeBufferPointer(start: x, count: try length(xLen, "x_len")),
                                              parameters: p, progress: progressHandler(c.progress, c.progress_user))
        var o = rsc_sequential_certificate()
        o.struct_size = UInt32(MemoryLayout<rsc_sequential_certificate>.size)
        o.label = Int32(r.label ?? Int(RSC_ABSTAIN))
        o.selected = Int32(r.selected)
        o.num_certified = UInt32(r.certifiedCount)
        o.count_selected = UInt64(r.countSelected)
        o.passes = UInt64(r.passes)
        o.pa_lower = r.pALower
        o.radius = r.radius
        out.pointee = o
    }
}

@_cdecl("rsc_set_num_threads")
public func capiSetNumThreads(_ n: Int32) -> rsc_status {
    guarded("rsc_set_num_threads") {
        guard n >= 0 else { throw RSCError.invalidArgument("num_threads is \(n), it must be >= 0") }
        Model.defaultThreadCount = Int(n)
    }
}

// MARK: - Helpers

private func certifyParameters(_ params: UnsafePointer<rsc_certify_params>?) throws -> CertifyParameters {
    let c = params?.pointee ?? capiCertifyDefaults()
    try checkStructSize(c.struct_size, MemoryLayout<rsc_certify_params>.size, "rsc_certify_params")
    return CertifyParameters(n0: try passes(c.n0, "n0"), n: try passes(c.n, "n"), alpha: c.alpha,
                             seed: c.seed, stream: c.stream, threads: Int(c.num_threads))
}

private func predictionStruct(_ r: Prediction) -> rsc_prediction {
    var o = capiPredictionInit()
    o.label = Int32(r.label ?? Int(RSC_ABSTAIN))
    o.top = Int32(r.top)
    o.runner_up = Int32(r.runnerUp)
    o.count_top = UInt64(r.countTop)
    o.count_runner_up = UInt64(r.countRunnerUp)
    o.p_value = r.pValue
    return o
}

private func certificateStruct(_ r: Certificate, n: Int) -> rsc_certificate {
    var o = capiCertificateInit()
    o.label = Int32(r.label ?? Int(RSC_ABSTAIN))
    o.selected = Int32(r.selected)
    o.count_selected = UInt64(r.countSelected)
    o.n = UInt64(n)
    o.pa_lower = r.pALower
    o.radius = r.radius
    return o
}

/// A batch's inputs: xs non-NULL, num_inputs >= 1 and xs_len a valid length (the model checks
/// xs_len = num_inputs x d, with overflow).
private func batchInputs(_ xs: UnsafePointer<Float>?, _ xsLen: Int, _ numInputs: Int) throws
    -> (UnsafeBufferPointer<Float>, Int) {
    guard let xs else { throw RSCError.nullPointer("xs is NULL") }
    let len = try length(xsLen, "xs_len"), n = try length(numInputs, "num_inputs")
    guard n >= 1 else { throw RSCError.invalidArgument("num_inputs is 0, at least 1 input is needed") }
    return (UnsafeBufferPointer(start: xs, count: len), n)
}

/// The byte distance between a batch's output structs: out[0].struct_size, which is at least
/// this library's sizeof (a caller built against a newer header has larger structs, and its
/// array's elements lie that far apart), a multiple of the struct's alignment, and with
/// num_inputs of them within the address space.
private func outputStride<T>(_ out: UnsafeMutablePointer<T>?, _ count: Int, _ type: T.Type, _ name: String) throws -> Int {
    guard let out else { throw RSCError.nullPointer("out is NULL") }
    let given = UnsafeRawPointer(out).load(as: UInt32.self)
    try checkStructSize(given, MemoryLayout<T>.size, name)
    let stride = Int(given)
    guard stride % MemoryLayout<T>.alignment == 0 else {
        throw RSCError.invalidArgument("out[0].struct_size is \(stride), not a multiple of the struct's alignment \(MemoryLayout<T>.alignment)")
    }
    guard !count.multipliedReportingOverflow(by: stride).overflow else {
        throw RSCError.inputSize("num_inputs x struct_size = \(count) x \(stride) bytes overflows")
    }
    return stride
}

/// Writes this library's part of element i of a caller's array of stride-byte structs, all of it
/// but struct_size, which stays as the caller set it: out[0]'s is the stride, and a library size
/// written there would make the next batch call on the same array use the wrong stride.
private func write<T>(_ value: T, to out: UnsafeMutablePointer<T>, index: Int, stride: Int) {
    let element = UnsafeMutableRawPointer(out) + index * stride
    let callerSize = element.load(as: UInt32.self)  // every output struct starts with struct_size
    element.storeBytes(of: value, as: T.self)
    element.storeBytes(of: callerSize, as: UInt32.self)
}

/// A struct_size smaller than this library's v1 struct is an uninitialised or foreign struct.
private func checkStructSize(_ given: UInt32, _ size: Int, _ name: String) throws {
    guard given >= UInt32(size) else {
        throw RSCError.invalidArgument("\(name).struct_size is \(given), expected sizeof(\(name)) = \(size); set it (or initialise the struct with \(initFunction[name] ?? "its rsc_*_init() or rsc_*_default_params() function"))")
    }
}

/// The function of include/rsc.h that returns each versioned struct with struct_size set.
private let initFunction: [String: String] = [
    "rsc_model_info": "rsc_model_info_init()",
    "rsc_prediction": "rsc_prediction_init()",
    "rsc_certificate": "rsc_certificate_init()",
    "rsc_sequential_certificate": "rsc_sequential_certificate_init()",
    "rsc_predict_params": "rsc_predict_default_params()",
    "rsc_certify_params": "rsc_certify_default_params()",
    "rsc_sequential_params": "rsc_certify_sequential_default_params()",
    "rsc_load_options": "rsc_load_default_options()",
]

/// size_t arguments arrive as Int: one above Int.max (e.g. (size_t)-1) is no length at all, and an
/// UnsafeBufferPointer with a negative count traps (a crash, not an error) in debug builds.
private func length(_ n: Int, _ name: String) throws -> Int {
    guard n >= 0 else { throw RSCError.inputSize("\(name) is \(UInt(bitPattern: n)), more than any buffer can hold") }
    return n
}

private func passes(_ n: UInt64, _ name: String) throws -> Int {
    guard n <= UInt64(Limits.maxPasses) else { throw RSCError.invalidArgument("\(name) is \(n), more than \(Limits.maxPasses)") }
    return Int(n)
}

private func progressHandler(_ fn: rsc_progress_fn?, _ user: UnsafeMutableRawPointer?) -> ProgressHandler? {
    guard let fn else { return nil }
    return { fn(Float($0), user) }
}
