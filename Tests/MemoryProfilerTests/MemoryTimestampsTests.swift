import Foundation
import MemoryProfilerTestSupport
import Testing

@testable import MemoryProfiler

/// Function timestamps keep process-wide state, so each test runs in an exit test of its own.
@Suite struct MemoryTimestampsTests {
    @Test func nestedRegionsAreRecordedWithTheirLevelsAndMemory() async {
        await #expect(processExitsWith: .success) {
            var held: UnsafeMutableRawPointer?
            let result = withMemoryTimestamp("outer") {
                held = touchedAllocation(mebibytes: 30)
                return withMemoryTimestamp("inner") { usleep(5_000); return 7 }
            }
            held?.deallocate()
            #expect(result == 7)
            let records = MemoryTimestamps.records
            try #require(records.map(\.name) == ["inner", "outer"])
            let inner = records[0], outer = records[1]
            #expect(inner.level == 1 && outer.level == 0)
            #expect((outer.endMemory - outer.startMemory).mebibytes >= 29)
            #expect(outer.startWallClock <= inner.startWallClock && inner.endWallClock <= outer.endWallClock)
            #expect(inner.duration >= 0.004)
            #expect(!MemoryTimestamps.isWritingToFile)
        }
    }

    @Test func aThrowingRegionIsRecordedToo() async {
        await #expect(processExitsWith: .success) {
            struct Failure: Error {}
            #expect(throws: Failure.self) { try withMemoryTimestamp("fails") { throw Failure() } }
            #expect(MemoryTimestamps.records.map(\.name) == ["fails"])
        }
    }

    @Test func asyncRegionsKeepTheirLevelAcrossSuspensions() async {
        await #expect(processExitsWith: .success) {
            try await withMemoryTimestamp("request") {
                try await Task.sleep(for: .milliseconds(5))
                try await withMemoryTimestamp("query") { try await Task.sleep(for: .milliseconds(5)) }
            }
            let levels = Dictionary(uniqueKeysWithValues: MemoryTimestamps.records.map { ($0.name, $0.level) })
            #expect(levels == ["query": 1, "request": 0])
        }
    }

    @Test func underMprofRunRecordsAreAppendedToTheDatFileAsFUNCLines() async {
        await #expect(processExitsWith: .success) {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("func-\(getpid()).dat").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            try "MEM 1.000000 1.0000\n".write(toFile: path, atomically: false, encoding: .utf8)
            setenv(MemoryTimestamps.outputFileVariable, path, 1)
            withMemoryTimestamp("grow") { withMemoryTimestamp("step one") {} }
            #expect(MemoryTimestamps.isWritingToFile)
            #expect(MemoryTimestamps.records.isEmpty)
            let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            try #require(lines.count == 3)
            #expect(lines[0] == "MEM 1.000000 1.0000")
            let inner = lines[1].split(separator: " "), outer = lines[2].split(separator: " ")
            // A name with a blank would break memory_profiler's reader, which splits on blanks.
            #expect(inner.count == 7 && inner[0] == "FUNC" && inner[1] == "step_one" && inner[6] == "1")
            #expect(outer.count == 7 && outer[1] == "grow" && outer[6] == "0")
            let start = try #require(Double(outer[3])), end = try #require(Double(outer[5]))
            #expect(abs(start - Date().timeIntervalSince1970) < 5 && start <= end)
        }
    }
}
