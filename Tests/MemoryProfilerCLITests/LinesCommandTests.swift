import Foundation
import MemoryProfiler
import MemoryProfilerTestSupport
import Testing

/// `mprof lines` on a profile that a real profiled program saved.
@Suite struct LinesCommandTests {
    @Test func printsASavedProfileWithTheChosenPrecisionAndColumns() throws {
        let json = try savedProfile()
        defer { try? FileManager.default.removeItem(atPath: json) }
        let report = try JSONDecoder().decode(LineProfileReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))

        let classic = try runProduct("mprof", ["lines", json, "--precision", "3", "--style", "classic"])
        #expect(classic.status == 0, "\(classic.standardError)")
        #expect(classic.standardOutput == report.text(precision: 3, style: .classic))
        #expect(classic.standardOutput.contains("Line #    Mem usage    Increment  Occurrences   Line Contents\n"))

        let only = try runProduct("mprof", ["lines", json, "--function", "loops(_:)", "--format", "json"])
        #expect(only.status == 0, "\(only.standardError)")
        let filtered = try JSONDecoder().decode(LineProfileReport.self, from: Data(only.standardOutput.utf8))
        #expect(filtered.functions.map(\.name) == ["loops(_:)"])
        #expect(filtered.functions == report.functions.filter { $0.name == "loops(_:)" })
    }

    @Test(arguments: [
        (["lines", "/nonexistent/profile.json"], "Error: cannot read /nonexistent/profile.json"),
        (["lines", "GARBAGE"], "is not a line profile (the JSON that MPROF_LINE_JSON writes)"),
        (["lines", "PROFILE", "--function", "nothing()"], "Error: no function named nothing() in"),
        (["lines", "PROFILE", "--precision", "40"], "Error: --precision must be from 0 to 12"),
    ])
    func badInputGetsAClearErrorAndAFailingStatus(arguments: [String], message: String) throws {
        let json = try savedProfile()
        let garbage = temporaryFile("not json {")
        defer {
            try? FileManager.default.removeItem(atPath: json)
            try? FileManager.default.removeItem(atPath: garbage)
        }
        let resolved = arguments.map { $0 == "PROFILE" ? json : $0 == "GARBAGE" ? garbage : $0 }
        let result = try runProduct("mprof", resolved)
        #expect(result.status != 0)
        #expect(result.standardError.contains(message), "\(result.standardError)")
        #expect(!result.standardError.contains("Fatal error"))
    }

    private func savedProfile() throws -> String {
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("lines-\(UUID()).json").path
        let run = try runProduct("line-workload", ["loops"], environment: ["MPROF_LINE_JSON": json, "MPROF_LINE_REPORT": "none"])
        try #require(run.status == 0, "\(run.standardError)")
        return json
    }

    private func temporaryFile(_ contents: String) -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lines-\(UUID()).txt").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(contents.utf8))
        return path
    }
}
