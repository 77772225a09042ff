import Foundation
import MemoryProfilerTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Hostile and odd input files through the real `mprof` (`peak`, `peak --json`, `plot` to SVG, HTML and the
/// terminal, `lines`): it must never die of a signal, never run past a bound, never print a control character
/// but line feed and tab, and either answer correctly or fail with a message that names the file.
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
        }
        switch hostile.expected {
        case .success(let output):
            #expect(result.status == 0, "\(result.standardError)")
            #expect(output.isEmpty || result.standardOutput.contains(output), "\(result.standardOutput.prefix(2000))")
        case .failure(let message):
            #expect(result.status != 0 && result.status < 128, "\(result.standardOutput.prefix(300))")
            #expect(result.standardError.contains(input.shownName), "the error names no file: \(result.standardError.prefix(500))")
            if let message {
                #expect(result.standardError.contains(message), "\(result.standardError.prefix(500))")
            }
        case .optionError(let option):
            #expect(result.status != 0 && result.status < 128, "\(result.standardOutput.prefix(300))")
            #expect(result.standardError.contains("Error: \(option)"), "\(result.standardError.prefix(500))")
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
}

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
        /// A non-zero exit with an error that names the file and says this.
        case failure(String?)
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
            command: ["peak", "--func", "g\u{1B}[2J", "FILE"], expected: .failure(#"\x1B]0;pwned"#)))
        for size in ["nanxnan", "infx100", "1e309x300", "0x10x300", "960x", "x540", "-960x540", "99999999999x540"] {
            cases.append(HostileCase(name: "size \(size)", input: file, command: ["plot", "--size=\(size)", "-o", "o.svg", "FILE"], expected: .optionError("--size")))
        }
        for window in ["nan,1", "0,inf", "0,1e300", "5,1", "0x1,2", ",", "1,2,3"] {
            cases.append(HostileCase(name: "window \(window)", input: file, command: ["plot", "--window=\(window)", "-o", "o.svg", "FILE"], expected: .optionError("--window")))
        }
        for window in ["-1e11,1e11", "1e10,1e11", "0.5,0.6"] {
            cases.append(HostileCase(name: "window \(window)", input: file, command: ["plot", "--terminal", "--window=\(window)", "FILE"], expected: .success("")))
        }
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
