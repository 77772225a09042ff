import ArgumentParser
import FoundationEssentials
import MemoryPlot
import MemoryProfiler
import MemoryProfilerSystem

/// `mprof explain PID`: where a process's resident memory is, in parts a person can act on.
struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Break a process's resident memory into parts: malloc heap, stacks, code, mapped files, …",
        discussion: """
            Reads /proc/PID/smaps and puts every mapping in one part: the malloc heap (brk heap and glibc's \
            arenas), other anonymous memory (large malloc blocks, other allocators' arenas, mmap by hand), thread \
            stacks (found by each thread's stack pointer), code and libraries, mapped data files, shared memory, \
            the kernel's pages. The parts add up to the resident set; PSS and swap are beside them. The largest \
            mappings follow, with their files. Reading another user's process needs root.
            """
    )

    @Argument(help: "The process to explain.")
    var pid: Int

    @Option(name: .customLong("top"), help: "How many of the largest mappings to list (0: none).")
    var top = 5

    @Flag(help: "Print the breakdown as JSON.")
    var json = false

    @Option(name: [.customShort("o"), .long], help: "Also draw the parts as one bar: FILE.svg, or FILE.png (rsvg-convert).")
    var output: String?

    func validate() throws {
        guard pid >= 1, pid <= Int(Int32.max) else { throw ValidationError("PID must be between 1 and \(Int32.max)") }
        guard top >= 0, top <= 100_000 else { throw ValidationError("--top must be between 0 and 100000") }
        if let output, !(output.lowercased().hasSuffix(".svg") || output.lowercased().hasSuffix(".png")) {
            throw ValidationError("-o must name a .svg or .png file")
        }
    }

    func run() throws {
        let process = ProcessID(Int32(pid))
        // The name first: a process that exits right after its breakdown is read still has one.
        let name = Self.commandName(of: process)
        let breakdown: MemoryBreakdown
        do {
            breakdown = try MemoryBreakdown.of(process)
        } catch {
            throw CLIError(error.message)
        }
        if let output {
            let chart = BreakdownChart(title: "Memory of PID \(process.rawValue)" + (name.isEmpty ? "" : " (\(name))"), breakdown: breakdown)
            if output.lowercased().hasSuffix(".png") {
                try PictureFile.writePNG(svg: chart.svg(), to: output)
            } else {
                try PictureFile.write(chart.svg(), to: output)
            }
        }
        // The container's view: a clear note where there is no cgroup memory controller, not a failure.
        let cgroup: Result<CgroupMemory, MemoryError> = Result { () throws(MemoryError) in try CgroupMemory.of(process) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            var report = ExplainReport(process: process, name: name, breakdown: breakdown, top: top)
            switch cgroup {
            case .success(let memory): report.cgroup = ExplainReport.Cgroup(memory)
            case .failure(let error): report.cgroupUnavailable = error.message
            }
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(Self.text(breakdown, process: process, name: name, top: top) + Self.text(cgroup), terminator: "")
        }
    }

    /// `/proc/PID/comm`, or "" when it cannot be read.
    static func commandName(of process: ProcessID) -> String {
        guard let bytes = try? ProcessTable.readSmallFile("/proc/\(process.rawValue)/comm") else { return "" }
        return String(decoding: bytes.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    }

    static func text(_ breakdown: MemoryBreakdown, process: ProcessID, name: String, top: Int) -> String {
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
    static func partTitle(of mapping: MemoryBreakdown.Mapping) -> String {
        let written = mapping.writtenCopies
        guard written.bytes > 0 else { return mapping.category.title }
        if written.bytes >= mapping.resident.bytes { return MemoryBreakdown.Category.otherAnonymous.title + " (written copy)" }
        return "\(mapping.category.title), \(bytes(written)) written"
    }

    /// The cgroup's numbers, as a container runtime sees them.
    static func text(_ cgroup: Result<CgroupMemory, MemoryError>) -> String {
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

    static func bytes(_ size: MemorySize) -> String { MemoryProfilerCLI.bytes(size.bytes) }

    static func table(_ header: [String], _ rows: [[String]], left: Set<Int> = [0]) -> String {
        TextTable.render([header] + rows, left: left, indent: "  ") + "\n"
    }
}

/// `mprof explain --json`.
struct ExplainReport: Encodable {
    struct Part: Encodable {
        var part: String
        var residentBytes: Int
        var proportionalBytes: Int
        var swappedBytes: Int
        var mappings: Int
        var meaning: String
    }

    struct Mapping: Encodable {
        var start: String
        var end: String
        var permissions: String
        var path: String
        var part: String
        var residentBytes: Int
        /// Pages of a file mapped privately that the process wrote: other anonymous memory in the parts.
        var writtenCopyBytes: Int
    }

    /// `CgroupMemory` as JSON: bytes, nil where the kernel does not say.
    struct Cgroup: Encodable {
        var version: String
        var path: String
        var currentBytes: Int
        var limitBytes: Int?
        var headroomBytes: Int?
        var peakBytes: Int?
        var anonymousBytes: Int?
        var fileBytes: Int?
        var kernelBytes: Int?
        var socketBytes: Int?
        var outOfMemoryEvents: Int?
        var outOfMemoryKills: Int?

        init(_ memory: CgroupMemory) {
            version = memory.version.rawValue
            path = memory.path
            currentBytes = memory.current.bytes
            limitBytes = memory.limit?.bytes
            headroomBytes = memory.headroom?.bytes
            peakBytes = memory.peak?.bytes
            anonymousBytes = memory.anonymous?.bytes
            fileBytes = memory.file?.bytes
            kernelBytes = memory.kernel?.bytes
            socketBytes = memory.socketBuffers?.bytes
            outOfMemoryEvents = memory.outOfMemoryEvents
            outOfMemoryKills = memory.outOfMemoryKills
        }
    }

    var pid: Int32
    var command: String
    var cgroup: Cgroup?
    var cgroupUnavailable: String?
    var residentBytes: Int
    var proportionalBytes: Int
    var swappedBytes: Int
    /// Huge pages mapped (hugetlbfs, MAP_HUGETLB): in no part and no resident set.
    var hugePageBytes: Int
    var threads: Int
    var allocatorLibrary: String?
    var parts: [Part]
    var largestMappings: [Mapping]

    init(process: ProcessID, name: String, breakdown: MemoryBreakdown, top: Int) {
        pid = process.rawValue
        command = name
        residentBytes = breakdown.resident.bytes
        proportionalBytes = breakdown.proportional.bytes
        swappedBytes = breakdown.swapped.bytes
        hugePageBytes = breakdown.hugePages.bytes
        threads = breakdown.threads
        allocatorLibrary = breakdown.allocatorLibrary
        parts = breakdown.parts.map {
            Part(
                part: $0.category.rawValue, residentBytes: $0.resident.bytes, proportionalBytes: $0.proportional.bytes,
                swappedBytes: $0.swapped.bytes, mappings: $0.mappings, meaning: $0.category.meaning)
        }
        largestMappings = breakdown.mappings.filter { $0.resident.bytes > 0 }
            .sorted { $0.resident != $1.resident ? $0.resident > $1.resident : $0.start < $1.start }.prefix(top)
            .map {
                Mapping(
                    start: "0x" + String($0.start, radix: 16), end: "0x" + String($0.end, radix: 16),
                    permissions: $0.permissions, path: $0.path,
                    part: $0.writtenCopies.bytes >= $0.resident.bytes && $0.resident.bytes > 0
                        ? MemoryBreakdown.Category.otherAnonymous.rawValue : $0.category.rawValue,
                    residentBytes: $0.resident.bytes, writtenCopyBytes: $0.writtenCopies.bytes)
            }
    }
}
