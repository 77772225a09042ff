import Glibc

/// The clocks the sampler needs, read without Foundation.
public enum Clocks {
    /// Nanoseconds on the monotonic clock (`CLOCK_MONOTONIC`), the base of deadlines and sample times.
    @inlinable @inline(__always)
    public static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// Seconds since 1970-01-01 UTC (`CLOCK_REALTIME`).
    public static func wallClockSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
    }

    /// The local time of `seconds` since 1970 (now, by default), as year, month, day, hour, minute and second; nil
    /// when the C library cannot tell.
    public static func localTime(
        seconds: Int = Int(time(nil))
    ) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int)? {
        var clock = time_t(seconds)
        var parts = tm()
        guard localtime_r(&clock, &parts) != nil else { return nil }
        return (
            Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min),
            Int(parts.tm_sec)
        )
    }

    /// Sleeps the calling thread for about `milliseconds` (a signal may end it early).
    public static func sleep(milliseconds: Int) {
        var duration = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        nanosleep(&duration, nil)
    }

    /// CPU time the calling thread has used.
    public static func threadCPUTime() -> Duration {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return .seconds(Int64(now.tv_sec)) + .nanoseconds(Int64(now.tv_nsec))
    }
}

extension Duration {
    /// The duration in whole nanoseconds, saturating.
    public var nanoseconds: Int64 {
        let parts = components
        let (seconds, overflow) = parts.seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return parts.seconds < 0 ? .min : .max }
        return seconds.addingReportingOverflow(parts.attoseconds / 1_000_000_000).partialValue
    }
}
