#if os(Linux)
internal import MemoryProfilerSystem
import Glibc
import Synchronization

/// Names a capture's addresses while the program still runs, so that little naming is left when it ends.
///
/// Naming is most of what `mprof run --heap` is waited on after a server stops: `llvm-symbolizer` reads a module's
/// tables once and then each address (0.23 s for 3,000 addresses of the example server, against 4 ms for the last 300
/// once the rest are known). The pre-namer keeps one `llvm-symbolizer` running for the whole run and asks it about
/// each module, return address and type descriptor as the capture records them (handed over by the follower's
/// reader through a ``HeapNamingQueue``, or read by a reader of its own), a batch every 200 ms. At the end
/// ``HeapSymbolizer/symbolize(_:usingStoredNames:prenamed:)`` takes the answers it has and asks the same process
/// only about the rest. The answers are the ones a single run after the program would give: the same questions to
/// the same tool about the same files. While the program runs the tool runs at the lowest priority, where mprof may
/// raise it again when the program ends (as the follower).
public final class HeapPreNamer: @unchecked Sendable {
    let queue = HeapNamingQueue()
    private let symbolizer: HeapSymbolizer
    private let ended = Atomic(false)
    private var thread: DedicatedThread?
    // The names-only reader of an aggregate capture (which has no follower), and its source.
    private var reader: DedicatedThread?
    private var source: GrowingCapture?
    // The namer thread's own until `finish` has joined it.
    private var live: LiveSymbolizer?
    private var answers: [String: [Substring]] = [:]
    private var modules: [HeapCapture.Module] = []
    private var waiting: [HeapNamingQueue.Item] = []
    /// The tool failed once (it could not be started, or it stopped answering): the rest is named after the run.
    private var failed = false
    /// What runs at the lowest priority while the program runs (the names reader's thread, the tool), and the tool's
    /// process: `finish` gives them their priority back, or stops the tool where it cannot.
    private let lowered = Mutex<(tasks: [DedicatedThread.LoweredPriority], tool: Int32?)>(([], nil))

    /// Starts naming; with `path`, reads the capture there for what to name (for a capture nothing else follows).
    /// Nil when there is no `llvm-symbolizer`, or no thread could be started.
    public init?(symbolizer: HeapSymbolizer = HeapSymbolizer(), readingCaptureAt path: String? = nil) {
        guard let tool = symbolizer.symbolizer else { return nil }
        self.symbolizer = symbolizer
        do {
            thread = try DedicatedThread.start { [self] in run(tool) }
            if let path {
                let source = GrowingCapture(path: path)
                self.source = source
                let queue = queue
                reader = try DedicatedThread.start { [self] in
                    if let task = DedicatedThread.lowerPriority() { lowered.withLock { $0.tasks.append(task) } }
                    var reader = HeapCaptureReader(namesFollowing: source, noticing: queue)
                    _ = try? reader.replay()
                }
            }
        } catch {
            cancel()
            return nil
        }
    }

    private func run(_ tool: String) {
        while !ended.load(ordering: .acquiring) {
            // 200 ms between batches, in steps short enough that `finish` never waits long for the thread.
            for _ in 0..<20 where !ended.load(ordering: .acquiring) { Clocks.sleep(milliseconds: 10) }
            if ended.load(ordering: .acquiring) { break }
            nameWhatCame(tool)
        }
    }

    /// Asks about what the readers have seen since the last time (addresses in modules not yet recorded wait).
    private func nameWhatCame(_ tool: String) {
        var questions: [String] = []
        var unplaced: [HeapNamingQueue.Item] = []
        for item in waiting + queue.take() {
            switch item {
            case .module(let module):
                modules.removeAll { $0.addresses.overlaps(module.addresses) }
                modules.append(module)
                modules.sort { $0.addresses.lowerBound < $1.addresses.lowerBound }
            case .code(let address), .descriptor(let address):
                guard let module = HeapSymbolizer.module(of: address, in: modules) else {
                    unplaced.append(item)
                    continue
                }
                let isCode = if case .code = item { true } else { false }
                // As HeapSymbolizer asks: a return address's call is the byte before it.
                let line = HeapSymbolizer.question(
                    kind: isCode ? "CODE" : "DATA", module: module,
                    offset: isCode ? address &- module.loadBias &- 1 : address &- module.loadBias)
                if let line, answers[line] == nil { questions.append(line) }
            }
        }
        waiting = unplaced.count < 1 << 20 ? unplaced : []
        questions = Array(Set(questions))
        guard !questions.isEmpty, !failed else { return }
        if live == nil && !failed, let started = LiveSymbolizer(tool: tool) {
            live = started
            lowered.withLock { state in
                if let task = started.lowered { state.tasks.append(task) }
                state.tool = started.processID
            }
        }
        guard let live, let blocks = live.ask(questions) else {
            // Not again: the names are asked for after the run, as without a pre-namer.
            failed = true
            self.live?.close()
            self.live = nil
            return
        }
        for (line, block) in zip(questions, blocks) { answers[line] = block }
    }

    /// Stops reading and naming, and hands over what was named, with the running `llvm-symbolizer` for the rest.
    func finish() -> (answers: [String: [Substring]], live: LiveSymbolizer?) {
        // First their priority back: the namer thread may be waiting on the tool in the middle of a batch. Where it
        // cannot be given back, the tool is stopped rather than waited on (the rest is then asked of a new one).
        let (tasks, tool) = lowered.withLock { state in
            defer { state = ([], nil) }
            return state
        }
        let restored = tasks.map { $0.restore() }.allSatisfy { $0 }
        if !restored, let tool { _ = ProcessTable.send(SIGKILL, to: tool) }
        ended.store(true, ordering: .releasing)
        source?.end()
        source?.giveUp()
        reader?.join()
        reader = nil
        thread?.join()
        thread = nil
        defer {
            answers = [:]
            live = nil
        }
        if !restored {
            live?.close()
            live = nil
        }
        return (answers, live)
    }

    /// Stops naming; the names are not wanted.
    public func cancel() {
        finish().live?.close()
    }
}

/// What a reader of a capture being written has seen that needs a name: each module, stack address and class type
/// descriptor as the capture records it.
final class HeapNamingQueue: Sendable {
    enum Item: Sendable {
        case module(HeapCapture.Module)
        case code(UInt64)
        case descriptor(UInt64)
    }

    private let items = Mutex<[Item]>([])

    func add(_ item: Item) { items.withLock { $0.append(item) } }

    func take() -> [Item] {
        items.withLock { items in
            defer { items = [] }
            return items
        }
    }
}

/// An `llvm-symbolizer` kept running: each module's tables are read once, and questions are answered as they come.
final class LiveSymbolizer: @unchecked Sendable {
    private let process: ChildProcess
    private var pending: [UInt8] = []
    /// While the program runs the tool runs at the lowest priority (the program comes first), where that can be
    /// undone: ``HeapPreNamer`` gives it its priority back when the program ends.
    let lowered: DedicatedThread.LoweredPriority?
    /// The longest a batch is waited for: a tool that stops answering is a tool that failed.
    private static let patience: Int64 = 120_000_000_000
    /// The most an answer not yet ended by its empty line may take: a tool that writes on without ending its
    /// answers is a tool that failed, not memory to fill for two minutes.
    private static let largestPending = 64 << 20

    var processID: Int32 { process.pid }

    init?(tool: String) {
        guard let process = try? ChildProcess.spawn(
            tool, arguments: ["--inlines", "--output-style=LLVM"], standardInput: .pipe, standardOutput: .pipe,
            standardError: .null, inOwnProcessGroup: true)
        else { return nil }
        self.process = process
        lowered = process.lowerPriority()
    }

    /// The answers to `questions` (one line each), in order, as blocks of lines; nil when the tool failed.
    func ask(_ questions: [String]) -> [[Substring]]? {
        guard let input = process.standardInput, let output = process.standardOutput else { return nil }
        let questionText = questions.map { $0 + "\n" }.joined()
        // Written by a thread of its own while this one reads, so that neither pipe fills up and waits for the other;
        // with SIGPIPE blocked there, a tool that died is an error (EPIPE), not the end of this process.
        let wrote = Atomic(false)
        let writer = try? DedicatedThread.start {
            var blocked = sigset_t()
            sigemptyset(&blocked)
            sigaddset(&blocked, SIGPIPE)
            pthread_sigmask(SIG_BLOCK, &blocked, nil)
            if (try? Descriptor(rawValue: input).writeAll(questionText)) != nil { wrote.store(true, ordering: .releasing) }
        }
        guard let writer else { return nil }
        var blocks: [[Substring]] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let reader = Descriptor(rawValue: output)
        let deadline = Clocks.monotonicNanoseconds() &+ Self.patience
        while blocks.count < questions.count {
            let remaining = (deadline &- Clocks.monotonicNanoseconds()) / 1_000_000
            guard remaining > 0, reader.waitUntilReadable(milliseconds: Int32(min(remaining, 60_000))) else {
                if remaining > 0 { continue }
                _ = ProcessTable.send(SIGKILL, to: process.pid)  // the writer then fails too, and ends
                break
            }
            let count = chunk.withUnsafeMutableBytes { try? reader.read(into: $0) } ?? 0
            guard count > 0 else { break }
            guard pending.count + count <= Self.largestPending else {
                _ = ProcessTable.send(SIGKILL, to: process.pid)
                break
            }
            let scanFrom = max(pending.count - 1, 0)  // a block's end may straddle the chunks
            pending += chunk[..<count]
            // Whole blocks only: each ends with an empty line. Only the new bytes are searched for one (searching all
            // of a long unfinished answer at every chunk took minutes).
            guard let end = Self.lastBlockEnd(pending, from: scanFrom) else { continue }
            blocks += HeapSymbolizer.blocks(of: String(decoding: pending[..<end], as: UTF8.self))
            pending.removeSubrange(..<end)
        }
        writer.join()
        guard wrote.load(ordering: .acquiring), blocks.count == questions.count else { return nil }
        return blocks
    }

    /// Where the last complete block in `bytes` ends (after its empty line), if one ends at or after `start`.
    private static func lastBlockEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        var index = bytes.count - 1
        while index > max(start, 0) {
            if bytes[index] == UInt8(ascii: "\n") && bytes[index - 1] == UInt8(ascii: "\n") { return index + 1 }
            index -= 1
        }
        return nil
    }

    /// Ends the tool (killed: it keeps nothing worth a wait, and one that stopped answering would not end).
    func close() {
        process.closePipes()
        _ = ProcessTable.send(SIGKILL, to: process.pid)
        _ = try? process.wait()
    }
}
#endif
