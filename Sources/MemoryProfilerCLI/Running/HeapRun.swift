import CMemoryProfilerShims
import MemoryProfiler
import MemoryReports
import MemoryProfilerSystem
import Synchronization

/// `mprof run --heap`: preloads `libmprof-heap-hook.so` into the program, which records every allocation and free
/// with its call stack into a capture beside the `.dat` file (`mprofile_….heap`).
struct HeapRun {
    static let hookName = "libmprof-heap-hook.so"
    /// One more than the longest capture path the hook takes (its buffer of 4,096 bytes, less room for ".children").
    static let longestCapturePath = 4080
    /// The hook to preload.
    let hook: String
    /// The capture the hook writes.
    let capture: String
    /// Counters per allocation site rather than every event (`--aggregate`).
    let aggregate: Bool
    /// Writes the capture's stored form while the program runs (see HeapCaptureFollower), so that little is left to
    /// do when it ends; nil when it could not start (the capture is then finished after the run).
    private(set) var follower: HeapCaptureFollower?
    /// Names the capture's addresses while the program runs (see HeapPreNamer); nil without llvm-symbolizer.
    private(set) var prenamer: HeapPreNamer?
    /// Where the hook lists the processes it did not record (children the program started).
    var childrenList: String { capture + ".children" }
    /// The capture file, created here before the program runs and held open with a shared lock until mprof has
    /// finished it (see ``reserve(_:)``).
    private let reservation: Reservation

    /// The hook library: `MPROF_HEAP_HOOK`, or `libmprof-heap-hook.so` beside the running mprof (where
    /// `swift build` puts it) or in `../lib` of its directory.
    static func locateHook() throws -> String {
        if let named = Environment.value("MPROF_HEAP_HOOK"), !named.isEmpty {
            guard isRegularFile(named) else {
                throw CLIError("MPROF_HEAP_HOOK names \(TerminalText.quoted(named)), which is not a file")
            }
            return named
        }
        let directory = Self.executableDirectory() ?? "."
        for candidate in ["\(directory)/\(hookName)", "\(directory)/../lib/\(hookName)"] where isRegularFile(candidate) {
            return candidate
        }
        throw CLIError(
            "mprof run --heap needs \(hookName) beside mprof (\(TerminalText.escaped(directory))), and it is not there: "
                + "build it with `swift build -c release --product mprof-heap-hook` (plain `swift build` builds it too), "
                + "or name it with MPROF_HEAP_HOOK")
    }

    /// Refuses programs a preloaded library cannot see into, before anything runs; warns about those whose own
    /// allocations it will miss.
    static func checkHookable(_ executable: [UInt8], name: String, depth: Int = 0) throws {
        // The kernel follows at most 4 levels of #! interpreters (then exec fails with ELOOP); a script that names
        // itself must not make this recurse for ever.
        guard depth <= 4 else {
            throw CLIError(
                "cannot run \(name): its #! interpreters nest more than 4 deep (a script that names itself, say), "
                    + "which the kernel refuses to run")
        }
        let image = ExecutableImage(path: executable)
        if image.isSetID {
            throw CLIError(
                "cannot heap-profile \(name): it is set-user-ID or set-group-ID, and the dynamic loader ignores "
                    + "LD_PRELOAD for such programs")
        }
        if Self.hasFileCapabilities(executable) {
            throw CLIError(
                "cannot heap-profile \(name): it has file capabilities (security.capability, see getcap), so it runs in "
                    + "secure mode: the dynamic loader ignores LD_PRELOAD for it, and a hook linked into it records "
                    + "nothing. Profile a copy without them (cp drops them), or without --heap")
        }
        switch image.kind {
        case .staticallyLinked:
            throw CLIError(
                "cannot heap-profile \(name): it is statically linked (no dynamic loader), so no library can be "
                    + "preloaded into it. Link it dynamically (swift build without -static-executable; "
                    + "--static-swift-stdlib is fine) or profile its memory over time without --heap")
        case .script(let interpreter):
            // The kernel opens the interpreter as named: a name without a slash is in the current directory, not
            // looked up on PATH (a set-group-ID `feederd` there would run in secure mode, and record nothing).
            try checkHookable(interpreter, name: name, depth: depth + 1)
        case .dynamic, .other:
            break
        }
        if image.definesMalloc {
            StandardError.write(
                "mprof: warning: \(name) has its own malloc linked in (a statically linked allocator such as "
                    + "jemalloc's .a): its allocations do not pass through the shared malloc and the capture will "
                    + "miss them. Link the allocator dynamically (-ljemalloc) to profile them")
        }
    }

    /// Prepares the capture for the `.dat` file at `datPath`: `<name>.heap` beside it. A capture left there by an
    /// earlier run with the same `-o` is replaced; anything else at that name is refused.
    init(hook: String, datPath: String, aggregate: Bool = false) throws {
        self.hook = hook
        self.aggregate = aggregate
        // The capture goes beside the .dat file, as a regular file: a device or a FIFO (-o /dev/full) has no "beside".
        // A link is followed, as the recording follows it (the capture goes beside the name given, not its target).
        if let status = try? FileStatus(path: datPath), status.kind != .regular {
            throw CLIError(
                "--heap writes its capture beside the recording, so -o must name a regular file, and "
                    + "\(TerminalText.escaped(datPath)) is not one")
        }
        capture = HeapCapture.path(besideRecording: datPath)
        for path in [capture, capture + ".children"] {
            guard let status = Self.status(path) else { continue }
            guard status.kind == .regular else {
                throw CLIError("\(TerminalText.escaped(path)) exists and is not a file mprof wrote: move it away or choose another -o")
            }
            // Held from the checks to the unlink: an exclusive lock on the very file checked, which no run writing it
            // (it holds a shared lock from its creation until it has finished it) and no other run replacing it can
            // hold at once. The name is checked to be that file's still, under the lock: another run may have
            // replaced it meanwhile, and that one's capture must never be the one removed.
            guard let old = try? Descriptor.open(path, .readOnly, options: [.noFollow, .nonBlocking]) else { continue }
            defer { old.close() }
            if (try? old.tryLock(exclusive: true)) != true {
                throw CLIError(
                    "\(TerminalText.escaped(path)) is being written by another mprof run --heap: wait for it, or choose another -o")
            }
            guard let opened = try? old.status(), let named = Self.status(path), opened.device == named.device,
                opened.inode == named.inode
            else {
                throw CLIError(
                    "\(TerminalText.escaped(path)) was just replaced by another mprof run --heap with the same -o: wait for "
                        + "it, or choose another -o")
            }
            if path == capture, opened.size == 0 {
                // What another run starting with the same -o has just created, or what one killed before its
                // program started left.
                throw CLIError(
                    "\(TerminalText.escaped(path)) exists and is empty: another mprof run --heap with the same -o may be "
                        + "starting; wait for it, or choose another -o (remove the file if no run is)")
            }
            guard path == capture ? HeapCapture.isCapture(at: path) : Self.isChildrenList(path) else {
                let what = path == capture ? "a heap capture" : "a list of processes"
                throw CLIError("\(TerminalText.escaped(path)) exists and is not \(what) mprof wrote: move it away or choose another -o")
            }
            do throws(SystemError) {
                try FileSystem.removeName(path)
            } catch {
                guard error.isNoSuchFile else {
                    throw CLIError("cannot replace \(TerminalText.escaped(path)): \(error.message)")
                }
            }
        }
        reservation = try Self.reserve(capture)
        // An aggregate capture's counters change in place: it is read once the program has ended, and only its
        // names are followed.
        prenamer = HeapPreNamer(readingCaptureAt: aggregate ? capture : nil)
        follower = aggregate ? nil : HeapCaptureFollower(path: capture, prenamer: prenamer)
    }

    /// The capture file mprof creates for the hook and hands over open (`MPROF_HEAP_DESCRIPTOR`), which it holds
    /// until the run is finished.
    ///
    /// Created here, exclusively, the name is this run's from before the program starts until its names are
    /// stored, and the shared lock says so to every other run: a second run with the same `-o` is refused whenever
    /// it starts. (Were the file the hook's to create, a second run starting between the first run's check and the
    /// hook's creating it would pass its check and take the first run's capture for its own.)
    final class Reservation: Sendable {
        private let descriptor: Mutex<Descriptor?>
        /// The file this run made at the capture's name (device, inode): the reserved one, then the one mprof stored
        /// the names in. Only that file is ever removed by `discard`: once the run has let the name go, another
        /// run's capture may be there.
        let identity: Mutex<(device: UInt64, inode: UInt64)?>

        init(_ descriptor: Descriptor) {
            self.descriptor = Mutex(descriptor)
            let status = try? descriptor.status()
            identity = Mutex(status.map { ($0.device, $0.inode) })
        }

        /// The descriptor, while it is open.
        var number: Descriptor? { descriptor.withLock { $0 } }

        /// Closes the descriptor (and so lets the lock go); closing again does nothing.
        func release() {
            descriptor.withLock { number in
                number?.close()
                number = nil
            }
        }

        deinit { release() }
    }

    /// Creates the capture as the hook would (exclusively, 0600), locks it and makes room for its first megabyte,
    /// then gives the room back: a directory the user cannot write, or a file system with no room, is an error
    /// before the program runs, not a run without a capture.
    private static func reserve(_ path: String) throws -> Reservation {
        let descriptor: Descriptor
        do throws(SystemError) {
            descriptor = try Descriptor.open(path, .readWrite, options: [.create, .exclusive, .noFollow], permissions: 0o600)
        } catch {
            if error.isExisting {
                throw CLIError(
                    "\(TerminalText.escaped(path)) was just created by another mprof run --heap with the same -o: wait for "
                        + "it, or choose another -o")
            }
            throw CLIError("cannot create the heap capture \(TerminalText.escaped(path)): \(error.message)")
        }
        // Past a file size limit (ulimit -f) the kernel sends SIGXFSZ, which would end mprof: ignored for the check
        // (the program starts with default actions).
        let reservation = Reservation(descriptor)
        _ = try? descriptor.tryLock(exclusive: false)  // no other run holds a file this one just created
        let room = Signals.ignoring(.fileSizeExceeded) { () -> SystemError? in
            do throws(SystemError) {
                try descriptor.reserveSpace(bytes: 1 << 20)
                return nil
            } catch {
                return error
            }
        }
        do throws(SystemError) {
            try descriptor.resize(to: 0)
        } catch {
            reservation.release()
            try? FileSystem.removeName(path)
            throw CLIError("cannot prepare the heap capture \(TerminalText.escaped(path)): \(error.message)")
        }
        // EOPNOTSUPP/EINVAL: a file system without fallocate, where the hook grows the file another way.
        guard let error = room, error.isFileTooLarge || error.isOutOfSpace else { return reservation }
        reservation.release()
        try? FileSystem.removeName(path)
        if error.isFileTooLarge {
            throw CLIError(
                "the file size limit (ulimit -f) is below the heap capture's first megabyte: raise it, or run without --heap")
        }
        throw CLIError(
            "no room for the heap capture \(TerminalText.escaped(path)): \(error.message) (the capture needs about 4 MB "
                + "per million allocations)")
    }

    /// Removes what the run created (the capture, the list of processes not recorded), when the run recorded
    /// nothing worth keeping: regular files only.
    func discard() {
        follower?.cancel()
        prenamer?.cancel()
        let ours = reservation.identity.withLock { $0 }
        if let status = Self.status(capture), status.kind == .regular, let ours, status.device == ours.device,
            status.inode == ours.inode
        {
            FileSystem.removeRegularFile(capture)
            FileSystem.removeRegularFile(childrenList)
        }
        reservation.release()
    }

    /// `environment` with what the program's environment gets added (the hook first in LD_PRELOAD, before any the
    /// user set; the capture's absolute path; the number of the capture's descriptor in the program), and the
    /// descriptors it inherits (number in the program → descriptor here). Each number is a copy held here until
    /// ``programStarted(_:)``.
    func handOver(
        absoluteCapture: [UInt8], adding environment: [String: [UInt8]]
    ) throws -> (environment: [String: [UInt8]], descriptors: [Int32: Int32]) {
        var preload = Array(hook.utf8)
        if let existing = Environment.bytes("LD_PRELOAD"), !existing.isEmpty { preload += [UInt8(ascii: ":")] + existing }
        guard let descriptor = reservation.number else {
            throw CLIError("the heap capture \(TerminalText.escaped(capture)) was given up before the program started")
        }
        // The hook takes a path of at most this many bytes (and, past it, would leave the descriptor to every process).
        guard absoluteCapture.count < Self.longestCapturePath else {
            throw CLIError(
                "the heap capture's path is \(absoluteCapture.count) bytes long, and the hook takes at most "
                    + "\(Self.longestCapturePath - 1): choose a shorter -o")
        }
        // A number free here is one the program inherits nothing else on; the copy keeps it free until the spawn.
        let number: Int32
        do throws(SystemError) {
            number = try descriptor.duplicate(atLeast: 3).rawValue
        } catch {
            throw CLIError("cannot hand the heap capture to the program: \(error.message)")
        }
        var added = [
            "LD_PRELOAD": preload, "MPROF_HEAP_OUTPUT": absoluteCapture,
            "MPROF_HEAP_DESCRIPTOR": Array(String(number).utf8),
        ]
        // Said either way: a variable left in the user's environment does not choose for mprof.
        added["MPROF_HEAP_AGGREGATE"] = Array((aggregate ? "1" : "0").utf8)
        return (environment.merging(added) { $1 }, [number: descriptor.rawValue])
    }

    /// Closes the copies ``handOver(absoluteCapture:)`` made, once the program has its own.
    func programStarted(_ descriptors: [Int32: Int32]) {
        for number in descriptors.keys { Descriptor(rawValue: number).close() }
    }

    /// Whether the file has capabilities of its own (the `security.capability` extended attribute), which make the
    /// kernel run it in secure mode, as a set-ID program.
    static func hasFileCapabilities(_ path: [UInt8]) -> Bool {
        CString.with(path) { cmp_has_extended_attribute($0, "security.capability") } == 1
    }

    /// What the hook recorded about how the capture ended (read right after the run, before anything else): nil
    /// when there is no capture to read.
    func conditions() -> HeapCapture.Summary? {
        follower?.conditions() ?? (try? HeapCapture.conditions(at: capture))
    }

    /// After the run: where the capture is, or why there is none, what the hook said about it (`conditions`), and
    /// which processes were not recorded.
    /// - Returns: Whether a capture was written.
    @discardableResult
    func report(name: String, conditions: HeapCapture.Summary?, termination: ChildProcess.Termination) -> Bool {
        guard let status = Self.status(capture), status.kind == .regular, HeapCapture.isCapture(at: capture) else {
            StandardError.write(
                "mprof: no heap capture was written: \(name) did not load \(Self.hookName) (it may clear LD_PRELOAD, "
                    + "or end before its start-up), or the hook could not write \(TerminalText.escaped(capture)) (it says "
                    + "why above)")
            discard()
            return false
        }
        // Read before the names are stored, while the run still holds the capture: once it lets go, another run
        // with the same -o may replace the list.
        var childrenNote: String?
        if let list = try? FileReader(path: childrenList).readAll(limit: 1 << 20) {
            // "fork PID" then "exec PID PATH" for a child that forked and exec'd: one process, shown by its program.
            var lines: [ArraySlice<UInt8>] = []
            var lineOfProcess: [ArraySlice<UInt8>: Int] = [:]
            for line in list.split(separator: UInt8(ascii: "\n")) {
                let pid = line.split(separator: UInt8(ascii: " ")).dropFirst().first ?? []
                if let index = lineOfProcess[pid] {
                    lines[index] = line
                } else {
                    lineOfProcess[pid] = lines.count
                    lines.append(line)
                }
            }
            let shown = lines.prefix(5).map { TerminalText.escaped($0) }.joined(separator: "; ")
            childrenNote =
                "mprof: \(lines.count) process\(lines.count == 1 ? "" : "es") started by \(name) \(lines.count == 1 ? "was" : "were") "
                + "not heap-profiled (only the program itself is): \(shown)\(lines.count > 5 ? "; …" : "")"
        }
        // Names now, while the program's files are the ones that ran: the capture then reads the same later,
        // elsewhere, or after a rebuild.
        // A program that exited on its own, yet left the capture without its end, skipped every exit handler: a
        // raw exit_group system call (_exit, _Exit and quick_exit are finished by the hook).
        var ending: String?
        if case .exited(let code) = termination, let conditions, !conditions.finishedNormally,
            conditions.stoppedEarlyBecause == nil, conditions.replacedBy == nil
        {
            let cause = "\(name) exited with status \(code) without running its exit handlers (an exit_group system call "
                + "made directly): every allocation up to the exit is recorded, but there is no leak scan"
            StandardError.write("mprof: warning: \(cause)")
            ending = cause
        }
        do {
            let symbols = try HeapSymbolizer().storeNames(
                inCaptureAt: capture, ending: ending, following: follower, prenamed: prenamer)
            for note in symbols.notes { StandardError.write("mprof: warning: \(TerminalText.escaped(note))") }
        } catch {
            StandardError.write("mprof: warning: the capture's names were not stored: \(error.message)")
        }
        // Finished: from here another run with the same -o may replace it. (What `discard` may remove is the file the
        // names were stored in.)
        // Its size too, read while the run still holds it: once it lets go, the name may be another run's capture.
        let stored = Self.status(capture)
        if let stored { reservation.identity.withLock { $0 = (stored.device, stored.inode) } }
        reservation.release()
        let size = stored?.size ?? status.size
        let shownSize = Quantity.bytes(size)
        StandardError.write(
            "mprof: heap capture in \(TerminalText.escaped(capture)) (\(shownSize)); see who allocated what with: "
                + "mprof heap \(TerminalText.escaped(capture))")
        if let cause = conditions?.stoppedEarlyBecause {
            StandardError.write("mprof: the heap capture was cut short: \(TerminalText.escaped(cause))")
        }
        if let failure = conditions?.leakScanFailure {
            StandardError.write("mprof: warning: no leak scan was made: \(TerminalText.escaped(failure))")
        }
        if let missed = conditions?.unrecordedSignalEvents, missed > 0 {
            StandardError.write(
                "mprof: warning: \(missed) allocations/frees were made in signal handlers inside the hook and are not "
                    + "recorded; the capture's counts are not exact")
        }
        if let childrenNote { StandardError.write(childrenNote) }
        return true
    }

    private static func status(_ path: String) -> FileStatus? {
        try? FileStatus(path: path, followingLinks: false)
    }

    /// The directory of the running mprof, links resolved.
    static func executableDirectory() -> String? {
        guard let executable = FileSystem.ownExecutable() else { return nil }
        return executable.lastIndex(of: "/").map { String(executable[..<$0]) }
    }

    private static func isRegularFile(_ path: String) -> Bool {
        (try? FileStatus(path: path))?.kind == .regular
    }

    /// Whether the file at `path` is a list the hook wrote of processes it did not record: at most 1 MiB of lines
    /// "exec PID PATH" or "fork PID". Anything else by that name is not mprof's to replace.
    private static func isChildrenList(_ path: String) -> Bool {
        guard let contents = try? FileReader(path: path).readAll(limit: 1 << 20) else { return false }
        return contents.split(separator: UInt8(ascii: "\n")).allSatisfy { line in
            let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count >= 2, let kind = fields.first, fields[1].allSatisfy({ (48...57).contains($0) }),
                !fields[1].isEmpty
            else { return false }
            return (kind.elementsEqual("exec".utf8) && fields.count == 3) || (kind.elementsEqual("fork".utf8) && fields.count == 2)
        }
    }
}
