internal import MemoryProfilerSystem

#if os(Linux)

/// Readings through the `ps` command.
enum PSCommand {
    /// The resident set size of `process` as `ps -o rss= -p PID` prints it (KiB).
    static func residentSetSize(of process: ProcessID, executable: String) throws(MemoryError) -> MemorySize {
        let child: ChildProcess
        let termination: ChildProcess.Termination
        let output: [UInt8]?
        do {
            child = try ChildProcess.spawn(
                executable, arguments: ["-o", "rss=", "-p", String(process.rawValue)],
                standardInput: .null, standardOutput: .pipe, standardError: .null)
            // A ps that hangs must not hang the sampler: it gets ten seconds.
            output = child.readOutput(untilMonotonic: Clocks.monotonicNanoseconds() &+ 10_000_000_000)
            if output == nil { ProcessTable.send(ProcessTable.killSignal, to: child.pid) }
            child.closePipes()
            termination = try child.wait()
        } catch {
            throw MemoryError(error, process: process)
        }
        guard let output else {
            throw MemoryError(.unavailable, "\(executable) did not answer within 10 s", process: process)
        }
        let kibibytes = output.withUnsafeBytes { ProcText.field(0, in: $0) }
        guard let kibibytes, termination == .exited(0) else {
            if !ProcessTable.exists(process.rawValue) {
                throw MemoryError(.processExited, "process \(process) has exited", process: process)
            }
            throw MemoryError(
                .unexpectedFormat,
                "\(executable) printed no resident set size for PID \(process) (\(termination.description)): "
                    + TerminalText.quoted(output), process: process)
        }
        // 2^50 KiB is 1 EiB: a larger figure is not a resident set.
        guard kibibytes <= 1 << 50 else {
            throw MemoryError(
                .unexpectedFormat, "\(executable) printed \(kibibytes) KiB for PID \(process), more than any machine has",
                process: process)
        }
        // ps prints 0 for a zombie and for a kernel thread, which have no address space.
        guard kibibytes > 0 else { throw process.noAddressSpaceError() }
        return MemorySize(kibibytes: kibibytes)
    }
}
#endif
