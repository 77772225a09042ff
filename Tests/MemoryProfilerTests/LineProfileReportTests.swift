import Foundation
import MemoryProfiler
import Testing

@Suite struct LineProfileReportTests {
    /// memory_profiler's own output for these numbers (reference/mprof-samples/line_report_precision3.txt).
    @Test func classicTextMatchesMemoryProfilersReportCharacterForCharacter() {
        let expected = """
            Filename: numpy_example.py

            Line #    Mem usage    Increment  Occurrences   Line Contents
            =============================================================
                 4   61.996 MiB   61.996 MiB           1   @profile
                 5                                         def compute():
                 6   69.629 MiB    7.633 MiB           1       a = np.ones((1000, 1000))          # ~7.6 MiB float64
                10  112.559 MiB    0.000 MiB           6       for i in range(5):
                13   82.039 MiB  -30.520 MiB           1       del b



            """
        let report = LineProfileReport(functions: [
            FunctionLineProfile(
                name: "compute", file: "numpy_example.py", calls: 1, precision: nil,
                lines: [
                    line(4, "@profile", 1, 61.996, 61.996),
                    LineProfile(
                        number: 5, contents: "def compute():", occurrences: 0, memoryUsage: nil, increment: nil,
                        peak: nil, heapIncrement: nil),
                    line(6, "    a = np.ones((1000, 1000))          # ~7.6 MiB float64", 1, 69.629, 7.633),
                    line(10, "    for i in range(5):", 6, 112.559, 0),
                    line(13, "    del b", 1, 82.039, -30.520),
                ])
        ])
        #expect(report.text(precision: 3, style: .classic) == expected)
    }

    @Test func extendedTextAddsPeakAndHeapAndHonoursTheFunctionsPrecision() {
        var profile = line(7, "    let table = build()", 2, 200, 190)
        profile.peak = MemorySize(mebibytes: 300)
        profile.heapIncrement = MemorySize(mebibytes: 189.5)
        let report = LineProfileReport(
            functions: [FunctionLineProfile(name: "f", file: "f.swift", calls: 2, precision: 2, lines: [profile])],
            notes: ["a note"])
        let text = report.text(precision: 1, style: .extended)
        #expect(text.contains("Line #    Mem usage    Increment  Occurrences         Peak         Heap   Line Contents\n"))
        #expect(text.contains(String(repeating: "=", count: 87) + "\n"))
        #expect(text.contains("     7   200.00 MiB   190.00 MiB           2   300.00 MiB   189.50 MiB       let table = build()\n"))
        #expect(text.hasSuffix("Note: a note\n"))
    }

    @Test func jsonRoundTripsThroughFoundationsDecoder() throws {
        var odd = line(3, "    let s = \"tab\\there\" // ü \u{1}", 1, 10, -2)
        odd.peak = MemorySize(bytes: 12_345_678)
        let report = LineProfileReport(
            functions: [
                FunctionLineProfile(
                    name: "Catalog.load(from:)", file: "/tmp/a \"b\".swift", calls: 3, precision: nil,
                    lines: [
                        odd,
                        LineProfile(
                            number: 4, contents: "}", occurrences: 0, memoryUsage: nil, increment: nil, peak: nil,
                            heapIncrement: nil),
                    ])
            ],
            notes: ["Peak is a lower bound"])
        let decoded = try JSONDecoder().decode(LineProfileReport.self, from: Data(report.json().utf8))
        #expect(decoded == report)
    }

    private func line(_ number: Int, _ text: String, _ occurrences: Int, _ usage: Double, _ increment: Double)
        -> LineProfile
    {
        LineProfile(
            number: number, contents: text, occurrences: occurrences, memoryUsage: MemorySize(mebibytes: usage),
            increment: MemorySize(mebibytes: increment), peak: nil, heapIncrement: nil)
    }
}
