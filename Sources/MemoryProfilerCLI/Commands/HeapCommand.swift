import ArgumentParser
import FoundationEssentials
import MemoryPlot
import MemoryProfiler
import MemoryReports
import MemoryProfilerSystem

/// `mprof heap`: who allocated the memory, from a capture written by `mprof run --heap`; `mprof heap diff` compares
/// two.
struct HeapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heap",
        abstract: "Print who allocated the memory, from a heap capture (mprof run --heap).",
        subcommands: [HeapReportCommand.self, HeapDiffCommand.self],
        defaultSubcommand: HeapReportCommand.self
    )
}
