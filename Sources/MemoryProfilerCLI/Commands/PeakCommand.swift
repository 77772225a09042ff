import ArgumentParser
import FoundationEssentials
import MemoryProfiler
import MemoryReports
import MemoryProfilerSystem

/// `mprof peak`: the highest memory of recorded profiles.
struct PeakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peak",
        abstract: "Print the peak memory of recorded profiles.",
        discussion: """
            Prints `<file>\\t<peak> MiB` and a line per child process, as memory_profiler's mprof peak does. \
            When the file carries the kernel's high-water mark (PEAK records, written by this mprof), the peak \
            is the true one and the line says so, with the highest sample beside it; --sampled prints only the \
            highest sample, memory_profiler's number. Files are paths or indices (0 the oldest, -1 the newest); \
            without any, the newest mprofile_*.dat here.
            """
    )

    @Option(help: "Only the time ranges of this function's calls (a FUNC name).")
    var `func`: String?

    @Flag(help: "Print the highest sample only, as memory_profiler does.")
    var sampled = false

    @Flag(help: "Print the peaks as JSON.")
    var json = false

    @Flag(help: ArgumentHelp(
        "Also judge each recording: leak, allocator retention, file growth, growth or steady, with the trends behind it.",
        discussion: "Least squares on the resident set and, for a run recorded with --heap, the heap in use."))
    var verdict = false

    @Argument(parsing: .allUnrecognized, help: "Profiles: files or indices.")
    var profiles: [String] = []

    func run() throws {
        let files = profiles.isEmpty ? [try ProfileFiles.newest()] : try ProfileFiles.resolve(profiles)
        var results: [PeakResult] = []
        var failed = false
        for path in files {
            let file: MprofFile
            do {
                file = try MprofFile(path: path)
            } catch {
                throw CLIError(error.description)
            }
            do {
                let result = try peak(of: file)
                results.append(result)
                if !json { print(result.text) }
            } catch {
                failed = true
                // memory_profiler's answer for a function the file does not have; any other failure prints nothing.
                if !json, error.isUnknownFunction { print("\(TerminalText.escaped(path))\tNaN MiB") }
                StandardError.write("Error: \(error.message)")
            }
        }
        // All or nothing: a script reading the JSON sees every file's peak, or no JSON and a failing status.
        if json && !failed {
            try JSONOutput.print(results)
        }
        if failed { throw ExitCode.failure }
    }

    /// Why a file has no peak to print.
    struct NoPeak: Error {
        var message: String
        /// `--func` names a function the file has no record of.
        var isUnknownFunction: Bool
    }

    private func peak(of file: MprofFile) throws(NoPeak) -> PeakResult {
        let shownPath = TerminalText.escaped(file.path)
        if let function = self.func, !file.functionNames.contains(function) {
            let names = file.functionNames
            let known =
                names.isEmpty
                ? "none"
                : names.prefix(20).map { TerminalText.quoted($0) }.joined(separator: ", ")
                    + (names.count > 20 ? " and \(names.count - 20) more" : "")
            throw NoPeak(
                message: "\(shownPath) has no function \(TerminalText.quoted(function)) (its functions: \(known))",
                isUnknownFunction: true)
        }
        let during = self.func.map { " during \(TerminalText.quoted($0))" } ?? ""
        guard let peak = file.peak(function: self.func) else {
            throw NoPeak(message: "\(shownPath) has no memory samples\(during)", isUnknownFunction: false)
        }
        // A file with only the kernel's lifetime peak has no sample for --sampled to print.
        guard !(sampled && peak.sampled == nil) else {
            throw NoPeak(
                message: "\(shownPath) has no memory samples\(during), only the kernel's lifetime peak "
                    + "(\(PeakResult.mebibytes(peak.mebibytes)) MiB): the program ended before the first sample; "
                    + "leave out --sampled to print it",
                isUnknownFunction: false)
        }
        let children = file.children.map { series in
            PeakResult.Child(pid: series.process.rawValue, peakMebibytes: series.samples.map(\.mebibytes).max() ?? 0)
        }
        var result = PeakResult(
            file: file.path, function: self.func,
            peakMebibytes: sampled ? peak.sampled?.mebibytes ?? peak.mebibytes : peak.mebibytes,
            sampledPeakMebibytes: peak.sampled?.mebibytes,
            source: sampled ? .samples : peak.source, children: children)
        if verdict {
            result.verdict = PeakResult.Verdict(MemoryVerdict(recording: file, heap: ProfileFiles.heapCapture(besideRecording: file)))
        }
        return result
    }
}
