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
            try JSONOutput.print(entries)
            return
        }
        for (index, file) in files.enumerated() {
            print("\(index) \(file) \(ProfileFiles.startText(of: file))")
        }
    }
}
