import Foundation
import FoundationXML
import MemoryProfilerTestSupport
import Testing

/// Text from a file or a binary never becomes markup: every special character followed by a combining mark (one
/// `Character` with it, not equal to it), control characters that used to become blanks between attributes, and
/// `</script>`, from a `.dat` and from a real compiled path, in the SVG (parsed back as XML) and the pages (opened in
/// Chromium, where nothing of theirs may run).
@Suite struct MarkupInjectionTests {
    /// Each special character followed by U+0301 or U+0338, control characters around attributes, and every way
    /// out of an attribute or an element that a page could fall for; no blank (a `.dat` field) and no `/` (a file
    /// name).
    static let payload =
        "x\"\u{301}\u{1}tabindex=1\u{1}autofocus\u{1}onfocus=window.pwned=1\u{1}"
        + "'\u{301}\u{9}onmouseover=window.pwned=2\u{0B}"
        + "&\u{301}amp;<\u{338}img\u{C}src=x\u{C}onerror=window.pwned=3>\u{301}"
        + "\u{85}\u{2028}\r\n\u{7F}"

    /// What the payload reads as after markup escaping: control characters U+FFFD, line breaks and tabs kept.
    static let expected = readBack(payload)

    /// `text` as XML reads it back after mprof wrote it: C0 controls but tab, line feed and carriage return, DEL and
    /// C1 replaced by U+FFFD, as XML 1.0 cannot hold them.
    static func readBack(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { scalar in
            let kept: Set<Unicode.Scalar> = ["\t", "\n", "\r"]
            return (scalar.value < 0x20 && !kept.contains(scalar)) || (0x7F...0x9F).contains(scalar.value) ? "\u{FFFD}" : scalar
        }))
    }

    /// Finds what a page's content could have run: a flag the payload sets, event-handler attributes, elements the
    /// payload would add.
    static let probe = """
          results.pwned = window.pwned === undefined ? 0 : window.pwned;
          let handlers = 0;
          for (const element of document.querySelectorAll('*'))
            for (const attribute of element.attributes) if (attribute.name.startsWith('on')) handlers += 1;
          results.handlers = handlers;
          results.images = document.querySelectorAll('img').length;
          results.scripts = document.querySelectorAll('script').length;
          results.autofocus = document.querySelectorAll('[autofocus]').length;
        """

    static func expectNothingRan(_ results: [String: Any], scripts: Int, _ page: String) {
        #expect(results["pwned"] as? Int == 0, "the payload ran in \(page): \(results)")
        #expect(results["handlers"] as? Int == 0, "\(page) has event-handler attributes: \(results)")
        #expect(results["images"] as? Int == 0 && results["autofocus"] as? Int == 0, "\(page): \(results)")
        #expect(results["scripts"] as? Int == scripts, "\(page) has scripts of its own besides the expected: \(results)")
    }

    @Test func aFunctionNameInADatFileStaysTextInTheSVGAndThePage() throws {
        let directory = try TemporaryDirectory()
        let dat = "\(directory.path)/hostile.dat"
        // A .dat field holds no blank of any kind.
        let name = String(String.UnicodeScalarView(Self.payload.unicodeScalars.filter { !$0.properties.isWhitespace }))
        try """
            CMDLINE hostile
            MEM 1.0 1000.0
            MEM 50.0 1001.0
            MEM 20.0 1002.0
            FUNC \(name) 1.0 1000.2 50.0 1001.5 0
            FUNC </script><script>window.pwned=4</script> 1.0 1000.3 20.0 1001.8 1

            """.write(toFile: dat, atomically: true, encoding: .utf8)

        let svgPath = "\(directory.path)/hostile.svg"
        let svgRun = try runProduct("mprof", ["plot", dat, "--flame", "-o", svgPath])
        #expect(svgRun.status == 0, "\(svgRun.standardError)")
        // Well-formed XML whose attribute reads back as the name, with what XML cannot hold replaced.
        let svg = try XMLDocument(contentsOf: URL(fileURLWithPath: svgPath), options: [])
        let functions = try svg.nodes(forXPath: "//*/@data-function").compactMap(\.stringValue)
        let expected = Self.readBack(name)
        #expect(functions.contains(expected), "\(functions.map { Array($0.unicodeScalars) })")
        #expect(functions.contains("</script><script>window.pwned=4</script>"), "\(functions)")

        let pagePath = "\(directory.path)/hostile.html"
        let pageRun = try runProduct("mprof", ["plot", dat, "--flame", "-o", pagePath])
        #expect(pageRun.status == 0, "\(pageRun.standardError)")
        guard ChromiumPage.installed else {
            Issue.record("\(ChromiumPage.missing): the page could not be opened")
            return
        }
        let results = try ChromiumPage.results(of: pagePath, script: Self.probe, in: directory)
        // The page's data, its script and the test's driver.
        Self.expectNothingRan(results, scripts: 3, pagePath)
    }

    /// A C file whose name is the payload: its path reaches the heap flame graph through DWARF as each frame's
    /// location, in the SVG, the page and the differential page.
    @Test func aSourcePathFromDWARFStaysTextInTheFlameGraphs() throws {
        let directory = try TemporaryDirectory()
        let fileName = Self.payload + ".c"
        let source = "\(directory.path)/\(fileName)"
        try """
            #include <stdlib.h>
            void *volatile kept[100];
            __attribute__((noinline)) void fill(void) { for (int i = 0; i < 100; i++) kept[i] = malloc(1000); }
            int main(void) { fill(); return kept[99] == NULL; }
            """.write(toFile: source, atomically: false, encoding: .utf8)
        let program = "\(directory.path)/hostile"
        let compile = try runCommand("cc", ["-O1", "-g", "-o", program, source])
        try #require(compile.status == 0, "\(compile.standardError)")
        let run = try runProduct("mprof", ["run", "--heap", "-o", "\(directory.path)/run.dat", program])
        #expect(run.status == 0, "\(run.standardError)")
        let capture = "\(directory.path)/run.heap"

        let svgPath = "\(directory.path)/flame.svg"
        let flame = try runProduct("mprof", ["heap", capture, "--flame", svgPath])
        #expect(flame.status == 0, "\(flame.standardError)")
        let svg = try XMLDocument(contentsOf: URL(fileURLWithPath: svgPath), options: [])
        let locations = try svg.nodes(forXPath: "//*/@data-location").compactMap(\.stringValue)
        // XML reads a carriage return and line feed written as references back as they were.
        let fill = try #require(locations.first { $0.contains("tabindex") }, "no frame is located in the hostile file: \(locations)")
        #expect(fill.contains(Self.expected), "\(Array(fill.unicodeScalars))")

        guard ChromiumPage.installed else {
            Issue.record("\(ChromiumPage.missing): the pages could not be opened")
            return
        }
        let pagePath = "\(directory.path)/flame.html"
        #expect(try runProduct("mprof", ["heap", capture, "--flame", pagePath]).status == 0, "the page was not written")
        let page = try ChromiumPage.results(of: pagePath, script: Self.probe, in: directory)
        Self.expectNothingRan(page, scripts: 2, pagePath)

        let diffPath = "\(directory.path)/diff.html"
        let diff = try runProduct("mprof", ["heap", "diff", capture, capture, "--flame", diffPath])
        #expect(diff.status == 0, "\(diff.standardError)")
        let diffPage = try ChromiumPage.results(of: diffPath, script: Self.probe, in: directory)
        Self.expectNothingRan(diffPage, scripts: 2, diffPath)
    }

    /// Collapsed stacks are a line format: a name cannot end its line or invent a value.
    @Test func collapsedStacksKeepOneLinePerStack() throws {
        let directory = try TemporaryDirectory()
        let source = "\(directory.path)/\(Self.payload).c"
        try """
            #include <stdlib.h>
            void *volatile kept[10];
            int main(void) { for (int i = 0; i < 10; i++) kept[i] = malloc(100); return kept[9] == NULL; }
            """.write(toFile: source, atomically: false, encoding: .utf8)
        let program = "\(directory.path)/hostile"
        try #require(try runCommand("cc", ["-O1", "-g", "-o", program, source]).status == 0)
        #expect(try runProduct("mprof", ["run", "--heap", "-o", "\(directory.path)/run.dat", program]).status == 0)
        let collapsed = "\(directory.path)/run.folded"
        let result = try runProduct("mprof", ["heap", "\(directory.path)/run.heap", "--collapsed", collapsed])
        #expect(result.status == 0, "\(result.standardError)")
        let text = try String(contentsOfFile: collapsed, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        for line in lines {
            #expect(!line.unicodeScalars.contains { $0 == "\r" || $0.value < 0x20 || $0 == "\u{2028}" }, "\(Array(line.unicodeScalars))")
            let value = try #require(line.split(separator: " ").last.flatMap { Int($0) }, "a line without a value: \(line)")
            #expect(value > 0)
        }
    }
}
