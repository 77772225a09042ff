#if os(Linux)
import Glibc

/// A signal number, with the names mprof speaks of.
public struct Signal: Hashable, Sendable, RawRepresentable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let hangUp = Signal(rawValue: SIGHUP)
    public static let interrupt = Signal(rawValue: SIGINT)
    public static let quit = Signal(rawValue: SIGQUIT)
    public static let terminate = Signal(rawValue: SIGTERM)
    public static let kill = Signal(rawValue: SIGKILL)
    /// `SIGPIPE`: a write to a pipe nobody reads.
    public static let brokenPipe = Signal(rawValue: SIGPIPE)
    /// `SIGXFSZ`: a write past the file size limit (`ulimit -f`).
    public static let fileSizeExceeded = Signal(rawValue: SIGXFSZ)

    /// `SIGSEGV` for 11, and so on; `signal N` for one without a name here.
    public var name: String {
        let names: [Int32: String] = [
            SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
            SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1",
            SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
        ]
        return names[rawValue] ?? "signal \(rawValue)"
    }
}

/// What the process does with signals: ignored, at their default, held back.
public enum Signals {
    /// Ignores `signal` from now on (`SIG_IGN`); a program started afterwards gets the default back from
    /// `ChildProcess`.
    public static func ignore(_ signal: Signal) {
        Glibc.signal(signal.rawValue, SIG_IGN)
    }

    /// Restores `signal`'s default action.
    public static func restoreDefault(_ signal: Signal) {
        Glibc.signal(signal.rawValue, SIG_DFL)
    }

    /// Runs `body` with `signal` ignored, then restores the action it had.
    public static func ignoring<Result>(_ signal: Signal, _ body: () -> Result) -> Result {
        let previous = Glibc.signal(signal.rawValue, SIG_IGN)
        defer { Glibc.signal(signal.rawValue, previous) }
        return body()
    }

    /// Holds `signals` back on the calling thread (threads it starts inherit the mask) until ``release(_:)``.
    public static func hold(_ signals: [Signal]) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal.rawValue) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Waits up to `milliseconds` for one of `signals`, held back by ``hold(_:)``, and takes it: that signal, or nil
    /// when none came (or the wait was interrupted).
    public static func wait(for signals: [Signal], milliseconds: Int) -> Signal? {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal.rawValue) }
        var timeout = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        let taken = sigtimedwait(&set, nil, &timeout)
        return taken > 0 ? Signal(rawValue: taken) : nil
    }

    /// Lets `signals` held back by ``hold(_:)`` through again (a pending one is delivered now).
    public static func release(_ signals: [Signal]) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal.rawValue) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}
#endif
