#if os(Linux)
internal import CMemoryProfilerShims
internal import MemoryProfilerSystem
import Glibc

/// A thread that runs a scope's jobs, as the task executor its work prefers: what runs on it is counted as the
/// scope's (the hook counts per thread), and nothing else runs on it.
///
/// Executors are kept in a pool and never deallocated: a task refers to its preferred executor unowned, and a pool
/// spares a thread's start for every scope. One executor serves one scope at a time.
final class ScopeExecutor: TaskExecutor, @unchecked Sendable {
    // pthread objects must not move: they live in allocations of their own. Everything below is guarded by `mutex`.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // The jobs waiting, in a ring: taking one and adding one never allocates (an Array's bookkeeping did, on the
    // scope's thread), and it grows, outside any scope, only when full.
    private var ring: UnsafeMutablePointer<UnownedJob>
    private var capacity = 1024
    private var first = 0
    private var count = 0
    /// The scope its thread is to be in (0: none), applied before the next job, and the one it is in.
    private var scope: UInt64 = 0
    private var applied: UInt64 = 0
    /// A leak scan the thread is to make of a scope as it leaves it, and its answer once made.
    private var scanRequest: UInt64 = 0
    private var scanAnswer: Result<HeapScope.Leaks, MemoryError>?
    private let hook: HeapScope.Hook

    private init(_ hook: HeapScope.Hook) {
        self.hook = hook
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        ring = .allocate(capacity: capacity)
    }

    private static let pool = PoolOfExecutors()

    /// How much of the stack below the run loop is cleared after each job (a few microseconds).
    static let scrubbedAfterEachJob = 64 << 10

    /// An executor of the pool, started if none is free.
    static func take(_ hook: HeapScope.Hook) throws(MemoryError) -> ScopeExecutor {
        if let executor = pool.take() { return executor }
        let executor = ScopeExecutor(hook)
        do {
            let thread = try DedicatedThread.start { executor.run() }
            thread.detach()
        } catch {
            throw MemoryError(.systemCall, "cannot start a heap scope's thread: \(error.message)", errno: error.errno)
        }
        return executor
    }

    /// Puts `executor` back in the pool.
    static func give(_ executor: ScopeExecutor) { pool.give(executor) }

    /// Puts the executor's thread in `scope` before it runs another job.
    func join(_ scope: UInt64) {
        pthread_mutex_lock(mutex)
        self.scope = scope
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Takes the executor's thread out of its scope and waits until it is out; with `scanning`, the thread first
    /// scans for that scope's leaks, from its run loop: the work's frames, dead now, lie below it on its stack, where
    /// the scan does not look for references (stale copies there would hide leaks).
    func leave(scanning: UInt64? = nil) -> Result<HeapScope.Leaks, MemoryError>? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        scope = 0
        scanRequest = scanning ?? 0
        scanAnswer = nil
        pthread_cond_broadcast(condition)
        while applied != 0 || scanRequest != 0 { pthread_cond_wait(condition, mutex) }
        return scanAnswer
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        pthread_mutex_lock(mutex)
        if count == capacity {
            // Growing the ring allocates: that is the executor's, not the work of whatever scope this thread is in.
            let previous = hook.enter(0)
            let larger = UnsafeMutablePointer<UnownedJob>.allocate(capacity: capacity * 2)
            for index in 0..<count { (larger + index).initialize(to: ring[(first + index) % capacity]) }
            ring.deallocate()
            ring = larger
            first = 0
            capacity *= 2
            _ = hook.enter(previous)
        }
        (ring + (first + count) % capacity).initialize(to: job)
        count += 1
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Takes the next job off the ring and runs it, in a frame of its own below the run loop's: the job's address
    /// (a task's, freed when it ends) stays neither in the ring nor in the loop's frame, where a leak scan made from
    /// the loop would take it for a reference to whatever comes to that address.
    @inline(never)
    private func runNextJob() {
        pthread_mutex_lock(mutex)
        let job = (ring + first).move()
        memset(ring + first, 0, MemoryLayout<UnownedJob>.stride)  // the slot's bits, uninitialized now, cleared
        first = (first + 1) % capacity
        count -= 1
        pthread_mutex_unlock(mutex)
        job.runSynchronously(on: asUnownedTaskExecutor())
    }

    private func run() {
        pthread_mutex_lock(mutex)
        while true {
            if scope != applied || scanRequest != 0 {
                let wanted = scope, scan = scanRequest
                pthread_mutex_unlock(mutex)
                // A scope that has ended meanwhile is refused (UINT64_MAX): the thread is then in none.
                if hook.enter(wanted) == .max { _ = hook.enter(0) }
                // The work's frames lay below this one: cleared, so that the scan's own frames hold nothing of theirs.
                if scan != 0 { cmp_scrub_stack(HeapScope.Leaks.scrubbedStack) }
                let leaks = scan != 0 ? HeapScope.Leaks.scan(scan) : nil
                pthread_mutex_lock(mutex)
                applied = wanted
                if scan != 0 {
                    scanAnswer = leaks
                    scanRequest = 0
                }
                pthread_cond_broadcast(condition)
            } else if count > 0 {
                pthread_mutex_unlock(mutex)
                runNextJob()
                // What the job left on the stack below this frame is cleared: a leak scan made while this thread
                // runs another job reads its whole stack (a running thread's stack pointer is not known), and a
                // stale address there, of a block since freed and handed out again, would hide a leak.
                cmp_scrub_stack(Self.scrubbedAfterEachJob)
                pthread_mutex_lock(mutex)
            } else {
                pthread_cond_wait(condition, mutex)
            }
        }
    }
}

/// The executors not serving a scope now.
private final class PoolOfExecutors: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var free: [ScopeExecutor] = []

    init() { pthread_mutex_init(mutex, nil) }

    func take() -> ScopeExecutor? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return free.popLast()
    }

    func give(_ executor: ScopeExecutor) {
        pthread_mutex_lock(mutex)
        free.append(executor)
        pthread_mutex_unlock(mutex)
    }
}
#endif
