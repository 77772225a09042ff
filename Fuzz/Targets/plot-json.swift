// The JSON reader of `mprof plot`: `mprof readers --bench --format json` output and `memory-scaling --json`
// lines, drawn as bar and scaling charts.
//
// That reader is internal to the MemoryProfilerCLI module, and its signature has changed as the module was
// hardened, so this target goes through the module's public entry instead: `mprof plot FILE -o CHART.svg`, in
// process, on a scratch file — what a user runs. The arguments are parsed once (parsing them took six times as
// long as running the command); each input then runs the command, which reaches the check that routes a file to
// the JSON or the .dat reader (an input that does not start like JSON is drawn as a .dat file, as mprof would)
// and writes the chart.
#if canImport(Glibc)
import Glibc
#else
#error("Unsupported Platform")
#endif
import ArgumentParser
import MemoryProfilerCLI

private let scratch = ScratchFile()
private let chart = "\(ScratchFile.directory)/mprof-fuzz-\(getpid()).svg"
// libFuzzer calls the target from one thread only.
nonisolated(unsafe) private let plot: any ParsableCommand = {
    do {
        return try MprofCommand.parseAsRoot(["plot", scratch.path, "-o", chart])
    } catch {
        fatalError("mprof plot does not take its arguments: \(error)")
    }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPlotJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    scratch.write(UnsafeRawBufferPointer(start: data, count: size))
    var command = plot
    try? command.run()
    return 0
}

/// Checks that the command draws a known-good chart from the scratch file, so that a change to `mprof plot` which
/// refused every input (the scratch file's path, say) fails loudly instead of fuzzing only an error path.
@_cdecl("LLVMFuzzerInitialize")
public func checkThePlotCommand(
    _ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?
) -> CInt {
    atexit { unlink(chart) }
    Array("{\"baseline\":524288,\"duration\":[0,40097590000000000],\"inputSize\":100,\"peak\":1048576}\n".utf8)
        .withUnsafeBytes(scratch.write)
    var command = plot
    do {
        try command.run()
    } catch {
        fatalError("mprof plot does not draw a memory-scaling line from \(scratch.path): \(error)")
    }
    return 0
}
