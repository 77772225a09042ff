/// A heap capture: every allocation and free a program made under `mprof run --heap`, replayed.
///
/// `libmprof-heap-hook.so`, preloaded into the program, writes the capture (<doc:HeapCaptureFormat>). Reading it
/// replays the events in order: each allocation is matched with its free, the heap in use is followed over time,
/// and the moment it peaks is found. What a person reads — peak consumers, leaks, temporaries by call site, with
/// Swift names — is ``HeapProfile``, made from a capture and a ``HeapSymbolizer``.
///
/// ```swift
/// let capture = try HeapCapture(path: "mprofile_20261129.heap")
/// print(capture.summary.peakBytes)          // the most heap in use at once
/// let profile = HeapProfile(capture, symbols: HeapSymbolizer().symbolize(capture))
/// for site in profile.sites(.peak).prefix(5) { print(site.bytes, site.location) }
/// ```
///
/// Sizes are the sizes the program asked for, not what the allocator rounded them to.
public struct HeapCapture: Sendable {
    /// A loaded module's executable segment, where the return addresses of stacks point into.
    public struct Module: Sendable, Hashable {
        /// The module's file (the executable, a shared library; `linux-vdso.so.1` for the kernel's).
        public var path: String
        /// What the dynamic loader added to the file's addresses.
        public var loadBias: UInt64
        /// The segment's run-time address range.
        public var addresses: Range<UInt64>
    }

    /// A Swift type the program allocated instances of through `swift_allocObject`.
    public struct SwiftType: Sendable, Hashable {
        /// The type's metadata, at run time.
        public var metadata: UInt64
        /// The metadata kind: 0 for a class; 0x400 and up for closure contexts and boxes.
        public var kind: UInt64
        /// A class's nominal type descriptor, which names it (0 for other kinds).
        public var descriptor: UInt64
    }

    /// What the capture says in total.
    public struct Summary: Sendable, Hashable, Encodable {
        /// Successful allocation calls (a `realloc` counts as one, and as a free of the old block).
        public var allocations: Int
        /// Frees of blocks allocated while recording.
        public var frees: Int
        /// The bytes asked for by all allocations.
        public var bytesAllocated: Int
        /// The most heap in use at once: the sum of the sizes of the blocks allocated and not yet freed.
        public var peakBytes: Int
        /// When the heap was at its peak, in seconds from the start of recording.
        public var peakTime: Double
        /// Blocks not freed when the program ended (or when the capture ends).
        public var blocksNotFreed: Int
        /// Their bytes.
        public var bytesNotFreed: Int
        /// Allocations freed right away: see ``HeapCapture/isTemporary(_:)``.
        public var temporaries: Int
        /// Seconds from the start of recording to its end.
        public var duration: Double
        /// False when the program was killed, or the capture stopped, before the hook could finish the file.
        public var finishedNormally: Bool
        /// True when the hook scanned the process at exit for references to the blocks not freed (a normal exit,
        /// unless `MPROF_HEAP_REACHABILITY=0`): then ``blocksLeaked`` are the leaks.
        public var reachabilityScanned: Bool
        /// Blocks not freed that nothing in the process pointed to at exit: leaked.
        public var blocksLeaked: Int
        /// Their bytes.
        public var bytesLeaked: Int
        /// The program the process replaced itself with (exec), when the capture ends there: what ran after is not
        /// recorded (a static or set-ID program, or one started without the hook; one the hook can see starts
        /// the capture again).
        public var replacedBy: String?
        /// Frees of blocks the capture never saw allocated (allocated before the hook started, or by another
        /// allocator). They are not counted anywhere else.
        public var freesOfUnknownBlocks: Int
        /// Why the hook's leak scan at exit could not be made (it could not map its tables under a tight
        /// `RLIMIT_AS`, `process_vm_readv` was refused, …), when it tried and failed: then no block is known to be
        /// leaked, and ``reachabilityScanned`` is false.
        public var leakScanFailure: String? = nil
        /// Why the hook stopped recording before the program ended (the file size limit, a full disk), when it
        /// could say so: the capture ends there.
        public var stoppedEarlyBecause: String? = nil
        /// Allocations and frees that signal handlers made while their thread was inside the hook and that could not
        /// be recorded: when not 0, the counts are short by up to this many.
        public var unrecordedSignalEvents: Int = 0
        /// The program's peak resident set in bytes (the kernel's VmHWM) just before the hook's work at exit, when the
        /// hook read it: the program's own peak, without the leak scan's memory (but with the hook's tables: see
        /// ``hookTablesAtExit``).
        public var residentPeakBeforeExit: Int? = nil
        /// The bytes of the hook's own tables resident in the program's process at its end (before the hook's exit
        /// work), when the hook said: memory the kernel counts in the program's resident set, and so in its peak,
        /// though it is not the program's. About 1 MiB for an event capture (stack tables); for an aggregate one
        /// also about 32 bytes per block live at once. Not known for a killed program.
        public var hookTablesAtExit: Int? = nil
        /// When the hook began its work at exit (the leak scan), in seconds from the start of recording: samples of
        /// the resident set after it show the hook's work, not the program's.
        public var exitWorkStarted: Double? = nil
    }

    /// The recorded process.
    public var processID: Int32
    /// When recording started, in seconds since 1970 (the clock `.dat` files use).
    public var startTime: Double
    /// How stacks were walked: `libunwind` or `libgcc`.
    public var unwinder: String
    /// The program's executable.
    public var executable: String
    /// Every executable segment the stacks point into.
    public var modules: [Module]
    /// The Swift types, in the order first seen: an allocation's ``typeNumber(of:)`` indexes this from 1.
    public var types: [SwiftType]
    /// The totals.
    public var summary: Summary
    /// The heap in use over time: one point (seconds from the start, bytes) each time the clock moved, and one
    /// at the peak.
    public var heapTimeline: [(time: Double, bytes: Int)]

    // Stack nodes, numbered from 1: node n is (parents[n-1], addresses[n-1]).
    var parents: [UInt32]
    var addresses: [UInt64]
    // Groups: the distinct (stack, type) pairs allocations were made with, numbered from 0.
    var groupLeaves: [UInt32]
    var groupTypes: [UInt32]
    // Allocations, in order (struct of arrays, as a capture can hold tens of millions).
    var sizes: [Int]
    var groups: [UInt32]
    /// The number of allocations made before the block was freed; `UInt32.max` while it is never freed.
    var freedAfter: [UInt32]
    var temporary: [Bool]
    /// One bit per allocation: unreachable at exit (empty when there was no scan).
    var unreachable: [UInt64]
    /// The allocation right after which the heap peaked (-1 in a capture without allocations).
    var peakAllocation: Int
    /// Where the hook's records end: the names section, if any, starts here.
    var eventsEnd: Int
    /// The names mprof stored in the capture after the run, if it did.
    public internal(set) var embeddedSymbols: HeapSymbols?

    /// What an aggregate capture keeps per group (stack and type) in place of its allocations: counts and bytes.
    struct GroupCounters: Sendable {
        var allocations: [Int] = [], bytes: [Int] = []
        /// Not freed when the capture ends.
        var live: [Int] = [], liveBytes: [Int] = []
        /// Allocated at the heap's peak.
        var peak: [Int] = [], peakBytes: [Int] = []
        var temporaries: [Int] = [], temporaryBytes: [Int] = []
        /// Unreachable at exit (when the scan was made).
        var leaked: [Int] = [], leakedBytes: [Int] = []
        /// Allocations by size: 65 power-of-two buckets (0, 1, 2–3, 4–7, …) of (count, bytes).
        var histogram: [(count: Int, bytes: Int)] = []
    }
    /// The counters of an aggregate capture (`mprof run --heap --aggregate`); nil for a capture of events.
    var counters: GroupCounters? = nil

    /// True for an aggregate capture (`mprof run --heap --aggregate`): counters per allocation site instead of every
    /// allocation and free. It answers every view of ``HeapProfile`` and ``summary``, but holds no allocations
    /// (``allocationCount`` is 0), no regions, and its size histogram is the whole program's whatever the filter.
    public var isAggregate: Bool { counters != nil }

    /// The number of allocations.
    public var allocationCount: Int { sizes.count }
    /// The number of distinct stack nodes.
    public var stackNodeCount: Int { parents.count }

    /// The size asked for by allocation `index` (0-based, in the order made).
    public func size(of index: Int) -> Int { sizes[index] }

    /// The call stack of allocation `index`, innermost return address first (empty when none was captured).
    public func stack(of index: Int) -> [UInt64] { stack(node: groupLeaves[Int(groups[index])]) }

    /// The Swift type of allocation `index`, as a 1-based index into ``types``; nil for plain allocations.
    public func typeNumber(of index: Int) -> Int? {
        let type = groupTypes[Int(groups[index])]
        return type == 0 ? nil : Int(type)
    }

    /// Whether allocation `index` was still allocated at the heap's peak.
    public func isLiveAtPeak(_ index: Int) -> Bool {
        index <= peakAllocation && Int(freedAfter[index]) > peakAllocation
    }

    /// Whether allocation `index` was never freed.
    public func isLiveAtEnd(_ index: Int) -> Bool { freedAfter[index] == .max }

    /// Whether allocation `index` was never freed and nothing pointed to it at exit (false without a scan).
    public func isUnreachable(_ index: Int) -> Bool {
        index / 64 < unreachable.count && unreachable[index / 64] & (1 << UInt64(index % 64)) != 0
    }

    /// Whether allocation `index` was a temporary: freed by the thread that allocated it before that thread
    /// allocated or freed anything else. This is heaptrack's definition ("a free directly after its allocation"),
    /// taken per thread so that other threads' events in between do not hide one.
    public func isTemporary(_ index: Int) -> Bool { temporary[index] }

    /// The return addresses from stack node `node` to the root.
    func stack(node: UInt32) -> [UInt64] {
        var frames: [UInt64] = []
        var current = node
        while current != 0 && frames.count <= parents.count {
            frames.append(addresses[Int(current) - 1])
            current = parents[Int(current) - 1]
        }
        return frames
    }
}
