import ArgumentParser
import FoundationEssentials
import MemoryPlot
import MemoryProfiler
import MemoryReports
import MemoryProfilerSystem

/// `mprof plot`: memory over time as SVG, HTML, PNG or in the terminal.
struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Plot recorded memory over time: SVG, self-contained HTML, PNG, or in the terminal.",
        discussion: """
            Draws each file from its own time zero: the memory curve, the peak (the kernel's true peak when the \
            file has PEAK records, with the envelope of true peaks), function brackets labelled with their \
            duration, and one curve per child with -M files. Without -o the picture is written beside the \
            newest profile (mprofile_….svg); a profile read from a pipe (/dev/stdin, <(…)) needs -o. The format \
            follows -o's extension: .svg, .html or .png (PNG needs rsvg-convert, from Debian's librsvg2-bin). A \
            regular file is replaced whole, through a temporary file; a symbolic link or a device is written \
            through, as the shell's > writes.
            """
    )

    @Option(name: [.customShort("t"), .long], help: "The title (default: the command line).")
    var title: String?

    @Option(name: [.customShort("o"), .long], help: "The output file: .svg, .html or .png.")
    var output: String?

    @Option(
        name: [.customShort("w"), .long], help: "Only this time window, in seconds: START,END.",
        transform: TimeWindow.parse)
    var window: TimeWindow?

    @Flag(name: [.customShort("f"), .long], help: "Draw function calls as rectangles stacked by nesting level.")
    var flame = false

    @Flag(name: [.customShort("s"), .long], help: "Draw a least-squares trend line, with its slope in MiB/s.")
    var slope = false

    @Flag(name: [.customShort("n"), .customLong("no-function-ts")], help: "Leave out the function brackets.")
    var noFunctions = false

    @Flag(name: .customLong("no-heap"), help: "Leave out the heap in use of a run recorded with --heap (its .heap file).")
    var noHeap = false

    @Flag(help: "Add the verdict on the recording to the title: leak, allocator retention, file growth, growth or steady (see mprof peak --verdict).")
    var verdict = false

    @Flag(help: "Draw in the terminal instead of writing a file.")
    var terminal = false

    @Option(help: "The picture's size in pixels: WIDTHxHEIGHT (default: 960x540).", transform: PictureSize.parse)
    var size = PictureSize(width: 960, height: 540)

    @Argument(parsing: .allUnrecognized, help: "Profiles: files or indices (default: the newest).")
    var profiles: [String] = []

    func run() throws {
        let paths = profiles.isEmpty ? [try ProfileFiles.newest()] : try ProfileFiles.resolve(profiles)
        let dimensions = size
        let window = self.window?.range
        var files: [MprofFile] = []
        var firstIsRegularFile = false
        for (index, path) in paths.enumerated() {
            let reader: FileReader
            do {
                reader = try FileReader(path: path)
            } catch {
                throw CLIError("\(TerminalText.escaped(path)): \(error.message)")
            }
            if index == 0 { firstIsRegularFile = reader.regularFileSize != nil }
            // One read of each file, so that a FIFO is not consumed by a look at what it holds.
            if paths.count == 1, try JSONChart.startsLikeJSON(reader) {
                let destination = try output ?? Self.defaultOutput(for: path, isRegularFile: firstIsRegularFile)
                try PictureFile.checkNotAnInput(destination, inputs: paths)
                let chart = try JSONChart.load(reader, title: title)
                guard destination.lowercased().hasSuffix(".svg") || destination.lowercased().hasSuffix(".png") else {
                    throw CLIError("charts of JSON data are written as .svg or .png, not \(TerminalText.escaped(destination))")
                }
                if destination.lowercased().hasSuffix(".png") {
                    try PictureFile.writePNG(svg: chart, to: destination)
                } else {
                    try PictureFile.write(chart, to: destination)
                }
                StandardError.write("mprof: chart written to \(TerminalText.escaped(destination))")
                return
            }
            do throws(MprofFileError) {
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
        let heaps = noHeap ? [] : files.map(ProfileFiles.heapCapture(besideRecording:))
        var shownTitle = title
        if verdict {
            // Each file's verdict on standard error; in the title when there is one file.
            for (index, file) in files.enumerated() {
                let judged = MemoryVerdict(recording: file, heap: index < heaps.count ? heaps[index] : nil)
                StandardError.write("mprof: verdict on \(TerminalText.escaped(file.path)): \(judged.text)")
                if files.count == 1 {
                    let base = title ?? (file.commandLine ?? file.path).split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
                    shownTitle = base + " (verdict: \(judged.kind.rawValue))"
                }
            }
        }
        let options = MemoryPlot.Options(
            title: shownTitle, window: window, showsFunctions: !noFunctions, flame: flame, slope: slope,
            width: dimensions.width, height: dimensions.height)
        let plot = MemoryPlot(files: files, heaps: heaps, options: options)
        if let window, plot.isEmpty {
            let span = plot.dataTimeSpan.map { " (the data spans \(Self.seconds($0.lowerBound))–\(Self.seconds($0.upperBound)) s)" } ?? ""
            let names = files.prefix(3).map { TerminalText.escaped($0.path) }.joined(separator: ", ")
                + (files.count > 3 ? " and \(files.count - 3) more" : "")
            throw CLIError(
                "no samples in \(names) between \(Self.seconds(window.lowerBound)) and \(Self.seconds(window.upperBound)) s"
                    + "\(span): choose another --window")
        }

        if terminal {
            let environment = ProcessInfo.processInfo.environment
            let columns = TerminalSize.columns(environment: environment["COLUMNS"])
            let color = Self.usesColor(isTerminal: StandardStreams.outputIsTerminal, environment: environment)
            print(plot.terminal(columns: columns, rows: 18, color: color), terminator: "")
            return
        }
        let destination = try output ?? Self.defaultOutput(for: paths[0], isRegularFile: firstIsRegularFile)
        try PictureFile.checkNotAnInput(destination, inputs: paths)
        try PictureFile.write(plot: plot, to: destination)
        StandardError.write("mprof: plot written to \(TerminalText.escaped(destination))")
    }
    /// Seconds as the error messages show them: `5`, `0.25`, `1e-05`.
    private static func seconds(_ value: Double) -> String {
        Seconds.text(value)
    }

    /// Colour on a terminal unless `NO_COLOR` is set to anything but the empty string (no-color.org) or
    /// `TERM` is `dumb`.
    static func usesColor(isTerminal: Bool, environment: [String: String]) -> Bool {
        isTerminal && (environment["NO_COLOR"] ?? "").isEmpty && environment["TERM"] != "dumb"
    }

    /// `mprofile_X.dat` → `mprofile_X.svg`; `data/scaling.jsonl` → `data/scaling.svg`.
    ///
    /// - Throws: ``CLIError`` when the profile is not a regular file: a pipe's name (`/dev/stdin`,
    ///   `/dev/fd/63` from `<(…)`) names no place for a picture.
    static func defaultOutput(for profile: String, isRegularFile: Bool) throws -> String {
        guard isRegularFile else {
            throw CLIError(
                "\(TerminalText.escaped(profile)) is not a regular file (a pipe?), so the picture cannot be named "
                    + "after it: name it with -o FILE.svg")
        }
        let name = profile.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? profile
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return profile + ".svg" }
        return String(profile.dropLast(name.distance(from: dot, to: name.endIndex))) + ".svg"
    }
}
