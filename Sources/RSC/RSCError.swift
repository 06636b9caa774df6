/// Everything that can go wrong in rsc, one case per status code of the C API (`include/rsc.h`).
/// The associated message names the problem (the field, the layer, the argument).
public enum RSCError: Error, Equatable, Sendable, CustomStringConvertible {
    case nullPointer(String)
    case invalidArgument(String)
    case io(String)
    case badMagic(String)
    case unsupportedVersion(String)
    case truncated(String)
    case outOfBounds(String)
    case shape(String)
    case limit(String)
    case checksum(String)
    case format(String)
    case inputSize(String)
    case inputValue(String)
    case unsupported(String)
    case outOfMemory(String)
    case cancelled(String)
    case `internal`(String)

    /// The `rsc_status` value of this error.
    public var status: Int32 {
        switch self {
        case .nullPointer: return 1
        case .invalidArgument: return 2
        case .io: return 3
        case .badMagic: return 4
        case .unsupportedVersion: return 5
        case .truncated: return 6
        case .outOfBounds: return 7
        case .shape: return 8
        case .limit: return 9
        case .checksum: return 10
        case .format: return 11
        case .inputSize: return 12
        case .inputValue: return 13
        case .unsupported: return 14
        case .outOfMemory: return 15
        case .cancelled: return 16
        case .internal: return 17
        }
    }

    public var message: String {
        switch self {
        case .nullPointer(let m), .invalidArgument(let m), .io(let m), .badMagic(let m),
             .unsupportedVersion(let m), .truncated(let m), .outOfBounds(let m), .shape(let m),
             .limit(let m), .checksum(let m), .format(let m), .inputSize(let m), .inputValue(let m),
             .unsupported(let m), .outOfMemory(let m), .cancelled(let m), .internal(let m):
            return m
        }
    }

    public var description: String { message }
}
