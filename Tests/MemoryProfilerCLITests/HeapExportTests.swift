import Foundation
import MemoryProfiler
import MemoryProfilerTestSupport
import Testing

/// Heap profiles shared and compared (issue 13): pprof read back by `go tool pprof`, collapsed stacks parsed, and
/// `mprof heap diff` on two runs whose difference is known.
@Suite(.serialized)
struct HeapExportTests {
    static let goInstalled = FileManager.default.isExecutableFile(atPath: "/usr/bin/go")

    static func capture(_ arguments: [String], in directory: TemporaryDirectory, named name: String) throws -> (String, HeapCapture) {
        let result = try runProduct(
            "mprof", ["run", "--heap", "-o", "\(directory.path)/\(name).dat", BuiltProducts.path("heap-workload")] + arguments)
        #expect(result.status == 0, "\(result.standardError)")
        let path = "\(directory.path)/\(name).heap"
        return (path, try HeapCapture(path: path))
    }

    @Test(.enabled(if: goInstalled, "go is not installed (apt-get install golang-go; .ci/run installs it)"))
    func pprofIsReadBackByGoToolPprofWithTheSameNumbers() throws {
        let directory = try TemporaryDirectory()
        let (path, capture) = try Self.capture(["known-sites", "30000", "1000", "10000", "100"], in: directory, named: "run")
        let profileFile = "\(directory.path)/heap.pb.gz"
        let written = try runProduct("mprof", ["heap", path, "--view", "summary", "--pprof", profileFile])
        #expect(written.status == 0, "\(written.standardError)")
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: profileFile)))
        #expect(bytes.starts(with: [0x1F, 0x8B]), "not gzip")

        func top(_ sampleIndex: String) throws -> String {
            let result = try runCommand("go", ["tool", "pprof", "-top", "-nodecount=200", "-unit=B", "-sample_index=\(sampleIndex)", profileFile])
            #expect(result.status == 0, "\(result.standardError)")
            return result.standardOutput
        }
        /// The "of N total" number of a -top report, and the cumulative value of the function named `function`.
        func numbers(_ report: String, function: String) -> (total: Int?, cumulative: Int?) {
            var total: Int?, cumulative: Int?
            for line in report.split(separator: "\n") {
                if let range = line.range(of: " total"), let of = line.range(of: "% of ") {
                    total = Int(line[of.upperBound..<range.lowerBound].trimmingCharacters(in: CharacterSet(charactersIn: "B")))
                }
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                if fields.count >= 6, fields[5...].joined(separator: " ").hasPrefix(function) {
                    cumulative = Int(fields[3].trimmingCharacters(in: CharacterSet(charactersIn: "B")))
                }
            }
            return (total, cumulative)
        }
        // In use at the peak: the same total as mprof's peak, the builder's share the same as mprof heap's.
        let inUse = try top("inuse_space")
        let peak = numbers(inUse, function: "buildIndex(count:payload:)")
        #expect(peak.total == capture.summary.peakBytes, "\(inUse)")
        let builder = HeapProfile(capture, symbols: HeapSymbolizer().symbolize(capture), filter: .init(function: "buildIndex"))
        #expect(peak.cumulative == builder.total(.peak).bytes, "\(inUse)")
        #expect(Double(peak.cumulative ?? 0) >= 0.95 * 30_000 * 1000)
        // pprof opens on the program's code, not the standard library's array buffer: drop_frames leaves out the
        // frames between the program's code and the allocator, as Go's runtime.malloc is left out.
        let rows = inUse.split(separator: "\n").drop { !$0.contains("flat%") }.dropFirst()
        let first = try #require(rows.first, "\(inUse)")
        #expect(first.hasSuffix(" Node.init(id:payloadBytes:)"), "\(inUse)")
        #expect(!inUse.contains("_ContiguousArrayBuffer"), "\(inUse)")
        // All allocations, by count and by bytes.
        #expect(numbers(try top("alloc_objects"), function: "-").total == capture.summary.allocations)
        #expect(numbers(try top("alloc_space"), function: "-").total == capture.summary.bytesAllocated)
        // At exit: what was not freed.
        let atExit = "\(directory.path)/exit.pb.gz"
        #expect(try runProduct("mprof", ["heap", path, "--view", "summary", "--pprof", atExit, "--at", "exit"]).status == 0)
        let exitTop = try runCommand("go", ["tool", "pprof", "-top", "-unit=B", "-sample_index=inuse_space", atExit])
        #expect(numbers(exitTop.standardOutput, function: "-").total == capture.summary.bytesNotFreed, "\(exitTop.standardOutput)")
    }

    @Test func collapsedStacksAddUpToTheViewAndNameTheBuilder() throws {
        let directory = try TemporaryDirectory()
        let (path, capture) = try Self.capture(["known-sites", "20000", "500", "5000", "100"], in: directory, named: "run")
        let file = "\(directory.path)/peak.folded"
        let result = try runProduct("mprof", ["heap", path, "--view", "peak", "--collapsed", file])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        var total = 0, builder = 0
        for line in lines {
            let space = try #require(line.lastIndex(of: " "), "\(line)")
            let value = try #require(Int(line[line.index(after: space)...]), "\(line)")
            total += value
            let frames = line[..<space].split(separator: ";")
            #expect(!frames.isEmpty)
            if frames.contains("buildIndex(count:payload:)") { builder += value }
        }
        #expect(total == capture.summary.peakBytes)
        #expect(Double(builder) >= 0.95 * 20_000 * 500, "\(builder)")
        #expect(lines.contains { $0.hasSuffix(";Node 640000") || $0.contains(";Node ") }, "no Node frame")
    }

    @Test func diffShowsWhatGrewAndFailsAboveAThreshold() throws {
        let directory = try TemporaryDirectory()
        let (small, _) = try Self.capture(["known-sites", "10000", "1000", "1000", "10"], in: directory, named: "small")
        let (large, _) = try Self.capture(["known-sites", "30000", "1000", "1000", "10"], in: directory, named: "large")
        let diff = try runProduct("mprof", ["heap", "diff", small, large])
        #expect(diff.status == 0, "\(diff.standardError)")
        // 20,000 more payloads of 1,032 bytes at Node.init, first among the changes.
        let lines = diff.standardOutput.split(separator: "\n")
        #expect(lines.first?.hasPrefix("PEAK:") == true, "\(diff.standardOutput)")
        #expect(lines.count > 2 && lines[2].contains("Node.init(id:payloadBytes:)") && lines[2].contains("+19.7 MiB"), "\(diff.standardOutput)")
        #expect(diff.standardOutput.contains("Node from buildIndex(count:payload:)"))

        let failing = try runProduct("mprof", ["heap", "diff", small, large, "--fail-above", "5%"])
        #expect(failing.status == 1 && failing.standardError.contains("more than --fail-above 5%"), "\(failing.standardError)")
        let generous = try runProduct("mprof", ["heap", "diff", small, large, "--fail-above", "100MiB"])
        #expect(generous.status == 0)
        let same = try runProduct("mprof", ["heap", "diff", small, small, "--fail-above", "0%"])
        #expect(same.status == 0 && same.standardOutput.contains("no site changed"), "\(same.standardOutput)")
        let shrunk = try runProduct("mprof", ["heap", "diff", large, small, "--fail-above", "1%"])
        #expect(shrunk.status == 0 && shrunk.standardOutput.contains("-19.7 MiB"), "\(shrunk.standardOutput)")
        // As a differential flame graph: boxes as wide as after, the builder's frame red with its change.
        let flame = "\(directory.path)/diff.svg"
        #expect(try runProduct("mprof", ["heap", "diff", small, large, "--flame", flame]).status == 0)
        let svg = try String(contentsOfFile: flame, encoding: .utf8)
        let builderTag = try #require(svg.components(separatedBy: "<g class=\"frame\"").first { $0.contains("data-name=\"Node.init(id:payloadBytes:)\"") })
        func attribute(_ name: String) -> Int? {
            guard let range = builderTag.range(of: " \(name)=\"") else { return nil }
            return Int(builderTag[range.upperBound...].prefix { $0 != "\"" })
        }
        #expect(attribute("data-value") == 30_000 * 1032 && attribute("data-before") == 10_000 * 1032, "\(builderTag.prefix(400))")
        #expect(attribute("data-change") == 20_000 * 1032)
        // Red, nearly full: it grew by almost as much as the largest change (its callers').
        let fill = builderTag.range(of: "fill=\"rgb(").map { String(builderTag[$0.upperBound...].prefix { $0 != ")" }) } ?? ""
        let channels = fill.split(separator: ",").compactMap { Int($0) }
        #expect(channels.count == 3 && channels[0] == 255 && channels[1] < 80 && channels[1] == channels[2], "\(fill)")
        let bad = try runProduct("mprof", ["heap", "diff", small, large, "--fail-above", "lots"])
        #expect(bad.status != 0 && bad.standardError.contains("--fail-above"), "\(bad.standardError)")
    }

    /// The differential flame graph's page in a real browser: hover and search say what a frame was before and by how
    /// much it changed, a click zooms.
    @Test(.enabled(if: ChromiumPage.installed, ChromiumPage.missing))
    func differentialFlamePageShowsBeforeAndChangeInChromium() throws {
        let directory = try TemporaryDirectory()
        let (small, _) = try Self.capture(["known-sites", "10000", "1000", "1000", "10"], in: directory, named: "small")
        let (large, _) = try Self.capture(["known-sites", "30000", "1000", "1000", "10"], in: directory, named: "large")
        let page = "\(directory.path)/diff.html"
        let diff = try runProduct("mprof", ["heap", "diff", small, large, "--flame", page])
        #expect(diff.status == 0, "\(diff.standardError)")
        let results = try ChromiumPage.results(of: page, script: """
              const frames = Array.from(document.querySelectorAll('#flame .frame'));
              const node = frames.find(g => g.dataset.name === 'Node.init(id:payloadBytes:)');
              node.dispatchEvent(new MouseEvent('mouseover', { bubbles: true }));
              results.details = document.getElementById('details').textContent;
              const search = document.getElementById('search');
              search.value = '/^Node\\.init/';
              search.dispatchEvent(new Event('input'));
              results.matched = document.getElementById('matched').textContent;
              node.dispatchEvent(new MouseEvent('click', { bubbles: true }));
              results.zoomWidth = Number(node.querySelector('rect').getAttribute('width'));
              results.width = Number(document.getElementById('flame').dataset.width);
            """, in: directory)
        // 10,000 then 30,000 payloads of 1,032 bytes: 9.8 MiB before, 19.7 MiB more after.
        let details = try #require(results["details"] as? String)
        #expect(details.contains("Node.init(id:payloadBytes:)\n29.5 MiB, 30000 allocations"), "\(details)")
        #expect(details.contains("before 9.8 MiB, change +19.7 MiB"), "\(details)")
        let matched = try #require(results["matched"] as? String)
        #expect(matched.contains("(29.5 MiB; before 9.8 MiB, change +19.7 MiB)"), "\(matched)")
        let width = try #require(results["width"] as? Double)
        #expect(abs((results["zoomWidth"] as? Double ?? 0) - (width - 0.5)) < 0.01, "\(results)")
    }

    /// With --function, the summary says it is the whole capture and gives what the filter keeps, in text and JSON.
    @Test func aFilteredReportSaysWhatItsSummaryCovers() throws {
        let directory = try TemporaryDirectory()
        let (path, capture) = try Self.capture(["known-sites", "20000", "500", "5000", "100"], in: directory, named: "run")
        let text = try runProduct("mprof", ["heap", path, "--function", "buildIndex", "--view", "summary"])
        #expect(text.status == 0, "\(text.standardError)")
        let line = try #require(text.standardOutput.split(separator: "\n").first { $0.contains("matching") }, "\(text.standardOutput)")
        #expect(line.contains("--function buildIndex: 40,002 allocations") && line.contains("whole capture"), "\(line)")  // a node and its payload each
        let json = try runProduct("mprof", ["heap", path, "--function", "buildIndex", "--view", "summary", "--json"])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        let matching = try #require(report["matching"] as? [String: Any], "\(json.standardOutput.prefix(600))")
        let summary = try #require(report["summary"] as? [String: Any])
        #expect(summary["allocations"] as? Int == capture.summary.allocations)
        let filtered = HeapProfile(capture, symbols: HeapSymbolizer().symbolize(capture), filter: .init(function: "buildIndex"))
        #expect(matching["allocations"] as? Int == filtered.total(.allocated).allocations && matching["function"] as? String == "buildIndex")
        #expect(matching["peakBytes"] as? Int == filtered.total(.peak).bytes)
        let whole = try runProduct("mprof", ["heap", path, "--view", "summary", "--json"])
        #expect(!whole.standardOutput.contains("\"matching\""))
    }

    /// A flame graph taller than the window opens on its boxes (the root at the bottom of the window), with the search
    /// bar and the details in view above them, not on an empty top of the page.
    @Test(.enabled(if: ChromiumPage.installed, ChromiumPage.missing))
    func aDeepFlamePageOpensWhereItsBoxesAre() throws {
        let directory = try TemporaryDirectory()
        let program = try HeapProfilingTests.compile(fixture: "deep", in: directory)
        let run = try HeapProfilingTests.record(program, [], in: directory)
        let page = "\(directory.path)/deep.html"
        let result = try runProduct("mprof", ["heap", run.capturePath, "--view", "peak", "--flame", page])
        #expect(result.status == 0, "\(result.standardError)")
        let results = try ChromiumPage.results(of: page, script: """
              const root = Array.from(document.querySelectorAll('#flame .frame')).find(g => g.dataset.depth === '0');
              results.rootBottom = root.querySelector('rect').getBoundingClientRect().bottom;
              results.height = window.innerHeight;
              results.pageHeight = document.documentElement.scrollHeight;
              const search = document.getElementById('search').getBoundingClientRect();
              results.searchTop = search.top;
              results.searchBottom = search.bottom;
              results.rows = Number(document.getElementById('flame').dataset.rows);
            """, in: directory, windowSize: "1400,900")
        let height = try #require(results["height"] as? Double)
        let rootBottom = try #require(results["rootBottom"] as? Double)
        #expect(try #require(results["pageHeight"] as? Double) > height + 400, "the graph should be taller than the window: \(results)")
        #expect((results["rows"] as? Double ?? 0) >= 50, "\(results)")  // the hook keeps 64 frames a stack
        #expect(rootBottom <= height && rootBottom >= height - 60, "the root should stand at the bottom of the window: \(results)")
        let searchTop = try #require(results["searchTop"] as? Double), searchBottom = try #require(results["searchBottom"] as? Double)
        #expect(searchTop >= 0 && searchBottom <= height, "the search bar should be in view: \(results)")
    }

    /// `mprof plot` of a run recorded with --heap draws the heap in use under the resident set, its peak marked.
    @Test func plotDrawsTheHeapInUseUnderTheResidentSet() throws {
        let directory = try TemporaryDirectory()
        let result = try runProduct(
            "mprof", ["run", "--heap", "-T", "0.01", "-o", "\(directory.path)/run.dat", BuiltProducts.path("heap-workload"), "known-sites"])
        #expect(result.status == 0, "\(result.standardError)")
        let capture = try HeapCapture(path: "\(directory.path)/run.heap")
        let picture = "\(directory.path)/run.svg"
        let plotted = try runProduct("mprof", ["plot", "\(directory.path)/run.dat", "-o", picture])
        #expect(plotted.status == 0, "\(plotted.standardError)")
        let svg = try String(contentsOfFile: picture, encoding: .utf8)
        func attribute(_ name: String, of element: String) -> String? {
            guard let start = svg.range(of: "<g class=\"\(element)\"") else { return nil }
            let tag = svg[start.lowerBound...].prefix { $0 != ">" }
            guard let value = tag.range(of: "\(name)=\"") else { return nil }
            return String(tag[value.upperBound...].prefix { $0 != "\"" })
        }
        let heapPeak = try #require(attribute("data-mebibytes", of: "heap-peak").flatMap(Double.init), "no heap peak in \(picture)")
        #expect(abs(heapPeak - Double(capture.summary.peakBytes) / 1_048_576) < 0.001)
        let residentPeak = try #require(attribute("data-mebibytes", of: "peak").flatMap(Double.init))
        #expect(heapPeak < residentPeak, "the heap (\(heapPeak) MiB) should be under the resident set (\(residentPeak) MiB)")
        #expect(svg.contains("class=\"curve heap\""))

        let without = "\(directory.path)/without.svg"
        #expect(try runProduct("mprof", ["plot", "\(directory.path)/run.dat", "--no-heap", "-o", without]).status == 0)
        #expect(try !String(contentsOfFile: without, encoding: .utf8).contains("heap-peak"))
    }


    /// The flame graph as SVG: the root is the view's total, the builder's frame holds its bytes, no frame is wider
    /// than its caller.
    @Test func flameGraphSVGHoldsTheViewsNumbers() throws {
        let directory = try TemporaryDirectory()
        let (path, capture) = try Self.capture(["known-sites", "20000", "500", "5000", "100"], in: directory, named: "run")
        let file = "\(directory.path)/flame.svg"
        let result = try runProduct("mprof", ["heap", path, "--view", "peak", "--flame", file])
        #expect(result.status == 0, "\(result.standardError)")
        let svg = try String(contentsOfFile: file, encoding: .utf8)
        struct Frame { var name: String; var value: Int; var depth: Int; var start: Int }
        var frames: [Frame] = []
        for piece in svg.components(separatedBy: "<g class=\"frame").dropFirst() {
            let tag = piece.prefix { $0 != ">" }
            func attribute(_ name: String) -> String? {
                guard let range = tag.range(of: " \(name)=\"") else { return nil }
                return String(tag[range.upperBound...].prefix { $0 != "\"" })
            }
            frames.append(Frame(
                name: attribute("data-name") ?? "", value: Int(attribute("data-value") ?? "") ?? -1,
                depth: Int(attribute("data-depth") ?? "") ?? -1, start: Int(attribute("data-start") ?? "") ?? -1))
        }
        let root = try #require(frames.first { $0.depth == 0 })
        #expect(root.value == capture.summary.peakBytes)
        let builder = frames.filter { $0.name == "buildIndex(count:payload:)" }.reduce(0) { $0 + $1.value }
        #expect(Double(builder) >= 0.95 * 20_000 * 500, "\(builder)")
        #expect(frames.contains { $0.name == "Node" })
        for frame in frames where frame.depth > 0 {
            let parent = frames.first { $0.depth == frame.depth - 1 && $0.start <= frame.start && frame.start + frame.value <= $0.start + $0.value }
            #expect(parent != nil, "\(frame.name) has no caller around it")
        }
        let png = try runCommand("rsvg-convert", [file, "-o", "\(directory.path)/flame.png"])
        #expect(png.status == 0, "the SVG does not render: \(png.standardError)")
    }

    /// The flame graph's page in a real browser: search shows the matching frames' share, hover shows a frame's
    /// numbers and place, a click zooms into a frame and hides what is outside it, reset undoes it.
    @Test(.enabled(if: ChromiumPage.installed, ChromiumPage.missing))
    func flameGraphPageSearchesHoversAndZoomsInChromium() throws {
        let directory = try TemporaryDirectory()
        let (path, capture) = try Self.capture(["known-sites", "20000", "500", "5000", "100"], in: directory, named: "run")
        let page = "\(directory.path)/flame.html"
        let result = try runProduct("mprof", ["heap", path, "--view", "peak", "--flame", page, "--orientation", "icicle"])
        #expect(result.status == 0, "\(result.standardError)")
        // The test drives the page with real DOM events.
        let results = try ChromiumPage.results(of: page, script: """
              const frames = Array.from(document.querySelectorAll('#flame .frame'));
              const builder = frames.find(g => g.dataset.name === 'buildIndex(count:payload:)');
              const search = document.getElementById('search');
              search.value = 'buildIndex';
              search.dispatchEvent(new Event('input'));
              results.matched = document.getElementById('matched').textContent;
              results.matches = document.querySelectorAll('#flame .frame.match').length;
              builder.dispatchEvent(new MouseEvent('mouseover', { bubbles: true }));
              results.details = document.getElementById('details').textContent;
              builder.dispatchEvent(new MouseEvent('click', { bubbles: true }));
              const rect = builder.querySelector('rect');
              results.zoomX = Number(rect.getAttribute('x'));
              results.zoomWidth = Number(rect.getAttribute('width'));
              results.width = Number(document.getElementById('flame').dataset.width);
              results.hidden = document.querySelectorAll('#flame .frame.hidden').length;
              document.getElementById('reset').click();
              results.hiddenAfterReset = document.querySelectorAll('#flame .frame.hidden').length;
            """, in: directory)

        let profile = HeapProfile(capture, symbols: HeapSymbolizer().symbolize(capture), filter: .init(function: "buildIndex"))
        let share = Double(profile.total(.peak).bytes) / Double(capture.summary.peakBytes) * 100
        let matched = try #require(results["matched"] as? String)
        #expect(matched.hasPrefix("Matched: \(String(format: "%.1f", share))%"), "\(matched), expected \(share)")
        #expect((results["matches"] as? Int ?? 0) >= 1)
        let details = try #require(results["details"] as? String)
        #expect(details.contains("buildIndex(count:payload:)") && details.contains("main.swift:") && details.contains("% of all"), "\(details)")
        let width = try #require(results["width"] as? Double)
        #expect(results["zoomX"] as? Double == 0)
        #expect(abs((results["zoomWidth"] as? Double ?? 0) - (width - 0.5)) < 0.01, "\(results)")
        #expect((results["hidden"] as? Int ?? 0) > 0, "\(results)")
        #expect(results["hiddenAfterReset"] as? Int == 0)
    }
}

/// A program that profiles a piece of its own work (`HeapRegion`): under `mprof run --heap`, with the hook preloaded
/// by hand, and without the hook.
struct HeapRegionTests {
    static func values(_ output: String) -> [String: String] {
        var values: [String: String] = [:]
        for field in output.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let parts = field.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
        }
        return values
    }

    /// What the region's profile must say: the 1,000 Items and their payloads, the 500 temporaries, nothing of
    /// what the program allocated before the region.
    static func checkRegion(_ output: String) {
        let values = Self.values(output)
        #expect(values["items"] == "1000", "\(output)")
        #expect(values["payloads"] == "1000" && values["payloadBytes"] == "132000", "\(output)")
        #expect(Int(values["temporaries"] ?? "") ?? 0 >= 500, "\(output)")
        #expect(values["fromPrepare"] == "0", "\(output)")
        #expect(values["top"] == "Item.init(bytes:)", "\(output)")
        // The library's report of the same profile (`HeapProfile.text`) says the same as the values above.
        let report = output.components(separatedBy: "--- report ---\n").last ?? ""
        let allocations = Int(values["allocations"] ?? "") ?? -1
        let grouped = String(allocations / 1000) + "," + String(String(allocations % 1000 + 1000).dropFirst())
        #expect(allocations >= 1000 && allocations < 1_000_000 && report.contains("  allocations  \(grouped) ("), "\(report)")
        #expect(report.contains("PEAK: allocated when the heap was largest"), "\(report)")
        let top = report.split(separator: "\n").first { $0.contains("Item.init(bytes:)") } ?? ""
        #expect(top.contains("128.9 KiB") && top.contains("  1,000  "), "\(report)")  // 1,000 payloads of 132 bytes
    }

    @Test func aRegionIsProfiledUnderMprofRunHeap() throws {
        let directory = try TemporaryDirectory()
        let result = try runProduct("mprof", ["run", "--heap", "-o", "\(directory.path)/run.dat", BuiltProducts.path("heap-region-workload")])
        #expect(result.status == 0, "\(result.standardError)")
        Self.checkRegion(result.standardOutput)
        // The run's capture holds the region's marks and reads as a whole.
        let capture = try HeapCapture(path: "\(directory.path)/run.heap")
        #expect(capture.summary.allocations > 2500 && capture.summary.finishedNormally)
        // Its leak scan read past the region's marks.
        #expect(capture.summary.reachabilityScanned, "\(capture.summary.leakScanFailure ?? "no reason given")")
    }

    @Test func aRegionRecordsIntoAFileOfItsOwnWithTheHookPreloaded() throws {
        let directory = try TemporaryDirectory()
        let result = try runProduct(
            "heap-region-workload", [],
            environment: ["LD_PRELOAD": BuiltProducts.path("libmprof-heap-hook.so"), "TMPDIR": directory.path])
        #expect(result.status == 0, "\(result.standardError)")
        Self.checkRegion(result.standardOutput)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty, "the region's file was left behind")
    }

    static let patchelfInstalled = FileManager.default.isExecutableFile(atPath: "/usr/bin/patchelf")

    /// The hook linked into the program (a DT_NEEDED entry ahead of libc, here added with patchelf as the README
    /// shows): no LD_PRELOAD, no mprof, and the region works the same.
    @Test(.enabled(if: patchelfInstalled, "patchelf is not installed (apt-get install patchelf; .ci/run installs it)"))
    func aRegionWorksWithTheHookLinkedIntoTheProgram() throws {
        let directory = try TemporaryDirectory()
        let program = "\(directory.path)/heap-region-workload"
        // Copied by cp, in a process of its own (see HeapProfilingTests.compile), next to the hook.
        for product in ["heap-region-workload", "libmprof-heap-hook.so"] {
            #expect(try runCommand("cp", [BuiltProducts.path(product), directory.path]).status == 0)
        }
        // One change a call: with both in one call, patchelf 0.14 left the program unable to find the hook.
        for change in [["--add-needed", "libmprof-heap-hook.so"], ["--add-rpath", "$ORIGIN"]] {
            let patched = try runCommand("patchelf", change + [program])
            try #require(patched.status == 0, "\(patched.standardError)")
        }
        let needed = try runCommand("readelf", ["-d", program])
        #expect(needed.standardOutput.contains("[libmprof-heap-hook.so]"), "\(needed.standardOutput)")
        let result = try runCommand(program, [], environment: ["TMPDIR": directory.path])
        #expect(result.status == 0, "\(result.standardError)")
        Self.checkRegion(result.standardOutput)
    }

    @Test func anAsyncRegionIsProfiledToo() throws {
        let directory = try TemporaryDirectory()
        let result = try runProduct(
            "heap-region-workload", ["async"],
            environment: ["LD_PRELOAD": BuiltProducts.path("libmprof-heap-hook.so"), "TMPDIR": directory.path])
        #expect(result.status == 0, "\(result.standardError)")
        Self.checkRegion(result.standardOutput)
    }

    @Test func withoutTheHookARegionIsAClearError() throws {
        let result = try runProduct("heap-region-workload", [])
        #expect(result.status == 3)
        #expect(result.standardOutput.contains("heap regions need libmprof-heap-hook.so"), "\(result.standardOutput)")
    }
}
