import ArgumentParser
import MemoryProfiler
import MemoryProfilerSystem

/// What `mprof run` does once its options are read: starts the program (through the launcher, with the heap hook
/// when asked), records it into a `.dat` file until it ends, and reports how it ended.
enum ProgramRecording {
    /// The program of `mprof run PROGRAM [ARGUMENTS…]` or `mprof run -- PROGRAM [ARGUMENTS…]`: command lines that
    /// name no option, which the parser reads as the program with every option at its default. Nil for any other
    /// command line (`arguments` as `CommandLine.arguments`, with mprof's own name first).
    static func programWithoutOptions(_ arguments: [String]) -> [String]? {
        guard arguments.count >= 3, arguments[1] == "run" else { return nil }
        let program: ArraySlice<String>
        if arguments[2] == "--" {
            program = arguments[3...]
        } else {
            program = arguments[2...]
            // Up to a `--` the parser reads every word with a dash, the program's too: as an option it acts on
            // wherever it stands (`--generate-completion-script`), or as a syntax error (`---x`).
            guard !program.prefix(while: { $0 != "--" }).contains(where: { $0.hasPrefix("-") }) else { return nil }
        }
        guard let name = program.first, !name.isEmpty, !name.hasPrefix("-") else { return nil }
        return Array(program)
    }

    /// The program and its arguments as the bytes mprof was given: Swift's `CommandLine.arguments` replaces
    /// bytes that are not UTF-8, and a program must receive its arguments unchanged.
    static func programBytes(_ program: [String]) -> [[UInt8]] {
        let all = RawArguments.all
        guard all.count >= program.count else { return program.map { Array($0.utf8) } }
        let raw = Array(all.suffix(program.count))
        // The tail of argv is the program only if it reads as the same text.
        guard raw.map({ String(decoding: $0, as: UTF8.self) }) == program else { return program.map { Array($0.utf8) } }
        return raw
    }

    /// Runs `program` (the program and its arguments) and records its memory into a `.dat` file.
    static func record(
        _ program: [String], options: RecordingSettings, heap: Bool = false, aggregate: Bool = false,
        gate: MemoryGate = MemoryGate()
    ) throws {
        // mprof reports how the program ended even when nobody reads its standard error any more.
        Signals.ignore(.brokenPipe)
        let arguments = programBytes(program)
        let name = TerminalText.escaped(arguments[0][...])
        let executable = try Self.locate(arguments[0])
        let launcher = Self.launcherPath()
        let hook = heap ? try HeapRun.locateHook() : nil
        if heap { try HeapRun.checkHookable(executable, name: name) }
        let recording = try Recording(options: options, commandLine: program)
        let heapRun: HeapRun?
        do {
            heapRun = try hook.map { hook throws in try HeapRun(hook: hook, datPath: recording.path, aggregate: aggregate) }
        } catch {
            recording.abandon()
            throw error
        }
        StandardError.write("mprof: Sampling memory every \(recording.options.intervalText)")
        StandardError.write("mprof: running new process; recording to \(TerminalText.escaped(recording.path))")
        if launcher == nil {
            StandardError.write(
                "mprof: warning: \(Self.launcherName) is not beside mprof, so the kernel's lifetime peak of programs "
                    + "smaller than mprof cannot be told from mprof's own and is left out (install both files together)")
        }

        // A signal sent from here on is passed to the program once it runs, rather than ending mprof half-way.
        // (Not earlier: opening the file may block, and mprof must stay interruptible until it spawns.)
        SignalForwarding.holdSignals()
        let child = try start(
            executable, arguments: arguments, through: launcher, recording: recording, heap: heapRun, name: name)
        SignalForwarding.start(forwardingTo: child.pid)
        defer { SignalForwarding.stop() }
        let sampler = try startSampling(child, recording: recording, heap: heapRun)
        let (termination, trace, heapConditions) = try waitForExit(
            of: child, sampler: sampler, recording: recording, name: name, heap: heapRun)
        let captureWritten = heapRun?.report(name: name, conditions: heapConditions, termination: termination) ?? true
        if let explainer = recording.explainer {
            let capture = heapRun.flatMap { try? HeapCapture(path: $0.capture) }
            let peak = (try? MprofFile(path: recording.path))?.peak()?.memory
            StandardError.write(explainer.report(heap: capture, peak: peak), terminator: "")
            StandardError.write(recording.verdictLine(heap: capture))
        }
        // A capture cut short (the file size limit, a full disk), or none at all, is not the profile asked for,
        // whatever the program did.
        let captureCutShort = heapConditions?.stoppedEarlyBecause != nil || !captureWritten
        // The budgets: reported whatever the program did; they decide the status only when it succeeded.
        let crossed =
            gate.isEmpty
            ? []
            : gate.check(
                recording: recording.path, heapCapture: captureWritten ? heapRun?.capture : nil,
                kernelWatched: trace.map { $0.peakSource != .samples } ?? false)
        for line in crossed { StandardError.write("mprof: over budget: \(line)") }
        switch termination {
        case .exited(0) where captureCutShort:
            StandardError.write(
                "mprof: \(name) exited with status 0, but its heap capture is \(captureWritten ? "incomplete" : "missing") (see above)")
            throw ExitCode(1)
        case .exited(0):
            do {
                try recording.check(trace)
            } catch {
                heapRun?.discard()  // nothing recorded: no capture of a run that is not there either
                throw error
            }
            if !crossed.isEmpty { throw ExitCode(MemoryGate.exitStatus) }
            return
        case .exited(let code):
            StandardError.write("mprof: \(name) exited with status \(code)")
        case .signaled(let signal):
            StandardError.write("mprof: \(name) was killed by \(Signal(rawValue: signal).name)")
        }
        if let problem = recording.problem(of: trace) { StandardError.write("mprof: \(problem)") }
        throw ExitCode(termination.shellStatus)
    }

    /// Starts the program, through the launcher when there is one; on failure, abandons the recording and exits
    /// as a shell does: 127 for a program that is not there, 126 for one that cannot be executed.
    private static func start(
        _ executable: [UInt8], arguments: [[UInt8]], through launcher: String?, recording: Recording, heap: HeapRun?,
        name: String
    ) throws -> ChildProcess {
        var environment = [MemoryTimestamps.outputFileVariable: recording.absolutePath]
        var descriptors: [Int32: Int32] = [:]
        if let heap {
            let absoluteCapture = Array(recording.absolutePath.dropLast(recording.path.utf8.count)) + Array(heap.capture.utf8)
            do {
                (environment, descriptors) = try heap.handOver(absoluteCapture: absoluteCapture, adding: environment)
            } catch {
                SignalForwarding.stop()
                recording.abandon()
                heap.discard()
                throw error
            }
        }
        defer { heap?.programStarted(descriptors) }
        do {
            if let launcher {
                return try ChildProcess.spawnAdopting(
                    through: launcher, executable, arguments: Array(arguments.dropFirst()), environment: environment,
                    inheriting: descriptors)
            }
            return try ChildProcess.spawn(
                String(decoding: executable, as: UTF8.self),
                arguments: arguments.dropFirst().map { String(decoding: $0, as: UTF8.self) },
                environment: environment.mapValues { String(decoding: $0, as: UTF8.self) }, inheriting: descriptors)
        } catch {
            SignalForwarding.stop()
            recording.abandon()
            heap?.discard()
            StandardError.write("Error: cannot run \(name): \(Self.explain(error, executable: executable))")
            throw ExitCode(error.isNoSuchFile ? 127 : 126)
        }
    }

    /// Writes the header and starts the sampler; the program must not run on unrecorded, so a failure stops it.
    private static func startSampling(_ child: ChildProcess, recording: Recording, heap: HeapRun?) throws -> MemorySampler? {
        do {
            try recording.writeHeader()
            return try recording.start(child.id)
        } catch {
            SignalForwarding.stop()
            ProcessTable.send(ProcessTable.killSignal, to: child.pid)
            _ = try? child.wait()
            recording.abandon()
            heap?.discard()
            throw error
        }
    }

    /// Waits for the program to end, stops sampling at once, reaps it, and records its lifetime peak.
    private static func waitForExit(
        of child: ChildProcess, sampler: MemorySampler?, recording: Recording, name: String, heap: HeapRun?
    ) throws -> (ChildProcess.Termination, MemoryTrace?, HeapCapture.Summary?) {
        // Stop sampling the moment the program ends, rather than at the next sample's deadline.
        child.waitUntilExited()
        let trace = sampler?.stop()
        // Read while the program is a zombie: whether it waited for children, whose peaks wait4 includes.
        let waitedForChildren = ProcessTable.hasWaitedForChildren(child.pid)
        // From here the PID may be reaped and reused: no more forwarding; an interrupt while mprof finishes the
        // recording and the heap capture is answered, not obeyed half-way (the deferred stop() restores defaults).
        SignalForwarding.finishing()
        let termination: ChildProcess.Termination
        do {
            termination = try child.wait()
        } catch {
            throw CLIError("lost track of \(name): \(error.message)")
        }
        // Orphans of the program adopted while mprof was a subreaper for the spawn: reap those that have ended.
        ProcessTable.reapEndedChildren()
        // Without the launcher the program's count began at mprof's own high-water mark when it was spawned;
        // mprof's mark now is at least that, so a count above it is the program's own.
        let launcherPeak = child.lifetimePeakIsOwn ? 0 : (try? MemoryProbe(.peak).read().bytes) ?? Int.max
        var lifetime = child.maximumResidentBytes.map {
            Recording.LifetimePeak(
                bytes: $0, isOwn: child.lifetimePeakIsOwn, launcherPeak: launcherPeak,
                waitedForChildren: waitedForChildren)
        }
        // Under --heap the hook read the program's high-water mark just before its own work at exit (the leak scan,
        // whose memory wait4's count would include): that is the program's peak, its own process's alone.
        let heapConditions = heap?.conditions()
        if let peak = heapConditions?.residentPeakBeforeExit {
            lifetime = Recording.LifetimePeak(bytes: peak, isOwn: true, launcherPeak: 0, waitedForChildren: false)
        }
        let peak = recording.recordExitPeak(lifetime, trace: trace)
        StandardError.write(recording.summary(of: trace, peak: peak))
        // The hook's own tables are resident in the program's process too, and so in its peak: where they are a
        // visible part of it, say how much (an aggregate capture's table of live blocks grows with the blocks live at
        // once).
        if let tables = heapConditions?.hookTablesAtExit, let (memory, _) = peak, tables >= 1 << 20,
            tables * 20 >= memory.bytes
        {
            StandardError.write(
                "mprof: the heap hook's own tables held \(MemorySize(bytes: tables).formatted(precision: 1)) of the "
                    + "program's resident memory at its end, not the program's (the peak counts them too)")
        }
        return (termination, trace, heapConditions)
    }

    /// Why the program could not start, in words that point at the cause.
    static func explain(_ error: SystemError, executable: [UInt8]) -> String {
        if error.isNoSuchFile {
            // The file is there (it was found before), so exec's ENOENT is about its #! interpreter.
            if let interpreter = Self.interpreter(of: executable) {
                return "its interpreter \(TerminalText.escaped(interpreter[...])) (the #! line) was not found"
            }
            return error.message
        }
        if error.isNotExecutableFormat { return "not a program the kernel can run (a script needs a #! line)" }
        if error.isTextBusy { return "the file is open for writing (is it also the -o file?)" }
        return TerminalText.escaped(error.message)
    }

    /// The interpreter named by a `#!` line at the start of the file, if it has one.
    static func interpreter(of executable: [UInt8]) -> [UInt8]? {
        guard let descriptor = try? Descriptor.open(executable, .readOnly, options: .nonBlocking) else { return nil }
        defer { descriptor.close() }
        var bytes = [UInt8](repeating: 0, count: 256)
        guard let count = bytes.withUnsafeMutableBytes({ try? descriptor.read(into: $0) }), count > 2, bytes[0] == UInt8(ascii: "#"), bytes[1] == UInt8(ascii: "!") else { return nil }
        let line = bytes[2..<count].prefix { $0 != UInt8(ascii: "\n") }
        let words = line.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
        return words.first.map(Array.init)
    }

    static let launcherName = "mprof-spawn"

    /// The launcher that starts programs so that their lifetime peak is their own: `mprof-spawn` in the
    /// directory of the running `mprof`.
    static func launcherPath() -> String? {
        guard let executable = FileSystem.ownExecutable(), let slash = executable.lastIndex(of: "/") else { return nil }
        let candidate = String(executable[...slash]) + launcherName
        return FileSystem.isExecutableFile(Array(candidate.utf8)) ? candidate : nil
    }

    /// The executable for a program name: a path as given, or the first match on PATH.
    static func locate(_ name: [UInt8]) throws -> [UInt8] {
        let shown = TerminalText.escaped(name[...])
        if name.contains(UInt8(ascii: "/")) {
            let status: FileStatus
            do throws(SystemError) {
                status = try FileStatus(path: name)
            } catch {
                StandardError.write("Error: cannot run \(shown): \(error.isNoSuchFile ? "no such file" : error.message)")
                throw ExitCode(127)
            }
            guard status.kind != .directory else {
                StandardError.write("Error: cannot run \(shown): is a directory")
                throw ExitCode(126)
            }
            guard FileSystem.mayExecute(name) else {
                StandardError.write("Error: cannot run \(shown): not executable (a script needs a #! line and chmod +x)")
                throw ExitCode(126)
            }
            return name
        }
        guard name.count > 0, let found = ExecutableLookup.find(name) else {
            StandardError.write("Error: cannot run \(shown): not found on PATH")
            throw ExitCode(127)
        }
        return found
    }
}

extension ChildProcess {
    /// The child as a process to measure.
    var id: ProcessID { ProcessID(pid) }
}
