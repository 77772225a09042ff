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
            runs, and keeps track of every block (MPROF_HEAP_TRACK_BLOCKS=1) so that .noLeaks can scan for \
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
        var preload = hook
        if let existing = Environment.value("LD_PRELOAD"), !existing.isEmpty { preload = existing + ":" + hook }
        SignalForwarding.holdSignals()
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(
                executable, arguments: ["test"] + arguments,
                environment: ["LD_PRELOAD": preload, "MPROF_HEAP_TRACK_BLOCKS": "1"])
        } catch {
            SignalForwarding.stop()
            throw CLIError("cannot run \(TerminalText.quoted(executable)): \(error.message)")
        }
        SignalForwarding.start(forwardingTo: child.pid)
        defer { SignalForwarding.stop() }
        let termination = try child.wait()
        if termination != .exited(0) { throw ExitCode(termination.shellStatus) }
    }
}
