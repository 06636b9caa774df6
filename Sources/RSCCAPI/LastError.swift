#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRSCKernel
import RSC

/// rsc_last_error's thread-local message: a malloc'd C string per thread, replaced on each failure
/// and freed by the key's destructor when the thread exits.
private let errorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

enum LastError {
    static func set(_ message: String) {
        let old = pthread_getspecific(errorKey)
        pthread_setspecific(errorKey, strdup(message))
        free(old)
    }

    static var message: UnsafePointer<CChar> {
        if let p = pthread_getspecific(errorKey) { return UnsafePointer(p.assumingMemoryBound(to: CChar.self)) }
        return emptyString
    }

    // nonisolated(unsafe): an immortal C string, never written after this initialisation.
    nonisolated(unsafe) private static let emptyString: UnsafePointer<CChar> = UnsafePointer(strdup("")!)
}

/// Runs body, turning thrown errors into a status code and the thread's last-error message.
func guarded(_ function: String, _ body: () throws -> Void) -> rsc_status {
    do {
        try body()
        return RSC_OK
    } catch let e as RSCError {
        LastError.set("\(function): \(e.message)")
        return rsc_status(rawValue: UInt32(e.status))
    } catch {
        LastError.set("\(function): internal error: \(error)")
        return RSC_E_INTERNAL
    }
}
