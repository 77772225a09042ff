import ArgumentParser
import FoundationEssentials

/// `mprof list`: the profiles in the current directory, with their indices.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the mprofile_*.dat files here, oldest first, with their indices.")

    @Flag(help: "Print the list as JSON.")
    var json = false

    func run() throws {
        let files = ProfileFiles.existing()
        if json {
            struct Entry: Encodable {
                var index: Int
                var file: String
                var started: String
            }
            let entries = files.enumerated().map { Entry(index: $0, file: $1, started: ProfileFiles.startText(of: $1)) }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(entries), as: UTF8.self))
            return
        }
        for (index, file) in files.enumerated() {
            print("\(index) \(file) \(ProfileFiles.startText(of: file))")
        }
    }
}

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
