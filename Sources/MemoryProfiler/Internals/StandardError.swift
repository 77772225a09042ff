#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes to file descriptor 2 directly: no shared `FILE *` for strict concurrency to object to.
package enum StandardError {
    /// Writes `text`, ending it with `terminator` unless it already ends that way.
    package static func write(_ text: String, terminator: String = "\n") {
        var bytes = Array(text.utf8)
        if !terminator.isEmpty, !text.hasSuffix(terminator) { bytes += terminator.utf8 }
        _ = bytes.withUnsafeBytes { systemWrite(2, $0.baseAddress, $0.count) }
    }
}

private let systemWrite = write
