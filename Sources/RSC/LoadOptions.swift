/// What a load may accept beyond the defaults (rsc_load_options in the C API).
public struct LoadOptions: Sendable, Equatable {
    /// Models whose pass takes more operations than this are refused at load (RSC_E_LIMIT). A
    /// host that runs trusted large models raises it, one that takes untrusted files may lower
    /// it; from 1 to Limits.maxWorkPerPassCeiling. Work per operation stays bounded by
    /// Limits.maxWorkPerOperation whatever this is, so cancellation latency does not change.
    public var maxWorkPerPass: Int = Limits.maxWorkPerPass

    public init(maxWorkPerPass: Int = Limits.maxWorkPerPass) {
        self.maxWorkPerPass = maxWorkPerPass
    }

    func validate() throws {
        guard maxWorkPerPass >= 1, maxWorkPerPass <= Limits.maxWorkPerPassCeiling else {
            throw RSCError.invalidArgument("max_work_per_pass is \(maxWorkPerPass), it must be in 1...\(Limits.maxWorkPerPassCeiling)")
        }
    }
}
