/// A line-by-line memory profile: one table per profiled function, as data.
///
/// Get it with ``LineProfiler/report()``, print it with ``text(precision:style:)``, save it with ``json()``
/// (`MPROF_LINE_JSON` does that at exit) and read it back with any JSON decoder, or `mprof lines`.
public struct LineProfileReport: Sendable, Hashable, Codable {
    /// The profiled functions that ran, in the order they first ran.
    public var functions: [FunctionLineProfile]
    /// What to know about the numbers, such as a Peak that could only be a lower bound.
    public var notes: [String]

    /// Creates a report.
    public init(functions: [FunctionLineProfile], notes: [String] = []) {
        self.functions = functions
        self.notes = notes
    }
}

/// The profile of one function (or `#memoryProfiled` block): every line of its source, with numbers for the
/// lines that ran.
public struct FunctionLineProfile: Sendable, Hashable, Codable {
    /// The function's name with its enclosing types, like `Catalog.load(from:)`.
    public var name: String
    /// The path of its source file, as the compiler saw it.
    public var file: String
    /// How many times it was called.
    public var calls: Int
    /// The precision asked for with `@MemoryProfiled(precision:)`, if any.
    public var precision: Int?
    /// Every line from the attribute to the closing brace.
    public var lines: [LineProfile]

    /// Creates a function profile.
    public init(name: String, file: String, calls: Int, precision: Int?, lines: [LineProfile]) {
        self.name = name
        self.file = file
        self.calls = calls
        self.precision = precision
        self.lines = lines
    }

    /// The line with the given number, if it belongs to the function.
    public func line(_ number: Int) -> LineProfile? {
        // Line numbers come from a file that may be hostile: the difference must not overflow.
        guard let first = lines.first, number >= first.number else { return nil }
        let (offset, overflow) = number.subtractingReportingOverflow(first.number)
        guard !overflow, offset < lines.count else { return nil }
        return lines[offset]
    }
}

/// The numbers of one source line, summed or maximised over all its executions; nil where the line never ran
/// (or the number does not apply to it).
///
/// The first line (the attribute) stands for the call itself: its Mem usage is the memory at entry and its
/// Increment the memory at the first entry, as in memory_profiler.
public struct LineProfile: Sendable, Hashable, Codable {
    /// The line number in the file.
    public var number: Int
    /// The text of the line.
    public var contents: String
    /// How many times the statement starting on this line ran; a loop header counts its iterations plus one.
    public var occurrences: Int
    /// The largest resident memory right after the line, over all its executions.
    public var memoryUsage: MemorySize?
    /// The sum over executions of the memory after the line minus the memory before it (negative when it freed).
    public var increment: MemorySize?
    /// The highest resident memory at any moment while the line ran, over all its executions: temporaries the
    /// line allocated and freed show here and not in ``increment``.
    public var peak: MemorySize?
    /// The sum over executions of the malloc heap in use after the line minus before it: what the line left
    /// allocated, whether or not the allocator's pages count as resident.
    public var heapIncrement: MemorySize?
    /// The bytes the line's own thread allocated while the line ran, over all its executions (nil without the heap
    /// hook): exact, whatever other threads did meanwhile.
    public var allocated: MemorySize?
    /// The allocations the line's own thread made while it ran (nil without the heap hook).
    public var allocations: Int?

    /// Creates the numbers of a line.
    public init(
        number: Int, contents: String, occurrences: Int, memoryUsage: MemorySize?, increment: MemorySize?,
        peak: MemorySize?, heapIncrement: MemorySize?, allocated: MemorySize? = nil, allocations: Int? = nil
    ) {
        self.number = number
        self.contents = contents
        self.occurrences = occurrences
        self.memoryUsage = memoryUsage
        self.increment = increment
        self.peak = peak
        self.heapIncrement = heapIncrement
        self.allocated = allocated
        self.allocations = allocations
    }
}
