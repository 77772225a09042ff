/// What the allocator that serves this process's `malloc` says about its memory: the heap the program has in use,
/// and what the allocator holds without using it.
///
/// The allocator is the one the program's `malloc` calls really reach: glibc's, or jemalloc or tcmalloc when linked
/// or preloaded (Vapor's template links jemalloc), found through the dynamic linker once, on the first reading.
/// Under `mprof run --heap` it is the allocator the heap hook forwards to. Each is read through its own statistics:
///
/// | Allocator | In use | Held free |
/// |---|---|---|
/// | glibc | `mallinfo2()`: `uordblks + hblkhd` | `fordblks`: free chunks in the arenas |
/// | jemalloc | `stats.allocated` (after refreshing `epoch`) | `stats.resident − stats.allocated` |
/// | tcmalloc (gperftools) | `generic.current_allocated_bytes` | `generic.heap_size − tcmalloc.pageheap_unmapped_bytes −` in use |
///
/// Any other allocator (mimalloc among them) is an ``MemoryError/Code/unavailable`` error that names it: never
/// glibc's idle arenas passed off as the program's heap.
public struct MallocStatistics: Sendable, Hashable {
    /// The allocators mprof reads.
    public enum Allocator: String, Sendable, Hashable, CaseIterable {
        case glibc, jemalloc, tcmalloc
    }

    /// The allocator read.
    public var allocator: Allocator
    /// The object that defines its `malloc`: a shared library's path, or the program's own.
    public var library: String
    /// Bytes handed out to the program and not yet freed, as the allocator counts them (each block's size class or
    /// chunk: a little more than was asked for).
    public var inUse: MemorySize
    /// Bytes the allocator holds, mapped or resident, without the program using them: free chunks and pages it
    /// keeps for later allocations, its caches, and (jemalloc) its metadata. This is the memory that makes RSS high
    /// while the heap is not: it goes back to the system only when the allocator decides to (glibc: `malloc_trim`,
    /// or a free at the top of an arena; jemalloc: its decay timers).
    public var heldFree: MemorySize
    /// glibc: the part of ``heldFree`` at the top of the main arena, which `malloc_trim(0)` gives back in any case.
    public var releasableAtTop: MemorySize?
    /// jemalloc and tcmalloc: address space given back to the system but kept reserved (not resident, not in RSS).
    public var retained: MemorySize?

    public init(
        allocator: Allocator, library: String, inUse: MemorySize, heldFree: MemorySize,
        releasableAtTop: MemorySize? = nil, retained: MemorySize? = nil
    ) {
        self.allocator = allocator
        self.library = library
        self.inUse = inUse
        self.heldFree = heldFree
        self.releasableAtTop = releasableAtTop
        self.retained = retained
    }
}
