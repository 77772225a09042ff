#if os(Linux)
internal import MemoryProfilerSystem

extension CgroupMemory {
    /// The memory of the cgroup `process` belongs to: through cgroup v2 when the unified hierarchy has the memory
    /// controller, through v1's memory hierarchy otherwise.
    ///
    /// - Throws: ``MemoryError``: ``MemoryError/Code/noSuchProcess``; ``MemoryError/Code/unavailable`` when no
    ///   cgroup memory controller is mounted here (the message says what was looked for).
    public static func of(_ process: ProcessID = .current) throws(MemoryError) -> CgroupMemory {
        try process.requireExistence()
        let membership: String
        do {
            membership = String(decoding: try ProcessTable.readSmallFile("/proc/\(process.rawValue)/cgroup"), as: UTF8.self)
        } catch {
            throw MemoryError(opening: "/proc/\(process.rawValue)/cgroup", of: process, writing: false, error)
        }
        let mounts = (try? ProcessTable.readSmallFile("/proc/self/mountinfo")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let mountPoints = Self.mountPoints(mounts)
        // "hierarchy-ID:controllers:path": v2's line is "0::/path".
        var v1Path: String?
        var v2Path: String?
        for line in membership.split(separator: "\n").prefix(1000) {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if fields[0] == "0" && fields[1].isEmpty { v2Path = String(fields[2]) }
            if fields[1].split(separator: ",").contains("memory") { v1Path = String(fields[2]) }
        }
        if let v2Path, let mount = mountPoints.v2, let directory = Self.directory(of: v2Path, in: mount),
            ProcessTable.pathExists(directory + "/memory.current")
        {
            return try read(.v2, path: v2Path, directory: directory)
        }
        if let v1Path, let mount = mountPoints.v1, let directory = Self.directory(of: v1Path, in: mount),
            ProcessTable.pathExists(directory + "/memory.usage_in_bytes")
        {
            return try read(.v1, path: v1Path, directory: directory)
        }
        throw MemoryError(
            .unavailable,
            "no cgroup memory controller is mounted for process \(process) (looked for cgroup2 with memory.current, "
                + "and cgroup v1's memory hierarchy, in /proc/self/mountinfo)",
            process: process)
    }

    /// The directory of the cgroup at `path` under a mount `(root, mount point)`: the mount may show the
    /// hierarchy from a cgroup below its top (a container's), which `path` then starts with.
    static func directory(of path: String, in mount: (root: String, point: String)) -> String? {
        guard path.hasPrefix("/"), !path.split(separator: "/").contains("..") else { return nil }
        var relative = path
        if mount.root != "/" && (path == mount.root || path.hasPrefix(mount.root + "/")) {
            relative = String(path.dropFirst(mount.root.count))
        }
        return mount.point + (relative == "/" ? "" : relative)
    }

    /// The cgroup2 mount, and the cgroup v1 mount with the memory controller, from mountinfo's text: each as the
    /// root of the hierarchy it shows and where it is mounted.
    static func mountPoints(_ mountinfo: String) -> (v2: (root: String, point: String)?, v1: (root: String, point: String)?) {
        var v2: (root: String, point: String)?
        var v1: (root: String, point: String)?
        for line in mountinfo.split(separator: "\n").prefix(100_000) {
            // "ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL…] - TYPE SOURCE SUPER-OPTIONS"
            let halves = line.split(separator: " - ", maxSplits: 1).map { $0.split(separator: " ") }
            guard halves.count == 2, halves[0].count >= 5, halves[1].count >= 3 else { continue }
            let mount = (root: Self.unescaped(halves[0][3]), point: Self.unescaped(halves[0][4]))
            if halves[1][0] == "cgroup2" && v2 == nil { v2 = mount }
            if halves[1][0] == "cgroup" && v1 == nil && halves[1][2].split(separator: ",").contains("memory") { v1 = mount }
        }
        return (v2, v1)
    }

    /// mountinfo writes space, tab, newline and backslash in paths as `\040`-style octal escapes.
    static func unescaped(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        let source = Array(field.utf8)
        var index = 0
        while index < source.count {
            if source[index] == UInt8(ascii: "\\"), index + 3 < source.count,
                let value = UInt8(String(decoding: source[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(source[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reads the cgroup's files in `directory`.
    static func read(_ version: Version, path: String, directory: String) throws(MemoryError) -> CgroupMemory {
        func text(_ name: String) -> String? {
            (try? ProcessTable.readSmallFile("\(directory)/\(name)")).map { String(decoding: $0, as: UTF8.self) }
        }
        func size(_ name: String) -> Int?? { text(name).flatMap { Self.bytes($0) } }
        func text(atAbsolute path: String) -> String? {
            (try? ProcessTable.readSmallFile(path)).map { String(decoding: $0, as: UTF8.self) }
        }
        switch version {
        case .v2:
            guard let current = size("memory.current"), let current else {
                throw MemoryError(.unexpectedFormat, "\(TerminalText.escaped(directory))/memory.current is not a number of bytes")
            }
            var memory = CgroupMemory(version: .v2, path: path, directory: directory, current: MemorySize(bytes: current))
            if case .some(let limit) = size("memory.max") { memory.limit = limit.map { MemorySize(bytes: $0) } }
            // The limit in force is the smallest on the way up: a slice's or a pod's limit binds its children too.
            var parent = directory
            for _ in 0..<64 {
                guard let slash = parent.lastIndex(of: "/"), slash > parent.startIndex else { break }
                parent = String(parent[..<slash])
                guard let text = text(atAbsolute: parent + "/memory.max") else { break }
                if case .some(let limit?) = Self.bytes(text), limit < (memory.limit?.bytes ?? Int.max) {
                    memory.limit = MemorySize(bytes: limit)
                }
            }
            if case .some(let peak?) = size("memory.peak") { memory.peak = MemorySize(bytes: peak) }
            if let events = text("memory.events").map(Self.keyedValues) {
                memory.outOfMemoryEvents = events["oom"]
                memory.outOfMemoryKills = events["oom_kill"]
            }
            if let stat = text("memory.stat").map(Self.keyedValues) {
                memory.anonymous = stat["anon"].map { MemorySize(bytes: $0) }
                memory.file = stat["file"].map { MemorySize(bytes: $0) }
                memory.kernel = (stat["kernel"] ?? stat["kernel_stack"].map { $0 + (stat["slab"] ?? 0) + (stat["pagetables"] ?? 0) })
                    .map { MemorySize(bytes: $0) }
                memory.socketBuffers = stat["sock"].map { MemorySize(bytes: $0) }
            }
            return memory
        case .v1:
            guard let current = size("memory.usage_in_bytes"), let current else {
                throw MemoryError(.unexpectedFormat, "\(TerminalText.escaped(directory))/memory.usage_in_bytes is not a number of bytes")
            }
            var memory = CgroupMemory(version: .v1, path: path, directory: directory, current: MemorySize(bytes: current))
            if case .some(let limit?) = size("memory.limit_in_bytes"), limit < Self.noLimitV1 {
                memory.limit = MemorySize(bytes: limit)
            }
            if case .some(let peak?) = size("memory.max_usage_in_bytes") { memory.peak = MemorySize(bytes: peak) }
            if let control = text("memory.oom_control").map(Self.keyedValues) { memory.outOfMemoryKills = control["oom_kill"] }
            if let stat = text("memory.stat").map(Self.keyedValues) {
                // The limit in force: the smallest of this cgroup's and its ancestors'.
                if let hierarchical = stat["hierarchical_memory_limit"], hierarchical < Self.noLimitV1,
                    hierarchical < (memory.limit?.bytes ?? Int.max)
                {
                    memory.limit = MemorySize(bytes: hierarchical)
                }
                // The totals count the cgroups below too, as memory.usage_in_bytes does.
                memory.anonymous = (stat["total_rss"] ?? stat["rss"]).map { MemorySize(bytes: $0) }
                memory.file = (stat["total_cache"] ?? stat["cache"]).map { MemorySize(bytes: $0) }
            }
            if case .some(let kernel?) = size("memory.kmem.usage_in_bytes") { memory.kernel = MemorySize(bytes: kernel) }
            if case .some(let socket?) = size("memory.kmem.tcp.usage_in_bytes") { memory.socketBuffers = MemorySize(bytes: socket) }
            return memory
        }
    }
}
#endif
