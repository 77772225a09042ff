import Glibc

/// A system call that failed: the C library's error number and a sentence a person can read.
///
/// The floor throws these; the modules above add what the call was for (`cannot write out.dat: …`) or turn them
/// into their own errors (`MemoryError` knows what `ESRCH` means for a reading).
public struct SystemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The C library's error number (`ENOENT`, `ENOSPC`, …).
    public var errno: Int32
    /// What failed and why, as printed.
    public var message: String

    /// Creates an error whose message is `context`, a colon and the C library's text for `errno`.
    public init(_ context: String, errno: Int32) {
        self.errno = errno
        self.message = "\(context): \(Self.describe(errno))"
    }

    /// An error with its own message, for a failure the C library has no text for.
    public init(message: String, errno: Int32) {
        self.errno = errno
        self.message = message
    }

    /// An error with the C library's text for `errno` as its whole message.
    public init(errno: Int32) {
        self.errno = errno
        self.message = Self.describe(errno)
    }

    /// `EISDIR`: a directory where a file was wanted.
    public static let isADirectory = EISDIR

    /// `EEXIST`: what an exclusive create of a name that is taken fails with.
    public static let nameTaken = EEXIST

    /// `ENXIO`: what opening a FIFO without a reader for writing, without blocking, fails with.
    public static let noReader = ENXIO

    /// The value of `errno` left by the call that just failed.
    public static var current: SystemError { SystemError(errno: Glibc.errno) }

    /// The same error, its message preceded by `context` and a colon: `cannot write out.dat: No space left…`.
    public func adding(_ context: String) -> SystemError {
        var error = self
        error.message = "\(context): \(message)"
        return error
    }

    public var description: String { message }

    /// `ENOENT`: no such file.
    public var isNoSuchFile: Bool { errno == ENOENT }
    /// `ESRCH`: no such process (or, from `/proc/PID/…`, one without an address space).
    public var isNoSuchProcess: Bool { errno == ESRCH }
    /// `EEXIST`: the file exists (an exclusive create).
    public var isExisting: Bool { errno == EEXIST }
    /// `ENOSPC` or `EDQUOT`: the file system, or the user's quota on it, is full.
    public var isOutOfSpace: Bool { errno == ENOSPC || errno == EDQUOT }
    /// `EFBIG`: past the file size limit (`ulimit -f`) or the file system's largest file.
    public var isFileTooLarge: Bool { errno == EFBIG }
    /// `ENOEXEC`: not a format the kernel can run.
    public var isNotExecutableFormat: Bool { errno == ENOEXEC }
    /// `ETXTBSY`: an executable open for writing.
    public var isTextBusy: Bool { errno == ETXTBSY }
    /// `EACCES` or `EPERM`: the kernel refused.
    public var isPermissionDenied: Bool { errno == EACCES || errno == EPERM }
    /// `EMFILE` or `ENFILE`: out of file descriptors, this process's or the system's.
    public var isOutOfDescriptors: Bool { errno == EMFILE || errno == ENFILE }

    /// The C library's text for an error number (`strerror`).
    public static func describe(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }
}

/// Calls `body` until it returns something other than -1 with `errno` `EINTR`: the package's one rule for
/// system calls a signal interrupts.
///
/// A signal handler (mprof forwards SIGINT and SIGTERM to the program it runs) makes a blocking call return
/// early with `EINTR`; nothing was done, so the call is made again.
@inlinable @inline(__always)
public func retryingOnInterrupt<Result: FixedWidthInteger>(_ body: () -> Result) -> Result {
    while true {
        let result = body()
        if result != -1 || Glibc.errno != EINTR { return result }
    }
}
