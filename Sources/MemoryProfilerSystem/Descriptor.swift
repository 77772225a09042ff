import Glibc

/// An open file descriptor: the one place the public opens, reads, writes and closes files.
///
/// Every call is retried when a signal interrupts it (``retryingOnInterrupt(_:)``), and every failure is a
/// ``SystemError`` carrying `errno`. The descriptor is a plain number; closing it is up to its owner, once.
///
/// Why not swift-system's `FileDescriptor`: it covers open, read, write and close, but the floor also needs
/// `wait4`, `waitid`, `poll`, `flock`, `fcntl`, `posix_spawn` and `/proc` directory walks, which it does not
/// have. Using it for half the calls would mean two retry rules and two error types; this type is the small part
/// of it the package uses, on the same rule as every other call.
public struct Descriptor: Hashable, Sendable {
    /// The descriptor number.
    public let rawValue: Int32

    /// Wraps a descriptor number that is already open.
    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// How a file is opened for: the access mode of `open(2)`.
    public enum Access: Sendable {
        case readOnly, writeOnly, readWrite

        var flag: Int32 {
            switch self {
            case .readOnly: O_RDONLY
            case .writeOnly: O_WRONLY
            case .readWrite: O_RDWR
            }
        }
    }

    /// The flags of `open(2)` the public uses; `O_CLOEXEC` is always added.
    public struct Options: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// `O_CREAT`.
        public static let create = Options(rawValue: O_CREAT)
        /// `O_EXCL`: with ``create``, an existing file is the error `EEXIST`.
        public static let exclusive = Options(rawValue: O_EXCL)
        /// `O_TRUNC`.
        public static let truncate = Options(rawValue: O_TRUNC)
        /// `O_APPEND`: every write goes to the end, in one piece with respect to other appenders.
        public static let append = Options(rawValue: O_APPEND)
        /// `O_NONBLOCK`: opening a FIFO does not wait for its other end.
        public static let nonBlocking = Options(rawValue: O_NONBLOCK)
        /// `O_NOFOLLOW`: a symbolic link as the last component is the error `ELOOP`.
        public static let noFollow = Options(rawValue: O_NOFOLLOW)
        /// `O_NOCTTY`: a terminal opened does not become the controlling terminal.
        public static let noControllingTerminal = Options(rawValue: O_NOCTTY)
    }

    /// Opens `path`.
    ///
    /// The corresponding C function is `open`.
    ///
    /// - Throws: ``SystemError`` with the C library's text only; the caller says which file it was.
    public static func open(
        _ path: String, _ access: Access, options: Options = [], permissions: UInt32 = 0o644
    ) throws(SystemError) -> Descriptor {
        let result = retryingOnInterrupt { Glibc.open(path, access.flag | options.rawValue | O_CLOEXEC, permissions) }
        guard result >= 0 else { throw .current }
        return Descriptor(rawValue: result)
    }

    /// Opens `path`, given as bytes (a file name need not be UTF-8).
    public static func open(
        _ path: [UInt8], _ access: Access, options: Options = [], permissions: UInt32 = 0o644
    ) throws(SystemError) -> Descriptor {
        let result = CString.with(path) { name in
            retryingOnInterrupt { Glibc.open(name, access.flag | options.rawValue | O_CLOEXEC, permissions) }
        }
        guard result >= 0 else { throw .current }
        return Descriptor(rawValue: result)
    }

    /// Closes the descriptor. The number must not be used again, even when closing fails (Linux frees it).
    ///
    /// The corresponding C function is `close`; it is not retried, since the number may already be reused.
    public func close() {
        _ = Glibc.close(rawValue)
    }

    /// Closes the descriptor and reports what the file system reports only then (a full disk on NFS).
    public func closeReportingFailure() throws(SystemError) {
        guard Glibc.close(rawValue) == 0 else { throw .current }
    }

    /// Reads up to `buffer.count` bytes at the current offset.
    ///
    /// A descriptor left non-blocking (a FIFO whose flags could not be changed back) is waited on rather
    /// than read in a spin.
    ///
    /// - Returns: How many bytes were read: 0 at the end of the file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        while true {
            let count = retryingOnInterrupt { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
            if count >= 0 { return count }
            guard Glibc.errno == EAGAIN else { throw .current }
            _ = waitUntilReadable(milliseconds: -1)
        }
    }

    /// Reads up to `buffer.count` bytes at `offset`, leaving the file offset as it was.
    ///
    /// The corresponding C function is `pread`.
    @inlinable @inline(__always)
    public func read(into buffer: UnsafeMutableRawBufferPointer, atOffset offset: Int) throws(SystemError) -> Int {
        let count = retryingOnInterrupt { pread(rawValue, buffer.baseAddress, buffer.count, off_t(offset)) }
        guard count >= 0 else { throw .current }
        return count
    }

    /// Reads to the end of the file.
    ///
    /// - Parameter limit: The most bytes accepted; a longer file is the error `EFBIG`.
    public func readToEnd(limit: Int) throws(SystemError) -> [UInt8] {
        var contents: [UInt8] = []
        // A regular file says how big it is: room for all of it at once, rather than growing by doubling.
        if let size = try? status().size, size > 0 { contents.reserveCapacity(min(size, limit) + 1) }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 1)
        defer { chunk.deallocate() }
        while true {
            let count = try read(into: chunk)
            if count == 0 { return contents }
            guard contents.count + count <= limit else { throw SystemError(errno: EFBIG) }
            contents += chunk[..<count]
        }
    }

    /// Writes some of `bytes` at the current offset (the end, for a descriptor opened with ``Options/append``).
    ///
    /// A descriptor left non-blocking (a FIFO opened with ``Options/nonBlocking``) that is full is waited for.
    ///
    /// - Returns: How many bytes were written; fewer than all when the disk fills up half-way.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(SystemError) -> Int {
        guard bytes.count > 0 else { return 0 }
        while true {
            let count = retryingOnInterrupt { Glibc.write(rawValue, bytes.baseAddress, bytes.count) }
            if count >= 0 { return count }
            guard Glibc.errno == EAGAIN else { throw .current }
            var request = pollfd(fd: rawValue, events: Int16(POLLOUT), revents: 0)
            _ = poll(&request, 1, -1)
        }
    }

    /// Writes all of `bytes`, in as many calls as it takes.
    ///
    /// - Returns: How many bytes were written before a failure; `bytes.count` when all were.
    /// - Throws: ``SystemError`` when a write fails or writes nothing (`ENOSPC`); `written` counts the bytes
    ///   that went out before it.
    public func writeAll(_ bytes: UnsafeRawBufferPointer, written: inout Int) throws(SystemError) {
        written = 0
        while written < bytes.count {
            let count = try write(UnsafeRawBufferPointer(rebasing: bytes[written...]))
            guard count > 0 else { throw SystemError(errno: ENOSPC) }
            written += count
        }
    }

    /// Writes all of `bytes`.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        var written = 0
        try writeAll(bytes, written: &written)
    }

    /// Writes all of `text`'s UTF-8.
    public func writeAll(_ text: String) throws(SystemError) {
        var text = text
        // withUTF8 rethrows untyped errors; a Result keeps the type.
        try text.withUTF8 { bytes in
            Result { () throws(SystemError) in try writeAll(UnsafeRawBufferPointer(bytes)) }
        }.get()
    }

    /// Writes `bytes` at `offset`, leaving the file offset as it was.
    ///
    /// The corresponding C function is `pwrite`.
    public func write(_ bytes: UnsafeRawBufferPointer, atOffset offset: Int) throws(SystemError) -> Int {
        let count = retryingOnInterrupt { pwrite(rawValue, bytes.baseAddress, bytes.count, off_t(offset)) }
        guard count >= 0 else { throw .current }
        return count
    }

    /// What `fstat` says of the open file.
    public func status() throws(SystemError) -> FileStatus {
        var status = stat()
        guard fstat(rawValue, &status) == 0 else { throw .current }
        return FileStatus(status)
    }

    /// The current file offset (`lseek(fd, 0, SEEK_CUR)`).
    public func offset() throws(SystemError) -> Int {
        let offset = lseek(rawValue, 0, SEEK_CUR)
        guard offset >= 0 else { throw .current }
        return Int(offset)
    }

    /// Cuts or extends the file to `size` bytes.
    ///
    /// The corresponding C function is `ftruncate`.
    public func resize(to size: Int) throws(SystemError) {
        guard retryingOnInterrupt({ ftruncate(rawValue, off_t(size)) }) == 0 else { throw .current }
    }

    /// A copy of the descriptor at the lowest free number from `lowest` up, closed on exec (`F_DUPFD_CLOEXEC`).
    public func duplicate(atLeast lowest: Int32) throws(SystemError) -> Descriptor {
        let copy = fcntl(rawValue, F_DUPFD_CLOEXEC, lowest)
        guard copy >= 0 else { throw .current }
        return Descriptor(rawValue: copy)
    }

    /// Makes room for the file's first `bytes` bytes on disk (`posix_fallocate`), so that a full file system or a
    /// file size limit shows now rather than at a later write.
    ///
    /// - Throws: ``SystemError``: `ENOSPC`, `EDQUOT`, `EFBIG` (past `ulimit -f`; `SIGXFSZ` is not sent by this
    ///   call), or `EOPNOTSUPP`/`EINVAL` where the file system cannot.
    public func reserveSpace(bytes: Int) throws(SystemError) {
        let code = posix_fallocate(rawValue, 0, off_t(bytes))
        guard code == 0 else { throw SystemError(errno: code) }
    }

    /// Takes an advisory `flock` lock without waiting.
    ///
    /// - Returns: False when another open file holds a conflicting lock.
    public func tryLock(exclusive: Bool) throws(SystemError) -> Bool {
        guard flock(rawValue, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0 else {
            if Glibc.errno == EWOULDBLOCK { return false }
            throw .current
        }
        return true
    }

    /// Takes an open-file-description write lock on the one byte at `offset` without waiting (`F_OFD_SETLK`).
    ///
    /// Such locks are independent of ``tryLock(exclusive:)``'s `flock` locks and never stop a read or a write; a
    /// byte far past any real file's end marks the file as claimed by one owner (held until the descriptor is
    /// closed). The descriptor must be open for writing.
    ///
    /// - Returns: False when another open file holds the byte.
    public func tryClaimByte(at offset: Int64) throws(SystemError) -> Bool {
        var claim = flock()
        claim.l_type = Int16(F_WRLCK)
        claim.l_whence = Int16(SEEK_SET)
        claim.l_start = off_t(offset)
        claim.l_len = 1
        // F_OFD_SETLK (Linux 3.15; 37 in <asm-generic/fcntl.h>): Glibc's module leaves it out without _GNU_SOURCE.
        guard fcntl(rawValue, 37, &claim) == 0 else {
            if Glibc.errno == EAGAIN || Glibc.errno == EACCES { return false }
            throw .current
        }
        return true
    }

    /// Makes reads and writes wait again after an open with ``Options/nonBlocking``.
    public func setBlocking() {
        let flags = fcntl(rawValue, F_GETFL)
        if flags >= 0 && flags & O_NONBLOCK != 0 { _ = fcntl(rawValue, F_SETFL, flags & ~O_NONBLOCK) }
    }

    /// Waits until the descriptor has data to read, or `milliseconds` pass (-1: no limit).
    ///
    /// - Returns: False when the time ran out.
    public func waitUntilReadable(milliseconds: Int32) -> Bool {
        var request = pollfd(fd: rawValue, events: Int16(POLLIN), revents: 0)
        let ready = poll(&request, 1, milliseconds)
        // An interrupted poll counts as ready: the caller's read or deadline check decides what happens next.
        return ready != 0
    }
}

/// The parts of `struct stat` the public looks at.
public struct FileStatus: Hashable, Sendable {
    /// What kind of file it is.
    public enum Kind: Hashable, Sendable {
        case regular, directory, symbolicLink, fifo, socket, characterDevice, blockDevice, unknown
    }

    public var kind: Kind
    /// The size in bytes (meaningful for a regular file).
    public var size: Int
    /// The number of hard links: 0 once the file has been removed while open.
    public var linkCount: Int
    /// The permission bits (`st_mode & 0o7777`).
    public var permissions: UInt32
    /// The owner's user ID.
    public var owner: UInt32
    /// The group ID.
    public var group: UInt32
    /// Device and inode: the file's identity.
    public var device: UInt64
    public var inode: UInt64

    init(_ status: stat) {
        kind =
            switch status.st_mode & S_IFMT {
            case S_IFREG: .regular
            case S_IFDIR: .directory
            case S_IFLNK: .symbolicLink
            case S_IFIFO: .fifo
            case S_IFSOCK: .socket
            case S_IFCHR: .characterDevice
            case S_IFBLK: .blockDevice
            default: .unknown
            }
        size = Int(status.st_size)
        linkCount = Int(status.st_nlink)
        permissions = UInt32(status.st_mode & 0o7777)
        owner = status.st_uid
        group = status.st_gid
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }

    /// What `stat` (or, not following a final symbolic link, `lstat`) says of `path`.
    public init(path: String, followingLinks: Bool = true) throws(SystemError) {
        var status = stat()
        guard (followingLinks ? stat(path, &status) : lstat(path, &status)) == 0 else { throw .current }
        self.init(status)
    }

    /// What `stat` says of `path`, given as bytes (a file name need not be UTF-8).
    public init(path: [UInt8]) throws(SystemError) {
        var status = stat()
        guard CString.with(path, { stat($0, &status) }) == 0 else { throw .current }
        self.init(status)
    }

    /// Whether `other` is the same file (device and inode).
    public func isSameFile(as other: FileStatus) -> Bool { device == other.device && inode == other.inode }

    /// The kind as a phrase: "a directory", "a character device".
    public var kindDescription: String {
        switch kind {
        case .regular: "a regular file"
        case .directory: "a directory"
        case .symbolicLink: "a symbolic link"
        case .fifo: "a FIFO"
        case .socket: "a socket"
        case .characterDevice: "a character device"
        case .blockDevice: "a block device"
        case .unknown: "of an unknown kind"
        }
    }
}
