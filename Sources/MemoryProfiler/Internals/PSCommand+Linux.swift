#if os(Linux)
import Glibc

/// Readings through the `ps` command.
enum PSCommand {
    /// The resident set size of `process` as `ps -o rss= -p PID` prints it (KiB).
    static func residentSetSize(of process: ProcessID, executable: String) throws(MemoryError) -> MemorySize {
        let child = try ChildProcess.spawn(
            executable, arguments: ["-o", "rss=", "-p", String(process.rawValue)],
            standardInput: .null, standardOutput: .pipe, standardError: .null)
        let output = child.readOutput()
        child.closePipes()
        let termination = try child.wait()
        let kibibytes = output.withUnsafeBytes { ProcText.field(0, in: $0) }
        guard let kibibytes, termination == .exited(0) else {
            if kill(process.rawValue, 0) != 0 && errno == ESRCH {
                throw MemoryError(.processExited, "process \(process) has exited", process: process)
            }
            throw MemoryError(
                .unexpectedFormat, "ps printed no resident set size for PID \(process)", process: process)
        }
        // ps prints 0 for a zombie and for a kernel thread, which have no address space.
        guard kibibytes > 0 else { throw process.noAddressSpaceError() }
        return MemorySize(kibibytes: kibibytes)
    }
}
#endif
