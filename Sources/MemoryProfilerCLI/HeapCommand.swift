import ArgumentParser
import FoundationEssentials
import MemoryProfiler
import MemoryProfilerSystem

/// `mprof heap`: who allocated the memory, from a capture written by `mprof run --heap`.
struct HeapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heap",
        abstract: "Print who allocated the memory, from a heap capture (mprof run --heap).",
        discussion: """
            Sections: a summary; PEAK, what was allocated when the heap was at its largest, by call site; \
            LEAKS, blocks never freed that nothing in the process pointed to at exit (the hook scans the \
            process's memory for references when it exits normally, as LeakSanitizer does); NOT FREED \
            (--view not-freed), every block still allocated at exit, reachable or not; TEMPORARY, allocations \
            freed by their thread before \
            it allocated anything else (heaptrack's definition, per thread); CALLS, the sites that allocate most \
            often; SIZES, a histogram. A site is the innermost frame of the program's own code, with the Swift \
            class allocated there. Names come from llvm-symbolizer and swift-demangle (found beside swift), so the \
            program's files must still be where they were. The capture is a .heap file, or the .dat of the same \
            run; without one, the newest mprofile_*.heap here.
            """
    )

    @Option(help: "Sites per section.")
    var top = 10

    @Option(
        name: .customLong("view"),
        help: "Sections to print: summary, peak, leaks, not-freed, temporary, calls, allocated, sizes (repeatable; default all but not-freed and allocated).")
    var views: [String] = []

    @Option(help: "Keep only allocations with a frame whose function name contains this text.")
    var function: String?

    @Option(help: "Keep only allocations with a frame in a module whose file name contains this text.")
    var module: String?

    @Option(help: "Frames of each site's heaviest stack to print below it (0 for none).")
    var stackDepth = 4

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Argument(help: "The capture: a .heap file, or the .dat file of the same run.")
    var capture: String?

    static let allSections = ["summary", "peak", "leaks", "not-freed", "temporary", "calls", "allocated", "sizes"]
    static let defaultSections = ["summary", "peak", "leaks", "temporary", "calls", "sizes"]

    func validate() throws {
        guard top >= 1, top <= 1_000_000 else { throw ValidationError("--top must be between 1 and 1000000") }
        guard stackDepth >= 0, stackDepth <= 1000 else { throw ValidationError("--stack-depth must be between 0 and 1000") }
        for view in views where !Self.allSections.contains(view) {
            throw ValidationError("unknown --view \(TerminalText.quoted(view)): use \(Self.allSections.joined(separator: ", "))")
        }
    }

    func run() throws {
        let path = try resolvedCapture()
        let capture: HeapCapture
        do {
            capture = try HeapCapture(path: path)
        } catch {
            throw CLIError(error.message)
        }
        let symbols = HeapSymbolizer().symbolize(capture)
        let profile = HeapProfile(capture, symbols: symbols, filter: .init(function: function, module: module))
        let sections = views.isEmpty ? Self.defaultSections : views
        if json {
            let report = HeapReport(path: path, capture: capture, profile: profile, sections: sections, top: top, stackDepth: stackDepth)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(HeapText(path: path, capture: capture, profile: profile, top: top, stackDepth: stackDepth).render(sections), terminator: "")
        }
    }

    /// The capture named, the `.heap` of a `.dat` named, or the newest `mprofile_*.heap` here.
    private func resolvedCapture() throws -> String {
        guard let capture else {
            let newest = try ProfileFiles.newest()
            let heap = (newest.hasSuffix(".dat") ? String(newest.dropLast(4)) : newest) + ".heap"
            guard (try? FileStatus(path: heap)) != nil else {
                throw CLIError("no heap capture beside the newest profile \(TerminalText.escaped(newest)): record one with mprof run --heap PROGRAM")
            }
            return heap
        }
        if capture.hasSuffix(".dat") {
            let heap = String(capture.dropLast(4)) + ".heap"
            guard (try? FileStatus(path: heap)) != nil else {
                throw CLIError("\(TerminalText.escaped(capture)) has no heap capture beside it (\(TerminalText.escaped(heap))): it was recorded without --heap")
            }
            return heap
        }
        return capture
    }
}
