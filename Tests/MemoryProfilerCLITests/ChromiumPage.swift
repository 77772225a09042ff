import Foundation
import MemoryProfilerTestSupport
import Testing

/// A page of mprof's driven in headless Chromium (Debian's): a script added after the page's own runs real DOM events
/// and leaves what it found, as JSON, in a `<pre id="results">` that the test reads back from the dumped DOM.
enum ChromiumPage {
    static let installed = FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium")
    static let missing: Comment = "chromium is not installed (apt-get install chromium; .ci/run installs it)"

    /// Runs `script` (the body of a function; it fills the object `results`) after `page`'s own scripts.
    static func results(
        of page: String, script: String, in directory: TemporaryDirectory, windowSize: String = "800,600"
    ) throws -> [String: Any] {
        let driver = """
            <script>
            (function () {
              const results = {};
            \(script)
              const out = document.createElement('pre');
              out.id = 'results';
              out.textContent = JSON.stringify(results);
              document.body.appendChild(out);
            })();
            </script>
            """
        let html = try String(contentsOfFile: page, encoding: .utf8)
        let driven = "\(directory.path)/driven-\(UUID().uuidString).html"
        try html.replacingOccurrences(of: "</body>", with: driver + "</body>").write(toFile: driven, atomically: true, encoding: .utf8)
        let browser = try runCommand(
            "chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000", "--window-size=\(windowSize)", "--dump-dom", "file://\(driven)"])
        #expect(browser.status == 0, "\(browser.standardError)")
        let dom = browser.standardOutput
        let start = try #require(dom.range(of: "<pre id=\"results\">"), "no results in the page: \(dom.suffix(500))")
        let end = try #require(dom.range(of: "</pre>", range: start.upperBound..<dom.endIndex))
        let json = String(dom[start.upperBound..<end.lowerBound])
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
        return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }
}
