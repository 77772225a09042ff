/// A way of measuring how much memory a process uses.
///
/// Each reader answers a different question; pick the one that matches yours. A ``MemoryProbe`` takes readings
/// with a reader. Costs are medians of `mprof readers --bench` in a release build on a 2-core Linux 6.18
/// machine; most of each is the kernel's own work (a bare C `pread` of `/proc/self/status` costs the same 9 µs).
///
/// | reader | what it answers | processes | one reading |
/// |---|---|---|---|
/// | ``rss`` | pages resident in RAM now | any | 1.2–1.7 µs |
/// | ``pss`` | resident memory, shared pages split among their users | any you may trace | ≈100 µs + 3–10 µs per resident MiB, by how it is mapped (250 µs at 15 MiB; 3–11 ms at 1 GiB) |
/// | ``uss`` | resident memory no other process shares | any you may trace | same as `pss` |
/// | ``peak`` | the most resident memory since start or the last reset | any | 8.5–9 µs |
/// | ``maxrss`` | the same high-water mark, through `getrusage` | current only | 0.7 µs |
/// | ``ps`` | resident memory as the `ps` command prints it | any | 5–7 ms (spawns a process) |
/// | ``heap`` | bytes malloc has handed out and not got back | current only | 0.2 µs on a tidy heap, ms on a fragmented one |
public enum MemoryReader: String, CaseIterable, Hashable, Sendable, Codable {
    /// Resident set size: the process's pages that are in RAM now, from `/proc/PID/statm` (field 2 × page size).
    ///
    /// The default, as in memory_profiler (psutil's `rss`). It counts shared pages (libraries, shared memory)
    /// in full in every process that maps them, and cannot see memory that was allocated but never touched,
    /// nor pages swapped out. The probe keeps the file open and reads it with `pread` into a stack buffer, so a
    /// reading allocates nothing.
    case rss

    /// Proportional set size: resident memory with each shared page divided among the processes sharing it,
    /// from `Pss:` in `/proc/PID/smaps_rollup`.
    ///
    /// The fairest answer to "how much RAM is this process responsible for"; the sum over all processes is the
    /// RAM in use. The kernel walks every mapping to compute it, so a reading costs about 10 µs per resident
    /// MiB. Needs the right to trace the process (your own processes, or root): otherwise
    /// ``MemoryError/Code/permissionDenied``.
    case pss

    /// Unique set size: resident memory private to the process (`Private_Clean + Private_Dirty +
    /// Private_Hugetlb` in `/proc/PID/smaps_rollup`).
    ///
    /// What the system would get back if the process exited now. Same cost and permissions as ``pss``; always
    /// `uss ≤ pss ≤ rss`.
    case uss

    /// Peak resident set size: the kernel's high-water mark, `VmHWM` in `/proc/PID/status`.
    ///
    /// The largest ``rss`` since the process started or since the last ``MemoryProbe/resetPeak()``, including
    /// spikes that came and went between two readings; the kernel updates it on page faults, so it misses
    /// nothing a sampler could see. It never falls when memory is freed. The reset writes `5` to
    /// `/proc/PID/clear_refs`, which also resets `getrusage`'s max RSS (``maxrss``) of that process.
    case peak

    /// Maximum resident set size from `getrusage(RUSAGE_SELF)`, the approach of Python's `resource` module.
    ///
    /// This is a maximum, not a current value: it never goes down when memory is freed, which is why the seed
    /// post found it "missing" freed arrays. It is the larger of ``peak`` and the peak of the program image the
    /// process replaced with `exec` (so a process started by `fork` of a large parent can report the parent's
    /// size), and ``MemoryProbe/resetPeak()`` cannot lower it below that second part. Cheaper than ``peak``, but
    /// only for the current process.
    case maxrss

    /// Resident set size as printed by `ps -o rss= -p PID` (in KiB).
    ///
    /// memory_profiler's last resort. It sees what ``rss`` sees, at the cost of spawning a process per reading
    /// (with `posix_spawn`, not Foundation's `Process`). Needs `ps` on `PATH` (Debian's `procps`).
    case ps

    /// Bytes of the malloc heap in use, as the allocator that really serves `malloc` counts them: glibc's
    /// `mallinfo2()` (`uordblks + hblkhd`), jemalloc's `stats.allocated`, tcmalloc's
    /// `generic.current_allocated_bytes` (see ``MallocStatistics``). Another allocator is an `unavailable` error
    /// that names it.
    ///
    /// The analogue of Python's tracemalloc: memory handed out by `malloc` (Swift's allocations included) and
    /// not yet freed, whether or not it is resident, and nothing that the allocator keeps cached after `free`. It
    /// cannot see memory mapped without malloc (`mmap` by hand, thread stacks, code). Only the current process.
    /// glibc's `mallinfo2` walks the allocator's free lists, so a reading costs microseconds on a tidy heap and can
    /// take milliseconds on a fragmented one; it also takes the arena locks, pausing threads that allocate.
    case heap

    /// Whether the reader can measure processes other than the current one.
    public var measuresOtherProcesses: Bool {
        switch self {
        case .rss, .pss, .uss, .peak, .ps: true
        case .maxrss, .heap: false
        }
    }

    /// One line saying what the reader measures, for tables and `--help`.
    public var summary: String {
        switch self {
        case .rss: "resident set size (/proc/PID/statm)"
        case .pss: "proportional set size, shared pages split (/proc/PID/smaps_rollup)"
        case .uss: "unique set size, private pages only (/proc/PID/smaps_rollup)"
        case .peak: "peak resident set size since start or reset (VmHWM)"
        case .maxrss: "getrusage max resident set size, never decreases"
        case .ps: "resident set size from the ps command"
        case .heap: "malloc heap in use (the allocator's own count: glibc, jemalloc, tcmalloc)"
        }
    }
}

extension MemoryReader: CustomStringConvertible {
    /// The reader's name, as the command line spells it.
    public var description: String { rawValue }
}
