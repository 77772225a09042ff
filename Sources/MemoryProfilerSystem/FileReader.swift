import Glibc

/// Whole text files written without Foundation.
public enum TextFile {
    /// Removes `path` if it is a regular file (never a directory, a device or what a link points to); false when
    /// nothing was removed.
    @discardableResult
    public static func removeRegularFile(_ path: String) -> Bool {
        var status = stat()
        guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return false }
        return unlink(path) == 0
    }

    /// Replaces the contents of `path` with `text`, creating the file.
    ///
    /// - Throws: ``SystemError`` naming the file, when it cannot be created or written.
    public static func write(_ text: String, to path: String) throws(SystemError) {
        let descriptor: Descriptor
        do {
            descriptor = try Descriptor.open(path, .writeOnly, options: [.create, .truncate])
        } catch {
            throw error.adding("cannot create \(path)")
        }
        defer { descriptor.close() }
        do {
            try descriptor.writeAll(text)
        } catch {
            throw error.adding("cannot write \(path)")
        }
    }
}

/// A file read in chunks without Foundation: regular files and FIFOs only.
///
/// Opening refuses what is not data to read to an end: a directory, a character or block device (`/dev/zero`
/// would be read until memory runs out, a terminal would wait for typing) or a socket. A FIFO is opened with
/// `O_NONBLOCK`, so that one without a writer cannot hang the open, and then read normally: one whose writer
/// never came reads as empty.
public final class FileReader {
    /// The path, as given.
    public let path: String
    /// The size `fstat` gave for a regular file when it was opened; nil for a FIFO.
    public let regularFileSize: Int?
    private let descriptor: Descriptor
    /// Bytes read ahead by ``firstNonBlankByte(limit:)``, handed out again by ``read(into:)``.
    private var pending: [UInt8] = []

    /// Why a file could not be read: the message names no path (the caller's error does).
    public struct Failure: Error, Sendable {
        /// True when the file is of a kind that is never read (directory, device, socket).
        public var isNotARegularFile: Bool
        public var message: String
        /// The C library's error number, when a system call failed.
        public var errno: Int32?
    }

    /// Opens `path` for reading.
    ///
    /// The corresponding C functions are `stat`, `open` and `fstat`.
    ///
    /// - Throws: ``Failure`` when the path does not exist, cannot be opened, or is not a regular file or FIFO.
    public init(path: String) throws(Failure) {
        self.path = path
        let named: FileStatus
        do throws(SystemError) {
            named = try FileStatus(path: path)
        } catch {
            throw Failure(isNotARegularFile: false, message: "cannot open: \(error.message)", errno: error.errno)
        }
        try Self.check(named)
        do {
            descriptor = try Descriptor.open(path, .readOnly, options: [.noControllingTerminal, .nonBlocking])
        } catch {
            throw Failure(isNotARegularFile: false, message: "cannot open: \(error.message)", errno: error.errno)
        }
        // The path may have been replaced between stat and open: what counts is what was opened.
        let status: FileStatus
        do throws(SystemError) {
            status = try descriptor.status()
        } catch {
            descriptor.close()
            throw Failure(isNotARegularFile: false, message: "cannot read: \(error.message)", errno: error.errno)
        }
        do {
            try Self.check(status)
        } catch {
            descriptor.close()
            throw error
        }
        if status.kind == .regular {
            regularFileSize = max(0, status.size)
        } else {
            regularFileSize = nil
            // Opened without waiting for a writer; from here on, reads wait for data as with any pipe.
            descriptor.setBlocking()
        }
    }

    deinit {
        descriptor.close()
    }

    private static func check(_ status: FileStatus) throws(Failure) {
        guard status.kind != .regular && status.kind != .fifo else { return }
        throw Failure(isNotARegularFile: true, message: "is \(status.kindDescription), not a regular file")
    }

    /// Reads the next bytes into `buffer`.
    ///
    /// - Returns: How many bytes were read: 0 at the end of the file, and only there.
    /// - Throws: ``Failure`` when the read fails.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(Failure) -> Int {
        guard !pending.isEmpty else { return try readDescriptor(into: buffer) }
        let count = min(pending.count, buffer.count)
        pending.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        pending.removeFirst(count)
        return count
    }

    /// Reads the rest of the file in chunks of up to `size` bytes, handing each to `body`.
    ///
    /// - Returns: The failure of a read that failed, or nil when the end of the file was reached.
    /// - Throws: What `body` throws; reading stops there.
    public func forEachChunk<Failed: Error>(
        size: Int = 1 << 20, _ body: (UnsafeRawBufferPointer) throws(Failed) -> Void
    ) throws(Failed) -> Failure? {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, size), alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count: Int
            do throws(Failure) {
                count = try read(into: buffer)
            } catch {
                return error
            }
            if count == 0 { return nil }
            try body(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// The first byte that is not a blank or a line break, read ahead (and handed out again by ``read(into:)``),
    /// looking no further than `limit` bytes; nil for a blank file.
    public func firstNonBlankByte(limit: Int = 1 << 20) throws(Failure) -> UInt8? {
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
    public func readAll(limit: Int) throws(Failure) -> [UInt8] {
        let start = pending
        pending = []
        guard start.count <= limit else { throw Self.tooLong(limit) }
        do throws(SystemError) {
            return start + (try descriptor.readToEnd(limit: limit - start.count))
        } catch where error.errno == EFBIG {
            throw Self.tooLong(limit)
        } catch {
            throw Failure(isNotARegularFile: false, message: "cannot read: \(error.message)", errno: error.errno)
        }
    }

    private static func tooLong(_ limit: Int) -> Failure {
        Failure(isNotARegularFile: false, message: "is longer than \(limit >> 20) MiB, more than is read")
    }

    private func readDescriptor(into buffer: UnsafeMutableRawBufferPointer) throws(Failure) -> Int {
        guard buffer.count > 0 else { return 0 }
        do throws(SystemError) {
            return try descriptor.read(into: buffer)
        } catch {
            throw Failure(isNotARegularFile: false, message: "cannot read: \(error.message)", errno: error.errno)
        }
    }
}
