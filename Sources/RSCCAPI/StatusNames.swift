#if canImport(Glibc)
import Glibc
#endif
import CRSCKernel

/// rsc_status_string's static strings, one per status code.
enum StatusNames {
    // nonisolated(unsafe): immortal C strings, never written after this initialisation.
    nonisolated(unsafe) private static let strings: [UnsafePointer<CChar>] = ([
        "RSC_OK: success",
        "RSC_E_NULL: a required pointer is NULL",
        "RSC_E_ARG: invalid argument",
        "RSC_E_IO: cannot read the model file",
        "RSC_E_MAGIC: not an .rscm model file",
        "RSC_E_VERSION: unsupported .rscm version",
        "RSC_E_TRUNCATED: truncated model file",
        "RSC_E_BOUNDS: offset or size past the end of the model file",
        "RSC_E_SHAPE: inconsistent shapes",
        "RSC_E_LIMIT: size beyond rsc's limits",
        "RSC_E_CHECKSUM: model file checksum mismatch",
        "RSC_E_FORMAT: invalid field in the model file",
        "RSC_E_INPUT_SIZE: input length does not match the model",
        "RSC_E_INPUT_VALUE: input value is NaN, infinite or too large",
        "RSC_E_UNSUPPORTED: not supported",
        "RSC_E_NOMEM: out of memory",
        "RSC_E_CANCELLED: cancelled",
        "RSC_E_INTERNAL: internal error",
    ] as [String]).map { UnsafePointer(strdup($0)!) }
    nonisolated(unsafe) private static let unknown: UnsafePointer<CChar> = UnsafePointer(strdup("unknown rsc_status")!)

    static func string(_ s: rsc_status) -> UnsafePointer<CChar> {
        Int(s.rawValue) < strings.count ? strings[Int(s.rawValue)] : unknown
    }
}
