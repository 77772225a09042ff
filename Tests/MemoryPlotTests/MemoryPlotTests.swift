import Foundation
import FoundationXML
import MemoryProfiler
import Testing

@testable import MemoryPlot

/// Plots rendered for real and read back: the SVG is parsed as XML and what is drawn is checked.
@Suite struct MemoryPlotTests {
    static let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/mprof-samples").standardized.path

    @Test func memoryProfilersStepFileShowsAxesTicksBracketsAndPeak() throws {
        let file = try MprofFile(path: "\(Self.samples)/step_alloc.dat")
        let svg = try SVG(MemoryPlot(files: [file]).svg())
        #expect(try svg.texts(".//*[@class='title']") == ["python3.11 step_alloc.py"])
        #expect(try svg.texts(".//*[@class='axis-label']").sorted() == ["memory used (MiB)", "time (s)"])
        let timeTicks = try svg.texts(".//*[@id='x-axis']/*[@class='tick-label']").compactMap(Double.init)
        #expect(timeTicks.count >= 4)
        #expect(timeTicks == timeTicks.sorted())
        #expect(timeTicks.first == 0)
        let memoryTicks = try svg.texts(".//*[@id='y-axis']/*[@class='tick-label']").compactMap(Double.init)
        #expect(memoryTicks.last ?? 0 >= 250.445)
        #expect(try svg.count(".//*[@class='curve']") == 1)
        #expect(try svg.count(".//*[@class='bracket-start']") == 3)
        #expect(try svg.count(".//*[@class='bracket-end']") == 3)
        #expect(try svg.texts(".//*[@class='call-label']").sorted() == ["grow 1.974s", "main 4.118s", "shrink 1.229s"])
        #expect(try svg.attributes(".//*[@class='peak']", "data-mebibytes") == ["250.445"])
        #expect(try svg.count(".//*[@class='envelope']") == 0)
        #expect(try svg.texts(".//*[@class='peak-label']") == ["peak 250.4 MiB"])
    }

    @Test func bracketsCanBeLeftOut() throws {
        let file = try MprofFile(path: "\(Self.samples)/step_alloc.dat")
        let svg = try SVG(MemoryPlot(files: [file], options: .init(showsFunctions: false)).svg())
        #expect(try svg.count(".//*[@class='bracket-start']") == 0)
        #expect(try svg.count(".//*[@class='call-label']") == 0)
        #expect(try svg.count(".//*[@class='curve']") == 1)
    }

    @Test func childrenGetCurvesAndLegendEntriesOfTheirOwn() throws {
        let file = try MprofFile(path: "\(Self.samples)/children_include_multiprocess.dat")
        let svg = try SVG(MemoryPlot(files: [file]).svg())
        #expect(try svg.count(".//*[@class='curve']") == 1)
        #expect(try svg.count(".//*[@class='curve child']") == 4)
        let legend = try svg.texts(".//*[@class='legend-entry']/*[name()='text']")
        for child in ["9989", "9991", "10005", "10015"] { #expect(legend.contains("child \(child)")) }
        #expect(legend.first?.hasPrefix("children_include_multiprocess.dat (started ") == true)
    }

    @Test func slopeFlameTruePeakAndWindow() throws {
        // 10 MiB/s for 10 s, a spike the samples missed, and two nested calls.
        var lines = ["CMDLINE ./leak"]
        for step in 0...100 {
            let time = 1000 + Double(step) * 0.1
            lines.append(String(format: "MEM %.6f %.4f", 50 + Double(step), time))
            if step == 40 { lines.append(String(format: "PEAK 400.000000 %.4f", time)) }
        }
        lines.append("FUNC outer 50.0 1000.0 150.0 1010.0 0")
        lines.append("FUNC inner 60.0 1001.0 90.0 1004.0 1")
        let file = try MprofFile(parsing: lines.joined(separator: "\n") + "\n", path: "leak.dat")

        let svg = try SVG(MemoryPlot(files: [file], options: .init(flame: true, slope: true)).svg())
        #expect(try svg.texts(".//*[@class='legend-entry']/*[name()='text']").contains("slope 10.000 MiB/s"))
        #expect(try svg.count(".//*[@class='slope']") == 1)
        #expect(try svg.attributes(".//*[@class='flame']", "data-level").sorted() == ["0", "1"])
        #expect(try svg.count(".//*[@class='bracket-start']") == 0)
        #expect(try svg.attributes(".//*[@class='peak']", "data-mebibytes") == ["400.000"])
        #expect(try svg.attributes(".//*[@class='peak']", "data-true-peak") == ["yes"])
        #expect(try svg.count(".//*[@class='envelope']") == 1)

        let window = try SVG(MemoryPlot(files: [file], options: .init(window: 2...5)).svg())
        let ticks = try window.texts(".//*[@id='x-axis']/*[@class='tick-label']").compactMap(Double.init)
        #expect(ticks.first ?? 0 >= 2)
        #expect(ticks.last ?? 10 <= 5)
    }

    @Test func severalFilesOverlayWithoutBrackets() throws {
        let first = try MprofFile(path: "\(Self.samples)/step_alloc.dat")
        let second = try MprofFile(path: "\(Self.samples)/exec_non_python.dat")
        let svg = try SVG(MemoryPlot(files: [first, second]).svg())
        #expect(try svg.count(".//*[@class='curve']") == 2)
        #expect(Set(try svg.attributes(".//*[@class='curve']", "stroke")).count == 2)
        #expect(try svg.count(".//*[@class='bracket-start']") == 0)
        #expect(try svg.count(".//*[@class='peak']") == 2)
    }

    @Test func reductionKeepsEveryPeakAndTroughAndStaysSmall() throws {
        var generator = SystemRandomNumberGenerator()
        let count = 1_000_000
        let spike = Int.random(in: 0..<count, using: &generator)
        let dip = Int.random(in: 0..<count, using: &generator)
        let points = (0..<count).map { index -> MemoryPlot.Point in
            let wave = 100 + 10 * sin(Double(index) / 5000)
            let value = index == spike ? 999.5 : index == dip ? 0.25 : wave
            return MemoryPlot.Point(time: Double(index) * 0.001, mebibytes: value)
        }
        let scale = LinearScale(domain: 0...Double(count) * 0.001, range: 72...936)
        let reduced = MemoryPlot.reduced(points, scale: scale)
        #expect(reduced.count <= 864 * 4 + 4)
        #expect(reduced.map(\.mebibytes).max() == 999.5)
        #expect(reduced.map(\.mebibytes).min() == 0.25)
        #expect(reduced.map(\.time) == reduced.map(\.time).sorted())
    }

    @Test func terminalPlotFitsTheWidthAndHasNoColourUnlessAsked() throws {
        let file = try MprofFile(path: "\(Self.samples)/step_alloc.dat")
        let plot = MemoryPlot(files: [file])
        let text = plot.terminal(columns: 80, rows: 12, color: false)
        #expect(!text.contains("\u{1B}["))
        #expect(text.hasPrefix("python3.11 step_alloc.py\n"))
        #expect(text.contains("peak 250.4 MiB"))
        #expect(text.contains("├─grow 1.97s──"))
        #expect(text.unicodeScalars.contains { (0x2801...0x28FF).contains($0.value) })
        for line in text.split(separator: "\n") { #expect(line.count <= 80) }
        #expect(plot.terminal(columns: 80, rows: 12, color: true).contains("\u{1B}["))
    }

    @Test func htmlIsOnePageWithTheSVGAndNoNetwork() throws {
        let file = try MprofFile(path: "\(Self.samples)/step_alloc.dat")
        let html = MemoryPlot(files: [file]).html()
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        let withoutNamespace = html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "")
        #expect(!withoutNamespace.contains("http://") && !withoutNamespace.contains("https://"))
        #expect(!html.contains("<script src"))
        let start = try #require(html.range(of: "<svg"))
        let end = try #require(html.range(of: "</svg>"))
        let svg = try SVG(String(html[start.lowerBound..<end.upperBound]))
        #expect(try svg.count(".//*[@class='curve']") == 1)
        let data = try #require(html.range(of: "<script type=\"application/json\" id=\"plot-data\">"))
        let json = html[data.upperBound...].prefix { $0 != "<" }
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect((object?["calls"] as? [Any])?.count == 3)
    }
}

/// An SVG document parsed by Foundation's XML parser, queried with XPath.
struct SVG {
    let document: XMLDocument

    init(_ text: String) throws {
        document = try XMLDocument(xmlString: text, options: [])
    }

    func nodes(_ path: String) throws -> [XMLNode] {
        try document.nodes(forXPath: path)
    }

    func count(_ path: String) throws -> Int { try nodes(path).count }

    func texts(_ path: String) throws -> [String] { try nodes(path).map { $0.stringValue ?? "" } }

    func attributes(_ path: String, _ name: String) throws -> [String] {
        try texts("\(path)/@\(name)")
    }
}

@Suite struct ChartTests {
    @Test func scalingChartHasAMarkerPerSizeAndBothSeries() throws {
        let points = [100.0, 200, 400].map {
            ScalingChart.Point(inputSize: $0, incrementMebibytes: $0 * $0 * 8 / 1_048_576, peakMebibytes: 10 + $0 / 50)
        }
        let svg = try SVG(ScalingChart(title: "scaling", points: points).svg())
        #expect(try svg.count(".//*[@class='curve']") == 2)
        #expect(try svg.count(".//*[@class='marker']") == 6)
        #expect(try svg.texts(".//*[@class='axis-label']").sorted() == ["input size", "memory (MiB)"])
        let xTicks = try svg.texts(".//*[@id='x-axis']/*[@class='tick-label']").compactMap(Double.init)
        #expect(xTicks.first == 0)
        #expect(xTicks.last ?? 0 >= 400)
    }

    @Test func scalingChartMarkersCarryTheirValues() throws {
        let point = MemoryScalingPoint(
            inputSize: 300, baseline: MemorySize(mebibytes: 10), peak: MemorySize(mebibytes: 14.5), duration: .seconds(1))
        let svg = try SVG(ScalingChart(title: "scaling", points: [ScalingChart.Point(point)]).svg())
        #expect(try svg.attributes(".//*[@class='marker']", "data-input-size") == ["300.0", "300.0"])
        #expect(try svg.attributes(".//*[@class='marker']", "data-mebibytes") == ["4.5", "14.5"])
    }

    /// The memory plot and the other charts draw one frame: the same title, grid, border, axes and legend, by
    /// the same names; a bar chart, whose rows label themselves, has no value axis and no border.
    @Test func everyChartHasTheSameFrame() throws {
        let file = try MprofFile(path: "\(MemoryPlotTests.samples)/step_alloc.dat")
        let memory = try SVG(MemoryPlot(files: [file]).svg())
        let scaling = try SVG(
            ScalingChart(title: "scaling", points: [.init(inputSize: 10, incrementMebibytes: 1, peakMebibytes: 2)]).svg())
        let bars = try SVG(BarChart(title: "costs", unit: "µs", bars: [("rss", 1.2), ("ps", 6000)]).svg())
        for svg in [memory, scaling, bars] {
            #expect(try svg.count(".//*[@class='title']") == 1)
            let ticks = try svg.count(".//*[@id='x-axis']/*[@class='tick-label']")
            #expect(ticks >= 2)
            #expect(try svg.count(".//*[@class='grid']/*[@class='vertical']") == ticks)
            #expect(try svg.count(".//*[@id='x-axis']/*[@class='axis-label']") == 1)
        }
        for svg in [memory, scaling] {
            #expect(try svg.count(".//*[@class='frame']") == 1)
            #expect(try svg.count(".//*[@id='y-axis']/*[@class='tick-label']") >= 2)
            #expect(try svg.count(".//*[@class='legend']/*[@class='legend-entry']") >= 1)
        }
        #expect(try bars.count(".//*[@class='frame']") == 0)
        #expect(try bars.count(".//*[@id='y-axis']") == 0)
    }

    @Test func barChartHasABarPerReaderOnALogarithmicAxis() throws {
        let bars = [("rss", 1.2), ("pss", 250.0), ("ps", 6000.0)]
        let svg = try SVG(BarChart(title: "costs", unit: "µs", bars: bars).svg())
        #expect(try svg.attributes(".//*[@class='bar']", "data-label") == ["rss", "pss", "ps"])
        #expect(try svg.texts(".//*[@class='value-label']") == ["1.20 µs", "250 µs", "6000 µs"])
        #expect(try svg.texts(".//*[@id='x-axis']/*[@class='tick-label']") == ["1.00", "10.0", "100", "1000", "10000"])
    }
}

@Suite struct DegenerateInputTests {
    @Test func ticksEndEvenWhenTheStepIsBelowThePrecisionOfTheDomain() {
        let scale = LinearScale(domain: 1.7e12...(1.7e12 + 1e-3), range: 0...800)
        #expect(scale.ticks().count <= 18)
        #expect(LinearScale(domain: 5...5, range: 0...100).ticks().count <= 18)
        #expect(LinearScale.niceDomain(-.infinity, 3) == 0...1)
    }

    @Test func aWindowThatCutsACallOrMissesTheDataDrawsWithoutCrashing() throws {
        let text = "CMDLINE x\nMEM 1 100\nMEM 2 110\nMEM 3 120\nFUNC long 1 100 3 115 0\n"
        let file = try MprofFile(parsing: text)
        let cut = MemoryPlot(files: [file], options: .init(window: 12...20, flame: true))
        #expect(cut.terminal(columns: 60).contains("├"))
        _ = try SVG(cut.svg())
        let after = MemoryPlot(files: [file], options: .init(window: 500...600))
        _ = try SVG(after.svg())
        _ = after.terminal(columns: 60)
    }
}

let nodeInstalled = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
    FileManager.default.isExecutableFile(atPath: "\($0)/node")
}

@Suite struct HTMLScriptTests {
    /// Reported as skipped where Node.js is not installed.
    @Test(.enabled(if: nodeInstalled, "node is not installed"))
    func theHoverReadoutAndZoomRunWithoutErrors() throws {
        let file = try MprofFile(path: "\(MemoryPlotTests.samples)/step_alloc.dat")
        let page = FileManager.default.temporaryDirectory.appendingPathComponent("plot-\(UUID()).html")
        defer { try? FileManager.default.removeItem(at: page) }
        try MemoryPlot(files: [file]).html().write(to: page, atomically: true, encoding: .utf8)
        let runner = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Scripts/run-plot-script.js").path
        let node = Process()
        node.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        node.arguments = ["node", runner, page.path]
        let output = Pipe()
        node.standardOutput = output
        node.standardError = output
        try node.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        node.waitUntilExit()
        #expect(node.terminationStatus == 0, "\(text)")
        #expect(text.contains("JS-OK t = "))
        #expect(text.contains(" MiB"))
        #expect(text.contains("in "))
    }
}
