import ArgumentParser
import FoundationEssentials
import MemoryPlot
import MemoryProfiler
import MemoryReports
import MemoryProfilerSystem

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
    var view: HeapProfile.View = .peak

    @Option(help: "Fail (status 1) when the total grew by more than this: a share (5%) or an amount (10MiB).")
    var failAbove: GrowthLimit?

    @Option(help: "Changes to print.")
    var top = 20

    @Option(help: "Also draw a differential flame graph (.svg or .html): boxes as wide as after, red grew, blue shrank.")
    var flame: String?

    @Argument(help: "The capture before the change.")
    var before: String

    @Argument(help: "The capture after it.")
    var after: String

    func validate() throws {
        guard top >= 1, top <= 1_000_000 else { throw ValidationError("--top must be between 1 and 1000000") }
        if let flame, !flame.lowercased().hasSuffix(".svg") && !flame.lowercased().hasSuffix(".html") {
            throw ValidationError("--flame writes .svg or .html, not \(TerminalText.quoted(flame))")
        }
    }

    func run() throws {
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
        if let flame {
            try PictureFile.checkNotAnInput(flame, inputs: [before, after])
            let graph = HeapFlameGraph(
                before: beforeProfile, after: afterProfile, view: view, title: "\(view.rawValue): before → after")
            try PictureFile.write(flame.lowercased().hasSuffix(".html") ? graph.html() : graph.svg(), to: flame)
        }
        let diff = HeapDiffReport(before: beforeProfile, after: afterProfile, view: view, top: top)
        print(diff.text(), terminator: "")
        if let failAbove, diff.exceeds(failAbove.limit) {
            StandardError.write(
                "mprof: \(view.rawValue) grew by \(diff.growthText), more than --fail-above \(TerminalText.escaped(failAbove.text))")
            throw ExitCode.failure
        }
    }
}
