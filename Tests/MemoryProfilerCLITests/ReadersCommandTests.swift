import Foundation
import MemoryProfiler
import MemoryProfilerTestSupport
import Testing

/// `mprof readers`, run as the built binary on real processes.
@Suite struct ReadersCommandTests {
    struct Report: Decodable {
        struct Row: Decodable {
            struct Cost: Decodable {
                var count: Int
                var repeats: Int
                var medianSeconds: Double
                var minimumSeconds: Double
                var maximumSeconds: Double
                var medianMicrosecondsPerReading: Double
            }
            var reader: String
            var bytes: Int?
            var error: String?
            var cost: Cost?
        }
        var pid: Int32
        var readings: [Row]
    }

    @Test func readsAnotherProcessWithEveryReaderAndExplainsTheOnesThatCannot() throws {
        let workload = try Workload(["hold", "64"])
        try #require(try workload.readLine() == "ok")
        let result = try runProduct("mprof", ["readers", "--pid", "\(workload.id)", "--format", "json"])
        #expect(result.status == 0, "\(result.standardError)")
        let report = try JSONDecoder().decode(Report.self, from: Data(result.standardOutput.utf8))
        #expect(report.pid == workload.id.rawValue)
        #expect(report.readings.map(\.reader) == MemoryReader.allCases.map(\.rawValue))
        for row in report.readings {
            if row.reader == "maxrss" || row.reader == "heap" {
                #expect(row.bytes == nil)
                #expect(row.error?.contains("only the current process") == true)
            } else {
                let bytes = try #require(row.bytes, "\(row.reader): \(row.error ?? "")")
                #expect(bytes >= 60 << 20, "\(row.reader) read \(bytes) bytes of a process holding 64 MiB")
            }
        }
    }

    @Test func theTableNamesEachReaderAndWhatItMeasures() throws {
        let result = try runProduct("mprof", ["readers"])
        #expect(result.status == 0)
        let lines = result.standardOutput.split(separator: "\n")
        #expect(lines.first?.contains("(mprof itself)") == true)
        for reader in MemoryReader.allCases {
            let line = try #require(lines.first { $0.hasPrefix(reader.rawValue + " ") })
            #expect(line.contains(reader.summary))
            #expect(line.contains(" MiB") || line.contains(where: \.isNumber))
        }
    }

    @Test func benchTimesEveryReader() throws {
        let result = try runProduct(
            "mprof", ["readers", "--bench", "--count", "20", "--repeats", "3", "--format", "json"])
        #expect(result.status == 0, "\(result.standardError)")
        let report = try JSONDecoder().decode(Report.self, from: Data(result.standardOutput.utf8))
        for row in report.readings {
            let cost = try #require(row.cost, "\(row.reader) was not timed")
            #expect(cost.count == 20 && cost.repeats == 3)
            #expect(cost.minimumSeconds > 0)
            #expect(cost.minimumSeconds <= cost.medianSeconds && cost.medianSeconds <= cost.maximumSeconds)
            #expect(abs(cost.medianMicrosecondsPerReading - cost.medianSeconds / 20 * 1e6) < 1e-6)
        }
    }

    @Test func aPIDThatDoesNotExistIsAClearErrorAndANonZeroExit() throws {
        let result = try runProduct("mprof", ["readers", "--pid", "4194303", "--reader", "rss"])
        #expect(result.status != 0)
        #expect(result.standardOutput.contains("error: no process with PID 4194303"))
        #expect(!result.standardError.contains("Fatal error"))
    }

    @Test(arguments: [
        (["readers", "--pid", "abc"], "--pid"),
        (["readers", "--reader", "vms"], "--reader"),
        (["readers", "--bench", "--count", "0"], "--count must be from 1 to 10000000"),
    ])
    func badArgumentsAreRejectedWithAUsageMessage(arguments: [String], mentions: String) throws {
        let result = try runProduct("mprof", arguments)
        #expect(result.status == 64)
        #expect(result.standardError.contains("Error:"))
        #expect(result.standardError.contains(mentions))
    }
}
