import ArgumentParser
import MemoryProfiler
import MemoryProfilerSystem

/// `mprof test`: `swift test` with the heap hook in the test process, so that the memory budgets of
/// MemoryProfilerTesting (`.memoryLimit`, `.allocationLimit`) measure each test exactly.
struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run `swift test` with the heap hook loaded, so that memory budgets on tests are checked.",
        discussion: """
            Every argument goes to `swift test` (`mprof test --filter Parser --parallel`). The hook \
            (libmprof-heap-hook.so, found as `mprof run --heap` finds it) is preloaded into `swift test` and what it \
            runs, and in the test processes (*.xctest) keeps track of every block so that .noLeaks can scan for \
            leaks; it records stacks only of tests with budgets. The exit status is swift test's. \
            MPROF_TEST_REPORT=FILE makes every test with a budget append one JSON line to FILE with its figures.
            """)

    @Option(help: ArgumentHelp("The swift executable.", valueName: "path"))
    var swift: String = "swift"

    @Argument(parsing: .captureForPassthrough, help: "Arguments for `swift test`.")
    var arguments: [String] = []

    func run() throws {
        let hook = try HeapRun.locateHook()
        guard let executable = swift.contains("/") ? swift : ExecutableLookup.find(swift) else {
            throw CLIError("cannot run \(TerminalText.quoted(swift)): it is not on PATH (name it with --swift)")
        }
        // The hook first: a library preloaded before it (an allocator) would serve malloc, and the hook see nothing.
        var preload = hook
        if let existing = Environment.value("LD_PRELOAD"), !existing.isEmpty { preload = hook + ":" + existing }
        SignalForwarding.holdSignals()
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(
                executable, arguments: ["test"] + arguments,
                // Every block tracked only in the test processes (`*.xctest`), not in the compilers swift test runs.
                environment: ["LD_PRELOAD": preload, "MPROF_HEAP_TRACK_BLOCKS": "*.xctest"])
        } catch {
            SignalForwarding.stop()
            // The error's own text names the file already; only the C library's words are kept.
            throw CLIError("cannot run \(TerminalText.quoted(executable)): \(SystemError(errno: error.errno).message)")
        }
        SignalForwarding.start(forwardingTo: child.pid)
        defer { SignalForwarding.stop() }
        let termination = try child.wait()
        if termination != .exited(0) { throw ExitCode(termination.shellStatus) }
    }
}
