import ArgumentParser
import MemoryProfiler

/// The options `mprof run` and `mprof attach` share, spelled as memory_profiler's `mprof` spells them.
struct RecordingOptions: ParsableArguments {
    @Option(name: [.customShort("T"), .long], help: "Seconds between samples.")
    var interval = RecordingSettings().interval

    @Flag(name: [.customShort("C"), .customLong("include-children")], help: "Add the memory of all descendants.")
    var includeChildren = false

    @Flag(name: [.customShort("M"), .long], help: "Record each descendant as a series of its own (CHLD records).")
    var multiprocess = false

    @Option(name: [.customShort("t"), .long], help: "Stop recording after this many seconds.")
    var timeout: Seconds?

    @Option(name: [.customShort("o"), .long], help: "The .dat file to append to (default: mprofile_<time>.dat).")
    var output: String?

    @Option(help: "The reader: rss, pss, uss, ps (or memory_profiler's psutil, psutil_pss, psutil_uss, posix).")
    var backend = RecordingSettings().backend

    @Flag(
        name: .customLong("no-reset-peak"),
        help: """
            Leave the process's high-water mark (VmHWM, and the max RSS getrusage reports) as it is: no PEAK \
            records then. By default mprof resets it after every sample to catch spikes between samples; use this \
            for a process that someone else watches, or PID 1.
            """)
    var noResetPeak = false

    @Flag(help: "Also break the memory near the peak into parts, as mprof explain does (read from /proc/PID/smaps as the resident set rises).")
    var explain = false

    func validate() throws {
        guard interval.value >= 1e-6, interval.value <= 3600 else {
            throw ValidationError("--interval must be between 0.000001 and 3600 seconds")
        }
        if let timeout, !(timeout.value > 0 && timeout.value <= 1e8) {
            throw ValidationError("--timeout must be a positive number of seconds (at most 100000000)")
        }
    }

    var settings: RecordingSettings {
        RecordingSettings(
            interval: interval, includeChildren: includeChildren, multiprocess: multiprocess, timeout: timeout,
            output: output, backend: backend, noResetPeak: noResetPeak, explain: explain)
    }
}

/// What ``RecordingOptions`` hold once parsed, as plain values. Its defaults are the options' defaults, so that
/// `mprof run PROGRAM`, which names no option, can record without running the parser.
struct RecordingSettings: Equatable {
    var interval = Seconds(0.1)
    var includeChildren = false
    var multiprocess = false
    var timeout: Seconds?
    var output: String?
    var backend = Backend.rss
    var noResetPeak = false
    var explain = false

    var samplingOptions: SamplingOptions {
        SamplingOptions(
            interval: interval.duration,
            timeout: timeout?.duration,
            reader: backend.reader, includeChildren: includeChildren, perChildSeries: multiprocess,
            maximumOnly: true, exactPeaks: !noResetPeak)
    }

    /// The interval as memory_profiler prints it: `0.1s`.
    var intervalText: String {
        Seconds.text(interval.value) + "s"
    }
}

/// A reader that can measure another process, by our name or memory_profiler's backend name.
enum Backend: String, ExpressibleByArgument, CaseIterable {
    case rss, pss, uss, ps
    case psutil, psutilPSS = "psutil_pss", psutilUSS = "psutil_uss", posix

    var reader: MemoryReader {
        switch self {
        case .rss, .psutil: .rss
        case .pss, .psutilPSS: .pss
        case .uss, .psutilUSS: .uss
        case .ps, .posix: .ps
        }
    }
}
