#if os(Linux)
internal import MemoryProfilerSystem
import Glibc
import Synchronization

/// Follows a heap capture while the program writes it, writing its stored form as the records come and compressing
/// it a piece at a time, so that when the program ends little is left to do: `mprof run --heap` is waited on for the
/// last piece and the last names only, not for a replay of everything the program did (about 30 ns a record, a
/// second for a busy server's few seconds) nor for its compression (about 18 ns a byte of the stored form: 0.2 s
/// for the example server's 12 MB from four seconds under load).
///
/// A thread of its own reads the capture as the hook leaves it: records up to the first zero tag (the hook stores a
/// record's tag after its fields), then waits and reads again from there. Once told the program has ended it reads
/// a last time and finishes. It gives up — and the capture is finished after the run, as without it — on anything
/// it cannot follow: a program that execs (its capture may start again: an exec record, or a begin record no longer
/// the one read first), a read error, damage, or more than the memory a capture may take to read. While the program
/// runs, its thread runs at the lowest priority where that can be undone (the program comes first); once the
/// program has ended, at its normal priority.
public final class HeapCaptureFollower: @unchecked Sendable {
    private let capture: GrowingCapture
    private var thread: DedicatedThread?
    // Set by the thread before it ends; read after `join`.
    private var result: Result<(HeapCapture, CaptureCompression.Compressor), HeapCaptureReader.Failure>?
    // The follower's thread while its priority is lowered, and whether the program has ended (it is then raised).
    private let lowered = Mutex<(thread: DedicatedThread.LoweredPriority?, ended: Bool)>((nil, false))

    /// Follows the capture at `path`, from when the hook creates it; nil when no thread can be started. Call
    /// `cancel` if the capture is not to be finished (`HeapSymbolizer.storeNames(inCaptureAt:ending:following:)`
    /// finishes it): until then the follower waits for it.
    ///
    /// With `prenamer`, tells it of each module, stack address and type as they are read.
    public init?(path: String, prenamer: HeapPreNamer? = nil) {
        let capture = GrowingCapture(path: path)
        let noticing = prenamer?.queue
        self.capture = capture
        do {
            thread = try DedicatedThread.start { [self] in
                // The program comes first: the follower runs on what it leaves, and catches up after it if need be,
                // at its normal priority again (see `finish`).
                if let thread = DedicatedThread.lowerPriority() {
                    let restoreNow = lowered.withLock { state in
                        if state.ended { return true }
                        state.thread = thread
                        return false
                    }
                    if restoreNow, !thread.restore() { capture.giveUp() }
                }
                // The stored form is compressed as it is made, so that what is left once the program ends is the
                // last piece (a server's few seconds make about 12 MB, 0.2 s of compressing if left for the end).
                guard var compressor = CaptureCompression.Compressor() else {
                    result = .failure(HeapCaptureReader.Failure(reason: "zlib has no memory", offset: nil))
                    return
                }
                // No memory to keep the stored form: the follower gives up, and the capture is finished after the run.
                var reader = HeapCaptureReader(
                    transcribing: capture, noticing: noticing,
                    handingOff: { if !compressor.compress($0) { capture.giveUp() } })
                result = Result { () throws(HeapCaptureReader.Failure) in
                    let replayed = try reader.replay()
                    if reader.transcript?.withUnsafeBufferPointer({ compressor.compress($0) }) == false { capture.giveUp() }
                    return (replayed, compressor)
                }
            }
        } catch {
            return nil
        }
    }

    /// What the hook recorded about the capture (``HeapCapture/conditions(at:)``, as read by the follower): call
    /// it once the program has ended, as it finishes the following. Nil when the follower gave up (read them from
    /// the file then).
    public func conditions() -> HeapCapture.Summary? { finish()?.capture.summary }

    /// Stops following: the capture is not to be finished.
    public func cancel() { _ = finish() }

    /// Says the program has ended, waits for the last records to be read, and returns the capture as read (what
    /// naming needs: modules, stack nodes, types, conditions; not its sizes) with its stored form, compressed but for
    /// the end (the names); nil when the follower gave up.
    func finish() -> (capture: HeapCapture, stored: CaptureCompression.Compressor)? {
        capture.end()
        // What is left is waited for: at nice 19, a machine kept busy by other processes (a CI runner) had left
        // the follower minutes behind after the program ended.
        let loweredThread = lowered.withLock { state in
            state.ended = true
            defer { state.thread = nil }
            return state.thread
        }
        if let loweredThread, !loweredThread.restore() {
            // Left at nice 19 on a busy machine it could take minutes: it stops where it is, unwaited for, and the
            // capture is finished from its file, as when the follower gives up.
            capture.giveUp()
            thread?.detach()
            thread = nil
            return nil
        }
        thread?.join()
        thread = nil
        // Given up first: a thread told to give up and not waited for may still be setting `result`.
        guard !capture.gaveUp, case .success(let followed) = result else { return nil }
        return followed
    }
}

/// The bytes of a capture being written, read again where they may have grown; what `HeapCaptureReader` waits on.
final class GrowingCapture: @unchecked Sendable {
    private let path: String
    private var descriptor: Descriptor?
    private var storage: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// A piece read again, to be compared (see `agreeing`).
    private let scratch: UnsafeMutablePointer<UInt8>
    /// For the tests: runs between a refresh's first and second read, as the hook's writing would.
    var betweenReads: (() -> Void)?
    /// Ranges of the file the hook updates in place (an aggregate capture's counters), which the second read does
    /// not compare: the reader's thread's own.
    private var changeable: [Range<Int>] = []

    /// Says that `range` of the file is updated in place, so that reads of it are not compared (see `agreeing`).
    func mayChange(_ range: Range<Int>) {
        if !changeable.contains(range) { changeable.append(range) }
    }
    private var count = 0
    private let budget = HeapCapture.readingBudget()
    private let ended = Atomic(false)
    private let abandoned = Atomic(false)
    /// The file could not be read, or outgrew the budget, or the follower was told to give up: what was read is
    /// not the whole capture.
    private var failed = false
    var gaveUp: Bool { failed || abandoned.load(ordering: .acquiring) }

    /// Pieces read at a time; a piece of zeros ends the records (the hook's room ahead of its last record).
    private static let piece = 64 << 10
    /// The magic and the first bytes of the begin record (its version, process ID and start time in nanoseconds).
    private static let header = 24

    init(path: String) {
        self.path = path
        scratch = .allocate(capacity: Self.piece)
        // From malloc, so that it can grow without ending the process where memory runs out (see `grow`).
        if let first = malloc(1 << 20) {
            storage = first.assumingMemoryBound(to: UInt8.self)
            capacity = 1 << 20
        } else if let first = malloc(Self.piece) {
            storage = first.assumingMemoryBound(to: UInt8.self)
            capacity = Self.piece
        } else {
            preconditionFailure("no memory for 64 KiB")
        }
    }

    deinit {
        descriptor?.close()
        free(storage)
        scratch.deallocate()
    }

    /// The bytes read so far: valid until the next `wait`.
    var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: storage, count: count) }

    /// Tells a waiting reader that the program has ended: it reads a last time, then ends.
    func end() { ended.store(true, ordering: .releasing) }

    /// Tells the reader to stop at its next wait, its work unfinished.
    func giveUp() { abandoned.store(true, ordering: .releasing) }

    /// Reads the capture again from `offset` until `enough` holds of the bytes, and returns them; nil when the
    /// program has ended and a last read did not make it hold (or the follower gave up).
    func wait(from offset: Int, until enough: (UnsafeBufferPointer<UInt8>) -> Bool) -> UnsafeBufferPointer<UInt8>? {
        while !gaveUp {
            let last = ended.load(ordering: .acquiring)  // before the read: records written before the end are in it
            refresh(from: offset)
            if !gaveUp && enough(bytes) { return bytes }
            if last { return nil }
            Clocks.sleep(milliseconds: 10)
        }
        return nil
    }

    /// Reads the file from `offset` on, a piece at a time, up to a piece of zeros or the file's end.
    private func refresh(from offset: Int) {
        // The hook creates the file when the program starts: until then there is nothing to read.
        if descriptor == nil {
            guard let opened = try? Descriptor.open(path, .readOnly, options: [.noFollow, .nonBlocking]) else { return }
            guard (try? opened.status())?.kind == .regular else {
                opened.close()
                failed = true
                return
            }
            descriptor = opened
        }
        guard let descriptor else { return }
        var position = offset
        while true {
            guard position <= budget - Self.piece else {
                failed = true
                return
            }
            if position + Self.piece > capacity, !grow(to: position + Self.piece) {
                failed = true  // no memory (or address space) for more: finished after the run, or not at all
                return
            }
            let read: Int
            do {
                read = try descriptor.read(
                    into: UnsafeMutableRawBufferPointer(start: storage + position, count: Self.piece), atOffset: position)
            } catch {
                failed = true
                return
            }
            if read <= 0 { break }
            var zero = true
            for index in position..<position + read where storage[index] != 0 {
                zero = false
                break
            }
            if zero { break }
            position += read
            if read < Self.piece { break }
        }
        betweenReads?()
        // The first read's loads before the second's, on processors that would let them pass each other.
        atomicMemoryFence(ordering: .acquiring)
        guard let checked = agreeing(from: offset, to: position, descriptor) else {
            failed = true
            return
        }
        position = checked
        // A program that execs starts its capture again from the file's start (after an exec record that this read
        // may have missed): its begin record, with its own start time, is then not the one read first.
        if count >= Self.header, offset >= Self.header {
            var now = [UInt8](repeating: 0, count: Self.header)
            let read = now.withUnsafeMutableBytes { try? descriptor.read(into: $0, atOffset: 0) }
            if read != Self.header || !now.elementsEqual(UnsafeBufferPointer(start: storage, count: Self.header)) {
                failed = true
                return
            }
        }
        // What this refresh read and a second read agree on: bytes past it, read before, may have been read again
        // here in the middle of a record.
        count = position
    }

    /// Where a second read of [start, end) first differs from the first, which is in `storage` (`end` when they
    /// agree throughout); nil when the file cannot be read.
    ///
    /// The kernel copies a file's pages with string instructions, whose loads are not ordered among themselves: a
    /// read of the capture while the hook writes it through its shared mapping can copy a record's tag as written and
    /// a field of the same record as not yet written (it did: one byte in about 20 MB, enough to make the follower
    /// give up on half the runs of a busy program). A record whose tag the first read saw was whole before the
    /// second read began, so where the two agree every record with a tag is whole; where they first differ, the hook
    /// was writing, and that part is read again later.
    private func agreeing(from start: Int, to end: Int, _ descriptor: Descriptor) -> Int? {
        var position = start
        while position < end {
            let length = min(Self.piece, end - position)
            let read: Int
            do {
                read = try descriptor.read(
                    into: UnsafeMutableRawBufferPointer(start: scratch, count: length), atOffset: position)
            } catch {
                return nil
            }
            if memcmp(scratch, storage + position, read) != 0 {
                for index in 0..<read where scratch[index] != storage[position + index] {
                    let at = position + index
                    guard changeable.contains(where: { $0.contains(at) }) else { return at }
                    storage[at] = scratch[index]  // counters: the later value
                }
            }
            position += read
            if read < length { return position }
        }
        return end
    }

    /// More room, keeping what was read; false when there is no memory for it (`realloc`: a Swift allocation that
    /// fails ends the process).
    private func grow(to needed: Int) -> Bool {
        var larger = max(capacity, 1 << 20)
        while larger < needed { larger *= 2 }
        guard let grown = realloc(storage, larger) else { return false }
        storage = grown.assumingMemoryBound(to: UInt8.self)
        capacity = larger
        return true
    }
}
#endif
