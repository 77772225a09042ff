import ArgumentParser
import FoundationEssentials
import MemoryProfiler
import MemoryReports
import MemoryProfilerSystem

/// `mprof readers`: one reading of a process with every reader, and with `--bench` what each reading costs.
struct ReadersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "readers",
        abstract: "Read a process's memory with every reader, and time the readers.",
        discussion: """
            Without --pid, mprof measures itself. With --bench it reproduces the seed benchmark of \
            memory_profiler: the time to take --count readings with each reader, the median of --repeats runs.
            """
    )

    @Option(help: "The process to measure (default: mprof itself).")
    var pid: ProcessID?

    @Option(name: .customLong("reader"), help: "Only this reader (repeat for several).")
    var readers: [MemoryReader] = []

    @Flag(help: "Time the readers.")
    var bench = false

    @Option(help: "Readings per timed run, with --bench.")
    var count = 100

    @Option(help: "Timed runs per reader, with --bench; the median is reported.")
    var repeats = 7

    @Option(help: "Output format: table or json.")
    var format: OutputFormat = .table

    func validate() throws {
        // Bounded so that a benchmark always ends.
        let counts = ReadersReport.Cost.counts, repeatsAllowed = ReadersReport.Cost.repeatsAllowed
        guard counts.contains(count) else {
            throw ValidationError("--count must be from \(counts.lowerBound) to \(counts.upperBound)")
        }
        guard repeatsAllowed.contains(repeats) else {
            throw ValidationError("--repeats must be from \(repeatsAllowed.lowerBound) to \(repeatsAllowed.upperBound)")
        }
    }

    func run() throws {
        let process = pid ?? .current
        let rows = (readers.isEmpty ? MemoryReader.allCases : readers).map { reader in
            ReadersReport.Reading.measure(reader, process: process, bench: bench ? (count, repeats) : nil)
        }
        switch format {
        case .json:
            let report = ReadersReport(pid: process, readings: rows)
            try JSONOutput.print(report)
        case .table:
            print(ReadersReport.Reading.table(rows, process: process, count: count, repeats: repeats, bench: bench))
            // The container's view of the same process (its cgroup), or why there is none.
            if !bench, ProcessTable.exists(process.rawValue) {
                print(ExplainReport.text(Result { () throws(MemoryError) in try CgroupMemory.of(process) }), terminator: "")
            }
        }
        if rows.allSatisfy({ $0.error != nil }) { throw ExitCode.failure }
        // A process that is gone by the end gave an incomplete answer: say so in the status too.
        if process != .current, !ProcessTable.exists(process.rawValue) {
            StandardError.write("Error: process \(process) exited while it was being read")
            throw ExitCode.failure
        }
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

extension ReadersReport.Reading {
    /// One reading with `reader`, and with `bench` the time for `count` readings, the median of `repeats` runs.
    static func measure(_ reader: MemoryReader, process: ProcessID, bench: (count: Int, repeats: Int)?) -> Self {
        var row = Self(reader: reader)
        do {
            let probe = try MemoryProbe(reader, process: process)
            let size = try probe.read()
            row.bytes = size.bytes
            row.mebibytes = size.mebibytes
            if let bench {
                row.cost = try time(probe, count: bench.count, repeats: bench.repeats)
            }
        } catch {
            row.error = error.description
        }
        return row
    }

    private static func time(_ probe: MemoryProbe, count: Int, repeats: Int) throws(MemoryError) -> ReadersReport.Cost {
        let clock = ContinuousClock()
        var runs: [Double] = []
        for _ in 0..<repeats {
            let start = clock.now
            for _ in 0..<count { _ = try probe.read() }
            let elapsed = start.duration(to: clock.now)
            runs.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        }
        runs.sort()
        return ReadersReport.Cost(
            count: count, repeats: repeats, medianSeconds: runs[runs.count / 2], minimumSeconds: runs[0],
            maximumSeconds: runs[runs.count - 1])
    }

    /// The report as `mprof readers` prints it without `--format json`.
    static func table(_ rows: [Self], process: ProcessID, count: Int, repeats: Int, bench: Bool) -> String {
        var header = ["reader", "memory (MiB)"]
        if bench { header += ["\(count) readings (ms)", "per reading (µs)", "spread (ms)"] }
        header.append("what it measures")
        var lines = [header]
        for row in rows {
            var line = [row.reader.rawValue, row.mebibytes.map { DecimalFormat.fixed($0, decimals: 3) } ?? "-"]
            if bench {
                if let cost = row.cost {
                    line += [
                        DecimalFormat.fixed(cost.medianSeconds * 1e3, decimals: 3),
                        DecimalFormat.fixed(cost.medianMicrosecondsPerReading, decimals: 2),
                        DecimalFormat.fixed(cost.minimumSeconds * 1e3, decimals: 3) + "–"
                            + DecimalFormat.fixed(cost.maximumSeconds * 1e3, decimals: 3),
                    ]
                } else {
                    line += ["-", "-", "-"]
                }
            }
            line.append(row.error.map { "error: \($0)" } ?? row.reader.summary)
            lines.append(line)
        }
        var title = "Memory of PID \(process)\(process.isCurrent ? " (mprof itself)" : "")"
        if bench { title += ", \(count) readings per run, median of \(repeats) runs" }
        return title + "\n\n" + TextTable.render(lines, left: Set(0..<header.count))
    }
}
