import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
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
        let launcher = Self.launcherPath()
        let recording = try Recording(options: recording, commandLine: program)
        let name = TerminalText.escaped(program[0])
        StandardError.write("mprof: Sampling memory every \(recording.options.intervalText)")
        StandardError.write("mprof: running new process; recording to \(TerminalText.escaped(recording.path))")
        if launcher == nil {
            StandardError.write(
                "mprof: warning: \(Self.launcherName) is not beside mprof, so the kernel's lifetime peak of programs "
                    + "smaller than mprof cannot be told from mprof's own and is left out (install both files together)")
        }

        SignalForwarding.holdSignals()
        let child: ChildProcess
        do {
            let environment = [MemoryTimestamps.outputFileVariable: recording.absolutePath]
            if let launcher {
                child = try ChildProcess.spawnAdopting(
                    through: launcher, executable, arguments: Array(program.dropFirst()), environment: environment)
            } else {
                child = try ChildProcess.spawn(
                    executable, arguments: Array(program.dropFirst()), environment: environment)
            }
        } catch {
            SignalForwarding.stop()
            recording.removeIfEmpty()
            StandardError.write("Error: cannot run \(name): \(TerminalText.escaped(error.message))")
            // As a shell does: 127 for a program that is not there, 126 for one that cannot be executed.
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
            throw CLIError("lost track of \(name): \(error.message)")
        }
        // Without the launcher the program's count began at mprof's own high-water mark when it was spawned;
        // mprof's mark now is at least that, so a count above it is the program's own.
        let launcherPeak = child.lifetimePeakIsOwn ? 0 : (try? MemoryProbe(.peak).read().bytes) ?? Int.max
        let lifetime = child.maximumResidentBytes.map {
            Recording.LifetimePeak(bytes: $0, isOwn: child.lifetimePeakIsOwn, launcherPeak: launcherPeak)
        }
        let peak = recording.recordExitPeak(lifetime, trace: trace)
        StandardError.write(recording.summary(of: trace, peak: peak))
        switch termination {
        case .exited(0):
            try recording.checkWrites()
            return
        case .exited(let code):
            StandardError.write("mprof: \(name) exited with status \(code)")
        case .signaled(let signal):
            StandardError.write("mprof: \(name) was killed by \(SignalForwarding.name(of: signal))")
        }
        if let failure = recording.sink.failure {
            StandardError.write("mprof: the recording is incomplete: \(TerminalText.escaped(failure.message))")
        }
        throw ExitCode(termination.shellStatus)
    }

    static let launcherName = "mprof-spawn"

    /// The launcher that starts programs so that their lifetime peak is their own: `mprof-spawn` in the
    /// directory of the running `mprof`.
    static func launcherPath() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, Int(PATH_MAX))
        guard count > 0 else { return nil }
        let executable = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = executable.lastIndex(of: "/") else { return nil }
        let candidate = String(executable[...slash]) + launcherName
        var status = stat()
        guard stat(candidate, &status) == 0, status.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 else {
            return nil
        }
        return candidate
    }

    /// The executable for a program name: a path as given, or the first match on PATH.
    static func locate(_ name: String) throws -> String {
        let shown = TerminalText.escaped(name)
        if name.contains("/") {
            var status = stat()
            guard stat(name, &status) == 0 else {
                StandardError.write("Error: cannot run \(shown): no such file")
                throw ExitCode(127)
            }
            guard status.st_mode & S_IFMT != S_IFDIR else {
                StandardError.write("Error: cannot run \(shown): is a directory")
                throw ExitCode(126)
            }
            guard access(name, X_OK) == 0 else {
                StandardError.write("Error: cannot run \(shown): not executable (a script needs a #! line and chmod +x)")
                throw ExitCode(126)
            }
            return name
        }
        guard let found = ExecutableLookup.find(name) else {
            StandardError.write("Error: cannot run \(shown): not found on PATH")
            throw ExitCode(127)
        }
        return found
    }
}
