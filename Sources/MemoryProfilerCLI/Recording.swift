#if canImport(Glibc)
import Glibc
#endif
import MemoryProfiler

/// One recording into a `.dat` file: what `mprof run` and `mprof attach` share.
struct Recording {
    let options: RecordingOptions
    let sink: DatFileSink
    let path: String
    /// The size of the header records, which is all a created file holds until the first sample.
    private let headerBytes: Int

    /// Opens the output file and writes the header records: `-o` appends to the file or creates it; without
    /// `-o`, a new `mprofile_<time>.dat` is created (never an existing one).
    ///
    /// - Throws: ``CLIError`` when the file cannot be opened or the header cannot be written (a file this
    ///   recording created is then removed).
    init(options: RecordingOptions, commandLine: [String]) throws {
        self.options = options
        // Summed high-water marks of several processes are an upper bound, not a peak: no PEAK records.
        let writesPeaks = !options.includeChildren
        do {
            if let output = options.output {
                sink = try DatFileSink(path: output, writesPeaks: writesPeaks)
            } else {
                sink = try ProfileFiles.createFresh(writesPeaks: writesPeaks)
            }
        } catch {
            throw CLIError(TerminalText.escaped(error.message))
        }
        path = sink.path
        let header: [DatRecord] = [.commandLine(commandLine), .reader(options.backend.reader.rawValue)]
        headerBytes = header.reduce(0) { $0 + $1.line.utf8.count + 1 }
        guard sink.write(header[0]), sink.write(header[1]) else {
            removeIfEmpty()
            throw CLIError("nothing recorded: \(TerminalText.escaped(sink.failure?.message ?? "cannot write \(path)"))")
        }
    }

    /// The absolute path, for the environment of the profiled program.
    var absolutePath: String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/" + path
    }

    /// Starts sampling `process` into the file; nil when it was gone before the first sample.
    func start(_ process: ProcessID) throws -> MemorySampler? {
        var sampling = options.samplingOptions
        sampling.sink = sink
        do {
            return try MemorySampler.start(process: process, options: sampling)
        } catch where error.code == .processExited || error.code == .noSuchProcess {
            return nil
        } catch {
            throw CLIError(error.message)
        }
    }

    /// The program's lifetime peak as `wait4` reported it.
    struct LifetimePeak {
        /// `ru_maxrss` in bytes: the program's and its waited-for children's largest resident set.
        var bytes: Int
        /// True when the count is the program's own (started through mprof-spawn); false when it began at
        /// mprof's own high-water mark, `launcherPeak`, and so tells nothing below it.
        var isOwn: Bool
        var launcherPeak: Int
    }

    /// Records the program's lifetime peak that `wait4` reported when it is above everything sampled: the last
    /// interval's spike, which a process takes with it when it exits, or the only figure of a program that
    /// ended before the first sample. Returns the peak to report.
    ///
    /// The kernel's figure is resident memory, so it is written to `rss` files only. It includes the children
    /// the program waited for, so it is not used when descendants are recorded (`-C`, `-M`) or were seen.
    func recordExitPeak(_ lifetime: LifetimePeak?, trace: MemoryTrace?) -> (MemorySize, String)? {
        let sampled = trace.flatMap { $0.sampleCount > 0 ? ($0.peak, Self.describe($0.peakSource)) : nil }
        let sawChildren = !(trace?.children.isEmpty ?? true)
        guard options.backend.reader == .rss, !options.includeChildren, !options.multiprocess, !sawChildren,
            let lifetime, lifetime.isOwn || lifetime.bytes > lifetime.launcherPeak,
            lifetime.bytes > (sampled?.0.bytes ?? 0)
        else {
            return sampled
        }
        let peak = MemorySize(bytes: lifetime.bytes)
        sink.write(.peak(peak, wallClock: Self.wallClock()))
        let source =
            sampled == nil
            ? "the kernel's lifetime peak: the program ended before the first sample"
            : "the kernel's lifetime peak, which includes children the program waited for"
        return (peak, source)
    }

    /// Removes the file when this recording created it and it holds no more than the header (or less, when
    /// writing the header failed). Only a regular file is ever removed.
    func removeIfEmpty() {
        guard sink.createdFile else { return }
        var status = stat()
        guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_size <= headerBytes else { return }
        unlink(path)
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
        if sink.failure != nil { text += " (incomplete: writing failed)" }
        return text
    }

    /// Reports a failed write, which makes the recording's exit status non-zero.
    func checkWrites() throws {
        if let failure = sink.failure {
            throw CLIError("the recording is incomplete: \(TerminalText.escaped(failure.message))")
        }
    }

    private static func wallClock() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    private static func describe(_ source: MemoryTrace.PeakSource) -> String {
        switch source {
        case .kernelHighWaterMark: "kernel high-water mark"
        case .sumOfHighWaterMarks: "sum of the processes' high-water marks"
        case .samples: "highest sample"
        }
    }
}
