import ArgumentParser
import Foundation
import MemoryPlot
import MemoryProfiler

/// `mprof plot`: memory over time as SVG, HTML, PNG or in the terminal.
struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Plot recorded memory over time: SVG, self-contained HTML, PNG, or in the terminal.",
        discussion: """
            Draws each file from its own time zero: the memory curve, the peak (the kernel's true peak when the \
            file has PEAK records, with the envelope of true peaks), function brackets labelled with their \
            duration, and one curve per child with -M files. Without -o the picture is written beside the \
            newest profile (mprofile_….svg). The format follows -o's extension: .svg, .html or .png (PNG needs \
            rsvg-convert, from Debian's librsvg2-bin).
            """
    )

    @Option(name: [.customShort("t"), .long], help: "The title (default: the command line).")
    var title: String?

    @Option(name: [.customShort("o"), .long], help: "The output file: .svg, .html or .png.")
    var output: String?

    @Option(name: [.customShort("w"), .long], help: "Only this time window, in seconds: START,END.")
    var window: String?

    @Flag(name: [.customShort("f"), .long], help: "Draw function calls as rectangles stacked by nesting level.")
    var flame = false

    @Flag(name: [.customShort("s"), .long], help: "Draw a least-squares trend line, with its slope in MiB/s.")
    var slope = false

    @Flag(name: [.customShort("n"), .customLong("no-function-ts")], help: "Leave out the function brackets.")
    var noFunctions = false

    @Flag(help: "Draw in the terminal instead of writing a file.")
    var terminal = false

    @Option(help: "The picture's size in pixels: WIDTHxHEIGHT.")
    var size = "960x540"

    @Argument(parsing: .allUnrecognized, help: "Profiles: files or indices (default: the newest).")
    var profiles: [String] = []

    func run() throws {
        let paths = profiles.isEmpty ? [try ProfileFiles.newest()] : try ProfileFiles.resolve(profiles)
        let dimensions = try parsedSize()
        let window = try parsedWindow()
        var files: [MprofFile] = []
        for path in paths {
            let reader: FileReader
            do {
                reader = try FileReader(path: path)
            } catch {
                throw CLIError("\(TerminalText.escaped(path)): \(error.message)")
            }
            // One read of each file, so that a FIFO is not consumed by a look at what it holds.
            if paths.count == 1, try Self.startsLikeJSON(reader) {
                let destination = output ?? Self.defaultOutput(for: path)
                try OutputFile.checkNotAnInput(destination, inputs: paths)
                let chart = try JSONChart.load(reader, title: title)
                guard destination.lowercased().hasSuffix(".svg") || destination.lowercased().hasSuffix(".png") else {
                    throw CLIError("charts of JSON data are written as .svg or .png, not \(TerminalText.escaped(destination))")
                }
                if destination.lowercased().hasSuffix(".png") {
                    try PictureFile.writePNG(svg: chart, to: destination)
                } else {
                    try PictureFile.writeAtomically(chart, to: destination)
                }
                StandardError.write("mprof: chart written to \(TerminalText.escaped(destination))")
                return
            }
            do {
                files.append(try MprofFile(reading: reader))
            } catch {
                throw CLIError(error.description)
            }
        }
        // A program that ended before its first sample still has its lifetime peak (a PEAK record) to draw.
        let empty = files.filter { $0.samples.isEmpty && $0.intervalPeaks.isEmpty }.map { TerminalText.escaped($0.path) }
        guard empty.count < files.count else {
            throw CLIError("nothing to plot: \(empty.joined(separator: ", ")) has no memory samples")
        }
        let options = MemoryPlot.Options(
            title: title, window: window, showsFunctions: !noFunctions, flame: flame, slope: slope,
            width: dimensions.width, height: dimensions.height)

        if terminal {
            let plot = MemoryPlot(files: files, options: options)
            let environment = ProcessInfo.processInfo.environment
            let columns = TerminalSize.columns(environment: environment["COLUMNS"])
            let color = isatty(1) != 0 && environment["NO_COLOR"] == nil
            print(plot.terminal(columns: columns, rows: 18, color: color), terminator: "")
            return
        }
        let destination = output ?? Self.defaultOutput(for: paths[0])
        try OutputFile.checkNotAnInput(destination, inputs: paths)
        try PictureFile.write(plot: MemoryPlot(files: files, options: options), to: destination)
        StandardError.write("mprof: plot written to \(TerminalText.escaped(destination))")
    }

    /// Whether the file's first non-blank byte opens a JSON object or array (the other data `mprof plot` draws).
    private static func startsLikeJSON(_ reader: FileReader) throws -> Bool {
        do {
            let first = try reader.firstNonBlankByte()
            return first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
        } catch {
            throw CLIError("\(TerminalText.escaped(reader.path)): \(error.message)")
        }
    }

    private func parsedSize() throws -> (width: Double, height: Double) {
        let dimensions = size.split(separator: "x", omittingEmptySubsequences: false).map { Self.decimal($0) }
        guard dimensions.count == 2, let width = dimensions[0], let height = dimensions[1],
            (200...20_000).contains(width), (150...20_000).contains(height)
        else {
            throw CLIError(
                "--size must be WIDTHxHEIGHT in pixels, at least 200x150 and at most 20000x20000, not \(TerminalText.quoted(size))")
        }
        return (width, height)
    }

    private func parsedWindow() throws -> ClosedRange<Double>? {
        guard let window else { return nil }
        let bounds = window.split(separator: ",", omittingEmptySubsequences: false).map {
            Self.decimal($0.trimmingCharacters(in: .whitespaces))
        }
        guard bounds.count == 2, let start = bounds[0], let end = bounds[1], start < end else {
            throw CLIError("--window must be START,END in seconds with START < END, not \(TerminalText.quoted(window))")
        }
        guard abs(start) <= 1e11, abs(end) <= 1e11 else {
            throw CLIError("--window must lie within ±1e11 seconds, not \(TerminalText.quoted(window))")
        }
        return start...end
    }

    /// A plain decimal number (`12`, `-0.5`, `1e3`); not `nan`, `inf` or hexadecimal.
    static func decimal(_ text: some StringProtocol) -> Double? {
        let allowed = text.utf8.allSatisfy { byte in
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
        }
        guard allowed, let value = Double(String(text)), value.isFinite else { return nil }
        return value
    }

    /// `mprofile_X.dat` → `mprofile_X.svg`; `data/scaling.jsonl` → `data/scaling.svg`.
    static func defaultOutput(for profile: String) -> String {
        let name = profile.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? profile
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return profile + ".svg" }
        return String(profile.dropLast(name.distance(from: dot, to: name.endIndex))) + ".svg"
    }
}

/// Writes pictures without ever leaving a half-written file: to a temporary name, then renamed.
enum PictureFile {
    static func write(plot: MemoryPlot, to destination: String) throws {
        let lowercased = destination.lowercased()
        if lowercased.hasSuffix(".png") {
            try writePNG(svg: plot.svg(), to: destination)
        } else if lowercased.hasSuffix(".html") || lowercased.hasSuffix(".htm") {
            try writeAtomically(plot.html(), to: destination)
        } else if lowercased.hasSuffix(".svg") {
            try writeAtomically(plot.svg(), to: destination)
        } else {
            throw CLIError("cannot tell the format of \(destination): name it .svg, .html or .png")
        }
    }

    static func writeAtomically(_ text: String, to destination: String) throws {
        let temporary = destination + ".partial-\(getpid())"
        do {
            try text.write(toFile: temporary, atomically: false, encoding: .utf8)
            if rename(temporary, destination) != 0 {
                let reason = String(cString: strerror(errno))
                unlink(temporary)
                throw CLIError("cannot write \(destination): \(reason)")
            }
        } catch let error as CLIError {
            throw error
        } catch {
            unlink(temporary)
            throw CLIError("cannot write \(destination): \((error as NSError).localizedFailureReason ?? "\(error)")")
        }
    }

    static func writePNG(svg: String, to destination: String) throws {
        guard let converter = ExecutableLookup.find("rsvg-convert") else {
            throw CLIError(
                "PNG needs rsvg-convert, which is not installed (Debian and Ubuntu: apt-get install librsvg2-bin); "
                    + "write .svg or .html instead")
        }
        let source = destination + ".partial-\(getpid()).svg"
        let temporary = destination + ".partial-\(getpid())"
        defer {
            unlink(source)
            unlink(temporary)
        }
        try writeAtomically(svg, to: source)
        let process = try ChildProcess.spawn(
            converter, arguments: ["--format", "png", "--background-color", "white", "--output", temporary, source],
            standardInput: .null)
        let termination = try process.wait()
        guard termination == .exited(0), FileManager.default.fileExists(atPath: temporary) else {
            throw CLIError("rsvg-convert could not convert the plot (\(termination)); the SVG renders with: mprof plot -o plot.svg")
        }
        guard rename(temporary, destination) == 0 else {
            throw CLIError("cannot write \(destination): \(String(cString: strerror(errno)))")
        }
    }
}

/// The terminal's width.
enum TerminalSize {
    /// The widest plot drawn: wider is unreadable and only costs memory.
    static let maximumColumns = 1000

    /// `COLUMNS` when it is a whole number from 1 up, else the kernel's idea, else 100; clamped to 40…1000.
    ///
    /// The height is fixed (18 rows): `LINES` is not read.
    static func columns(environment value: String?) -> Int {
        let requested = value.flatMap { text in text.utf8.allSatisfy { (48...57).contains($0) } ? Int(text) : nil }
        let columns = requested.flatMap { $0 > 0 ? $0 : nil } ?? kernelColumns() ?? 100
        return min(max(columns, 40), maximumColumns)
    }

    private static func kernelColumns() -> Int? {
        var size = winsize()
        guard ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }
}

/// Guards the inputs of a command against being overwritten by its output.
enum OutputFile {
    /// Throws when `destination` exists and is one of `inputs` (the same file, by device and inode: a link or
    /// another spelling of the path counts).
    static func checkNotAnInput(_ destination: String, inputs: [String]) throws {
        var output = stat()
        guard stat(destination, &output) == 0 else { return }
        for input in inputs {
            var status = stat()
            if stat(input, &status) == 0, status.st_dev == output.st_dev, status.st_ino == output.st_ino {
                throw CLIError(
                    "the output \(TerminalText.escaped(destination)) is the input \(TerminalText.escaped(input)): "
                        + "name another file with -o")
            }
        }
    }
}

/// The other data `mprof plot` draws: memory against input size (`memory-scaling --json`) and what readers cost
/// (`mprof readers --bench --format json`).
enum JSONChart {
    /// The biggest JSON file read: charts come from a few hundred lines.
    static let maximumBytes = 64 << 20

    /// The chart's SVG of the JSON that `reader` reads.
    static func load(_ reader: FileReader, title: String?) throws -> String {
        let path = TerminalText.escaped(reader.path)
        let data: Data
        do {
            data = Data(try reader.readAll(limit: maximumBytes))
        } catch {
            throw CLIError("\(path): \(error.message)")
        }
        if let report = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let readings = report["readings"] as? [[String: Any]]
        {
            let bars = readings.compactMap { reading -> (String, Double)? in
                guard let name = reading["reader"] as? String, let cost = reading["cost"] as? [String: Any],
                    let microseconds = cost["medianMicrosecondsPerReading"] as? Double, microseconds.isFinite
                else { return nil }
                return (name, microseconds)
            }
            guard !bars.isEmpty else {
                throw CLIError("\(path) has readings but no costs: make it with mprof readers --bench --format json")
            }
            let pid = report["pid"].map { " of PID \($0)" } ?? ""
            return BarChart(title: title ?? "What one reading costs\(pid)", unit: "µs", bars: bars).svg()
        }
        var points: [ScalingChart.Point] = []
        for (index, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let size = (object["size"] as? NSNumber)?.doubleValue,
                let peak = (object["peak"] as? NSNumber)?.doubleValue,
                let increment = (object["increment"] as? NSNumber)?.doubleValue,
                size.isFinite, peak.isFinite, increment.isFinite
            else {
                throw CLIError(
                    "\(path):\(index + 1): not a line of memory-scaling --json ({\"size\":…,\"peak\":…,\"increment\":…}) "
                        + "nor mprof readers --bench --format json")
            }
            points.append(ScalingChart.Point(inputSize: size, incrementMebibytes: increment / 1_048_576, peakMebibytes: peak / 1_048_576))
        }
        guard !points.isEmpty else { throw CLIError("\(path) has no data points") }
        return ScalingChart(title: title ?? "Memory against input size", points: points).svg()
    }
}
