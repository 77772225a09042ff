import Foundation
import MemoryProfiler

/// One recording into a `.dat` file: what `mprof run` and `mprof attach` share.
struct Recording {
    let options: RecordingOptions
    let sink: DatFileSink
    let path: String

    /// Opens the output file (appending) and writes the header records.
    init(options: RecordingOptions, commandLine: [String]) throws {
        self.options = options
        path = options.output ?? ProfileFiles.freshName()
        do {
            // Summed high-water marks of several processes are an upper bound, not a peak: no PEAK records.
            sink = try DatFileSink(path: path, writesPeaks: !options.includeChildren)
        } catch {
            throw CLIError(error.message)
        }
        sink.write(.commandLine(commandLine))
        sink.write(.reader(options.backend.reader.rawValue))
    }

    /// The absolute path, for the environment of the profiled program.
    var absolutePath: String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
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

    /// Records the program's lifetime peak that `wait4` reported when it is above everything sampled: the last
    /// interval's spike, which a process takes with it when it exits. Returns the peak to report.
    ///
    /// The kernel's count includes the children the program waited for, so it is not used when descendants are
    /// recorded (`-C`, `-M`) or were seen.
    func recordExitPeak(bytes: Int?, launcherPeak: Int, trace: MemoryTrace?) -> (MemorySize, String)? {
        let sampled = trace.flatMap { $0.sampleCount > 0 ? ($0.peak, Self.describe($0.peakSource)) : nil }
        let sawChildren = !(trace?.children.isEmpty ?? true)
        // The count starts at the fork: below the launcher's own peak it may be the launcher's memory.
        guard !options.includeChildren, !options.multiprocess, !sawChildren, let bytes, bytes > launcherPeak,
            bytes > (sampled?.0.bytes ?? 0)
        else {
            return sampled
        }
        let peak = MemorySize(bytes: bytes)
        sink.write(.peak(peak, wallClock: Double(Date().timeIntervalSince1970)))
        return (peak, "the kernel's count at exit, which includes children the program waited for")
    }

    /// Removes the file when this run added nothing but its header to a file it created.
    func removeIfEmpty() {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        if text.split(separator: "\n").allSatisfy({ $0.hasPrefix("CMDLINE ") || $0.hasPrefix("READER ") }) {
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// `mprof: peak 250.4 MiB (kernel high-water mark), 1234 samples in mprofile_….dat`.
    func summary(of trace: MemoryTrace?, peak: (MemorySize, String)?) -> String {
        guard let trace, trace.sampleCount > 0, let (memory, source) = peak else {
            return "mprof: no sample: the program ended before the first one (file: \(path))"
        }
        let samples = trace.sampleCount == 1 ? "1 sample" : "\(trace.sampleCount) samples"
        var text = "mprof: peak \(memory.formatted(precision: 1)) (\(source)), \(samples) in \(path)"
        if trace.end == .timeout { text += "; recording stopped at the timeout" }
        return text
    }

    private static func describe(_ source: MemoryTrace.PeakSource) -> String {
        switch source {
        case .kernelHighWaterMark: "kernel high-water mark"
        case .sumOfHighWaterMarks: "sum of the processes' high-water marks"
        case .samples: "highest sample"
        }
    }
}
