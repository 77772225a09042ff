internal import MemoryProfilerSystem

#if os(Linux)

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
        let threads: [String]
        do {
            threads = try ProcessTable.entries(ofDirectory: taskDirectory)
        } catch {
            if failIfMissing || error.isOutOfDescriptors {
                throw MemoryError(opening: taskDirectory, of: self, writing: false, error)
            }
            return []
        }
        var children: [ProcessID] = []
        var sawChildrenFile = false
        for thread in threads {
            guard let first = thread.utf8.first, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else {
                continue
            }
            let text: [UInt8]
            do {
                text = try ProcessTable.readSmallFile("\(taskDirectory)/\(thread)/children")
            } catch {
                // A thread that ended meanwhile is no loss; running out of descriptors is.
                if error.isOutOfDescriptors {
                    throw MemoryError(error.adding("cannot read \(taskDirectory)/\(thread)/children"), process: self)
                }
                continue
            }
            sawChildrenFile = true
            for word in text.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") }) {
                if let pid = Int32(String(decoding: word, as: UTF8.self)) { children.append(ProcessID(pid)) }
            }
        }
        let own = ProcessTable.currentProcess
        if failIfMissing && !sawChildrenFile && !ProcessTable.pathExists("/proc/self/task/\(own)/children") {
            throw MemoryError(
                .unavailable, "this kernel does not list children in /proc (CONFIG_PROC_CHILDREN is off)",
                process: self)
        }
        return children
    }

    /// Reads `/proc/PID/task/TID/name` of a thread of this process other than its first into `buffer`: the process's
    /// memory seen through a live thread. A program whose main thread ended with `pthread_exit` while others work
    /// leaves its group leader a zombie, and the leader's `/proc/PID/statm`, `status` and `smaps` read as an empty
    /// address space although the process still runs; every thread shares the same memory, so any live one answers.
    ///
    /// - Returns: The bytes read from the first thread whose file reads as more than an empty address space
    ///   (`accept` says which), or nil when no other thread has one: the process has truly exited.
    /// - Complexity: One directory listing; one open and read per thread tried (at most 64).
    func readThroughLiveThread(
        _ name: String, into buffer: UnsafeMutableRawBufferPointer, accept: (UnsafeRawBufferPointer) -> Bool
    ) -> Int? {
        guard let threads = try? ProcessTable.entries(ofDirectory: "/proc/\(rawValue)/task") else { return nil }
        for thread in threads.prefix(64) where thread != String(rawValue) && Int32(thread) != nil {
            guard let file = try? Descriptor.open("/proc/\(rawValue)/task/\(thread)/\(name)", .readOnly) else { continue }
            defer { file.close() }
            guard let count = try? file.read(into: buffer, atOffset: 0), count > 0 else { continue }
            if accept(UnsafeRawBufferPointer(rebasing: buffer[..<count])) { return count }
        }
        return nil
    }

    /// Whether the process has ended and waits to be reaped: a zombie group leader with no thread left. (A leader
    /// whose own thread ended while others run is a zombie too, but its process lives on.)
    public var hasEnded: Bool {
        ProcessTable.state(of: rawValue) == "Z" && liveMemoryDirectory() == "/proc/\(rawValue)"
    }

    /// The directory whose `smaps`, `statm` and `status` describe this process's memory: `/proc/PID`, or, when the
    /// group leader's thread has ended but others run (see ``readThroughLiveThread(_:into:accept:)``),
    /// `/proc/PID/task/TID` of the first live one.
    func liveMemoryDirectory() -> String {
        let own = "/proc/\(rawValue)"
        guard ProcessTable.state(of: rawValue) == "Z",
            let threads = try? ProcessTable.entries(ofDirectory: "\(own)/task")
        else { return own }
        for thread in threads.prefix(64) where thread != String(rawValue) {
            guard let id = Int32(thread), ProcessTable.state(of: id) != "Z",
                let statm = try? ProcessTable.readSmallFile("\(own)/task/\(thread)/statm"),
                let size = statm.split(separator: UInt8(ascii: " ")).first.flatMap({ Int(String(decoding: $0, as: UTF8.self)) }),
                size > 0
            else { continue }
            return "\(own)/task/\(thread)"
        }
        return own
    }

    /// Throws ``MemoryError/Code/noSuchProcess`` unless a process with this identifier exists.
    func requireExistence() throws(MemoryError) {
        guard ProcessTable.exists(rawValue) else {
            throw MemoryError(.noSuchProcess, "no process with PID \(self)", process: self)
        }
    }

    /// The error for a process whose files show no address space: it is exiting, has exited (a zombie, or
    /// reaped), or it is a kernel thread.
    ///
    /// A process releases its memory before it becomes a zombie, so "no memory and not a zombie yet" is common;
    /// only the kernel's `PF_KTHREAD` flag tells a kernel thread apart.
    func noAddressSpaceError() -> MemoryError {
        if ProcessTable.isKernelThread(rawValue) {
            return MemoryError(
                .unsupportedTarget, "process \(self) is a kernel thread: it has no user memory to measure",
                process: self)
        }
        return MemoryError(.processExited, "process \(self) has exited", process: self)
    }
}
#endif
