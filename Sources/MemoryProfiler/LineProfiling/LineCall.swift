/// One running call of a line-profiled function as the recorder tracks it: which line runs, and the memory
/// when the call and the line started. ``LineFrame`` carries it on the call's stack.
struct LineCall: Sendable {
    let function: Int
    let slot: Int
    let level: Int
    let entryMemory: Int
    let entryWallClock: Double
    var activeLine = -1
    var lineStartMemory: Int
    var lineStartHeap: Int
    var lineStartAllocatedBytes: Int
    var lineStartAllocations: Int
    var activeLineIsLoopBack = false

    init(function: Int, slot: Int, level: Int, reading: LineReading, wallClock: Double) {
        self.function = function
        self.slot = slot
        self.level = level
        entryMemory = reading.resident
        entryWallClock = wallClock
        lineStartMemory = reading.resident
        lineStartHeap = reading.heap
        lineStartAllocatedBytes = reading.allocatedBytes
        lineStartAllocations = reading.allocations
    }
}
