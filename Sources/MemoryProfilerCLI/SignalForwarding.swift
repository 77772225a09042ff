import Glibc
import MemoryProfiler
import MemoryProfilerSystem
import Synchronization

/// Passes SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to `mprof` on to the program it runs.
///
/// A signal from the terminal (Ctrl-C) goes to the whole foreground process group, so the program has it
/// already and `mprof` only keeps running to record the end. A signal sent to `mprof` alone, with `kill`, is
/// sent on to the program. Either way `mprof` stays alive until the program exits and reports how it ended.
enum SignalForwarding {
    static let forwarded: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    private static let target = Atomic<Int32>(0)

    /// Holds the signals back until ``start(forwardingTo:)``: call it before spawning the program, so a signal
    /// sent between the spawn and the handlers' installation is forwarded rather than killing mprof. (The
    /// program starts with an empty mask: `ChildProcess` resets it.)
    static func holdSignals() {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in forwarded { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
    }

    /// Forwards signals to `process` from now on, including any held back since ``holdSignals()``.
    static func start(forwardingTo process: ProcessID) {
        target.store(process.rawValue, ordering: .sequentiallyConsistent)
        var action = sigaction()
        action.__sigaction_handler.sa_sigaction = { signal, info, _ in
            let pid = SignalForwarding.target.load(ordering: .sequentiallyConsistent)
            if pid == SignalForwarding.finishingTarget {
                // After the program: the capture is being finished, and an interrupt must not cut that in half.
                let saved = errno
                SignalForwarding.finishingMessage.withUTF8Buffer { _ = write(2, $0.baseAddress, $0.count) }
                errno = saved
                return
            }
            // SI_USER and SI_QUEUE: sent by a process; SI_KERNEL (the terminal): the program got it too.
            guard pid > 0, let info, info.pointee.si_code <= 0 else { return }
            let saved = errno
            kill(pid, signal)
            errno = saved
        }
        action.sa_flags = SA_SIGINFO | SA_RESTART
        sigemptyset(&action.sa_mask)
        for signal in forwarded { sigaction(signal, &action, nil) }
        releaseSignals()
    }

    private static func releaseSignals() {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in forwarded { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }

    /// The target while mprof finishes after the program has ended.
    fileprivate static let finishingTarget: Int32 = -1
    fileprivate static let finishingMessage: StaticString =
        "mprof: the program has ended; mprof is finishing its files and ends as soon as they are whole\n"

    /// After the program has ended (and been reaped: its PID may belong to another process by now): nothing is
    /// forwarded any more, and an interrupt (Ctrl-C, SIGTERM) while mprof finishes its files (the last samples, the
    /// heap capture's names) is answered with a line saying so instead of ending mprof half-way. The tools mprof runs meanwhile are in their own process
    /// group, out of the terminal's reach.
    static func finishing() {
        _ = finishingMessage  // initialized here, never first in the handler
        target.store(finishingTarget, ordering: .sequentiallyConsistent)
    }

    /// Restores the default actions; after the program has ended (``finishing()``), the handler that answers an
    /// interrupt stays until mprof exits: an interrupt in its last instants, its files whole, must not end it with
    /// a signal's status.
    static func stop() {
        if target.load(ordering: .sequentiallyConsistent) == finishingTarget {
            releaseSignals()
            return
        }
        target.store(0, ordering: .sequentiallyConsistent)
        for signal in forwarded { Glibc.signal(signal, SIG_DFL) }
        releaseSignals()
    }

    /// `SIGSEGV` for 11, and so on.
    static func name(of signal: Int32) -> String {
        let names: [Int32: String] = [
            SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
            SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1",
            SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
        ]
        return names[signal] ?? "signal \(signal)"
    }
}
