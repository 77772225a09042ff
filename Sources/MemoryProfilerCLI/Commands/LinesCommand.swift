import ArgumentParser
import FoundationEssentials
import MemoryProfiler
import MemoryProfilerSystem

/// `mprof lines`: prints a line-by-line profile saved as JSON (by `MPROF_LINE_JSON`) as a report.
struct LinesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lines",
        abstract: "Print a saved line-by-line profile (@MemoryProfiled) as memory_profiler's report.",
        discussion: """
            A program whose functions are marked @MemoryProfiled writes its profile as JSON at exit when \
            MPROF_LINE_JSON names a file. This command prints it as text, with the precision and columns you \
            choose, or as JSON again (filtered with --function).
            """
    )

    @Argument(help: "The JSON file MPROF_LINE_JSON named.")
    var file: String

    @Option(help: "Digits after the decimal point of the MiB columns (0 to 12).")
    var precision = 1

    @Option(help: "Columns: extended (with Peak and Heap) or classic (memory_profiler's).")
    var style: LineReportStyle = .extended

    @Option(name: .customLong("function"), help: "Only functions with this name (repeat for several).")
    var functions: [String] = []

    @Option(help: "Output format: text or json.")
    var format: LinesFormat = .text

    func validate() throws {
        guard (0...12).contains(precision) else { throw ValidationError("--precision must be from 0 to 12") }
    }

    /// The biggest profile read: a line profile holds one entry per source line of the profiled functions.
    static let maximumBytes = 256 << 20

    func run() throws {
        let shownFile = TerminalText.escaped(file)
        let data: Data
        do {
            data = Data(try FileReader(path: file).readAll(limit: Self.maximumBytes))
        } catch {
            throw CLIError("cannot read \(shownFile): \(error.message)")
        }
        var report: LineProfileReport
        do {
            report = try JSONDecoder().decode(LineProfileReport.self, from: data)
        } catch {
            throw CLIError(
                "\(shownFile) is not a line profile (the JSON that MPROF_LINE_JSON writes): \(TerminalText.quoted("\(error)", limit: 300))")
        }
        for function in report.functions {
            if let precision = function.precision, !(0...12).contains(precision) {
                throw CLIError(
                    "\(shownFile): function \(TerminalText.quoted(function.name)) has precision \(precision); it must be from 0 to 12")
            }
        }
        if !functions.isEmpty {
            let missing = functions.filter { name in !report.functions.contains { $0.name == name } }
            guard missing.isEmpty else {
                let known = report.functions.prefix(20).map { TerminalText.quoted($0.name) }.joined(separator: ", ")
                    + (report.functions.count > 20 ? " and \(report.functions.count - 20) more" : "")
                let names = missing.map { TerminalText.quoted($0) }.joined(separator: ", ")
                throw CLIError("no function named \(names) in \(shownFile) (it has: \(known))")
            }
            report.functions = report.functions.filter { functions.contains($0.name) }
        }
        switch format {
        case .text:
            print(report.text(precision: precision, style: style), terminator: "")
        case .json:
            print(report.json(), terminator: "")
        }
    }
}

enum LinesFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

extension LineReportStyle: ExpressibleByArgument {}
