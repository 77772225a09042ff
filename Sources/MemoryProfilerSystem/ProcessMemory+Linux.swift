#if os(Linux)
import CMemoryProfilerShims
import Glibc

/// What the kernel and the C library say of the calling process's memory.
public enum ProcessMemory {
    /// The size of a page in bytes.
    public static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// A share of what this process may have in memory at most: `1/divisor` of the physical memory, and of the
    /// address space `RLIMIT_AS` leaves it (the limit less what is mapped already: thread stacks and the
    /// allocator's arenas take much of a small limit before anything is read); at least 16 MiB. For sizing what is
    /// read from a file before allocating it.
    ///
    /// The corresponding C functions are `sysconf(_SC_PHYS_PAGES)` and `getrlimit(RLIMIT_AS)`; what is mapped is
    /// the first field of `/proc/self/statm`.
    public static func budget(divisor: Int) -> Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES))
        var budget = pages > 0 ? pages.multipliedReportingOverflow(by: pageSize).partialValue / divisor : 1 << 30
        budget = max(budget, 16 << 20)  // a machine that reports almost no memory still reads small files
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
            // No floor here: what the limit leaves is all there is.
            let left = Int(clamping: limit.rlim_cur) - (addressSpaceInUse() ?? 0)
            budget = min(budget, max(left, 0) / divisor)
        }
        return budget
    }

    /// Whether `bytes` more could be allocated now, with room to spare: asked before a large array grows, since a
    /// Swift allocation that fails ends the process. Only the address space is asked (`RLIMIT_AS`): a reservation of
    /// twice `bytes` and 8 MiB more, made and given back at once (`mmap` of `PROT_NONE`, which commits no memory, so
    /// that without a limit this is true). Twice: other threads allocate meanwhile, and the allocator may map more
    /// than it is asked for; a probe through `malloc` itself passed where the allocation after it failed. Under
    /// 256 KiB nothing is asked.
    public static func canAllocate(bytes: Int) -> Bool {
        guard bytes >= 256 << 10 else { return true }
        let (doubled, overflow) = bytes.multipliedReportingOverflow(by: 2)
        guard !overflow, doubled < Int.max - (8 << 20) else { return false }
        let length = doubled + (8 << 20)
        let probe = mmap(nil, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let probe, probe != MAP_FAILED else { return false }
        munmap(probe, length)
        return true
    }

    /// The bytes of address space the calling process has mapped (`/proc/self/statm`'s first field, in pages); nil
    /// when it cannot be read.
    public static func addressSpaceInUse() -> Int? {
        guard let text = try? ProcessTable.readSmallFile("/proc/self/statm") else { return nil }
        var pages = 0
        for byte in text {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { break }
            guard pages < Int.max / 10 - 10 else { return nil }
            pages = pages * 10 + Int(byte - UInt8(ascii: "0"))
        }
        let (bytes, overflow) = pages.multipliedReportingOverflow(by: pageSize)
        return overflow ? nil : bytes
    }

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

    /// Bytes of the malloc heap in use, as the allocator that serves this process's `malloc` counts them (glibc's
    /// `mallinfo2`, jemalloc's `stats.allocated`, tcmalloc's `generic.current_allocated_bytes`); nil where that
    /// allocator has no such reading here (see ``mallocAllocator()``).
    @inlinable @inline(__always)
    public static func heapInUseBytes() -> Int? {
        var reading = cmp_malloc_reading()
        return cmp_malloc_read(&reading) == 0 ? Int(reading.in_use) : nil
    }

    /// The allocators ``mallocAllocator()`` tells apart.
    public enum Allocator: Int32, Sendable {
        case unknown = 0, glibc, jemalloc, tcmalloc, mimalloc
    }

    /// The allocator that serves this process's `malloc`, and the path of the object that defines it: the one
    /// the dynamic linker resolves `malloc` to (under mprof's heap hook, the one the hook forwards to).
    public static func mallocAllocator() -> (allocator: Allocator, library: String) {
        var path = [CChar](repeating: 0, count: 4096)
        let kind = cmp_malloc_allocator(&path, path.count)
        let library = String(decoding: path.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (Allocator(rawValue: kind) ?? .unknown, library)
    }

    /// glibc: the bytes `malloc_trim(0)` would give back now, measured in a forked copy of the process.
    public static func mallocTrimmableBytes() throws(SystemError) -> Int {
        let bytes = cmp_malloc_trimmable_bytes()
        guard bytes >= 0 else { throw SystemError.current.adding("measuring what malloc_trim would release") }
        return Int(bytes)
    }

    /// What the allocator says, in bytes; nil for what it does not say.
    public struct MallocReading: Sendable {
        public var inUse: Int
        public var heldFree: Int
        public var releasable: Int?
        public var retained: Int?
    }

    /// The allocator's reading, or the error of the failure (`ENOTSUP`: an allocator without a reading here).
    public static func mallocReading() throws(SystemError) -> MallocReading {
        var reading = cmp_malloc_reading()
        guard cmp_malloc_read(&reading) == 0 else { throw SystemError.current.adding("the allocator's statistics") }
        return MallocReading(
            inUse: Int(reading.in_use), heldFree: Int(max(reading.held_free, 0)),
            releasable: reading.releasable >= 0 ? Int(reading.releasable) : nil,
            retained: reading.retained >= 0 ? Int(reading.retained) : nil)
    }
}
#endif
