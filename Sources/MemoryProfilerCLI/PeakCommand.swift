import ArgumentParser
import Foundation
import MemoryProfiler

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
            let shownPath = TerminalText.escaped(path)
            // A file with only the kernel's lifetime peak has no sample for --sampled to print.
            guard let peak = file.peak(function: self.func), !(sampled && peak.sampledMebibytes.isNaN) else {
                failed = true
                if !json { print("\(shownPath)\tNaN MiB") }
                if let function = self.func, !file.functionNames.contains(function) {
                    let names = file.functionNames
                    let known =
                        names.isEmpty
                        ? "none"
                        : names.prefix(20).map { TerminalText.quoted($0) }.joined(separator: ", ")
                            + (names.count > 20 ? " and \(names.count - 20) more" : "")
                    StandardError.write(
                        "Error: \(shownPath) has no function \(TerminalText.quoted(function)) (its functions: \(known))")
                } else {
                    let during = self.func.map { " during \(TerminalText.quoted($0))" } ?? ""
                    StandardError.write("Error: \(shownPath) has no memory samples\(during)")
                }
                continue
            }
            let children = file.children.map { series in
                PeakResult.Child(pid: series.process.rawValue, peakMebibytes: series.samples.map(\.mebibytes).max() ?? 0)
            }
            let result = PeakResult(
                file: path, function: self.func, peakMebibytes: sampled ? peak.sampledMebibytes : peak.mebibytes,
                sampledPeakMebibytes: peak.sampledMebibytes.isNaN ? nil : peak.sampledMebibytes,
                source: sampled ? .samples : peak.source, children: children)
            results.append(result)
            if !json { print(result.text) }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
        }
        if failed { throw ExitCode.failure }
    }
}

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
        return line
    }

    static func mebibytes(_ value: Double) -> String {
        String(format: "%.3f", value)
    }
}
