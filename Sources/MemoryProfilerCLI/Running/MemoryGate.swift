import ArgumentParser
import MemoryProfiler
import MemoryProfilerSystem
import MemoryReports

/// `mprof run --max-peak/--max-heap/--no-leaks`: budgets checked once the program has ended, for CI. A crossed
/// budget is one line on standard error each, and, when the program itself succeeded, exit status
/// ``exitStatus``; a program that failed on its own keeps its status, and the budgets are still reported.
struct MemoryGate: Sendable {
    /// The status `mprof run` exits with when the program succeeded and a budget was crossed.
    static let exitStatus: Int32 = 3

    var maxPeak: MemorySize?
    var maxHeap: MemorySize?
    var noLeaks = false

    var isEmpty: Bool { maxPeak == nil && maxHeap == nil && !noLeaks }
    /// Whether a budget needs the heap capture.
    var needsHeap: Bool { maxHeap != nil || noLeaks }

    /// What crossed its budget, one line each (empty: all kept, or no budgets). A budget that could not be checked
    /// (no samples, no capture, no leak scan) is crossed, with the reason: it never passes on a number it lacks.
    ///
    /// `kernelWatched`: whether the recording watched the kernel's high-water mark between samples (its `PEAK`
    /// records are written only where the mark rose above the samples); without it the peak is the samples'.
    func check(recording path: String, heapCapture: String?, kernelWatched: Bool) -> [String] {
        var crossed: [String] = []
        if let maxPeak {
            switch Result(catching: { try MprofFile(path: path) }) {
            case .success(let file):
                if let peak = file.peak() {
                    let bytes = MemorySize(mebibytes: peak.mebibytes)
                    if bytes > maxPeak {
                        crossed.append(
                            "peak \(bytes.readable) is \(MemorySize(bytes: bytes.bytes - maxPeak.bytes).readable) over "
                                + "--max-peak \(maxPeak.readable)")
                    } else if file.intervalPeaks.isEmpty && !kernelWatched {
                        // Samples only: a spike between two of them is not in the number, which may be too low.
                        crossed.append(
                            "--max-peak was not checked: the recording has samples only, no kernel high-water mark "
                                + "(is mprof-spawn beside mprof?), and a spike between samples would be missed")
                    }
                } else {
                    crossed.append("--max-peak was not checked: \(TerminalText.escaped(path)) has no memory samples")
                }
            case .failure(let error):
                crossed.append("--max-peak was not checked: \(error)")
            }
        }
        guard needsHeap else { return crossed }
        let what = [maxHeap != nil ? "--max-heap" : nil, noLeaks ? "--no-leaks" : nil].compactMap { $0 }.joined(separator: " and ")
        guard let heapCapture else { return crossed + ["\(what) not checked: no heap capture was written (see above)"] }
        let capture: HeapCapture
        do {
            capture = try HeapCapture(path: heapCapture)
        } catch {
            return crossed + ["\(what) not checked: \(error.message)"]
        }
        // A program that replaced itself (exec: a wrapper script, `bash -c`) was recorded only up to there.
        if let replacement = capture.summary.replacedBy {
            return crossed + [
                "\(what) not checked: the program replaced itself with \(TerminalText.escaped(replacement)), whose heap "
                    + "was not recorded (profile that program itself)"
            ]
        }
        var profile: HeapProfile?
        func sites(_ view: HeapProfile.View) -> String {
            if profile == nil {
                profile = HeapProfile(capture, symbols: HeapSymbolizer().symbolize(capture, usingStoredNames: true))
            }
            guard let profile else { return "" }
            return HeapReport.siteLines(profile, view).map { "\n  " + $0 }.joined()
        }
        if let maxHeap, capture.summary.peakBytes > maxHeap.bytes {
            let peak = capture.summary.peakBytes
            crossed.append(
                "heap peak \(Quantity.bytes(peak)) is \(Quantity.bytes(peak - maxHeap.bytes)) over --max-heap "
                    + "\(maxHeap.readable)" + sites(.peak))
        }
        if noLeaks {
            let summary = capture.summary
            if !summary.reachabilityScanned {
                let why = summary.leakScanFailure ?? (summary.finishedNormally ? "the scan was not made" : "the program did not exit normally")
                crossed.append("--no-leaks not checked: no leak scan (\(TerminalText.escaped(why)))")
            } else if summary.blocksLeaked > 0 {
                crossed.append(
                    "\(Quantity.bytes(summary.bytesLeaked)) leaked in \(Quantity.count(summary.blocksLeaked)) "
                        + "block\(summary.blocksLeaked == 1 ? "" : "s") (--no-leaks): nothing pointed to them at exit"
                        + sites(.leaks))
            }
        }
        return crossed
    }
}

/// `--max-peak`, `--max-heap`: an amount of memory (`200MiB`, `1.5GiB`, `512KiB`, `4096`).
struct MemoryAmount: ExpressibleByArgument, Sendable {
    let size: MemorySize

    init?(argument: String) {
        let units: [(String, Double)] = [
            ("GiB", 1_073_741_824), ("MiB", 1_048_576), ("KiB", 1024), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3),
            ("B", 1), ("", 1),
        ]
        guard let (unit, scale) = units.first(where: { argument.hasSuffix($0.0) }),
            let value = Double(argument.dropLast(unit.count).trimmingSpaces), value.isFinite, value > 0,
            value * scale <= 0x1p50, value * scale >= 1
        else { return nil }
        size = MemorySize(bytes: Int((value * scale).rounded()))
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring { drop { $0 == " " } }
}
