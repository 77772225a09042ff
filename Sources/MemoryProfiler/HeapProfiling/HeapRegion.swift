#if os(Linux)
internal import CMemoryProfilerShims
internal import MemoryProfilerSystem

/// Heap profiles of a piece of the program's own work: every allocation made while `body` runs (on any thread),
/// with its stack, as a ``HeapProfile`` the program can inspect, print or save.
///
/// It needs `libmprof-heap-hook.so` in the process: run the program under `mprof run --heap` (the region is then
/// marked in the run's capture, and read from it), or preload the hook yourself
/// (`LD_PRELOAD=/path/to/libmprof-heap-hook.so ./app`; the region then records into a file of its own, removed
/// once read). Without it, ``profile(_:)`` throws ``MemoryError/Code/unavailable`` and says so.
///
/// ```swift
/// let (index, heap) = try HeapRegion.profile { buildIndex(of: documents) }
/// print(heap.summary.peakBytes, heap.sites(.peak).first?.frame.location ?? "")
/// ```
///
/// One region at a time: a region inside another throws ``MemoryError/Code/invalidOptions``.
public enum HeapRegion {
    // The hook's exported functions, as its public header declares them.
    private typealias Begin = mprof_heap_region_begin_function
    private typealias End = mprof_heap_region_end_function

    private static func functions() -> (begin: Begin, end: End)? {
        guard let begin = DynamicSymbol.address(of: "mprof_heap_region_begin"),
            let end = DynamicSymbol.address(of: "mprof_heap_region_end")
        else { return nil }
        return (unsafeBitCast(begin, to: Begin.self), unsafeBitCast(end, to: End.self))
    }

    /// Whether the heap hook is loaded in this process, so that regions can be profiled.
    public static var isAvailable: Bool { functions() != nil }

    /// Runs `body` and returns its result with the heap profile of what it allocated.
    ///
    /// - Throws: ``MemoryError`` (``MemoryError/Code/unavailable`` without the hook), or what `body` throws.
    public static func profile<T>(_ body: () throws -> T) throws -> (result: T, heap: HeapProfile) {
        let region = try begin()
        let result: T
        do {
            result = try body()
        } catch {
            _ = try? end(region)
            throw error
        }
        return (result, try end(region))
    }

    /// Runs `body` and returns its result with the heap profile of what was allocated while it ran (by it, and by
    /// anything else that ran meanwhile: the hook sees the process, not the task).
    public static func profile<T>(isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T) async throws -> (result: T, heap: HeapProfile) {
        let region = try begin()
        let result: T
        do {
            result = try await body()
        } catch {
            _ = try? end(region)
            throw error
        }
        return (result, try end(region))
    }

    private struct Open {
        var number: UInt64
        var ownFile: String
    }

    private static func begin() throws(MemoryError) -> Open {
        guard let functions = functions() else {
            throw MemoryError(
                .unavailable,
                "heap regions need libmprof-heap-hook.so in the process: run the program with mprof run --heap, "
                    + "or preload the hook (LD_PRELOAD=…/libmprof-heap-hook.so)")
        }
        let directory = Environment.value("TMPDIR").flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/tmp"
        var random = SystemRandomNumberGenerator()
        let ownFile = "\(directory)/mprof-region-\(ProcessTable.currentProcess)-\(String(random.next(), radix: 36)).heap"
        var number: UInt64 = 0
        let status = ownFile.withCString { functions.begin($0, &number) }
        switch status {
        case 0: return Open(number: number, ownFile: ownFile)
        case 1: throw MemoryError(.invalidOptions, "a heap region is already being recorded: regions do not nest")
        default:
            let error = SystemError.current
            throw MemoryError(.systemCall, "cannot start a heap region's capture in \(ownFile): \(error.message)", errno: error.errno)
        }
    }

    private static func end(_ region: Open) throws(MemoryError) -> HeapProfile {
        guard let functions = functions() else { throw MemoryError(.unavailable, "the heap hook is gone") }
        var path = [CChar](repeating: 0, count: 4200)
        var own: Int32 = 0
        guard functions.end(region.number, &path, path.count, &own) == 0 else {
            throw MemoryError(.invalidOptions, "heap region \(region.number) is not open")
        }
        let capturePath = String(decoding: path.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { if own != 0 { TextFile.removeRegularFile(capturePath) } }
        let bytes = try HeapCapture.readBytes(capturePath)
        let capture = try HeapCapture(bytes: bytes, name: capturePath, namesOnly: false, region: region.number)
        return HeapProfile(capture, symbols: HeapSymbolizer().symbolize(capture, usingStoredNames: false))  // the files that ran, now
    }
}
#endif
