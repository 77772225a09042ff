import MemoryProfiler
internal import MemoryProfilerSystem

/// Where a process's resident memory is, as `mprof explain` reports it: as data (`Encodable`: `mprof explain --json`
/// is this value encoded) and as text (``text()``).
public struct ExplainReport: Sendable, Encodable {
    public struct Part: Sendable, Encodable {
        public var category: String
        public var resident: Int
        public var proportional: Int
        public var swapped: Int
        public var mappings: Int
        public var meaning: String
    }

    public struct Mapping: Sendable, Encodable {
        public var start: String
        public var end: String
        public var permissions: String
        public var path: String
        /// The part it counts in: `other-anonymous` for a private file mapping the process wrote entirely.
        public var category: String
        public var resident: Int
        /// Pages of a file mapped privately that the process wrote: other anonymous memory in the parts.
        public var writtenCopies: Int
    }

    /// `CgroupMemory` as JSON: bytes, nil where the kernel does not say.
    public struct Cgroup: Sendable, Encodable {
        public var version: String
        public var path: String
        public var current: Int
        public var limit: Int?
        public var headroom: Int?
        public var peak: Int?
        public var anonymous: Int?
        public var file: Int?
        public var kernel: Int?
        public var socketBuffers: Int?
        public var outOfMemoryEvents: Int?
        public var outOfMemoryKills: Int?

        public init(_ memory: CgroupMemory) {
            version = memory.version.rawValue
            path = memory.path
            current = memory.current.bytes
            limit = memory.limit?.bytes
            headroom = memory.headroom?.bytes
            peak = memory.peak?.bytes
            anonymous = memory.anonymous?.bytes
            file = memory.file?.bytes
            kernel = memory.kernel?.bytes
            socketBuffers = memory.socketBuffers?.bytes
            outOfMemoryEvents = memory.outOfMemoryEvents
            outOfMemoryKills = memory.outOfMemoryKills
        }
    }

    public var processID: Int32
    public var command: String
    public var cgroup: Cgroup?
    public var cgroupUnavailable: String?
    public var resident: Int
    public var proportional: Int
    public var swapped: Int
    /// Huge pages mapped (hugetlbfs, MAP_HUGETLB): in no part and no resident set.
    public var hugePages: Int
    public var threads: Int
    public var allocatorLibrary: String?
    public var parts: [Part]
    public var largestMappings: [Mapping]

    /// The breakdown's text, kept for ``text()``.
    private let breakdownText: String
    private let cgroupText: String?

    private enum CodingKeys: String, CodingKey {
        case processID, command, cgroup, cgroupUnavailable, resident, proportional, swapped, hugePages, threads
        case allocatorLibrary, parts, largestMappings
    }

    /// The report of `breakdown`, read from `process` (named `name`), with its `top` largest mappings and, when
    /// given, its cgroup's numbers or why there are none.
    public init(
        process: ProcessID, name: String, breakdown: MemoryBreakdown, top: Int,
        cgroup: Result<CgroupMemory, MemoryError>? = nil
    ) {
        breakdownText = Self.text(breakdown, process: process, name: name, top: top)
        cgroupText = cgroup.map(Self.text)
        switch cgroup {
        case .success(let memory): self.cgroup = Cgroup(memory)
        case .failure(let error): cgroupUnavailable = error.message
        case nil: break
        }
        processID = process.rawValue
        command = name
        resident = breakdown.resident.bytes
        proportional = breakdown.proportional.bytes
        swapped = breakdown.swapped.bytes
        hugePages = breakdown.hugePages.bytes
        threads = breakdown.threads
        allocatorLibrary = breakdown.allocatorLibrary
        parts = breakdown.parts.map {
            Part(
                category: $0.category.rawValue, resident: $0.resident.bytes, proportional: $0.proportional.bytes,
                swapped: $0.swapped.bytes, mappings: $0.mappings, meaning: $0.category.meaning)
        }
        largestMappings = breakdown.mappings.filter { $0.resident.bytes > 0 }
            .sorted { $0.resident != $1.resident ? $0.resident > $1.resident : $0.start < $1.start }.prefix(top)
            .map {
                Mapping(
                    start: "0x" + String($0.start, radix: 16), end: "0x" + String($0.end, radix: 16),
                    permissions: $0.permissions, path: $0.path,
                    category: $0.writtenCopies.bytes >= $0.resident.bytes && $0.resident.bytes > 0
                        ? MemoryBreakdown.Category.otherAnonymous.rawValue : $0.category.rawValue,
                    resident: $0.resident.bytes, writtenCopies: $0.writtenCopies.bytes)
            }
    }

    /// The report as `mprof explain` prints it.
    public func text() -> String { breakdownText + (cgroupText ?? "") }

    /// The breakdown as `mprof explain` prints it: the totals, a table of the parts, notes, and the `top` largest
    /// mappings. Text from the process (its name, paths) is escaped for the terminal.
    public static func text(_ breakdown: MemoryBreakdown, process: ProcessID, name: String, top: Int) -> String {
        let total = breakdown.resident.bytes
        var text = "Memory of PID \(process.rawValue)\(name.isEmpty ? "" : " (\(TerminalText.escaped(name)))"): "
            + "\(bytes(breakdown.resident)) resident, \(bytes(breakdown.proportional)) proportional (PSS), "
            + "\(bytes(breakdown.swapped)) swapped out; \(breakdown.threads) thread\(breakdown.threads == 1 ? "" : "s")\n\n"
        let columns = ["part", "resident", "share", "PSS", "swapped", "what it is"]
        var rows: [[String]] = []
        for part in breakdown.parts {
            let share = total > 0 ? Double(part.resident.bytes) / Double(total) * 100 : 0
            rows.append([
                part.category.title, bytes(part.resident), DecimalFormat.fixed(share, decimals: 1) + "%",
                bytes(part.proportional), bytes(part.swapped), part.category.meaning,
            ])
        }
        text += table(columns, rows)
        if breakdown.hugePages.bytes > 0 {
            text += "\nHuge pages: \(bytes(breakdown.hugePages)) more (hugetlbfs, MAP_HUGETLB): reserved by the kernel "
                + "apart and in no resident set, so in none of the parts above.\n"
        }
        if let library = breakdown.allocatorLibrary {
            text += "\n\(TerminalText.escaped(library)) is loaded: if it serves malloc, its memory is in the malloc heap (brk) "
                + "or in other anonymous, as it maps it.\n"
        }
        if breakdown.threads > 0 && breakdown.stacksFoundByStackPointer < breakdown.threads {
            text += "\n(\(breakdown.stacksFoundByStackPointer) of \(breakdown.threads) stacks found by their thread's stack pointer; "
                + "the others by their guard page)\n"
        }
        if top > 0 {
            let largest = breakdown.mappings.filter { $0.resident.bytes > 0 }
                .sorted { $0.resident != $1.resident ? $0.resident > $1.resident : $0.start < $1.start }.prefix(top)
            text += "\nLargest mappings:\n"
            text += table(
                ["resident", "part", "address", "mapping"],
                largest.map { mapping in
                    [bytes(mapping.resident), Self.partTitle(of: mapping), "0x" + String(mapping.start, radix: 16),
                     mapping.path.isEmpty ? "(anonymous, \(mapping.permissions))" : TerminalText.escaped(mapping.path)]
                }, left: [1])
        }
        return text
    }

    /// The part a mapping's pages count in, as the totals count them: a file mapped privately and written is the
    /// process's own copies (other anonymous) for what was written.
    public static func partTitle(of mapping: MemoryBreakdown.Mapping) -> String {
        let written = mapping.writtenCopies
        guard written.bytes > 0 else { return mapping.category.title }
        if written.bytes >= mapping.resident.bytes { return MemoryBreakdown.Category.otherAnonymous.title + " (written copy)" }
        return "\(mapping.category.title), \(bytes(written)) written"
    }

    /// The cgroup's numbers, as a container runtime sees them; where there is no cgroup memory controller, why.
    public static func text(_ cgroup: Result<CgroupMemory, MemoryError>) -> String {
        switch cgroup {
        case .failure(let error):
            return "\nContainer: \(error.message)\n"
        case .success(let memory):
            var text = "\nContainer (cgroup \(memory.version.rawValue) \(TerminalText.escaped(memory.path))): \(bytes(memory.current)) charged"
            if let limit = memory.limit, let headroom = memory.headroom {
                text += " of a \(bytes(limit)) limit, \(bytes(headroom)) of headroom"
            } else {
                text += ", no limit"
            }
            if let peak = memory.peak { text += "; peak \(bytes(peak))" }
            text += "\n"
            let parts = [("anonymous", memory.anonymous), ("page cache", memory.file), ("kernel", memory.kernel), ("socket buffers", memory.socketBuffers)]
                .compactMap { name, value in value.map { "\(name) \(bytes($0))" } }
            if !parts.isEmpty { text += "  \(parts.joined(separator: ", ")) (all the cgroup's processes together)\n" }
            if let kills = memory.outOfMemoryKills {
                text += "  OOM kills \(kills)" + (memory.outOfMemoryEvents.map { ", times at the limit \($0)" } ?? "") + "\n"
            }
            return text
        }
    }

    private static func bytes(_ size: MemorySize) -> String { Quantity.bytes(size.bytes) }

    private static func table(_ header: [String], _ rows: [[String]], left: Set<Int> = [0]) -> String {
        TextTable.render([header] + rows, left: left, indent: "  ") + "\n"
    }
}
