import CMemoryProfilerShims
import Synchronization

import Glibc

/// A process started with `posix_spawn`: the launcher of `ps` readings, `mprof run` and the tests.
///
/// Foundation's `Process` waits in 50 ms slices on Linux; this waits with `waitpid` and costs about a
/// millisecond to start. Closing the pipes and waiting are idempotent: a descriptor number is closed once only
/// (closing it twice could close a descriptor another thread has opened since), and the child is reaped once.
public final class ChildProcess: Sendable {
    /// Where one of the child's standard streams goes.
    public enum Stream: Sendable {
        /// The same file as the launcher's.
        case inherit
        /// `/dev/null`.
        case null
        /// A file, created or truncated (for output) or read from its start (for input).
        case file(String)
        /// A pipe whose other end the launcher keeps (``ChildProcess/standardInput`` or
        /// ``ChildProcess/standardOutput``).
        case pipe
    }

    /// How a child ended.
    public enum Termination: Hashable, Sendable {
        case exited(Int32)
        case signaled(Int32)

        /// `exit status 3`, `signal 9`.
        public var description: String {
            switch self {
            case .exited(let code): "exit status \(code)"
            case .signaled(let signal): "signal \(signal)"
            }
        }

        /// The status a shell would report: the exit code, or 128 + the signal number.
        public var shellStatus: Int32 {
            switch self {
            case .exited(let code): code
            case .signaled(let signal): 128 + signal
            }
        }
    }

    /// The child's process ID.
    public let pid: Int32
    /// The launcher's end of the child's standard input, when it was a ``Stream/pipe``; nil once closed.
    public var standardInput: Int32? { state.withLock { $0.standardInput } }
    /// The launcher's end of the child's standard output, when it was a ``Stream/pipe``; nil once closed.
    public var standardOutput: Int32? { state.withLock { $0.standardOutput } }

    private struct State {
        var standardInput: Int32?
        var standardOutput: Int32?
    }
    private let state: Mutex<State>
    /// Separate from `state`, so that closing the pipes never waits for a `wait()` in progress.
    private let termination = Mutex<Termination?>(nil)
    private let maximumResident = Atomic<Int>(-1)

    /// True when ``maximumResidentBytes`` counts the program alone (started by ``spawnAdopting(through:_:arguments:environment:)``);
    /// false when it starts from the launcher's own high-water mark (``spawn(_:arguments:environment:standardInput:standardOutput:standardError:)``).
    public let lifetimePeakIsOwn: Bool

    private init(pid: Int32, standardInput: Int32?, standardOutput: Int32?, lifetimePeakIsOwn: Bool = false) {
        self.pid = pid
        self.lifetimePeakIsOwn = lifetimePeakIsOwn
        self.state = Mutex(State(standardInput: standardInput, standardOutput: standardOutput))
    }

    /// Starts `executable` with `arguments` (not including the program name) and the launcher's environment
    /// plus `environment`.
    ///
    /// Signal dispositions and the signal mask are reset to their defaults in the child. With
    /// `inOwnProcessGroup`, the child leads a process group of its own: a Ctrl-C at the terminal, which goes to
    /// the foreground group, does not reach it (for the tools mprof runs for itself, which must finish).
    ///
    /// `descriptors` maps a number in the child to a descriptor here: the child gets a copy of the descriptor on
    /// that number, without close-on-exec. Every other descriptor of this process's that is close-on-exec stays
    /// out of the child. A number must differ from its descriptor (reserve it with `F_DUPFD_CLOEXEC`).
    public static func spawn(
        _ executable: String,
        arguments: [String],
        environment: [String: String] = [:],
        standardInput: Stream = .inherit,
        standardOutput: Stream = .inherit,
        standardError: Stream = .inherit,
        inheriting descriptors: [Int32: Int32] = [:],
        inOwnProcessGroup: Bool = false
    ) throws(SystemError) -> ChildProcess {
        try spawn(
            Array(executable.utf8), arguments: arguments.map { Array($0.utf8) },
            environment: environment.mapValues { Array($0.utf8) },
            standardInput: standardInput, standardOutput: standardOutput, standardError: standardError,
            passing: descriptors, inOwnProcessGroup: inOwnProcessGroup)
    }

    /// Starts `executable` through the `mprof-spawn` launcher at `launcher` and adopts it as a child, so that
    /// its lifetime peak (``maximumResidentBytes``) is its own.
    ///
    /// A child started with `posix_spawn` shares this process's memory until it calls exec, and the kernel's
    /// lifetime peak of the child starts from this process's own high-water mark. The launcher is a small C
    /// program that forks a copy of itself to exec the program, reports the program's PID and exits; this
    /// process is a child subreaper while it does, so the program becomes its child. The call returns once the
    /// program's exec has succeeded (or throws if it failed), so a first reading sees the program, never the
    /// launcher.
    ///
    /// - Throws: ``SystemError``; with ``SystemError/errno`` `ENOENT` or another exec error (and the C
    ///   library's text alone as its message) when the program cannot be run.
    ///
    /// The executable and the arguments are bytes, passed on exactly as given (a file name need not be UTF-8).
    /// `descriptors` maps a number in the program to a descriptor here that the program gets on it, as in
    /// ``spawn(_:arguments:environment:standardInput:standardOutput:standardError:inheriting:inOwnProcessGroup:)``.
    public static func spawnAdopting(
        through launcher: String,
        _ executable: [UInt8],
        arguments: [[UInt8]],
        environment: [String: [UInt8]] = [:],
        inheriting descriptors: [Int32: Int32] = [:]
    ) throws(SystemError) -> ChildProcess {
        let shown = TerminalText.escaped(executable[...])
        var ends: [Int32] = [-1, -1]
        guard cmp_pipe_cloexec(&ends) == 0 else {
            throw SystemError("cannot create a pipe", errno: errno)
        }
        let readEnd = ends[0]
        let writeEnd = ends[1]
        defer { close(readEnd) }
        // The launcher gets the pipe on a number that is free here, so on none that the program inherits from
        // mprof's own parent (a make jobserver's 3 and 4, systemd's sockets from 3 on). Reserving it with a
        // copy keeps it free until the spawn; dup2 from another number clears close-on-exec in the launcher.
        let reportNumber = fcntl(writeEnd, F_DUPFD_CLOEXEC, 3)
        guard reportNumber >= 0 else {
            let code = errno
            close(writeEnd)
            throw SystemError("cannot create a pipe", errno: code)
        }
        let wasSubreaper = cmp_is_child_subreaper() == 1
        guard wasSubreaper || cmp_set_child_subreaper(1) == 0 else {
            let code = errno
            close(writeEnd)
            close(reportNumber)
            throw SystemError("cannot become a child subreaper", errno: code)
        }
        defer { if !wasSubreaper { _ = cmp_set_child_subreaper(0) } }

        let launcherProcess: ChildProcess
        do {
            launcherProcess = try spawn(
                Array(launcher.utf8), arguments: [Array(String(reportNumber).utf8), executable, executable] + arguments,
                environment: environment, standardInput: .inherit, standardOutput: .inherit, standardError: .inherit,
                passing: descriptors.merging([reportNumber: writeEnd]) { $1 })
        } catch {
            close(writeEnd)
            close(reportNumber)
            throw error
        }
        // Every copy of the write end here is closed, so end-of-file says the program's exec is done.
        close(writeEnd)
        close(reportNumber)
        let launcherEnd = try launcherProcess.wait()

        let (pid, execError, forkError) = readLauncherReport(from: Descriptor(rawValue: readEnd))
        if let forkError {
            throw SystemError("cannot start \(shown): fork", errno: forkError)
        }
        guard let pid else {
            throw SystemError(
                message: "the launcher \(launcher) failed (\(launcherEnd.description)) before starting \(shown)",
                errno: EPROTO)
        }
        let child = ChildProcess(pid: pid, standardInput: nil, standardOutput: nil, lifetimePeakIsOwn: true)
        if let execError {
            _ = try? child.wait()
            throw SystemError(errno: execError)
        }
        return child
    }

    /// What the launcher reported on its pipe, read to its end: records of two 32-bit integers, 'P' and the
    /// program's PID, 'E' and exec's error, 'F' and fork's error. The launcher writes at most two, the
    /// program's process one; no more than eight are read.
    private static func readLauncherReport(
        from descriptor: Descriptor
    ) -> (pid: Int32?, execError: Int32?, forkError: Int32?) {
        var report: (pid: Int32?, execError: Int32?, forkError: Int32?) = (nil, nil, nil)
        var buffer = [Int32](repeating: 0, count: 2)
        var filled = 0
        var records = 0
        while records < 8 {
            let count = buffer.withUnsafeMutableBytes { bytes in
                try? descriptor.read(into: UnsafeMutableRawBufferPointer(rebasing: bytes[filled...]))
            }
            guard let count, count > 0 else { break }
            filled += count
            guard filled == 8 else { continue }
            filled = 0
            records += 1
            switch UInt8(truncatingIfNeeded: buffer[0]) {
            case UInt8(ascii: "P") where buffer[1] > 0: report.pid = buffer[1]
            case UInt8(ascii: "E"): report.execError = buffer[1]
            case UInt8(ascii: "F"): report.forkError = buffer[1]
            default: break
            }
        }
        return report
    }

    private static func spawn(
        _ executable: [UInt8],
        arguments: [[UInt8]],
        environment: [String: [UInt8]],
        standardInput: Stream,
        standardOutput: Stream,
        standardError: Stream,
        passing: [Int32: Int32],
        inOwnProcessGroup: Bool = false
    ) throws(SystemError) -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        var defaultSignals = sigset_t()
        sigfillset(&defaultSignals)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
        if inOwnProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        var launcherEnds: [Int32?] = [nil, nil]
        var childEnds: [Int32] = []
        defer { for descriptor in childEnds { close(descriptor) } }
        for (target, stream) in [(Int32(0), standardInput), (1, standardOutput), (2, standardError)] {
            switch stream {
            case .inherit:
                break
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            case .file(let path):
                let flags = target == 0 ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC
                posix_spawn_file_actions_addopen(&actions, target, path, flags, 0o644)
            case .pipe:
                var ends: [Int32] = [-1, -1]
                guard cmp_pipe_cloexec(&ends) == 0 else {
                    for case let descriptor? in launcherEnds { close(descriptor) }
                    throw SystemError("cannot create a pipe", errno: errno)
                }
                let (childEnd, launcherEnd) = target == 0 ? (ends[0], ends[1]) : (ends[1], ends[0])
                childEnds.append(childEnd)
                if target < 2 { launcherEnds[Int(target)] = launcherEnd } else { close(launcherEnd) }
                posix_spawn_file_actions_adddup2(&actions, childEnd, target)
            }
        }

        // dup2 clears close-on-exec on the copy (the descriptor and its number must differ: dup2 onto itself does not).
        for (number, descriptor) in passing { posix_spawn_file_actions_adddup2(&actions, descriptor, number) }

        // The environment is passed on byte for byte (names and values need not be UTF-8), with `environment`
        // added or replacing variables of the same name.
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { name, value in
            CString.with(Array(name.utf8) + [UInt8(ascii: "=")] + value) { strdup($0) }
        }
        let replaced = Set(environment.keys.map { Array($0.utf8) + [UInt8(ascii: "=")] })
        var index = 0
        while let entry = environ[index] {
            index += 1
            let length = strlen(entry)
            let bytes = UnsafeRawBufferPointer(start: entry, count: length)
            if let equals = bytes.firstIndex(of: UInt8(ascii: "=")), replaced.contains(Array(bytes[...equals])) {
                continue
            }
            envp.append(strdup(entry))
        }
        envp.append(nil)
        func cString(_ bytes: [UInt8]) -> UnsafeMutablePointer<CChar>? {
            CString.with(bytes) { strdup($0) }
        }
        let argv = ([executable] + arguments).map(cString) + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        guard let path = argv[0] else {
            throw SystemError("cannot start a program", errno: ENOMEM)
        }
        var pid: pid_t = 0
        let spawnFunction = executable.contains(UInt8(ascii: "/")) ? posix_spawn : posix_spawnp
        let result = spawnFunction(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else {
            for case let descriptor? in launcherEnds { close(descriptor) }
            throw SystemError("cannot run \(TerminalText.escaped(executable[...]))", errno: result)
        }
        return ChildProcess(pid: pid, standardInput: launcherEnds[0], standardOutput: launcherEnds[1])
    }

    /// Gives the child (its main thread: a single-threaded tool) the lowest priority, where that can be undone, as
    /// ``DedicatedThread/lowerPriority()`` does for a thread; nil, with the priority left, where it cannot.
    public func lowerPriority() -> DedicatedThread.LoweredPriority? {
        var previous: Int32 = 0
        let task = cmp_lower_task_priority(pid, &previous)
        return task > 0 ? DedicatedThread.LoweredPriority(thread: task, previous: previous) : nil
    }

    /// Reads the child's standard output to its end.
    ///
    /// - Parameter limit: The most bytes kept; the rest is read and dropped, so the child never blocks writing.
    public func readOutput(limit: Int = 64 << 20) -> [UInt8] {
        guard let descriptor = standardOutput.map(Descriptor.init(rawValue:)) else { return [] }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while let count = chunk.withUnsafeMutableBytes({ try? descriptor.read(into: $0) }), count > 0 {
            if bytes.count < limit { bytes.append(contentsOf: chunk[..<min(count, limit - bytes.count)]) }
        }
        return bytes
    }

    /// Reads the child's standard output to its end, or until `deadline` (monotonic nanoseconds, as
    /// `Clocks.monotonicNanoseconds()`) passes; nil when the deadline passed first.
    public func readOutput(untilMonotonic deadline: Int64) -> [UInt8]? {
        guard let descriptor = standardOutput.map(Descriptor.init(rawValue:)) else { return [] }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let remaining = (deadline &- Clocks.monotonicNanoseconds()) / 1_000_000
            guard remaining > 0 else { return nil }
            guard descriptor.waitUntilReadable(milliseconds: Int32(min(remaining, 60_000))) else { continue }
            guard let count = chunk.withUnsafeMutableBytes({ try? descriptor.read(into: $0) }), count > 0 else {
                return bytes
            }
            bytes.append(contentsOf: chunk[..<count])
        }
    }

    /// Closes the launcher's ends of the pipes; closing again does nothing.
    public func closePipes() {
        let (input, output) = state.withLock { state in
            defer {
                state.standardInput = nil
                state.standardOutput = nil
            }
            return (state.standardInput, state.standardOutput)
        }
        if let input { close(input) }
        if let output { close(output) }
    }

    /// Waits for the child to end and reaps it; later calls return the same termination at once.
    ///
    /// The corresponding C function is `waitpid`.
    public func wait() throws(SystemError) -> Termination {
        try termination.withLock { (known) throws(SystemError) -> Termination in
            if let known { return known }
            var status: Int32 = 0
            var usage = rusage()
            guard retryingOnInterrupt({ wait4(pid, &status, 0, &usage) }) >= 0 else {
                throw .current.adding("cannot wait for process \(pid)")
            }
            let termination = Self.termination(fromWaitStatus: status)
            known = termination
            maximumResident.store(usage.ru_maxrss * 1024, ordering: .relaxed)
            return termination
        }
    }

    /// The child's largest resident set over its life (`ru_maxrss` from `wait4`), once ``wait()`` has reaped it.
    ///
    /// It includes the children the child waited for. It counts from the fork: unless ``lifetimePeakIsOwn``, it is
    /// at least what the launcher had resident when it spawned the child.
    public var maximumResidentBytes: Int? {
        let bytes = maximumResident.load(ordering: .relaxed)
        return bytes >= 0 ? bytes : nil
    }

    /// Waits until the child has ended, without reaping it: its PID stays valid until ``wait()``.
    ///
    /// The corresponding C function is `waitid` with `WNOWAIT`.
    public func waitUntilExited() {
        var info = siginfo_t()
        _ = retryingOnInterrupt { waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) }
    }

    /// Decodes a `waitpid` status.
    public static func termination(fromWaitStatus status: Int32) -> Termination {
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }
}
