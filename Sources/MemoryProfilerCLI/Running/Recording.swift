import MemoryProfiler
import MemoryReports
import MemoryProfilerSystem

/// One recording into a `.dat` file: what `mprof run` and `mprof attach` share.
struct Recording {
    let options: RecordingSettings
    let sink: DatFileSink
    /// With --explain: the sink the samples go through, which breaks the memory down near the peak.
    let explainer: PeakExplainer?
    let path: String
    private let header: [DatRecord]
    /// The size of the header records.
    private let headerBytes: Int

    /// Opens the output file: `-o` appends to the file or creates it; without `-o`, a new
    /// `mprofile_<time>.dat` is created (never an existing one). Nothing is written until ``writeHeader()``.
    ///
    /// - Throws: ``CLIError`` when the file cannot be opened.
    init(options: RecordingSettings, commandLine: [String]) throws {
        self.options = options
        // Summed high-water marks of several processes are an upper bound, not a peak: no PEAK records.
        let writesPeaks = !options.includeChildren
        if let output = options.output {
            sink = try DatFileSink(path: output, writesPeaks: writesPeaks)
        } else {
            sink = try ProfileFiles.createFresh(writesPeaks: writesPeaks)
        }
        path = sink.path
        // Two recordings in one file would interleave two programs' samples into one line: the second is refused,
        // whatever name (a link, a relative path) it was given by.
        guard sink.claimForRecording() else {
            throw CLIError(
                "\(TerminalText.escaped(path)) is being written by another mprof run (or attach) now: wait for it, "
                    + "or give this recording another file with -o")
        }
        explainer = options.explain ? PeakExplainer(file: sink, includesChildren: options.includeChildren) : nil
        header = [.commandLine(arguments: commandLine), .reader(options.backend.reader.rawValue)]
        headerBytes = header.reduce(0) { $0 + $1.line.utf8.count + 1 }
    }

    /// Writes the header records (`CMDLINE`, `READER`): once the program has started, so that a program that
    /// cannot start adds nothing to an existing file.
    ///
    /// - Throws: ``CLIError`` when they cannot be written; the file is then left as it was.
    func writeHeader() throws {
        guard sink.write(header[0]), sink.write(header[1]) else {
            abandon()
            throw CLIError("nothing recorded: \(TerminalText.escaped(sink.failure?.message ?? "cannot write \(path)"))")
        }
    }

    /// Leaves the file as it was before this recording, for a recording that ended before it began: a file it
    /// created and that holds no more than the header is removed; an existing file is cut back when nothing but
    /// the header was added to it.
    func abandon() {
        if sink.createdFile {
            removeIfEmpty()
        } else {
            _ = sink.undoAppends(sink.bytesWritten)
        }
    }

    /// The absolute path, for the environment of the profiled program: bytes, since the working directory's
    /// name need not be UTF-8.
    var absolutePath: [UInt8] {
        if path.hasPrefix("/") { return Array(path.utf8) }
        guard let directory = FileSystem.currentDirectory() else { return Array(path.utf8) }
        return directory + Array("/\(path)".utf8)
    }

    /// Starts sampling `process` into the file; nil when it was gone before the first sample.
    func start(_ process: ProcessID) throws -> MemorySampler? {
        var sampling = options.samplingOptions
        sampling.sink = explainer ?? sink
        do {
            return try MemorySampler.start(process: process, options: sampling)
        } catch {
            if error.code == .processExited || error.code == .noSuchProcess { return nil }
            throw error
        }
    }

    /// The program's lifetime peak as `wait4` reported it.
    struct LifetimePeak {
        /// `ru_maxrss` in bytes: the largest resident set of the program and of the children it waited for.
        var bytes: Int
        /// True when the count began with the program (started through mprof-spawn); false when it began at
        /// mprof's own high-water mark, `launcherPeak`, and so tells nothing below it.
        var isOwn: Bool
        var launcherPeak: Int
        /// Whether the program waited for children of its own, whose peaks the count includes: then it is not
        /// the program's peak. Nil when unknown.
        var waitedForChildren: Bool?
    }

    /// Records the program's lifetime peak that `wait4` reported when it is above everything sampled: the last
    /// interval's spike, which a process takes with it when it exits, or the only figure of a program that
    /// ended before the first sample. Returns the peak to report.
    ///
    /// The kernel's figure is resident memory, so it is written to `rss` files only. It includes the children
    /// the program waited for, so it is used only for a program that waited for none (and never with `-C`, `-M`).
    func recordExitPeak(_ lifetime: LifetimePeak?, trace: MemoryTrace?) -> (MemorySize, String)? {
        let sampled = trace.flatMap { $0.sampleCount > 0 ? ($0.peak, Self.describe($0.peakSource)) : nil }
        let sawChildren = !(trace?.children.isEmpty ?? true)
        guard options.backend.reader == .rss, !options.includeChildren, !options.multiprocess, !sawChildren,
            let lifetime, lifetime.waitedForChildren == false, lifetime.isOwn || lifetime.bytes > lifetime.launcherPeak,
            lifetime.bytes > (sampled?.0.bytes ?? 0)
        else {
            return sampled
        }
        let peak = MemorySize(bytes: lifetime.bytes)
        sink.write(.peak(peak, wallClock: Self.wallClock()))
        let source =
            sampled == nil
            ? "the kernel's lifetime peak: the program ended before the first sample"
            : "the kernel's lifetime peak"
        return (peak, source)
    }

    /// Removes the file when this recording created it and it holds nothing but what this recording wrote
    /// (the header, a first sample). Only a regular file is ever removed.
    func removeIfEmpty() {
        // Another run with the same -o records into it too: not this run's to remove (it lost its samples so).
        guard sink.createdFile, !sink.fileIsSharedWithAnotherRecording else { return }
        guard let status = try? FileStatus(path: path, followingLinks: false),
            status.size <= max(headerBytes, sink.bytesWritten)
        else { return }
        FileSystem.removeRegularFile(path)
    }

    /// The verdict on the recording just made (with the run's heap capture, if any), as `mprof peak --verdict`
    /// gives it.
    func verdictLine(heap: HeapCapture?) -> String {
        do {
            return "mprof: verdict: \(MemoryVerdict(recording: try MprofFile(path: path), heap: heap).text)"
        } catch {
            return "mprof: no verdict: \(error.description)"
        }
    }

    /// `mprof: peak 250.4 MiB (kernel high-water mark), 1234 samples in mprofile_….dat`.
    func summary(of trace: MemoryTrace?, peak: (MemorySize, String)?) -> String {
        let file = TerminalText.escaped(path)
        let count = trace?.sampleCount ?? 0
        guard let (memory, source) = peak else {
            return "mprof: no sample: the program ended before the first one (file: \(file))"
        }
        let samples = count == 0 ? "no sample" : count == 1 ? "1 sample" : "\(count) samples"
        var text = "mprof: peak \(memory.formatted(precision: 1)) (\(source)), \(samples) in \(file)"
        if trace?.end == .timeout { text += "; recording stopped at the timeout" }
        if problem(of: trace) != nil { text += " (incomplete: see below)" }
        return text
    }

    /// What went wrong during the recording: a reading that failed and stopped sampling, a failed write, or
    /// the file removed (by `rm`, say) while samples were still being written to it. Nil when all went well.
    func problem(of trace: MemoryTrace?) -> String? {
        if let trace, trace.end == .readerFailed {
            let note = trace.notes.first { $0.hasPrefix(MemoryTrace.samplingStoppedNote) } ?? trace.notes.last
            let reason = note.map { ": \(TerminalText.escaped($0))" } ?? ""
            return "the recording stopped before the program ended\(reason)"
        }
        if let trace, let note = trace.notes.first(where: { $0.hasPrefix(MemoryTrace.childrenMissedNote) }) {
            return "the children's memory is incomplete: \(TerminalText.escaped(note))"
        }
        if let failure = sink.failure {
            return "the recording is incomplete: \(TerminalText.escaped(failure.message))"
        }
        if sink.fileWasRemoved {
            return "\(TerminalText.escaped(path)) was removed while it was being recorded: the samples are lost"
        }
        return nil
    }

    /// Reports ``problem(of:)``, which makes the recording's exit status non-zero.
    func check(_ trace: MemoryTrace?) throws {
        if let problem = problem(of: trace) { throw CLIError(problem) }
    }

    private static func wallClock() -> Double { Clocks.wallClockSeconds() }

    private static func describe(_ source: MemoryTrace.PeakSource) -> String {
        switch source {
        case .kernelHighWaterMark: "kernel high-water mark"
        case .sumOfHighWaterMarks: "sum of the processes' high-water marks"
        case .samples: "highest sample"
        }
    }
}
