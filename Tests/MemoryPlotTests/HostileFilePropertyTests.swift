import Foundation
import MemoryPlot
import MemoryProfiler
import PropertyBased
import Testing

/// Random and mutated `.dat` text read in-process and drawn: the reader never traps and accepts exactly what
/// the format allows, every accepted file's peak is the one computed independently below, and the renderers
/// draw every accepted file at any size without trapping or printing control characters.
@Suite struct HostileFilePropertyTests {
    /// Files built line by line from random seeds, each line known to be valid or not by construction.
    @Test func generatedFilesAreAcceptedExactlyWhenEveryLineIsValidAndGiveTheExpectedPeak() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...Int(Int32.max)).array(of: 0...30)) { seeds in
            let generated = GeneratedFile(seeds: seeds)
            let file: MprofFile
            do throws(MprofFileError) {
                file = try MprofFile(parsing: generated.text, path: "gen.dat")
            } catch {
                #expect(!generated.isValid, "refused a valid file: \(error)\n\(generated.text.debugDescription)")
                #expect(error.description.hasPrefix("gen.dat:"))
                #expect(!Self.hasControlCharacters(error.description), "\(error.description.debugDescription)")
                return
            }
            #expect(generated.isValid, "accepted an invalid file:\n\(generated.text.debugDescription)")
            Self.expectPeak(of: file, equals: generated.expectedPeak, text: generated.text)
            Self.expectFunctionPeaks(of: file)
            Self.render(file, seed: seeds.first ?? 0)
        }
    }

    /// A real memory_profiler file with random bytes flipped, inserted or removed.
    @Test func mutatedRealFilesNeverTrapAndAcceptedOnesGiveTheIndependentPeak() async throws {
        let original = Array(try String(contentsOfFile: "\(MemoryPlotTests.samples)/step_alloc.dat", encoding: .utf8).utf8)
        let mutations = Gen.int(in: 0...Int(Int32.max)).array(of: 1...8)
        await propertyCheck(count: 300, input: mutations) { seeds in
            let text = String(decoding: Self.mutate(original, seeds), as: UTF8.self)
            let file: MprofFile
            do throws(MprofFileError) {
                file = try MprofFile(parsing: text, path: "mutated.dat")
            } catch {
                #expect(error.description.hasPrefix("mutated.dat:"))
                #expect(!Self.hasControlCharacters(error.description), "\(error.description.debugDescription)")
                return
            }
            Self.expectPeak(of: file, equals: Self.independentPeak(text), text: text)
            Self.expectFunctionPeaks(of: file)
            Self.render(file, seed: seeds[0])
        }
    }

    /// The case a CI run found: a carriage return and line break inserted inside a record. Lines end at line
    /// feeds only; the fragment "952" is an unknown record and skipped, and the next line is read.
    @Test func aLineBreakInsertedInsideARecordStartsANewLine() throws {
        let text = "MEM 200.5 1795585951.0\r\n952\r\nMEM 200441406 1795585951.1956\n"
        let file = try MprofFile(parsing: text, path: "cr.dat")
        #expect(file.samples.map(\.memory) == [MemorySize(mebibytes: 200.5), MemorySize(mebibytes: 200_441_406)])
        #expect(Self.independentPeak(text) == 200_441_406)
        Self.expectPeak(of: file, equals: Self.independentPeak(text), text: text)
    }

    /// Times that go backwards, a single sample, all at one time: every point lands inside the plot area, in
    /// file order (the plot area of a 960×540 picture runs from x = 72 to 936).
    @Test(arguments: [
        ("MEM 1 100\nMEM 5 50\nMEM 3 75\n", 3), ("MEM 1 1000000\nMEM 2 0\n", 2), ("MEM 42 1700000000\n", 1),
        ("MEM 1 5\nMEM 9 5\nMEM 4 5\n", 3), ("MEM 0 1\nMEM 0 2\n", 2),
    ])
    func everyPointIsDrawnInsideThePlot(text: String, count: Int) throws {
        let svg = MemoryPlot(files: [try MprofFile(parsing: text)]).svg()
        let curve = try #require(svg.split(separator: "\n").first { $0.contains("class=\"curve\"") })
        let points = try #require(curve.split(separator: "points=\"").last?.split(separator: "\"").first)
        let pairs = points.split(separator: " ").map { $0.split(separator: ",").compactMap { Double($0) } }
        #expect(pairs.count == count)
        for pair in pairs {
            #expect(pair.count == 2 && (72...936).contains(pair[0]) && (48...484).contains(pair[1]), "\(pairs)")
        }
        if text == "MEM 1 100\nMEM 5 50\nMEM 3 75\n" {
            #expect(pairs.map { $0[0] } == [936, 72, 504], "drawn in file order over 50…100 s")
        }
    }

    // MARK: Checks

    /// The file's peak against `expected` MiB, to the byte (the reader keeps memory in whole bytes; rounding to
    /// them keeps the order, so the highest value rounded is the highest rounded value).
    static func expectPeak(of file: MprofFile, equals expected: Double?, text: String) {
        let peak = file.peak()?.memory
        switch (peak, expected) {
        case (nil, nil): break
        case (let peak?, let expected?):
            #expect(peak == MemorySize(mebibytes: expected), "peak \(peak), expected \(expected)\n\(text.debugDescription)")
        default:
            Issue.record("peak \(String(describing: peak)), expected \(String(describing: expected))\n\(text.debugDescription)")
        }
    }

    /// Each function's peak against the definition, checked call by call: the highest sample inside a call, or
    /// a `PEAK` record whose stretch overlaps one when it is higher.
    static func expectFunctionPeaks(of file: MprofFile) {
        for name in file.functionNames.prefix(4) {
            let calls = file.functions.filter { $0.name == name }
            let sampled = file.samples.filter { sample in
                calls.contains { $0.startWallClock <= sample.wallClock && sample.wallClock <= $0.endWallClock }
            }.map(\.mebibytes).max()
            let kernel = file.intervalPeaks.filter { peak in
                calls.contains { (peak.start ?? -.infinity) < $0.endWallClock && peak.end >= $0.startWallClock }
            }.map(\.mebibytes).max()
            let expected = sampled.map { max($0, kernel ?? $0) }
            #expect(file.peak(function: name)?.mebibytes == expected, "function \(name.debugDescription)")
        }
    }

    /// The highest `MEM` or `PEAK` memory, read with the standard library's `Double(_:)` on the fields
    /// (separated by blanks and tabs): the whole-file peak as memory_profiler defines it, plus this package's
    /// kernel peaks (alone when there is no sample).
    static func independentPeak(_ text: String) -> Double? {
        var samples: [Double] = []
        var peaks: [Double] = []
        // Split on bytes: a Swift `Character` holds "\r\n" as one, so a line break after a stray carriage return
        // would be missed by `split(separator: "\n")` on the string.
        for line in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            let line = line.last == UInt8(ascii: "\r") ? line.dropLast() : line
            let fields = line.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
                .map { String(decoding: $0, as: UTF8.self) }
            guard fields.count >= 2, let value = Double(fields[1]) else { continue }
            if fields[0] == "MEM" { samples.append(value) }
            if fields[0] == "PEAK" { peaks.append(value) }
        }
        // Without samples, the kernel's lifetime peak alone (a program that ended before its first sample).
        guard let highest = samples.max() else { return peaks.max() }
        return max(highest, peaks.max() ?? highest)
    }

    /// Every renderer, at sizes and windows from sensible to absurd.
    static func render(_ file: MprofFile, seed: Int) {
        let sizes: [Double] = [960, .nan, .infinity, -5, 0, 1e9, 200]
        let windows: [ClosedRange<Double>?] = [nil, -1e300...1e300, 0...0, 1e11...1e12, 0.5...2]
        let columns = [100, 100_000, 0, -5, Int.max, Int.min, 40]
        let options = MemoryPlot.Options(
            window: windows[seed % windows.count], flame: seed % 2 == 0, slope: seed % 3 == 0,
            width: sizes[seed % sizes.count], height: sizes[(seed / 7) % sizes.count])
        let plot = MemoryPlot(files: [file], options: options)
        #expect(plot.svg().hasSuffix("</svg>\n"))
        #expect(plot.html().hasSuffix("</html>\n"))
        let text = plot.terminal(columns: columns[seed % columns.count], rows: [18, 0, -3, 1000][seed % 4])
        #expect(!hasControlCharacters(text), "\(text.debugDescription)")
    }

    /// Bytes below 0x20 other than line feed and tab, and DEL.
    static func hasControlCharacters(_ text: String) -> Bool {
        text.utf8.contains { ($0 < 0x20 && $0 != 0x0A && $0 != 0x09) || $0 == 0x7F }
    }

    static func mutate(_ bytes: [UInt8], _ seeds: [Int]) -> [UInt8] {
        let alphabet = Array("0123456789.-+eE xMEMPEAKFUNCCHLD\n\r\t\u{0}\u{1B}\u{7F}é".utf8) + [0xFF, 0xC3]
        var bytes = bytes
        for seed in seeds {
            var random = SplitMix(seed)
            let position = Int(random.next() % UInt64(bytes.count + 1))
            let byte = alphabet[Int(random.next() % UInt64(alphabet.count))]
            switch random.next() % 3 {
            case 0 where position < bytes.count: bytes[position] = byte
            case 1 where position < bytes.count: bytes.remove(at: position)
            default: bytes.insert(byte, at: position)
            }
        }
        return bytes
    }
}

/// A small deterministic generator, so that one integer from PropertyBased decides a whole line.
struct SplitMix {
    private var state: UInt64

    init(_ seed: Int) {
        state = UInt64(truncatingIfNeeded: seed)
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }

    mutating func pick<T>(_ choices: [T]) -> T {
        choices[Int(next() % UInt64(choices.count))]
    }
}

/// A `.dat` text built from seeds, one line per seed, with what the format says of it.
struct GeneratedFile {
    var text = ""
    var isValid = true
    var expectedPeak: Double?

    /// Spellings of numbers, with their value where the format reads them as a number.
    static let numbers: [(text: String, value: Double?)] = [
        ("0", 0), ("1", 1), ("-0", 0), ("+5", 5), ("250.445312", 250.445312), ("1e3", 1000), ("1.5E-2", 0.015),
        (".5", 0.5), ("5.", 5), ("0.0000001", 0.0000001), ("1795000000.1234", 1_795_000_000.1234),
        ("1099511627776", 1_099_511_627_776), ("1099511627777", 1_099_511_627_777), ("100000000000", 1e11),
        ("100000000001", 100_000_000_001), ("1e308", 1e308), ("1e13", 1e13), ("-1", -1), ("-1e-300", -1e-300),
        (String(repeating: "9", count: 30), 1e30), ("nan", nil), ("inf", nil), ("-inf", nil), ("0x10", nil),
        ("1_0", nil), ("1e", nil), ("e5", nil), ("--1", nil), ("1.2.3", nil), ("١", nil), (".", nil), ("+", nil),
        ("1e+", nil), ("1\u{0}", nil), ("\u{1B}[2J", nil), ("1e99999", .infinity),
    ]

    init(seeds: [Int]) {
        var samples: [Double] = []
        var peaks: [Double] = []
        for seed in seeds {
            var random = SplitMix(seed)
            var line = ""
            var valid = true
            let isFirstLine = text.isEmpty
            func memory() -> String {
                let number = random.pick(Self.numbers)
                if let value = number.value, value >= 0, value <= 0x1p40 { return number.text }
                valid = false
                return number.text
            }
            func time() -> String {
                let number = random.pick(Self.numbers)
                if let value = number.value, value >= 0, value <= 1e11 { return number.text }
                valid = false
                return number.text
            }
            switch random.next() % 12 {
            case 0...4:
                let (m, t) = (memory(), time())
                line = "MEM \(m) \(t)"
                if valid, let value = Double(m) { samples.append(value) }
            case 5:
                let (m, t) = (memory(), time())
                line = "PEAK \(m) \(t)"
                if valid, let value = Double(m) { peaks.append(value) }
            case 6:
                let pid = random.pick([("1", true), ("42", true), ("2147483647", true), ("0", false), ("-1", false),
                                       ("2147483648", false), ("abc", false), ("+5", false)])
                valid = valid && pid.1
                line = "CHLD \(pid.0) \(memory()) \(time())"
            case 7:
                let name = random.pick(["f", "__main__.grow", "\u{1B}]0;title\u{7}", "é", "a\u{0}b"])
                // Python's int() reads the level: a sign is allowed, the range is checked after.
                let level = random.pick([("", true), (" 0", true), (" 3", true), (" 10000", true), (" 10001", false),
                                         (" -1", false), (" x", false), (" 99999999999999999999", false), (" +1", true),
                                         (" -0", true), (" +-1", false), (" 1_0", false), (" -", false)])
                valid = valid && level.1
                line = "FUNC \(name) \(memory()) \(time()) \(memory()) \(time())\(level.0)"
            case 8:
                line = random.pick(["CMDLINE python3 x.py", "CMDLINE \u{1B}]0;pwned\u{7}\u{1B}[2J", "CMDLINE", "READER rss",
                                    "READER \u{1B}[31m"])
            case 9:
                line = random.pick(["", "   ", "\t", "FUTURE record", "MEM", "PEAK 1"])
                valid = !["MEM", "PEAK 1"].contains(line)
            case 10:
                line = random.pick(["xyz 1 2", "\u{0}\u{0}", "mem 1 2", "\u{FEFF}MEM 1 2", "MEM 1 2 3", "\u{200B}MEM 1 2"])
                // memory_profiler ignores fields after the two it reads; so do we. A byte order mark is skipped at
                // the start of the file only.
                valid = line == "MEM 1 2 3" || (line == "\u{FEFF}MEM 1 2" && isFirstLine)
                if valid { samples.append(1) }
            default:
                line = "MEM 1 2"
                samples.append(1)
            }
            // Fields are separated by blanks or tabs, any number of them.
            if random.next() % 4 == 0 {
                let separator = random.pick(["\t", "  ", " \t ", "\t\t"])
                line = line.split(separator: " ", omittingEmptySubsequences: false).joined(separator: separator)
            }
            text += line + random.pick(["\n", "\r\n"])
            isValid = isValid && valid
        }
        expectedPeak = samples.max().map { max($0, peaks.max() ?? $0) } ?? peaks.max()
    }
}
