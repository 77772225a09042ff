import ArgumentParser
import FoundationEssentials
import MemoryPlot
import MemoryProfiler
import MemoryReports
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
        let report = ExplainReport(process: process, name: name, breakdown: breakdown, top: top, cgroup: cgroup)
        if json {
            try JSONOutput.print(report)
        } else {
            print(report.text(), terminator: "")
        }
    }

    /// `/proc/PID/comm`, or "" when it cannot be read.
    static func commandName(of process: ProcessID) -> String {
        guard let bytes = try? ProcessTable.readSmallFile("/proc/\(process.rawValue)/comm") else { return "" }
        return String(decoding: bytes.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    }
}
