#if os(Linux)
import Glibc

/// A file under `/proc/PID/`, opened once and read again and again with `pread` at offset 0.
///
/// The kernel regenerates the text of these files on every read from offset 0, so one descriptor serves any
/// number of readings. Every system call of the readers goes through here, and so does the mapping of `errno`
/// values to ``MemoryError``.
struct ProcFile: Sendable {
    let descriptor: Int32
    let process: ProcessID
    let name: StaticString

    /// Opens `/proc/PID/name`.
    static func open(_ name: StaticString, of process: ProcessID, writable: Bool = false) throws(MemoryError) -> ProcFile {
        let path = "/proc/\(process.rawValue)/\(name)"
        var descriptor: Int32
        repeat {
            descriptor = Glibc.open(path, (writable ? O_WRONLY : O_RDONLY) | O_CLOEXEC)
        } while descriptor < 0 && errno == EINTR
        guard descriptor >= 0 else {
            throw openError(errno, path: path, process: process, writing: writable)
        }
        return ProcFile(descriptor: descriptor, process: process, name: name)
    }

    /// Reads the file from its start into `buffer`; returns the number of bytes read.
    @inline(__always)
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(MemoryError) -> Int {
        while true {
            let count = pread(descriptor, buffer.baseAddress, buffer.count, 0)
            if count >= 0 { return count }
            let code = errno
            if code == EINTR { continue }
            throw ProcFile.readError(code, path: "/proc/\(process.rawValue)/\(name)", process: process)
        }
    }

    /// Writes `text` at offset 0.
    func write(_ text: StaticString) throws(MemoryError) {
        while true {
            let count = pwrite(descriptor, text.utf8Start, text.utf8CodeUnitCount, 0)
            if count >= 0 { return }
            let code = errno
            if code == EINTR { continue }
            throw ProcFile.readError(code, path: "/proc/\(process.rawValue)/\(name)", process: process)
        }
    }

    func close() {
        _ = Glibc.close(descriptor)
    }

    static func openError(_ code: Int32, path: String, process: ProcessID, writing: Bool) -> MemoryError {
        switch code {
        case ENOENT, ESRCH:
            if access("/proc/\(process.rawValue)", F_OK) != 0 {
                return MemoryError(.noSuchProcess, "no process with PID \(process)", process: process, errno: code)
            }
            // The kernel answers ESRCH for a process without an address space: a kernel thread, or one exiting.
            if code == ESRCH { return process.noAddressSpaceError() }
            return MemoryError(
                .unavailable, "\(path) does not exist on this kernel", process: process, errno: code)
        case EACCES, EPERM:
            let verb = writing ? "writing" : "reading"
            return MemoryError(
                .permissionDenied,
                "permission denied \(verb) \(path): process \(process) belongs to another user "
                    + "or may not be traced (run as its owner or as root)",
                process: process, errno: code)
        default:
            return MemoryError(
                .systemCall, "cannot open \(path): \(ErrnoText.describe(code))", process: process, errno: code)
        }
    }

    static func readError(_ code: Int32, path: String, process: ProcessID) -> MemoryError {
        switch code {
        case ESRCH:
            MemoryError(.processExited, "process \(process) has exited", process: process, errno: code)
        case EACCES, EPERM:
            MemoryError(.permissionDenied, "permission denied on \(path)", process: process, errno: code)
        default:
            MemoryError(.systemCall, "cannot access \(path): \(ErrnoText.describe(code))", process: process, errno: code)
        }
    }
}
#endif
