import Foundation
import MemoryProfiler

/// memory_profiler's file-name conventions: `mprofile_YYYYMMDDhhmmss.dat` in the current directory, listed
/// oldest first, addressed by index (0 the oldest, -1 the newest) or by name.
enum ProfileFiles {
    /// The name for a recording starting now (local time), as memory_profiler names it.
    static func newName(at date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyyMMddHHmmss"
        return "mprofile_\(formatter.string(from: date)).dat"
    }

    /// A default name no file has yet: names have one-second resolution, so a second recording started in the
    /// same second waits for the next one instead of mixing its samples into the first one's file.
    static func freshName() -> String {
        var name = newName()
        while FileManager.default.fileExists(atPath: name) {
            usleep(20_000)
            name = newName()
        }
        return name
    }

    /// The profiles in the current directory, oldest first (their names sort by time).
    static func existing() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: ".")) ?? []
        return names.filter(isProfileName).sorted()
    }

    static func isProfileName(_ name: String) -> Bool {
        let digits = name.dropFirst("mprofile_".count).dropLast(".dat".count)
        return name.hasPrefix("mprofile_") && name.hasSuffix(".dat") && digits.count == 14
            && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// Files named by the user: existing paths as given, numbers as indices into ``existing()``.
    ///
    /// - Throws: ``CLIError`` naming the first argument that is neither.
    static func resolve(_ arguments: [String]) throws -> [String] {
        let profiles = existing()
        var files: [String] = []
        for argument in arguments where argument != "--" {
            let file: String
            if FileManager.default.fileExists(atPath: argument) {
                file = argument
            } else if let index = Int(argument) {
                let position = index < 0 ? profiles.count + index : index
                guard profiles.indices.contains(position) else {
                    throw CLIError(
                        "no profile with index \(index): \(profiles.count) mprofile_*.dat file(s) here "
                            + "(mprof list shows them)")
                }
                file = profiles[position]
            } else {
                throw CLIError("no such file: \(argument)")
            }
            if !files.contains(file) { files.append(file) }
        }
        return files
    }

    /// The newest profile, for commands given no file.
    static func newest() throws -> String {
        guard let newest = existing().last else {
            throw CLIError("no mprofile_*.dat file in this directory: record one with mprof run, or name a file")
        }
        return newest
    }

    /// When the profile was started, from its name: `14:02:07 25/11/2026`, as memory_profiler's list prints it.
    static func startText(of name: String) -> String {
        let digits = Array(name.dropFirst("mprofile_".count).prefix(14))
        func part(_ range: Range<Int>) -> String { String(digits[range]) }
        return "\(part(8..<10)):\(part(10..<12)):\(part(12..<14)) \(part(6..<8))/\(part(4..<6))/\(part(0..<4))"
    }
}
