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
}

extension MemoryReader: ExpressibleByArgument {}

extension ProcessID: ExpressibleByArgument {
    public init?(argument: String) {
        guard let value = Int32(argument), value > 0 else { return nil }
        self.init(value)
    }
}
