import MemoryProfiler
import MemoryProfilerSystem

/// memory_profiler's file-name conventions: `mprofile_YYYYMMDDhhmmss.dat` in the current directory, listed
/// oldest first, addressed by index (0 the oldest, -1 the newest) or by name.
///
/// Names have one-second resolution. A recording that starts in a second whose name is taken gets
/// `mprofile_YYYYMMDDhhmmss_N.dat` (N = 1, 2, …), created exclusively, so recordings started at the same
/// moment never share a file and none waits for a free name. (memory_profiler's own `mprof list` shows only the
/// plain names.)
enum ProfileFiles {
    static let prefix = "mprofile_"
    static let suffix = ".dat"
    /// `EEXIST`, as an exclusive create of a name that is taken fails.
    private static let nameTaken = SystemError.nameTaken

    /// The timestamp part of a name for a recording starting now (local time): `20261125140207`.
    static func timestamp(atSeconds seconds: Int? = nil) -> String {
        guard let now = seconds.map({ Clocks.localTime(seconds: $0) }) ?? Clocks.localTime() else { return "00000000000000" }
        func digits(_ value: Int, _ width: Int) -> String {
            let text = String(max(value, 0))
            return String(repeating: "0", count: max(width - text.count, 0)) + text
        }
        return digits(now.year, 4) + digits(now.month, 2) + digits(now.day, 2) + digits(now.hour, 2)
            + digits(now.minute, 2) + digits(now.second, 2)
    }

    /// Creates a new profile in the current directory under the first free name for this second.
    ///
    /// - Throws: The error of the first attempt that failed for a reason other than the name being taken.
    static func createFresh(writesPeaks: Bool) throws(MemoryError) -> DatFileSink {
        let stamp = timestamp()
        // Bounded: a directory holding 10,000 profiles from one second is not worth waiting on.
        for attempt in 0..<10_000 {
            let name = prefix + stamp + (attempt == 0 ? "" : "_\(attempt)") + suffix
            do {
                return try DatFileSink(path: name, writesPeaks: writesPeaks, exclusive: true)
            } catch where error.errno == Self.nameTaken {
                continue
            }
        }
        throw MemoryError(.systemCall, "no free name \(prefix)\(stamp)_N\(suffix) in this directory", errno: Self.nameTaken)
    }

    /// The profiles in the current directory, oldest first.
    static func existing() -> [String] {
        let names = ((try? ProcessTable.entries(ofDirectory: ".")) ?? []).compactMap { name in
            sortKey(name).map { (name: name, key: $0) }
        }
        return names.sorted { $0.key < $1.key }.map(\.name)
    }

    static func isProfileName(_ name: String) -> Bool {
        sortKey(name) != nil
    }

    /// The timestamp and the sequence number of a profile's name, or nil for other names.
    private static func sortKey(_ name: String) -> (String, Int)? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let middle = name.dropFirst(prefix.count).dropLast(suffix.count)
        let stamp = middle.prefix(14)
        guard stamp.count == 14, stamp.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        let rest = middle.dropFirst(14)
        if rest.isEmpty { return (String(stamp), 0) }
        guard rest.first == "_", rest.count >= 2, rest.count <= 6, rest.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber }),
            let sequence = Int(rest.dropFirst()), sequence > 0
        else { return nil }
        return (String(stamp), sequence)
    }

    /// Files named by the user: integers as indices into ``existing()`` (as memory_profiler reads them; write
    /// `./0` for a file named `0`), anything else as a path.
    ///
    /// - Throws: ``CLIError`` naming the first argument that is neither.
    static func resolve(_ arguments: [String]) throws -> [String] {
        let profiles = existing()
        var files: [String] = []
        // Compared as bytes: two spellings of "café" (NFC and NFD) are two files, though Swift's == equates them.
        var seen = Set<[UInt8]>()
        for argument in arguments where argument != "--" {
            let file: String
            if let index = Int(argument) {
                let position = index < 0 ? profiles.count + index : index
                guard profiles.indices.contains(position) else {
                    throw CLIError(
                        "no profile with index \(index): \(profiles.count) mprofile_*.dat file(s) here "
                            + "(mprof list shows them; write ./\(TerminalText.escaped(argument)) for a file of that name)")
                }
                file = profiles[position]
            } else {
                // lstat: a dangling symbolic link is still a file to name (and to remove).
                do throws(SystemError) {
                    _ = try FileStatus(path: argument, followingLinks: false)
                } catch {
                    let shown = TerminalText.escaped(argument)
                    throw CLIError(error.isNoSuchFile ? "no such file: \(shown)" : "cannot read \(shown): \(error.message)")
                }
                file = argument
            }
            if seen.insert(Array(file.utf8)).inserted { files.append(file) }
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
        let digits = Array(name.dropFirst(prefix.count).prefix(14))
        guard digits.count == 14 else { return "" }
        func part(_ range: Range<Int>) -> String { String(digits[range]) }
        return "\(part(8..<10)):\(part(10..<12)):\(part(12..<14)) \(part(6..<8))/\(part(4..<6))/\(part(0..<4))"
    }

    /// Removes `files`: regular files and symbolic links only (a link is removed, not what it points to).
    /// Directories and anything else are refused before anything is removed.
    static func remove(_ files: [String], dryRun: Bool) throws {
        for file in files {
            let kind: FileStatus.Kind
            do throws(SystemError) {
                kind = try FileStatus(path: file, followingLinks: false).kind
            } catch {
                throw CLIError("cannot remove \(TerminalText.escaped(file)): \(error.message)")
            }
            guard kind == .regular || kind == .symbolicLink else {
                let what = kind == .directory ? "a directory" : "not a regular file"
                throw CLIError("refusing to remove \(TerminalText.escaped(file)): \(what) (mprof removes only profiles)")
            }
            if kind == .regular && isBeingRecorded(file) {
                throw CLIError(
                    "refusing to remove \(TerminalText.escaped(file)): a recording is writing to it (mprof run or attach)")
            }
        }
        if dryRun {
            print("Files to be removed: ")
            for file in files { print(TerminalText.escaped(file)) }
            return
        }
        for file in files {
            do {
                try FileSystem.removeName(file)
            } catch {
                throw CLIError("cannot remove \(TerminalText.escaped(file)): \(error.message)")
            }
        }
    }

    /// Whether a running recording holds the file: `mprof run`, `attach` and programs adding `FUNC` records
    /// hold a shared `flock` on it while they write.
    static func isBeingRecorded(_ file: String) -> Bool {
        guard let descriptor = try? Descriptor.open(file, .readOnly, options: [.nonBlocking, .noFollow]) else {
            return false
        }
        defer { descriptor.close() }
        return (try? descriptor.tryLock(exclusive: true)) == false
    }

    /// The heap capture of the same run (`mprofile_X.heap` beside `mprofile_X.dat`), if there is one that reads;
    /// one that does not is a warning, and the plot or verdict goes on without it.
    static func heapCapture(besideRecording file: MprofFile) -> HeapCapture? {
        let path = HeapCapture.path(besideRecording: file.path)
        guard (try? FileStatus(path: path))?.kind == .regular else { return nil }
        do {
            return try HeapCapture(path: path)
        } catch {
            StandardError.write("mprof: warning: the heap in use is left out: \(error.message)")
            return nil
        }
    }
}
