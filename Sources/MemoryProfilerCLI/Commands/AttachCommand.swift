import ArgumentParser
import MemoryProfiler
import MemoryProfilerSystem

/// `mprof attach`: records the memory of a process that is already running.
struct AttachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Record the memory of a running process, by PID or exact name.",
        discussion: """
            Records until the process exits or the --timeout; Ctrl-C ends the recording and keeps every sample \
            taken. A name must match exactly one process (its command name or the file name of its program); \
            when several match, mprof lists them.
            """
    )

    @OptionGroup var recording: RecordingOptions

    @Argument(help: "The PID or the exact name of the process.")
    var target: String

    func run() throws {
        try ProcessAttachment.record(target: target, options: recording.settings)
    }
}
