#if os(Linux)
import Glibc

/// Processes as `/proc` and `kill` show them, by PID: the queries `mprof` and the readers make.
public enum ProcessTable {
    /// The calling process's PID.
    public static var currentProcess: Int32 { getpid() }

    /// Whether a process with this PID exists (a zombie counts): `kill(pid, 0)` does not fail with `ESRCH`.
    public static func exists(_ process: Int32) -> Bool {
        kill(process, 0) == 0 || Glibc.errno != ESRCH
    }

    /// `SIGKILL`, which ends a process without a chance to clean up.
    public static let killSignal = SIGKILL

    /// Sends `signal` to `process`; false when it could not be sent.
    @discardableResult
    public static func send(_ signal: Int32, to process: Int32) -> Bool {
        kill(process, signal) == 0
    }

    /// Reaps every child of this process that has ended, without waiting for the others (orphans adopted by a
    /// subreaper, say).
    public static func reapEndedChildren() {
        while waitpid(-1, nil, WNOHANG) > 0 {}
    }

    /// Raises `SIGTRAP` in the calling process: a debugger stops there; without one, the process ends.
    public static func raiseTrap() {
        raise(SIGTRAP)
    }

    /// The working directory, or nil when it cannot be told (removed, or longer than `PATH_MAX`).
    public static func currentDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Runs `body` when the process exits normally (`exit` or a return from `main`).
    ///
    /// The corresponding C function is `atexit`.
    public static func atExit(_ body: @escaping @convention(c) () -> Void) {
        atexit(body)
    }

    /// Whether `path` exists (`access(path, F_OK)`).
    public static func pathExists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// The whole of a small file such as `/proc/PID/cmdline`, at most 4 MiB.
    public static func readSmallFile(_ path: String) throws(SystemError) -> [UInt8] {
        let descriptor = try Descriptor.open(path, .readOnly)
        defer { descriptor.close() }
        return try descriptor.readToEnd(limit: 4 << 20)
    }

    /// The names in a directory, without `.` and `..`.
    ///
    /// The corresponding C functions are `opendir` and `readdir`.
    public static func entries(ofDirectory path: String) throws(SystemError) -> [String] {
        guard let directory = opendir(path) else { throw .current }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The processes whose name is exactly `name`: the kernel's command name (`/proc/PID/comm`, cut to 15
    /// characters) or the last path component of the first argument (`/proc/PID/cmdline`).
    ///
    /// - Parameter name: A program name such as `postgres`.
    /// - Returns: The matches with their command lines (arguments joined by blanks), in ascending PID order,
    ///   without the calling process.
    public static func processes(named name: String) -> [(process: Int32, commandLine: String)] {
        let own = getpid()
        var matches: [(Int32, String)] = []
        for entry in (try? entries(ofDirectory: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != own else { continue }
            var command = String(decoding: (try? readSmallFile("/proc/\(pid)/comm")) ?? [], as: UTF8.self)
            if command.hasSuffix("\n") { command.removeLast() }
            let cmdline = (try? readSmallFile("/proc/\(pid)/cmdline")) ?? []
            let arguments = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            let program = arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? ""
            guard command == name || program == name else { continue }
            matches.append((pid, arguments.isEmpty ? "[\(command)]" : arguments.joined(separator: " ")))
        }
        return matches.sorted { $0.0 < $1.0 }
    }

    /// The one-letter state of the process from `/proc/PID/stat` (`R`, `S`, `Z`, …), or nil when it is gone.
    public static func state(of process: Int32) -> String? {
        statFields(of: process)?.first
    }

    /// Whether the process has waited for a child of its own: the page faults of its waited-for children
    /// (`cminflt` and `cmajflt` in `/proc/PID/stat`) are not zero — any program that ran faults pages in. Readable
    /// for a zombie until it is reaped, which is what `mprof run` needs: the kernel's lifetime peak of a process
    /// includes the children it waited for. Nil when the file cannot be read.
    public static func hasWaitedForChildren(_ process: Int32) -> Bool? {
        guard let fields = statFields(of: process), fields.count > 10, let minor = UInt(fields[8]),
            let major = UInt(fields[10])
        else { return nil }
        return minor > 0 || major > 0
    }

    /// Whether the process is a kernel thread (`PF_KTHREAD` in the flags of `/proc/PID/stat`).
    public static func isKernelThread(_ process: Int32) -> Bool {
        let kernelThreadFlag: UInt = 0x0020_0000
        guard let fields = statFields(of: process), fields.count > 6, let flags = UInt(fields[6]) else { return false }
        return flags & kernelThreadFlag != 0
    }

    /// The process a thread belongs to (`Tgid` in `/proc/TID/status`): itself for a process's main thread, and
    /// for a thread ID (which `/proc` also answers to) the process that holds it. Nil when it cannot be read.
    public static func threadGroup(of thread: Int32) -> Int32? {
        guard let bytes = try? readSmallFile("/proc/\(thread)/status") else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("Tgid:") {
            let digits = line.dropFirst("Tgid:".count).filter { $0 != " " && $0 != "\t" }
            guard let value = Int32(digits), value > 0 else { return nil }
            return value
        }
        return nil
    }

    /// The fields of `/proc/PID/stat` after the command name: state, ppid, pgrp, session, tty, tpgid, flags, ….
    private static func statFields(of process: Int32) -> [String]? {
        guard let bytes = try? readSmallFile("/proc/\(process)/stat") else { return nil }
        let stat = String(decoding: bytes, as: UTF8.self)
        // The command name in parentheses may contain anything, including ") ": the fields follow the last ")".
        guard let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ").map(String.init)
    }
}
#endif
