import ArgumentParser
import MemoryProfiler
import MemoryProfilerSystem

/// `mprof run`: runs a program and records its memory over time into a `.dat` file.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a program and record its memory over time.",
        discussion: """
            The program runs directly (no shell) with mprof's standard input, output and error; SIGINT, SIGTERM, \
            SIGHUP and SIGQUIT sent to mprof reach it. Samples are appended to the .dat file as they are taken, \
            with the kernel's high-water mark between samples (PEAK records), so nothing is lost if mprof is \
            killed. MPROF_OUTPUT_FILE names the file in the program's environment: programs using \
            swift-memory-profiler add their function records (FUNC) to it. mprof exits with the program's \
            status (128+N when a signal N killed it). Python scripts run as ordinary programs: \
            mprof run python3 script.py. With budgets (--max-peak, --max-heap, --no-leaks), each one crossed is \
            a line on standard error after the program ends, and mprof exits with status 3 when the program \
            itself succeeded (with the program's own status when it did not).
            """
    )

    @OptionGroup var recording: RecordingOptions

    @Flag(name: [.customShort("E"), .customLong("exit-code")], help: "Accepted for memory_profiler's scripts; mprof always exits with the program's status (3 when it succeeded but crossed a budget).")
    var exitCode = false

    @Flag(name: [.customShort("a"), .long], help: "Attach to a running process (the program is a PID or a name), as mprof attach.")
    var attach = false

    @Flag(
        help: """
            Also record every allocation and free with its call stack (heap profiling), into a .heap file beside \
            the .dat; read it with mprof heap. The program must be dynamically linked.
            """)
    var heap = false

    @Flag(
        help: """
            With --heap: keep counters per allocation site instead of every event, for programs that run for hours \
            (servers): the capture stays a few hundred KB however many allocations are made, and still reads after \
            a kill. Every view of mprof heap works; there are no regions and no filtered size histogram.
            """)
    var aggregate = false

    @Option(
        help: ArgumentHelp(
            "Fail (exit status 3) when the program's peak memory (as mprof peak prints it) is above this: 200MiB, 1.5GiB.",
            valueName: "size"))
    var maxPeak: MemoryAmount?

    @Option(
        help: ArgumentHelp(
            "Fail (exit status 3) when the heap's peak (the bytes allocated and not freed at the worst moment) is above this; implies --heap.",
            valueName: "size"))
    var maxHeap: MemoryAmount?

    @Flag(help: "Fail (exit status 3) when the program leaks: blocks nothing points to at its exit; implies --heap.")
    var noLeaks = false

    @Flag(help: "memory_profiler's Python mode: not supported (Python scripts run as ordinary programs).")
    var python = false

    @Flag(help: "Accepted for memory_profiler's scripts (Python scripts always run as ordinary programs).")
    var nopython = false

    @Argument(parsing: .captureForPassthrough, help: "The program and its arguments.")
    var command: [String] = []

    var program: [String] {
        command.first == "--" ? Array(command.dropFirst()) : command
    }

    func validate() throws {
        // `mprof run -h` asks for help, as memory_profiler's does, rather than for a program named -h.
        if command == ["-h"] || command == ["--help"] { throw CleanExit.helpRequest(self) }
        guard !program.isEmpty else { throw ValidationError("A program to run must be provided: mprof run PROGRAM [ARGUMENTS…]") }
        if python {
            throw ValidationError(
                "--python (memory_profiler's Python mode) is not supported; run the script as a program: mprof run python3 script.py")
        }
        if attach && program.count != 1 { throw ValidationError("--attach takes one PID or process name") }
        if attach && (heap || gate.needsHeap) {
            throw ValidationError("--heap (and --max-heap, --no-leaks) record from a program's start: they cannot attach to a running process")
        }
        if aggregate && !heap && !gate.needsHeap { throw ValidationError("--aggregate is a form of --heap's capture: add --heap") }
    }

    /// The budgets to check once the program has ended.
    var gate: MemoryGate { MemoryGate(maxPeak: maxPeak?.size, maxHeap: maxHeap?.size, noLeaks: noLeaks) }

    func run() throws {
        if attach {
            try ProcessAttachment.record(target: program[0], options: recording.settings, gate: gate)
            return
        }
        try ProgramRecording.record(
            program, options: recording.settings, heap: heap || gate.needsHeap, aggregate: aggregate, gate: gate)
    }
}
