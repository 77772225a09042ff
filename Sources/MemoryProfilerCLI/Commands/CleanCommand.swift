import ArgumentParser

/// `mprof clean`: removes every profile in the current directory.
struct CleanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clean",
        abstract: "Remove every mprofile_*.dat file here.")

    @Flag(help: "Show what would be removed, without removing anything.")
    var dryRun = false

    func run() throws {
        try ProfileFiles.remove(ProfileFiles.existing(), dryRun: dryRun)
    }
}
