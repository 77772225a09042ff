internal import MemoryProfilerSystem
import Synchronization

/// The memory at one probe: resident set, page faults so far, malloc heap in use (bytes; 0 when not measured).
struct LineReading {
    var resident: Int
    var faults: Int
    var heap: Int
    /// What this thread allocated so far, with the heap hook loaded (bytes, allocations); -1 without it.
    var allocatedBytes = -1
    var allocations = -1
}

/// What line-by-line profiling has recorded, for all profiled functions of the process.
///
/// One lock guards it all. Readings are taken outside the lock; the lock covers bookkeeping and, when pages
/// were faulted in since the previous probe, the read and reset of the kernel's high-water mark.
///
/// How the Peak column stays exact at about 1 µs a line: the resident set can only grow through page faults,
/// which `getrusage` counts. Between two probes with no fault in between, the highest resident set was the
/// larger of the two readings. When faults happened, the kernel's high-water mark (`VmHWM`) holds the highest
/// value since it was last reset, and it is reset at every such probe and whenever the resident set falls
/// below the value it was reset to, so it covers exactly the stretch since the previous probe.
final class LineRecorder: Sendable {
    static let shared = LineRecorder()

    /// Frames nested deeper than this (deep recursion) get a Peak of the larger endpoint instead.
    static let peakSlotCapacity = 64

    private let meter = LineMeter()
    private let state = Mutex(State())
    private let heapEnabled = Atomic<Bool>(true)
    /// ``LineProfilerConfiguration/memoryLimit`` in bytes; `Int.max` for none.
    private let limitBytes = Atomic<Int>(.max)
    private let trapsOnLimit = Atomic<Bool>(false)
    private let slowHeapReadings = Atomic<Int>(0)

    /// Heap readings stop after this many slow ones in a row; a single slow one is usually the thread being
    /// descheduled, not a heap too large to walk.
    static let slowHeapReadingLimit = 8

    struct LineStatistics {
        var occurrences = 0
        var largestMemory = Int.min
        var increment = 0
        var largestPeak = Int.min
        var heapIncrement = 0
        var allocatedBytes = 0
        var allocations = 0
    }

    struct FunctionKey: Hashable {
        var source: UInt
        var file: UInt
        var line: Int
    }

    struct FunctionStatistics {
        let name: String
        let file: String
        let firstLine: Int
        let source: String
        let precision: Int?
        var calls = 0
        var lines: [LineStatistics]
    }

    struct State {
        var functions: [FunctionStatistics] = []
        var functionIndexBySource: [FunctionKey: Int] = [:]
        var lastResident = 0
        var lastFaults = -1
        var markBaseline = Int.max
        var peakIsExact = true
        var peakSlots: [Int] = []
        var freePeakSlots: [Int] = []
        var activeFrames = 0
        var heapNote: String?
        var limitCrossed = false
    }

    private init() {}

    /// Takes up what the configuration says about measuring: the heap readings and the memory limit.
    func apply(_ configuration: LineProfilerConfiguration) {
        heapEnabled.store(configuration.measuresHeap && meter.canMeasureHeap, ordering: .relaxed)
        limitBytes.store(configuration.memoryLimit?.bytes ?? .max, ordering: .relaxed)
        trapsOnLimit.store(configuration.trapsOnMemoryLimit, ordering: .relaxed)
    }

    // MARK: Probes

    func enter(
        function: StaticString, file: StaticString, line: Int, source: StaticString, precision: Int?
    ) -> LineCall {
        // Identical literals may be merged by the linker: the file and line tell two such functions apart.
        let key = FunctionKey(
            source: UInt(bitPattern: source.utf8Start), file: UInt(bitPattern: file.utf8Start), line: line)
        let index = state.withLock { state in
            if let known = state.functionIndexBySource[key] { return known }
            let text = source.description
            let lineCount = Self.sourceLines(text).count
            let index = state.functions.count
            state.functions.append(
                FunctionStatistics(
                    name: function.description, file: file.description, firstLine: line, source: text,
                    precision: precision, lines: Array(repeating: LineStatistics(), count: max(1, lineCount))))
            state.functionIndexBySource[key] = index
            return index
        }
        // Measured after registration, so the first call's bookkeeping does not count as the function's memory.
        let reading = read()
        let wallClock = MemoryTimestamps.isWritingToFile ? Clocks.wallClockSeconds() : 0
        return state.withLock { state in
            let peak = observe(reading, state: &state)
            raisePeakSlots(to: peak, state: &state)
            let slot: Int
            if let free = state.freePeakSlots.popLast() {
                slot = free
                state.peakSlots[slot] = reading.resident
            } else if state.peakSlots.count < Self.peakSlotCapacity {
                slot = state.peakSlots.count
                state.peakSlots.append(reading.resident)
            } else {
                slot = -1
            }
            state.functions[index].calls += 1
            // The declaration's first line shows the memory at entry, as memory_profiler's decorator line does.
            var entry = state.functions[index].lines[0]
            if entry.occurrences == 0 { entry.increment = reading.resident }
            entry.occurrences += 1
            entry.largestMemory = max(entry.largestMemory, reading.resident)
            state.functions[index].lines[0] = entry
            let level = state.activeFrames
            state.activeFrames += 1
            return LineCall(function: index, slot: slot, level: level, reading: reading, wallClock: wallClock)
        }
    }

    func advance(_ frame: inout LineCall, to line: Int, loopBack: Bool) {
        let reading = read()
        let crossing = state.withLock { state in
            let peak = observe(reading, state: &state)
            raisePeakSlots(to: peak, state: &state)
            let crossing = endActiveLine(of: frame, at: reading, countsOccurrence: true, state: &state)
            if frame.slot >= 0 { state.peakSlots[frame.slot] = reading.resident }
            return crossing
        }
        frame.activeLine = line
        frame.activeLineIsLoopBack = loopBack
        frame.lineStartMemory = reading.resident
        frame.lineStartHeap = reading.heap
        if let crossing { crossing.report(trapping: trapsOnLimit.load(ordering: .relaxed)) }
        // The next line's allocations start after this probe's own.
        (frame.lineStartAllocatedBytes, frame.lineStartAllocations) = meter.threadAllocations()
    }

    func exit(_ frame: inout LineCall) {
        let reading = read()
        let (crossing, name) = state.withLock { state in
            let peak = observe(reading, state: &state)
            raisePeakSlots(to: peak, state: &state)
            // A loop left by `return` or `throw` ran its iteration-end probe without running its header again.
            let crossing = endActiveLine(
                of: frame, at: reading, countsOccurrence: !frame.activeLineIsLoopBack, state: &state)
            if frame.slot >= 0 { state.freePeakSlots.append(frame.slot) }
            state.activeFrames -= 1
            return (crossing, state.functions[frame.function].name)
        }
        frame.activeLine = -1
        if let crossing { crossing.report(trapping: trapsOnLimit.load(ordering: .relaxed)) }
        if MemoryTimestamps.isWritingToFile {
            MemoryTimestamps.append(
                FunctionRecord(
                    name: name, startMemory: MemorySize(bytes: frame.entryMemory),
                    startWallClock: frame.entryWallClock, endMemory: MemorySize(bytes: reading.resident),
                    endWallClock: Clocks.wallClockSeconds(), level: frame.level))
        }
    }

    // MARK: Bookkeeping

    private func read() -> LineReading {
        let measuresHeap = heapEnabled.load(ordering: .relaxed)
        let (reading, heapNanoseconds) = meter.read(heap: measuresHeap)
        guard measuresHeap else { return reading }
        if heapNanoseconds <= LineMeter.heapTimeLimitNanoseconds {
            if slowHeapReadings.load(ordering: .relaxed) != 0 { slowHeapReadings.store(0, ordering: .relaxed) }
            return reading
        }
        // mallinfo2 walks the free lists: on a large, fragmented heap it is too slow to call per line. One slow
        // reading is usually the thread being descheduled; the value is right either way.
        if slowHeapReadings.add(1, ordering: .relaxed).newValue >= Self.slowHeapReadingLimit {
            heapEnabled.store(false, ordering: .relaxed)
            state.withLock {
                $0.heapNote = "Heap stopped: \(Self.slowHeapReadingLimit) heap readings in a row took over "
                    + "\(LineMeter.heapTimeLimitNanoseconds / 1000) µs (the last \(heapNanoseconds / 1000) µs)"
            }
        }
        return reading
    }

    /// The highest resident set since the previous probe (of any frame), keeping the high-water mark in step.
    private func observe(_ reading: LineReading, state: inout State) -> Int {
        var peak = max(state.lastResident, reading.resident)
        if reading.faults != state.lastFaults, state.lastFaults >= 0 {
            if let mark = meter.resettingHighWaterMark() {
                peak = max(peak, mark)
                state.markBaseline = reading.resident
            } else {
                state.peakIsExact = false
            }
        } else if reading.resident < state.markBaseline {
            if meter.resetHighWaterMark() { state.markBaseline = reading.resident }
        }
        state.lastResident = reading.resident
        state.lastFaults = reading.faults
        return peak
    }

    private func raisePeakSlots(to peak: Int, state: inout State) {
        for index in state.peakSlots.indices where state.peakSlots[index] < peak {
            state.peakSlots[index] = peak
        }
    }

    /// Records the numbers of the frame's active line, ended now; returns a memory-limit crossing to report.
    private func endActiveLine(
        of frame: LineCall, at reading: LineReading, countsOccurrence: Bool, state: inout State
    ) -> MemoryLimitCrossing? {
        guard frame.activeLine >= 0 else { return nil }
        // Only scalars are read out of the function's statistics: holding a copy of it would make the write
        // below copy the whole lines array on every probe.
        let offset = frame.activeLine - state.functions[frame.function].firstLine
        guard state.functions[frame.function].lines.indices.contains(offset) else { return nil }
        let peak = frame.slot >= 0 ? state.peakSlots[frame.slot] : max(frame.lineStartMemory, reading.resident)
        var line = state.functions[frame.function].lines[offset]
        if countsOccurrence { line.occurrences += 1 }
        line.largestMemory = max(line.largestMemory, reading.resident)
        line.increment += reading.resident - frame.lineStartMemory
        line.largestPeak = max(line.largestPeak, peak)
        // Heap readings that were switched off (or on) during the line leave its Heap alone.
        if reading.heap >= 0 && frame.lineStartHeap >= 0 { line.heapIncrement += reading.heap - frame.lineStartHeap }
        // The hook's counters are this thread's: other threads' allocations meanwhile are not the line's.
        if reading.allocatedBytes >= 0 && frame.lineStartAllocatedBytes >= 0 {
            line.allocatedBytes += reading.allocatedBytes - frame.lineStartAllocatedBytes
            line.allocations += reading.allocations - frame.lineStartAllocations
        }
        state.functions[frame.function].lines[offset] = line

        let limit = limitBytes.load(ordering: .relaxed)
        guard !state.limitCrossed, limit != .max, peak > limit else { return nil }
        state.limitCrossed = true
        let function = state.functions[frame.function]
        return MemoryLimitCrossing(
            function: function.name, file: function.file, line: frame.activeLine, peak: MemorySize(bytes: peak),
            limit: MemorySize(bytes: limit))
    }

    // MARK: Reports

    func report() -> LineProfileReport {
        let heapMeasured = heapEnabled.load(ordering: .relaxed) || state.withLock { $0.heapNote != nil }
        let allocationsMeasured = meter.countsAllocations
        return state.withLock { state in
            var notes: [String] = []
            if !state.peakIsExact {
                notes.append("Peak is a lower bound: the high-water mark cannot be reset here (/proc/self/clear_refs)")
            }
            if let heapNote = state.heapNote { notes.append(heapNote) }
            // A function still running when the counts were zeroed has calls == 0 but lines that ran since.
            let functions = state.functions.filter { function in
                function.calls > 0 || function.lines.contains { $0.occurrences > 0 }
            }.map { function in
                let texts = Self.sourceLines(function.source)
                let lines = texts.enumerated().map { offset, text in
                    let statistics = function.lines.indices.contains(offset) ? function.lines[offset] : .init()
                    return LineProfile(
                        number: function.firstLine + offset, contents: String(text), statistics: statistics,
                        isEntry: offset == 0, heapMeasured: heapMeasured, allocationsMeasured: allocationsMeasured)
                }
                return FunctionLineProfile(
                    name: function.name, file: function.file, calls: function.calls, precision: function.precision,
                    lines: lines)
            }
            return LineProfileReport(functions: functions, notes: notes)
        }
    }

    /// The lines of a function's source; `\r\n`, `\r` and `\n` all end a line, as they do for the compiler.
    static func sourceLines(_ text: String) -> [String] {
        var lines: [String] = []
        var current: [UInt8] = []
        var previous: UInt8 = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: "\n") {
                if previous != UInt8(ascii: "\r") { lines.append(String(decoding: current, as: UTF8.self)) }
                current.removeAll(keepingCapacity: true)
            } else if byte == UInt8(ascii: "\r") {
                lines.append(String(decoding: current, as: UTF8.self))
                current.removeAll(keepingCapacity: true)
            } else {
                current.append(byte)
            }
            previous = byte
        }
        lines.append(String(decoding: current, as: UTF8.self))
        return lines
    }

    /// Zeroes every count; functions stay registered, so frames still running keep valid indices.
    func removeAll() {
        state.withLock { state in
            for index in state.functions.indices {
                state.functions[index].calls = 0
                state.functions[index].lines = state.functions[index].lines.map { _ in LineStatistics() }
            }
        }
    }
}

extension LineProfile {
    init(
        number: Int, contents: String, statistics: LineRecorder.LineStatistics, isEntry: Bool, heapMeasured: Bool,
        allocationsMeasured: Bool
    ) {
        let ran = statistics.occurrences > 0
        let counted = ran && !isEntry && allocationsMeasured
        self.init(
            number: number, contents: contents, occurrences: statistics.occurrences,
            memoryUsage: ran ? MemorySize(bytes: statistics.largestMemory) : nil,
            increment: ran ? MemorySize(bytes: statistics.increment) : nil,
            peak: ran && !isEntry ? MemorySize(bytes: statistics.largestPeak) : nil,
            heapIncrement: ran && !isEntry && heapMeasured ? MemorySize(bytes: statistics.heapIncrement) : nil,
            allocated: counted ? MemorySize(bytes: statistics.allocatedBytes) : nil,
            allocations: counted ? statistics.allocations : nil)
    }
}
