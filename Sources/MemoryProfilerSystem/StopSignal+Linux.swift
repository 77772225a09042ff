#if os(Linux)
import Glibc

/// A flag one thread raises and another sleeps on until an absolute deadline of the monotonic clock.
///
/// The sampler sleeps to absolute deadlines, so its rate does not drift, and must still wake at once when the
/// measured closure returns: a condition variable on `CLOCK_MONOTONIC` with `pthread_cond_timedwait` does both,
/// where `clock_nanosleep(TIMER_ABSTIME)` could only be interrupted by a signal.
public final class StopSignal: @unchecked Sendable {
    // pthread objects must not move: they live in their own allocations.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var raised = false

    public init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Raises the flag and wakes the sleeper.
    public func raise() {
        pthread_mutex_lock(mutex)
        raised = true
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Sleeps until `deadline` (monotonic nanoseconds) or until the flag is raised; returns whether it was.
    public func wait(untilMonotonic deadline: Int64) -> Bool {
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !raised {
            if pthread_cond_timedwait(condition, mutex, &time) == ETIMEDOUT { break }
        }
        return raised
    }
}
#endif
