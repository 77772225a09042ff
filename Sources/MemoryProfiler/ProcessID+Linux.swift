#if os(Linux)
import Glibc

extension ProcessID {
    /// All processes descended from this one: its children, their children, and so on, in ascending order.
    ///
    /// The kernel lists a process's children per thread (`/proc/PID/task/TID/children` names the children that
    /// thread forked), so this takes the union over every thread of every process in the tree. Processes that
    /// exit during the walk are left out; a process re-parented to `init` after its parent exited is no longer a
    /// descendant.
    ///
    /// - Returns: The descendants, without this process.
    /// - Throws: ``MemoryError`` with ``MemoryError/Code/noSuchProcess`` when this process does not exist, and
    ///   ``MemoryError/Code/unavailable`` on a kernel built without `CONFIG_PROC_CHILDREN`.
    /// - Complexity: One directory listing and one small read per thread in the tree.
    public func descendants() throws(MemoryError) -> [ProcessID] {
        var found: Set<ProcessID> = []
        var pending = try children(failIfMissing: true)
        while let next = pending.popLast() {
            guard found.insert(next).inserted else { continue }
            do {
                pending.append(contentsOf: try next.children(failIfMissing: false))
            } catch {
                // A descendant that exited while being listed is no loss; anything else is an error.
                guard error.code == .processExited || error.code == .noSuchProcess else { throw error }
            }
        }
        return found.sorted()
    }

    /// The direct children of this process, the union over its threads.
    func children(failIfMissing: Bool) throws(MemoryError) -> [ProcessID] {
        let taskDirectory = "/proc/\(rawValue)/task"
        guard let directory = opendir(taskDirectory) else {
            let code = errno
            if failIfMissing || code == EMFILE || code == ENFILE {
                throw ProcFile.openError(code, path: taskDirectory, process: self, writing: false)
            }
            return []
        }
        defer { closedir(directory) }
        var children: [ProcessID] = []
        var sawChildrenFile = false
        while let entry = readdir(directory) {
            let threadName = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let first = threadName.utf8.first, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else {
                continue
            }
            guard let text = Self.readSmallFile("\(taskDirectory)/\(threadName)/children") else {
                // A thread that ended meanwhile is no loss; running out of descriptors is.
                let code = errno
                if code == EMFILE || code == ENFILE {
                    throw MemoryError(
                        .systemCall, "cannot read \(taskDirectory)/\(threadName)/children: \(ErrnoText.describe(code))",
                        process: self, errno: code)
                }
                continue
            }
            sawChildrenFile = true
            for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
                if let pid = Int32(word) { children.append(ProcessID(pid)) }
            }
        }
        if failIfMissing && !sawChildrenFile && access("/proc/self/task/\(getpid())/children", F_OK) != 0 {
            throw MemoryError(
                .unavailable, "this kernel does not list children in /proc (CONFIG_PROC_CHILDREN is off)",
                process: self)
        }
        return children
    }

    /// The processes whose name is exactly `name`: the kernel's command name (`/proc/PID/comm`, cut to 15
    /// characters) or the last path component of the first argument (`/proc/PID/cmdline`).
    ///
    /// - Parameter name: A program name such as `postgres`.
    /// - Returns: The matches with their command lines (arguments joined by blanks), in ascending PID order,
    ///   without the calling process.
    package static func processes(named name: String) -> [(process: ProcessID, commandLine: String)] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var matches: [(ProcessID, String)] = []
        while let entry = readdir(directory) {
            let entryName = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let pid = Int32(entryName), pid != getpid() else { continue }
            let command = readSmallFile("/proc/\(pid)/comm").map { $0.trimmingSuffix("\n") } ?? ""
            let arguments = (readSmallFile("/proc/\(pid)/cmdline") ?? "").split(separator: "\0").map(String.init)
            let program = arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? ""
            guard command == name || program == name else { continue }
            matches.append((ProcessID(pid), arguments.isEmpty ? "[\(command)]" : arguments.joined(separator: " ")))
        }
        return matches.sorted { $0.0 < $1.0 }
    }

    /// Throws ``MemoryError/Code/noSuchProcess`` unless a process with this identifier exists.
    ///
    /// The corresponding C function is `kill` with signal 0; `EPERM` means the process exists.
    package static func requireExistence(of process: ProcessID) throws(MemoryError) {
        if kill(process.rawValue, 0) != 0 && errno == ESRCH {
            throw MemoryError(.noSuchProcess, "no process with PID \(process)", process: process, errno: ESRCH)
        }
    }

    /// The error for a process whose files show no address space: it is exiting, has exited (a zombie, or
    /// reaped), or it is a kernel thread.
    ///
    /// A process releases its memory before it becomes a zombie, so "no memory and not a zombie yet" is common;
    /// only the kernel's `PF_KTHREAD` flag tells a kernel thread apart.
    func noAddressSpaceError() -> MemoryError {
        if Self.isKernelThread(self) {
            return MemoryError(
                .unsupportedTarget, "process \(self) is a kernel thread: it has no user memory to measure",
                process: self)
        }
        return MemoryError(.processExited, "process \(self) has exited", process: self)
    }

    /// The one-letter state of the process from `/proc/PID/stat` (`R`, `S`, `Z`, …), or nil when it is gone.
    package static func state(of process: ProcessID) -> String? {
        statFields(of: process)?.first
    }

    /// Whether the process has waited for a child of its own: the page faults of its waited-for children
    /// (`cminflt` and `cmajflt` in `/proc/PID/stat`) are not zero — any program that ran faults pages in. Readable
    /// for a zombie until it is reaped, which is what `mprof run` needs: the kernel's lifetime peak of a process
    /// includes the children it waited for. Nil when the file cannot be read.
    package static func hasWaitedForChildren(_ process: ProcessID) -> Bool? {
        guard let fields = statFields(of: process), fields.count > 10, let minor = UInt(fields[8]),
            let major = UInt(fields[10])
        else { return nil }
        return minor > 0 || major > 0
    }

    /// The process a thread belongs to (`Tgid` in `/proc/TID/status`): itself for a process's main thread, and
    /// for a thread ID (which `/proc` also answers to) the process that holds it. Nil when it cannot be read.
    package static func threadGroup(of thread: ProcessID) -> ProcessID? {
        guard let status = readSmallFile("/proc/\(thread.rawValue)/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("Tgid:") {
            let digits = line.dropFirst("Tgid:".count).filter { $0 != " " && $0 != "\t" }
            guard let value = Int32(digits), value > 0 else {
                return nil
            }
            return ProcessID(value)
        }
        return nil
    }

    /// Whether the process is a kernel thread (`PF_KTHREAD` in the flags of `/proc/PID/stat`).
    static func isKernelThread(_ process: ProcessID) -> Bool {
        let kernelThreadFlag: UInt = 0x0020_0000
        guard let fields = statFields(of: process), fields.count > 6, let flags = UInt(fields[6]) else { return false }
        return flags & kernelThreadFlag != 0
    }

    /// The fields of `/proc/PID/stat` after the command name: state, ppid, pgrp, session, tty, tpgid, flags, ….
    private static func statFields(of process: ProcessID) -> [String]? {
        guard let stat = readSmallFile("/proc/\(process.rawValue)/stat") else { return nil }
        // The command name in parentheses may contain anything, including ") ": the fields follow the last ")".
        guard let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ").map(String.init)
    }

    /// The whole text of a small `/proc` file, or nil when it cannot be read.
    static func readSmallFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { return nil }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
#endif

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
