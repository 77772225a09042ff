#if os(Linux)
import CMemoryProfilerShims
import Glibc

/// What the kernel and the C library say of the calling process's memory.
public enum ProcessMemory {
    /// The size of a page in bytes.
    public static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// The calling process's largest resident set so far, in KiB (`ru_maxrss` of `getrusage(RUSAGE_SELF)`).
    public static func maximumResidentKibibytes() throws(SystemError) -> Int {
        var usage = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { throw .current.adding("getrusage") }
        return usage.ru_maxrss
    }

    /// The calling process's page faults so far, minor plus major (`getrusage(RUSAGE_SELF)`).
    @inlinable @inline(__always)
    public static func pageFaults() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return usage.ru_minflt + usage.ru_majflt
    }

    /// Bytes of the malloc heap in use: `uordblks + hblkhd` of glibc's `mallinfo2()`; nil where the C library
    /// has no `mallinfo2` (not glibc, or glibc older than 2.33).
    @inlinable @inline(__always)
    public static func heapInUseBytes() -> Int? {
        let bytes = cmp_malloc_heap_in_use_bytes()
        return bytes >= 0 ? Int(bytes) : nil
    }
}
#endif
