import Foundation
@testable import MemoryProfiler
import Testing

/// The statistics under the verdicts: least squares and Student's t, checked against values from t tables.
struct MemoryVerdictTests {
    @Test func studentsTMatchesTheTables() {
        // Two-sided p for (t, degrees of freedom), from standard tables.
        let table: [(t: Double, degrees: Double, p: Double)] = [
            (2.228, 10, 0.05), (3.169, 10, 0.01), (4.587, 10, 0.001), (1.96, 1e6, 0.05), (2.042, 30, 0.05),
            (12.706, 1, 0.05), (0, 5, 1),
        ]
        for row in table {
            let p = MemoryTrend.twoSidedPValue(t: row.t, degrees: row.degrees)
            #expect(abs(p - row.p) <= row.p * 0.01 + 1e-9, "t \(row.t), df \(row.degrees): \(p), table \(row.p)")
        }
    }

    @Test func aLineIsFoundAndNoiseIsNotASlope() throws {
        // 2 MiB a second, exactly.
        let line: [(time: Double, bytes: Double)] = (0..<50).map { index in
            let time = Double(index) * 0.1
            return (time: time, bytes: 100e6 + 2_097_152 * time)
        }
        let trend = try #require(MemoryTrend(line))
        #expect(abs(trend.slope - 2_097_152) < 1e-3 && trend.pValue == 0 && trend.isSignificant())
        // A flat series with alternating noise of ±1 MiB: no slope.
        let flat: [(time: Double, bytes: Double)] = (0..<50).map { index in
            let noise: Double = index % 2 == 0 ? 1_048_576 : -1_048_576
            return (time: Double(index) * 0.1, bytes: 100e6 + noise)
        }
        let noise = try #require(MemoryTrend(flat))
        #expect(!noise.isSignificant() && !noise.isSignificant(upward: false), "\(noise)")
        #expect(MemoryTrend([(0, 1), (1, 2)]) == nil && MemoryTrend([(1, 1), (1, 2), (1, 3)]) == nil)
    }

    @Test func verdictsOnSeriesWithAKnownStory() {
        let times: [Double] = (0..<40).map { Double($0) * 0.05 }
        // Heap and RSS grow together: a leak.
        let growing: [(time: Double, bytes: Double)] = times.map { time in (time: time, bytes: 10e6 + 20e6 * time) }
        #expect(MemoryVerdict(resident: growing, heap: growing).kind == .leak)
        #expect(MemoryVerdict(resident: growing).kind == .growth)
        // RSS grows, the heap does not: retention (or memory not from malloc).
        let flatHeap: [(time: Double, bytes: Double)] = times.map { time in (time: time, bytes: 5e6) }
        #expect(MemoryVerdict(resident: growing, heap: flatHeap).kind == .allocatorRetention)
        // A load, then a plateau: steady.
        let plateau: [(time: Double, bytes: Double)] = times.map { time in (time: time, bytes: time < 0.2 ? 1e6 : 50e6) }
        #expect(MemoryVerdict(resident: plateau, heap: plateau).kind == .steady)
        // File pages make the growth.
        let files: [(time: Double, bytes: Double)] = growing.map { point in (time: point.time, bytes: point.bytes - 10e6) }
        #expect(MemoryVerdict(resident: growing, file: files).kind == .fileGrowth)
        #expect(MemoryVerdict(resident: [(0, 1)]).kind == .unknown)
        #expect(MemoryVerdict(resident: (0..<8).map { (time: 1.0, bytes: Double($0)) }).kind == .unknown)
        #expect(MemoryVerdict(resident: Array(growing.prefix(7))).kind == .unknown)
        // A load over the first 40 % of the run, then flat: not a leak, not growth.
        let slowLoad: [(time: Double, bytes: Double)] = times.map { time in (time: time, bytes: 1e6 + 60e6 * min(time / 0.8, 1)) }
        #expect(MemoryVerdict(resident: slowLoad, heap: slowLoad).kind == .steady)
        #expect(MemoryVerdict(resident: slowLoad).kind == .steady)
        // FILE records that match no sample, or exceed it, are left out.
        let stray: [(time: Double, bytes: Double)] = growing.map { point in (time: point.time + 5000, bytes: point.bytes) }
        #expect(MemoryVerdict(resident: growing, file: stray).kind == .growth)
        let larger: [(time: Double, bytes: Double)] = growing.map { point in (time: point.time, bytes: point.bytes * 2) }
        #expect(MemoryVerdict(resident: growing, file: larger).kind == .growth)
    }

    static let mebibyte = 1_048_576.0

    /// A recording of `count` samples 0.1 s apart whose bytes are `value(index, random)`.
    static func series(
        _ count: Int = 200, seed: UInt64, _ value: (Int, inout SeededRandom) -> Double
    ) -> [(time: Double, bytes: Double)] {
        var random = SeededRandom(seed: seed)
        return (0..<count).map { index in (time: Double(index) * 0.1, bytes: value(index, &random)) }
    }

    /// A cache filled once and held is a level change, reported as the step it was (not the slope times the span,
    /// 1.5 times the step), with the heap's leak scan or without it.
    @Test func aStepThatHoldsIsALevelChangeOfItsOwnSize() throws {
        let step = 100 * Self.mebibyte
        let resident = Self.series(seed: 1) { index, random in 500 * Self.mebibyte + (index >= 90 ? step : 0) + random.normal() * 2 * Self.mebibyte }
        let heap = Self.series(seed: 2) { index, _ in 300 * Self.mebibyte + (index >= 90 ? step : 0) }
        for verdict in [
            MemoryVerdict(resident: resident), MemoryVerdict(resident: resident, heap: heap),
            MemoryVerdict(resident: resident, heap: heap, leakScan: .init(scanned: true, bytesLeaked: 0)),
        ] {
            #expect(verdict.kind == .steady, "\(verdict.explanation)")
            #expect(verdict.explanation.contains("level change") && verdict.explanation.contains("rose by 99.") || verdict.explanation.contains("rose by 10"), "\(verdict.explanation)")
            let observed = try #require(verdict.resident).change
            #expect(abs(observed - step) <= 0.05 * step, "observed \(observed / Self.mebibyte) MiB for a step of 100")
        }
    }

    /// The floor is 1 MiB, not a share of the process: 80 MiB of steady growth in a 2 GiB process is growth, and a
    /// 20 MiB leak in a 500 MiB one is a leak.
    @Test func growthInALargeProcessCounts() {
        let large = Self.series(seed: 3) { index, random in 2048 * Self.mebibyte + Double(index) * 0.4 * Self.mebibyte + random.normal() * 4 * Self.mebibyte }
        let verdict = MemoryVerdict(resident: large)
        #expect(verdict.kind == .growth, "\(verdict.explanation)")
        let resident = Self.series(seed: 4) { index, random in 500 * Self.mebibyte + Double(index) * 0.1 * Self.mebibyte + random.normal() * Self.mebibyte }
        let heap = Self.series(seed: 5) { index, _ in 100 * Self.mebibyte + Double(index) * 0.1 * Self.mebibyte }
        let leak = MemoryVerdict(resident: resident, heap: heap, leakScan: .init(scanned: true, bytesLeaked: 20 << 20))
        #expect(leak.kind == .leak && leak.explanation.contains("20.0 MiB unreachable at exit"), "\(leak.explanation)")
        #expect(MemoryVerdict(resident: resident, heap: heap).kind == .leak)
        // The same growth with every block still referenced at exit: growth (a cache that grows), not a leak.
        let referenced = MemoryVerdict(resident: resident, heap: heap, leakScan: .init(scanned: true, bytesLeaked: 0))
        #expect(referenced.kind == .growth && referenced.explanation.contains("still referenced"), "\(referenced.explanation)")
        let unscanned = MemoryVerdict(resident: resident, heap: heap, leakScan: .init(scanned: false, bytesLeaked: 0))
        #expect(unscanned.kind == .leak && unscanned.explanation.contains("no leak scan was made"), "\(unscanned.explanation)")
    }

    /// Series with no trend but memory from one sample to the next: stationary autocorrelated noise (AR(1), φ 0.95)
    /// and random walks. The plain t test found a slope in 169–179 of 200 random walks; the verdict may call no more
    /// than chance allows (1 % one-sided, with room for the blocks' own correlation).
    @Test func autocorrelatedSeriesWithoutATrendAreSteady() {
        var stationaryGrowth = 0
        for seed in 0..<40 {
            var level = 0.0
            let points = Self.series(seed: 100 + UInt64(seed)) { _, random in
                level = 0.95 * level + random.normal() * 2 * Self.mebibyte
                return 300 * Self.mebibyte + level
            }
            if MemoryVerdict(resident: points).kind != .steady { stationaryGrowth += 1 }
        }
        #expect(stationaryGrowth == 0, "\(stationaryGrowth) of 40 stationary series were judged growing")
        var walkGrowth = 0
        for seed in 0..<200 {
            var level = 0.0
            let points = Self.series(seed: 1000 + UInt64(seed)) { _, random in
                level += random.normal() * Self.mebibyte
                return 300 * Self.mebibyte + level
            }
            if MemoryVerdict(resident: points).kind == .growth { walkGrowth += 1 }
        }
        #expect(walkGrowth <= 6, "\(walkGrowth) of 200 random walks were judged growing")
    }

    /// A long, large warm-up (1 GiB over the first 40 %) and then a slow leak: the leak is what counts, and what is
    /// reported. A leak that starts late (the last 30 %) is growth too; a fill that ends at 60 % is not.
    @Test func growthAfterAWarmUpOrLateInTheRunCounts() throws {
        let rampThenLeak = Self.series(seed: 7) { index, random in
            let ramp = min(Double(index) / 80, 1) * 1024 * Self.mebibyte
            return 100 * Self.mebibyte + ramp + Double(max(index - 80, 0)) * 0.25 * Self.mebibyte + random.normal() * Self.mebibyte
        }
        let verdict = MemoryVerdict(resident: rampThenLeak)
        #expect(verdict.kind == .growth, "\(verdict.explanation)")
        // The last half: 100 samples of 0.25 MiB.
        #expect(verdict.explanation.contains("grows by +2"), "\(verdict.explanation)")
        let late = Self.series(seed: 8) { index, random in
            300 * Self.mebibyte + Double(max(index - 140, 0)) * 0.5 * Self.mebibyte + random.normal() * Self.mebibyte
        }
        #expect(MemoryVerdict(resident: late).kind == .growth)
        let fill = Self.series(seed: 9) { index, random in
            300 * Self.mebibyte + min(max(Double(index - 60) / 60, 0), 1) * 200 * Self.mebibyte + random.normal() * Self.mebibyte
        }
        let filled = MemoryVerdict(resident: fill)
        #expect(filled.kind == .steady, "\(filled.explanation)")
    }

    /// Found by an adversarial pass: a leak that starts at 60 % or in the last tenth is growth; 8 to 15 samples of a
    /// straight leak are too few to judge (never "steady"), 16 are enough; a leak the shrinking page cache hides from the resident
    /// set is growth.
    @Test func lateLeaksShortRecordingsAndHiddenLeaks() throws {
        for start in [600, 900] {
            let late: [(time: Double, bytes: Double)] = (0..<1000).map { index in
                let leaked: Double = Double(max(index - start, 0)) * 0.35
                return (time: Double(index) * 0.1, bytes: (100 + leaked) * Self.mebibyte)
            }
            let verdict = MemoryVerdict(resident: late)
            #expect(verdict.kind == .growth, "a leak from sample \(start): \(verdict.explanation)")
        }
        for count in [8, 12, 16] {
            let short: [(time: Double, bytes: Double)] = (0..<count).map { index in
                (time: Double(index), bytes: (100 + 10 * Double(index)) * Self.mebibyte)
            }
            let verdict = MemoryVerdict(resident: short)
            // 8 samples are needed in the last half: 16 in all.
            #expect(verdict.kind == (count < 16 ? .unknown : .growth), "\(count) samples: \(verdict.explanation)")
        }
        let resident = Self.series(seed: 10) { _, random in 200 * Self.mebibyte + random.normal() * 0.5 * Self.mebibyte }
        let file: [(time: Double, bytes: Double)] = resident.enumerated().map { index, point in
            (time: point.time, bytes: (150 - 0.5 * Double(index)) * Self.mebibyte)
        }
        let hidden = MemoryVerdict(resident: resident, file: file)
        #expect(hidden.kind == .growth && hidden.explanation.contains("file pages shrink"), "\(hidden.explanation)")
    }

    /// Memory freed in waves (a sawtooth 50 MiB high) over a floor that rises by 20 MiB: growth, whatever the period
    /// (an adversarial pass found periods of 100-300 samples called steady before the verdict judged the last half);
    /// the same sawtooth over a flat floor is steady, except with waves as long as a tenth of the recording.
    @Test(arguments: [20, 50, 100, 150, 300])
    func aRisingFloorUnderASawtoothIsGrowth(period: Int) {
        func sawtooth(rise: Double) -> [(time: Double, bytes: Double)] {
            (0..<3000).map { index in
                let wave = 50 * Double(index % period) / Double(period)
                return (time: Double(index) * 0.1, bytes: (200 + wave + rise * Double(index) / 3000) * Self.mebibyte)
            }
        }
        let rising = MemoryVerdict(resident: sawtooth(rise: 20))
        #expect(rising.kind == .growth, "period \(period): \(rising.explanation)")
        let flat = MemoryVerdict(resident: sawtooth(rise: 0))
        if period >= 300 {
            // Five waves in the judged half: the random-walk drift test trusts the median step, which is the wave's
            // steady rise, and takes the half-wave left over at the edges for a change. Open work.
            withKnownIssue("a flat sawtooth of few, long waves reads as growth") {
                #expect(flat.kind == .steady, "period \(period), flat: \(flat.explanation)")
            }
        } else {
            #expect(flat.kind == .steady, "period \(period), flat: \(flat.explanation)")
        }
    }

    /// A staircase that keeps climbing to the end is growth, with its observed height.
    @Test func aStaircaseToTheEndIsGrowth() throws {
        let staircase = Self.series(seed: 6) { index, random in 200 * Self.mebibyte + Double(index / 20) * 16 * Self.mebibyte + random.normal() * Self.mebibyte }
        let verdict = MemoryVerdict(resident: staircase)
        #expect(verdict.kind == .growth, "\(verdict.explanation)")
    }
}

/// SplitMix64 with normal deviates (Box–Muller): the same series on every run.
struct SeededRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1 }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    mutating func uniform() -> Double { (Double(next() >> 11) + 1) / 9_007_199_254_740_992 }

    mutating func normal() -> Double {
        (-2 * log(uniform())).squareRoot() * cos(2 * Double.pi * uniform())
    }
}
