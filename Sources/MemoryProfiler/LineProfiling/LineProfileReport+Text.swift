internal import MemoryProfilerSystem

extension LineProfileReport {
    /// The report as memory_profiler prints it: for each function a `Filename:` line, the column titles, a rule,
    /// and a row per source line; lines that never ran show only their number and text.
    ///
    /// Text from the profile (paths, source lines, notes) is printed with control characters other than tabs
    /// escaped, so a saved profile cannot send escape sequences to the terminal.
    ///
    /// - Parameters:
    ///   - precision: Digits after the decimal point of the MiB columns (clamped to 0…15), unless the function
    ///     asked for its own with `@MemoryProfiled(precision:)`.
    ///   - style: ``LineReportStyle/extended`` adds the Peak and Heap columns; ``LineReportStyle/classic`` is
    ///     memory_profiler's layout exactly.
    /// - Returns: The text, ending with a newline.
    public func text(precision: Int = 1, style: LineReportStyle = .extended) -> String {
        var output = ""
        for function in functions {
            output += function.text(precision: function.precision ?? precision, style: style)
            output += "\n\n"
        }
        for note in notes {
            output += "Note: \(TerminalText.escaped(note))\n"
        }
        return output
    }
}

extension FunctionLineProfile {
    /// One function's table; see ``LineProfileReport/text(precision:style:)``.
    public func text(precision: Int = 1, style: LineReportStyle = .extended) -> String {
        let precision = min(max(precision, 0), 15)
        let extended = style == .extended
        var output = "Filename: \(TerminalText.escaped(Self.displayPath(file)))\n\n"
        // With the heap hook loaded: what each line's own thread allocated, exactly.
        let counted = extended && lines.contains { $0.allocated != nil }
        var header = Self.row("Line #", "Mem usage", "Increment", "Occurrences")
        if extended { header += Self.extraColumns("Peak", "Heap") }
        if counted { header += Self.allocationColumns("Allocated", "Allocs") }
        output += header + "   Line Contents\n"
        output += String(repeating: "=", count: extended ? (counted ? 111 : 87) : 61) + "\n"
        for line in lines {
            let number = String(line.number)
            guard line.occurrences > 0, let memoryUsage = line.memoryUsage, let increment = line.increment else {
                var row = Self.row(number, "", "", "")
                if extended { row += Self.extraColumns("", "") }
                if counted { row += Self.allocationColumns("", "") }
                output += row + "   " + Self.sourceLine(line.contents) + "\n"
                continue
            }
            var row = Self.row(
                number, Self.mebibytes(memoryUsage, precision), Self.mebibytes(increment, precision),
                String(line.occurrences))
            if extended {
                row += Self.extraColumns(
                    line.peak.map { Self.mebibytes($0, precision) } ?? "",
                    line.heapIncrement.map { Self.mebibytes($0, precision) } ?? "")
            }
            if counted {
                row += Self.allocationColumns(line.allocated.map(\.readable) ?? "", line.allocations.map(String.init) ?? "")
            }
            output += row + "   " + Self.sourceLine(line.contents) + "\n"
        }
        return output
    }

    /// A source line as printed: tabs and backslashes kept, other control characters escaped.
    private static func sourceLine(_ contents: String) -> String {
        TerminalText.escaped(contents, keepingTabs: true, keepingBackslashes: true)
    }

    /// memory_profiler's `{:>6} {:>12} {:>12}  {:>10}`.
    private static func row(_ number: String, _ usage: String, _ increment: String, _ occurrences: String) -> String {
        padded(number, 6) + " " + padded(usage, 12) + " " + padded(increment, 12) + "  " + padded(occurrences, 10)
    }

    private static func extraColumns(_ peak: String, _ heap: String) -> String {
        " " + padded(peak, 12) + " " + padded(heap, 12)
    }

    private static func allocationColumns(_ allocated: String, _ allocations: String) -> String {
        " " + padded(allocated, 12) + " " + padded(allocations, 10)
    }

    /// memory_profiler's `{:(p+4).pf} MiB`.
    private static func mebibytes(_ size: MemorySize, _ precision: Int) -> String {
        padded(DecimalFormat.fixed(size.mebibytes, decimals: precision), precision + 4) + " MiB"
    }

    private static func padded(_ text: String, _ width: Int) -> String {
        let count = text.count
        return count >= width ? text : String(repeating: " ", count: width - count) + text
    }

    /// The path relative to the working directory when the file is under it, as a user would type it.
    private static func displayPath(_ path: String) -> String {
        guard let directory = ProcessTable.currentDirectory() else { return path }
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }
}
