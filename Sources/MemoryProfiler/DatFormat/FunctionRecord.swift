/// The memory and time of one call of a named region: memory_profiler's `FUNC` record.
public struct FunctionRecord: Hashable, Sendable, Codable {
    /// The region's name, like `__main__.grow` in memory_profiler's files or `Catalog.load` in ours.
    public var name: String
    /// Resident memory when the region started.
    public var startMemory: MemorySize
    /// Wall-clock start, in seconds since 1970-01-01 UTC.
    public var startWallClock: Double
    /// Resident memory when the region ended.
    public var endMemory: MemorySize
    /// Wall-clock end, in seconds since 1970-01-01 UTC.
    public var endWallClock: Double
    /// Nesting depth: 0 for a region not inside another, 1 for one directly inside, and so on; `nil` in old
    /// memory_profiler files that did not record it.
    public var level: Int?

    /// Creates a record.
    public init(
        name: String, startMemory: MemorySize, startWallClock: Double, endMemory: MemorySize, endWallClock: Double,
        level: Int?
    ) {
        self.name = name
        self.startMemory = startMemory
        self.startWallClock = startWallClock
        self.endMemory = endMemory
        self.endWallClock = endWallClock
        self.level = level
    }

    /// How long the region ran.
    public var duration: Double { endWallClock - startWallClock }
}
