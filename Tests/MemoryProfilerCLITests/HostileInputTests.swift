import Foundation
import MemoryProfilerTestSupport
import Testing

import Glibc

/// Hostile and odd input files through the real `mprof` (`peak`, `peak --json`, `plot` to SVG, HTML and the
/// terminal, `lines`): it must never die of a signal, never run past a bound, never print a control character
/// but line feed and tab nor an invisible format character, and either answer correctly or fail with a message
/// that names the file and nothing on standard output (`--json`: valid JSON or nothing).
@Suite struct HostileInputTests {
    @Test(arguments: HostileCase.all)
    func mprofSurvivesIt(_ hostile: HostileCase) throws {
        let directory = try TemporaryDirectory()
        let input = try hostile.input.create(in: directory.path)
        let arguments = hostile.command.map { $0 == "FILE" ? input.path : $0 }
        let started = ContinuousClock.now
        let result = try runCommand(
            "sh", ["-c", #"cd "$0" && exec timeout -s KILL 20 "$@""#, directory.path, BuiltProducts.path("mprof")] + arguments,
            environment: hostile.environment)
        let elapsed = ContinuousClock.now - started

        #expect(elapsed < .seconds(20), "mprof \(arguments) ran for \(elapsed) and was killed")
        #expect(result.status < 128, "mprof \(arguments) died of a signal: \(result.termination)\n\(result.standardError)")
        for (name, text) in [("standard output", result.standardOutput), ("standard error", result.standardError)] {
            let bad = text.utf8.first { ($0 < 0x20 && $0 != 0x0A && $0 != 0x09) || $0 == 0x7F }
            #expect(bad == nil, "a control character (\(bad.map { String($0, radix: 16) } ?? "")) in \(name): \(text.debugDescription.prefix(300))")
            let invisible = text.unicodeScalars.first { $0.properties.generalCategory == .format }
            #expect(invisible == nil, "an invisible format character (\(invisible.map { String($0.value, radix: 16) } ?? "")) in \(name)")
        }
        if arguments.contains("--json"), !result.standardOutput.isEmpty {
            #expect(
                (try? JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8))) != nil,
                "--json printed what is not JSON: \(result.standardOutput.prefix(300))")
        }
        switch hostile.expected {
        case .success(let output):
            #expect(result.status == 0, "\(result.standardError)")
            #expect(output.isEmpty || result.standardOutput.contains(output), "\(result.standardOutput.prefix(2000))")
        case .failure(let message):
            #expect(result.status != 0 && result.status < 128, "\(result.standardOutput.prefix(300))")
            #expect(result.standardOutput.isEmpty, "a failure printed on standard output: \(result.standardOutput.prefix(300))")
            #expect(result.standardError.contains(input.shownName), "the error names no file: \(result.standardError.prefix(500))")
            if let message {
                #expect(result.standardError.contains(message), "\(result.standardError.prefix(500))")
            }
        case .notANumber(let message):
            #expect(result.status != 0 && result.status < 128)
            #expect(result.standardOutput.hasSuffix("/\(input.shownName)\tNaN MiB\n"), "\(result.standardOutput.prefix(300))")
            #expect(result.standardError.contains(message), "\(result.standardError.prefix(500))")
        case .optionError(let option):
            #expect(result.status != 0 && result.status < 128, "\(result.standardOutput.prefix(300))")
            // A usage error: ArgumentParser names the value and the option, then gives the reason.
            #expect(result.standardError.contains(option), "\(result.standardError.prefix(500))")
            #expect(result.standardError.hasPrefix("Error: "), "\(result.standardError.prefix(500))")
        }
        #expect(result.standardError.utf8.count < 4000, "an error message that long quotes too much")
    }

    /// `mprof plot data.svg` must not write its picture over the profile it reads, whatever the path's spelling.
    @Test func thePlotIsNeverWrittenOverItsInput() throws {
        let directory = try TemporaryDirectory()
        let profile = "MEM 1 1\nMEM 2 2\n"
        try profile.write(toFile: "\(directory.path)/data.svg", atomically: true, encoding: .utf8)
        #expect(symlink("\(directory.path)/data.svg", "\(directory.path)/link.dat") == 0)
        #expect(link("\(directory.path)/data.svg", "\(directory.path)/hard.dat") == 0)
        for arguments in [["plot", "data.svg"], ["plot", "-o", "data.svg", "link.dat"], ["plot", "-o", "./hard.dat", "data.svg"],
                          ["plot", "-o", "data.svg", "hard.dat"]] {
            let result = try directory.mprof(arguments)
            #expect(result.status == 1, "\(arguments): \(result.standardError)")
            #expect(result.standardError.contains("is the input"), "\(arguments): \(result.standardError)")
            #expect(try String(contentsOfFile: "\(directory.path)/data.svg", encoding: .utf8) == profile)
        }
        #expect(try directory.files() == ["data.svg", "hard.dat", "link.dat"])
    }

    /// The old temporary name, `DEST.partial-<pid>`, could be planted as a link to another file, which the
    /// plot then overwrote and renamed into place. The temporary is now created exclusively, under a name
    /// nobody can guess, and nothing of it is left.
    @Test func aPlantedTemporaryNameIsNeverWrittenThrough() throws {
        let directory = try TemporaryDirectory()
        try "MEM 1 1\nMEM 2 2\n".write(toFile: "\(directory.path)/p.dat", atomically: true, encoding: .utf8)
        try "victim\n".write(toFile: "\(directory.path)/victim", atomically: true, encoding: .utf8)
        let result = try runCommand(
            "sh", ["-c", #"cd "$0" && for n in 0 1 2 3; do ln -s victim "out.svg.partial-$(($$ + n))"; done && exec "$1" plot -o out.svg p.dat"#,
                   directory.path, BuiltProducts.path("mprof")])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(try String(contentsOfFile: "\(directory.path)/victim", encoding: .utf8) == "victim\n")
        var status = stat()
        #expect(lstat("\(directory.path)/out.svg", &status) == 0 && status.st_mode & S_IFMT == S_IFREG, "out.svg is not a regular file")
        #expect(try directory.files().filter { !$0.hasPrefix("out.svg.partial-") } == ["out.svg", "p.dat", "victim"])
    }

    /// A regular file is replaced with one of its permissions; a link is written through, as `>` writes, so
    /// that a link to `/dev/full` fails and a link to a file updates the file; a FIFO is written to its reader,
    /// and one without a reader is an error, not a hang; a directory is refused.
    @Test func theOutputIsReachedAsTheShellWouldReachIt() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path
        try "MEM 1 1\nMEM 2 2\n".write(toFile: "\(path)/p.dat", atomically: true, encoding: .utf8)

        try "old".write(toFile: "\(path)/private.svg", atomically: true, encoding: .utf8)
        #expect(chmod("\(path)/private.svg", 0o600) == 0)
        #expect(try directory.mprof(["plot", "-o", "private.svg", "p.dat"]).status == 0)
        var status = stat()
        #expect(stat("\(path)/private.svg", &status) == 0 && status.st_mode & 0o777 == 0o600)
        #expect(try String(contentsOfFile: "\(path)/private.svg", encoding: .utf8).hasSuffix("</svg>\n"))

        #expect(symlink("/dev/full", "\(path)/full.svg") == 0)
        let full = try directory.mprof(["plot", "-o", "full.svg", "p.dat"])
        #expect(full.status == 1)
        #expect(full.standardError == "Error: cannot write full.svg: No space left on device\n")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: "\(path)/full.svg")) == "/dev/full")

        try "old".write(toFile: "\(path)/target.svg", atomically: true, encoding: .utf8)
        #expect(symlink("target.svg", "\(path)/link.svg") == 0)
        #expect(try directory.mprof(["plot", "-o", "link.svg", "p.dat"]).status == 0)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: "\(path)/link.svg")) == "target.svg")
        #expect(try String(contentsOfFile: "\(path)/target.svg", encoding: .utf8).hasSuffix("</svg>\n"))

        #expect(mkfifo("\(path)/fifo.svg", 0o644) == 0)
        let lonely = try directory.mprof(["plot", "-o", "fifo.svg", "p.dat"])
        #expect(lonely.status == 1)
        #expect(lonely.standardError.contains("cannot write fifo.svg: a FIFO that no process is reading"))
        // The reader: this process, which opens the FIFO without waiting and reads it once mprof is done (the
        // picture fits in the pipe's buffer).
        let reader = open("\(path)/fifo.svg", O_RDONLY | O_NONBLOCK)
        #expect(reader >= 0)
        defer { close(reader) }
        let written = try directory.mprof(["plot", "-o", "fifo.svg", "p.dat"])
        #expect(written.status == 0, "\(written.standardError)")
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let count = read(reader, &buffer, buffer.count)
        #expect(count > 0 && String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self).hasSuffix("</svg>\n"))

        #expect(mkdir("\(path)/folder.svg", 0o755) == 0)
        let folder = try directory.mprof(["plot", "-o", "folder.svg", "p.dat"])
        #expect(folder.standardError == "Error: cannot write folder.svg: Is a directory\n")
        #expect(try directory.files().filter { $0.hasSuffix(".partial") }.isEmpty)
    }

    /// Tests run as root, who may write any file; as `nobody`, a file `nobody` may not write is refused
    /// although the directory (mode 0777) would let it be replaced, and a shared writable file keeps its owner.
    @Test(.enabled(if: canRunAsNobody, "needs root, setpriv, and an mprof that the user nobody may run"))
    func aFileTheUserMayNotWriteIsRefused() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path
        #expect(chmod(path, 0o777) == 0)
        try "MEM 1 1\nMEM 2 2\n".write(toFile: "\(path)/p.dat", atomically: true, encoding: .utf8)
        for (name, owner, mode) in [("roots.svg", uid_t(0), mode_t(0o644)), ("read-only.svg", uid_t(65534), mode_t(0o444))] {
            try "old".write(toFile: "\(path)/\(name)", atomically: true, encoding: .utf8)
            #expect(chown("\(path)/\(name)", owner, 0) == 0 && chmod("\(path)/\(name)", mode) == 0)
            let result = try Self.mprofAsNobody(["plot", "-o", name, "p.dat"], in: path)
            #expect(result.status == 1)
            #expect(result.standardError == "Error: cannot write \(name): Permission denied\n")
            #expect(try String(contentsOfFile: "\(path)/\(name)", encoding: .utf8) == "old")
        }
        try "old".write(toFile: "\(path)/shared.svg", atomically: true, encoding: .utf8)
        #expect(chmod("\(path)/shared.svg", 0o666) == 0)
        let shared = try Self.mprofAsNobody(["plot", "-o", "shared.svg", "p.dat"], in: path)
        #expect(shared.status == 0, "\(shared.standardError)")
        var status = stat()
        #expect(stat("\(path)/shared.svg", &status) == 0 && status.st_uid == 0 && status.st_mode & 0o777 == 0o666)
        #expect(try String(contentsOfFile: "\(path)/shared.svg", encoding: .utf8).hasSuffix("</svg>\n"))
        #expect(try directory.files().filter { $0.hasSuffix(".partial") }.isEmpty)
    }

    /// A profile read from a pipe has no name to put a picture beside: `/dev/stdin.svg` would be a file in
    /// `/dev`, and `<(…)`'s `/dev/fd/63.svg` cannot be created.
    @Test func aProfileFromAPipeNeedsAnOutputName() throws {
        let directory = try TemporaryDirectory()
        try "MEM 1 1\nMEM 2 2\n".write(toFile: "\(directory.path)/p.dat", atomically: true, encoding: .utf8)
        let before = FileManager.default.fileExists(atPath: "/dev/stdin.svg")
        for command in [#"cat p.dat | "$1" plot /dev/stdin"#, #"exec bash -c '"$0" plot <(cat p.dat)' "$1""#] {
            let result = try runCommand("sh", ["-c", #"cd "$0" && "# + command, directory.path, BuiltProducts.path("mprof")])
            #expect(result.status == 1, "\(command): \(result.standardError)")
            #expect(result.standardError.contains("is not a regular file (a pipe?), so the picture cannot be named after it: name it with -o FILE.svg"), "\(result.standardError)")
        }
        #expect(FileManager.default.fileExists(atPath: "/dev/stdin.svg") == before)
        let named = try runCommand("sh", ["-c", #"cd "$0" && cat p.dat | "$1" plot -o piped.svg /dev/stdin"#, directory.path, BuiltProducts.path("mprof")])
        #expect(named.status == 0, "\(named.standardError)")
        #expect(try directory.files() == ["p.dat", "piped.svg"])
    }

    /// PNG through a stand-in `rsvg-convert` on `PATH`: the picture comes back on a pipe, and whether the
    /// converter succeeds or fails, no temporary file is left (`TMPDIR` is the test directory); a failure
    /// leaves the picture already there alone.
    /// A value the parser refuses is repeated in its message: a control character in it reaches the terminal
    /// escaped, as in every other message (raw, it cleared the screen and set the window title). The status is
    /// still the parser's (64).
    @Test(arguments: [
        ["heap", "--view", HostileCase.escapes, "x.heap"], ["heap", "diff", "--fail-above", HostileCase.escapes, "a", "b"],
        ["run", "-T", HostileCase.escapes, "true"], [HostileCase.escapes],
    ])
    func aRefusedArgumentIsEscaped(arguments: [String]) throws {
        let result = try runProduct("mprof", arguments)
        #expect(result.status == 64, "\(result.standardError)")
        #expect(result.standardError.contains(#"\x1B]0;pwned"#), "\(result.standardError)")
        #expect(!result.standardError.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x9B })
    }

    @Test func aPNGLeavesNoTemporaryFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path
        try "MEM 1 1\nMEM 2 2\n".write(toFile: "\(path)/p.dat", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: "\(path)/bin", withIntermediateDirectories: false)
        for (script, succeeds) in [(#"grep -q '</svg>' "$5" && printf '\211PNG\r\n\032\n' && echo picture"#, true), ("exit 3", false)] {
            // Written by the shell, not by this process: a file this multithreaded process has open for writing
            // when another test spawns a program cannot be run ("Text file busy").
            let result = try runCommand(
                "sh", ["-c", #"cd "$0" && printf '#!/bin/sh\n%s\n' "$2" > bin/rsvg-convert && chmod 755 bin/rsvg-convert && PATH="$0/bin:$PATH" TMPDIR="$0" exec "$1" plot -o plot.png p.dat"#,
                       path, BuiltProducts.path("mprof"), script])
            #expect(result.status == (succeeds ? 0 : 1), "\(result.standardError)")
            #expect(try directory.files() == ["bin", "p.dat", "plot.png"])
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(path)/plot.png")) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array("picture\n".utf8)))
        }
    }

    static func mprofAsNobody(_ arguments: [String], in directory: String) throws -> CommandResult {
        try runCommand(
            "sh", ["-c", #"cd "$0" && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@""#, directory,
                   BuiltProducts.path("mprof")] + arguments)
    }
}

/// Whether the tests can run `mprof` as the user nobody: as root, with util-linux's `setpriv`, from a build
/// directory that nobody may enter.
let canRunAsNobody: Bool = {
    guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { return false }
    return (try? HostileInputTests.mprofAsNobody(["--version"], in: "/"))?.status == 0
}()

/// One hostile input and what mprof must do with it.
struct HostileCase: Sendable, CustomTestStringConvertible {
    enum Input: Sendable {
        /// A file with these bytes, named `name`.
        case bytes([UInt8], name: String = "hostile.dat")
        /// A FIFO that no process writes.
        case fifoWithoutWriter
        /// An existing path, such as `/dev/zero`.
        case path(String)
        /// The test directory itself.
        case directory

        static func text(_ text: String, name: String = "hostile.dat") -> Input {
            .bytes(Array(text.utf8), name: name)
        }

        func create(in directory: String) throws -> (path: String, shownName: String) {
            switch self {
            case .bytes(let bytes, let name):
                let path = "\(directory)/\(name)"
                guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
                    throw WorkloadError("cannot create \(path)")
                }
                // What mprof prints of the name: control characters escaped.
                return (path, name.contains("\u{1B}") ? name.replacingOccurrences(of: "\u{1B}", with: #"\x1B"#) : name)
            case .fifoWithoutWriter:
                let path = "\(directory)/pipe.dat"
                guard mkfifo(path, 0o644) == 0 else { throw WorkloadError("mkfifo failed") }
                return (path, "pipe.dat")
            case .path(let path):
                return (path, path)
            case .directory:
                return (directory, directory)
            }
        }
    }

    enum Expected: Sendable {
        /// Exit 0 with this in the standard output.
        case success(String)
        /// A non-zero exit with an error that names the file and says this, and nothing on standard output.
        case failure(String?)
        /// memory_profiler's `<file>\tNaN MiB` (for `peak --func` of a function the file does not have), then a
        /// non-zero exit with an error that says this.
        case notANumber(String)
        /// A non-zero exit with an error about this option.
        case optionError(String)
    }

    var name: String
    var input: Input
    var command: [String]
    var environment: [String: String] = [:]
    var expected: Expected

    var testDescription: String { "\(name): mprof \(command.joined(separator: " "))" }

    static let escapes = "\u{1B}]0;pwned\u{7}\u{1B}[2J\u{1B}[31m\u{9B}"
    static let samples = ProfileFilesCommandTests.samples

    static let manyCalls: String = {
        var text = "CMDLINE python3 busy.py\n"
        for index in 0..<20_000 {
            let time = 1_700_000_000 + Double(index) * 0.01
            text += "MEM \(100 + index % 50).5 \(time)\n"
            text += "FUNC __main__.work \(100 + index % 50).5 \(time) \(101 + index % 50).0 \(time + 0.005) \(index % 3)\n"
        }
        return text
    }()

    static let lineProfile = #"""
        {"functions":[{"name":"f\u001b]0;x\u0007","file":"/tmp/\u001b[2Ja.swift","calls":1,"precision":PRECISION,
        "lines":[{"number":-9223372036854775808,"contents":"let x = \"\u001b[2J\"\tok","occurrences":1,
        "memoryUsage":9223372036854775807,"increment":-9223372036854775808,"peak":null,"heapIncrement":null}]}],
        "notes":["\u001b[31mred"]}
        """#

    static let all: [HostileCase] = {
        var cases: [HostileCase] = []
        func everyCommand(_ name: String, _ input: Input, peak: Expected, plot: Expected) {
            cases.append(HostileCase(name: name, input: input, command: ["peak", "FILE"], expected: peak))
            cases.append(HostileCase(name: name, input: input, command: ["peak", "--json", "FILE"], expected: peak.json))
            cases.append(HostileCase(name: name, input: input, command: ["plot", "-o", "out.svg", "FILE"], expected: plot))
            cases.append(HostileCase(name: name, input: input, command: ["plot", "-o", "out.html", "--flame", "FILE"], expected: plot))
            let oddColumns = ["100000", "0", "-5", "abc", ""]
            for columns in ["100", oddColumns[cases.count % oddColumns.count]] {
                cases.append(
                    HostileCase(
                        name: name, input: input, command: ["plot", "--terminal", "FILE"],
                        environment: ["COLUMNS": columns, "LINES": "99999999999999999999"], expected: plot.terminal))
            }
        }
        let refused: Expected = .failure(nil)
        let plotted: Expected = .success("")
        everyCommand(
            "FUNC memory beyond 2^40 MiB", .text("MEM 1 100\nMEM 5 101\nFUNC f 1e13 100 2 101 0\n"),
            peak: .failure(":3: FUNC has \"1e13\" where the memory at the start should be"), plot: refused)
        everyCommand("time going backwards", .text("MEM 1 1000000\nMEM 2 0\n"), peak: .success("\t2.000 MiB"), plot: plotted)
        everyCommand("times in random order", .text("MEM 3 50\nMEM 1 10\nMEM 7 30\nMEM 2 20\n"), peak: .success("\t7.000 MiB"), plot: plotted)
        everyCommand("a single sample", .text("MEM 42 1700000000\n"), peak: .success("\t42.000 MiB"), plot: plotted)
        everyCommand("all at one time", .text("MEM 1 5\nMEM 9 5\nMEM 4 5\n"), peak: .success("\t9.000 MiB"), plot: plotted)
        everyCommand("all-equal memory", .text("MEM 0 1\nMEM 0 2\nMEM 0 3\n"), peak: .success("\t0.000 MiB"), plot: plotted)
        everyCommand(
            "only the lifetime peak", .text("CMDLINE /bin/true\nPEAK 1.5 1795903151.0824\n"),
            peak: .success("\t1.500 MiB\t(kernel high-water mark; the program ended before the first sample)"), plot: plotted)
        everyCommand("an empty file", .text(""), peak: .failure("has no memory samples"), plot: .failure("no memory samples"))
        everyCommand("only CMDLINE", .text("CMDLINE python3 x.py\n"), peak: .failure("has no memory samples"), plot: .failure("no memory samples"))
        everyCommand("NUL bytes", .bytes(Array("MEM 1 1\n".utf8) + [0, 0, 0, 0x0A]), peak: .failure(":2: "), plot: .failure(":2: "))
        everyCommand(
            "invalid UTF-8", .bytes(Array("CMDLINE ".utf8) + [0xFF, 0xFE, 0xC3, 0x0A] + Array("MEM 1 1\nFUNC \u{FF}".utf8) + [0xC0, 0x80] + Array(" 1 1 1 1\n".utf8)),
            peak: .success("\t1.000 MiB"), plot: plotted)
 everyCommand(
            "a byte order mark", .bytes([0xEF, 0xBB, 0xBF] + Array("CMDLINE python3 x.py\nMEM 1 1\nMEM 3 2\n".utf8)),
            peak: .success("\t3.000 MiB"), plot: plotted)
        everyCommand(
            "tabs and runs of blanks", .text("MEM\t1\t1\nMEM  \t3 \t 2\nFUNC\tf\t1 1\t2 2\t+1\nFUNC f 1 1 2 2 -0\nCHLD\t7\t2\t1\n"),
            peak: .success("\t3.000 MiB"), plot: plotted)
        everyCommand("a level of -1", .text("MEM 1 1\nFUNC f 1 1 2 2 -1\n"), peak: .failure("\"-1\" where the nesting level should be: from 0 to 10000"), plot: refused)
        everyCommand(
            "invisible characters in the bad line", .text("MEM 1 1\n\u{FEFF}zz\u{200B}\u{2060}\u{AD} 1\n"),
            peak: .failure(#"not a record of an mprof file: "\u{FEFF}zz\u{200B}\u{2060}\u{AD} 1""#), plot: refused)
        everyCommand(
            "invisible characters in CMDLINE and FUNC", .text("CMDLINE a\u{200E}b\u{FEFF}\nMEM 1 1\nFUNC f\u{200D}g 1 1 1 1\n"),
            peak: .success("\t1.000 MiB"), plot: plotted)
        everyCommand("CRLF lines", .text("CMDLINE x\r\nMEM 1 1\r\nMEM 3 2\r\n"), peak: .success("\t3.000 MiB"), plot: plotted)
        everyCommand(
            "a 2 MiB line", .text("MEM 1 1\nCMDLINE " + String(repeating: "x", count: 2 << 20) + "\n"),
            peak: .failure("longer than 1 MiB"), plot: .failure("longer than 1 MiB"))
        everyCommand(
            "a 3 MiB number without a line break", .text("MEM 1 " + String(repeating: "9", count: 3 << 20)),
            peak: .failure("longer than 1 MiB"), plot: .failure("longer than 1 MiB"))
        everyCommand("negative memory", .text("MEM -5 1\n"), peak: .failure("should be: a number of MiB from 0 to 2^40"), plot: refused)
        everyCommand("1e308 MiB", .text("MEM 1e308 1\n"), peak: .failure("from 0 to 2^40"), plot: refused)
        everyCommand("a time of 1e308", .text("MEM 1 1e308\n"), peak: .failure("from 0 to 1e11"), plot: refused)
        everyCommand("minus zero", .text("MEM -0 1\nMEM -0.0 2\n"), peak: .success("\t0.000 MiB"), plot: plotted)
        everyCommand("exponents and signs", .text("MEM 1.5e1 1\nMEM +2E+0 2\nMEM .5 3\n"), peak: .success("\t15.000 MiB"), plot: plotted)
        everyCommand("a huge level", .text("MEM 1 1\nFUNC f 1 1 2 2 99999999999999999999999\n"), peak: .failure("nesting level"), plot: refused)
        everyCommand("level 10001", .text("MEM 1 1\nFUNC f 1 1 2 2 10001\n"), peak: .failure("from 0 to 10000"), plot: refused)
        everyCommand(
            "a PID beyond Int32", .text("MEM 1 1\nCHLD 2147483648 1 1\n"), peak: .failure("CHLD needs a child's PID"), plot: refused)
        everyCommand(
            "duplicate records",
            .text("CMDLINE a\nCMDLINE a\n" + String(repeating: "MEM 3 1\nFUNC f 3 1 3 1 0\nCHLD 7 2 1\nPEAK 4 1\n", count: 1000)),
            peak: .success("\t4.000 MiB"), plot: plotted)
        for word in ["0x10", "nan", "inf", "-inf", "1_0", "1e", "١", "infinity", "0b1"] {
            everyCommand("\(word) as memory", .text("MEM 1 1\nMEM \(word) 2\n"), peak: .failure(":2: MEM has"), plot: refused)
        }
        everyCommand(
            "escape sequences in CMDLINE, READER and FUNC",
            .text("CMDLINE \(escapes)\nREADER \(escapes)\nMEM 1 1\nMEM 2 2\nFUNC \(escapes) 1 1 2 2 0\n"),
            peak: .success("\t2.000 MiB"), plot: plotted)
        everyCommand(
            "escape sequences in the bad line", .text("MEM 1 1\n\(escapes) 1 2\n"), peak: .failure(#"\x1B]0;pwned"#), plot: refused)
        everyCommand(
            "a bad field of 500 KiB", .text("MEM 1 1\nMEM " + String(repeating: "7x", count: 250_000) + " 2\n"),
            peak: .failure("… (500000 bytes)"), plot: refused)
        everyCommand(
            "escape sequences in the file name", .text("MEM 1 1\n", name: "bad\u{1B}[2Jname.dat"),
            peak: .success(#"bad\x1B[2Jname.dat"#), plot: plotted)
        everyCommand("20,000 function calls", .text(manyCalls), peak: .success("\t149.500 MiB"), plot: plotted)
        everyCommand("a FIFO without a writer", .fifoWithoutWriter, peak: .failure("has no memory samples"), plot: .failure("no memory samples"))
        everyCommand("/dev/zero", .path("/dev/zero"), peak: .failure("not a regular file"), plot: .failure("not a regular file"))
        everyCommand("a directory", .directory, peak: .failure("not a regular file"), plot: .failure("not a regular file"))

        let file = Input.text("MEM 1 1\nMEM 2 2\nFUNC f 1 1 2 2 0\n")
        cases.append(HostileCase(
            name: "unknown function with escapes", input: .text("MEM 1 1\nFUNC \(escapes) 1 1 1 1\n"),
            command: ["peak", "--func", "g\u{1B}[2J", "FILE"], expected: .notANumber(#"\x1B]0;pwned"#)))
        cases.append(HostileCase(
            name: "unknown function as JSON", input: .text("MEM 1 1\nFUNC f 1 1 1 1\n"),
            command: ["peak", "--json", "--func", "g", "FILE"], expected: .failure("has no function g")))
        cases.append(HostileCase(
            name: "a function without samples", input: .text("MEM 1 1\nFUNC f 5 5 5 6\n"),
            command: ["peak", "--func", "f", "FILE"], expected: .failure("has no memory samples during f")))
        let lifetimePeakOnly = Input.text("CMDLINE /bin/true\nPEAK 1.5 1795903151.0824\n")
        for command in [["peak", "--sampled", "FILE"], ["peak", "--sampled", "--json", "FILE"]] {
            cases.append(HostileCase(
                name: "only the lifetime peak, sampled", input: lifetimePeakOnly, command: command,
                expected: .failure("has no memory samples, only the kernel's lifetime peak (1.500 MiB)")))
        }
        cases.append(HostileCase(
            name: "a good file and an empty one as JSON", input: .text(""),
            command: ["peak", "--json", "\(Self.samples)/step_alloc.dat", "FILE"], expected: .failure("has no memory samples")))
        for size in ["nanxnan", "infx100", "1e309x300", "0x10x300", "960x", "x540", "-960x540", "99999999999x540"] {
            cases.append(HostileCase(name: "size \(size)", input: file, command: ["plot", "--size=\(size)", "-o", "o.svg", "FILE"], expected: .optionError("--size")))
        }
        for window in ["nan,1", "0,inf", "0,1e300", "5,1", "0x1,2", ",", "1,2,3"] {
            cases.append(HostileCase(name: "window \(window)", input: file, command: ["plot", "--window=\(window)", "-o", "o.svg", "FILE"], expected: .optionError("--window")))
        }
        for window in ["-1e11,1e11", "0,1.5"] {
            cases.append(HostileCase(name: "window \(window)", input: file, command: ["plot", "--terminal", "--window=\(window)", "FILE"], expected: .success("")))
        }
        for window in ["1e-320,2e-320", "1,1.0000009"] {
            cases.append(HostileCase(name: "window \(window)", input: file, command: ["plot", "--window=\(window)", "-o", "o.svg", "FILE"], expected: .optionError("--window must be at least 1 µs")))
        }
        for (window, between) in [("5,6", "between 5 and 6 s"), ("1e10,1e11", "between 10000000000 and 100000000000 s"), ("0.5,0.6", "between 0.5 and 0.6 s")] {
            for output in [["-o", "o.svg"], ["--terminal"]] {
                cases.append(HostileCase(
                    name: "window \(window) without samples", input: file, command: ["plot", "--window=\(window)"] + output + ["FILE"],
                    expected: .failure("\(between) (the data spans 0–1 s): choose another --window")))
            }
        }
        cases.append(HostileCase(
            name: "a 1 µs window", input: .text("MEM 1 100\nMEM 2 100.0000002\nMEM 3 100.0000004\nMEM 2 100.000002\n"),
            command: ["plot", "--terminal", "--window=0,0.000001", "FILE"], expected: .success("0.0000010 s")))
        for precision in ["9223372036854775807", "-9223372036854775808", "13", "-1"] {
            cases.append(HostileCase(
                name: "line profile with precision \(precision)", input: .text(lineProfile.replacingOccurrences(of: "PRECISION", with: precision), name: "profile.json"),
                command: ["lines", "FILE"], expected: .failure("must be from 0 to 12")))
        }
        let escapedProfile = Input.text(lineProfile.replacingOccurrences(of: "PRECISION", with: "3"), name: "profile.json")
        cases.append(HostileCase(name: "line profile with escape sequences", input: escapedProfile, command: ["lines", "FILE"], expected: .success("Note: \\x1B[31mred")))
        cases.append(HostileCase(name: "line profile as JSON", input: escapedProfile, command: ["lines", "--format", "json", "FILE"], expected: .success("\"notes\"")))
        cases.append(HostileCase(name: "line profile that is not JSON", input: .text("{\u{1B}[2J"), command: ["lines", "FILE"], expected: .failure("is not a line profile")))
        for input in [Input.path("/dev/zero"), .directory, .fifoWithoutWriter] {
            cases.append(HostileCase(name: "line profile from \(input)", input: input, command: ["lines", "FILE"], expected: .failure(nil)))
        }
        cases.append(HostileCase(
            name: "a JSON chart from /dev/zero", input: .path("/dev/zero"), command: ["plot", "-o", "o.svg", "FILE"], expected: .failure("not a regular file")))
        cases.append(HostileCase(
            name: "a JSON chart with NaN and escapes", input: .text("{\"size\": 1e999, \"peak\": 1, \"increment\": 1}\n", name: "scaling.jsonl"),
            command: ["plot", "-o", "o.svg", "FILE"], expected: .failure("not a line of memory-scaling")))
        // Every run took `seconds`; a reading costs a thousandth of that, in µs the seconds times 1000.
        for (seconds, message) in [
            ("0", "readings[0] (rss) costs 0 µs a reading"), ("2e6", "readings[0] (rss) costs 2000000000 µs a reading"),
            ("-1", "readings[0] (rss): cost.minimumSeconds is -1; it must be from 0 to 1e10 seconds"),
            ("1e300", "readings[0] (rss): cost.minimumSeconds is 1e+300; it must be from 0 to 1e10 seconds"),
            ("true", "readings[0].cost.medianSeconds must be a number, not bool"),
            ("\"2\"", "readings[0].cost.medianSeconds must be a number, not a string"),
        ] {
            let cost = "{\"count\": 1000, \"repeats\": 1, \"medianSeconds\": \(seconds), \"minimumSeconds\": \(seconds), \"maximumSeconds\": \(seconds)}"
            let report = "{\"pid\": 5, \"readings\": [{\"reader\": \"rss\", \"cost\": \(cost)}]}"
            cases.append(HostileCase(
                name: "a readers chart with runs of \(seconds) s", input: .text(report, name: "readers.json"),
                command: ["plot", "-o", "o.svg", "FILE"], expected: .failure(message)))
        }
        let cost = "\"cost\": {\"count\": 10, \"repeats\": 3, \"medianSeconds\": 1e-4, \"minimumSeconds\": 1e-4, \"maximumSeconds\": 2e-4}"
        for (reading, message) in [
            ("{\"reader\": \"rss\", \"cost\": {\"medianMicrosecondsPerReading\": 5}}", "readings[0].cost.count is missing"),
            ("{\"reader\": \"vms\", \(cost)}", "readings[0].reader: "),
            ("{\"reader\": \"rss\", \"bytes\": 1.5, \(cost)}", "readings[0].bytes is 1.5; it must be a whole number"),
            ("{\"reader\": \"rss\", \"bytes\": -4, \(cost)}", "readings[0] (rss) read -4 bytes"),
            ("{\"reader\": \"rss\", \(cost.replacingOccurrences(of: "\"count\": 10", with: "\"count\": 0"))}", "cost.count is 0"),
            ("{\"reader\": \"rss\", \(cost.replacingOccurrences(of: "\"medianSeconds\": 1e-4", with: "\"medianSeconds\": 1"))}",
             "cost.medianSeconds must lie from cost.minimumSeconds to cost.maximumSeconds"),
        ] {
            cases.append(HostileCase(
                name: "a readers chart with \(reading)", input: .text("{\"pid\": 5, \"readings\": [\(reading)]}", name: "readers.json"),
                command: ["plot", "-o", "o.svg", "FILE"], expected: .failure(message)))
        }
        for (pid, message) in [("0", "pid is 0; a PID is a whole number from 1"), ("1e10", "pid is 10000000000; it must be a whole number below 2^31")] {
            cases.append(HostileCase(
                name: "a readers chart of PID \(pid)", input: .text("{\"pid\": \(pid), \"readings\": [{\"reader\": \"rss\", \(cost)}]}", name: "readers.json"),
                command: ["plot", "-o", "o.svg", "FILE"], expected: .failure(message)))
        }
        cases.append(HostileCase(
            name: "a readers chart without readings", input: .text("{\"pid\": 5, \"readings\": []}", name: "readers.json"),
            command: ["plot", "-o", "o.svg", "FILE"], expected: .failure("has no reading with a cost to draw")))
        cases.append(HostileCase(
            name: "a readers chart without a PID", input: .text("{\"readings\": []}", name: "readers.json"),
            command: ["plot", "-o", "o.svg", "FILE"], expected: .failure("pid is missing")))
        cases.append(HostileCase(
            name: "a readers chart of failed readings", input: .text("{\"pid\": 5, \"readings\": [{\"reader\": \"pss\", \"error\": \"no\"}]}", name: "readers.json"),
            command: ["plot", "-o", "o.svg", "FILE"], expected: .failure("has no reading with a cost to draw")))
        let point = "{\"inputSize\": 1, \"baseline\": 0, \"peak\": 1, \"duration\": [0, 0]}"
        for (line, message) in [
            ("{\"inputSize\": true, \"baseline\": 0, \"peak\": 1, \"duration\": [0, 0]}", "inputSize must be a whole number, not bool"),
            ("{\"inputSize\": 1, \"baseline\": 0, \"peak\": -1, \"duration\": [0, 0]}", ":2: peak is -1; it must be from 0 to 2^60 bytes"),
            ("{\"inputSize\": -1, \"baseline\": 0, \"peak\": 1, \"duration\": [0, 0]}", ":2: inputSize is -1; it must be from 0 to 1e15"),
            ("{\"inputSize\": 1, \"baseline\": 0, \"peak\": 1e300, \"duration\": [0, 0]}", "peak is 1e+300; it must be a whole number below 2^63"),
            ("{\"inputSize\": 1, \"baseline\": 0, \"peak\": 1.5, \"duration\": [0, 0]}", "peak is 1.5; it must be a whole number"),
            ("{\"inputSize\": 1, \"baseline\": 0, \"peak\": null, \"duration\": [0, 0]}", "nor mprof readers --bench --format json: peak must be a whole number, not null"),
            ("{\"inputSize\": 1, \"baseline\": 2, \"peak\": 1, \"duration\": [0, 0]}", ":2: peak (1) is below baseline (2)"),
            ("{\"inputSize\": 1, \"baseline\": 0, \"peak\": 1, \"duration\": [-1, 0]}", ":2: duration is -"),
            ("{\"inputSize\": 1, \"baseline\": 0, \"peak\": 1, \"duration\": 1.5}", "duration must be an array, not number"),
            ("{\"size\": 1, \"baseline\": 0, \"peak\": 1, \"increment\": 1}", ":2: a line of an older memory-scaling --json"),
        ] {
            cases.append(HostileCase(
                name: "a scaling chart with \(line)", input: .text("\(point)\n\(line)\n", name: "scaling.jsonl"),
                command: ["plot", "-o", "o.svg", "FILE"], expected: .failure(message)))
        }
        return cases
    }()
}

extension HostileCase.Expected {
    /// `peak --json` prints the same numbers as JSON.
    var json: Self {
        switch self {
        case .success(let text) where text.hasPrefix("\t"):
            .success("\"peakMebibytes\" : " + Self.jsonNumber(String(text.split(separator: "\t")[0].dropLast(" MiB".count))))
        case .success: .success("\"peakMebibytes\"")
        default: self
        }
    }

    /// `2.000` as JSONEncoder writes 2.0: `2`; `149.500`: `149.5`.
    static func jsonNumber(_ text: String) -> String {
        guard let value = Double(text) else { return text }
        return value == value.rounded() ? String(Int(value)) : String(value)
    }

    /// The terminal plot says where the peak is.
    var terminal: Self {
        if case .success = self { return .success("peak ") }
        return self
    }
}
