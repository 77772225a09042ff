import ArgumentParser
import FoundationEssentials
import MemoryPlot
import MemoryProfiler
import MemoryReports
import MemoryProfilerSystem

/// `mprof heap [report] FILE`: the report, and exports to pprof and collapsed stacks.
struct HeapReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Print who allocated the memory (the default of mprof heap).",
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
    var views: [HeapReport.Section] = []

    @Option(help: "Keep only allocations with a frame whose function name contains this text.")
    var function: String?

    @Option(help: "Keep only allocations with a frame in a module whose file name contains this text.")
    var module: String?

    @Option(help: "Frames of each site's heaviest stack to print below it (0 for none).")
    var stackDepth = 4

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Also write the profile in pprof's format (gzipped profile.proto) to this file.")
    var pprof: String?

    @Option(help: "What the pprof file's inuse_space and inuse_objects describe: peak or exit.")
    var at: HeapProfile.Moment = .peak

    @Option(help: "Also write collapsed stacks (frame;frame;frame value) of the first section given to this file.")
    var collapsed: String?

    @Option(help: "Also draw a flame graph of the first section given (default peak): .svg, or .html to click, search and hover.")
    var flame: String?

    @Option(help: "The flame graph's direction: flame (callers at the bottom) or icicle (callers at the top).")
    var orientation: HeapFlameGraph.Orientation = .flame

    @Argument(help: "The capture: a .heap file, or the .dat file of the same run.")
    var capture: String?

    func validate() throws {
        guard top >= 1, top <= 1_000_000 else { throw ValidationError("--top must be between 1 and 1000000") }
        guard stackDepth >= 0, stackDepth <= 1000 else { throw ValidationError("--stack-depth must be between 0 and 1000") }
        if let flame, !flame.lowercased().hasSuffix(".svg") && !flame.lowercased().hasSuffix(".html") {
            throw ValidationError("--flame writes .svg or .html, not \(TerminalText.quoted(flame))")
        }
    }

    func run() throws {
        let path = try resolvedCapture()
        let capture: HeapCapture
        let beingWritten: Bool
        do {
            beingWritten = HeapCapture.isBeingWritten(at: path)
            capture = try HeapCapture(path: path)
        } catch {
            throw CLIError(error.message)
        }
        let symbols = HeapSymbolizer().symbolize(capture)
        let profile = HeapProfile(capture, symbols: symbols, filter: .init(function: function, module: module))
        let sections = views.isEmpty ? HeapReport.Section.standard : views
        // The first section that lists sites chooses what the flame graph and collapsed stacks show.
        let view = sections.lazy.compactMap(\.view).first ?? .peak
        if let pprof {
            try PictureFile.checkNotAnInput(pprof, inputs: [path])
            let bytes = profile.pprof(inUseAt: at)
            try bytes.withUnsafeBytes { try PictureFile.write($0, to: pprof) }
        }
        if let flame {
            try PictureFile.checkNotAnInput(flame, inputs: [path])
            let name = capture.executable.split(separator: "/").last.map(String.init) ?? capture.executable
            let graph = HeapFlameGraph(
                profile, view: view, orientation: orientation,
                title: "\(name): \(view.rawValue)")
            try PictureFile.write(flame.lowercased().hasSuffix(".html") ? graph.html() : graph.svg(), to: flame)
        }
        if let collapsed {
            try PictureFile.checkNotAnInput(collapsed, inputs: [path])
            try PictureFile.write(profile.collapsedStacks(view), to: collapsed)
        }
        let report = HeapReport(
            profile, sections: sections, top: top, stackDepth: stackDepth, capture: path, isBeingWritten: beingWritten)
        if json {
            try JSONOutput.print(report)
        } else {
            print(report.text(), terminator: "")
        }
    }

    /// The capture named, the `.heap` of a `.dat` named, or the newest `mprofile_*.heap` here.
    private func resolvedCapture() throws -> String {
        guard let capture else {
            let newest = try ProfileFiles.newest()
            let heap = HeapCapture.path(besideRecording: newest)
            guard (try? FileStatus(path: heap)) != nil else {
                throw CLIError("no heap capture beside the newest profile \(TerminalText.escaped(newest)): record one with mprof run --heap PROGRAM")
            }
            return heap
        }
        if capture.hasSuffix(".dat") {
            let heap = HeapCapture.path(besideRecording: capture)
            guard (try? FileStatus(path: heap)) != nil else {
                throw CLIError("\(TerminalText.escaped(capture)) has no heap capture beside it (\(TerminalText.escaped(heap))): it was recorded without --heap")
            }
            return heap
        }
        return capture
    }
}
