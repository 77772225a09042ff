import ArgumentParser

/// `mprof rm`: removes profiles by index or name.
struct RmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove profiles, by index (0 the oldest, -1 the newest) or file name.")

    @Flag(help: "Show what would be removed, without removing anything.")
    var dryRun = false

    @Argument(parsing: .allUnrecognized, help: "Indices or files.")
    var profiles: [String] = []

    func run() throws {
        guard !profiles.isEmpty else {
            throw CLIError("A profile to remove must be provided (number or filename)")
        }
        try ProfileFiles.remove(ProfileFiles.resolve(profiles), dryRun: dryRun)
    }
}
