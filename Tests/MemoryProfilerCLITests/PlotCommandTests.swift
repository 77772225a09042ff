import Foundation
import FoundationXML
import MemoryProfiler
import MemoryProfilerTestSupport
import Testing

@testable import MemoryProfilerCLI

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

/// The JSON charts end to end: each producer writes its file, `mprof plot` draws it, and the SVG is read back.
@Suite struct PlotChartsCommandTests {
    @Test func theScalingChartPutsEveryPointOfMemoryScalingWhereItsValuesBelong() throws {
        let directory = try TemporaryDirectory()
        let scaling = try runProduct("memory-scaling", ["--json", "--sizes", "50,100,150"])
        #expect(scaling.status == 0, "\(scaling.standardError)")
        try scaling.standardOutput.write(toFile: "\(directory.path)/scaling.jsonl", atomically: true, encoding: .utf8)
        let points = try scaling.standardOutput.split(separator: "\n").map {
            try JSONDecoder().decode(MemoryScalingPoint.self, from: Data($0.utf8))
        }
        #expect(points.map(\.inputSize) == [50, 100, 150])

        let plotted = try directory.mprof(["plot", "scaling.jsonl"])
        #expect(plotted.status == 0, "\(plotted.standardError)")
        let chart = try XMLDocument(contentsOf: URL(fileURLWithPath: "\(directory.path)/scaling.svg"), options: [])
        let x = try AxisReading(chart, axis: "x-axis", coordinate: "x")
        let y = try AxisReading(chart, axis: "y-axis", coordinate: "y", labelOffset: 4)
        for (label, memory) in [("increment over the baseline", \MemoryScalingPoint.increment), ("peak", \.peak)] {
            let markers = try chart.elements(".//*[@class='marker'][@data-label='\(label)']")
            try #require(markers.count == points.count, "\(label)")
            for (marker, point) in zip(markers, points) {
                let mebibytes = point[keyPath: memory].mebibytes
                #expect(marker.number("data-input-size") == Double(point.inputSize))
                #expect(marker.number("data-mebibytes") == mebibytes)
                // Drawn where the axes say these values are, to within the SVG's rounding to hundredths of a pixel.
                #expect(abs(x.value(at: try #require(marker.number("cx"))) - Double(point.inputSize)) <= x.valuePerPixel / 50)
                #expect(abs(y.value(at: try #require(marker.number("cy"))) - mebibytes) <= y.valuePerPixel / 50, "\(label) at \(point.inputSize)")
            }
        }
    }

    @Test func theReadersChartDrawsTheCostOfEveryReaderTheBenchmarkTimed() throws {
        let directory = try TemporaryDirectory()
        let readers = try runProduct(
            "mprof", ["readers", "--bench", "--count", "3", "--repeats", "1", "--reader", "rss", "--reader", "heap", "--format", "json"])
        #expect(readers.status == 0, "\(readers.standardError)")
        try readers.standardOutput.write(toFile: "\(directory.path)/readers.json", atomically: true, encoding: .utf8)
        let report = try JSONDecoder().decode(ReadersReport.self, from: Data(readers.standardOutput.utf8))
        let costs = try report.readings.map { try #require($0.cost, "\($0.reader) was not timed").medianMicrosecondsPerReading }

        #expect(try directory.mprof(["plot", "readers.json", "-o", "costs.svg"]).status == 0)
        let chart = try XMLDocument(contentsOf: URL(fileURLWithPath: "\(directory.path)/costs.svg"), options: [])
        #expect(try chart.elements(".//*[@class='title']").first?.stringValue == "What one reading costs of PID \(report.pid)")
        let bars = try chart.elements(".//*[@class='bar']")
        #expect(bars.map { $0.text("data-label") } == ["rss", "heap"])
        #expect(bars.map { $0.number("data-value") } == costs)
        // The axis is logarithmic: its decades, read back, put each bar's end at the logarithm of its cost.
        let decades = try AxisReading(chart, axis: "x-axis", coordinate: "x", logarithmic: true)
        for (bar, cost) in zip(bars, costs) {
            let rectangle = try #require(try bar.elements("*[local-name()='rect']").first)
            let end = try #require(rectangle.number("x")) + (try #require(rectangle.number("width")))
            #expect(abs(decades.value(at: end) / cost - 1) < 0.001, "\(bar.text("data-label") ?? "")")
            let label = try #require(try bar.elements("*[@class='value-label']").first?.stringValue)
            let shown = try #require(Double(label.replacingOccurrences(of: " µs", with: "")))
            #expect(abs(shown - cost) <= max(cost * 0.005, 0.0005), "\(label) for \(cost) µs")
        }
    }

    @Test func badDataAndTheOldScalingFormatGetAClearError() throws {
        let directory = try TemporaryDirectory()
        try "{\"size\": 1}\n".write(toFile: "\(directory.path)/bad.json", atomically: true, encoding: .utf8)
        let bad = try directory.mprof(["plot", "bad.json"])
        #expect(bad.status != 0)
        #expect(bad.standardError.contains("bad.json:1: not a line of memory-scaling --json"))
        // What memory-scaling --json wrote before it encoded MemoryScalingPoint.
        let old = "{\"size\":50,\"baseline\":10551296,\"peak\":11313152,\"increment\":761856}\n"
        try old.write(toFile: "\(directory.path)/old.jsonl", atomically: true, encoding: .utf8)
        let refused = try directory.mprof(["plot", "old.jsonl"])
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("old.jsonl:1: a line of an older memory-scaling --json, with \"size\" and no \"duration\"; run memory-scaling --json again"))
        #expect(try directory.files() == ["bad.json", "old.jsonl"])
    }
}

/// An axis of a chart read back from its tick labels: the value at a pixel.
struct AxisReading {
    private let first: (pixel: Double, value: Double)
    private let last: (pixel: Double, value: Double)
    private let logarithmic: Bool

    /// Reads the tick labels of the group `axis`: their `coordinate` less `labelOffset` is the tick's pixel.
    init(_ chart: XMLDocument, axis: String, coordinate: String, labelOffset: Double = 0, logarithmic: Bool = false) throws {
        let ticks = try chart.elements(".//*[@id='\(axis)']/*[@class='tick-label']").map { label in
            let pixel = try #require(label.number(coordinate)) - labelOffset
            let value = try #require(Double(label.stringValue ?? ""), "tick label \(label.stringValue ?? "")")
            return (pixel, logarithmic ? log10(value) : value)
        }
        try #require(ticks.count >= 2, "\(axis) has \(ticks.count) ticks")
        first = ticks[0]
        last = ticks[ticks.count - 1]
        self.logarithmic = logarithmic
    }

    /// The size of a pixel in the axis's values (in decades on a logarithmic axis).
    var valuePerPixel: Double { abs((last.value - first.value) / (last.pixel - first.pixel)) }

    func value(at pixel: Double) -> Double {
        let linear = first.value + (pixel - first.pixel) * (last.value - first.value) / (last.pixel - first.pixel)
        return logarithmic ? pow(10, linear) : linear
    }
}

extension XMLNode {
    func elements(_ path: String) throws -> [XMLElement] {
        try nodes(forXPath: path).compactMap { $0 as? XMLElement }
    }
}

extension XMLElement {
    /// The attribute `name`. (Found by XPath: `attribute(forName:)` finds nothing in an element of the SVG
    /// namespace.)
    func text(_ name: String) -> String? {
        (try? nodes(forXPath: "@\(name)"))?.first?.stringValue
    }

    /// The attribute `name` as a number.
    func number(_ name: String) -> Double? {
        text(name).flatMap(Double.init)
    }
}
