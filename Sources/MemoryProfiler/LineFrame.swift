/// One running call of a line-profiled function: which line runs, and the memory when it started.
///
/// `@MemoryProfiled` and `#memoryProfiled` create it and call it between statements; code does not use it
/// directly. It lives on the stack of the call it measures, so recursion and calls on several threads each have
/// their own.
public struct LineFrame: Sendable {
    let function: Int
    let slot: Int
    let level: Int
    let entryMemory: Int
    let entryWallClock: Double
    var activeLine = -1
    var lineStartMemory: Int
    var lineStartHeap: Int
    var activeLineIsLoopBack = false

    init(function: Int, slot: Int, level: Int, reading: LineReading, wallClock: Double) {
        self.function = function
        self.slot = slot
        self.level = level
        entryMemory = reading.resident
        entryWallClock = wallClock
        lineStartMemory = reading.resident
        lineStartHeap = reading.heap
    }

    /// Ends the statement that ran last and starts the one on `line`.
    ///
    /// - Parameter line: The line of the statement about to run, in the function's file.
    @inline(never)
    public mutating func line(_ line: Int) {
        LineRecorder.shared.advance(&self, to: line, loopBack: false)
    }

    /// Ends an iteration of the loop whose header is on `line`: the header runs again (to fetch the next element
    /// or test the condition), and counts once more if the loop goes on or ends normally.
    ///
    /// - Parameter line: The line of the loop's header.
    @inline(never)
    public mutating func loopBack(_ line: Int) {
        LineRecorder.shared.advance(&self, to: line, loopBack: true)
    }

    /// Marks the loop just left as finished normally: its header's last run (the test that ended it) counts.
    @inline(never)
    public mutating func loopExited() {
        activeLineIsLoopBack = false
    }

    /// Ends the call: the last statement's numbers are recorded, and under `mprof run` a `FUNC` record is written.
    @inline(never)
    public mutating func exit() {
        LineRecorder.shared.exit(&self)
    }
}
