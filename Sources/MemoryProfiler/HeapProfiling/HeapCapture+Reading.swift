#if os(Linux)
internal import MemoryProfilerSystem
#endif

extension HeapCapture {
    /// The first bytes of every capture.
    static let magic = Array("MPROFHP1".utf8)

    /// Where `mprof run --heap` keeps the capture of the recording at `recording`: beside it, `X.dat` → `X.heap`
    /// (a recording named otherwise gets `.heap` added: `run.txt` → `run.txt.heap`).
    public static func path(besideRecording recording: String) -> String {
        (recording.hasSuffix(".dat") ? String(recording.dropLast(4)) : recording) + ".heap"
    }

    /// Whether `header`, a file's first 8 bytes, is a capture's: as the hook writes it or as mprof compresses it.
    public static func isCapture(header: some Collection<UInt8>) -> Bool {
        header.elementsEqual(magic) || header.elementsEqual(CaptureCompression.magic)
            || header.elementsEqual(CaptureCompression.formerMagic)
    }

    /// Whether the regular file at `path` starts as a capture does (as the hook writes it or as mprof finishes it);
    /// false for anything else, and for what cannot be read. Only the first 8 bytes are read (never from a FIFO or
    /// a device, whose reads could wait or take what another reader needs).
    public static func isCapture(at path: String) -> Bool {
        guard (try? FileStatus(path: path))?.kind == .regular, let reader = try? FileReader(path: path) else { return false }
        var head = [UInt8](repeating: 0, count: 8)
        let count = head.withUnsafeMutableBytes { try? reader.read(into: $0) }
        return count == 8 && isCapture(header: head)
    }

    /// Reads and replays the capture in the file at `path`.
    ///
    /// - Throws: ``MemoryError``: ``MemoryError/Code/unexpectedFormat`` for a file that is not a capture or is
    ///   damaged (the message gives the byte offset), ``MemoryError/Code/systemCall`` when it cannot be read.
    public init(path: String) throws(MemoryError) {
        try self.init(bytes: try Self.readBytes(path), name: path)
    }

    /// Whether a program is writing the capture at `path` now: the hook holds a shared lock on its capture until
    /// the program ends. Read meanwhile, a capture ends at its last record, as a killed program's does.
    public static func isBeingWritten(at path: String) -> Bool {
        guard let descriptor = try? Descriptor.open(path, .readOnly, options: [.noFollow, .nonBlocking]) else { return false }
        defer { descriptor.close() }
        return (try? descriptor.tryLock(exclusive: true)) == false
    }

    /// The bytes of the capture at `path`, decompressed when mprof compressed it after the run.
    ///
    /// Read in chunks, never sized from the file's length: a capture ends at the first run of
    /// ``endOfRecordsZeroRun`` zero bytes (the hook's zero-filled room ahead of its last record; no record holds such
    /// a run, compressed or not), so a sparse or zero-filled file of any length costs a chunk or two. Nothing past
    /// the length the file had when it was opened is read: a capture still being written (this process's own, in a
    /// ``HeapRegion`` under `mprof run --heap`, grows with every allocation the reading makes). What is read, and a
    /// compressed capture's declared length, must fit in ``readingBudget()``: past that, a clear error instead of
    /// an allocation that fails.
    static func readBytes(_ path: String) throws(MemoryError) -> [UInt8] {
        let budget = readingBudget()
        var bytes: [UInt8] = []
        do {
            let reader = try FileReader(path: path)
            let length = reader.regularFileSize ?? Int.max
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            var trailingZeros = 0
            while trailingZeros < endOfRecordsZeroRun && bytes.count < length {
                let wanted = min(chunk.count, length - bytes.count)
                guard bytes.count <= budget - wanted else {
                    throw MemoryError(
                        .unexpectedFormat,
                        "\(TerminalText.escaped(path)) is larger than the \(budget >> 20) MiB mprof may take to read it "
                            + "(a quarter of the memory, or of the address space RLIMIT_AS leaves)")
                }
                let count = try chunk.withUnsafeMutableBytes { buffer throws(FileReader.Failure) in
                    try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<wanted]))
                }
                if count == 0 { break }
                if bytes.count + count > bytes.capacity,
                    !ProcessMemory.canAllocate(bytes: max(bytes.capacity * 2, bytes.count + count))
                {
                    throw MemoryError(
                        .systemCall, "no memory to read \(TerminalText.escaped(path)) (\(bytes.count >> 20) MiB read so far)")
                }
                bytes.append(contentsOf: chunk[..<count])
                // Not a capture at all: say so now rather than after reading the whole file. A capture as the hook
                // writes it begins with its begin record.
                if bytes.count > 8, bytes.count - count <= 8 {
                    let raw = bytes.starts(with: magic)
                    guard isCapture(header: bytes.prefix(8)), !raw || bytes[8] == UInt8(ascii: "B") || bytes[8] == 0 else {
                        throw MemoryError(
                            .unexpectedFormat,
                            "\(TerminalText.escaped(path)) is not a readable heap capture: it does not start with "
                                + "MPROFHP1 and a begin record, or MPROFHZ2")
                    }
                }
                var zeros = 0
                while zeros < count && chunk[count - 1 - zeros] == 0 { zeros += 1 }
                trailingZeros = zeros == count ? trailingZeros + count : zeros
            }
        } catch let error as FileReader.Failure {
            throw MemoryError(.systemCall, "\(TerminalText.escaped(path)): \(error.message)", errno: error.errno)
        } catch let error as MemoryError {
            throw error
        } catch {
            throw MemoryError(.systemCall, "\(TerminalText.escaped(path)): \(error)")
        }
        guard CaptureCompression.isCompressed(bytes) else { return bytes }
        do {
            return try CaptureCompression.decompress(bytes, limit: budget)
        } catch {
            throw MemoryError(.unexpectedFormat, "\(TerminalText.escaped(path)) is not a readable heap capture: \(error.reason)")
        }
    }

    /// Zero bytes in a row that end a capture's records: far more than any record holds (a name is at most 4,096
    /// bytes), and far less than the room the hook grows its file by.
    static let endOfRecordsZeroRun = 64 << 10

    /// The most bytes of capture mprof reads into memory: a quarter of the physical memory, and of the address space
    /// `RLIMIT_AS` allows; replaying a capture takes a few times its size again.
    static func readingBudget() -> Int { ProcessMemory.budget(divisor: 4) }

    /// Replays a capture held in memory; `name` is used in error messages.
    public init(bytes: [UInt8], name: String = "capture") throws(MemoryError) {
        if CaptureCompression.isCompressed(bytes) {
            let original: [UInt8]
            do {
                original = try CaptureCompression.decompress(bytes, limit: Self.readingBudget())
            } catch {
                throw MemoryError(.unexpectedFormat, "\(TerminalText.escaped(name)) is not a readable heap capture: \(error.reason)")
            }
            try self.init(bytes: original, name: name, namesOnly: false)
            return
        }
        try self.init(bytes: bytes, name: name, namesOnly: false)
    }

    /// Reads a capture; with `namesOnly`, only what naming needs (no replay: no sizes, no summary); with `region`,
    /// only the events of that region (see ``HeapRegion``); with `scope`, only that scope's (see ``HeapScope``).
    /// With `scope`, `unreachable` are the addresses of its blocks a scan found no reference to (its leaks).
    init(
        bytes: [UInt8], name: String, namesOnly: Bool, region: UInt64? = nil, scope: UInt64? = nil,
        unreachable: [UInt64]? = nil
    ) throws(MemoryError) {
        do {
            self = try bytes.withUnsafeBufferPointer { buffer throws(HeapCaptureReader.Failure) in
                var reader = HeapCaptureReader(buffer, namesOnly: namesOnly, region: region, scope: scope)
                reader.scopeUnreachable = unreachable
                return try reader.replay()
            }
        } catch {
            throw MemoryError(
                .unexpectedFormat, "\(TerminalText.escaped(name)) is not a readable heap capture: \(error.reason)"
                    + (error.offset.map { " (at byte \($0))" } ?? ""))
        }
    }
}

/// Decodes the records of a capture (see <doc:HeapCaptureFormat>) and replays them.
struct HeapCaptureReader {
    struct Failure: Error {
        var reason: String
        var offset: Int?
        /// The bytes end inside a record: the end of a capture cut short, not damage.
        var truncated = false
    }

    private var bytes: UnsafeBufferPointer<UInt8>
    private var at = 0

    /// A capture still being written (see `HeapCaptureFollower`): where the records end, the reader waits for more
    /// rather than ending, until the source says none will come.
    private var source: GrowingCapture?

    /// True to read only what naming needs (modules, stack nodes, types, names): allocations and frees are
    /// skipped, not replayed.
    private let namesOnly: Bool

    /// A region's number: only the events between its begin and end records are replayed.
    private let region: UInt64?
    /// A scope's identifier: only the allocations its threads made while in it, and the frees of those blocks, up
    /// to its end, are replayed.
    private let scope: UInt64?
    /// The scope's blocks a scan found unreachable when it ended, marked as leaked at the end of the replay.
    var scopeUnreachable: [UInt64]?

    /// The capture in its stored form, when the reader was asked to write it (see `init(transcribing:)`); with
    /// `handingOff`, what was not handed off.
    private(set) var transcript: [UInt8]?

    /// Given the stored form so far, a piece at a time, while a capture being written is followed, so that it can
    /// be compressed as the program runs (see `init(transcribing:noticing:handingOff:)`).
    private var handOff: ((UnsafeBufferPointer<UInt8>) -> Void)?
    /// The stored form is handed off when the reader catches up with the hook and there is this much of it.
    private static let handOffSize = 64 << 10

    /// Told of each module, stack address and class type descriptor as they are read (see ``HeapPreNamer``).
    private var noticing: HeapNamingQueue?

    init(_ bytes: UnsafeBufferPointer<UInt8>, namesOnly: Bool = false, region: UInt64? = nil, scope: UInt64? = nil) {
        self.bytes = bytes
        self.namesOnly = namesOnly
        self.region = region
        self.scope = scope
    }

    /// A reader that, as it replays a capture as the hook wrote it (version 1), writes it in its stored form
    /// (version 2) into `transcript`: the same records, but an allocation names an allocation site (a size, a
    /// stack and a type, given once in a `P` record) and a free, restore or unreachable block names the allocation
    /// it is about by how many allocations back it was made, instead of an address. Nothing a report reads is lost
    /// (the addresses of blocks are not shown), and a loop that allocates the same sizes from the same sites now
    /// makes the same bytes each time round, which is what `CaptureCompression` gains on. A capture already in the
    /// stored form is copied as it is.
    init(transcribing bytes: UnsafeBufferPointer<UInt8>) {
        self.init(bytes)
        transcript = []
    }

    /// A reader that transcribes a capture as it is written, from `source`, which it waits on, telling `noticing`
    /// what needs a name and giving `handingOff` the stored form a piece at a time (`transcript` is then the rest).
    init(
        transcribing source: GrowingCapture, noticing: HeapNamingQueue? = nil,
        handingOff: ((UnsafeBufferPointer<UInt8>) -> Void)? = nil
    ) {
        self.init(transcribing: source.bytes)
        self.source = source
        self.noticing = noticing
        self.handOff = handingOff
    }

    /// A reader of a capture as it is written, from `source`, that only tells `noticing` what needs a name.
    init(namesFollowing source: GrowingCapture, noticing: HeapNamingQueue) {
        self.init(source.bytes, namesOnly: true)
        self.source = source
        self.noticing = noticing
    }

    /// The number of fields of the event records, by tag: what a names-only read skips.
    private static let eventFieldCount: [Int?] = (0..<256).map { tag in
        switch UInt8(tag) {
        case UInt8(ascii: "A"): 3
        case UInt8(ascii: "O"): 4
        case UInt8(ascii: "F"), UInt8(ascii: "R"), UInt8(ascii: "H"), UInt8(ascii: "T"): 1
        case UInt8(ascii: "a"), UInt8(ascii: "f"), UInt8(ascii: "g"), UInt8(ascii: "k"): 1
        case UInt8(ascii: "r"): 0
        case UInt8(ascii: "G"), UInt8(ascii: "K"): 2
        case UInt8(ascii: "P"): 3
        default: nil
        }
    }

    /// Whether a transcript writes its own form of a record with `tag` (in a capture of `version`), rather than
    /// copying it: the begin record, and in the hook's form the events and unreachable blocks, which name addresses.
    private static func rewrittenInTranscript(_ tag: UInt8, version: UInt64) -> Bool {
        switch tag {
        case UInt8(ascii: "B"): true
        case UInt8(ascii: "A"), UInt8(ascii: "O"), UInt8(ascii: "F"), UInt8(ascii: "R"), UInt8(ascii: "U"): version == 1
        default: false
        }
    }

    /// The allocation sites of the stored form as it is written: (size, stack, type) → site number (1, 2, …). A
    /// site whose fields fit in 64 bits together (all but the rarest) is found in an open-addressed table, the rest
    /// in a dictionary: this is looked up for every allocation.
    private struct SiteTable {
        private struct Key: Hashable {
            var size: UInt64, leaf: UInt64, type: UInt64
        }
        private let packed = LiveBlocks()
        private var others: [Key: UInt64] = [:]
        private(set) var count: UInt64 = 0
        /// The table could not grow (see `LiveBlocks`).
        var outOfMemory: Bool { packed.outOfMemory }

        /// The site's number, and whether it is new.
        mutating func number(size: UInt64, leaf: UInt64, type: UInt64) -> (UInt64, Bool) {
            if size < 1 << 27, leaf < 1 << 24, type < 1 << 12 {
                // Never 0 (an empty slot): the size is shifted past a 1 bit.
                let key = (1 << 63) | size << 36 | leaf << 12 | type
                if let known = packed.find(key) { return (UInt64(known), false) }
                count += 1
                packed.insert(key, UInt32(truncatingIfNeeded: count))
                return (count, true)
            }
            let key = Key(size: size, leaf: leaf, type: type)
            if let known = others[key] { return (known, false) }
            count += 1
            others[key] = count
            return (count, true)
        }
    }

    // Bounds for values that size what the reader allocates or loops over.
    private static let largestString = 4096
    private static let largestSize = UInt64(1) << 48
    private static let largestMilliseconds = UInt64(1) << 40

    /// What the replay may build: half the memory (and of the address space `RLIMIT_AS` leaves), counted as about
    /// 48 bytes an allocation (its size, group, end and flags, a slot in the live table, and the arrays' room to
    /// grow: `mprof heap` on captures of 10–12 million allocations peaked at 27–34 bytes an allocation resident and
    /// 49 of address space) — 24 when the capture is only transcribed into its stored form (its thread and ordinal,
    /// a slot, and the stored bytes) — and 16 a stack node. A capture that would need more is refused: a few hundred
    /// kilobytes of repeated records can describe a billion allocations. (Where the estimate is short, the tables
    /// and arrays ask for room before they grow, and the replay fails cleanly: see `ProcessMemory.canAllocate`.)
    private static let replayBudget = ProcessMemory.budget(divisor: 2)
    private static let bytesPerAllocation = 48
    private static let bytesPerTranscribedAllocation = 24
    private static let bytesPerNode = 16

    private func failure(_ reason: String, at offset: Int? = nil) -> Failure {
        Failure(reason: reason, offset: offset ?? at)
    }

    @inline(__always)
    private mutating func number() throws(Failure) -> UInt64 {
        let start = at
        do {
            return try LEB128.read(bytes, at: &at)
        } catch .truncated {
            throw Self.truncated
        } catch {
            throw failure("a number does not fit in 64 bits", at: start)
        }
    }

    private static let truncated = Failure(reason: "the capture ends inside a record", offset: nil, truncated: true)

    private static func outOfMemory(_ allocations: Int) -> Failure {
        Failure(
            reason: "mprof ran out of memory replaying it (\(allocations) allocations so far; the memory, or the "
                + "address space RLIMIT_AS allows, is exhausted)", offset: nil)
    }

    private func tooLargeToReplay(_ allocations: Int) -> Failure {
        Failure(
            reason: "replaying it would take more than the \(Self.replayBudget >> 20) MiB mprof may use (half the "
                + "memory, or of the address space RLIMIT_AS leaves; \(allocations) allocations so far, about "
                + "\(costOfAllocation) bytes each)", offset: nil)
    }

    /// What the replay counts for an allocation (see `replayBudget`).
    private var costOfAllocation: Int { transcript != nil ? Self.bytesPerTranscribedAllocation : Self.bytesPerAllocation }

    private mutating func string() throws(Failure) -> String {
        let length = try number()
        guard length <= UInt64(Self.largestString) else { throw failure("a name longer than 4096 bytes") }
        guard at + Int(length) <= bytes.count else { throw Self.truncated }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[at..<at + Int(length)]), as: UTF8.self)
        at += Int(length)
        return text
    }

    mutating func replay() throws(Failure) -> HeapCapture {
        // A capture being written: its magic and begin record first (the hook stores the record's tag last).
        if let source, bytes.count < 9 || bytes[8] == 0, let more = source.wait(from: 0, until: { $0.count > 8 && $0[8] != 0 }) {
            bytes = more
        }
        guard bytes.count >= 8, Array(bytes[0..<8]) == HeapCapture.magic else {
            throw failure("it does not start with MPROFHP1", at: 0)
        }
        at = 8
        var capture = HeapCapture(
            processID: 0, startTime: 0, unwinder: "", executable: "", modules: [], types: [],
            summary: .init(
                allocations: 0, frees: 0, bytesAllocated: 0, peakBytes: 0, peakTime: 0, blocksNotFreed: 0, bytesNotFreed: 0,
                temporaries: 0, duration: 0, finishedNormally: false, reachabilityScanned: false,
                blocksLeaked: 0, bytesLeaked: 0, replacedBy: nil, freesOfUnknownBlocks: 0),
            heapTimeline: [], parents: [], addresses: [], groupLeaves: [], groupTypes: [], sizes: [], groups: [], freedAfter: [],
            temporary: [], unreachable: [], peakAllocation: -1, eventsEnd: 8, embeddedSymbols: nil)
        let live = LiveBlocks()
        // Room for as many allocations as the records can hold (about one in 10 bytes of the hook's form), so that
        // the arrays do not grow by copying; pages never written cost nothing.
        let costOfAllocation = self.costOfAllocation
        let expected = namesOnly ? 0 : min(bytes.count / 10, Self.replayBudget / costOfAllocation)
        if transcript == nil {
            capture.sizes.reserveCapacity(expected)
            capture.groups.reserveCapacity(expected)
            capture.freedAfter.reserveCapacity(expected)
            capture.temporary.reserveCapacity(expected)
        }
        var previousAddress: UInt64 = 0
        var liveBytes = 0
        var millisecond: UInt64 = 0
        var thread = 0
        // Per thread: the allocation it made last, while it has done nothing since (-1 otherwise).
        var lastAllocationOfThread: [Int] = [-1]
        // Per thread: the block its last free removed, for a restore record (a realloc that failed).
        var lastFreeOfThread: [(address: UInt64, index: Int, wasTemporary: Bool)?] = [nil]
        var depths: [UInt16] = []
        var pendingExec: String?
        var sawUnreachable = false
        // Whether events count: always, or only inside the region asked for.
        var counting = region == nil
        var regionEnded = false
        // Per thread, the scope it is in (0: none).
        var scopeOfThread: [UInt64] = [0]
        var sawBegin = false
        // (stack, type) → group, keyed by leaf << 32 | type, + 1 (0 marks an empty slot; leaf < 2^32 - 2).
        let groupOf = LiveBlocks()
        // The names section mprof appends after the run (see HeapSymbols+Encoding.swift).
        var names = HeapSymbols(frames: [:], typeNames: [:], notes: [])
        var sawNames = false
        var replayBytes = 0
        // Modules as recorded, in order, and the shift each was given: a module recorded where another one was
        // (a library dlopen'ed where a closed one had been) is moved to addresses of its own, 2^48 apart, and so
        // are the stack nodes and types recorded while it is the one there, so that each is named after its own
        // library. (The hook starts new stack nodes after a dlclose.)
        var placed: [(addresses: Range<UInt64>, path: String, bias: UInt64, shift: UInt64)] = []
        var shifts = 0
        // Where a moved module is the latest one recorded: disjoint, by start. (A module recorded over a moved one
        // is moved too, so an address in none of these is where it was.) Found by binary search: every stack node
        // and type asks.
        var movedSegments: [(start: UInt64, end: UInt64, shift: UInt64)] = []
        func relocated(_ address: UInt64) -> UInt64 {
            guard !movedSegments.isEmpty else { return address }
            var low = 0, high = movedSegments.count
            while low < high {
                let middle = (low + high) / 2
                if movedSegments[middle].start <= address { low = middle + 1 } else { high = middle }
            }
            guard low > 0, address < movedSegments[low - 1].end else { return address }
            return address &+ movedSegments[low - 1].shift
        }
        func move(_ start: UInt64, _ end: UInt64, by shift: UInt64) {
            var kept: [(start: UInt64, end: UInt64, shift: UInt64)] = []
            kept.reserveCapacity(movedSegments.count + 2)
            for segment in movedSegments {
                if segment.end <= start || segment.start >= end {
                    kept.append(segment)
                    continue
                }
                if segment.start < start { kept.append((segment.start, start, segment.shift)) }
                if segment.end > end { kept.append((end, segment.end, segment.shift)) }
            }
            kept.append((start, end, shift))
            kept.sort { $0.start < $1.start }
            movedSegments = kept
        }

        func decodeAddress(_ zigzag: UInt64) -> UInt64 {
            let delta = Int64(bitPattern: (zigzag >> 1) ^ (0 &- (zigzag & 1)))
            previousAddress = previousAddress &+ UInt64(bitPattern: delta)
            return previousAddress
        }

        // The stored form (version 2): allocation sites, and blocks named by their allocation's number (1, 2, …
        // over every allocation record, counted or not), which stands in for the address in `live`.
        var version: UInt64 = 1
        // An aggregate capture (version 3): its totals' and sites' counters ('Q' records), in order.
        var totalCounters: [UInt64]?
        var siteCounters: [UInt64] = []
        var sites: [(size: UInt64, leaf: UInt64, type: UInt64)] = []
        var allocationsSeen: UInt64 = 0
        // Allocations replayed so far (capture.sizes.count, but for a transcript, which keeps no sizes).
        var allocationCount = 0
        let replayBudget = Self.replayBudget  // once: a static's every read checks that it is made
        // Per thread, the numbers of the allocations it made, in order: a free by the thread that made the block
        // names it by how many of the thread's own allocations back it was made (the same number each time round
        // a loop, however the threads interleave).
        var ownAllocations: [[UInt32]] = [[]]
        // Writing the stored form: the site of each (size, stack, type), and the allocation number each live
        // block had (its index in `capture.sizes` + 1, as every allocation is counted without a region).
        let transcribing = transcript != nil
        // Rewriting events: transcribing a capture in the hook's form (known at its begin record).
        var rewriting = false
        var written: [UInt8] = transcribing ? HeapCapture.magic : []
        var siteOf = SiteTable()
        // Per allocation, the thread that made it and how many the thread had made before; per thread, how many.
        var threadOfAllocation: [UInt32] = [], ordinalInThread: [UInt32] = [], ownCount: [UInt32] = [0]
        if transcribing {
            written.reserveCapacity(bytes.count / 2)
            threadOfAllocation.reserveCapacity(expected)
            ordinalInThread.reserveCapacity(expected)
        }
        // One per record, not variadic: a variadic call allocates its array, twice an allocation and free.
        func transcribe(_ tag: Unicode.Scalar) { written.append(UInt8(ascii: tag)) }
        func transcribe(_ tag: Unicode.Scalar, _ field: UInt64) {
            written.append(UInt8(ascii: tag))
            LEB128.append(field, to: &written)
        }
        func transcribe(_ tag: Unicode.Scalar, _ first: UInt64, _ second: UInt64, _ third: UInt64, _ fourth: UInt64? = nil) {
            transcribe(tag, first)
            LEB128.append(second, to: &written)
            LEB128.append(third, to: &written)
            if let fourth { LEB128.append(fourth, to: &written) }
        }

        func allocate(size: UInt64, leaf: UInt64, type: UInt64, address: UInt64, recordStart: Int) throws(Failure) {
            guard size <= Self.largestSize else { throw failure("an allocation of more than 2^48 bytes", at: recordStart) }
            guard leaf <= UInt64(capture.parents.count) else { throw failure("an allocation names stack node \(leaf), which was never recorded", at: recordStart) }
            guard type <= UInt64(capture.types.count) else { throw failure("an allocation names type \(type), which was never recorded", at: recordStart) }
            guard address != 0 else { throw failure("an allocation at address 0", at: recordStart) }
            guard allocationCount < Int(UInt32.max - 1) else { throw failure("more than 4 billion allocations", at: recordStart) }
            guard !sawUnreachable else { throw failure("an allocation after the reachability records", at: recordStart) }
            replayBytes += costOfAllocation
            guard replayBytes <= replayBudget else { throw tooLargeToReplay(allocationCount) }
            // The arrays an allocation grows, about to double: room for their new buffers first, since a Swift
            // allocation that fails ends the process (the budget is an estimate; RLIMIT_AS is not).
            if rewriting {
                if threadOfAllocation.count == threadOfAllocation.capacity {
                    let room = threadOfAllocation.capacity * 2 * 2 * MemoryLayout<UInt32>.stride
                    guard ProcessMemory.canAllocate(bytes: room) else { throw Self.outOfMemory(allocationCount) }
                }
            } else if capture.sizes.count == capture.sizes.capacity {
                let perAllocation = MemoryLayout<Int>.stride + 2 * MemoryLayout<UInt32>.stride + MemoryLayout<Bool>.stride
                guard ProcessMemory.canAllocate(bytes: capture.sizes.capacity * 2 * perAllocation) else {
                    throw Self.outOfMemory(allocationCount)
                }
            }
            let index = allocationCount
            allocationCount += 1
            if let replaced = live.insert(address, UInt32(index)) {
                // Allocated again without a free in between: the free was not seen (another allocator).
                if rewriting { transcribe("k", UInt64(index - Int(replaced))) } else { forget(Int(replaced), before: index) }
            }
            if rewriting {
                // Only what the stored form needs: the reports are made from it later.
                let (site, isNew) = siteOf.number(size: size, leaf: leaf, type: type)
                if isNew { transcribe("P", size, leaf, type) }
                transcribe("a", site)
                threadOfAllocation.append(UInt32(thread))
                ordinalInThread.append(ownCount[thread])
                ownCount[thread] += 1
                guard !live.outOfMemory, !siteOf.outOfMemory else { throw Self.outOfMemory(allocationCount) }
                return
            }
            capture.sizes.append(Int(size))
            let key = (leaf << 32 | type) &+ 1
            if let group = groupOf.find(key) {
                capture.groups.append(group)
            } else {
                let group = UInt32(capture.groupLeaves.count)
                groupOf.insert(key, group)
                capture.groupLeaves.append(UInt32(leaf))
                capture.groupTypes.append(UInt32(type))
                capture.groups.append(group)
            }
            guard !live.outOfMemory, !groupOf.outOfMemory else { throw Self.outOfMemory(allocationCount) }
            capture.freedAfter.append(.max)
            capture.temporary.append(false)
            let (total, overflow) = capture.summary.bytesAllocated.addingReportingOverflow(Int(size))
            guard !overflow, total <= 1 << 62 else { throw failure("the allocations add up to more than 2^62 bytes", at: recordStart) }
            capture.summary.bytesAllocated = total
            liveBytes += Int(size)
            lastAllocationOfThread[thread] = index
            if liveBytes > capture.summary.peakBytes {
                capture.summary.peakBytes = liveBytes
                capture.summary.peakTime = Double(millisecond) / 1000
                capture.peakAllocation = index
            }
        }

        // A block allocated over without a free (the free was not seen): gone when allocation `next` was made.
        func forget(_ index: Int, before next: Int) {
            capture.freedAfter[index] = UInt32(next)
            liveBytes -= capture.sizes[index]
        }

        func free(address: UInt64) {
            lastFreeOfThread[thread] = nil
            if let index = live.remove(address) {
                let index = Int(index)
                if rewriting {
                    if threadOfAllocation[index] == UInt32(thread) {
                        transcribe("f", UInt64(ownCount[thread] - ordinalInThread[index]))
                    } else {
                        transcribe("g", UInt64(allocationCount - index))
                    }
                    lastFreeOfThread[thread] = (address, index, false)
                    return
                }
                capture.freedAfter[index] = UInt32(capture.sizes.count)
                liveBytes -= capture.sizes[index]
                capture.summary.frees += 1
                let isTemporary = lastAllocationOfThread[thread] == index
                if isTemporary {
                    capture.temporary[index] = true
                    capture.summary.temporaries += 1
                }
                lastFreeOfThread[thread] = (address, index, isTemporary)
            } else {
                if rewriting { transcribe("g", 0) }
                // (In a scope's replay, every other block's free is another scope's, or nobody's.)
                if scope == nil { capture.summary.freesOfUnknownBlocks += 1 }
                lastFreeOfThread[thread] = (address, -1, false)
            }
            lastAllocationOfThread[thread] = -1
        }

        // The thread's last free was of a block a failed realloc kept: it was never freed. `address` nil: whatever
        // that free was of (the stored form, whose writer checked the address).
        func restore(address: UInt64?) {
            defer { lastFreeOfThread[thread] = nil }
            // A restore with no free before it on its thread is damage or another capture's: nothing to undo.
            guard let freed = lastFreeOfThread[thread], address == nil || freed.address == address else { return }
            if rewriting {
                transcribe("r")
                if freed.index >= 0 { live.insert(freed.address, UInt32(freed.index)) }
                return
            }
            guard freed.index >= 0 else {
                // The free of a block the capture never saw did not happen after all.
                if scope == nil { capture.summary.freesOfUnknownBlocks -= 1 }
                return
            }
            live.insert(freed.address, UInt32(freed.index))
            capture.freedAfter[freed.index] = .max
            liveBytes += capture.sizes[freed.index]
            capture.summary.frees -= 1
            if freed.wasTemporary {
                capture.temporary[freed.index] = false
                capture.summary.temporaries -= 1
            }
            if liveBytes > capture.summary.peakBytes {
                capture.summary.peakBytes = liveBytes
                capture.summary.peakTime = Double(millisecond) / 1000
                capture.peakAllocation = capture.sizes.count - 1
            }
        }

        // In the stored form, the block of the allocation `back` allocations before the next (0: none the capture
        // saw), as its stand-in address.
        func storedAddress(back: UInt64, recordStart: Int) throws(Failure) -> UInt64 {
            guard back <= allocationsSeen else { throw failure("a block \(back) allocations back, of \(allocationsSeen)", at: recordStart) }
            return back == 0 ? 0 : allocationsSeen - back + 1
        }

        let eventFieldCount = Self.eventFieldCount  // once, not a lazy global's check a record
        // Caught up with the hook, which is about to be waited for: the stored form so far goes to be compressed.
        let handOff = transcribing ? self.handOff : nil
        func handOffTranscript() {
            guard let handOff, written.count >= Self.handOffSize else { return }
            written.withUnsafeBufferPointer(handOff)
            written.removeAll(keepingCapacity: true)
        }
        recordLoop: while true {
            if at >= bytes.count || bytes[at] == 0 {
                // The end of the records: of the capture, unless it is being written and more come (see source).
                let end = at
                handOffTranscript()
                guard let more = source?.wait(from: end, until: { $0.count > end && $0[end] != 0 }) else { break }
                bytes = more
                continue
            }
            let recordStart = at
            // The stored form about to grow: handed off if it can be (a follower far behind the hook reads much
            // before it waits), or room for it made sure of first (a Swift allocation that fails ends the process).
            if transcribing && written.count + 256 > written.capacity {
                if handOff != nil && written.count >= Self.handOffSize {
                    handOffTranscript()
                } else if !ProcessMemory.canAllocate(bytes: written.capacity * 2 + 256) {
                    throw Self.outOfMemory(allocationCount)
                }
            }
            let tag = bytes[at]
            at += 1
            // Naming needs no event: skip allocations, frees and restores by their bytes alone (most of a capture).
            if namesOnly, let fields = eventFieldCount[Int(tag)] {
                var remaining = fields
                while remaining > 0 && at < bytes.count {
                    if bytes[at] < 0x80 { remaining -= 1 }
                    at += 1
                }
                guard remaining == 0 else {
                    at = recordStart  // cut short: the capture ends before this record, unless more is being written
                    let known = bytes.count
                    guard let more = source?.wait(from: recordStart, until: { $0.count > known }) else { break recordLoop }
                    bytes = more
                    continue
                }
                capture.eventsEnd = at
                continue
            }
            do throws(Failure) {
                switch tag {
                case UInt8(ascii: "A") where namesOnly, UInt8(ascii: "O") where namesOnly:
                    for _ in 0..<(tag == UInt8(ascii: "O") ? 4 : 3) { _ = try number() }
                case UInt8(ascii: "F") where namesOnly, UInt8(ascii: "R") where namesOnly, UInt8(ascii: "U") where namesOnly:
                    let count = tag == UInt8(ascii: "U") ? try number() : 1
                    guard count <= 1000 else { throw failure("\(count) unreachable blocks in one record (at most 1000)", at: recordStart) }
                    for _ in 0..<count { _ = try number() }
                case UInt8(ascii: "N"):
                    let address = try number(), count = try number()
                    guard count <= 256 else { throw failure("\(count) frames for one address (at most 256)", at: recordStart) }
                    var frames: [HeapSymbols.Frame] = []
                    for _ in 0..<count {
                        let function = try string(), file = try string(), line = try number(), flags = try number()
                        let module = try string()
                        guard line <= 100_000_000 else { throw failure("line \(line) out of range", at: recordStart) }
                        frames.append(.init(
                            function: function, file: file.isEmpty ? nil : file, line: line == 0 ? nil : Int(line),
                            module: module, isSystem: flags & 2 != 0, isInlined: flags & 1 != 0))
                    }
                    names.frames[address] = frames
                    sawNames = true
                    replayBytes += 64 + Int(count) * 96
                    guard replayBytes <= replayBudget else { throw tooLargeToReplay(allocationCount) }
                case UInt8(ascii: "Z"):
                    let number = try number(), name = try string()
                    guard number >= 1, number <= UInt64(capture.types.count) else { throw failure("a name for type \(number), which was never recorded", at: recordStart) }
                    names.typeNames[Int(number)] = name
                    sawNames = true
                    replayBytes += 64 + name.utf8.count
                    guard replayBytes <= replayBudget else { throw tooLargeToReplay(allocationCount) }
                case UInt8(ascii: "W"):
                    let note = try string()
                    replayBytes += 64 + note.utf8.count
                    guard replayBytes <= replayBudget else { throw tooLargeToReplay(allocationCount) }
                    names.notes.append(note)
                    sawNames = true
                case _ where capture.summary.finishedNormally && tag != 0:
                    throw failure("a record after the end record", at: recordStart)
                case UInt8(ascii: "A") where version == 1, UInt8(ascii: "O") where version == 1:
                    let size = try number(), leaf = try number(), address = decodeAddress(try number())
                    let type = tag == UInt8(ascii: "O") ? try number() : 0
                    guard counting, scope == nil || scopeOfThread[thread] == scope else { break }
                    try allocate(size: size, leaf: leaf, type: type, address: address, recordStart: recordStart)
                case UInt8(ascii: "F") where version == 1:
                    guard !sawUnreachable else { throw failure("a free after the reachability records", at: recordStart) }
                    let address = decodeAddress(try number())
                    guard counting else { break }
                    free(address: address)
                case UInt8(ascii: "R") where version == 1:
                    guard !sawUnreachable else { throw failure("a restore after the reachability records", at: recordStart) }
                    let address = decodeAddress(try number())
                    guard counting else { break }
                    restore(address: address)
                case UInt8(ascii: "P") where version == 2:
                    let size = try number(), leaf = try number(), type = try number()
                    guard size <= Self.largestSize, leaf <= UInt64(capture.parents.count), type <= UInt64(capture.types.count) else {
                        throw failure("an allocation site with a size, stack node or type out of range", at: recordStart)
                    }
                    replayBytes += Self.bytesPerNode
                    guard replayBytes <= replayBudget else { throw tooLargeToReplay(allocationCount) }
                    sites.append((size, leaf, type))
                case UInt8(ascii: "a") where version == 2:
                    let site = try number()
                    guard site >= 1, site <= UInt64(sites.count) else { throw failure("an allocation at site \(site), which was never recorded", at: recordStart) }
                    guard allocationsSeen < UInt64(UInt32.max - 1) else { throw failure("more than 4 billion allocations", at: recordStart) }
                    allocationsSeen += 1
                    ownAllocations[thread].append(UInt32(allocationsSeen))
                    replayBytes += 4
                    guard counting else { break }
                    let (size, leaf, type) = sites[Int(site) - 1]
                    try allocate(size: size, leaf: leaf, type: type, address: allocationsSeen, recordStart: recordStart)
                case UInt8(ascii: "k") where version == 2:
                    guard !sawUnreachable else { throw failure("a block replaced after the reachability records", at: recordStart) }
                    let address = try storedAddress(back: try number(), recordStart: recordStart)
                    guard counting, let index = live.remove(address) else { break }
                    forget(Int(index), before: capture.sizes.count)
                case UInt8(ascii: "f") where version == 2:
                    guard !sawUnreachable else { throw failure("a free after the reachability records", at: recordStart) }
                    let back = try number()
                    let own = ownAllocations[thread]
                    guard back >= 1, back <= UInt64(own.count) else {
                        throw failure("a free of the block its thread allocated \(back) allocations back, of \(own.count)", at: recordStart)
                    }
                    guard counting else { break }
                    free(address: UInt64(own[own.count - Int(back)]))
                case UInt8(ascii: "g") where version == 2:
                    guard !sawUnreachable else { throw failure("a free after the reachability records", at: recordStart) }
                    let address = try storedAddress(back: try number(), recordStart: recordStart)
                    guard counting else { break }
                    free(address: address)
                case UInt8(ascii: "r") where version == 2:
                    guard !sawUnreachable else { throw failure("a restore after the reachability records", at: recordStart) }
                    guard counting else { break }
                    restore(address: nil)
                case UInt8(ascii: "L") where version == 3:
                    let level = try number()
                    guard level <= 1 << 62 else { throw failure("a heap of more than 2^62 bytes", at: recordStart) }
                    replayBytes += 48
                    guard replayBytes <= replayBudget else { throw tooLargeToReplay(allocationCount) }
                    liveBytes = Int(level)  // as the events do in the other forms: the heap from now on
                    capture.heapTimeline.append((Double(millisecond) / 1000, liveBytes))
                case UInt8(ascii: "Q") where version == 3:
                    let kind = try number(), first = try number(), length = try number(), padding = try number()
                    guard kind == 1 || kind == 2, length % 8 == 0, length <= 1 << 20, padding < 1 << 16 else {
                        throw failure("a counters record of kind \(kind), \(length) bytes, \(padding) bytes of padding", at: recordStart)
                    }
                    // Counters the hook updates in place: a reader following the file must not wait for them to
                    // read the same twice.
                    source?.mayChange(at + Int(padding)..<(at + Int(padding) + Int(length)))
                    guard at + Int(padding) + Int(length) <= bytes.count else { throw Self.truncated }
                    let payload = UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[(at + Int(padding))..<(at + Int(padding) + Int(length))]))
                    at += Int(padding) + Int(length)
                    replayBytes += Int(length) * 2
                    guard replayBytes <= replayBudget else { throw tooLargeToReplay(allocationCount) }
                    let words = (0..<Int(length) / 8).map { payload.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self).littleEndian }
                    if kind == 1 {
                        guard totalCounters == nil else { throw failure("a second totals record", at: recordStart) }
                        totalCounters = words
                    } else {
                        guard first == UInt64(siteCounters.count / HeapCapture.siteWords) else {
                            throw failure("counters for site \(first), after \(siteCounters.count / HeapCapture.siteWords) sites", at: recordStart)
                        }
                        siteCounters += words.prefix(words.count / HeapCapture.siteWords * HeapCapture.siteWords)
                    }
                case UInt8(ascii: "E"):
                    pendingExec = try string()
                    // The program may start its capture again from the file's start: no following past an exec.
                    if source != nil { throw failure("an exec record: the capture may start again", at: recordStart) }
                case UInt8(ascii: "G"):
                    let kind = try number(), number = try number()
                    guard kind == 1 || kind == 2 else { throw failure("a region record of kind \(kind)", at: recordStart) }
                    if number == region {
                        counting = kind == 1
                        if kind == 2 { regionEnded = true }
                    }
                case UInt8(ascii: "K"):
                    let identifier = try number(), kind = try number()
                    guard kind >= 1 && kind <= 3 else { throw failure("a scope record of kind \(kind)", at: recordStart) }
                    switch kind {
                    case 1: scopeOfThread[thread] = identifier
                    case 2: scopeOfThread[thread] = 0
                    default: if identifier == scope { regionEnded = true }
                    }
                case UInt8(ascii: "S"):
                    let parent = try number(), address = try number()
                    guard parent <= UInt64(capture.parents.count) else { throw failure("stack node \(capture.parents.count + 1) names parent \(parent), which was never recorded", at: recordStart) }
                    guard capture.parents.count < Int(UInt32.max - 1) else { throw failure("too many stack nodes", at: recordStart) }
                    replayBytes += Self.bytesPerNode
                    guard replayBytes <= replayBudget else { throw tooLargeToReplay(allocationCount) }
                    // The hook keeps 64 frames; a deeper chain is damage, and would make every report walk it.
                    let depth = parent == 0 ? 1 : depths[Int(parent) - 1] + 1
                    guard depth <= 256 else { throw failure("a stack deeper than 256 frames", at: recordStart) }
                    depths.append(depth)
                    capture.parents.append(UInt32(parent))
                    capture.addresses.append(relocated(address))
                    noticing?.add(.code(relocated(address)))
                case UInt8(ascii: "H"):
                    let threadNumber = try number()
                    // Threads are numbered 1, 2, … as they first allocate: a new one is at most one more.
                    guard threadNumber >= 1, threadNumber <= UInt64(lastAllocationOfThread.count) else { throw failure("thread \(threadNumber) out of order", at: recordStart) }
                    thread = Int(threadNumber)
                    if thread == lastAllocationOfThread.count {
                        replayBytes += 128
                        guard replayBytes <= replayBudget else { throw tooLargeToReplay(allocationCount) }
                        lastAllocationOfThread.append(-1)
                        lastFreeOfThread.append(nil)
                        scopeOfThread.append(0)
                        ownAllocations.append([])
                        ownCount.append(0)
                    }
                case UInt8(ascii: "T"):
                    let time = try number()
                    guard time <= Self.largestMilliseconds, time >= millisecond else { throw failure("time goes back or is out of range", at: recordStart) }
                    // The heap as the previous millisecond with events left it: from the end of that millisecond
                    // on, not from this one's (a program idle after its frees would show them only when it wakes).
                    // A point of 16 bytes, and the timeline's room to grow (it doubles).
                    replayBytes += 48
                    guard replayBytes <= replayBudget else { throw tooLargeToReplay(allocationCount) }
                    // (An aggregate capture's levels are its 'L' records, each right after its 'T'.)
                    if version != 3 { capture.heapTimeline.append((Double(min(millisecond + 1, time)) / 1000, liveBytes)) }
                    millisecond = time
                case UInt8(ascii: "Y"):
                    let typeNumber = try number(), metadata = try number(), kind = try number(), descriptor = try number()
                    guard typeNumber == UInt64(capture.types.count + 1) else { throw failure("type \(typeNumber) out of order", at: recordStart) }
                    replayBytes += 32
                    guard replayBytes <= replayBudget else { throw tooLargeToReplay(allocationCount) }
                    capture.types.append(.init(metadata: metadata, kind: kind, descriptor: relocated(descriptor)))
                    if kind == 0 { noticing?.add(.descriptor(relocated(descriptor))) }
                case UInt8(ascii: "M"):
                    let bias = try number(), start = try number(), end = try number(), path = try string()
                    guard start <= end else { throw failure("a module ends before it starts", at: recordStart) }
                    let latest = placed.last { $0.addresses.overlaps(start..<end) }
                    if let latest, latest.path == path, latest.bias == bias, latest.addresses == start..<end {
                        break  // recorded again (the hook names every module again after a dlclose): nothing new
                    }
                    // Each distinct module is compared with those before it: a bound keeps that from growing
                    // without end (a program loads a few hundred).
                    guard placed.count < 16384 else { throw failure("more than 16,384 modules", at: recordStart) }
                    replayBytes += 256
                    var shift: UInt64 = 0
                    if let latest, latest.path == path, latest.bias == bias {
                        shift = latest.shift
                    } else if latest != nil, end < 1 << 48 {
                        guard shifts < 4095 else { throw failure("more than 4,095 libraries loaded where others were", at: recordStart) }
                        shifts += 1
                        shift = UInt64(shifts) << 48
                    }
                    if shift > 0 { move(start, end, by: shift) }
                    placed.append((start..<end, path, bias, shift))
                    let module = HeapCapture.Module(path: path, loadBias: bias &+ shift, addresses: (start &+ shift)..<(end &+ shift))
                    capture.modules.append(module)
                    noticing?.add(.module(module))
                case UInt8(ascii: "B"):
                    version = try number()
                    guard (1...3).contains(version) else { throw failure("capture format version \(version); this mprof reads versions 1 to 3", at: recordStart) }
                    if version == 3 && region != nil { throw failure("an aggregate capture (mprof run --heap --aggregate) has no regions", at: recordStart) }
                    // Counters updated in place are read once the program has ended, not followed.
                    if version == 3 && source != nil && !namesOnly {
                        throw failure("an aggregate capture is read after the run", at: recordStart)
                    }
                    guard !sawBegin else { throw failure("a second begin record", at: recordStart) }
                    sawBegin = true
                    let pid = try number(), wall = try number(), page = try number()
                    guard pid >= 1, pid <= UInt64(Int32.max) else { throw failure("process id \(pid) out of range", at: recordStart) }
                    capture.processID = Int32(pid)
                    capture.startTime = Double(wall) / 1e9
                    capture.unwinder = try string()
                    capture.executable = try string()
                    rewriting = transcribing && version == 1
                    if transcribing {
                        transcribe("B", version == 1 ? 2 : version, pid, wall, page)
                        LEB128.appendString(capture.unwinder, to: &written)
                        LEB128.appendString(capture.executable, to: &written)
                    }
                case UInt8(ascii: "U"):
                    let count = try number()
                    guard count <= 1000 else { throw failure("\(count) unreachable blocks in one record (at most 1000)", at: recordStart) }
                    if capture.unreachable.isEmpty { capture.unreachable = [UInt64](repeating: 0, count: (capture.sizes.count + 63) / 64) }
                    capture.summary.reachabilityScanned = true
                    sawUnreachable = true
                    var address: UInt64 = 0
                    var found: [UInt64] = []
                    for _ in 0..<count {
                        address = address &+ (try number())
                        // A block the replay does not have live is ignored: the scan replayed the same records.
                        guard let index = live.find(address).map(Int.init) else { continue }
                        if rewriting {
                            found.append(UInt64(index + 1))
                            continue
                        }
                        let (word, bit) = (index / 64, UInt64(1) << UInt64(index % 64))
                        if capture.unreachable[word] & bit == 0 {
                            capture.unreachable[word] |= bit
                            capture.summary.blocksLeaked += 1
                            capture.summary.bytesLeaked += capture.sizes[index]
                        }
                    }
                    if rewriting {
                        // Allocation numbers, ascending, each from the one before.
                        found.sort()
                        transcribe("U", UInt64(found.count))
                        var previous: UInt64 = 0
                        for number in found {
                            LEB128.append(number - previous, to: &written)
                            previous = number
                        }
                    }
                case UInt8(ascii: "X"):
                    _ = try number()
                    _ = try number()
                    let time = try number()
                    guard time <= Self.largestMilliseconds else { throw failure("time out of range", at: recordStart) }
                    // As at a 'T': the heap since the last millisecond with events, up to the exit.
                    if time > millisecond && version != 3 {
                        capture.heapTimeline.append((Double(millisecond + 1) / 1000, liveBytes))
                    }
                    millisecond = max(millisecond, time)
                    capture.summary.finishedNormally = true
                case UInt8(ascii: "C"):
                    // A condition the hook records (see HeapCaptureCondition); kinds it does not know are skipped.
                    let kind = try number(), value = try number(), text = try string()
                    HeapCaptureCondition.apply(kind: kind, value: value, text: text, to: &capture.summary)
                default:
                    throw failure("unknown record type \(tag)", at: recordStart)
                }
            } catch {
                guard error.truncated else { throw error }
                at = recordStart  // the last record was cut short: the capture ends before it
                handOffTranscript()
                let known = bytes.count
                guard let more = source?.wait(from: recordStart, until: { $0.count > known }) else { break recordLoop }
                bytes = more
                continue recordLoop
            }
            if tag != UInt8(ascii: "B") && !sawBegin { throw failure("records before the begin record", at: recordStart) }
            // The stored form: every record the cases above did not write is the same in both forms.
            if transcribing && !Self.rewrittenInTranscript(tag, version: version) {
                written.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[recordStart..<at]))
            }
            let isName = tag == UInt8(ascii: "N") || tag == UInt8(ascii: "Z") || tag == UInt8(ascii: "W")
            // Records after an exec record: the exec failed, and the program went on.
            if !isName && tag != UInt8(ascii: "E") { pendingExec = nil }
            if !isName {
                guard !sawNames else { throw failure("a record after the names section", at: recordStart) }
                capture.eventsEnd = at
            }
            if regionEnded { break }
        }
        if sawNames { capture.embeddedSymbols = names }
        if transcribing { transcript = written }
        if capture.summary.leakScanFailure != nil { HeapCaptureCondition.forgetScan(of: &capture) }
        if !capture.summary.finishedNormally { capture.summary.replacedBy = pendingExec }
        guard sawBegin else { throw failure("no begin record: the program ended before the hook started", at: 8) }
        if let region {
            guard regionEnded else { throw failure("region \(region) does not end in the capture", at: nil) }
            capture.summary.finishedNormally = true
        }
        if let scope {
            guard regionEnded else { throw failure("scope \(scope) does not end in the capture", at: nil) }
            capture.summary.finishedNormally = true
            if let scopeUnreachable {
                capture.unreachable = [UInt64](repeating: 0, count: (capture.sizes.count + 63) / 64)
                capture.summary.reachabilityScanned = true
                for address in scopeUnreachable {
                    guard let index = live.find(address).map(Int.init) else { continue }
                    let (word, bit) = (index / 64, UInt64(1) << UInt64(index % 64))
                    if capture.unreachable[word] & bit == 0 {
                        capture.unreachable[word] |= bit
                        capture.summary.blocksLeaked += 1
                        capture.summary.bytesLeaked += capture.sizes[index]
                    }
                }
            }
        }
        capture.summary.allocations = capture.sizes.count
        capture.summary.blocksNotFreed = live.count
        capture.summary.bytesNotFreed = liveBytes
        capture.summary.duration = Double(millisecond) / 1000
        if version == 3 {
            guard let totalCounters else { throw failure("an aggregate capture without its totals", at: nil) }
            if !namesOnly { try HeapCapture.applyCounters(totals: totalCounters, sites: siteCounters, to: &capture) }
            liveBytes = capture.summary.bytesNotFreed
        }
        if capture.peakAllocation >= 0 || (version == 3 && capture.summary.peakBytes > 0) {
            let peak = (capture.summary.peakTime, capture.summary.peakBytes)
            let position = capture.heapTimeline.firstIndex { $0.time > peak.0 } ?? capture.heapTimeline.count
            capture.heapTimeline.insert(peak, at: position)
        }
        capture.heapTimeline.append((capture.summary.duration, liveBytes))
        return capture
    }
}
