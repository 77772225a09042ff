#if canImport(Glibc)
import Glibc
#endif
internal import MemoryProfilerSystem

/// A straight line fitted to memory over time by least squares, and whether memory really keeps growing (or
/// shrinking): three tests that each guard against what fools the others.
///
/// - The least-squares slope's t test (p < 0.001) finds a trend under noise that is independent from sample to sample.
/// - Samples of memory are not independent: each is close to the one before. Against that, a drift test, passed
///   either way at one-sided p < 0.01: the series in ten blocks, and Student's t on the differences between
///   consecutive block means (a leak under noise); or the change against what a random walk with the series' own
///   typical step could wander (the median absolute step, robust to the jumps of a staircase). A random walk has no
///   drift, and a stationary series that wanders (autocorrelated noise) has differences that cancel, so neither
///   passes more often than chance allows.
/// - A step that then holds (a cache filled once, a load) is a level change, not growth: the series' last quarter
///   must still rise above the one before by at least a tenth of the whole change (quarter means).
///
/// The change reported is the one observed (the mean of the last tenth of the samples less that of the first tenth),
/// not the slope times the span, and it must be at least 1 MiB. The floor does not grow with the process: 80 MiB of
/// steady growth in a 2 GiB process is growth.
public struct MemoryTrend: Sendable, Hashable {
    /// Bytes per second.
    public var slope: Double
    /// Bytes at time 0 of the series.
    public var intercept: Double
    public var samples: Int
    /// Seconds from the first sample to the last.
    public var duration: Double
    /// The mean of the values, in bytes.
    public var mean: Double
    /// The slope's t statistic (slope over its standard error), and the two-sided probability of a slope at least
    /// this steep if memory did not grow or shrink at all (Student's t with samples − 2 degrees of freedom).
    public var tStatistic: Double
    public var pValue: Double
    /// The change observed over the series, in bytes: the mean of its last tenth less the mean of its first tenth.
    public var change: Double
    /// The drift test's t statistic (the mean difference between consecutive block means over its standard error) and
    /// degrees of freedom; 0 and 0 for fewer than 8 samples.
    public var driftTStatistic: Double
    public var driftDegrees: Double
    /// The means of the series' four quarters (by sample count), first to last; empty for fewer than 8 samples.
    public var quarterMeans: [Double]
    /// The observed change over what a random walk with the series' typical step would wander in as many steps
    /// (a standard normal deviate if memory only wandered); 0 for fewer than 8 samples.
    public var walkZ: Double

    /// Whether memory keeps growing (or, with `upward` false, shrinking) by all three tests, with an observed
    /// change of at least ``smallestChange``.
    public func isSignificant(upward: Bool = true) -> Bool {
        guard upward ? change > 0 : change < 0, abs(change) >= Self.smallestChange else { return false }
        let drifts = driftPValue(upward: upward) < 0.01 || walkPValue(upward: upward) < 0.01
        return pValue < 0.001 && drifts && persists(upward: upward)
    }

    /// The one-sided probability that a random walk with the series' typical step wanders this far that way.
    public func walkPValue(upward: Bool = true) -> Double {
        guard quarterMeans.count == 4 else { return 1 }
        let directed = upward ? walkZ : -walkZ
        guard directed > 0 else { return 1 }
        return directed.isInfinite ? 0 : 0.5 * erfc(directed / 2.0.squareRoot())
    }

    /// The one-sided probability of a drift at least this strong in that direction if there were none.
    public func driftPValue(upward: Bool = true) -> Double {
        guard driftDegrees >= 1 else { return 1 }
        let directed = upward ? driftTStatistic : -driftTStatistic
        guard directed > 0 else { return 1 }
        return Self.twoSidedPValue(t: directed, degrees: driftDegrees) / 2
    }

    /// Whether the change still goes on at the end: the last quarter's mean is past the third's, that way, by at
    /// least a tenth of the change from the first quarter to the last.
    public func persists(upward: Bool = true) -> Bool {
        guard quarterMeans.count == 4 else { return false }
        let whole = abs(quarterMeans[3] - quarterMeans[0])
        let last = upward ? quarterMeans[3] - quarterMeans[2] : quarterMeans[2] - quarterMeans[3]
        return whole > 0 && last >= 0.1 * whole
    }

    /// Whether the series rose (or fell) once and then held: a change of at least ``smallestChange`` that the last
    /// quarter no longer adds to.
    public var isLevelChange: Bool {
        guard quarterMeans.count == 4, abs(change) >= Self.smallestChange else { return false }
        let whole = quarterMeans[3] - quarterMeans[0]
        return abs(whole) >= Self.smallestChange && abs(quarterMeans[3] - quarterMeans[2]) < 0.1 * abs(whole)
    }

    /// The smallest change over a series that counts: 1 MiB.
    public static let smallestChange = 1_048_576.0

    /// The least-squares line through `points` (seconds, bytes); nil for fewer than 3 points or no spread in time.
    public init?(_ points: [(time: Double, bytes: Double)]) {
        let finite = points.filter { $0.time.isFinite && $0.bytes.isFinite }.sorted { $0.time < $1.time }
        let count = Double(finite.count)
        guard finite.count >= 3 else { return nil }
        let meanTime = finite.reduce(0) { $0 + $1.time } / count
        let meanValue = finite.reduce(0) { $0 + $1.bytes } / count
        var sxx = 0.0, sxy = 0.0
        for point in finite {
            sxx += (point.time - meanTime) * (point.time - meanTime)
            sxy += (point.time - meanTime) * (point.bytes - meanValue)
        }
        guard sxx > 0 else { return nil }
        slope = sxy / sxx
        intercept = meanValue - slope * meanTime
        var residuals = 0.0
        for point in finite {
            let residual = point.bytes - (intercept + slope * point.time)
            residuals += residual * residual
        }
        let degrees = count - 2
        let standardError = degrees > 0 ? (residuals / degrees / sxx).squareRoot() : .infinity
        if standardError == 0 {
            tStatistic = slope == 0 ? 0 : .infinity
            pValue = slope == 0 ? 1 : 0
        } else {
            tStatistic = slope / standardError
            pValue = Self.twoSidedPValue(t: tStatistic, degrees: degrees)
        }
        samples = finite.count
        duration = (finite.last?.time ?? 0) - (finite.first?.time ?? 0)
        mean = meanValue

        let values = finite.map(\.bytes)
        func average(_ slice: ArraySlice<Double>) -> Double { slice.reduce(0, +) / Double(max(slice.count, 1)) }
        let tenth = max(1, values.count / 10)
        change = average(values.suffix(tenth)) - average(values.prefix(tenth))
        if values.count >= 8 {
            quarterMeans = (0..<4).map { quarter in
                average(values[values.count * quarter / 4..<values.count * (quarter + 1) / 4])
            }
            let blockCount = min(10, values.count / 4)
            let blocks = (0..<blockCount).map { block in
                average(values[values.count * block / blockCount..<values.count * (block + 1) / blockCount])
            }
            let steps = zip(blocks, blocks.dropFirst()).map { $1 - $0 }
            let stepMean = average(steps[...])
            let variance = steps.reduce(0) { $0 + ($1 - stepMean) * ($1 - stepMean) } / Double(steps.count - 1)
            let error = (variance / Double(steps.count)).squareRoot()
            driftTStatistic = error > 0 ? stepMean / error : (stepMean == 0 ? 0 : (stepMean > 0 ? .infinity : -.infinity))
            driftDegrees = Double(steps.count - 1)
            // The typical step: 1.4826 times the median absolute deviation of the steps, a standard deviation that
            // the few large jumps of a staircase do not inflate.
            let increments = zip(values, values.dropFirst()).map { $1 - $0 }.sorted()
            let median = increments[increments.count / 2]
            let deviations = increments.map { abs($0 - median) }.sorted()
            let typicalStep = 1.4826 * deviations[deviations.count / 2]
            // Between the middles of the first and last tenths.
            let span = Double(max(values.count - tenth, 1))
            let wander = typicalStep * span.squareRoot()
            walkZ = wander > 0 ? change / wander : (change == 0 ? 0 : (change > 0 ? .infinity : -.infinity))
        } else {
            quarterMeans = []
            driftTStatistic = 0
            driftDegrees = 0
            walkZ = 0
        }
    }

    /// P(|T| ≥ |t|) for Student's t with `degrees` degrees of freedom: I_x(ν/2, 1/2) with x = ν / (ν + t²).
    static func twoSidedPValue(t: Double, degrees: Double) -> Double {
        guard t.isFinite else { return 0 }
        return regularizedIncompleteBeta(degrees / (degrees + t * t), a: degrees / 2, b: 0.5)
    }

    /// The regularized incomplete beta function I_x(a, b), from its continued fraction (modified Lentz), using the
    /// symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges slowly.
    static func regularizedIncompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logFront = lgammaValue(a + b) - lgammaValue(a) - lgammaValue(b) + a * log(x) + b * log(1 - x)
        if x > (a + 1) / (a + b + 2) {
            return 1 - regularizedIncompleteBeta(1 - x, a: b, b: a)
        }
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var fraction = d
        for m in 1...300 {
            let m = Double(m)
            // The even step, then the odd one.
            var numerator = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + numerator * d
            if abs(d) < tiny { d = tiny }
            c = 1 + numerator / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            fraction *= d * c
            numerator = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + numerator * d
            if abs(d) < tiny { d = tiny }
            c = 1 + numerator / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let step = d * c
            fraction *= step
            if abs(step - 1) < 1e-12 { break }
        }
        return exp(logFront) * fraction / a
    }

    private static func lgammaValue(_ value: Double) -> Double {
        var sign: Int32 = 0
        return lgamma_r(value, &sign)
    }
}

/// What a recording says about where memory went: a leak, memory the allocator keeps, mapped files growing, or
/// nothing worth a word; with the trends behind it.
public struct MemoryVerdict: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// The heap in use grows: memory is allocated and not freed.
        case leak
        /// The heap in use does not grow, but the resident set grows or stays high after the heap shrank: the
        /// allocator keeps freed memory.
        case allocatorRetention = "allocator-retention"
        /// File-backed pages (mapped files) make the resident set grow.
        case fileGrowth = "file-growth"
        /// The resident set grows and nothing recorded says why (record with `--heap` to tell a leak from the
        /// allocator).
        case growth
        /// Nothing grows.
        case steady
        /// Too few samples, or samples spanning no time: nothing can be said.
        case unknown
    }

    public var kind: Kind
    /// The reason, with its numbers, in a sentence.
    public var explanation: String
    public var resident: MemoryTrend?
    public var heap: MemoryTrend?
    public var file: MemoryTrend?

    /// What the leak scan at the program's exit found (`mprof run --heap`): whether it ran, and the bytes of the blocks
    /// nothing pointed to.
    public struct LeakScan: Sendable, Hashable {
        public var scanned: Bool
        public var bytesLeaked: Int

        public init(scanned: Bool, bytesLeaked: Int) {
            self.scanned = scanned
            self.bytesLeaked = bytesLeaked
        }
    }

    /// Judges a recording from its resident set over time and, where recorded, the heap in use (a heap capture's
    /// timeline), the leak scan at exit, and the file-backed resident pages, each as (seconds, bytes) points.
    ///
    /// A heap that keeps growing is a `leak` only if the leak scan agrees: where it ran and found less than half of
    /// the growth unreachable, the memory is still referenced (a cache or a collection that grows) and the verdict is
    /// `growth`.
    public init(
        resident: [(time: Double, bytes: Double)], heap: [(time: Double, bytes: Double)]? = nil,
        leakScan: LeakScan? = nil, file: [(time: Double, bytes: Double)]? = nil
    ) {
        // Trends after the warm-up: the first fifth of the recording is left out of the fits (the peaks below still
        // see all of it). Growth is judged on the last half alone: a load or a warm-up, however long and large, is not
        // growth, and growth that goes on after it is (see MemoryTrend.isSignificant).
        let times = resident.map(\.time)
        let first = times.min() ?? 0, last = times.max() ?? 0
        let cut = first + 0.2 * (last - first), half = first + 0.5 * (last - first)
        func settled(_ points: [(time: Double, bytes: Double)]) -> [(time: Double, bytes: Double)] {
            let later = points.filter { $0.time >= cut }
            return later.count >= 3 ? later : points
        }
        /// The trend of the last half of the recording, when it keeps growing.
        func growth(_ points: [(time: Double, bytes: Double)]?) -> MemoryTrend? {
            guard let points, let tail = MemoryTrend(points.filter { $0.time >= half }), tail.isSignificant() else { return nil }
            return tail
        }
        let residentTrend = MemoryTrend(settled(resident))
        // The heap on the resident set's clock: its value at each sample (the timeline is a step function).
        let heapPoints = heap.map { Self.resampled($0, at: times) }
        let heapTrend = heapPoints.flatMap { MemoryTrend(settled($0)) }
        // File pages only at the resident set's own samples, and never above them (hostile or mismatched records
        // are left out).
        var residentAt: [Double: Double] = [:]
        for point in resident { residentAt[point.time] = point.bytes }
        let filePoints = file.map { points in points.filter { point in residentAt[point.time].map { point.bytes >= 0 && point.bytes <= $0 } ?? false } }
        let fileTrend = filePoints.flatMap { MemoryTrend(settled($0)) }
        self.resident = residentTrend
        self.heap = heapTrend
        self.file = fileTrend
        func mebibytes(_ bytes: Double) -> String { MemorySize(bytes: Int(bytes.rounded())).description }
        func signed(_ bytes: Double) -> String { (bytes >= 0 ? "+" : "") + mebibytes(bytes) }
        func rate(_ trend: MemoryTrend) -> String {
            signed(trend.change) + " over the last " + DecimalFormat.fixed(trend.duration, decimals: 1) + " s (p "
                + (trend.pValue < 1e-6 ? "< 1e-6" : "= " + DecimalFormat.fixed(trend.pValue, decimals: 6)) + ")"
        }
        guard let residentTrend, resident.count >= 8 else {
            kind = .unknown
            explanation = resident.count < 8
                ? "too few samples to judge (\(resident.count); 8 are needed)"
                : "the samples span no time: nothing to fit"
            return
        }
        // The last half is what growth is judged on: with fewer than 8 samples there, nothing can be said of it.
        let tailCount = resident.filter { $0.time >= half }.count
        if tailCount < 8 {
            kind = .unknown
            explanation = "too few samples to judge growth: \(tailCount) in the last half of the recording, 8 are needed "
                + "(record longer, or sample more often with -T)"
            return
        }
        let residentGrowth = growth(resident)
        if let heapGrowth = growth(heapPoints) {
            if let leakScan, leakScan.scanned, Double(leakScan.bytesLeaked) < 0.5 * heapGrowth.change {
                kind = .growth
                explanation = "the heap in use grows by \(rate(heapGrowth)), but the leak scan at exit found only "
                    + "\(mebibytes(Double(leakScan.bytesLeaked))) unreachable: the memory is still referenced "
                    + "(a cache or a collection that grows; mprof heap --view not-freed shows where)"
            } else {
                kind = .leak
                explanation = "the heap in use grows by \(rate(heapGrowth)): memory is allocated and not freed"
                    + (leakScan.map { scan in
                        scan.scanned
                            ? " (\(mebibytes(Double(scan.bytesLeaked))) unreachable at exit)"
                            : " (no leak scan was made: whether it is still referenced is unknown)"
                    } ?? "")
            }
            return
        }
        if let fileGrowth = growth(filePoints), let residentGrowth, fileGrowth.change >= 0.5 * residentGrowth.change {
            kind = .fileGrowth
            explanation = "file-backed pages grow by \(rate(fileGrowth)): "
                + "\(DecimalFormat.fixed(min(fileGrowth.change / residentGrowth.change, 1) * 100, decimals: 0))% of the "
                + "resident set's growth is mapped files"
            return
        }
        if let heapPoints, let heapTrend {
            if let residentGrowth {
                kind = .allocatorRetention
                explanation = "the resident set grows by \(rate(residentGrowth)) while the heap in use does not "
                    + "(\(signed(heapTrend.change)) after the warm-up): memory the allocator keeps, or memory not from "
                    + "malloc (mprof run --explain tells which)"
                return
            }
            // High after frees: the heap fell to half its peak or less, the resident set stayed within 80 % of its own.
            let heapPeak = max(heap?.map(\.bytes).max() ?? 0, heapPoints.map(\.bytes).max() ?? 0)
            let residentPeak = resident.map(\.bytes).max() ?? 0
            if let heapEnd = heapPoints.last?.bytes, let residentEnd = resident.last?.bytes,
                heapPeak - heapEnd >= 1_048_576, heapEnd <= 0.5 * heapPeak, residentEnd >= 0.8 * residentPeak,
                residentEnd - heapEnd >= 1_048_576
            {
                kind = .allocatorRetention
                explanation = "the heap in use fell from \(mebibytes(heapPeak)) to \(mebibytes(heapEnd)) but the resident "
                    + "set stayed at \(mebibytes(residentEnd)) of its \(mebibytes(residentPeak)) peak: the allocator keeps "
                    + "the freed memory, or memory not from malloc took its place (mprof run --explain tells which)"
                return
            }
        }
        if let residentGrowth {
            kind = .growth
            explanation = "the resident set grows by \(rate(residentGrowth)); record with --heap to tell a leak from "
                + "memory the allocator keeps"
            return
        }
        // The page cache can shrink under pressure while anonymous memory grows: the resident set then hides a leak
        // that the resident set less the file pages shows.
        if let filePoints, heapPoints == nil {
            var fileAt: [Double: Double] = [:]
            for point in filePoints { fileAt[point.time] = point.bytes }
            let anonymous = resident.compactMap { point in fileAt[point.time].map { (time: point.time, bytes: point.bytes - $0) } }
            if anonymous.count >= resident.count / 2, let anonymousGrowth = growth(anonymous) {
                kind = .growth
                explanation = "memory other than file pages grows by \(rate(anonymousGrowth)) while the file pages "
                    + "shrink (the kernel drops page cache): the resident set hides it; record with --heap to tell a leak "
                    + "from memory the allocator keeps"
                return
            }
        }
        kind = .steady
        let floor = mebibytes(MemoryTrend.smallestChange)
        if residentTrend.isLevelChange || (heapTrend?.isLevelChange ?? false) {
            let stepped = residentTrend.isLevelChange ? residentTrend : heapTrend ?? residentTrend
            explanation = "a level change, not growth: the \(residentTrend.isLevelChange ? "resident set" : "heap in use") "
                + "\(stepped.change >= 0 ? "rose" : "fell") by \(mebibytes(abs(stepped.change))) after the warm-up and then "
                + "held (a cache filled once, a load)"
            return
        }
        explanation = "no lasting growth: the resident set changes by \(signed(residentTrend.change)) after the warm-up "
            + "(growth counts in the last half of the recording: at p < 0.001, with a drift from block to block at "
            + "p < 0.01, still rising in its last quarter, and at least \(floor))"
            + (heapTrend.map { ", the heap in use by \(signed($0.change))" } ?? "")
    }

    /// The value of the step function `points` at each of `times` (the last point at or before it; 0 before all).
    static func resampled(_ points: [(time: Double, bytes: Double)], at times: [Double]) -> [(time: Double, bytes: Double)] {
        let sorted = points.sorted { $0.time < $1.time }
        var index = 0
        var current = 0.0
        var result: [(time: Double, bytes: Double)] = []
        for time in times.sorted() {
            while index < sorted.count && sorted[index].time <= time {
                current = sorted[index].bytes
                index += 1
            }
            result.append((time, current))
        }
        return result
    }
}

extension MemoryVerdict {
    /// The verdict on a recording: its samples, and the heap capture of the same run (`mprof run --heap`) if there is
    /// one. Both clocks are the wall clock.
    public init(recording: MprofFile, heap: HeapCapture? = nil) {
        // The last run of the file (runs appended with -o again are judged apart: the last one).
        let start = recording.runStarts.last.map { min($0, recording.samples.count) } ?? 0
        var samples = recording.samples[start...]
        var times = samples.map(\.wallClock)
        var span = (times.min() ?? 0)...(times.max() ?? 0)
        // A capture counts only if it is this run's: it must cover most of the run's samples.
        var timeline: [(time: Double, bytes: Double)]?
        if let heap {
            let captureSpan = heap.startTime...(heap.startTime + heap.summary.duration + 0.5)
            let covered = times.filter { captureSpan.contains($0) }.count
            if !times.isEmpty, captureSpan.lowerBound <= span.lowerBound + 1, Double(covered) >= 0.8 * Double(times.count) {
                timeline = heap.heapTimeline.map { (time: heap.startTime + $0.time, bytes: Double($0.bytes)) }
                // Samples taken while the hook did its work at exit (the leak scan) show that work, not the program.
                if let started = heap.summary.exitWorkStarted {
                    let end = heap.startTime + started + 0.001
                    let kept = samples.prefix { $0.wallClock <= end }
                    if kept.count >= 8 { samples = kept }
                    times = samples.map(\.wallClock)
                    span = (times.min() ?? 0)...(times.max() ?? 0)
                }
            }
        }
        let resident = samples.map { (time: $0.wallClock, bytes: Double($0.memory.bytes)) }
        let files = recording.fileSamples.filter { span.contains($0.wallClock) }
        self.init(
            resident: resident, heap: timeline,
            leakScan: timeline == nil ? nil : heap.map {
                LeakScan(scanned: $0.summary.reachabilityScanned, bytesLeaked: $0.summary.bytesLeaked)
            },
            file: files.isEmpty ? nil : files.map { (time: $0.wallClock, bytes: Double($0.memory.bytes)) })
        if heap != nil && timeline == nil {
            explanation += " (the heap capture beside the file is not this run's: left out)"
        }
        if !recording.children.isEmpty {
            explanation += " (the main process only: its \(recording.children.count) descendants were recorded apart)"
        }
    }
}
