import ArgumentParser
import MemoryProfiler
import MemoryProfilerSystem

/// What `mprof attach` (and `mprof run --attach`) does: finds the process, records it into a `.dat` file until it
/// exits or the recording is stopped, and reports the recording.
enum ProcessAttachment {
    static func record(target: String, options: RecordingSettings, gate: MemoryGate = MemoryGate()) throws {
        let process = try resolve(target)
        // Fail before creating a file when the process cannot be read.
        _ = try MemoryProbe(options.backend.reader, process: process).read()
        if process.hasEnded {
            throw CLIError("process \(process) has exited (a zombie, not yet reaped by its parent): nothing to record")
        }
        // mprof reports the end of the recording even when nobody reads its standard error any more.
        Signals.ignore(.brokenPipe)
        let recording = try Recording(options: options, commandLine: [String(process.rawValue)])
        try recording.writeHeader()
        StandardError.write("mprof: Sampling memory every \(options.intervalText)")
        StandardError.write("mprof: attaching to process \(process); recording to \(TerminalText.escaped(recording.path))")
        // Ctrl-C (or SIGTERM) ends the recording the way the target's exit does: with the last sample and the
        // summary. The signals are taken synchronously, so no handler runs in the middle of sampling.
        let stopSignals: [Signal] = [.interrupt, .terminate, .hangUp]
        Signals.hold(stopSignals)
        defer { Signals.release(stopSignals) }
        let sampler: MemorySampler?
        do {
            sampler = try recording.start(process)
        } catch {
            recording.abandon()
            throw error
        }
        var interrupted = false
        while let sampler, !sampler.isFinished {
            if Signals.wait(for: stopSignals, milliseconds: 100) != nil {
                interrupted = true
                break
            }
        }
        let trace = interrupted ? sampler?.stop() : sampler?.waitUntilFinished()
        if interrupted { StandardError.write("mprof: recording stopped") }
        let peak = recording.recordExitPeak(nil, trace: trace)
        guard let trace, trace.sampleCount > 0 else {
            recording.abandon()
            throw CLIError("process \(process) exited before the first sample: nothing recorded")
        }
        StandardError.write(recording.summary(of: trace, peak: peak))
        if let explainer = recording.explainer {
            StandardError.write(explainer.report(heap: nil, peak: peak?.0), terminator: "")
            StandardError.write(recording.verdictLine(heap: nil))
        }
        if trace.end == .processExited { StandardError.write("mprof: process \(process) exited") }
        try recording.check(trace)
        let crossed = gate.check(recording: recording.path, heapCapture: nil, kernelWatched: trace.peakSource != .samples)
        for line in crossed { StandardError.write("mprof: over budget: \(line)") }
        if !crossed.isEmpty { throw ExitCode(MemoryGate.exitStatus) }
    }

    /// A PID, or the one process with that exact name.
    static func resolve(_ target: String) throws -> ProcessID {
        if let pid = Int32(target) {
            guard pid > 0 else { throw CLIError("\(TerminalText.escaped(target)) is not a process ID") }
            let process = ProcessID(pid)
            guard ProcessTable.exists(pid) else { throw CLIError("no process with PID \(process)") }
            // /proc answers to thread IDs too, but memory and exit belong to the whole process.
            if let group = ProcessTable.threadGroup(of: pid).map({ ProcessID($0) }), group != process {
                throw CLIError("\(process) is a thread of process \(group): attach to \(group)")
            }
            return process
        }
        guard !target.isEmpty else { throw CLIError("the process name is empty: give a PID or a name") }
        let matches = ProcessTable.processes(named: target).map { (process: ProcessID($0.process), commandLine: $0.commandLine) }
        switch matches.count {
        case 0:
            throw CLIError("no process named \(TerminalText.escaped(target))")
        case 1:
            return matches[0].process
        default:
            let list = matches.map { "  \($0.process)\t\(TerminalText.escaped($0.commandLine))" }.joined(separator: "\n")
            throw CLIError("\(matches.count) processes are named \(TerminalText.escaped(target)); attach to one by PID:\n\(list)")
        }
    }
}
