/// What a heap capture says, by call site: who held the memory at the peak, what was never freed, what was
/// freed right away, who allocates most often, and the sizes.
///
/// A site is the innermost frame of the program's own code (not the C library, the Swift runtime or the
/// standard library; with a source line when the program has debug information) on an allocation's stack, with
/// the Swift type when the allocation is a class instance:
/// "`Node`, from `buildIndex(count:payload:)` at main.swift:24". Allocations made entirely inside system code are
/// attributed to the innermost frame outside the allocator.
public struct HeapProfile: Sendable {
    /// A question asked of the capture.
    public enum View: String, CaseIterable, Sendable, Encodable {
        /// The blocks allocated at the heap's peak, by bytes.
        case peak
        /// The leaks, by bytes: blocks never freed that nothing in the process pointed to at exit (retain cycles,
        /// lost pointers). Without a reachability scan (a program that did not exit normally), every block not
        /// freed, as ``notFreed``.
        case leaks
        /// Every block never freed (still allocated when the program ended), reachable or not, by bytes.
        case notFreed = "not-freed"
        /// Every allocation, by bytes allocated.
        case allocated
        /// Allocations freed right away (``HeapCapture/isTemporary(_:)``), by count.
        case temporary
        /// Every allocation, by number of calls.
        case calls

        /// Whether the view is measured in allocations rather than bytes: ``calls`` and ``temporary`` are about how
        /// often, the others about how much.
        public var isCounted: Bool { self == .calls || self == .temporary }
    }

    /// Which allocations to keep: those with a frame whose function, or whose module, contains the text.
    public struct Filter: Sendable, Hashable {
        /// Keeps allocations with a frame whose function name contains this text.
        public var function: String?
        /// Keeps allocations with a frame in a module whose file name contains this text.
        public var module: String?

        public init(function: String? = nil, module: String? = nil) {
            self.function = function
            self.module = module
        }

        /// Whether it keeps everything.
        public var isEmpty: Bool { function == nil && module == nil }
    }

    /// The allocations of one call site (and type) in a view.
    public struct Site: Sendable, Hashable, Encodable {
        /// The frame allocations are attributed to.
        public var frame: HeapSymbols.Frame
        /// The Swift type allocated, for class instances (and closure contexts) made through `swift_allocObject`.
        public var typeName: String?
        /// The bytes in the view.
        public var bytes: Int
        /// The allocations in the view.
        public var allocations: Int
        /// The stack that contributed most, innermost frame first, inlined frames included.
        public var stack: [HeapSymbols.Frame]
    }

    /// One bucket of the size histogram: allocations of `sizes.lowerBound` up to `sizes.upperBound` bytes.
    public struct SizeBucket: Sendable, Hashable, Encodable {
        /// The sizes of the bucket's allocations, in bytes.
        public var sizes: ClosedRange<Int>
        /// Its allocations.
        public var allocations: Int
        /// Their bytes.
        public var bytes: Int
    }

    /// The recorded program's executable.
    public var executable: String { capture.executable }
    /// The recorded process.
    public var processID: Int32 { capture.processID }
    /// How its stacks were walked.
    public var unwinder: String { capture.unwinder }
    /// Whether the capture holds counters per allocation site (`mprof run --heap --aggregate`) rather than every
    /// event: the order of events is not known, and size histograms are the whole program's.
    public var isAggregate: Bool { capture.isAggregate }

    /// The capture's totals (not filtered: see ``filter`` and ``total(_:)`` for what the filter keeps).
    public var summary: HeapCapture.Summary
    /// What the profile keeps: every view and export but ``summary`` holds only these allocations.
    public let filter: Filter
    /// What the symbolizer could not do.
    public var notes: [String]

    let capture: HeapCapture
    let symbols: HeapSymbols
    /// Per group: its site (an index into `siteFrames`), and whether the filter keeps it.
    private(set) var groupSite: [Int] = []
    private(set) var groupKept: [Bool] = []
    private var siteFrames: [HeapSymbols.Frame] = []

    /// Analyses `capture` with names from `symbols`, keeping the allocations `filter` keeps.
    public init(_ capture: HeapCapture, symbols: HeapSymbols, filter: Filter = .init()) {
        self.capture = capture
        self.symbols = symbols
        self.filter = filter
        summary = capture.summary
        notes = symbols.notes
        var siteOfLeaf: [UInt32: Int] = [:]
        var siteIndex: [HeapSymbols.Frame: Int] = [:]
        var keptOfLeaf: [UInt32: Bool] = [:]
        for leaf in capture.groupLeaves {
            if siteOfLeaf[leaf] == nil {
                let frames = capture.stack(node: leaf).flatMap { symbols.frames(at: $0) }
                let frame = Self.siteFrame(frames)
                if let index = siteIndex[frame] {
                    siteOfLeaf[leaf] = index
                } else {
                    siteIndex[frame] = siteFrames.count
                    siteOfLeaf[leaf] = siteFrames.count
                    siteFrames.append(frame)
                }
                keptOfLeaf[leaf] = filter.isEmpty || frames.contains { frame in
                    (filter.function.map { frame.function.contains($0) } ?? true)
                        && (filter.module.map { frame.module.contains($0) } ?? true)
                }
            }
            groupSite.append(siteOfLeaf[leaf] ?? 0)
            groupKept.append(keptOfLeaf[leaf] ?? true)
        }
    }

    /// The frame a stack's allocation is attributed to: the innermost one of the program's own code, or else the
    /// innermost outside the allocator.
    static func siteFrame(_ frames: [HeapSymbols.Frame]) -> HeapSymbols.Frame {
        // The program's own frames; of those, the innermost with a source line (a standard-library function
        // specialized into the program has none: the line that called it says more).
        let own = frames.lazy.filter { !$0.isSystem && !isPlumbing($0.function) }
        if let located = own.first(where: { $0.file != nil && $0.line != nil }) { return located }
        if let own = own.first { return own }
        if let outside = frames.first(where: { !isAllocator($0.function) && !isPlumbing($0.function) }) { return outside }
        return frames.first
            ?? .init(function: "(no stack)", file: nil, line: nil, module: "?", isSystem: true, isInlined: false)
    }

    /// True for the allocator's functions and the runtime's allocation entry points, which begin every stack
    /// and say nothing about who allocated.
    public static func isPlumbingFrame(_ frame: HeapSymbols.Frame) -> Bool {
        isPlumbing(frame.function)
    }

    /// The C library's allocation functions and the Swift runtime's entry points: where every stack begins.
    static func isAllocator(_ function: String) -> Bool {
        ["malloc", "calloc", "realloc", "free", "posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc",
         "reallocarray", "swift_slowAlloc", "swift_allocObject", "swift_allocBox", "swift_allocEmptyBox",
         "operator new(unsigned long)", "operator new[](unsigned long)"].contains(function)
            || function.hasPrefix("_int_malloc") || function.hasPrefix("__libc_")
    }

    /// Compiler-made helpers the program's code calls to allocate (`__allocating_init` is the class's own
    /// allocation entry, named after the class: the caller says more).
    static func isPlumbing(_ function: String) -> Bool {
        function.contains("__allocating_init") || function.hasPrefix("swift_") || isAllocator(function)
            || function.hasPrefix("outlined ") || function.hasPrefix("thunk for ")
    }

    /// The sites of `view`, largest first (by bytes; by count for ``View/calls`` and ``View/temporary``).
    public func sites(_ view: View) -> [Site] {
        let (bytes, counts) = groupTotals(view)
        return sites(view, bytes: bytes, counts: counts)
    }

    /// Per group, the view's bytes or allocations (allocations for ``View/calls`` and ``View/temporary``), the filter
    /// applied.
    func groupValues(_ view: View) -> [Int] {
        let (bytes, counts) = groupTotals(view)
        let byCount = view.isCounted
        return (0..<bytes.count).map { groupKept[$0] ? (byCount ? counts[$0] : bytes[$0]) : 0 }
    }

    /// Per group, the bytes and allocations in `view` (the filter not applied).
    func groupTotals(_ view: View) -> (bytes: [Int], counts: [Int]) {
        if let counters = capture.counters {
            switch view {
            case .peak: return (counters.peakBytes, counters.peak)
            case .leaks:
                // As for events: without a scan every block not freed; after a scan that failed, none.
                if capture.summary.leakScanFailure != nil {
                    let none = [Int](repeating: 0, count: counters.live.count)
                    return (none, none)
                }
                return capture.summary.reachabilityScanned
                    ? (counters.leakedBytes, counters.leaked) : (counters.liveBytes, counters.live)
            case .notFreed: return (counters.liveBytes, counters.live)
            case .allocated, .calls: return (counters.bytes, counters.allocations)
            case .temporary: return (counters.temporaryBytes, counters.temporaries)
            }
        }
        let groupCount = capture.groupLeaves.count
        var bytes = [Int](repeating: 0, count: groupCount)
        var counts = [Int](repeating: 0, count: groupCount)
        capture.sizes.withUnsafeBufferPointer { sizes in
            capture.groups.withUnsafeBufferPointer { groups in
                capture.freedAfter.withUnsafeBufferPointer { freedAfter in
                    capture.temporary.withUnsafeBufferPointer { temporary in
                        let peak = capture.peakAllocation
                        let scanned = capture.summary.reachabilityScanned
                        for index in 0..<sizes.count {
                            let included: Bool
                            switch view {
                            case .peak: included = index <= peak && Int(freedAfter[index]) > peak
                            case .leaks:
                                // A scan that failed knows of no leak: the blocks are under not-freed, none listed here.
                                included = freedAfter[index] == .max && (!scanned || capture.isUnreachable(index))
                                    && capture.summary.leakScanFailure == nil
                            case .notFreed: included = freedAfter[index] == .max
                            case .allocated, .calls: included = true
                            case .temporary: included = temporary[index]
                            }
                            if included {
                                let group = Int(groups[index])
                                bytes[group] += sizes[index]
                                counts[group] += 1
                            }
                        }
                    }
                }
            }
        }
        return (bytes, counts)
    }

    private func sites(_ view: View, bytes: [Int], counts: [Int]) -> [Site] {
        let groupCount = capture.groupLeaves.count
        struct Key: Hashable {
            var site: Int
            var type: UInt32
        }
        var sites: [Key: (bytes: Int, count: Int, heaviest: Int, heaviestBytes: Int)] = [:]
        for group in 0..<groupCount where counts[group] > 0 && groupKept[group] {
            let key = Key(site: groupSite[group], type: capture.groupTypes[group])
            var entry = sites[key] ?? (0, 0, group, -1)
            entry.bytes += bytes[group]
            entry.count += counts[group]
            if bytes[group] > entry.heaviestBytes || (bytes[group] == entry.heaviestBytes && counts[group] > counts[entry.heaviest]) {
                entry.heaviest = group
                entry.heaviestBytes = bytes[group]
            }
            sites[key] = entry
        }
        let byCount = view.isCounted
        return sites.map { key, entry in
            Site(
                frame: siteFrames[key.site], typeName: key.type == 0 ? nil : symbols.typeName(Int(key.type)),
                bytes: entry.bytes, allocations: entry.count,
                stack: capture.stack(node: capture.groupLeaves[entry.heaviest]).flatMap { symbols.frames(at: $0) })
        }.sorted {
            let first = byCount ? ($0.allocations, $0.bytes) : ($0.bytes, $0.allocations)
            let second = byCount ? ($1.allocations, $1.bytes) : ($1.bytes, $1.allocations)
            if first != second { return first > second }
            return $0.frame.location < $1.frame.location
        }
    }

    /// Totals of a view (after the filter): bytes and allocations.
    public func total(_ view: View) -> (bytes: Int, allocations: Int) {
        sites(view).reduce((0, 0)) { ($0.0 + $1.bytes, $0.1 + $1.allocations) }
    }

    /// Allocations by size, in power-of-two buckets (0, 1, 2–3, 4–7, …), empty buckets left out. An aggregate
    /// capture keeps the program's histogram only: the filter does not apply to it.
    public var sizeHistogram: [SizeBucket] {
        var counts = [Int](repeating: 0, count: 65), bytes = [Int](repeating: 0, count: 65)
        for (bucket, entry) in (capture.counters?.histogram ?? []).enumerated() where bucket < 65 {
            counts[bucket] = entry.count
            bytes[bucket] = entry.bytes
        }
        for index in 0..<capture.sizes.count where groupKept[Int(capture.groups[index])] {
            let size = capture.sizes[index]
            let bucket = size == 0 ? 0 : Int.bitWidth - size.leadingZeroBitCount
            counts[bucket] += 1
            bytes[bucket] += size
        }
        return (0..<65).compactMap { bucket in
            guard counts[bucket] > 0 else { return nil }
            let sizes = bucket == 0 ? 0...0 : (1 << (bucket - 1))...(bucket >= 63 ? Int.max : (1 << bucket) - 1)
            return SizeBucket(sizes: sizes, allocations: counts[bucket], bytes: bytes[bucket])
        }
    }
}
