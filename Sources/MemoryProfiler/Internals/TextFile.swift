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

/// Reads a whole file without Foundation.
enum FileBytes {
    /// The contents of `path`.
    ///
    /// - Throws: ``MemoryError`` with ``MemoryError/Code/systemCall`` when the file cannot be opened or read.
    static func read(_ path: String) throws(MemoryError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            throw MemoryError(.systemCall, "cannot open: \(ErrnoText.describe(code))", errno: code)
        }
        defer { close(descriptor) }
        var status = stat()
        if fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
            throw MemoryError(.systemCall, "is a directory, not a file", errno: EISDIR)
        }
        // Read straight into one buffer sized from fstat; a file that grows meanwhile continues in chunks.
        let expected = max(Int(status.st_size), 0)
        var contents = [UInt8](unsafeUninitializedCapacity: expected) { buffer, count in
            count = 0
            while count < expected {
                let got = systemRead(descriptor, buffer.baseAddress.map { $0 + count }, expected - count)
                if got < 0 && errno == EINTR { continue }
                if got <= 0 { break }
                count += got
            }
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { systemRead(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                throw MemoryError(.systemCall, "cannot read: \(ErrnoText.describe(code))", errno: code)
            }
            if count == 0 { return contents }
            contents.append(contentsOf: chunk[..<count])
        }
    }
}

private let systemRead = read
