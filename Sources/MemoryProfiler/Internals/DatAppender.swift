#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Appends whole lines to a `.dat` file that other processes may append to at the same time.
///
/// Each line goes out in one `write` on a descriptor opened with `O_APPEND`, so lines from several writers
/// interleave but never mix.
final class DatAppender: Sendable {
    let path: String
    private let descriptor: Int32

    /// Opens `path` for appending, creating it; nil (with a message on standard error unless `quiet`) when
    /// that fails, `errno` telling why.
    init?(path: String, quiet: Bool = false) {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            if quiet { return nil }
            let reason = ErrnoText.describe(errno)
            StandardError.write("swift-memory-profiler: cannot append to \(path): \(reason); keeping records in memory")
            return nil
        }
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    /// Appends `line` and a newline; false when the write failed.
    @discardableResult
    func append(_ line: String) -> Bool {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        return bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return false }
                offset += written
            }
            return true
        }
    }
}
