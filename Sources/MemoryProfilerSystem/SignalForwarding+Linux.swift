#if os(Linux)
import Glibc
import Synchronization

/// Passes SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to this process on to a program it runs.
///
/// A signal from the terminal (Ctrl-C) goes to the whole foreground process group, so the program has it
/// already and this process only keeps running to record the end. A signal sent to this process alone, with
/// `kill`, is sent on to the program. Either way this process stays alive until the program exits and reports how
/// it ended.
public enum SignalForwarding {
    /// The signals passed on.
    public static let forwarded: [Signal] = [.interrupt, .terminate, .hangUp, .quit]

    private static let target = Atomic<Int32>(0)

    /// Holds the signals back until ``start(forwardingTo:)``: call it before spawning the program, so a signal
    /// sent between the spawn and the handlers' installation is forwarded rather than ending this process. (The
    /// program starts with an empty mask: `ChildProcess` resets it.)
    public static func holdSignals() {
        Signals.hold(forwarded)
    }

    /// Forwards signals to `process` from now on, including any held back since ``holdSignals()``.
    public static func start(forwardingTo process: Int32) {
        target.store(process, ordering: .sequentiallyConsistent)
        var action = sigaction()
        action.__sigaction_handler.sa_sigaction = { signal, info, _ in
            let pid = SignalForwarding.target.load(ordering: .sequentiallyConsistent)
            if pid == SignalForwarding.finishingTarget {
                // After the program: the files are being finished, and an interrupt must not cut that in half.
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
        for signal in forwarded { sigaction(signal.rawValue, &action, nil) }
        Signals.release(forwarded)
    }

    /// The target while this process finishes after the program has ended.
    fileprivate static let finishingTarget: Int32 = -1
    fileprivate static let finishingMessage: StaticString =
        "mprof: the program has ended; mprof is finishing its files and ends as soon as they are whole\n"

    /// After the program has ended (and been reaped: its PID may belong to another process by now): nothing is
    /// forwarded any more, and an interrupt (Ctrl-C, SIGTERM) while the files are finished (the last samples, the
    /// heap capture's names) is answered with a line saying so instead of ending half-way. The tools run meanwhile
    /// are in their own process group, out of the terminal's reach.
    public static func finishing() {
        _ = finishingMessage  // initialized here, never first in the handler
        target.store(finishingTarget, ordering: .sequentiallyConsistent)
    }

    /// Restores the default actions; after the program has ended (``finishing()``), the handler that answers an
    /// interrupt stays until the process exits: an interrupt in its last instants, its files whole, must not end it
    /// with a signal's status.
    public static func stop() {
        if target.load(ordering: .sequentiallyConsistent) == finishingTarget {
            Signals.release(forwarded)
            return
        }
        target.store(0, ordering: .sequentiallyConsistent)
        for signal in forwarded { Signals.restoreDefault(signal) }
        Signals.release(forwarded)
    }
}
#endif
