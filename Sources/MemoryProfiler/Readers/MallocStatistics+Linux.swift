#if os(Linux)
internal import MemoryProfilerSystem

extension MallocStatistics {
    /// The statistics of the allocator serving this process's `malloc`, now.
    ///
    /// A reading costs what the allocator's call costs: glibc's `mallinfo2` walks the free lists and takes each
    /// arena's lock (microseconds on a tidy heap, milliseconds on a fragmented one); jemalloc's `epoch` refresh
    /// merges every arena's counters.
    ///
    /// - Throws: ``MemoryError`` with code ``MemoryError/Code/unavailable`` when the allocator is one mprof cannot
    ///   read (the message names it and its library), ``MemoryError/Code/systemCall`` when its statistics call fails.
    /// glibc only: the bytes `malloc_trim(0)` would give back to the system now — free pages inside the arenas as
    /// well as the top — measured without trimming this process: the call is made in a forked copy of it, and the
    /// copy's anonymous resident memory before and after is the answer. The fork costs about a millisecond per
    /// gigabyte of resident memory (its page tables are copied).
    ///
    /// - Throws: ``MemoryError/Code/unavailable`` under another allocator; ``MemoryError/Code/systemCall`` when the
    ///   fork fails.
    public static func trimmable() throws(MemoryError) -> MemorySize {
        let (kind, library) = ProcessMemory.mallocAllocator()
        guard kind == .glibc else {
            throw MemoryError(
                .unavailable,
                "only glibc's malloc has malloc_trim; malloc here is \(library.isEmpty ? "another allocator's" : TerminalText.escaped(library))")
        }
        do {
            return MemorySize(bytes: try ProcessMemory.mallocTrimmableBytes())
        } catch {
            throw MemoryError(error)
        }
    }

    public static func current() throws(MemoryError) -> MallocStatistics {
        let (kind, library) = ProcessMemory.mallocAllocator()
        let allocator: Allocator
        switch kind {
        case .glibc: allocator = .glibc
        case .jemalloc: allocator = .jemalloc
        case .tcmalloc: allocator = .tcmalloc
        case .mimalloc:
            throw MemoryError(
                .unavailable,
                "malloc here is mimalloc's (\(TerminalText.escaped(library))), which has no count of the bytes in use to read "
                    + "(mprof reads glibc, jemalloc and tcmalloc)")
        case .unknown:
            throw MemoryError(
                .unavailable,
                library.isEmpty
                    ? "the allocator serving malloc here could not be identified (mprof reads glibc, jemalloc and tcmalloc)"
                    : "malloc here comes from \(TerminalText.escaped(library)), an allocator mprof cannot read "
                        + "(it reads glibc, jemalloc and tcmalloc)")
        }
        let reading: ProcessMemory.MallocReading
        do {
            reading = try ProcessMemory.mallocReading()
        } catch {
            throw MemoryError(error)
        }
        return MallocStatistics(
            allocator: allocator, library: library, inUse: MemorySize(bytes: reading.inUse),
            heldFree: MemorySize(bytes: reading.heldFree), releasableAtTop: reading.releasable.map { MemorySize(bytes: $0) },
            retained: reading.retained.map { MemorySize(bytes: $0) })
    }
}
#endif
