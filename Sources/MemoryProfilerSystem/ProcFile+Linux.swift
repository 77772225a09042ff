#if os(Linux)
import Glibc

/// A file under `/proc/PID/`, opened once and read again and again with `pread` at offset 0.
///
/// The kernel regenerates the text of these files on every read from offset 0, so one descriptor serves any
/// number of readings.
public struct ProcFile: Sendable {
    public let descriptor: Descriptor

    /// Opens `/proc/PID/name`.
    ///
    /// - Throws: ``SystemError`` with the C library's text only (`ENOENT` or `ESRCH` for a process that is gone,
    ///   `EACCES` for another user's).
    public static func open(_ name: StaticString, of process: Int32, writable: Bool = false) throws(SystemError) -> ProcFile {
        ProcFile(descriptor: try Descriptor.open("/proc/\(process)/\(name)", writable ? .writeOnly : .readOnly))
    }

    /// Reads the file from its start into `buffer`; returns the number of bytes read.
    @inlinable @inline(__always)
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        try descriptor.read(into: buffer, atOffset: 0)
    }

    /// Writes `text` at offset 0.
    public func write(_ text: StaticString) throws(SystemError) {
        _ = try descriptor.write(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount), atOffset: 0)
    }

    public func close() {
        descriptor.close()
    }
}
#endif
