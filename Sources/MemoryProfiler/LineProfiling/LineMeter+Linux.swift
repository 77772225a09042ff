internal import CMemoryProfilerShims
internal import MemoryProfilerSystem

#if os(Linux)

/// The readings line-by-line profiling takes of the current process at each probe, on Linux.
///
/// - Resident set: `/proc/self/statm` through a descriptor opened once (0.5–1.2 µs).
/// - Page faults: `getrusage(RUSAGE_SELF)`, minor plus major (a fraction of a microsecond).
/// - Heap in use: the allocator's own count (``MallocStatistics``). glibc's `mallinfo2()` is about 0.2 µs on a small
///   heap; it walks free lists, so it grows with fragmentation: a reading slower than ``heapTimeLimitNanoseconds``
///   switches heap readings off.
/// - Allocations of this thread: the heap hook's per-thread counters (`libmprof-heap-hook.so`, under
///   `mprof run --heap` or preloaded), when it is loaded: one call, a few nanoseconds.
/// - High-water mark: `VmHWM` of `/proc/self/status` and its reset through `/proc/self/clear_refs`, only after
///   page faults (about 9 µs).
struct LineMeter: Sendable {
    static let heapTimeLimitNanoseconds: Int64 = 100_000

    private let resident: MemoryProbe?
    private let peak: MemoryProbe?
    let canMeasureHeap: Bool
    private typealias ThreadAllocated = mprof_heap_thread_allocated_function  // the hook's, as its header declares it
    private let threadAllocated: ThreadAllocated?
    /// Whether the heap hook is loaded, so that each line's own allocations are counted.
    var countsAllocations: Bool { threadAllocated != nil }

    init() {
        resident = try? MemoryProbe(.rss)
        peak = try? MemoryProbe(.peak)
        canMeasureHeap = ProcessMemory.heapInUseBytes() != nil
        threadAllocated = DynamicSymbol.address(of: "mprof_heap_thread_allocated").map {
            unsafeBitCast($0, to: ThreadAllocated.self)
        }
    }

    /// A reading; `heap` is -1 when not measured. `heapNanoseconds` is what the heap reading took.
    @inline(__always)
    func read(heap measuresHeap: Bool) -> (reading: LineReading, heapNanoseconds: Int64) {
        let faults = ProcessMemory.pageFaults()
        let residentBytes = (try? resident?.read().bytes) ?? 0
        var heapBytes = -1
        var elapsed: Int64 = 0
        if measuresHeap {
            let start = Clocks.monotonicNanoseconds()
            heapBytes = ProcessMemory.heapInUseBytes() ?? -1
            elapsed = Clocks.monotonicNanoseconds() - start
        }
        var reading = LineReading(resident: residentBytes, faults: faults, heap: heapBytes)
        (reading.allocatedBytes, reading.allocations) = threadAllocations()
        return (reading, elapsed)
    }

    /// What this thread allocated so far (bytes, allocations), from the heap hook; (-1, -1) without it. Read at the
    /// start of a probe, before the profiler's own work, and again at its end, so that what the profiler allocates
    /// is no line's.
    @inline(__always)
    func threadAllocations() -> (bytes: Int, count: Int) {
        guard let threadAllocated else { return (-1, -1) }
        var bytes: UInt64 = 0, count: UInt64 = 0
        threadAllocated(&bytes, &count)
        return (Int(truncatingIfNeeded: bytes), Int(truncatingIfNeeded: count))
    }

    /// The kernel's high-water mark, reset right after reading; nil when it cannot be read or reset.
    func resettingHighWaterMark() -> Int? {
        guard let peak, let mark = try? peak.read() else { return nil }
        guard (try? peak.resetPeak()) != nil else { return nil }
        return mark.bytes
    }

    /// Resets the kernel's high-water mark to the current resident set; false when not permitted.
    func resetHighWaterMark() -> Bool {
        guard let peak else { return false }
        return (try? peak.resetPeak()) != nil
    }
}
#endif
