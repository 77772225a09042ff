/// Why a memory reading or a process query failed.
///
/// Every failure of the readers is one of these, with a code to switch on and a message a person can read:
///
/// ```swift
/// do {
///     let rss = try MemoryProbe(.rss, process: ProcessID(4242)).read()
/// } catch let error where error.code == .noSuchProcess {
///     print(error)   // no process with PID 4242
/// }
/// ```
public struct MemoryError: Error, Hashable, Sendable {
    /// The kind of failure, to switch on.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// No process with that PID exists (it never did, or it exited and was reaped before we looked).
        public static let noSuchProcess = Code("noSuchProcess")
        /// The process existed when the reader was set up and has exited since (it may still be a zombie).
        public static let processExited = Code("processExited")
        /// The kernel refused: another user's process, or a file only its owner or root may read.
        public static let permissionDenied = Code("permissionDenied")
        /// The reader cannot measure that process (`maxrss` and `heap` see only the current process).
        public static let unsupportedTarget = Code("unsupportedTarget")
        /// What the reader needs is missing here (no `ps` on `PATH`, a kernel without the file, no `mallinfo2`).
        public static let unavailable = Code("unavailable")
        /// A kernel file or a command printed something we could not parse.
        public static let unexpectedFormat = Code("unexpectedFormat")
        /// Options that cannot work together, or a value out of range (a non-positive interval, say).
        public static let invalidOptions = Code("invalidOptions")
        /// Any other failure of a system call; ``MemoryError/errno`` says which.
        public static let systemCall = Code("systemCall")

        public var description: String { name }
    }

    /// The kind of failure.
    public var code: Code
    /// What went wrong, in a sentence that names the process or file involved.
    public var message: String
    /// The process concerned, if there is one.
    public var process: ProcessID?
    /// The C library's error number behind the failure, if there is one.
    public var errno: Int32?

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - message: A sentence a person can act on.
    ///   - process: The process concerned.
    ///   - errno: The C library's error number behind the failure.
    public init(_ code: Code, _ message: String, process: ProcessID? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.process = process
        self.errno = errno
    }
}

extension MemoryError: CustomStringConvertible {
    /// The message, as the command-line tool prints it after `Error: `.
    public var description: String { message }
}
