/// One running call of a line-profiled function: which line runs, and the memory when it started.
///
/// `@MemoryProfiled` and `#memoryProfiled` create it and call it between statements; code does not use it
/// directly. It lives on the stack of the call it measures, so recursion and calls on several threads each have
/// their own.
public struct LineFrame: Sendable {
    /// What the recorder keeps of the call; the frame only hands it to the recorder at each probe.
    var call: LineCall

    init(_ call: LineCall) {
        self.call = call
    }

    /// Ends the statement that ran last and starts the one on `line`.
    ///
    /// - Parameter line: The line of the statement about to run, in the function's file.
    @inline(never)
    public mutating func line(_ line: Int) {
        LineRecorder.shared.advance(&call, to: line, loopBack: false)
    }

    /// Ends an iteration of the loop whose header is on `line`: the header runs again (to fetch the next element
    /// or test the condition), and counts once more if the loop goes on or ends normally.
    ///
    /// - Parameter line: The line of the loop's header.
    @inline(never)
    public mutating func loopBack(_ line: Int) {
        LineRecorder.shared.advance(&call, to: line, loopBack: true)
    }

    /// Marks the loop just left as finished normally: its header's last run (the test that ended it) counts.
    @inline(never)
    public mutating func loopExited() {
        call.activeLineIsLoopBack = false
    }

    /// Ends the call: the last statement's numbers are recorded, and under `mprof run` a `FUNC` record is written.
    @inline(never)
    public mutating func exit() {
        LineRecorder.shared.exit(&call)
    }
}
