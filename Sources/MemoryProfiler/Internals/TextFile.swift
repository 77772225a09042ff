import Glibc

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

/// A file read in chunks without Foundation: regular files and FIFOs only.
///
/// Opening refuses what is not data to read to an end: a directory, a character or block device (`/dev/zero`
/// would be read until memory runs out, a terminal would wait for typing) or a socket. A FIFO is opened with
/// `O_NONBLOCK`, so that one without a writer cannot hang the open, and then read normally: one whose writer
/// never came reads as empty.
package final class FileReader {
    /// The path, as given.
    package let path: String
    /// The size `fstat` gave for a regular file when it was opened; nil for a FIFO.
    package let regularFileSize: Int?
    private let descriptor: Int32
    /// Bytes read ahead by ``firstNonBlankByte()``, handed out again by ``read(into:)``.
    private var pending: [UInt8] = []

    /// Why a file could not be read: the message names no path (the caller's error does).
    package struct Failure: Error, Sendable {
        /// True when the file is of a kind that is never read (directory, device, socket).
        package var isNotARegularFile: Bool
        package var message: String
    }

    /// Opens `path` for reading.
    ///
    /// The corresponding C functions are `stat`, `open` and `fstat`.
    ///
    /// - Throws: ``Failure`` when the path does not exist, cannot be opened, or is not a regular file or FIFO.
    package init(path: String) throws(Failure) {
        self.path = path
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw Failure(isNotARegularFile: false, message: "cannot open: \(ErrnoText.describe(errno))")
        }
        try Self.check(status)
        var opened: Int32
        repeat { opened = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK) } while opened < 0 && errno == EINTR
        guard opened >= 0 else {
            throw Failure(isNotARegularFile: false, message: "cannot open: \(ErrnoText.describe(errno))")
        }
        descriptor = opened
        // The path may have been replaced between stat and open: what counts is what was opened.
        guard fstat(opened, &status) == 0 else {
            let code = errno
            close(opened)
            throw Failure(isNotARegularFile: false, message: "cannot read: \(ErrnoText.describe(code))")
        }
        do {
            try Self.check(status)
        } catch {
            close(opened)
            throw error
        }
        if (status.st_mode & S_IFMT) == S_IFREG {
            regularFileSize = max(0, Int(status.st_size))
        } else {
            regularFileSize = nil
            // Opened without waiting for a writer; from here on, reads wait for data as with any pipe.
            let flags = fcntl(opened, F_GETFL)
            if flags >= 0 { _ = fcntl(opened, F_SETFL, flags & ~O_NONBLOCK) }
        }
    }

    deinit {
        close(descriptor)
    }

    private static func check(_ status: stat) throws(Failure) {
        let kind = status.st_mode & S_IFMT
        guard kind != S_IFREG && kind != S_IFIFO else { return }
        let what =
            switch kind {
            case S_IFDIR: "a directory"
            case S_IFCHR: "a character device"
            case S_IFBLK: "a block device"
            case S_IFSOCK: "a socket"
            default: "of an unknown kind"
            }
        throw Failure(isNotARegularFile: true, message: "is \(what), not a regular file")
    }

    /// Reads the next bytes into `buffer`.
    ///
    /// - Returns: How many bytes were read: 0 at the end of the file, and only there.
    /// - Throws: ``Failure`` when the read fails.
    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(Failure) -> Int {
        guard !pending.isEmpty else { return try readDescriptor(into: buffer) }
        let count = min(pending.count, buffer.count)
        pending.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        pending.removeFirst(count)
        return count
    }

    /// The first byte that is not a blank or a line break, read ahead (and handed out again by ``read(into:)``),
    /// looking no further than `limit` bytes; nil for a blank file.
    package func firstNonBlankByte(limit: Int = 1 << 20) throws(Failure) -> UInt8? {
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 1)
        defer { chunk.deallocate() }
        var checked = 0
        while checked < limit {
            if let byte = pending[checked...].first(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }) {
                return byte
            }
            checked = pending.count
            let count = try readDescriptor(into: chunk)
            if count == 0 { return nil }
            pending += chunk[..<count]
        }
        return nil
    }

    /// The rest of the file.
    ///
    /// - Parameter limit: The most bytes to accept.
    /// - Throws: ``Failure`` when the file is longer than `limit` or a read fails.
    package func readAll(limit: Int) throws(Failure) -> [UInt8] {
        var contents = pending
        pending = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 1)
        defer { chunk.deallocate() }
        while true {
            let count = try readDescriptor(into: chunk)
            if count == 0 { return contents }
            guard contents.count + count <= limit else {
                throw Failure(isNotARegularFile: false, message: "is longer than \(limit >> 20) MiB, more than is read")
            }
            contents += chunk[..<count]
        }
    }

    /// The corresponding C function is `read`; an interrupted read is retried.
    private func readDescriptor(into buffer: UnsafeMutableRawBufferPointer) throws(Failure) -> Int {
        guard buffer.count > 0 else { return 0 }
        while true {
            let count = systemRead(descriptor, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN {
                // A FIFO whose flags could not be changed: wait for its writer rather than spin.
                var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                _ = poll(&request, 1, -1)
                continue
            }
            throw Failure(isNotARegularFile: false, message: "cannot read: \(ErrnoText.describe(code))")
        }
    }
}

private let systemRead = read
