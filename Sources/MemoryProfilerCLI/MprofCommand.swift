import MemoryProfiler

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
            CleanCommand.self,
            ReadersCommand.self, LinesCommand.self,
        ]
    )

    public init() {}

    /// Runs the command the arguments name and exits: with a non-zero status, as ArgumentParser's own `main()`,
    /// for an error, and also when writing the command's output failed (a full disk, `/dev/full`).
    public static func main() {
        // Before anything opens a file: a closed standard descriptor would otherwise be reused for it.
        StandardStreams.openMissing()
        do {
            var command = try parseAsRoot()
            try command.run()
            try StandardStreams.flushOutput()
        } catch {
            if (try? StandardStreams.flushOutput()) == nil, Self.isSuccess(error) {
                exit(withError: CLIError("cannot write to standard output"))
            }
            exit(withError: error)
        }
    }

    private static func isSuccess(_ error: any Error) -> Bool {
        (error as? ExitCode).map { $0.isSuccess } ?? false
    }
}

extension MemoryReader: ExpressibleByArgument {}

extension ProcessID: ExpressibleByArgument {
    public init?(argument: String) {
        guard let value = Int32(argument), value > 0 else { return nil }
        self.init(value)
    }
}
