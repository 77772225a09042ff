import CMemoryProfilerShims
import Glibc

/// A POSIX thread of our own: the sampler must not depend on a busy cooperative thread pool.
public struct DedicatedThread: @unchecked Sendable {
    private let thread: pthread_t

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// Starts `body` on a new thread.
    public static func start(_ body: @escaping @Sendable () -> Void) throws(SystemError) -> DedicatedThread {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        // The new thread never takes the signals a user sends (Ctrl-C, kill): they go to the thread that decides
        // what they mean. It inherits this mask, restored here once it is made.
        var interrupts = sigset_t(), previous = sigset_t()
        sigemptyset(&interrupts)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] { sigaddset(&interrupts, signal) }
        pthread_sigmask(SIG_BLOCK, &interrupts, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { context in
            guard let context else { return nil }
            Unmanaged<Body>.fromOpaque(context).takeRetainedValue().run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw SystemError("cannot start the sampler thread", errno: result)
        }
        return DedicatedThread(thread: thread)
    }

    /// A thread whose priority ``lowerPriority()`` lowered, and the nice value it had before.
    public struct LoweredPriority: Sendable, Hashable {
        /// The thread's id (a process's, for a child process: see ``ChildProcess/lowerPriority()``).
        public let thread: Int32
        /// Its nice value before.
        public let previous: Int32

        /// Gives the thread its priority back.
        ///
        /// - Returns: False when it could not (the process lost the right to since: a changed RLIMIT_NICE).
        public func restore() -> Bool {
            cmp_restore_thread_priority(thread, previous) == 0
        }
    }

    /// Makes the calling thread yield to every other thread of the system that wants the processor (nice 19, for
    /// it alone), for work that must not take time from the program being profiled and can catch up later. Nil,
    /// with the priority left as it is, where it could not be given back (an unprivileged process without
    /// CAP_SYS_NICE or an RLIMIT_NICE that allows it): once the program has ended, the work must be done at once,
    /// and a thread stuck at nice 19 on a busy machine waits minutes for its turn.
    public static func lowerPriority() -> LoweredPriority? {
        var previous: Int32 = 0
        let thread = cmp_lower_thread_priority(&previous)
        return thread > 0 ? LoweredPriority(thread: thread, previous: previous) : nil
    }

    /// Lets the thread end on its own, never waited for (its resources go when it does).
    public func detach() {
        pthread_detach(thread)
    }

    /// Waits for the thread's body to return.
    public func join() {
        pthread_join(thread, nil)
    }
}
