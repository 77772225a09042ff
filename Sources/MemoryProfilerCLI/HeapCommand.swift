import ArgumentParser
import FoundationEssentials
import MemoryPlot
import MemoryProfiler
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
    var views: [String] = []

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
    var at: String = "peak"

    @Option(help: "Also write collapsed stacks (frame;frame;frame value) of the first section given to this file.")
    var collapsed: String?

    @Option(help: "Also draw a flame graph of the first section given (default peak): .svg, or .html to click, search and hover.")
    var flame: String?

    @Option(help: "The flame graph's direction: flame (callers at the bottom) or icicle (callers at the top).")
    var orientation: String = "flame"

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
        guard HeapProfile.Moment(rawValue: at) != nil else { throw ValidationError("--at is peak or exit, not \(TerminalText.quoted(at))") }
        guard HeapFlameGraph.Orientation(rawValue: orientation) != nil else {
            throw ValidationError("--orientation is flame or icicle, not \(TerminalText.quoted(orientation))")
        }
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
        let sections = views.isEmpty ? Self.defaultSections : views
        if let pprof {
            try PictureFile.checkNotAnInput(pprof, inputs: [path])
            let bytes = profile.pprof(inUseAt: HeapProfile.Moment(rawValue: at) ?? .peak)
            try bytes.withUnsafeBytes { try PictureFile.write($0, to: pprof) }
        }
        if let flame {
            try PictureFile.checkNotAnInput(flame, inputs: [path])
            let view = sections.compactMap(HeapProfile.View.init(rawValue:)).first ?? .peak
            let name = capture.executable.split(separator: "/").last.map(String.init) ?? capture.executable
            let graph = HeapFlameGraph(
                profile, view: view, orientation: HeapFlameGraph.Orientation(rawValue: orientation) ?? .flame,
                title: "\(name): \(view.rawValue)")
            try PictureFile.write(flame.lowercased().hasSuffix(".html") ? graph.html() : graph.svg(), to: flame)
        }
        if let collapsed {
            try PictureFile.checkNotAnInput(collapsed, inputs: [path])
            let view = sections.compactMap(HeapProfile.View.init(rawValue:)).first ?? .peak
            try PictureFile.write(profile.collapsedStacks(view), to: collapsed)
        }
        if json {
            var report = HeapReport(path: path, capture: capture, profile: profile, sections: sections, top: top, stackDepth: stackDepth)
            report.beingWritten = beingWritten
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(HeapText(path: path, capture: capture, profile: profile, top: top, stackDepth: stackDepth, beingWritten: beingWritten).render(sections), terminator: "")
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

/// `mprof heap diff BEFORE AFTER`: which sites grew, shrank, appeared or vanished.
struct HeapDiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two heap captures: which sites grew, shrank, appeared or vanished.",
        discussion: """
            Sites are matched by type, function and file (not line: lines move between builds). --fail-above exits \
            with status 1 when the view's total grew by more than a share (5%) or an amount (10MiB, 512KiB, 4096): \
            a check for CI.
            """
    )

    @Option(help: "The view compared: peak, leaks, not-freed, allocated, temporary or calls.")
    var view: String = "peak"

    @Option(help: "Fail (status 1) when the total grew by more than this: a share (5%) or an amount (10MiB).")
    var failAbove: String?

    @Option(help: "Changes to print.")
    var top = 20

    @Option(help: "Also draw a differential flame graph (.svg or .html): boxes as wide as after, red grew, blue shrank.")
    var flame: String?

    @Argument(help: "The capture before the change.")
    var before: String

    @Argument(help: "The capture after it.")
    var after: String

    func validate() throws {
        guard let view = HeapProfile.View(rawValue: view) else {
            throw ValidationError("unknown --view \(TerminalText.quoted(view)): use \(HeapProfile.View.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        _ = view
        guard top >= 1, top <= 1_000_000 else { throw ValidationError("--top must be between 1 and 1000000") }
        if let failAbove, Self.threshold(failAbove) == nil {
            throw ValidationError("--fail-above takes a share (5%) or an amount (10MiB, 512KiB, 4096), not \(TerminalText.quoted(failAbove))")
        }
    }

    enum Threshold {
        case share(Double)
        case bytes(Int)
    }

    static func threshold(_ text: String) -> Threshold? {
        if text.hasSuffix("%") {
            guard let value = Double(text.dropLast()), value.isFinite, value >= 0, value <= 1e6 else { return nil }
            return .share(value / 100)
        }
        let units: [(String, Double)] = [("GiB", 1_073_741_824), ("MiB", 1_048_576), ("KiB", 1024), ("B", 1), ("", 1)]
        for (unit, scale) in units where text.hasSuffix(unit) {
            guard let value = Double(text.dropLast(unit.count)), value.isFinite, value >= 0, value * scale <= 1e18 else {
                return nil
            }
            return .bytes(Int(value * scale))
        }
        return nil
    }

    func run() throws {
        let view = HeapProfile.View(rawValue: view) ?? .peak
        func profile(_ path: String) throws -> HeapProfile {
            let capture: HeapCapture
            do {
                capture = try HeapCapture(path: path)
            } catch {
                throw CLIError(error.message)
            }
            return HeapProfile(capture, symbols: HeapSymbolizer().symbolize(capture))
        }
        let beforeProfile = try profile(before), afterProfile = try profile(after)
        let (changes, totalBefore, totalAfter) = HeapProfile.compare(beforeProfile, afterProfile, view: view)
        if let flame {
            guard flame.lowercased().hasSuffix(".svg") || flame.lowercased().hasSuffix(".html") else {
                throw CLIError("--flame writes .svg or .html, not \(TerminalText.escaped(flame))")
            }
            try PictureFile.checkNotAnInput(flame, inputs: [before, after])
            let graph = HeapFlameGraph(
                before: beforeProfile, after: afterProfile, view: view, title: "\(view.rawValue): before → after")
            try PictureFile.write(flame.lowercased().hasSuffix(".html") ? graph.html() : graph.svg(), to: flame)
        }
        let byCount = view == .calls || view == .temporary
        func amount(_ value: Int) -> String { byCount ? count(value) : bytes(value) }
        func signed(_ value: Int) -> String { (value > 0 ? "+" : value < 0 ? "-" : "±") + amount(abs(value)) }
        let growth = totalAfter - totalBefore
        let share = totalBefore > 0 ? Double(growth) / Double(totalBefore) * 100 : (growth > 0 ? 100 : 0)
        var text = "\(view.rawValue.uppercased()): \(amount(totalBefore)) → \(amount(totalAfter)) "
            + "(\(signed(growth)), \(DecimalFormat.fixed(share, decimals: 1))%)\n"
        if changes.isEmpty {
            text += "  no site changed\n"
        } else {
            text += "  \(String(repeating: " ", count: 2))    change      before       after  site\n"
            for change in changes.prefix(top) {
                let mark = change.before == 0 ? "  (new)" : change.after == 0 ? "  (gone)" : ""
                text += "  \(pad(signed(change.change), 10))  \(pad(amount(change.before), 10))  \(pad(amount(change.after), 10))  "
                    + "\(TerminalText.escaped(change.site))\(mark)\n"
            }
            if changes.count > top { text += "  … and \(count(changes.count - top)) more (--top)\n" }
        }
        print(text, terminator: "")
        if let failAbove, let threshold = Self.threshold(failAbove) {
            let exceeded: Bool
            switch threshold {
            case .share(let limit): exceeded = totalBefore > 0 ? Double(growth) > limit * Double(totalBefore) : growth > 0
            case .bytes(let limit): exceeded = growth > limit
            }
            if exceeded {
                StandardError.write("mprof: \(view.rawValue) grew by \(signed(growth)) (\(DecimalFormat.fixed(share, decimals: 1))%), more than --fail-above \(TerminalText.escaped(failAbove))")
                throw ExitCode.failure
            }
        }
    }

    private func pad(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - text.count)) + text
    }
}
