#if os(Linux)
internal import CMemoryProfilerShims
internal import MemoryProfilerSystem
import Synchronization

/// Exact heap figures for one piece of work while the rest of the process goes on allocating: a test among tests
/// running in parallel, a request among requests.
///
/// The heap hook (`libmprof-heap-hook.so`, under `mprof run --heap` or preloaded) counts every allocation a thread
/// in a scope makes as the scope's, block by block, and every free of such a block — on whatever thread — as the
/// scope's too. So the peak is the most the work itself had allocated at one time, not the process's, and nothing
/// another thread allocates meanwhile is in it. No capture is needed.
///
/// ```swift
/// let (index, scope) = try await HeapScope.measure { await buildIndex(of: documents) }
/// print(scope.totals.peakBytes, scope.totals.bytesNotFreed)
/// ```
///
/// Where the blocks came from is known once ``recordStacks(keepingCaptureIn:)`` has been called: every scope's
/// allocations are then recorded with their stacks, and ``Measurement/profile()`` gives a scope's ``HeapProfile``.
///
/// What is the scope's: the synchronous ``measure(_:)-(()->T)`` counts what its body allocates on the calling
/// thread. The asynchronous ``measure(_:)-(()async->T)`` runs its body on a thread of the scope's own, which it
/// asks to be the task's executor (`withTaskExecutorPreference`): the body, its child tasks (`async let`, task
/// groups) and the default actors they call all run there. Work the body hands elsewhere is not counted: the main
/// actor, actors with executors of their own, `Task.detached`, Dispatch queues, threads it starts.
public enum HeapScope {
    /// What a scope's work allocated, and what became of it. Sizes are the sizes asked for, as in a capture.
    public struct Totals: Sendable, Hashable, Codable {
        /// Allocations made in the scope (a `realloc` counts as one, and as a free of the old block).
        public var allocations: Int
        /// The bytes they asked for.
        public var bytesAllocated: Int
        /// Of those blocks, the ones freed before the scope ended (by any thread).
        public var frees: Int
        /// Their bytes.
        public var bytesFreed: Int
        /// The scope's blocks still allocated when it ended.
        public var blocksNotFreed: Int
        /// Their bytes: what the work left behind.
        public var bytesNotFreed: Int
        /// The most bytes of the scope's blocks allocated at one time.
        public var peakBytes: Int
        /// Allocations the hook could not keep track of (no memory left for its table): when not 0, the other
        /// numbers are too low.
        public var untrackedAllocations: Int

        public init(
            allocations: Int = 0, bytesAllocated: Int = 0, frees: Int = 0, bytesFreed: Int = 0,
            blocksNotFreed: Int = 0, bytesNotFreed: Int = 0, peakBytes: Int = 0, untrackedAllocations: Int = 0
        ) {
            self.allocations = allocations
            self.bytesAllocated = bytesAllocated
            self.frees = frees
            self.bytesFreed = bytesFreed
            self.blocksNotFreed = blocksNotFreed
            self.bytesNotFreed = bytesNotFreed
            self.peakBytes = peakBytes
            self.untrackedAllocations = untrackedAllocations
        }

        init(_ totals: mprof_heap_scope_totals) {
            func clamped(_ value: UInt64) -> Int { Int(clamping: value) }
            self.init(
                allocations: clamped(totals.allocations), bytesAllocated: clamped(totals.allocated_bytes),
                frees: clamped(totals.frees), bytesFreed: clamped(totals.freed_bytes),
                blocksNotFreed: clamped(totals.blocks_in_use), bytesNotFreed: clamped(totals.bytes_in_use),
                peakBytes: clamped(totals.peak_bytes), untrackedAllocations: clamped(totals.untracked))
        }
    }

    /// The scope's blocks still allocated at its end that nothing in the process pointed to: leaked (retain
    /// cycles, lost pointers), found by the same conservative scan as the leak scan at exit.
    public struct Leaks: Sendable, Hashable {
        /// How many blocks.
        public var blocks: Int
        /// Their bytes.
        public var bytes: Int
        /// Their addresses (the first 100,000).
        public var addresses: [UInt64]

        /// How much of the stack below a scan's caller is cleared before it (see `cmp_scrub_stack`).
        static let scrubbedStack = 256 << 10

        /// Runs `body` with `scanPad` bytes of stack untouched above it (`cmp_call_below_pad`): the scan made after
        /// it, from this frame, lies over none of its dead frames.
        static func belowPad<T>(_ body: () throws -> T) throws -> T {
            var outcome: Result<T, any Error>?
            withoutActuallyEscaping({ outcome = Result { try body() } }) { run in
                var call = run
                withUnsafeMutablePointer(to: &call) { pointer in
                    cmp_call_below_pad(scanPad, { context in
                        context?.assumingMemoryBound(to: (() -> Void).self).pointee()
                    }, pointer)
                }
            }
            guard let outcome else { preconditionFailure("cmp_call_below_pad did not call its function") }
            return try outcome.get()
        }

        /// Room for the scan's own frames, above any the measured work leaves.
        static let scanPad = 16 << 10

        /// The largest number of addresses kept.
        static let addressLimit = 100_000

        /// Scans for scope `scope`'s leaks now.
        static func scan(_ scope: UInt64) -> Result<Leaks, MemoryError> {
            guard let leaks = Hook.functions?.leaks else {
                return .failure(MemoryError(.unavailable, "the loaded heap hook cannot scan scopes for leaks"))
            }
            var addresses = [UInt](repeating: 0, count: addressLimit)
            var count: UInt64 = 0, bytes: UInt64 = 0
            var failure = [CChar](repeating: 0, count: 600)
            let status = addresses.withUnsafeMutableBufferPointer { addresses in
                failure.withUnsafeMutableBufferPointer { failure in
                    leaks(scope, addresses.baseAddress, addresses.count, &count, &bytes, failure.baseAddress!, failure.count)
                }
            }
            switch status {
            case 0:
                return .success(
                    Leaks(
                        blocks: Int(clamping: count), bytes: Int(clamping: bytes),
                        addresses: addresses.prefix(Int(min(count, UInt64(addressLimit)))).map { UInt64($0) }))
            case 1: return .failure(MemoryError(.invalidOptions, "heap scope \(scope) was not open"))
            default:
                let why = String(decoding: failure.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                return .failure(MemoryError(.unavailable, "no leak scan: \(why.isEmpty ? "the scan failed" : why)"))
            }
        }
    }

    /// What a scope measured: its totals, and, when stacks are recorded, where to find its events.
    public struct Measurement: Sendable {
        /// The totals, exact, counted by the hook as the work ran.
        public var totals: Totals
        /// Its leaks, when they were looked for (``HeapScope/measure(findingLeaks:_:)-(_,()async->T)``), or why
        /// they could not be.
        public var leaks: Result<Leaks, MemoryError>?
        /// The scope's identifier (in the hook, and in the capture's `K` records).
        public var identifier: UInt64
        /// The capture the scope's events were recorded in; nil when stacks were not being recorded.
        public var capturePath: String?

        /// The scope's heap profile: its allocations with their stacks and Swift types, read from the capture.
        ///
        /// - Throws: ``MemoryError``: ``MemoryError/Code/unavailable`` when stacks were not recorded for it (see
        ///   ``HeapScope/recordStacks(keepingCaptureIn:)``), or what reading the capture found.
        public func profile() throws(MemoryError) -> HeapProfile {
            guard let capturePath else {
                throw MemoryError(
                    .unavailable, "the scope's stacks were not recorded: call HeapScope.recordStacks() before it begins")
            }
            let bytes = try HeapCapture.readBytes(capturePath)
            let unreachable = try? leaks?.get().addresses
            let capture = try HeapCapture(
                bytes: bytes, name: capturePath, namesOnly: false, scope: identifier, unreachable: unreachable)
            return HeapProfile(capture, symbols: HeapSymbolizer().symbolize(capture, usingStoredNames: false))
        }
    }

    /// Whether the heap hook is loaded in this process, so that scopes can be measured.
    public static var isAvailable: Bool { Hook.functions != nil }

    /// Whether the hook, loaded, sees this process's allocations: not when another allocator was preloaded before
    /// it (`LD_PRELOAD=libjemalloc.so:libmprof-heap-hook.so`: malloc is jemalloc's, and the hook never called), or
    /// the program allocates through an allocator linked into it. Checked once, with a block allocated in a scope.
    public static let seesAllocations: Bool = {
        guard let hook = Hook.functions, let scope = try? Scope(hook) else { return false }
        let previous = hook.enter(scope.identifier)
        let probe = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8)
        _ = hook.enter(previous)
        probe.deallocate()
        return ((try? scope.end())?.totals.allocations ?? 0) >= 1
    }()

    /// Runs `body` with the current task's work counted as the enclosing measurement's wherever it runs: a task
    /// made inside a measurement (a child task, which runs on the scope's thread) that hops to the main actor or to
    /// an actor with an executor of its own goes on allocating for the scope there. ``measure(findingLeaks:_:)-(_,()async->T)``
    /// does this for the task that calls it. Outside a measurement, `body` just runs.
    public static func countingCurrentTask<T>(_ body: () async throws -> T) async rethrows -> T {
        guard let scope = current, let hook = Hook.functions, let add = hook.addTask, let remove = hook.removeTask,
            let task = withUnsafeCurrentTask(body: { $0.map { unsafeBitCast($0, to: UnsafeRawPointer.self) } })
        else { return try await body() }
        let added = add(scope, task) == 0
        defer { if added { remove(scope, task) } }
        return try await body()
    }

    /// The scope the current task's work is measured in (0: none).
    @TaskLocal static var current: UInt64?

    static let nested = MemoryError(
        .invalidOptions,
        "heap scopes do not nest: this work is measured by a scope already (a memory budget on the test?), and a "
            + "scope inside it would take its allocations from it")

    /// The capture scopes are recorded in, once ``recordStacks(keepingCaptureIn:)`` has started it.
    private static let stackCapture = Mutex<String?>(nil)

    /// Records, from now on, every scope's allocations with their stacks and types, and the frees of those
    /// blocks, so that ``Measurement/profile()`` can say where a scope's memory came from. Nothing else the process
    /// does is recorded, and scopes that have begun are recorded only from now on. Once per process: later calls
    /// return the same capture.
    ///
    /// Under `mprof run --heap`, scopes are marked in the run's capture (unless it is an aggregate one). Otherwise
    /// the capture is a file of their own, written until the process ends: in `directory` when given (to be read
    /// later with `mprof heap`), else in `TMPDIR` (or `/tmp`), removed when the process exits normally.
    ///
    /// - Returns: The capture's path.
    /// - Throws: ``MemoryError``: ``MemoryError/Code/unavailable`` without the hook, or why the capture could not
    ///   be started (secure mode, a directory that cannot be written).
    @discardableResult
    public static func recordStacks(keepingCaptureIn directory: String? = nil) throws(MemoryError) -> String {
        guard let record = DynamicSymbol.address(of: "mprof_heap_scopes_record") else {
            throw MemoryError(.unavailable, "heap scopes need libmprof-heap-hook.so in the process: " + howToLoadTheHook)
        }
        let start = unsafeBitCast(record, to: mprof_heap_scopes_record_function.self)
        return try stackCapture.withLock { (path: inout String?) throws(MemoryError) -> String in
            if let path { return path }
            let kept = directory != nil
            let folder = directory ?? Environment.value("TMPDIR").flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/tmp"
            var random = SystemRandomNumberGenerator()
            let file = "\(folder)/mprof-scopes-\(ProcessTable.currentProcess)-\(String(random.next(), radix: 36)).heap"
            var written = [CChar](repeating: 0, count: 4200)
            var own: Int32 = 0
            guard file.withCString({ start($0, &written, written.count, &own) }) == 0 else {
                let error = SystemError.current
                throw MemoryError(
                    .systemCall, "cannot record the scopes' stacks in \(TerminalText.escaped(file)): \(error.message)",
                    errno: error.errno)
            }
            let started = String(decoding: written.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if own != 0 && !kept { RemoveAtExit.register(started) }
            path = started
            return started
        }
    }

    /// How to load the hook, for messages that need it.
    public static let howToLoadTheHook =
        "run under `mprof run --heap`, or preload the hook (LD_PRELOAD=…/libmprof-heap-hook.so)"

    /// Runs `body` on the calling thread and returns its result with what it allocated there.
    ///
    /// - Throws: ``MemoryError`` (``MemoryError/Code/unavailable`` without the hook), or what `body` throws.
    public static func measure<T>(findingLeaks: Bool = false, _ body: () throws -> T) throws -> (result: T, scope: Measurement) {
        let hook = try Hook.loaded()
        let scope = try Scope(hook)
        let result: T
        do {
            // The scope is entered below the pad, after whatever running the body through it allocates.
            result = try Leaks.belowPad { () throws -> T in
                let previous = hook.enter(scope.identifier)
                defer { _ = hook.enter(previous) }
                // Inside another scope (this thread is one's, or this task runs on one's thread), this one would
                // take its allocations from it: scopes do not nest.
                guard previous == 0 && Self.current == nil else { throw Self.nested }
                return try body()
            }
        } catch {
            _ = try? scope.end()
            throw error
        }
        // The body's frames are below this one, dead; the scan's own frames will lie over them, and a slot of theirs
        // not yet written would hold a stale copy of a pointer that hides a leak: they are cleared first.
        if findingLeaks { cmp_scrub_stack(Leaks.scrubbedStack) }
        let leaks = findingLeaks ? Leaks.scan(scope.identifier) : nil
        var measurement = try scope.end()
        measurement.leaks = leaks
        return (result, measurement)
    }

    /// Runs `body` on a thread of the scope's own (its task executor) and returns its result with what it, its
    /// child tasks and the default actors they called allocated.
    ///
    /// - Throws: ``MemoryError`` (``MemoryError/Code/unavailable`` without the hook), or what `body` throws.
    public static func measure<T>(
        findingLeaks: Bool = false, _ body: () async throws -> T
    ) async throws -> (result: T, scope: Measurement) {
        try await measure(findingLeaksIf: { findingLeaks }, body)
    }

    /// As ``measure(findingLeaks:_:)-(_,()async->T)``, deciding whether to scan for leaks once `body` is done.
    package static func measure<T>(
        findingLeaksIf findingLeaks: () -> Bool, _ body: () async throws -> T
    ) async throws -> (result: T, scope: Measurement) {
        let hook = try Hook.loaded()
        guard Self.current == nil else { throw Self.nested }
        let scope = try Scope(hook)
        let executor: ScopeExecutor
        do {
            executor = try ScopeExecutor.take(hook)
        } catch {
            _ = try? scope.end()
            throw error
        }
        executor.join(scope.identifier)
        defer { ScopeExecutor.give(executor) }
        let result: T
        do {
            result = try await Self.$current.withValue(scope.identifier) {
                try await withTaskExecutorPreference(executor, isolation: nil) {
                    try await countingCurrentTask { try await body() }
                }
            }
        } catch {
            _ = executor.leave()
            _ = try? scope.end()
            throw error
        }
        let leaks = executor.leave(scanning: findingLeaks() ? scope.identifier : nil)
        var measurement = try scope.end()
        measurement.leaks = leaks
        return (result, measurement)
    }

    /// Files to remove when the process exits normally: the scopes' own capture, which is read while the process
    /// runs and is of no use after it.
    private enum RemoveAtExit {
        private static let paths = Mutex<[String]?>(nil)

        static func register(_ path: String) {
            let first = paths.withLock { paths in
                defer { paths = (paths ?? []) + [path] }
                return paths == nil
            }
            if first { ProcessTable.atExit { RemoveAtExit.removeAll() } }
        }

        static func removeAll() {
            for path in paths.withLock({ $0 ?? [] }) { TextFile.removeRegularFile(path) }
        }
    }

    /// A scope open in the hook.
    private struct Scope {
        let hook: Hook
        let identifier: UInt64

        init(_ hook: Hook) throws(MemoryError) {
            var identifier: UInt64 = 0
            guard hook.begin(&identifier) == 0 else {
                throw MemoryError(.unavailable, "1024 heap scopes are open already: the hook keeps no more at once")
            }
            self.hook = hook
            self.identifier = identifier
        }

        func end() throws(MemoryError) -> Measurement {
            var totals = mprof_heap_scope_totals()
            guard hook.end(identifier, &totals) == 0 else {
                throw MemoryError(.invalidOptions, "heap scope \(identifier) was not open")
            }
            return Measurement(
                totals: Totals(totals), leaks: nil, identifier: identifier,
                capturePath: HeapScope.stackCapture.withLock { $0 })
        }
    }

    /// The hook's exported scope functions, as its public header declares them.
    struct Hook: @unchecked Sendable {
        let begin: mprof_heap_scope_begin_function
        let enter: mprof_heap_scope_enter_function
        let end: mprof_heap_scope_end_function
        /// Nil in a hook older than leak scans and tasks.
        let leaks: mprof_heap_scope_leaks_function?
        let addTask: mprof_heap_scope_add_task_function?
        let removeTask: mprof_heap_scope_remove_task_function?

        // Every function is looked up at once, before any scope: a lookup (dlsym) allocates on its first call.
        static let functions: Hook? = {
            guard let begin = DynamicSymbol.address(of: "mprof_heap_scope_begin"),
                let enter = DynamicSymbol.address(of: "mprof_heap_scope_enter"),
                let end = DynamicSymbol.address(of: "mprof_heap_scope_end")
            else { return nil }
            return Hook(
                begin: unsafeBitCast(begin, to: mprof_heap_scope_begin_function.self),
                enter: unsafeBitCast(enter, to: mprof_heap_scope_enter_function.self),
                end: unsafeBitCast(end, to: mprof_heap_scope_end_function.self),
                leaks: DynamicSymbol.address(of: "mprof_heap_scope_leaks").map {
                    unsafeBitCast($0, to: mprof_heap_scope_leaks_function.self)
                },
                addTask: DynamicSymbol.address(of: "mprof_heap_scope_add_task").map {
                    unsafeBitCast($0, to: mprof_heap_scope_add_task_function.self)
                },
                removeTask: DynamicSymbol.address(of: "mprof_heap_scope_remove_task").map {
                    unsafeBitCast($0, to: mprof_heap_scope_remove_task_function.self)
                })
        }()

        static func loaded() throws(MemoryError) -> Hook {
            guard let functions else {
                throw MemoryError(
                    .unavailable, "heap scopes need libmprof-heap-hook.so in the process: " + HeapScope.howToLoadTheHook)
            }
            return functions
        }
    }
}
#endif
