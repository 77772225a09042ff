import Indexing
import MemoryProfilerTesting
import XCTest

/// The same budgets in XCTest, for suites that have not moved to Swift Testing.
final class LegacyTests: XCTestCase {
    func testHoldsLessThanItsPeakLimit() throws {
        let buffer = try assertMemory(peakBelow: .mebibytes(32)) { filledBuffer(bytes: 24 << 20) }
        XCTAssertEqual(buffer.count, 24 << 20)
    }

    func testHoldsMoreThanItsPeakLimit() throws {
        try assertMemory(peakBelow: .mebibytes(16)) {
            let buffer = filledBuffer(bytes: 24 << 20)
            XCTAssertEqual(buffer.count, 24 << 20)
        }
    }

    func testLeavesARetainCycle() throws {
        try assertMemory(noLeaks: true) { openObservedSession(name: "legacy") }
    }
}
