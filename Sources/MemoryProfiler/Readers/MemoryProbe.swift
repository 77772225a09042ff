/// Takes memory readings of one process with one reader.
///
/// Create a probe once and read it as often as you like: it opens what it needs (a `/proc` file, the path of
/// `ps`) up front, so each ``read()`` is as cheap as the reader allows. A probe is safe to share between
/// threads.
///
/// ```swift
/// let probe = try MemoryProbe(.rss)                 // the current process
/// let before = try probe.read()
/// // … work …
/// print("grew by \(try probe.read() - before)")
///
/// let other = try MemoryProbe(.pss, process: ProcessID(4242))
/// print(try other.read().mebibytes)
/// ```
public final class MemoryProbe: Sendable {
    /// How this probe measures.
    public let reader: MemoryReader
    /// The process it measures.
    public let process: ProcessID

    let backend: Backend

    /// Prepares readings of `process` with `reader`.
    ///
    /// - Parameters:
    ///   - reader: How to measure; see ``MemoryReader`` for what each sees and costs.
    ///   - process: The process to measure; the current one by default.
    /// - Throws: ``MemoryError`` with ``MemoryError/Code/noSuchProcess`` when there is no such process,
    ///   ``MemoryError/Code/permissionDenied`` when the kernel refuses, ``MemoryError/Code/unsupportedTarget``
    ///   for ``MemoryReader/maxrss`` and ``MemoryReader/heap`` of another process, and
    ///   ``MemoryError/Code/unavailable`` when the reader cannot work on this system.
    public init(_ reader: MemoryReader = .rss, process: ProcessID = .current) throws(MemoryError) {
        if !reader.measuresOtherProcesses && !process.isCurrent {
            throw MemoryError(
                .unsupportedTarget,
                "the \(reader) reader measures only the current process, not PID \(process)",
                process: process)
        }
        self.reader = reader
        self.process = process
        self.backend = try Backend(reader: reader, process: process)
    }

    /// Takes one reading.
    ///
    /// - Returns: The memory the reader sees now (for ``MemoryReader/peak`` and ``MemoryReader/maxrss``, the
    ///   high-water mark so far).
    /// - Throws: ``MemoryError`` with ``MemoryError/Code/processExited`` when the process has exited since the
    ///   probe was created, and the other codes of ``init(_:process:)``. Never returns a silent zero for a
    ///   process that is gone.
    @inline(__always)
    public func read() throws(MemoryError) -> MemorySize {
        try backend.read(process: process)
    }

    /// A reading and, for a ``MemoryReader/peak`` probe (which reads `/proc/PID/status`), the process's
    /// file-backed resident pages from the same read; nil for other readers.
    func readWithFileResident() throws(MemoryError) -> (reading: MemorySize, fileResident: MemorySize?) {
        #if os(Linux)
        let result = try backend.readPeakAndFileResident(process: process)
        return (result.peak, result.fileResident)
        #else
        return (try read(), nil)
        #endif
    }

    /// Resets the kernel's high-water mark of the process to its current resident set size.
    ///
    /// Afterwards ``MemoryReader/peak`` (and ``MemoryReader/maxrss`` for the current process) reports the
    /// largest resident set size reached from now on. It writes `5` to `/proc/PID/clear_refs`, which resets both
    /// `VmHWM` and `getrusage`'s max RSS of that process: anything else that watches them sees the reset too.
    ///
    /// - Throws: ``MemoryError`` with ``MemoryError/Code/permissionDenied`` for another user's process
    ///   (the file is writable by its owner only), ``MemoryError/Code/processExited`` when the process is gone,
    ///   and ``MemoryError/Code/unavailable`` on a kernel without `clear_refs`. On error the mark is unchanged
    ///   and keeps counting from the process start or the previous reset.
    public func resetPeak() throws(MemoryError) {
        try backend.resetPeak(process: process)
    }

    deinit {
        backend.close()
    }
}
