/// The memory of a process's control group (cgroup): the numbers a container runtime acts on — what `docker stats`
/// shows and what Kubernetes' limits and OOM kills compare — beside the process's own.
///
/// A cgroup counts all its processes together, and counts page cache and kernel memory charged to them besides
/// their resident sets: its usage can be well above the sum of their RSS.
public struct CgroupMemory: Sendable, Hashable {
    /// The cgroup interface the numbers come from.
    public enum Version: String, Sendable, Hashable, Codable {
        /// The unified hierarchy: `memory.current`, `memory.max`, `memory.peak`, `memory.events`, `memory.stat`.
        case v2
        /// The memory controller's own hierarchy: `memory.usage_in_bytes`, `memory.limit_in_bytes`,
        /// `memory.max_usage_in_bytes`, `memory.oom_control`, `memory.stat`.
        case v1
    }

    public var version: Version
    /// The cgroup's path in its hierarchy, as `/proc/PID/cgroup` names it.
    public var path: String
    /// The directory its files were read from.
    public var directory: String
    /// Memory charged to the cgroup now (v2 `memory.current`, v1 `memory.usage_in_bytes`).
    public var current: MemorySize
    /// Its limit (v2 `memory.max`, v1 `memory.limit_in_bytes`); nil when there is none.
    public var limit: MemorySize?
    /// The most it was charged (v2 `memory.peak`, kernel 5.19 or later; v1 `memory.max_usage_in_bytes`).
    public var peak: MemorySize?
    /// How often the limit was reached and reclaim failed (v2 `oom` of `memory.events`; v1 has no such count).
    public var outOfMemoryEvents: Int?
    /// Processes the kernel killed for the cgroup's limit (v2 `oom_kill` of `memory.events`, v1 of
    /// `memory.oom_control`).
    public var outOfMemoryKills: Int?
    /// Anonymous memory (v2 `anon`, v1 `rss` of `memory.stat`).
    public var anonymous: MemorySize?
    /// Page cache, mapped files included (v2 `file`, v1 `cache`).
    public var file: MemorySize?
    /// Kernel memory charged to it: page tables, slab, stacks (v2 `kernel`, or `kernel_stack + slab + sock`'s parts
    /// on older kernels; v1 `memory.kmem.usage_in_bytes`).
    public var kernel: MemorySize?
    /// Network buffers (v2 `sock`, v1 `memory.kmem.tcp.usage_in_bytes`).
    public var socketBuffers: MemorySize?

    /// Room left under the limit; nil without one.
    public var headroom: MemorySize? {
        limit.map { MemorySize(bytes: max($0.bytes - current.bytes, 0)) }
    }

    public init(
        version: Version, path: String, directory: String, current: MemorySize, limit: MemorySize? = nil,
        peak: MemorySize? = nil, outOfMemoryEvents: Int? = nil, outOfMemoryKills: Int? = nil, anonymous: MemorySize? = nil,
        file: MemorySize? = nil, kernel: MemorySize? = nil, socketBuffers: MemorySize? = nil
    ) {
        self.version = version
        self.path = path
        self.directory = directory
        self.current = current
        self.limit = limit
        self.peak = peak
        self.outOfMemoryEvents = outOfMemoryEvents
        self.outOfMemoryKills = outOfMemoryKills
        self.anonymous = anonymous
        self.file = file
        self.kernel = kernel
        self.socketBuffers = socketBuffers
    }

    /// v1 writes a limit of "none" as the largest page-aligned 64-bit number: anything from 2^62 up means none.
    static let noLimitV1 = 1 << 62

    /// A number of bytes in a cgroup file: decimal, at most 2^63 − 1; "max" is nil.
    static func bytes(_ text: String) -> Int?? {
        let trimmed = text.split(whereSeparator: { $0 == "\n" || $0 == " " }).first.map(String.init) ?? ""
        if trimmed == "max" { return .some(nil) }
        guard !trimmed.isEmpty, trimmed.count <= 19, trimmed.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(trimmed)
        else { return nil }
        return .some(value)
    }

    /// "key value" lines (memory.stat, memory.events, memory.oom_control) as a dictionary; malformed lines are
    /// skipped, values out of range too.
    static func keyedValues(_ text: String) -> [String: Int] {
        var values: [String: Int] = [:]
        for line in text.split(separator: "\n").prefix(10_000) {
            let fields = line.split(separator: " ")
            guard fields.count == 2, fields[1].count <= 19, let value = Int(fields[1]), value >= 0 else { continue }
            values[String(fields[0])] = value
        }
        return values
    }
}
