import Foundation
import FoundationXML
import MemoryProfilerTestSupport
import Testing

let rsvgConvertInstalled = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
    FileManager.default.isExecutableFile(atPath: "\($0)/rsvg-convert")
}

/// `mprof plot` as a user runs it: files next to the profile, every output format, and its errors.
@Suite struct PlotCommandTests {
    static let samples = ProfileFilesCommandTests.samples

    @Test func plotsTheNewestProfileToAnSVGBesideIt() throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.copyItem(
            atPath: "\(Self.samples)/step_alloc.dat", toPath: "\(directory.path)/mprofile_20261125120000.dat")
        let result = try directory.mprof(["plot"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("mprof: plot written to mprofile_20261125120000.svg"))
        let svg = try XMLDocument(
            contentsOf: URL(fileURLWithPath: "\(directory.path)/mprofile_20261125120000.svg"), options: [])
        #expect(try svg.nodes(forXPath: ".//*[@class='curve']").count == 1)
        #expect(try directory.files() == ["mprofile_20261125120000.dat", "mprofile_20261125120000.svg"])
    }

    @Test func writesHTMLAndPNGOrSaysWhichPackageIsMissing() throws {
        let directory = try TemporaryDirectory()
        let html = try directory.mprof(["plot", "-o", "plot.html", "--flame", "\(Self.samples)/step_alloc.dat"])
        #expect(html.status == 0, "\(html.standardError)")
        #expect(try String(contentsOfFile: "\(directory.path)/plot.html", encoding: .utf8).hasPrefix("<!DOCTYPE html>"))

        // Without rsvg-convert on PATH: a clear message, and no file at all.
        let missing = try runCommand(
            "sh", ["-c", "cd '\(directory.path)' && PATH=/nonexistent exec '\(BuiltProducts.path("mprof"))' plot -o plot.png '\(Self.samples)/step_alloc.dat'"])
        #expect(missing.status == 1)
        #expect(missing.standardError.contains("PNG needs rsvg-convert, which is not installed (Debian and Ubuntu: apt-get install librsvg2-bin)"))
        #expect(try directory.files() == ["plot.html"])
    }

    /// Reported as skipped where Debian's librsvg2-bin is not installed; `.ci/run` installs it.
    @Test(.enabled(if: rsvgConvertInstalled, "rsvg-convert (librsvg2-bin) is not installed"))
    func writesAPNGThroughRsvgConvert() throws {
        let directory = try TemporaryDirectory()
        let png = try directory.mprof(["plot", "-o", "plot.png", "\(Self.samples)/step_alloc.dat"])
        #expect(png.status == 0, "\(png.standardError)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(directory.path)/plot.png"))
        #expect(bytes.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        #expect(bytes.count > 10_000)
        #expect(try directory.files() == ["plot.png"])
    }

    @Test func drawsInTheTerminalAtItsWidthWithoutColourWhenNotATerminal() throws {
        let result = try runProduct(
            "mprof", ["plot", "--terminal", "\(Self.samples)/step_alloc.dat"], environment: ["COLUMNS": "60"])
        #expect(result.status == 0)
        #expect(!result.standardOutput.contains("\u{1B}["))
        #expect(result.standardOutput.contains("peak 250.4 MiB"))
        for line in result.standardOutput.split(separator: "\n") { #expect(line.count <= 60) }
    }

    /// `script` runs mprof on a pseudo-terminal: colour there, none with a non-empty NO_COLOR (no-color.org: an
    /// empty one does not count) nor on a dumb terminal.
    @Test(arguments: [
        (["TERM": "xterm"], true), (["TERM": "xterm", "NO_COLOR": ""], true), (["TERM": "xterm", "NO_COLOR": "1"], false),
        (["TERM": "dumb"], false),
    ])
    func colourOnlyOnATerminalAndNeverWithNoColor(environment: [String: String], coloured: Bool) throws {
        let command = "'\(BuiltProducts.path("mprof"))' plot --terminal '\(Self.samples)/step_alloc.dat'"
        // The test runner may itself run with NO_COLOR: take it out, then set what the case sets.
        let settings = environment.map { "\($0.key)=\($0.value)" }
        let result = try runCommand(
            "env", ["-u", "NO_COLOR"] + settings + ["script", "-qec", command, "/dev/null"], environment: ["COLUMNS": "80"])
        #expect(result.status == 0)
        #expect(result.standardOutput.contains("\u{1B}[") == coloured, "\(environment)")
        #expect(result.standardOutput.contains("peak 250.4 MiB"))
    }

    @Test(arguments: [
        (["plot", "-w", "5", "FILE"], "Error: The value '5' is invalid for '-w <window>': --window must be START,END in seconds with START < END, not 5"),
        (["plot", "-o", "plot.gif", "FILE"], "Error: cannot tell the format of plot.gif: name it .svg, .html or .png"),
        (["plot", "EMPTY"], "Error: nothing to plot: EMPTY has no memory samples"),
        (["plot", "--size", "10x10", "FILE"], "Error: The value '10x10' is invalid for '--size <size>': --size must be WIDTHxHEIGHT in pixels, at least 200x150"),
        (["plot", "-o", "missing/plot.svg", "FILE"], "Error: cannot write missing/plot.svg: No such file or directory"),
    ])
    func badInputGetsAClearError(arguments: [String], message: String) throws {
        let directory = try TemporaryDirectory()
        let empty = "\(directory.path)/empty.dat"
        try "CMDLINE true\n".write(toFile: empty, atomically: true, encoding: .utf8)
        let resolved = arguments.map { $0 == "FILE" ? "\(Self.samples)/step_alloc.dat" : $0 == "EMPTY" ? empty : $0 }
        let result = try directory.mprof(resolved)
        #expect(result.status != 0)
        #expect(result.standardError.contains(message.replacingOccurrences(of: "EMPTY", with: empty)), "\(result.standardError)")
        #expect(try directory.files() == ["empty.dat"])
    }
}

@Suite struct PlotChartsCommandTests {
    @Test func plotsTheMemoryScalingExamplesOutputAndTheReadersBenchmark() throws {
        let directory = try TemporaryDirectory()
        let scaling = try runProduct("memory-scaling", ["--json", "--sizes", "50,100,150"])
        #expect(scaling.status == 0)
        try scaling.standardOutput.write(toFile: "\(directory.path)/scaling.jsonl", atomically: true, encoding: .utf8)
        let plotted = try directory.mprof(["plot", "scaling.jsonl"])
        #expect(plotted.status == 0, "\(plotted.standardError)")
        let chart = try XMLDocument(contentsOf: URL(fileURLWithPath: "\(directory.path)/scaling.svg"), options: [])
        #expect(try chart.nodes(forXPath: ".//*[@class='marker']").count == 6)

        let readers = try runProduct("mprof", ["readers", "--bench", "--count", "3", "--repeats", "1", "--reader", "rss", "--reader", "heap", "--format", "json"])
        try readers.standardOutput.write(toFile: "\(directory.path)/readers.json", atomically: true, encoding: .utf8)
        #expect(try directory.mprof(["plot", "readers.json", "-o", "costs.svg"]).status == 0)
        let bars = try XMLDocument(contentsOf: URL(fileURLWithPath: "\(directory.path)/costs.svg"), options: [])
        #expect(try bars.nodes(forXPath: ".//*[@class='bar']/@data-label").map { $0.stringValue ?? "" } == ["rss", "heap"])

        try "{\"size\": 1}\n".write(toFile: "\(directory.path)/bad.json", atomically: true, encoding: .utf8)
        let bad = try directory.mprof(["plot", "bad.json"])
        #expect(bad.status != 0)
        #expect(bad.standardError.contains("bad.json:1: not a line of memory-scaling --json"))
    }
}
