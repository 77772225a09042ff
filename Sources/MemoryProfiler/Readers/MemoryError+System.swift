#if os(Linux)
internal import MemoryProfilerSystem

/// The readers' view of `/proc/PID/` files: the floor's failures told as what they mean for a process.
extension ProcFile {
    /// Opens `/proc/PID/name`.
    static func open(_ name: StaticString, of process: ProcessID, writable: Bool = false) throws(MemoryError) -> ProcFile {
        do {
            return try open(name, of: process.rawValue, writable: writable)
        } catch {
            throw MemoryError(opening: "/proc/\(process.rawValue)/\(name)", of: process, writing: writable, error)
        }
    }

    /// Reads the file from its start into `buffer`; returns the number of bytes read.
    @inline(__always)
    func read(into buffer: UnsafeMutableRawBufferPointer, of process: ProcessID, name: StaticString) throws(MemoryError) -> Int {
        do {
            return try read(into: buffer)
        } catch {
            throw MemoryError(accessing: "/proc/\(process.rawValue)/\(name)", of: process, error)
        }
    }

    /// Writes `text` at offset 0.
    func write(_ text: StaticString, of process: ProcessID, name: StaticString) throws(MemoryError) {
        do {
            try write(text)
        } catch {
            throw MemoryError(accessing: "/proc/\(process.rawValue)/\(name)", of: process, error)
        }
    }
}

extension MemoryError {
    /// A failed system call, as a ``Code/systemCall`` error with its message and `errno`.
    init(_ error: SystemError, process: ProcessID? = nil) {
        self.init(.systemCall, error.message, process: process, errno: error.errno)
    }

    /// Opening a file of `process` under `/proc` failed.
    init(opening path: String, of process: ProcessID, writing: Bool, _ error: SystemError) {
        if error.isNoSuchFile || error.isNoSuchProcess {
            if !ProcessTable.pathExists("/proc/\(process.rawValue)") {
                self.init(.noSuchProcess, "no process with PID \(process)", process: process, errno: error.errno)
            } else if error.isNoSuchProcess {
                // The kernel answers ESRCH for a process without an address space: a kernel thread, or one exiting.
                self = process.noAddressSpaceError()
            } else {
                self.init(.unavailable, "\(path) does not exist on this kernel", process: process, errno: error.errno)
            }
        } else if error.isPermissionDenied {
            let verb = writing ? "writing" : "reading"
            self.init(
                .permissionDenied,
                "permission denied \(verb) \(path): process \(process) belongs to another user "
                    + "or may not be traced (run as its owner or as root)",
                process: process, errno: error.errno)
        } else {
            self.init(.systemCall, "cannot open \(path): \(error.message)", process: process, errno: error.errno)
        }
    }

    /// Reading or writing an open file of `process` under `/proc` failed.
    init(accessing path: String, of process: ProcessID, _ error: SystemError) {
        if error.isNoSuchProcess {
            self.init(.processExited, "process \(process) has exited", process: process, errno: error.errno)
        } else if error.isPermissionDenied {
            self.init(.permissionDenied, "permission denied on \(path)", process: process, errno: error.errno)
        } else {
            self.init(.systemCall, "cannot access \(path): \(error.message)", process: process, errno: error.errno)
        }
    }
}
#endif
