import ArgumentParser
import Foundation
import MemoryProfiler

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
            mprof run python3 script.py.
            """
    )

    @OptionGroup var recording: RecordingOptions

    @Flag(name: [.customShort("E"), .customLong("exit-code")], help: "Accepted for memory_profiler's scripts; mprof always exits with the program's status.")
    var exitCode = false

    @Flag(name: [.customShort("a"), .long], help: "Attach to a running process (the program is a PID or a name), as mprof attach.")
    var attach = false

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
        guard !program.isEmpty else { throw ValidationError("A program to run must be provided: mprof run PROGRAM [ARGUMENTS…]") }
        if python {
            throw ValidationError(
                "--python (memory_profiler's Python mode) is not supported; run the script as a program: mprof run python3 script.py")
        }
        if attach && program.count != 1 { throw ValidationError("--attach takes one PID or process name") }
    }

    func run() throws {
        if attach {
            try AttachCommand.record(target: program[0], options: recording)
            return
        }
        let executable = try Self.locate(program[0])
        let recording = try Recording(options: recording, commandLine: program)
        StandardError.write("mprof: Sampling memory every \(recording.options.intervalText)")
        StandardError.write("mprof: running new process; recording to \(recording.path)")

        let launcherPeak = (try? MemoryProbe(.peak).read().bytes) ?? Int.max
        SignalForwarding.holdSignals()
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(
                executable, arguments: Array(program.dropFirst()),
                environment: [MemoryTimestamps.outputFileVariable: recording.absolutePath])
        } catch {
            SignalForwarding.stop()
            recording.removeIfEmpty()
            StandardError.write("Error: cannot run \(program[0]): \(error.message)")
            // As a shell does: 126 for a file that is there but cannot be executed.
            throw ExitCode(error.errno == ENOENT ? 127 : 126)
        }
        SignalForwarding.start(forwardingTo: child.id)
        defer { SignalForwarding.stop() }

        let sampler: MemorySampler?
        do {
            sampler = try recording.start(child.id)
        } catch {
            // The program must not run on unrecorded: stop it before reporting.
            SignalForwarding.stop()
            kill(child.id.rawValue, SIGKILL)
            _ = try? child.wait()
            throw error
        }
        // Stop sampling the moment the program ends, rather than at the next sample's deadline.
        child.waitUntilExited()
        let trace = sampler?.stop()
        // From here the PID may be reaped and reused: no more forwarding.
        SignalForwarding.stop()
        let termination: ChildProcess.Termination
        do {
            termination = try child.wait()
        } catch {
            throw CLIError("lost track of \(program[0]): \(error.message)")
        }
        let peak = recording.recordExitPeak(
            bytes: child.maximumResidentBytes, launcherPeak: launcherPeak, trace: trace)
        StandardError.write(recording.summary(of: trace, peak: peak))
        switch termination {
        case .exited(0):
            return
        case .exited(let code):
            StandardError.write("mprof: \(program[0]) exited with status \(code)")
        case .signaled(let signal):
            StandardError.write("mprof: \(program[0]) was killed by \(SignalForwarding.name(of: signal))")
        }
        throw ExitCode(termination.shellStatus)
    }

    /// The executable for a program name: a path as given, or the first match on PATH.
    static func locate(_ name: String) throws -> String {
        if name.contains("/") {
            guard FileManager.default.fileExists(atPath: name) else {
                StandardError.write("Error: cannot run \(name): no such file")
                throw ExitCode(127)
            }
            guard FileManager.default.isExecutableFile(atPath: name) else {
                StandardError.write("Error: cannot run \(name): not executable (a script needs a #! line and chmod +x)")
                throw ExitCode(126)
            }
            return name
        }
        guard let found = ExecutableLookup.find(name) else {
            StandardError.write("Error: cannot run \(name): not found on PATH")
            throw ExitCode(127)
        }
        return found
    }
}
