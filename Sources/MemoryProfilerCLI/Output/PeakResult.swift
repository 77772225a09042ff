import ArgumentParser
import FoundationEssentials
import MemoryProfiler
import MemoryReports
import MemoryProfilerSystem

/// What `mprof peak` reports of one recording: its text, and with --json its JSON.
struct PeakResult: Codable {
    struct Child: Codable {
        var pid: Int32
        var peakMebibytes: Double
    }

    var file: String
    var function: String?
    var peakMebibytes: Double
    /// Nil when the program ended before its first sample.
    var sampledPeakMebibytes: Double?
    var source: MprofFile.Peak.Source
    var children: [Child]
    /// With --verdict.
    var verdict: Verdict?

    /// `MemoryVerdict` as JSON and text.
    struct Verdict: Codable {
        /// A `MemoryTrend` in its own names (bytes and seconds), with the two tests' answers for a rise.
        struct Trend: Codable {
            var slope: Double
            var change: Double
            var duration: Double
            var samples: Int
            var pValue: Double
            /// The drift test's one-sided p for a rise (`MemoryTrend.driftPValue(upward:)`).
            var driftPValue: Double
            /// `MemoryTrend.isSignificant(upward:)` for a rise.
            var isSignificant: Bool

            init(_ trend: MemoryTrend) {
                slope = trend.slope
                change = trend.change
                duration = trend.duration
                samples = trend.samples
                pValue = trend.pValue
                driftPValue = trend.driftPValue(upward: true)
                isSignificant = trend.isSignificant(upward: true)
            }
        }

        var kind: MemoryVerdict.Kind
        var explanation: String
        var resident: Trend?
        var heap: Trend?

        init(_ verdict: MemoryVerdict) {
            kind = verdict.kind
            explanation = verdict.explanation
            resident = verdict.resident.map(Trend.init)
            heap = verdict.heap.map(Trend.init)
        }
    }

    /// memory_profiler's lines, with control characters in the file name escaped.
    var text: String {
        var line = "\(TerminalText.escaped(file))\t\(Self.mebibytes(peakMebibytes)) MiB"
        if source == .kernelHighWaterMark {
            if let sampledPeakMebibytes {
                line += "\t(kernel high-water mark; highest sample \(Self.mebibytes(sampledPeakMebibytes)) MiB)"
            } else {
                line += "\t(kernel high-water mark; the program ended before the first sample)"
            }
        }
        for child in children {
            line += "\n  Child \(child.pid)\t\t\t\(Self.mebibytes(child.peakMebibytes)) MiB"
        }
        if let verdict {
            line += "\n  verdict: \(verdict.kind.rawValue): \(verdict.explanation)"
        }
        return line
    }

    static func mebibytes(_ value: Double) -> String {
        DecimalFormat.fixed(value, decimals: 3)
    }
}
