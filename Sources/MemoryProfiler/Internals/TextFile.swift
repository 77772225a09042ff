#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a whole text file without Foundation.
enum TextFile {
    /// Replaces the contents of `path` with `text`, creating the file.
    ///
    /// - Throws: ``MemoryError`` with ``MemoryError/Code/systemCall`` when the file cannot be opened or written.
    static func write(_ text: String, to path: String) throws(MemoryError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            let code = errno
            throw MemoryError(.systemCall, "cannot create \(path): \(ErrnoText.describe(code))", errno: code)
        }
        defer { close(descriptor) }
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { systemWrite(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                let code = errno
                if code == EINTR { continue }
                throw MemoryError(.systemCall, "cannot write \(path): \(ErrnoText.describe(code))", errno: code)
            }
            bytes = bytes.dropFirst(written)
        }
    }
}

private let systemWrite = write
