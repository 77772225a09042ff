internal import MemoryProfilerSystem
import Synchronization

/// Writes a sampler's readings to a `.dat` file as they come: `MEM` per sample, `CHLD` per child sample, and a
/// `PEAK` record whenever the kernel's high-water mark shows a spike between two samples.
///
/// Each record is one `write` to a file opened for appending, so nothing waits in a buffer: if the recording
/// process is killed, the file is valid up to the last sample. Other processes (the profiled program writing
/// `FUNC` records) can append to the same file at the same time.
///
/// ```swift
/// let sink = try DatFileSink(path: "mprofile.dat")
/// sink.write(.commandLine(arguments: ["./server", "--port", "8080"]))
/// let sampler = try MemorySampler.start(process: pid, options: SamplingOptions(sink: sink))
/// ```
public final class DatFileSink: MemorySampleSink {
    /// The file's path.
    public var path: String { appender.path }

    private let appender: LineAppender
    private let writesPeaks: Bool
    private let state = Mutex(State())
    private let written = Atomic<Int>(0)

    /// The bytes of the records this sink has written, line breaks included.
    public var bytesWritten: Int { written.load(ordering: .relaxed) }

    private struct State {
        var startWallClock = 0.0
        var previousMemory = Int.min
        var failure: MemoryError?
    }

    /// Opens `path` for appending, creating it: a second recording adds to the file, never truncates it.
    ///
    /// - Parameters:
    ///   - path: The `.dat` file.
    ///   - writesPeaks: Write `PEAK` records for spikes between samples. Turn it off when samples include
    ///     children, whose summed high-water marks are an upper bound rather than a peak.
    ///   - exclusive: Create a new file, failing with `EEXIST` when `path` exists already. The check and the
    ///     creation are one step (`O_EXCL`), so recordings started at the same moment never share a file.
    /// - Throws: ``MemoryError`` with ``MemoryError/Code/systemCall`` when the file cannot be opened.
    public init(path: String, writesPeaks: Bool = true, exclusive: Bool = false) throws(MemoryError) {
        do {
            appender = try LineAppender(path: path, exclusive: exclusive)
        } catch {
            let reason = error.errno == SystemError.noReader ? "a FIFO that no process is reading" : error.message
            throw MemoryError(.systemCall, "cannot write \(path): \(reason)", errno: error.errno)
        }
        self.writesPeaks = writesPeaks
        // A heap capture is never appended to (`-o x.heap`, another run's capture while its program writes it).
        // (A regular file only: a FIFO's reader would wait for this very sink's writes.)
        if !appender.created, HeapCapture.isCapture(at: path) {
            throw MemoryError(
                .unexpectedFormat, "cannot write \(path): it is a heap capture (mprof run --heap's), not a recording")
        }
    }

    /// True when opening created the file; false when it appends to a file that was there.
    public var createdFile: Bool { appender.created }

    /// True when the file has been removed since it was opened (by `rm`, say): what is written since is lost.
    public var fileWasRemoved: Bool { appender.isUnlinked }
    /// Claims the file for this recording alone, as long as the sink is open; false when another recording (an
    /// `mprof run` or `attach` in any process, under any of the file's names) has claimed it. Records the
    /// profiled program appends itself are not stopped.
    public func claimForRecording() -> Bool { appender.claimForRecording() }

    /// Whether another recording appends to the same file now (two runs with the same `-o`).
    public var fileIsSharedWithAnotherRecording: Bool { appender.isSharedWithAnotherWriter }

    /// Cuts a file this sink did not create back to its size when opened, when nothing but `bytes` of this
    /// sink's own records were appended since: for a recording that ends before it began.
    ///
    /// - Parameter bytes: The sink's own bytes to take back: ``bytesWritten`` for all of them.
    /// - Returns: Whether the file was cut back.
    public func undoAppends(_ bytes: Int) -> Bool {
        appender.undoAppends(bytes)
    }

    /// The first write that failed (a full disk, say), or nil when every record was written.
    public var failure: MemoryError? { state.withLock { $0.failure } }

    /// Appends one record.
    ///
    /// - Returns: False when the write failed (a full disk, say); the first failure is kept in ``failure`` and
    ///   reported on standard error.
    @discardableResult
    public func write(_ record: DatRecord) -> Bool {
        let line = record.line
        let error: MemoryError
        do {
            try appender.append(line)
            written.add(line.utf8.count + 1, ordering: .relaxed)
            return true
        } catch let failure {
            error = MemoryError(.systemCall, "cannot write to \(path): \(failure.message)", errno: failure.errno)
        }
        let first = state.withLock { state in
            defer { if state.failure == nil { state.failure = error } }
            return state.failure == nil
        }
        if first { StandardError.write("mprof: \(error.message)") }
        return false
    }

    public func begin(process: ProcessID, startWallClock: Double) {
        state.withLock { $0.startWallClock = startWallClock }
    }

    public func record(_ sample: MemorySample) {
        let (start, previous) = state.withLock { state in
            defer { state.previousMemory = sample.memory.bytes }
            return (state.startWallClock, state.previousMemory)
        }
        let wallClock = start + sample.elapsed.seconds
        write(.memory(sample.memory, wallClock: wallClock))
        if let file = sample.fileResident { write(.file(file, wallClock: wallClock)) }
        if writesPeaks, let peak = sample.intervalPeak, peak.bytes > max(previous, sample.memory.bytes) {
            write(.peak(peak, wallClock: wallClock))
        }
    }

    public func record(_ sample: MemorySample, child: ProcessID) {
        let start = state.withLock { $0.startWallClock }
        write(.child(child, sample.memory, wallClock: start + sample.elapsed.seconds))
    }
}
