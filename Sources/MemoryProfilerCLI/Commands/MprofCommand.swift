import MemoryProfiler
import MemoryProfilerSystem

import ArgumentParser

/// `mprof`, the command-line tool: the root command that lists the subcommands.
public struct MprofCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mprof",
        abstract: "Measure how much memory a program uses, over time.",
        discussion: """
            Readings come from the Linux kernel (/proc), getrusage, the ps command and the malloc heap. \
            Memory is printed in MiB (2^20 bytes).
            """,
        version: "0.1.0",
        subcommands: [
            RunCommand.self, AttachCommand.self, PlotCommand.self, PeakCommand.self, ListCommand.self, RmCommand.self,
            CleanCommand.self, TestCommand.self,
            ReadersCommand.self, LinesCommand.self, HeapCommand.self, ExplainCommand.self,
        ]
    )

    public init() {}

    /// Runs the command the arguments name and exits: with a non-zero status, as ArgumentParser's own `main()`,
    /// for an error, and also when writing the command's output failed (a full disk, `/dev/full`).
    public static func main() {
        // Before anything opens a file: a closed standard descriptor would otherwise be reused for it.
        StandardStreams.openMissing()
        // A file size limit (ulimit -f) makes a write fail with EFBIG, reported like any failed write, rather than
        // killing mprof in the middle of a record. (Programs it starts get the default action back.)
        Signals.ignore(.fileSizeExceeded)
        do {
            // The parser's reflection over the options costs 1–2 ms, as much as the rest of mprof's start-up.
            // `mprof --version` and `mprof run PROGRAM…` mean to it what they mean here, so they skip it.
            let arguments = CommandLine.arguments
            if arguments.count == 2 && arguments[1] == "--version" {
                throw CleanExit.message(configuration.version)
            }
            if let program = ProgramRecording.programWithoutOptions(arguments) {
                try Self.requireUTF8Arguments(except: program.count)
                try ProgramRecording.record(program, options: RecordingSettings())
            } else {
                var command = try parseAsRoot()
                // Only a program to start is passed on byte for byte; `run -a NAME` names a process like attach.
                let passedOn = (command as? RunCommand).map { $0.attach ? 0 : $0.program.count } ?? 0
                try Self.requireUTF8Arguments(except: passedOn)
                try command.run()
            }
            try StandardStreams.flushOutput()
        } catch {
            if Self.isSuccess(error) {
                // --help and --version: print them here, so that a failed write is seen.
                let message = Self.fullMessage(for: error)
                if !message.isEmpty { print(message) }
                do {
                    try StandardStreams.flushOutput()
                } catch {
                    exit(withError: CLIError(error.message))
                }
                Self.exit()  // status 0, nothing printed
            }
            // The library's messages can hold paths and process names: escaped for the terminal here.
            if let error = error as? MemoryError { exit(withError: CLIError(TerminalText.escaped(error.message))) }
            // ArgumentParser's messages repeat the value given ("The value '…' is invalid for '--view <view>'"):
            // a control character in it is escaped too. (Backslashes are kept: CLIError's text is escaped already.)
            let message = Self.fullMessage(for: error)
            if !message.isEmpty {
                StandardError.write(
                    message.split(separator: "\n", omittingEmptySubsequences: false)
                        .map { TerminalText.escaped(String($0), keepingTabs: true, keepingBackslashes: true) }
                        .joined(separator: "\n"))
            }
            exit(withError: ExitCode(Self.exitCode(for: error).rawValue))
        }
    }

    /// File names, options and process names are read as UTF-8, and Swift replaces other bytes: a name that is
    /// not UTF-8 would silently become another name. Only the program `mprof run` starts, and its arguments
    /// (the last `passedOn` arguments), are passed on byte for byte.
    private static func requireUTF8Arguments(except passedOn: Int) throws {
        let all = RawArguments.all
        for bytes in all.dropFirst().prefix(max(all.count - passedOn, 1) - 1) {
            var decoder = UTF8()
            var iterator = bytes.makeIterator()
            var valid = true
            decoding: while true {
                switch decoder.decode(&iterator) {
                case .scalarValue: continue
                case .emptyInput: break decoding
                case .error:
                    valid = false
                    break decoding
                }
            }
            if !valid {
                throw CLIError(
                    "argument \(TerminalText.escaped(Array(bytes)[...])) is not UTF-8: mprof reads file and process "
                        + "names as UTF-8 (rename the file, or name it through a link)")
            }
        }
    }

    private static func isSuccess(_ error: any Error) -> Bool {
        exitCode(for: error).isSuccess
    }
}

extension MemoryReader: ExpressibleByArgument {}

extension ProcessID: ExpressibleByArgument {
    public init?(argument: String) {
        guard let value = Int32(argument), value > 0 else { return nil }
        self.init(value)
    }
}
