#if os(Linux)
internal import MemoryProfilerSystem

extension MemoryBreakdown {
    /// The breakdown of `process` now: `/proc/PID/smaps`, and each thread's stack pointer from
    /// `/proc/PID/task/TID/syscall` (which needs the right to trace the process: its owner or root).
    ///
    /// - Throws: ``MemoryError``: ``MemoryError/Code/noSuchProcess``, ``MemoryError/Code/permissionDenied`` (another
    ///   user's process), ``MemoryError/Code/unsupportedTarget`` (a kernel thread: no user memory),
    ///   ``MemoryError/Code/processExited`` when it ends while being read.
    public static func of(_ process: ProcessID = .current) throws(MemoryError) -> MemoryBreakdown {
        try process.requireExistence()
        // A thread's ID reads as its whole process: refuse it, as attach does, naming the process.
        if let status = try? ProcessTable.readSmallFile("/proc/\(process.rawValue)/status"),
            let line = String(decoding: status, as: UTF8.self).split(separator: "\n").first(where: { $0.hasPrefix("Tgid:") }),
            let group = Int32(String(line.dropFirst(5).filter { $0 != " " && $0 != "\t" })), group != process.rawValue
        {
            throw MemoryError(
                .unsupportedTarget, "\(process) is a thread of process \(group): explain the process", process: process)
        }
        // The memory as a live thread sees it: the group leader's own files once its thread has ended (pthread_exit
        // in main) read as an empty address space while the others still work.
        let base = process.liveMemoryDirectory()
        let smaps = try readProcText("\(base)/smaps", of: process, limit: 256 << 20)
        if smaps.isEmpty { throw process.noAddressSpaceError() }
        let (threads, stackPointers) = Self.threadStackPointers(of: process)
        // The kernel gives what is left of a process that exits while its smaps is read: a part, not the whole.
        // At exit the kernel detaches the address space first (statm reads zeros from then on), then unmaps it:
        // a read that raced with that is caught here.
        let statm = (try? ProcessTable.readSmallFile("\(base)/statm")) ?? []
        let size = statm.split(separator: UInt8(ascii: " ")).first.flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
        if !ProcessTable.exists(process.rawValue) || threads == 0 || size == 0 {
            throw MemoryError(.processExited, "process \(process) has exited", process: process)
        }
        return try MemoryBreakdown(
            smaps: smaps, stackPointers: stackPointers, threads: threads,
            memoryFileDevices: memoryFileDevices(of: process))
    }

    /// The devices of the file systems, as the process sees its mounts (`/proc/PID/mountinfo`), whose files live in
    /// memory: tmpfs, ramfs, hugetlbfs, devtmpfs.
    static func memoryFileDevices(of process: ProcessID) -> Set<String> {
        guard let text = try? readProcText("/proc/\(process.rawValue)/mountinfo", of: process, limit: 4 << 20) else { return [] }
        var devices: Set<String> = []
        // "36 35 0:31 / /dev/shm rw,nosuid,nodev shared:3 - tmpfs tmpfs rw": the device is the third field, the type
        // the first after " - ".
        for line in text.split(separator: UInt8(ascii: "\n")).prefix(100_000) {
            let fields = line.split(separator: UInt8(ascii: " "))
            guard fields.count > 3, let dash = fields.firstIndex(where: { $0.elementsEqual("-".utf8) }), dash + 1 < fields.endIndex
            else { continue }
            let type = String(decoding: fields[dash + 1], as: UTF8.self)
            guard ["tmpfs", "ramfs", "hugetlbfs", "devtmpfs"].contains(type) else { continue }
            // mountinfo writes the device without leading zeros ("0:31"), smaps with two digits at least ("00:1f").
            let parts = fields[2].split(separator: UInt8(ascii: ":"))
            guard parts.count == 2, let major = Int(String(decoding: parts[0], as: UTF8.self)),
                let minor = Int(String(decoding: parts[1], as: UTF8.self))
            else { continue }
            devices.insert(Self.smapsDevice(major: major, minor: minor))
        }
        return devices
    }

    /// A device as smaps writes it: hexadecimal, two digits at least, "major:minor".
    static func smapsDevice(major: Int, minor: Int) -> String {
        func hex(_ value: Int) -> String {
            let digits = String(value, radix: 16)
            return digits.count < 2 ? "0" + digits : digits
        }
        return "\(hex(major)):\(hex(minor))"
    }

    /// The number of threads, and the stack pointers readable from their `syscall` files ("NR ARGS… SP PC" for a
    /// thread in a system call, "-1 SP PC" for one stopped outside; "running" has none).
    static func threadStackPointers(of process: ProcessID) -> (threads: Int, stackPointers: [UInt64]) {
        let tasks = ((try? ProcessTable.entries(ofDirectory: "/proc/\(process.rawValue)/task")) ?? []).compactMap { Int32($0) }
        var pointers: [UInt64] = []
        for task in tasks.prefix(100_000) {
            guard let text = try? readProcText("/proc/\(process.rawValue)/task/\(task)/syscall", of: process, limit: 4096)
            else { continue }
            let fields = text.split(separator: UInt8(ascii: " "))
            guard fields.count >= 3, let pointer = UInt64(String(decoding: fields[fields.count - 2], as: UTF8.self).dropFirst(2), radix: 16)
            else { continue }
            pointers.append(pointer)
        }
        return (tasks.count, pointers)
    }

    /// The whole text of a file under `/proc` (at most `limit` bytes).
    static func readProcText(_ path: String, of process: ProcessID, limit: Int) throws(MemoryError) -> [UInt8] {
        let descriptor: Descriptor
        do {
            descriptor = try Descriptor.open(path, .readOnly)
        } catch {
            throw MemoryError(opening: path, of: process, writing: false, error)
        }
        defer { descriptor.close() }
        do {
            return try descriptor.readToEnd(limit: limit)
        } catch {
            throw MemoryError(accessing: path, of: process, error)
        }
    }
}
#endif
