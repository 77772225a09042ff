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
